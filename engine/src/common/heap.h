/* heap.h - the engine's one binary heap: a min-heap of (key, tie, ref).
 *
 * Items order by key, then by tie (the smaller first), so every order is
 * deterministic. ref is the caller's: an index into its own table. An
 * indexed heap also knows where each ref 0..n-1 sits, so an item can be
 * re-keyed in O(log n); the policies keep their workers in one, the
 * simulator its pending completions and its ideal scheduler's workers in
 * others, and the look-ahead buffer its waiting tasks (longest first, by
 * negated cost: sched/ahead.h).
 */
#ifndef LOOM_HEAP_H
#define LOOM_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct loom__heap_item {
  double key;
  uint64_t tie;
  uint32_t ref;
};

struct loom__heap {
  struct loom__heap_item *h;
  size_t n;
  size_t cap;
  uint32_t *pos; /* indexed heaps: pos[ref] = where ref sits; else NULL */
};

/* Adds an item (plain heaps only). Returns 0 or LOOM_ENOMEM. */
int loom__heap_push(struct loom__heap *h, double key, uint64_t tie,
                    uint32_t ref);

/* Removes and returns the smallest item (plain heaps only); h->n > 0. */
struct loom__heap_item loom__heap_pop(struct loom__heap *h);

/* The smallest item; h->n > 0. */
static inline const struct loom__heap_item *
loom__heap_top(const struct loom__heap *h) {
  return &h->h[0];
}

/* An indexed heap of the refs 0..n-1, each with key 0 and tie = ref (so it
 * starts in ref order). Returns 0 or LOOM_ENOMEM (loom__heap_free() still
 * applies). */
int loom__heap_init_indexed(struct loom__heap *h, uint32_t n);

/* Gives ref a new key in an indexed heap and restores the order. */
void loom__heap_set(struct loom__heap *h, uint32_t ref, double key);

/* The key of ref in an indexed heap. */
static inline double loom__heap_key(const struct loom__heap *h, uint32_t ref) {
  return h->h[h->pos[ref]].key;
}

void loom__heap_free(struct loom__heap *h);

#endif /* LOOM_HEAP_H */
