/* master.c - the master's loop (rank 0).
 *
 * Protocol, per worker w (rank w + 1):
 *  1. The master sends TASKS batches while w has fewer than `window`
 *     batches in flight (credit). The batch builder (sched/batch.h) picks
 *     w with the policy and sizes the batch; the tasks come from the retry
 *     queue (inflight.h) or the feed (feed.h).
 *  2. The worker answers each batch with exactly one DONE message, in order.
 *  3. When the feed is dry and nothing is in flight or waiting for a retry,
 *     the master sends STOP to every worker and returns.
 * A completion is recorded (scheduler, report, journal, the caller's
 * callback), then settled: retried, or counted final. The master never
 * blocks in MPI: it polls the message layer and backs off (yield, then
 * short sleeps capped so no worker's queue runs dry), leaving the core to
 * the workers. With one rank the master hands its batches to its own
 * executor thread instead of a worker rank.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "comm/comm.h"
#include "dispatch/engine.h"
#include "dispatch/executor.h"
#include "dispatch/feed.h"
#include "dispatch/inflight.h"
#include "dispatch/wire.h"
#include "journal/joblog.h"
#include "journal/progress.h"
#include "journal/report.h"
#include "journal/resume.h"
#include "journal/rundir.h"
#include "sched/batch.h"
#include "sched/policy.h"
#include "sched/weights.h"
#include "state/state.h"

#define BATCH_BYTES_MAX (1u << 20)
#define LONG_CAP 100e-6 /* idle_wait: longer caps mean long batches */

struct master {
  struct loom *l;
  struct loom__sched sched;
  const struct loom__policy_ops *pol;
  void *pol_state;
  struct loom__feed feed;
  struct loom__inflight fl;
  struct loom__resume resume;
  loom_result_fn on_result;
  void *res_arg;

  int cancelled;  /* workers were told to kill what runs */
  double stop_at; /* when the stop was seen */
  int reasons;    /* stop_reason() calls, the first one's reason standing */

  struct loom__comm comm;
  struct loom__waker waker;
  struct loom__buf out;        /* the batch being built */
  struct loom__executor ex;    /* one-rank mode: the master runs tasks */
  struct loom__buf local_done; /* one-rank mode: a DONE from ex */
  int local;
  int told_local; /* the one-rank notice is out */
  int route_to;   /* >= 0: choose() gives this worker the retry at the head
                     even where it failed before (the only one able to run
                     it) */

  int lock_fd; /* the run directory's lock (journal/rundir.h) */
  struct loom__joblog joblog;
  int io_failed; /* the journal or a task's output could not be written:
                    no new attempt starts, and the run ends incomplete */
  struct loom__report rep; /* every figure of the run, and only here */
  struct loom__state_stats state;
  struct loom__progress prog;
  double t_start;
  double t_last_done;
  char errbuf[PATH_MAX + 256];
};

/* Sets the reason the run stopped early (the first one stands). */
static void stop_reason(struct master *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void stop_reason(struct master *m, const char *fmt, ...) {
  va_list ap;

  m->reasons++;
  if (m->rep.error)
    return;
  va_start(ap, fmt);
  vsnprintf(m->errbuf, sizeof(m->errbuf), fmt, ap);
  va_end(ap);
  m->rep.error = m->errbuf;
}

/* The run directory cannot take more (a full disk, an I/O error): start
 * nothing new, let what runs end, and say which file and why. */
static void io_failure(struct master *m, const char *why) {
  if (!m->io_failed && !m->l->opt.quiet)
    loom__log("%s: no more tasks are started", why);
  m->io_failed = 1;
  stop_reason(m, "%s", why);
}

/* After a journal write: a failure stops the run's new work. */
static void journal_checked(struct master *m, int rc) {
  if (rc != 0)
    io_failure(m,
               m->joblog.err[0] ? m->joblog.err : "cannot write the journal");
}

/* ---- completions ------------------------------------------------------ */

/* Quarantine bookkeeping for an attempt of slot s on worker w: a success
 * clears w's blame and, when the task had failed on another worker, blames
 * that one; enough blame quarantines it. */
static void blame(struct master *m, const struct loom__slot *s, int w,
                  int failed) {
  struct loom__wstate *bad;
  struct loom__report_worker *rw;

  if (failed)
    return;
  m->sched.w[w].blame = 0;
  if (s->last_worker < 0 || s->last_worker == w || !m->l->opt.quarantine)
    return;
  bad = &m->sched.w[s->last_worker];
  if (++bad->blame < (uint32_t)m->l->opt.quarantine || bad->quarantined)
    return;
  bad->quarantined = 1;
  rw = &m->rep.w[s->last_worker];
  rw->quarantined = 1;
  m->rep.quarantined++;
  if (!m->l->opt.quiet)
    loom__log("quarantined rank %d on %s: %u of its failed tasks succeeded "
              "elsewhere",
              rw->hw.rank, rw->hw.host, bad->blame);
}

static const char *status_of(const struct loom__wire_done *d) {
  if (d->flags & LOOM__DONE_OUTPUT)
    return "output-failed";
  if (d->flags & LOOM__DONE_CANCEL)
    return "cancelled";
  if (d->flags & LOOM__DONE_TIMEOUT)
    return "timeout";
  if (d->flags & LOOM__DONE_SPAWN)
    return "spawn-failed";
  if (d->sig)
    return "signal";
  return d->exit_code ? "failed" : "ok";
}

/* The rank a worker index stands for (the master itself with one rank). */
static int rank_of(const struct master *m, int w) {
  return m->local ? 0 : w + 1;
}

/* Records one finished attempt: the report's figures, the journal's row
 * and the caller's callback. */
static void record(struct master *m, int w, uint32_t si,
                   const struct loom__wire_done *d, int failed) {
  const struct loom__slot *s = &m->fl.s[si];
  const struct loom__slot_cold *c = &m->fl.c[si];
  struct loom__report_worker *rw = &m->rep.w[w];
  uint64_t id = s->id, index = 0;

  /* An array's element: a run's answers come in element order. */
  if (s->array) {
    index = c->index + c->answered;
    id = loom__wire_run_id(s->id, c->count, index);
  }
  m->rep.attempts++;
  m->rep.sum_task += d->elapsed;
  m->rep.longest = fmax(m->rep.longest, d->elapsed);
  rw->attempts++;
  rw->failed += failed;
  rw->busy += d->elapsed;
  rw->core_s += d->elapsed * (s->cores > 1 ? s->cores : 1);
  if (m->joblog.open) {
    struct loom__joblog_row row = {
        .id = id,
        .key = s->array ? loom__wire_run_id(c->key, c->count, index) : c->key,
        .line = s->line,
        .rank = rank_of(m, w),
        .host = rw->hw.host,
        .start = d->start,
        .elapsed = d->elapsed,
        .exit_code = d->exit_code,
        .sig = d->sig,
        .status = status_of(d),
        .attempt = s->attempt,
        .cpus = d->cpus,
        .cpus_len = d->cpus_len,
        .text = c->text,
        .text_len = c->text_len};
    journal_checked(m, loom__joblog_write(&m->joblog, &row));
  }
  if (m->on_result) {
    struct loom_result res = {.id = id,
                              .line = s->line,
                              .kind = m->l->kinds[s->kind].name,
                              .worker = rank_of(m, w),
                              .attempt = s->attempt,
                              .exit_code = d->exit_code,
                              .signal = d->sig,
                              .start = d->start,
                              .elapsed = d->elapsed,
                              .data = d->data,
                              .len = d->len,
                              .index = index};
    m->on_result(m->res_arg, &res);
  }
}

/* After an attempt of slot si on worker w: a failure with retries left
 * goes back into the retry queue; anything else is the task's last word
 * (counted, and --halt checked) and frees the slot. */
static void settle(struct master *m, int w, uint32_t si, int failed,
                   int cancelled) {
  struct loom__slot *s = &m->fl.s[si];
  /* A run of array elements keeps its slot until its last answer. */
  int more = s->array && ++m->fl.c[si].answered < m->fl.c[si].count;

  m->fl.count--;
  if (cancelled) {
    /* A stop's doing, not the task's nor the worker's: no retry, no
     * blame; a --resume runs it again. */
    m->rep.tasks++;
    m->rep.cancelled++;
    if (!more)
      loom__inflight_free(&m->fl, si);
    return;
  }
  blame(m, s, w, failed);
  if (failed && s->retries_left > 0) {
    s->retries_left--;
    s->attempt++;
    s->last_worker = w;
    if (s->array)
      m->fl.c[si].answered = 0; /* one element (a run never retries) */
    loom__inflight_retry_push(&m->fl, si);
    return;
  }
  m->rep.tasks++;
  if (failed)
    m->rep.failed++;
  else
    m->rep.succeeded++;
  if (failed && m->l->opt.halt && m->rep.failed >= m->l->opt.halt &&
      !m->rep.halted) {
    m->rep.halted = 1;
    stop_reason(m, "halted: %" PRIu64 " tasks failed (--halt %" PRIu64 ")",
                m->rep.failed, m->l->opt.halt);
  }
  if (!more)
    loom__inflight_free(&m->fl, si);
}

/* One finished attempt of the task in slot si on worker w (last: the
 * batch's last): the scheduler's accounting, the record, the settling. */
static inline __attribute__((always_inline)) void
complete(struct master *m, int w, uint32_t si, const struct loom__wire_done *d,
         int last) {
  int failed = d->exit_code != 0 || d->sig != 0 ||
               (d->flags & (LOOM__DONE_TIMEOUT | LOOM__DONE_SPAWN |
                            LOOM__DONE_CANCEL | LOOM__DONE_OUTPUT));

  loom__sched_task_done(&m->sched, w, d->elapsed, m->fl.s[si].cost, failed,
                        last);
  /* Its output could not be written: the run directory is full. The
   * record's data says which file and why. */
  if (d->flags & LOOM__DONE_OUTPUT) {
    char why[PATH_MAX + 96];
    snprintf(why, sizeof(why), "%.*s", (int)d->len,
             d->len ? (const char *)d->data : "cannot write a task's output");
    io_failure(m, why);
  }
  record(m, w, si, d, failed && !(d->flags & LOOM__DONE_CANCEL));
  settle(m, w, si, failed, (d->flags & LOOM__DONE_CANCEL) != 0);
}

/* Task slot si that worker w gave back unstarted (record d): back in the
 * queue for whichever worker has room first, as the same attempt, with
 * the request and payload its record carries (a slot keeps them only
 * for retries). A run of elements is never given back. */
static int requeue(struct master *m, int w, uint32_t si,
                   const struct loom__wire_done *d) {
  struct loom__slot_cold *c = &m->fl.c[si];
  const void *payload;
  uint32_t len;
  int rc;

  if (m->fl.s[si].array && c->count > 1)
    return LOOM_EPROTO;
  loom__wire_returned_spec(d, &c->timeout, &c->mem, &payload, &len);
  rc = loom__buf_set(&c->payload, payload, len);
  if (rc != 0)
    return rc;
  c->returned = 1;
  loom__sched_task_returned(&m->sched, w, m->fl.s[si].cost);
  m->fl.count--;
  m->rep.returned++;
  loom__inflight_retry_push(&m->fl, si);
  return 0;
}

/* A DONE message from worker w: every completion in it (a group record
 * answers for several elements of a run), then what the batch as a whole
 * teaches the scheduler. */
static int handle_done(struct master *m, int w, const void *msg, size_t len) {
  struct loom__reader r;
  struct loom__wire_done d;
  uint32_t n, k = 0, tasks = 0;
  double busy = 0, hinted = 0; /* sum of cost hints, -1 once one is missing */
  int rc, got, final;

  rc = loom__wire_open(&r, msg, len);
  if (rc != 0)
    return rc;
  m->rep.done_msgs++;
  /* The tasks' changes to the state table (sent by their worker before
   * this answer) are journaled before the tasks are recorded done. */
  if (loom__state_sync(m->l->state) != 0 && !m->io_failed)
    io_failure(m, loom__state_io_error(m->l->state)
                      ? loom__state_io_error(m->l->state)
                      : "the state table could not be journaled");
  /* An answer needs a question: a worker with no batch in flight has
   * nothing to answer for (a rogue rank, or a part after the final one). */
  if (m->sched.w[w].batches == 0)
    return LOOM_EPROTO;
  n = r.left;
  /* Only the last part of a batch's answer closes the batch. */
  final = (r.flags & LOOM__WIRE_FINAL) != 0;
  while ((got = loom__wire_get_done(&r, &d)) == 1) {
    const struct loom__slot *s;
    const unsigned char *codes;
    struct loom__wire_done e;
    uint32_t each = loom__wire_done_tasks(&d);

    if (!loom__inflight_owned(&m->fl, d.slot, w))
      return LOOM_EPROTO;
    s = &m->fl.s[d.slot];
    /* A group answers for elements of its slot's run not yet answered. */
    if ((d.flags & LOOM__DONE_GROUP) &&
        (!s->array || m->fl.c[d.slot].count - m->fl.c[d.slot].answered < each))
      return LOOM_EPROTO;
    k++;
    if (d.flags & LOOM__DONE_RETURNED) {
      rc = requeue(m, w, d.slot, &d);
      if (rc != 0)
        return rc;
      continue;
    }
    tasks += each;
    busy += d.elapsed * each;
    if (s->cost >= 0 && hinted >= 0)
      hinted += s->cost * each;
    else
      hinted = -1;
    /* One call site, so that complete() and what it calls are inlined
     * (two cost the per-spec path 10% of its speed). */
    codes = (d.flags & LOOM__DONE_GROUP) ? d.data : NULL;
    if (codes) {
      loom__wire_done_init(&e, d.slot);
      e.elapsed = d.elapsed;
    }
    for (uint32_t x = 0; x < each; x++) {
      const struct loom__wire_done *one = &d;
      if (codes) {
        e.exit_code = codes[x];
        e.start = d.start + x * d.elapsed;
        one = &e;
      }
      complete(m, w, d.slot, one, final && k == n && x + 1 == each);
    }
  }
  if (got < 0)
    return got;
  if (k == 0)
    return LOOM_EPROTO; /* every part answers for at least one task */
  loom__sched_observe(&m->sched, tasks, busy);
  loom__sched_measure(&m->sched, w, tasks, busy, hinted);
  m->pol->done(m->pol_state, &m->sched, w);
  m->t_last_done = loom__now();
  if (m->joblog.open)
    journal_checked(m, loom__joblog_flush(&m->joblog));
  return 0;
}

/* ---- dispatch --------------------------------------------------------- */

/* May new attempts start at all? */
static int open_for_work(const struct master *m) {
  return !m->rep.halted && !m->rep.stopped && !m->io_failed;
}

/* Which task would worker w get next: a retry (1), unless it failed on w
 * and a fresh task can go instead (a retry prefers another worker); a
 * fresh task from the feed (2); or none (0). w < 0: any worker. */
static int choose(struct master *m, int w) {
  if (!open_for_work(m))
    return 0;
  if (m->fl.retry_head != LOOM__NO_SLOT) {
    int elsewhere = w >= 0 && m->fl.s[m->fl.retry_head].last_worker == w &&
                    m->sched.n > 1 && !m->feed.err && m->route_to != w;
    if (!elsewhere || !loom__feed_next(&m->feed))
      return 1;
    return 2;
  }
  if (m->feed.err)
    return 0;
  return loom__feed_next(&m->feed) ? 2 : 0;
}

/* What the task choose() names (which: 1 or 2) asks for. */
static void request_of(const struct master *m, int which, int *cores,
                       uint64_t *mem) {
  if (which == 1) {
    *cores = m->fl.s[m->fl.retry_head].cores;
    *mem = m->fl.c[m->fl.retry_head].mem;
  } else {
    *cores = m->feed.look.spec.cores > 0 ? m->feed.look.spec.cores : 1;
    *mem = m->feed.look.spec.mem;
  }
}

/* Can worker w ever give a task that much? */
static int can_run(const struct master *m, int w, int cores, uint64_t mem) {
  const struct loom_profile *hw = &m->rep.w[w].hw;
  return (hw->task_cores_max <= 0 || cores <= hw->task_cores_max) &&
         (hw->task_mem_max == 0 || mem <= hw->task_mem_max);
}

/* Does the task choose() names ask for more than some worker can give? */
static int is_routed(const struct master *m, int which) {
  int cores;
  uint64_t mem;

  request_of(m, which, &cores, &mem);
  return (m->feed.cores_all > 0 && cores > m->feed.cores_all) ||
         (m->feed.mem_all > 0 && mem > m->feed.mem_all);
}

/* With a deadline: would a task of this cost hint, queued behind what
 * worker w has in flight, still finish in time? The work ahead of it is
 * w's hinted seconds in flight (or its tasks times the measured mean),
 * shared among its slots; a task that could not finish even on an idle
 * worker is the take's to drop. */
static int fits_behind(const struct master *m, int w, double cost) {
  const struct loom__wstate *ws = &m->sched.w[w];
  double mean = m->sched.t_est > 0 ? m->sched.t_est : 0, ahead, now;

  if (!(m->l->opt.deadline > 0) || ws->inflight == 0)
    return 1;
  if (cost < 0)
    cost = mean;
  ahead = ws->inflight_cost > 0 ? ws->inflight_cost : ws->inflight * mean;
  now = loom__wall();
  if (now + cost > m->l->opt.deadline)
    return 1; /* never in time: take() drops it */
  return now + ahead / ws->slots + cost <= m->l->opt.deadline;
}

static int src_peek(void *arg, int w, double *cost) {
  struct master *m = arg;
  int which;

  if (w >= 0 && m->out.len >= BATCH_BYTES_MAX)
    return 0; /* this batch is full: the task waits for the next */
  which = choose(m, w);
  if (which == 0)
    return 0;
  *cost = which == 1 ? m->fl.s[m->fl.retry_head].cost : m->feed.look.spec.cost;
  /* A task not every worker can run goes out alone (route_one). */
  if (is_routed(m, which))
    return 0;
  /* One that would end past the deadline behind w's queue waits for the
   * queue to shrink (or for another worker). */
  return w < 0 || fits_behind(m, w, *cost);
}

/* A fresh slot filled from the feed's task, or with n > 1 the run of n
 * elements of its array from it on. The payload is kept only when a retry
 * may need it; the joblog text only when there is a joblog, and then by
 * reference when it is the kind's name. */
static int fill(struct master *m, uint32_t si, uint32_t n) {
  const struct loom__feed_task *t = &m->feed.look;
  struct loom__slot *s = &m->fl.s[si];
  struct loom__slot_cold *c = &m->fl.c[si];
  int rc;

  s->kind = t->kind;
  s->id = t->spec.id ? t->spec.id
                     : loom__task_id(m->feed.kind_hash[t->kind],
                                     t->spec.payload, t->spec.len,
                                     t->spec.line ? t->spec.line : t->pos);
  s->array = t->spec.count > 1;
  if (s->array) {
    /* One element: its own id. A run: the array's, each one's derived. */
    if (n == 1)
      s->id = loom_task_id_element(s->id, t->index);
    c->index = t->index;
    c->count = n;
    c->answered = 0;
  }
  s->line = t->spec.line;
  s->cost = t->spec.cost;
  s->attempt = (uint16_t)t->attempt;
  s->retries_left = t->spec.retries;
  s->last_worker = -1;
  s->cores = (uint16_t)(t->spec.cores > 0 ? t->spec.cores : 1);
  /* The cold part only for a journal or a retry: in a run with neither
   * (the library's usual case), a store there is a cache miss per task. */
  if (m->joblog.open) {
    c->key = n > 1 ? m->feed.arr_key : t->key;
    if (t->spec.text || s->kind == 0) {
      const char *text = t->spec.text ? t->spec.text : t->spec.payload;
      size_t tn = t->spec.text ? t->spec.text_len : t->spec.len;
      rc = loom__buf_set(&c->own_text, text, tn);
      if (rc != 0)
        return rc;
      c->text = (const char *)c->own_text.data;
      c->text_len = tn;
    } else {
      c->text = m->l->kinds[s->kind].name;
      c->text_len = strlen(c->text);
    }
  }
  if (s->retries_left > 0) {
    rc = loom__buf_set(&c->payload, t->spec.payload, t->spec.len);
    if (rc != 0)
      return rc;
    c->timeout = t->spec.timeout;
    c->mem = t->spec.mem;
  }
  return 0;
}

/* Puts the task choose() names into w's batch (with up to max - 1 more
 * elements of its array, as one run): a wire record, the slot marked in
 * flight, the journal's dispatched rows. Returns how many tasks. */
static int src_take(void *arg, int w, uint32_t max, double *cost, int *fresh) {
  struct master *m = arg;
  struct loom__wire_task t;
  const void *payload;
  uint32_t si, n = 1;
  size_t len;
  int rc, returned;

  if (choose(m, w) == 1) {
    si = loom__inflight_retry_pop(&m->fl);
    returned = m->fl.c[si].returned;
    m->fl.c[si].returned = 0;
    if (!loom__feed_fits_deadline(&m->feed, m->fl.s[si].cost)) {
      /* Too late for another attempt: the last one stands (none ran of
       * a task given back: it is left out, as a fresh one would be). */
      m->rep.not_started++;
      if (!returned) {
        m->rep.tasks++;
        m->rep.failed++;
      }
      loom__inflight_free(&m->fl, si);
      return 0;
    }
    payload = m->fl.c[si].payload.data;
    len = m->fl.c[si].payload.len;
    t.timeout = m->fl.c[si].timeout;
    t.cores = m->fl.s[si].cores;
    t.mem = m->fl.c[si].mem;
    t.kind = m->fl.s[si].kind;
    t.attempt = m->fl.s[si].attempt;
    t.index = m->fl.s[si].array ? m->fl.c[si].index : 0;
    *fresh = 0;
  } else {
    if (!loom__feed_fits_deadline(&m->feed, m->feed.look.spec.cost)) {
      /* It waited past the point where it could still end in time. */
      m->feed.not_started++;
      loom__feed_taken(&m->feed);
      return 0;
    }
    n = loom__feed_run_max(&m->feed, max);
    rc = loom__inflight_alloc(&m->fl, &si);
    if (rc == 0 && (rc = fill(m, si, n)) != 0)
      loom__inflight_free(&m->fl, si);
    if (rc != 0)
      return rc;
    payload = m->feed.look.spec.payload;
    len = m->feed.look.spec.len;
    t.timeout = m->feed.look.spec.timeout;
    t.cores =
        (uint16_t)(m->feed.look.spec.cores > 0 ? m->feed.look.spec.cores : 1);
    t.mem = m->feed.look.spec.mem;
    /* From the feed, not read back from the slot fill() just wrote: the
     * compiler reads kind and attempt there in one load, which cannot be
     * forwarded from fill()'s two stores and stalls the pipeline (that
     * stall was 40% of this function's time). */
    t.kind = m->feed.look.kind;
    t.attempt = (uint16_t)m->feed.look.attempt;
    t.index = m->feed.look.index;
    /* The payload stays the source's until its array is done. */
    loom__feed_taken_run(&m->feed, n);
    *fresh = 1;
  }
  t.slot = si;
  t.id = m->fl.s[si].id;
  t.count = n;
  t.payload = payload;
  t.len = (uint32_t)len;
  rc = loom__wire_put_task(&m->out, &t);
  if (rc != 0)
    return rc;
  if (n > 1)
    loom__wire_set_flags(&m->out, LOOM__WIRE_RUNS);
  m->fl.s[si].worker = w;
  m->fl.count += n;
  *cost = m->fl.s[si].cost;
  for (uint32_t k = 0; m->joblog.open && k < n; k++)
    journal_checked(m, loom__joblog_started(
                           &m->joblog, loom__wire_run_id(t.id, n, t.index + k),
                           loom__wire_run_id(m->fl.c[si].key, n, t.index + k)));
  return (int)n;
}

static const struct loom__batch_src master_src = {src_peek, src_take};

/* A batch that must not leave (its dispatched rows did not reach the
 * journal): answered here, every task cancelled without running. */
static int cancel_batch(struct master *m, int w) {
  int rc = loom__wire_begin(&m->local_done, LOOM__WIRE_FINAL);
  if (rc == 0)
    rc = loom__wire_answer_tasks(m->out.data, m->out.len, 0, UINT32_MAX,
                                 LOOM__DONE_CANCEL, 0, &m->local_done);
  return rc != 0 ? rc
                 : handle_done(m, w, m->local_done.data, m->local_done.len);
}

/* Hands the batch in m->out to worker w: to its rank, or with one rank to
 * the master's own executor. */
static int send_batch(struct master *m, int w) {
  m->rep.batches++;
  if (m->local) {
    /* Said once, when there is a first task to run. */
    if (!m->l->opt.quiet && !m->told_local) {
      loom__log("single rank: the master runs the tasks itself");
      m->told_local = 1;
    }
    return loom__executor_submit(&m->ex, &m->out);
  }
  return loom__comm_send(&m->comm, w + 1, LOOM__TAG_TASKS, &m->out);
}

/* The task at the head asks for more than some workers can give: it goes
 * alone to a worker that can run it and has room, the one with the fewest
 * tasks in flight per slot (for a retry, not where it failed if another
 * can). Narrower tasks behind it wait for it to leave: it is never passed
 * over. Returns 1 with b filled, 0 when no such worker has room now, 2 when
 * the task was dropped instead (the deadline: look again), or a negative
 * code. */
static int route_one(struct master *m, int which, struct loom__batch *b) {
  struct loom__sched *s = &m->sched;
  int cores, best = -1, avoid = -1, fresh = 0, rc;
  double best_load = 0, cost = -1;
  uint64_t mem;

  request_of(m, which, &cores, &mem);
  if (which == 1)
    avoid = m->fl.s[m->fl.retry_head].last_worker;
  for (int pass = 0; pass < 2 && best < 0; pass++)
    for (int w = 0; w < s->n; w++) {
      double load = (double)s->w[w].inflight / s->w[w].slots;
      if (s->w[w].quarantined || !loom__sched_has_room(s, w) ||
          !can_run(m, w, cores, mem) || (pass == 0 && w == avoid))
        continue;
      if (best < 0 || load < best_load) {
        best = w;
        best_load = load;
      }
    }
  if (best < 0)
    return 0;
  m->route_to = best;
  rc = src_take(m, best, 1, &cost, &fresh);
  m->route_to = -1;
  if (rc <= 0)
    return rc < 0 ? rc : 2; /* dropped for the deadline: look again */
  if (fresh)
    s->next_task++;
  b->worker = best;
  b->n = 1;
  b->cost = cost > 0 ? cost : 0;
  loom__sched_assign(s, best, 1, b->cost);
  m->pol->assigned(m->pol_state, s, best);
  return 1;
}

/* Builds and sends batches while some worker has room and there is work. */
static int dispatch(struct master *m) {
  for (;;) {
    struct loom__batch b = {.worker = -1};
    int rc = loom__wire_begin(&m->out, 0), which;

    if (rc == 0 && (which = choose(m, -1)) != 0 && is_routed(m, which))
      rc = route_one(m, which, &b);
    else if (rc == 0)
      rc = loom__batch_build(&m->sched, m->pol, m->pol_state, &master_src, m,
                             &b);
    if (rc == 2)
      continue;
    if (rc <= 0)
      return rc;
    /* The journal knows a task was handed out before the worker does: a
     * batch whose dispatched rows did not reach the file is not sent. */
    if (m->joblog.open)
      journal_checked(m, loom__joblog_flush(&m->joblog));
    if (m->io_failed)
      return cancel_batch(m, b.worker);
    rc = send_batch(m, b.worker);
    if (rc != 0)
      return rc;
  }
}

/* Is there anything left to do: attempts in flight, or work to hand out? */
static int work_left(struct master *m) {
  return m->fl.count > 0 || choose(m, -1);
}

/* No worker can take the work that is left (all quarantined)? Then the
 * run ends with that work not started. */
static void check_workers_left(struct master *m) {
  int which, cores;
  uint64_t mem;

  if (m->fl.count > 0 || m->rep.halted || !(which = choose(m, -1)))
    return;
  request_of(m, which, &cores, &mem);
  for (int w = 0; w < m->sched.n; w++)
    if (!m->sched.w[w].quarantined && can_run(m, w, cores, mem))
      return;
  m->rep.halted = 1;
  for (int w = 0; w < m->sched.n; w++)
    if (!m->sched.w[w].quarantined) {
      stop_reason(m,
                  "no worker left that can give the next task cores=%d "
                  "mem=%" PRIu64 " (the ones that could are quarantined): "
                  "the tasks left were not started",
                  cores, mem);
      return;
    }
  stop_reason(m, "every worker is quarantined: the tasks left were not "
                 "started");
}

/* ---- messages and waiting ----------------------------------------------- */

/* A DONE message from a worker's rank. */
static int on_done(void *arg, int src, struct loom__buf *msg) {
  struct master *m = arg;

  if (src < 1 || src > m->sched.n)
    return LOOM_EPROTO;
  return handle_done(m, src - 1, msg->data, msg->len);
}

/* Handles what arrived: DONE messages from the workers, or with one rank
 * the batches the master's executor finished. Returns how many, or a
 * negative code. */
static int receive(struct master *m) {
  int n = 0, rc, job_rc;
  double now;

  if (!m->local) {
    rc = loom__comm_poll(&m->comm, &n);
    if (rc != 0 && m->comm.err[0])
      stop_reason(m, "%s", m->comm.err);
    return rc != 0 ? rc : n;
  }
  now = loom__now();
  loom__executor_abandon_stuck(&m->ex, now);
  loom__executor_harvest(&m->ex, now);
  while (loom__executor_take(&m->ex, &m->local_done, &job_rc)) {
    rc = job_rc != 0 ? job_rc
                     : handle_done(m, 0, m->local_done.data, m->local_done.len);
    if (rc != 0)
      return rc;
    n++;
  }
  return n;
}

/* Idle back-off, in steps that grow up to what the workers' queues allow
 * (the cap); a batch the master's own executor finishes wakes it at once.
 * Where batches are short (a cap under LONG_CAP) answers come within
 * microseconds: yield first (cheap, hands the core to a worker), then
 * sleep from 1 us up. Where they are long, a yield or a microsecond's
 * sleep only takes the core from the workers (a timed wakeup costs about
 * 10 us of CPU on a virtual machine): sleep from cap / 8 up. (That took
 * 1 ms spin tasks at 3 ranks on 2 cores from 0.77 to 0.86 efficiency, and
 * the master's CPU on 4,000 shell tasks from 0.50 to 0.22 s. Sleeping the
 * whole cap at once is worse: where the master shares a core with busy
 * workers its wakeups then come late, and those tasks lost 7%.) */
static void idle_wait(struct master *m, unsigned *idle) {
  double cap = loom__sched_idle_cap(&m->sched), s;
  unsigned step;

  if (cap < LONG_CAP && *idle < 16) {
    (*idle)++;
    sched_yield();
    return;
  }
  step = cap < LONG_CAP ? *idle - 16 : *idle;
  s = cap < LONG_CAP ? 1e-6 : cap / 8;
  s = fmin(cap, s * (double)(1u << (step < 12 ? step : 12)));
  if (*idle < 40)
    (*idle)++;
  loom__waker_wait(&m->waker, s);
}

/* Acts on loom_stop(): the first request stops new work; when the grace
 * period is over, or at a second request, running tasks are killed. */
static int check_stop(struct master *m) {
  int requests = m->l->stop_requests, rc = 0;
  double now;

  if (requests == 0 || m->cancelled)
    return 0;
  now = loom__now();
  if (!m->rep.stopped) {
    m->rep.stopped = 1;
    m->stop_at = now;
    stop_reason(m,
                "stopped on request (a signal): %" PRIu64
                " tasks in flight were given %g s to finish",
                m->fl.count, m->l->opt.grace);
    /* Queued tasks never start: the workers answer them as cancelled. */
    if (m->local)
      loom__executor_drain(&m->ex);
    for (int w = 0; !m->local && w < m->sched.n && rc == 0; w++)
      if (m->sched.w[w].batches > 0)
        rc = loom__comm_send_bytes(&m->comm, w + 1, LOOM__TAG_DRAIN, NULL, 0);
    if (rc != 0)
      return rc;
  }
  if (requests < 2 && now - m->stop_at < m->l->opt.grace)
    return 0;
  m->cancelled = 1;
  if (m->local) {
    loom__executor_cancel(&m->ex);
    loom__state_cancel(m->l->state);
    return 0;
  }
  for (int w = 0; w < m->sched.n && rc == 0; w++)
    if (m->sched.w[w].batches > 0)
      rc = loom__comm_send_bytes(&m->comm, w + 1, LOOM__TAG_CANCEL, NULL, 0);
  return rc;
}

static int stop_workers(struct master *m) {
  int rc = 0;

  if (m->local)
    return 0;
  for (int w = 0; w < m->sched.n; w++) {
    int r = loom__comm_send_bytes(&m->comm, w + 1, LOOM__TAG_STOP, NULL, 0);
    if (rc == 0)
      rc = r;
  }
  return rc;
}

/* ---- start and end ------------------------------------------------------ */

/* Gathers every rank's hardware profile: the report shows it, and each
 * worker's weight (the user's, else the profile's) seeds its capacity. */
static int gather_workers(struct master *m) {
  struct loom *l = m->l;
  struct loom_profile *all = NULL;
  struct loom__weights ws;
  int rc = loom_profile_gather(l->comm, &l->profile, &all);

  if (rc == 0 && !m->rep.w)
    rc = LOOM_ENOMEM; /* gathered all the same: the call is collective */
  if (rc == 0)
    rc = loom__weights_parse(l->opt.weights, &ws, NULL, 0);
  for (int w = 0; rc == 0 && w < m->sched.n; w++) {
    struct loom__report_worker *rw = &m->rep.w[w];
    double over;

    rw->hw = all[m->local ? 0 : w + 1];
    over = loom__weights_find(&ws, rw->hw.rank, rw->hw.host);
    rw->weight = over > 0 ? over : rw->hw.weight;
    /* Slots pinned to fewer cores than the binding has use only those. */
    if (over <= 0 && rw->hw.slots > 0 && rw->hw.slots < rw->hw.cores)
      rw->weight *= (double)rw->hw.slots / rw->hw.cores;
    rw->weight_given = over > 0;
    m->sched.w[w].weight = rw->weight;
    loom__sched_set_slots(&m->sched, w, rw->hw.slots);
  }
  if (rc == 0)
    loom__weights_fini(&ws);
  free(all);
  return rc == 0 ? loom__report_units(&m->rep) : rc;
}

/* The feed's check of a task larger than some workers: can any worker
 * give it that much, cores and memory at once? If not, why names the
 * largest. */
static int feed_can_run(void *arg, int cores, uint64_t mem, char *why,
                        size_t n) {
  const struct master *m = arg;
  int most = 0, most_who = -1, mem_who = -1;
  uint64_t mem_most = 0;

  for (int w = 0; w < m->sched.n; w++) {
    const struct loom_profile *hw = &m->rep.w[w].hw;
    if (can_run(m, w, cores, mem))
      return 1;
    if (hw->task_cores_max > most) {
      most = hw->task_cores_max;
      most_who = hw->rank;
    }
    if (hw->task_mem_max > mem_most) {
      mem_most = hw->task_mem_max;
      mem_who = hw->rank;
    }
  }
  if (cores > most)
    snprintf(why, n,
             "cores=%d, but the most any worker can give a task is %d "
             "(rank %d)",
             cores, most, most_who);
  else if (mem > mem_most)
    snprintf(why, n,
             "mem=%" PRIu64 " bytes, but the most any worker has on one "
             "NUMA node is %" PRIu64 " (rank %d)",
             mem, mem_most, mem_who);
  else
    snprintf(why, n,
             "cores=%d and mem=%" PRIu64 " bytes: no worker can give both "
             "at once",
             cores, mem);
  return 0;
}

/* The requests every worker can meet (the smallest's limits) go out in
 * batches; a larger one is checked against every worker by the feed and
 * routed by route_one. A limit of 0 is none (memory hwloc could not
 * size). */
static void task_limits(struct master *m) {
  struct loom__feed *f = &m->feed;

  for (int w = 0; w < m->sched.n; w++) {
    const struct loom_profile *hw = &m->rep.w[w].hw;
    if (hw->task_cores_max > 0 &&
        (f->cores_all == 0 || hw->task_cores_max < f->cores_all))
      f->cores_all = hw->task_cores_max;
    if (hw->task_mem_max > 0 &&
        (f->mem_all == 0 || hw->task_mem_max < f->mem_all))
      f->mem_all = hw->task_mem_max;
  }
  f->can_run = feed_can_run;
  f->can_arg = m;
}

/* A DONE that comes after the end (a run that failed with batches in
 * flight) has nowhere to go. */
static int discard(void *arg, int src, struct loom__buf *msg) {
  (void)arg;
  (void)src;
  (void)msg;
  return 0;
}

/* Ends the state table's run (collective). Returns rc, or the table's
 * failure when rc is 0. */
static int finish_state(struct master *m, int rc) {
  int rc2;

  loom__comm_on(&m->comm, LOOM__TAG_DONE, discard, m);
  rc2 = loom__state_finish(m->l->state, rc != 0, &m->state);
  m->rep.state = &m->state;
  if (m->state.error[0])
    stop_reason(m, "state table: %s", m->state.error);
  if (rc2 == LOOM_EIO && loom__state_io_error(m->l->state))
    stop_reason(m, "%s", loom__state_io_error(m->l->state));
  return rc != 0 ? rc : rc2;
}

/* Totals, report.json and the summary. Returns rc, or LOOM_EIO when the
 * report could not be written. */
static int finish_report(struct master *m, int rc) {
  struct loom *l = m->l;
  char path[PATH_MAX];

  m->rep.makespan = m->rep.attempts ? m->t_last_done - m->t_start : 0;
  m->rep.not_started += m->feed.not_started;
  m->rep.resumed = m->feed.resume != NULL;
  m->rep.skipped = m->resume.skipped;
  m->rep.lost = m->resume.lost;
  /* A failure explained earlier (errbuf) keeps its explanation. */
  if (rc != 0 && !m->rep.error && m->errbuf[0])
    m->rep.error = m->errbuf;
  if (rc != 0)
    stop_reason(m, "%s", loom_strerror(rc));
  if (m->rep.not_started > 0)
    stop_reason(m,
                "deadline: %" PRIu64 " tasks could not finish before it and "
                "were not started",
                m->rep.not_started);
  /* A stop that took nothing away (it came when every task had been
   * handed out, and they all succeeded within the grace, nothing else
   * went wrong: the stop's is the one reason given): the run is complete,
   * as it would have been without it. */
  if (m->rep.stopped && m->reasons == 1 && !m->cancelled &&
      m->rep.cancelled == 0 && loom__report_left(&m->rep) == 0) {
    m->rep.stopped = 0;
    m->rep.error = NULL;
    if (!l->opt.quiet)
      loom__log("a stop was asked for when every task had been handed out; "
                "they all succeeded within the grace: the run is complete");
  }
  if (m->rep.resumed && m->resume.done > 0 && m->rep.skipped == 0 && rc == 0 &&
      !l->opt.quiet)
    loom__log("resumed: none of the %" PRIu64 " tasks done in the earlier "
              "run matched a task of this source",
              m->resume.done);
  loom__report_totals(&m->rep, &l->summary);
  if (m->rep.error)
    snprintf(l->error, sizeof(l->error), "%s", m->rep.error);
  loom__progress_end(&m->prog);
  if (l->run_dir && m->lock_fd >= 0) { /* never into another's directory */
    snprintf(path, sizeof(path), "%s/report.json", l->run_dir);
    errno = 0;
    if (loom__report_write(&m->rep, path) != 0) {
      /* The journal stands (a resume writes the report anew); an earlier
       * reason for stopping stays the one given. */
      if (rc == 0)
        snprintf(l->error, sizeof(l->error), "cannot write %s: %s", path,
                 strerror(errno ? errno : EIO));
      rc = LOOM_EIO;
    }
  }
  /* A run that failed before its first task has nothing to sum up: the
   * caller reports the error itself. */
  if (!l->opt.quiet && (m->rep.attempts > 0 || rc == 0))
    loom__report_summary(&m->rep, stderr);
  return rc;
}

/* Everything the run needs before its first batch. Collective (the
 * profiles are gathered): every rank's part must run whatever happens. */
static int start(struct master *m, loom_source_fn src, void *src_arg) {
  struct loom *l = m->l;
  char stateerr[PATH_MAX + 64] = "";
  int rc, rc2;

  m->local = l->size == 1;
  m->route_to = -1;
  m->waker.fd = -1;
  m->lock_fd = -1;
  loom__inflight_init(&m->fl);
  m->pol = loom__policy_find(l->opt.policy);
  rc = loom__sched_init(&m->sched, l->nworkers, l->opt.window,
                        (uint32_t)l->opt.batch_max, l->opt.batch_target);
  m->rep.w = calloc((size_t)l->nworkers, sizeof(*m->rep.w));
  if (rc == 0 && !m->rep.w)
    rc = LOOM_ENOMEM;
  m->rep.version = LOOM_VERSION;
  m->rep.policy = m->pol->name;
  m->rep.command_line = l->opt.command_line;
  m->rep.source = l->opt.source_name;
  m->rep.run_dir = l->run_dir;
  m->rep.nworkers = l->nworkers;
  m->rep.master_runs_tasks = m->local;
  m->rep.started = loom__wall();
  loom__report_slurm(&m->rep);
  rc2 = gather_workers(m);
  if (rc == 0)
    rc = rc2;
  if (rc == 0) {
    m->sched.total = l->opt.expected_tasks;
    m->rep.source_tasks = l->opt.expected_tasks;
    rc = m->pol->init(&m->sched, &m->pol_state);
  }
  if (rc == 0) {
    m->rep.lookahead = m->pol->longest_first ? l->opt.lookahead : 0;
    rc =
        loom__feed_init(&m->feed, l, &m->sched, src, src_arg, m->rep.lookahead);
    if (rc == 0)
      task_limits(m);
  }
  if (rc == 0)
    rc = loom__comm_init(&m->comm, l->comm);
  if (rc == 0)
    rc = loom__waker_init(&m->waker);
  if (rc == 0 && m->local)
    rc = loom__executor_start(&m->ex, l, &m->waker);
  loom__comm_on(&m->comm, LOOM__TAG_DONE, on_done, m);
  /* Nothing is read or written in the run directory before it is ours. */
  if (rc == 0 && l->run_dir)
    rc = loom__rundir_lock(l->run_dir, l->opt.lock_wait, l->opt.quiet,
                           &m->lock_fd, m->errbuf, sizeof(m->errbuf));
  if (rc == 0 && l->run_dir && l->opt.resume) {
    rc = loom__resume_load(&m->resume, l->run_dir, l->opt.skip_failed,
                           m->errbuf, sizeof(m->errbuf));
    if (rc == 0) {
      m->feed.resume = &m->resume;
      /* A source that has nothing in common with the journal would mix two
       * task sets in one directory: look before running anything. */
      if (m->resume.done > 0 && !l->opt.resume_any)
        m->feed.probe = LOOM__PROBE_MAX;
    }
  }
  if (rc == 0 && l->run_dir &&
      loom__joblog_open(&m->joblog, l->run_dir, l->opt.resume)) {
    snprintf(m->errbuf, sizeof(m->errbuf), "%s", m->joblog.err);
    rc = LOOM_EIO;
  }
  m->feed.keyed = m->joblog.open;
  /* Collective: after a failure above too, so that every rank agrees. */
  rc2 = loom__state_start(l->state, &m->comm, &m->waker, rc, stateerr,
                          sizeof(stateerr));
  if (rc == 0 && rc2 != 0) {
    rc = rc2;
    snprintf(m->errbuf, sizeof(m->errbuf), "%s",
             stateerr[0] ? stateerr : "the state table could not start");
  }
  /* Short sleeps are only short with a small timer slack. */
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  m->t_start = m->t_last_done = loom__now();
  loom__progress_init(&m->prog, l->opt.progress != LOOM_PROGRESS_OFF,
                      l->opt.progress == LOOM_PROGRESS_LIVE    ? 1
                      : l->opt.progress == LOOM_PROGRESS_LINES ? 0
                                                               : -1,
                      l->opt.progress_interval, l->opt.expected_tasks,
                      m->t_start);
  return rc;
}

/* The state table's turn: its queued calls, batches and answers. Returns
 * how much it did, or a negative code. */
static int serve_state(struct master *m) {
  int n = loom__state_pump(m->l->state);
  const char *why = loom__state_io_error(m->l->state);

  if (why && !m->io_failed)
    io_failure(m, why);
  if (n < 0)
    stop_reason(m, "the state table failed: %s", loom_strerror(n));
  return n;
}

/* The loop: receive, heed a stop, dispatch, or wait. */
static int loop(struct master *m) {
  unsigned idle = 0;
  int rc = dispatch(m);

  while (rc == 0 && work_left(m)) {
    int got = receive(m), served;
    if (got < 0)
      return got;
    served = serve_state(m);
    if (served < 0)
      return served;
    rc = check_stop(m);
    if (rc != 0)
      return rc;
    check_workers_left(m);
    if (got > 0) {
      rc = dispatch(m);
      idle = 0;
    } else if (served > 0 || loom__state_busy(m->l->state)) {
      idle = 0;
      sched_yield();
    } else {
      idle_wait(m, &idle);
    }
    loom__progress_tick(&m->prog, loom__now(), m->rep.tasks, m->rep.failed);
  }
  return rc;
}

int loom__master_run(struct loom *l, loom_source_fn src, void *src_arg,
                     loom_result_fn on_result, void *res_arg) {
  struct master *m;
  int rc, rc2;

  m = calloc(1, sizeof(*m));
  if (!m)
    return LOOM_ENOMEM; /* workers wait for STOP: caller must abort */
  m->l = l;
  m->on_result = on_result;
  m->res_arg = res_arg;
  rc = start(m, src, src_arg);
  if (rc == 0)
    rc = loop(m);
  /* A source error stops new work only: what was in flight is recorded
   * above before the loop ends (nothing was left in flight). */
  if (rc == 0 && m->feed.err) {
    rc = m->feed.err;
    if (m->feed.errbuf[0])
      stop_reason(m, "%s", m->feed.errbuf);
    else
      stop_reason(m, "task source failed: %s", loom_strerror(rc));
  }
  if (rc == 0 && m->io_failed)
    rc = LOOM_EIO;
  rc2 = stop_workers(m);
  if (rc == 0)
    rc = rc2;
  rc2 = loom__comm_flush(&m->comm);
  if (rc == 0)
    rc = rc2;
  rc = finish_state(m, rc);
  if (loom__joblog_close(&m->joblog) != 0) {
    io_failure(m, m->joblog.err);
    if (rc == 0)
      rc = LOOM_EIO;
  }
  rc = finish_report(m, rc);
  loom__rundir_unlock(m->lock_fd); /* the journal and report are whole */

  if (m->pol_state)
    m->pol->fini(m->pol_state);
  loom__executor_stop(&m->ex);
  loom__comm_fini(&m->comm); /* flushed above */
  loom__waker_fini(&m->waker);
  loom__buf_fini(&m->out);
  loom__buf_fini(&m->local_done);
  loom__feed_fini(&m->feed);
  loom__inflight_fini(&m->fl);
  loom__resume_fini(&m->resume);
  free(m->rep.w);
  loom__sched_fini(&m->sched);
  free(m);
  return rc;
}
