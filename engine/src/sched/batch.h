/* batch.h - the batch builder: which worker gets the next batch, and which
 * tasks go in it.
 *
 * One function decides, for the master and for the simulator alike: the
 * policy picks a worker with room; the batch is sized from measured task
 * times (loom__sched_batch_size) and closed early when cost hints say it
 * holds enough work (loom__sched_batch_full); the scheduler's accounting
 * is updated and the policy told. Where tasks come from and where they go
 * is the caller's, through two functions: the master reads its feed and
 * retry queue and writes wire records, the simulator reads its workload
 * and adds up durations. No MPI.
 */
#ifndef LOOM_BATCH_H
#define LOOM_BATCH_H

#include <stdint.h>

#include "sched/policy.h"

struct loom__batch_src {
  /* Is there a task for worker w (w < 0: for whichever worker the policy
   * will pick)? Returns 1 with *cost the hint of the task take() would
   * hand w (< 0 unknown), or 0 when none is left for this batch. */
  int (*peek)(void *arg, int w, double *cost);
  /* Moves that task into w's batch, with up to max - 1 more like it (the
   * next elements of its array) when it can take them at once. Returns
   * how many it took (>= 1) with *cost the hint of each and *fresh set for
   * tasks new from the source (not a retry); 0 when the task was dropped
   * instead (look again); or a negative LOOM_E* code. */
  int (*take)(void *arg, int w, uint32_t max, double *cost, int *fresh);
};

struct loom__batch {
  int worker;
  uint32_t n;  /* tasks */
  double cost; /* sum of their known hints */
};

/* Builds the next batch: returns 1 with *out filled (the tasks taken, the
 * accounting done), 0 when no worker has room or no task is left, or a
 * negative code from take(). */
int loom__batch_build(struct loom__sched *s, const struct loom__policy_ops *pol,
                      void *pstate, const struct loom__batch_src *src,
                      void *arg, struct loom__batch *out);

#endif /* LOOM_BATCH_H */
