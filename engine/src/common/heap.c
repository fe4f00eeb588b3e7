/* heap.c - the binary min-heap (heap.h). */
#include <stdlib.h>

#include "common/buf.h"
#include "common/heap.h"
#include "loom.h"

static int before(const struct loom__heap_item *a,
                  const struct loom__heap_item *b) {
  return a->key < b->key || (a->key == b->key && a->tie < b->tie);
}

static void place(struct loom__heap *h, size_t i,
                  const struct loom__heap_item *it) {
  h->h[i] = *it;
  if (h->pos)
    h->pos[it->ref] = (uint32_t)i;
}

/* Moves it up from the hole at i, then down; writes it where it stops. */
static void settle(struct loom__heap *h, size_t i, struct loom__heap_item it) {
  while (i > 0 && before(&it, &h->h[(i - 1) / 2])) {
    place(h, i, &h->h[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(&h->h[c + 1], &h->h[c]))
      c++;
    if (!before(&h->h[c], &it))
      break;
    place(h, i, &h->h[c]);
    i = c;
  }
  place(h, i, &it);
}

int loom__heap_push(struct loom__heap *h, double key, uint64_t tie,
                    uint32_t ref) {
  struct loom__heap_item it = {key, tie, ref};
  struct loom__heap_item *p;

  p = loom__array_grow(h->h, &h->cap, h->n + 1, sizeof(*h->h));
  if (!p)
    return LOOM_ENOMEM;
  h->h = p;
  settle(h, h->n++, it);
  return 0;
}

struct loom__heap_item loom__heap_pop(struct loom__heap *h) {
  struct loom__heap_item top = h->h[0];

  if (--h->n > 0)
    settle(h, 0, h->h[h->n]);
  return top;
}

int loom__heap_init_indexed(struct loom__heap *h, uint32_t n) {
  h->n = h->cap = 0;
  h->h = calloc(n ? n : 1, sizeof(*h->h));
  h->pos = calloc(n ? n : 1, sizeof(*h->pos));
  if (!h->h || !h->pos)
    return LOOM_ENOMEM;
  h->cap = n;
  for (uint32_t i = 0; i < n; i++) {
    h->h[i] = (struct loom__heap_item){0, i, i};
    h->pos[i] = i;
  }
  h->n = n;
  return 0;
}

void loom__heap_set(struct loom__heap *h, uint32_t ref, double key) {
  size_t i = h->pos[ref];
  struct loom__heap_item it = h->h[i];

  it.key = key;
  settle(h, i, it);
}

void loom__heap_free(struct loom__heap *h) {
  free(h->h);
  free(h->pos);
  h->h = NULL;
  h->pos = NULL;
  h->n = h->cap = 0;
}
