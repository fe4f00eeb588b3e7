/* ahead.c - the look-ahead buffer's max-heap (ahead.h). */
#include <stdlib.h>

#include "ahead.h"
#include "internal.h"

/* Does x go before y? A longer key first; among equal keys, the source's
 * order. */
static int before(const struct loom__ahead_item *x,
                  const struct loom__ahead_item *y) {
  return x->key > y->key || (x->key == y->key && x->seq < y->seq);
}

int loom__ahead_push(struct loom__ahead *a, double key, uint64_t seq,
                     uint32_t ref) {
  struct loom__ahead_item it = {key, seq, ref};
  size_t i;

  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 256;
    struct loom__ahead_item *h = realloc(a->h, cap * sizeof(*h));
    if (!h)
      return LOOM_ENOMEM;
    a->h = h;
    a->cap = cap;
  }
  for (i = a->n++; i > 0 && before(&it, &a->h[(i - 1) / 2]); i = (i - 1) / 2)
    a->h[i] = a->h[(i - 1) / 2];
  a->h[i] = it;
  return 0;
}

struct loom__ahead_item loom__ahead_pop(struct loom__ahead *a) {
  struct loom__ahead_item top = a->h[0], last = a->h[--a->n];
  size_t i = 0;

  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= a->n)
      break;
    if (c + 1 < a->n && before(&a->h[c + 1], &a->h[c]))
      c++;
    if (!before(&a->h[c], &last))
      break;
    a->h[i] = a->h[c];
    i = c;
  }
  if (a->n > 0)
    a->h[i] = last;
  return top;
}

void loom__ahead_free(struct loom__ahead *a) {
  free(a->h);
  a->h = NULL;
  a->n = a->cap = 0;
}
