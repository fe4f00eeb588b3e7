/* feed.h - where the master's next task comes from.
 *
 * The feed pulls tasks from the source (a task file, a kind's generator, the
 * submit queue, a caller's function), checks each spec, finds its kind,
 * passes over the ones a resumed run's journal holds as done, and, for a
 * policy that hands out the longest hinted tasks first, keeps up to
 * `lookahead` of them waiting in a pool ordered by sched/ahead.h. A task
 * that cannot finish before the deadline is counted and left out. What
 * comes out is the next task to dispatch, in `look`, until it is taken.
 * The feed calls no MPI: the master owns it, the unit tests drive it.
 */
#ifndef LOOM_FEED_H
#define LOOM_FEED_H

#include <stdint.h>

#include "common/buf.h"
#include "common/heap.h"
#include "dispatch/engine.h"
#include "journal/resume.h"
#include "sched/policy.h"

/* The next task, with what the master needs besides the spec. */
struct loom__feed_task {
  struct loom_task_spec spec; /* pointers valid until the task is taken */
  uint16_t kind;              /* index in the kind registry */
  uint64_t key;               /* resume key (with a journal), else 0 */
  int attempt;                /* its first attempt's number (resume) */
  uint64_t pos;               /* its place among the tasks read (an
                                 array's elements share the array's) */
  uint64_t index;             /* its index in its array (spec.count > 1) */
};

struct loom__feed_entry; /* a task waiting in the look-ahead pool */

/* A resumed run reads up to this many tasks before the first one runs,
 * looking for one the journal knows: LOOM__PROBE_MAX tasks with nothing in
 * common with the journal are another task set (LOOM_EMISMATCH). */
#define LOOM__PROBE_MAX 100000

struct loom__feed {
  const struct loom *l;
  struct loom__sched *sched;   /* hints are noted as tasks are read */
  struct loom__resume *resume; /* NULL: not a resumed run */
  int keyed;                   /* compute resume keys (there is a journal) */
  loom_source_fn src;
  void *src_arg;
  int dry; /* the source said it has no more (or failed) */
  int err; /* the source's error, or the feed's (LOOM_EINVAL, ...) */
  char errbuf[256];
  uint64_t not_started; /* left out: past the deadline */
  uint64_t read;        /* tasks read and not skipped as done */
  uint64_t probe;       /* > 0: before anything runs, read up to this many
                           tasks for one the journal knows (resume) */
  /* Requests: what every worker can give (cores_all, mem_all; 0 = no
   * limit) passes; anything larger is asked of can_run (the master's
   * check over its workers; NULL = no check), which fills why when no
   * worker can give it. */
  int cores_all;
  uint64_t mem_all;
  int (*can_run)(void *arg, int cores, uint64_t mem, char *why, size_t n);
  void *can_arg;

  struct loom__feed_task look;
  int have_look;

  /* The array being read (spec.count > 1), element by element: its spec
   * (the source's memory, which stays valid since the source is not
   * called until the array is done), the next index in arr.index, the
   * elements left after it, and the array's key (with a journal). */
  struct loom__feed_task arr;
  uint64_t arr_left;
  uint64_t arr_key;
  int look_arr; /* look is the array's latest element, straight from it */

  uint64_t *kind_hash;  /* per registered kind */
  const char *kind_ptr; /* the last kind name looked up, and its index */
  uint16_t kind_idx;

  uint64_t ahead_max; /* 0: the source's order */
  struct loom__heap ahead;
  struct loom__feed_entry *pool;
  size_t npool, pool_cap;
  uint32_t pool_free;       /* free list */
  uint32_t pool_cur;        /* the entry `look` points into, or UINT32_MAX */
  uint32_t held, held_tail; /* tasks the probe read, first in first out */
};

/* Sets up a feed over src for engine l. lookahead: 0, or how many tasks may
 * wait (only for a longest-first policy). Returns 0 or LOOM_ENOMEM. */
int loom__feed_init(struct loom__feed *f, const struct loom *l,
                    struct loom__sched *sched, loom_source_fn src,
                    void *src_arg, uint64_t lookahead);
void loom__feed_fini(struct loom__feed *f);

/* Makes f->look the next task to run. Returns 1, or 0 when none is left
 * (the source is dry, or failed: f->err and f->errbuf say why). */
int loom__feed_next(struct loom__feed *f);

/* The master took f->look: the next call of loom__feed_next() moves on. */
static inline void loom__feed_taken(struct loom__feed *f) { f->have_look = 0; }

/* How many tasks, at most max, may leave from look on as one run of its
 * array's elements: 1 unless it is an array element that needs nothing
 * per task from the master (no retries, no cost hint, no deadline, not a
 * resumed run), else up to the elements left. */
static inline uint32_t loom__feed_run_max(const struct loom__feed *f,
                                          uint32_t max) {
  if (max <= 1 || !f->look_arr || f->resume || f->look.spec.retries > 0 ||
      f->look.spec.cost >= 0 || f->l->opt.deadline > 0)
    return 1;
  return f->arr_left < max - 1 ? (uint32_t)f->arr_left + 1 : max;
}

/* The master took look and the n - 1 elements after it (n from
 * loom__feed_run_max()). */
static inline void loom__feed_taken_run(struct loom__feed *f, uint32_t n) {
  f->have_look = 0;
  f->arr.index += n - 1;
  f->arr_left -= n - 1;
  f->read += n - 1;
}

/* Would a task of this cost hint (< 0: unknown, the measured mean counts)
 * finish before the run's deadline if it started now? */
int loom__feed_fits_deadline(const struct loom__feed *f, double cost);

/* Checks a spec against loom.h's rules (finite cost, timeout >= 0, retries
 * in range, a payload for a length, a text for a text length). Returns 0,
 * or LOOM_EINVAL with err saying what is wrong. */
int loom__task_spec_check(const struct loom_task_spec *s, char *err,
                          size_t errlen);

#endif /* LOOM_FEED_H */
