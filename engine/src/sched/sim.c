/* sim.c - offline simulation of a run (loom_sim_run in loom.h).
 *
 * The master's decisions are made by the very code loom run uses: the
 * batch builder (batch.h: the policy's pick, batch sizing, hint-full
 * batches, the accounting) and the look-ahead's order (ahead.h). Only MPI
 * and the workers are replaced by a discrete-event model:
 *  1. A batch assigned at master time t reaches worker w at t + latency and
 *     starts when one of w's slots is free (a slot runs its batches in
 *     order, its tasks one after the other) and takes duration / speed.
 *     With wide tasks (a cores function) each task also waits until as
 *     many of w's cores as it needs are free, never starting before a
 *     task that reached w earlier (first come, first served); else a slot
 *     keeps its core. So the batch's end is known at once.
 *  2. Its completion reaches the master at end + latency: an event in a
 *     min-heap keyed by time. The master handles events in time order,
 *     updates the accounting and measured speeds, then dispatches again.
 *  3. With master costs (master_msg, master_task) the master is one server
 *     with a clock of its own: handling a completion, and building each
 *     batch, takes its time, and a batch leaves when it is built. A
 *     completion that arrives while the master is busy waits for it.
 *  4. The give-back (executor.c): once a batch has run
 *     loom__give_back_after() and its first task is done, the tasks that
 *     have not started when the worker looks (while one of them runs) go
 *     back: an event of their own reaches the master at that time plus
 *     latency, which queues them again ahead of fresh tasks, for whichever
 *     worker has room. The batch's completion answers for the tasks it ran.
 * Task durations come from a callback, so memory is O(workers x slots),
 * whatever the number of tasks; with a look-ahead (hints and a longest-first
 * policy) the buffer holds up to `lookahead` tasks, ordered by the same
 * heap loom run uses (ahead.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/heap.h"
#include "sched/ahead.h"
#include "sched/batch.h"
#include "sched/policy.h"

/* A task given back: its duration at speed 1, and the cores it needs. */
struct back {
  double d;
  int cores;
};

struct batch {
  double arrive; /* completion reaches the master */
  double end;    /* while it is built: when its last task so far ends */
  double wall;   /* seconds of its tasks (busy is core-seconds) */
  int slot;      /* the worker's slot that runs it */
  uint32_t next; /* free list of the pool */
  int worker;
  uint32_t n;  /* tasks it ran */
  double work; /* sum of durations at speed 1 */
  double cost; /* sum of cost hints (0 without hints) */
  double busy; /* core-seconds the worker spent on it */
  /* The give-back. While it is built: when it began and its first task
   * ended, when its last task so far started (on the clock of `end`: the
   * worker's with slots, else from the batch's start). As an event of
   * its own (n = 0): the tasks it gave back. */
  double begin, first_end, last_start;
  struct back *back;
  uint32_t nback;
  size_t back_cap;
};

struct sim {
  const struct loom_sim_options *o;
  struct loom__sched s;
  const struct loom__policy_ops *pol;
  void *pol_state;
  struct loom__heap events; /* completions by arrival: (arrive, worker) */
  struct batch *pool;       /* the batches in flight, named by the heap */
  size_t npool, pool_cap;
  uint32_t pool_free; /* free list through batch.next */
  int slots;          /* per worker */
  int plain;          /* one slot, one core a task: a worker's batches run
                         one after the other (the arithmetic of old) */
  double now;         /* the master's clock */
  double master_busy; /* its time spent on messages and tasks */
  double *thread_at;  /* [w * slots + k]: when slot k of w is free */
  double *core_at;    /* [w * slots + k]: when core k of w is free */
  double *last_start; /* per worker: tasks start in arrival order */
  double wait_max;
  double *busy;     /* core-seconds */
  double sum_cores; /* core-seconds of work at speed 1 */
  uint64_t next;    /* tasks dispatched */
  uint64_t stream;  /* tasks read from the workload, with a look-ahead */
  uint64_t ahead_max;
  struct loom__heap ahead;
  double sum_work, longest;
  uint64_t messages;
  struct batch cur; /* the batch being built */
  int err;          /* out of memory in the look-ahead */
  double give_back; /* loom__give_back_after(); 0 = never */
  uint64_t returned;
  struct back *again; /* tasks given back, to hand out first: from head */
  size_t again_head, again_n, again_cap;
};

/* The master spends t seconds of its clock. */
static void charge(struct sim *m, double t) {
  m->now += t;
  m->master_busy += t;
}

static double speed(const struct sim *m, int w) {
  return m->o->speeds ? m->o->speeds[w] : 1.0;
}

/* The duration of the next task in dispatch order (< 0: none left): the
 * workload's next, or with a look-ahead the longest in the buffer, topped
 * up from the workload first. */
static double peek(struct sim *m) {
  const struct loom_sim_options *o = m->o;

  if (m->again_n > 0) /* given back: first, as the master's retries */
    return m->again[m->again_head].d;
  if (!m->ahead_max) {
    double d;
    if (m->next >= o->tasks)
      return -1;
    d = o->duration(o->arg, m->next);
    if (m->stream == m->next) { /* read once, as the master does */
      m->stream++;
      loom__sched_hint(&m->s, o->hints ? d : -1);
    }
    return d;
  }
  while (m->ahead.n < m->ahead_max && m->stream < o->tasks) {
    double d = o->duration(o->arg, m->stream);
    if (loom__ahead_push(&m->ahead, loom__sched_hint(&m->s, d), m->stream, 0) !=
        0)
      return -2;
    m->stream++;
  }
  return m->ahead.n > 0 ? loom__ahead_peek(&m->ahead) : -1;
}

/* Files a batch's completion as an event. Returns 0 or LOOM_ENOMEM. */
static int post(struct sim *m, const struct batch *b) {
  uint32_t i = m->pool_free;

  if (i == UINT32_MAX) {
    struct batch *p =
        loom__array_grow(m->pool, &m->pool_cap, m->npool + 1, sizeof(*p));
    if (!p)
      return LOOM_ENOMEM;
    m->pool = p;
    i = (uint32_t)m->npool++;
  } else {
    m->pool_free = m->pool[i].next;
  }
  m->pool[i] = *b;
  return loom__heap_push(&m->events, b->arrive, (uint64_t)b->worker, i);
}

/* Takes the earliest completion out of the events. */
static struct batch next_event(struct sim *m) {
  uint32_t i = loom__heap_pop(&m->events).ref;

  m->pool[i].next = m->pool_free;
  m->pool_free = i;
  return m->pool[i];
}

/* The k-th smallest of n values (k >= 1), by selection: n is a worker's
 * slots, small. Reorders v. */
static double kth(double *v, int n, int k) {
  for (int i = 0; i < k; i++) {
    int lo = i;
    for (int j = i + 1; j < n; j++)
      if (v[j] < v[lo])
        lo = j;
    double t = v[i];
    v[i] = v[lo];
    v[lo] = t;
  }
  return v[k - 1];
}

/* A batch for w starts on its slot that is free first. */
static void first_slot(struct sim *m, int w) {
  double *th = m->thread_at + (size_t)w * (size_t)m->slots;
  int k = 0;

  for (int i = 1; i < m->slots; i++)
    if (th[i] < th[k])
      k = i;
  m->cur.slot = k;
  m->cur.end = fmax(m->now + m->o->latency, th[k]);
}

/* Runs a task of duration d needing c cores on worker w, after the
 * current batch's earlier tasks (m->cur.end): returns its core-seconds.
 * Where every task needs one core, a slot keeps its own from task to task
 * (executor.c): the task starts when its slot is free. */
static double run_task(struct sim *m, int w, double d, int c) {
  double *cores = m->core_at + (size_t)w * (size_t)m->slots;
  double ready = fmax(m->cur.end, m->last_start[w]), start, t;

  if (c < 1 || c > m->slots) {
    m->err = LOOM_EINVAL; /* a task no worker can ever run */
    c = 1;
  }
  t = d / speed(m, w);
  if (!m->o->cores) {
    start = m->cur.end;
  } else {
    start = fmax(ready, kth(cores, m->slots, c));
    m->wait_max = fmax(m->wait_max, start - ready);
    for (int k = 0; k < c; k++) /* the c cores free first (sorted by kth) */
      cores[k] = start + t;
    m->last_start[w] = start;
  }
  m->cur.last_start = start;
  m->cur.end = start + t;
  m->cur.wall += t;
  m->sum_cores += c * d;
  return c * t;
}

/* The batch builder's view of the workload (sched/batch.h). */
static int src_peek(void *arg, int w, double *cost) {
  struct sim *m = arg;
  double d = peek(m);

  (void)w;
  if (d < -1)
    m->err = LOOM_ENOMEM;
  if (d < 0)
    return 0;
  *cost = m->o->hints ? d : -1;
  return 1;
}

/* When the worker looks at the batch being built: once it is
 * m->give_back old, its first answer is out and a task runs. */
static double look_at(const struct sim *m) {
  const struct batch *b = &m->cur;
  return fmax(fmax(b->begin + m->give_back, b->first_end), b->last_start);
}

/* Whether the batch being built gives back its next task: its last task
 * so far still runs when the worker looks, so the next one would start
 * later. From then on every task it takes goes back. */
static int gives_back(const struct sim *m) {
  const struct batch *b = &m->cur;

  if (b->nback > 0)
    return 1;
  if (m->give_back <= 0 || b->n < 2)
    return 0;
  return b->end > look_at(m);
}

/* Files the batch's given-back tasks as an event of their own, reaching
 * the master when the worker looked plus latency; start: the batch's start
 * on the clock of `end`. Returns 0 or LOOM_ENOMEM. */
static int post_back(struct sim *m, double start) {
  struct batch ev;

  memset(&ev, 0, sizeof(ev));
  ev.arrive = start + look_at(m) + m->o->latency;
  ev.worker = m->cur.worker;
  ev.back = m->cur.back;
  ev.nback = m->cur.nback;
  m->cur.back = NULL;
  m->cur.nback = m->cur.back_cap = 0;
  if (post(m, &ev) != 0) {
    free(ev.back);
    return LOOM_ENOMEM;
  }
  return 0;
}

/* The master queues given-back tasks again, ahead of fresh ones. */
static int take_back(struct sim *m, const struct batch *ev) {
  struct back *a;

  if (m->again_head > 0) { /* drop the ones handed out already */
    memmove(m->again, m->again + m->again_head, m->again_n * sizeof(*m->again));
    m->again_head = 0;
  }
  a = loom__array_grow(m->again, &m->again_cap, m->again_n + ev->nback,
                       sizeof(*a));
  if (!a)
    return LOOM_ENOMEM;
  m->again = a;
  memcpy(a + m->again_n, ev->back, ev->nback * sizeof(*a));
  m->again_n += ev->nback;
  for (uint32_t k = 0; k < ev->nback; k++)
    loom__sched_task_returned(&m->s, ev->worker,
                              m->o->hints ? ev->back[k].d : -1);
  m->returned += ev->nback;
  return 0;
}

static int src_take(void *arg, int w, uint32_t max, double *cost, int *fresh) {
  struct sim *m = arg;
  struct batch *b = &m->cur;
  struct back t;
  int first = b->n == 0, again = m->again_n > 0, back;

  (void)max; /* one at a time: the workload has no arrays */
  t.d = peek(m);
  if (again) {
    t.cores = m->again[m->again_head].cores;
  } else {
    t.cores = m->o->cores ? m->o->cores(m->o->arg, m->next) : 1;
    m->next++;
  }
  if (first && !m->plain) /* with slots: timed now, at its worker */
    first_slot(m, w);
  if (first)
    b->begin = b->end; /* else on the batch's own clock, from 0 */
  back = gives_back(m);
  if (back) {
    struct back *a = loom__array_grow(b->back, &b->back_cap,
                                      (size_t)b->nback + 1, sizeof(*a));
    if (!a) {
      m->err = LOOM_ENOMEM;
      return LOOM_ENOMEM;
    }
    b->back = a;
  }
  if (again) {
    m->again_head++;
    m->again_n--;
  } else if (m->ahead_max) {
    loom__ahead_pop(&m->ahead);
  }
  /* The master's time: the message, then each task in it. */
  charge(m, (first ? m->o->master_msg : 0) + m->o->master_task);
  *cost = m->o->hints ? t.d : -1;
  *fresh = !again;
  if (back) {
    b->back[b->nback++] = t;
    return 1;
  }
  b->work += t.d;
  b->cost += m->o->hints ? t.d : 0;
  m->sum_work += t.d;
  m->longest = fmax(m->longest, t.d);
  if (m->plain) {
    b->last_start = b->end;
    b->end += t.d / speed(m, w);
  } else {
    b->busy += run_task(m, w, t.d, t.cores);
  }
  if (b->n++ == 0)
    b->first_end = b->end;
  return 1;
}

static const struct loom__batch_src sim_src = {src_peek, src_take};

/* Hands out batches from the master's clock on while a worker has room:
 * the master's batch builder decides, the model times the batch. A batch
 * leaves once it is built; with slots its tasks are timed as they are
 * taken, from when its first one was (the build's own time, n x
 * master_task, is not added to their start). */
static int dispatch(struct sim *m) {
  const struct loom_sim_options *o = m->o;

  for (;;) {
    struct loom__batch plan;
    double start;
    int rc, w;

    memset(&m->cur, 0, sizeof(m->cur));
    rc = loom__batch_build(&m->s, m->pol, m->pol_state, &sim_src, m, &plan);
    if (m->err)
      return m->err;
    if (rc <= 0)
      return rc;
    w = plan.worker;
    m->cur.worker = w; /* n and cost: of the tasks it runs (src_take) */
    if (m->plain) {
      start = fmax(m->now + o->latency, m->thread_at[w]);
      m->cur.busy = m->cur.wall = m->cur.work / speed(m, w);
      m->thread_at[w] = start + m->cur.busy;
      m->cur.end = m->thread_at[w];
    } else {
      start = 0; /* its times are the worker's already */
      m->thread_at[(size_t)w * (size_t)m->slots + (size_t)m->cur.slot] =
          m->cur.end;
    }
    m->cur.arrive = m->cur.end + o->latency;
    m->messages++;
    if (m->cur.nback > 0 && post_back(m, start) != 0)
      return LOOM_ENOMEM;
    if (post(m, &m->cur) != 0)
      return LOOM_ENOMEM;
  }
}

static void complete(struct sim *m, const struct batch *b) {
  const struct loom_sim_options *o = m->o;
  double each = b->wall / b->n, cost = o->hints ? b->cost / b->n : -1;

  for (uint32_t k = 0; k < b->n; k++)
    loom__sched_task_done(&m->s, b->worker, each, cost, 0, k + 1 == b->n);
  m->busy[b->worker] += b->busy;
  loom__sched_observe(&m->s, b->n, b->wall);
  loom__sched_measure(&m->s, b->worker, b->n, b->wall, o->hints ? b->cost : -1);
  m->pol->done(m->pol_state, &m->s, b->worker);
}

/* The ideal online scheduler of loom_sim_result.greedy: the workers kept
 * by the time they are free, each task to the first one. */
static int greedy(const struct loom_sim_options *o, const struct sim *m,
                  double *out) {
  struct loom__heap h;
  double end = 0;
  uint32_t n = (uint32_t)o->workers * (uint32_t)m->slots;
  int rc = loom__heap_init_indexed(&h, n);

  for (uint64_t k = 0; rc == 0 && k < o->tasks; k++) {
    int i = (int)loom__heap_top(&h)->ref, w = i / m->slots;
    double t =
        loom__heap_key(&h, (uint32_t)i) + o->duration(o->arg, k) / speed(m, w);
    end = fmax(end, t);
    loom__heap_set(&h, (uint32_t)i, t);
  }
  loom__heap_free(&h);
  *out = end;
  return rc;
}

static void figures(const struct sim *m, double makespan,
                    struct loom_sim_result *r) {
  const struct loom_sim_options *o = m->o;
  double vsum = 0, vmax = 0, bsum = 0, bmax = 0, mean;

  for (int w = 0; w < o->workers; w++) {
    vsum += speed(m, w);
    vmax = fmax(vmax, speed(m, w));
    bsum += m->busy[w];
    bmax = fmax(bmax, m->busy[w]);
  }
  mean = bsum / o->workers;
  r->makespan = makespan;
  /* With slots: core-seconds over every worker's cores. */
  r->lower_bound =
      fmax((m->plain ? m->sum_work : m->sum_cores) / (vsum * m->slots),
           m->longest / vmax);
  r->ratio = r->lower_bound > 0 ? makespan / r->lower_bound : 0;
  r->imbalance = mean > 0 ? bmax / mean - 1 : 0;
  r->efficiency =
      makespan > 0 ? bsum / ((double)o->workers * m->slots * makespan) : 0;
  r->messages = m->messages;
  r->wait_max = m->wait_max;
  r->master_busy = makespan > 0 ? m->master_busy / makespan : 0;
}

int loom_sim_run(const struct loom_sim_options *o,
                 struct loom_sim_result *out) {
  struct sim m;
  int rc;

  if (!out)
    return LOOM_EINVAL;
  memset(out, 0, sizeof(*out));
  if (!o || o->workers < 1 || !o->duration || !(o->latency >= 0) ||
      o->slots < 0 || o->slots > LOOM_SLOTS_MAX || !(o->master_msg >= 0) ||
      !(o->master_task >= 0) ||
      (uint64_t)o->workers * (uint64_t)(o->slots > 0 ? o->slots : 1) >
          UINT32_MAX)
    return LOOM_EINVAL;
  for (int w = 0; o->speeds && w < o->workers; w++)
    if (!(o->speeds[w] > 0))
      return LOOM_EINVAL;
  memset(&m, 0, sizeof(m));
  m.o = o;
  m.pool_free = UINT32_MAX;
  m.pol = loom__policy_find(o->policy);
  if (!m.pol)
    return LOOM_EINVAL;
  /* Without hints every key is equal and the order is the workload's:
   * the buffer would change nothing. */
  m.ahead_max = o->hints && m.pol->longest_first ? o->lookahead : 0;
  rc = loom__sched_init(&m.s, o->workers, o->window > 0 ? o->window : 2,
                        o->batch_max > 0 ? (uint32_t)o->batch_max : 4096,
                        o->batch_target > 0 ? o->batch_target
                                            : LOOM__BATCH_TARGET);
  m.slots = o->slots > 0 ? o->slots : 1;
  m.give_back = loom__give_back_after(o->workers, m.slots, m.s.batch_target);
  m.plain = m.slots == 1 && !o->cores;
  m.thread_at = calloc((size_t)o->workers * (size_t)m.slots, sizeof(double));
  m.core_at = calloc((size_t)o->workers * (size_t)m.slots, sizeof(double));
  m.last_start = calloc((size_t)o->workers, sizeof(double));
  m.busy = calloc((size_t)o->workers, sizeof(double));
  if (rc == 0 && (!m.thread_at || !m.core_at || !m.last_start || !m.busy))
    rc = LOOM_ENOMEM;
  if (rc == 0) {
    m.s.total = o->tasks;
    for (int w = 0; w < o->workers; w++) {
      m.s.w[w].weight = o->weights && o->weights[w] > 0 ? o->weights[w] : 1.0;
      loom__sched_set_slots(&m.s, w, m.slots);
    }
    rc = m.pol->init(&m.s, &m.pol_state);
  }
  if (rc == 0)
    rc = dispatch(&m);
  while (rc == 0 && m.events.n > 0) {
    struct batch b = next_event(&m);
    /* Handled once it has arrived and the master is free. */
    m.now = fmax(m.now, b.arrive);
    charge(&m, o->master_msg + (b.n + b.nback) * o->master_task);
    if (b.nback > 0)
      rc = take_back(&m, &b);
    else
      complete(&m, &b);
    free(b.back);
    if (rc == 0)
      rc = dispatch(&m);
  }
  /* A policy that refuses a free worker forever would stop the run. */
  if (rc == 0 && m.next < o->tasks)
    rc = LOOM_ESTATE;
  if (rc == 0)
    figures(&m, m.now, out);
  out->lookahead = m.ahead_max;
  out->returned = m.returned;
  if (rc == 0 && !o->cores) /* list scheduling knows no wide tasks */
    rc = greedy(o, &m, &out->greedy);
  if (m.pol_state)
    m.pol->fini(m.pol_state);
  while (m.events.n > 0) /* after an error: events still holding tasks */
    free(next_event(&m).back);
  free(m.cur.back);
  free(m.again);
  loom__heap_free(&m.events);
  free(m.pool);
  loom__heap_free(&m.ahead);
  free(m.thread_at);
  free(m.core_at);
  free(m.last_start);
  free(m.busy);
  loom__sched_fini(&m.s);
  return rc;
}
