/* ahead.h - the order of the look-ahead buffer: longest hinted task first.
 *
 * A policy that hands out the longest tasks first (the `longest_first` flag
 * of its table entry) lets the master read up to `lookahead` tasks ahead of
 * dispatch. They wait in a max-heap keyed by their cost hint; ties, and
 * tasks without hints when no task has one, keep the source's order. The
 * heap holds only (key, order, reference): the master keeps the task
 * itself in a pool entry named by the reference, the simulator keeps
 * nothing but the task's index. Both use this one heap, so the simulator
 * orders tasks exactly as loom run does.
 */
#ifndef LOOM_AHEAD_H
#define LOOM_AHEAD_H

#include <stddef.h>
#include <stdint.h>

struct loom__ahead_item {
  double key;   /* loom__sched_hint(): the cost hint, or the mean so far */
  uint64_t seq; /* order in the source: earlier first among equal keys */
  uint32_t ref; /* the caller's */
};

struct loom__ahead {
  struct loom__ahead_item *h;
  size_t n, cap;
};

/* Adds an item. Returns 0 or LOOM_ENOMEM. */
int loom__ahead_push(struct loom__ahead *a, double key, uint64_t seq,
                     uint32_t ref);

/* Removes and returns the item with the largest key (the earliest seq
 * among equal keys). a->n must be > 0. */
struct loom__ahead_item loom__ahead_pop(struct loom__ahead *a);

void loom__ahead_free(struct loom__ahead *a);

#endif /* LOOM_AHEAD_H */
