/* ahead.h - the order of the look-ahead buffer: longest hinted task first.
 *
 * A policy that hands out the longest tasks first (the `longest_first` flag
 * of its table entry) lets the master read up to `lookahead` tasks ahead of
 * dispatch. They wait in the engine's heap (common/heap.h) keyed by their
 * negated cost hint, so the longest comes out first; ties, and tasks
 * without hints when no task has one, keep the source's order (the tie is
 * the task's place in the source). The heap holds only (key, order,
 * reference): the master keeps the task itself in a pool entry named by the
 * reference, the simulator nothing but the task's index. Both go through
 * these two functions, so the simulator orders tasks exactly as loom run
 * does.
 */
#ifndef LOOM_AHEAD_H
#define LOOM_AHEAD_H

#include <stdint.h>

#include "common/heap.h"

/* Adds a task of cost key (loom__sched_hint(): the hint, or the mean so
 * far), seq-th in the source. Returns 0 or LOOM_ENOMEM. */
static inline int loom__ahead_push(struct loom__heap *a, double key,
                                   uint64_t seq, uint32_t ref) {
  return loom__heap_push(a, -key, seq, ref);
}

/* The cost key of the task that comes out next; a->n > 0. */
static inline double loom__ahead_peek(const struct loom__heap *a) {
  return -loom__heap_top(a)->key;
}

/* Removes the longest task (the earliest among equals) and returns its
 * reference; a->n > 0. */
static inline uint32_t loom__ahead_pop(struct loom__heap *a) {
  return loom__heap_pop(a).ref;
}

#endif /* LOOM_AHEAD_H */
