/* iheap.c - the indexed min-heap of workers (iheap.h). */
#include <stdlib.h>

#include "iheap.h"
#include "internal.h"

int loom__iheap_init(struct loom__iheap *h, int n) {
  h->n = n;
  h->at = calloc((size_t)n, sizeof(int));
  h->pos = calloc((size_t)n, sizeof(int));
  h->key = calloc((size_t)n, sizeof(double));
  if (!h->at || !h->pos || !h->key)
    return LOOM_ENOMEM;
  for (int w = 0; w < n; w++)
    h->at[w] = h->pos[w] = w;
  return 0;
}

void loom__iheap_free(struct loom__iheap *h) {
  free(h->at);
  free(h->pos);
  free(h->key);
  h->at = h->pos = NULL;
  h->key = NULL;
}

static int before(const struct loom__iheap *h, int a, int b) {
  return h->key[a] < h->key[b] || (h->key[a] == h->key[b] && a < b);
}

static void swap_at(struct loom__iheap *h, int i, int j) {
  int a = h->at[i], b = h->at[j];
  h->at[i] = b;
  h->at[j] = a;
  h->pos[b] = i;
  h->pos[a] = j;
}

void loom__iheap_set(struct loom__iheap *h, int w, double key) {
  int i = h->pos[w];

  h->key[w] = key;
  while (i > 0 && before(h, h->at[i], h->at[(i - 1) / 2])) {
    swap_at(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(h, h->at[c + 1], h->at[c]))
      c++;
    if (!before(h, h->at[c], h->at[i]))
      break;
    swap_at(h, i, c);
    i = c;
  }
}
