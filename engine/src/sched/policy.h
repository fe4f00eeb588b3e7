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
  double rate;          /* measured work per second (tasks, or cost-hint
                           seconds when every task had a hint); 0 = none */
  uint32_t samples;     /* completion messages behind rate */
  uint32_t counting;    /* tasks of the batch now completing */
  uint32_t last_batch;  /* size of its last completed batch */
  uint32_t blame;       /* its failed tasks that then succeeded elsewhere,
                           since its own last success */
  int quarantined;      /* gets no more tasks */
  int slots;            /* tasks it runs at once (>= 1) */
};

/* Seconds of work one batch aims at, unless the caller says (the engine
 * and the simulator alike). A message costs the master and its worker far
 * more than a task in it: on 1 ms tasks at 3 ranks on 2 cores, 0.5 ms of
 * work a message (a task each) kept spin tasks 74-82% busy, 10 ms 95-98%
 * (their answers leave within LOOM__HARVEST_AGE, executor.h). The tasks of
 * a batch run one after another on one slot, so tasks of unknown length
 * after quick ones may go in one batch and run in turn while another slot
 * has nothing: a worker gives back what a batch has not started once the
 * batch has run loom__give_back_after() (50 ms here), which bounds that
 * delay (cli.slots, cli.e2e). opt.batch_target changes it. */
#define LOOM__BATCH_TARGET 0.01

/* A batch that has run this long, while one of its tasks runs, gives back
 * the tasks it has not started (executor.c; modelled by sim.c): 4 times
 * the batch target, 50 ms at least. 0 where it is pointless, with one
 * slot in all. */
static inline double loom__give_back_after(int workers, int slots,
                                           double batch_target) {
  if (workers <= 1 && slots <= 1)
    return 0;
  return 4 * batch_target > 0.05 ? 4 * batch_target : 0.05;
}

struct loom__sched {
  int n;               /* workers */
  uint64_t slots;      /* theirs, all together (loom__sched_set_slots) */
  int window;          /* batches in flight per worker and slot */
  uint32_t batch_max;  /* tasks per batch */
  double batch_target; /* seconds of work per batch */
  double t_est;        /* smoothed seconds per task, < 0 until measured */
  double recent[16];   /* the last 16 messages' seconds per task */
  uint32_t nrecent;
  uint64_t next_task; /* index of the next fresh task (0-based) */
  uint64_t total;     /* tasks the source will give; 0 unknown */
  double next_cost;   /* cost hint of the next task, < 0 unknown */
  double hint_sum;    /* cost hints of the tasks read so far */
  uint64_t hints;     /* how many had one */
  double ref;         /* median measured rate per unit of weight */
  uint64_t measures;  /* calls of loom__sched_measure() */
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
  /* Hand out the longest hinted tasks first when the source allows
   * reading ahead (ahead.h). */
  int longest_first;
};

/* May worker w take another batch? */
static inline int loom__sched_has_room(const struct loom__sched *s, int w) {
  return !s->w[w].quarantined &&
         (int)s->w[w].batches < s->window * s->w[w].slots;
}

/* The policy table (policy.c). Returns NULL for an unknown name. */
const struct loom__policy_ops *loom__policy_find(const char *name);

int loom__sched_init(struct loom__sched *s, int nworkers, int window,
                     uint32_t batch_max, double batch_target);
void loom__sched_fini(struct loom__sched *s);

/* How many tasks the next batch for worker w should hold (>= 1): about
 * batch_target seconds of work at the longest per-task time of the last 16
 * completion messages (short tasks come back first, so an average of the
 * first completions would be too low); at most twice w's last completed
 * batch (at least 4), so a batch only grows after a smaller one was seen
 * through; and, when the task count is known, at most the remaining tasks
 * over twice the slots of all workers (a slot runs a batch), so the end of
 * a run travels in small batches. */
uint32_t loom__sched_batch_size(const struct loom__sched *s, int w);

/* Worker w runs `slots` tasks at once (>= 1; 1 until said). */
void loom__sched_set_slots(struct loom__sched *s, int w, int slots);

/* With cost hints: is a batch of n tasks holding cost seconds of hinted
 * work full, so that a next task of next_cost (< 0 unknown) starts a new
 * one? Never for the first task, nor without a hint. */
int loom__sched_batch_full(const struct loom__sched *s, uint32_t n, double cost,
                           double next_cost);

/* The mean cost hint of the tasks read so far; 0 before the first. */
static inline double loom__sched_mean_hint(const struct loom__sched *s) {
  return s->hints ? s->hint_sum / (double)s->hints : 0;
}

/* Notes the cost hint (< 0: none) of a task read from the source, and
 * returns what it counts as in the look-ahead's order: the hint, else the
 * mean of the hints so far (0 before the first), so a task without a hint
 * waits only behind the hinted ones longer than usual. */
double loom__sched_hint(struct loom__sched *s, double cost);

/* Is worker w busy for long: more than max(4 x the mean hint, 50 ms) of
 * hinted work in flight, or two batches or more (one running, one queued)
 * holding over 5 ms? Such a worker needs no further batch to hide the
 * round trip of its next completion. Never without hints. */
int loom__sched_busy(const struct loom__sched *s, int w);

/* Records a batch of ntasks (cost = sum of known hints) sent to w. */
void loom__sched_assign(struct loom__sched *s, int w, uint32_t ntasks,
                        double cost);

/* Records one completed task of worker w. last says it closes its batch. */
void loom__sched_task_done(struct loom__sched *s, int w, double elapsed,
                           double cost, int failed, int last);

/* Takes a task that worker w gave back unstarted out of its queue. */
void loom__sched_task_returned(struct loom__sched *s, int w, double cost);

/* Folds a message's worth of measured time into the per-task estimate. */
void loom__sched_observe(struct loom__sched *s, uint32_t ntasks, double busy);

/* Folds a completion message of worker w (n tasks, busy seconds, and the
 * sum of their cost hints when every one had a hint, else < 0) into its
 * measured rate. Robust: one observation moves the rate by at most a
 * factor of 4, and by a fifth of the way, so a few very long tasks cannot
 * make a worker look slow for long, while a real slowdown shows within
 * about ten messages. */
void loom__sched_measure(struct loom__sched *s, int w, uint32_t n, double busy,
                         double cost);

/* Worker w's effective capacity: its weight, corrected by how its measured
 * rate compares with the other measured workers' (rate per unit of
 * weight, against their median: all of them up to 64 workers, an even
 * sample of 64 beyond, refreshed every 64 messages), clamped to [0.05, 20]
 * times the weight so that no share collapses to zero. O(1). */
double loom__sched_capacity(const struct loom__sched *s, int w);

/* How long an idle master may sleep without starving a worker (seconds). */
double loom__sched_idle_cap(const struct loom__sched *s);

#endif /* LOOM_POLICY_H */
