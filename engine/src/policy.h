/* policy.h - the dispatcher's bookkeeping and the policy interface.
 *
 * struct loom__sched knows, for every worker, what is in flight and what it
 * has done; it sizes batches from measured task times. It never calls MPI:
 * the master drives it with loom__sched_assign()/loom__sched_done(), and so
 * can a unit test or an offline simulator. A policy only picks the worker
 * that gets the next batch.
 */
#ifndef LOOM_POLICY_H
#define LOOM_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct loom__wstate {
  uint32_t inflight;    /* tasks sent and not completed */
  uint32_t batches;     /* batches sent and not completed */
  double inflight_cost; /* sum of known cost hints in flight */
  double weight;        /* capacity weight, 1.0 until topology says more */
  uint64_t done;        /* attempts completed */
  uint64_t failed;      /* attempts that failed */
  double busy;          /* seconds of task time */
  uint32_t blame;       /* its failed tasks that then succeeded elsewhere,
                           since its own last success */
  int quarantined;      /* gets no more tasks */
};

struct loom__sched {
  int n;               /* workers */
  int window;          /* batches in flight per worker */
  uint32_t batch_max;  /* tasks per batch */
  double batch_target; /* seconds of work per batch */
  double t_est;        /* smoothed seconds per task, < 0 until measured */
  struct loom__wstate *w;
};

struct loom__policy_ops {
  const char *name;
  const char *help;
  /* Builds the policy's state for s (which outlives it). */
  int (*init)(const struct loom__sched *s, void **state);
  /* Returns a worker with batches < window, or -1 if none has room. */
  int (*pick)(void *state, const struct loom__sched *s);
  /* After the engine changed worker w's counters (a batch was assigned). */
  void (*assigned)(void *state, const struct loom__sched *s, int w);
  /* After a batch of completions from worker w was recorded. */
  void (*done)(void *state, const struct loom__sched *s, int w);
  void (*fini)(void *state);
};

/* May worker w take another batch? */
static inline int loom__sched_has_room(const struct loom__sched *s, int w) {
  return !s->w[w].quarantined && (int)s->w[w].batches < s->window;
}

/* The policy table (policy.c). Returns NULL for an unknown name. */
const struct loom__policy_ops *loom__policy_find(const char *name);

int loom__sched_init(struct loom__sched *s, int nworkers, int window,
                     uint32_t batch_max, double batch_target);
void loom__sched_fini(struct loom__sched *s);

/* How many tasks the next batch should hold (>= 1). */
uint32_t loom__sched_batch_size(const struct loom__sched *s);

/* Records a batch of ntasks (cost = sum of known hints) sent to w. */
void loom__sched_assign(struct loom__sched *s, int w, uint32_t ntasks,
                        double cost);

/* Records one completed task of worker w. last says it closes its batch. */
void loom__sched_task_done(struct loom__sched *s, int w, double elapsed,
                           double cost, int failed, int last);

/* Folds a message's worth of measured time into the per-task estimate. */
void loom__sched_observe(struct loom__sched *s, uint32_t ntasks, double busy);

/* How long an idle master may sleep without starving a worker (seconds). */
double loom__sched_idle_cap(const struct loom__sched *s);

#endif /* LOOM_POLICY_H */
