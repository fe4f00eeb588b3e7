/* master.c - the master's dispatch loop (rank 0).
 *
 * Protocol, per worker w (rank w + 1):
 *  1. The master sends TASKS batches while w has fewer than `window` batches
 *     in flight (credit); the policy picks w, sched.c sizes the batch.
 *  2. The worker answers each batch with exactly one DONE message, in order.
 *  3. When the source is dry and nothing is in flight or waiting for a retry,
 *     the master sends STOP to every worker and returns.
 * Every task in flight lives in a slot; the slot index travels with the task
 * and comes back with its completion, so completions can arrive in any
 * order. The master never blocks in MPI while idle: it polls with
 * MPI_Iprobe and backs off (yield, then short sleeps capped so no worker's
 * queue runs dry), leaving the core to the workers.
 * With one rank the master runs each batch itself through the same encoder,
 * executor and completion handler.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "comm/comm.h"
#include "dispatch/engine.h"
#include "dispatch/executor.h"
#include "dispatch/wire.h"
#include "journal/joblog.h"
#include "journal/progress.h"
#include "journal/report.h"
#include "journal/resume.h"
#include "sched/ahead.h"
#include "sched/policy.h"

#define NO_SLOT UINT32_MAX
#define BATCH_BYTES_MAX (1u << 20)

/* A task in flight, in two parts: what every task needs, packed small so a
 * window of thousands of tiny tasks stays in cache, and what only a joblog
 * or a retry needs, in a parallel array touched only then. */
struct slot {
  uint64_t id;
  uint64_t line;
  double cost;
  uint16_t kind;
  uint16_t attempt;
  int32_t worker; /* -1 while not in flight */
  int32_t retries_left;
  int32_t last_worker; /* where the last failed attempt ran, or -1 */
  uint32_t next;       /* free list or retry queue */
};

struct slot_cold {
  uint64_t key;     /* what a resumed run matches on (resume.h) */
  const char *text; /* joblog text: own_text, or a kind name */
  char *own_text;   /* owned, reused */
  size_t text_len;
  size_t text_cap;
  double timeout;         /* kept for retries */
  unsigned char *payload; /* kept for retries, owned, reused */
  size_t len;
  size_t cap;
};

/* A task read ahead of its turn (ahead.h), with its own copy of what the
 * source handed over: the spec's payload and text point into mem. */
struct ahead_task {
  struct loom_task_spec spec;
  uint64_t key;  /* resume key */
  uint64_t pos;  /* place among the tasks read */
  int attempt;   /* first attempt's number */
  uint16_t kind; /* kind index */
  uint32_t next; /* free list */
  char *mem;     /* owned, reused */
  size_t cap;
};

struct master {
  struct loom *l;
  struct loom__sched sched;
  const struct loom__policy_ops *pol;
  void *pol_state;

  loom_source_fn src;
  void *src_arg;
  loom_result_fn on_result;
  void *res_arg;
  int src_done;
  int src_err;
  struct loom_task_spec look; /* the next task, fetched ahead */
  int have_look;
  uint16_t look_kind; /* its kind's index */
  uint64_t look_key;  /* its key, when there is a journal */
  int look_attempt;   /* its first attempt's number (resume) */
  uint64_t look_pos;  /* its place among the tasks read, for derived ids */
  /* Look-ahead (ahead.h): up to ahead_max tasks wait in pool entries. */
  uint64_t ahead_max; /* 0 = off: the source's order */
  struct loom__heap ahead;
  struct ahead_task *pool;
  uint32_t npool;
  uint32_t pool_free; /* free list */
  uint32_t pool_cur;  /* the entry m->look points into, or NO_SLOT */
  uint64_t read_seq;  /* tasks read from the source (and not resumed as
                         done) */
  struct loom__resume resume;
  int resuming;
  int halted;
  int stopping;         /* loom_stop() seen: no new tasks */
  int quarantined;      /* workers quarantined */
  uint64_t not_started; /* left out for the deadline or for want of workers */
  int cancelled;        /* workers told to kill what runs */
  double stop_at;       /* when the stop was seen */
  uint64_t seq;         /* tasks taken from the source, for derived ids */
  const char *kind_ptr; /* the last kind name looked up, and its index */
  uint16_t kind_idx;
  uint64_t *kind_hash; /* per registered kind */

  struct slot *slots;
  struct slot_cold *cold;
  uint32_t nslots;
  uint32_t free_head;
  uint32_t retry_head;
  uint32_t retry_tail;
  uint64_t inflight;

  struct loom__comm comm;
  struct loom__waker waker;
  struct loom__buf out;        /* the batch being built */
  struct loom__executor ex;    /* one-rank mode: the master runs tasks */
  struct loom__buf local_done; /* one-rank mode: a DONE from ex */
  int local;
  int told_local; /* the one-rank notice is out */

  struct loom__joblog joblog;
  int joblog_err;
  struct loom__report rep;
  struct loom__progress prog;
  double t_start;
  double t_last_done;
  char errbuf[512];
};

/* ---- slots ----------------------------------------------------------------
 */

static int slot_alloc(struct master *m, uint32_t *out) {
  if (m->free_head == NO_SLOT) {
    uint32_t n = m->nslots ? 2 * m->nslots : 1024;
    struct slot *s = realloc(m->slots, n * sizeof(*s));
    struct slot_cold *c;
    if (!s)
      return LOOM_ENOMEM;
    m->slots = s;
    c = realloc(m->cold, n * sizeof(*c));
    if (!c)
      return LOOM_ENOMEM;
    m->cold = c;
    memset(s + m->nslots, 0, (n - m->nslots) * sizeof(*s));
    memset(c + m->nslots, 0, (n - m->nslots) * sizeof(*c));
    for (uint32_t i = m->nslots; i < n; i++) {
      s[i].next = i + 1 < n ? i + 1 : NO_SLOT;
      s[i].worker = -1;
    }
    m->free_head = m->nslots;
    m->nslots = n;
  }
  *out = m->free_head;
  m->free_head = m->slots[*out].next;
  return 0;
}

static void slot_free(struct master *m, uint32_t i) {
  m->slots[i].worker = -1;
  m->slots[i].next = m->free_head;
  m->free_head = i;
}

static int copy_into(void **dst, size_t *cap, const void *src, size_t n) {
  if (n > *cap) {
    void *p = realloc(*dst, n);
    if (!p)
      return LOOM_ENOMEM;
    *dst = p;
    *cap = n;
  }
  if (n)
    memcpy(*dst, src, n);
  return 0;
}

/* Finds the registry index of a kind name. Sources hand the same name
 * pointer again and again, so the last answer is checked first. */
static int kind_index(struct master *m, const char *name, uint16_t *out) {
  const struct loom *l = m->l;

  if (!name)
    name = "sh";
  if (name == m->kind_ptr && strcmp(l->kinds[m->kind_idx].name, name) == 0) {
    *out = m->kind_idx;
    return 0;
  }
  for (size_t i = 0; i < l->nkinds; i++)
    if (strcmp(l->kinds[i].name, name) == 0) {
      m->kind_ptr = name;
      m->kind_idx = (uint16_t)i;
      *out = (uint16_t)i;
      return 0;
    }
  return LOOM_ENOENT;
}

/* Fills a fresh slot from the look-ahead spec. The payload is kept only
 * when a retry may need it; the joblog text only when there is a joblog,
 * and then by reference when it is the kind's name. */
static int slot_fill(struct master *m, uint32_t si) {
  struct slot *s = &m->slots[si];
  struct slot_cold *c = &m->cold[si];
  const struct loom_task_spec *t = &m->look;
  int rc;

  s->kind = m->look_kind;
  m->seq++;
  s->id = t->id ? t->id
                : loom__task_id(m->kind_hash[s->kind], t->payload, t->len,
                                t->line ? t->line : m->look_pos);
  s->line = t->line;
  s->cost = t->cost;
  s->attempt = (uint16_t)m->look_attempt;
  s->retries_left = t->retries > 0 ? t->retries : 0;
  s->last_worker = -1;
  c->key = m->look_key;
  if (m->joblog.fp) {
    if (t->text || s->kind == 0) {
      const char *text = t->text ? t->text : t->payload;
      size_t n = t->text ? t->text_len : t->len;
      rc = copy_into((void **)&c->own_text, &c->text_cap, text, n);
      if (rc != 0)
        return rc;
      c->text = c->own_text;
      c->text_len = n;
    } else {
      c->text = m->l->kinds[s->kind].name;
      c->text_len = strlen(c->text);
    }
  }
  if (s->retries_left > 0) {
    rc = copy_into((void **)&c->payload, &c->cap, t->payload, t->len);
    if (rc != 0)
      return rc;
    c->len = t->len;
    c->timeout = t->timeout > 0 ? t->timeout : 0;
  }
  return 0;
}

/* ---- the source -----------------------------------------------------------
 */

/* Would a task of this cost hint (< 0: unknown, the measured mean is used)
 * finish before the deadline if it started now? */
static int fits_deadline(struct master *m, double cost) {
  double expected;

  if (!(m->l->opt.deadline > 0))
    return 1;
  expected = cost >= 0 ? cost : (m->sched.t_est > 0 ? m->sched.t_est : 0);
  return loom__wall() + expected <= m->l->opt.deadline;
}

/* The text a task's key hashes: a shell task's command, else its payload. */
static uint64_t look_key(struct master *m) {
  const struct loom_task_spec *t = &m->look;
  int text = m->look_kind == 0 && t->text;
  return loom__task_key(m->kind_hash[m->look_kind],
                        text ? (const void *)t->text : t->payload,
                        text ? t->text_len : t->len);
}

/* Reads the next task from the source into m->look: resolves its kind
 * and, in a resumed run, passes over the tasks the journal holds as done.
 * Returns 1, or 0 when the source is dry or failed (m->src_err). */
static int intake(struct master *m) {
  int rc;

  while (!m->src_done) {
    rc = m->src(m->src_arg, &m->look);
    if (rc != 1) {
      m->src_done = 1;
      if (rc < 0)
        m->src_err = rc;
      return 0;
    }
    if (m->look.len > LOOM__WIRE_PAYLOAD_MAX) {
      snprintf(m->errbuf, sizeof(m->errbuf),
               "task payload of %zu bytes is over the %u byte limit",
               m->look.len, LOOM__WIRE_PAYLOAD_MAX);
      m->src_err = LOOM_ETOOBIG;
      m->src_done = 1;
      return 0;
    }
    if (kind_index(m, m->look.kind, &m->look_kind) != 0) {
      snprintf(m->errbuf, sizeof(m->errbuf), "task names unknown kind '%s'",
               m->look.kind);
      m->src_err = LOOM_ENOENT;
      m->src_done = 1;
      return 0;
    }
    m->look_attempt = 1;
    if (m->joblog.fp) {
      m->look_key = look_key(m);
      if (m->resuming &&
          loom__resume_check(&m->resume, m->look_key, &m->look_attempt))
        continue; /* done in an earlier run */
    }
    m->look_pos = ++m->read_seq;
    return 1;
  }
  return 0;
}

/* Copies the task in m->look, with its place in the source (so that
 * reordering does not change a derived id), into a pool entry and the
 * look-ahead heap. Out of memory, it stops the source with LOOM_ENOMEM and
 * returns that. */
static int ahead_store(struct master *m) {
  const struct loom_task_spec *t = &m->look;
  size_t text_len = t->text ? t->text_len : 0;
  struct ahead_task *e;
  uint32_t i;

  if (m->pool_free == NO_SLOT) {
    uint32_t n = m->npool ? 2 * m->npool : 256;
    struct ahead_task *p = realloc(m->pool, n * sizeof(*p));
    if (!p)
      goto nomem;
    memset(p + m->npool, 0, (n - m->npool) * sizeof(*p));
    for (uint32_t k = m->npool; k < n; k++)
      p[k].next = k + 1 < n ? k + 1 : NO_SLOT;
    m->pool = p;
    m->pool_free = m->npool;
    m->npool = n;
  }
  i = m->pool_free;
  e = &m->pool[i];
  if (t->len + text_len > e->cap) {
    char *mem = realloc(e->mem, t->len + text_len);
    if (!mem)
      goto nomem;
    e->mem = mem;
    e->cap = t->len + text_len;
  }
  if (t->len)
    memcpy(e->mem, t->payload, t->len);
  if (text_len)
    memcpy(e->mem + t->len, t->text, text_len);
  e->spec = *t;
  e->spec.payload = e->mem;
  e->spec.text = t->text ? e->mem + t->len : NULL;
  e->spec.kind = m->l->kinds[m->look_kind].name;
  e->kind = m->look_kind;
  e->key = m->look_key;
  e->pos = m->look_pos;
  e->attempt = m->look_attempt;
  if (loom__ahead_push(&m->ahead, loom__sched_hint(&m->sched, t->cost),
                       m->look_pos, i) != 0)
    goto nomem;
  m->pool_free = e->next;
  return 0;
nomem:
  m->src_err = LOOM_ENOMEM;
  m->src_done = 1;
  return LOOM_ENOMEM;
}

/* With look-ahead: tops the buffer up from the source, then moves its
 * longest task into m->look. Returns 1, or 0 when both are dry. */
static int ahead_next(struct master *m) {
  struct ahead_task *e;
  uint32_t ref;

  if (m->pool_cur != NO_SLOT) { /* m->look is done with it */
    m->pool[m->pool_cur].next = m->pool_free;
    m->pool_free = m->pool_cur;
    m->pool_cur = NO_SLOT;
  }
  while (m->ahead.n < m->ahead_max && intake(m))
    if (ahead_store(m) != 0)
      return 0;
  if (m->ahead.n == 0)
    return 0;
  ref = loom__ahead_pop(&m->ahead);
  e = &m->pool[ref];
  m->look = e->spec;
  m->look_kind = e->kind;
  m->look_key = e->key;
  m->look_pos = e->pos;
  m->look_attempt = e->attempt;
  m->pool_cur = ref;
  return 1;
}

/* Fetches the next task to run into m->look: the source's next, or the
 * longest of the look-ahead buffer; a task that cannot finish before the
 * deadline is counted and passed over. */
static void fetch(struct master *m) {
  while (!m->have_look) {
    if (m->ahead_max && m->sched.hints > 0) {
      if (!ahead_next(m))
        return;
    } else {
      if (!intake(m))
        return;
      if (m->ahead_max && m->look.cost >= 0) {
        /* The first hint starts the look-ahead. Until then it could not
         * reorder anything, so a file without hints streams. */
        if (ahead_store(m) != 0)
          return;
        continue;
      }
      loom__sched_hint(&m->sched, m->look.cost);
    }
    if (!fits_deadline(m, m->look.cost)) {
      m->not_started++;
      continue;
    }
    m->have_look = 1;
  }
}

static int have_work(struct master *m) {
  if (m->halted || m->stopping)
    return 0;
  if (m->retry_head != NO_SLOT)
    return 1;
  if (m->src_err)
    return 0;
  fetch(m);
  return m->have_look;
}

/* Takes the next task for worker w: a retry first, unless it failed on w
 * and a fresh task can go instead (a retry prefers another worker); else
 * the look-ahead. */
static int take(struct master *m, int w, uint32_t *si, const void **payload,
                size_t *len, double *timeout) {
  int rc;

  if (m->retry_head != NO_SLOT) {
    int elsewhere = m->slots[m->retry_head].last_worker == w &&
                    m->sched.n > 1 && !m->src_err;
    if (elsewhere)
      fetch(m);
    if (!elsewhere || !m->have_look) {
      if (!fits_deadline(m, m->slots[m->retry_head].cost)) {
        /* Too late for another attempt: the last one stands. */
        *si = m->retry_head;
        m->retry_head = m->slots[*si].next;
        if (m->retry_head == NO_SLOT)
          m->retry_tail = NO_SLOT;
        m->not_started++;
        m->rep.tasks++;
        m->rep.failed++;
        slot_free(m, *si);
        return LOOM_ENOENT; /* nothing taken: the caller looks again */
      }
      *si = m->retry_head;
      m->retry_head = m->slots[*si].next;
      if (m->retry_head == NO_SLOT)
        m->retry_tail = NO_SLOT;
      *payload = m->cold[*si].payload;
      *len = m->cold[*si].len;
      *timeout = m->cold[*si].timeout;
      return 0;
    }
  }
  rc = slot_alloc(m, si);
  if (rc != 0)
    return rc;
  rc = slot_fill(m, *si);
  if (rc != 0) {
    slot_free(m, *si);
    return rc;
  }
  *payload = m->look.payload;
  *len = m->look.len;
  *timeout = m->look.timeout > 0 ? m->look.timeout : 0;
  m->have_look = 0;
  return 0;
}

/* ---- completions ------------------------------------------------------ */

/* Quarantine bookkeeping for an attempt of slot s on worker w: a success
 * clears w's blame and, when the task had failed on another worker, blames
 * that one; enough blame quarantines it. */
static void blame(struct master *m, const struct slot *s, int w, int failed) {
  struct loom__wstate *bad;

  if (failed)
    return;
  m->sched.w[w].blame = 0;
  if (s->last_worker < 0 || s->last_worker == w || !m->l->opt.quarantine)
    return;
  bad = &m->sched.w[s->last_worker];
  if (++bad->blame < (uint32_t)m->l->opt.quarantine || bad->quarantined)
    return;
  bad->quarantined = 1;
  m->rep.w[s->last_worker].quarantined = 1;
  m->quarantined++;
  if (!m->l->opt.quiet)
    loom__log("quarantined rank %d on %s: %u of its failed tasks succeeded "
              "elsewhere",
              m->rep.w[s->last_worker].rank, m->rep.w[s->last_worker].host,
              bad->blame);
}

static const char *status_of(const struct loom__wire_done *d) {
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

static int handle_done(struct master *m, int w, const void *msg, size_t len) {
  struct loom__reader r;
  struct loom__wire_done d;
  uint32_t n, k = 0;
  double busy = 0, hinted = 0; /* sum of cost hints, -1 once one is missing */
  int rc, got;

  rc = loom__wire_open(&r, msg, len);
  if (rc != 0)
    return rc;
  n = r.left;
  while ((got = loom__wire_get_done(&r, &d)) == 1) {
    struct slot *s;
    int failed =
        d.exit_code != 0 || d.sig != 0 ||
        (d.flags & (LOOM__DONE_TIMEOUT | LOOM__DONE_SPAWN | LOOM__DONE_CANCEL));

    if (d.slot >= m->nslots || m->slots[d.slot].worker != w)
      return LOOM_EPROTO;
    s = &m->slots[d.slot];
    k++;
    busy += d.elapsed;
    if (s->cost >= 0 && hinted >= 0)
      hinted += s->cost;
    else
      hinted = -1;
    loom__sched_task_done(&m->sched, w, d.elapsed, s->cost, failed, k == n);
    m->rep.attempts++;
    m->rep.sum_task += d.elapsed;
    m->rep.longest = fmax(m->rep.longest, d.elapsed);
    m->rep.w[w].attempts++;
    m->rep.w[w].failed += failed;
    m->rep.w[w].busy += d.elapsed;
    if (m->joblog.fp) {
      struct loom__joblog_row row = {.id = s->id,
                                     .key = m->cold[d.slot].key,
                                     .line = s->line,
                                     .rank = m->local ? 0 : w + 1,
                                     .host = m->rep.w[w].host,
                                     .start = d.start,
                                     .elapsed = d.elapsed,
                                     .exit_code = d.exit_code,
                                     .sig = d.sig,
                                     .status = status_of(&d),
                                     .attempt = s->attempt,
                                     .text = m->cold[d.slot].text,
                                     .text_len = m->cold[d.slot].text_len};
      if (loom__joblog_write(&m->joblog, &row) != 0)
        m->joblog_err = LOOM_EIO;
    }
    if (m->on_result) {
      struct loom_result res = {.id = s->id,
                                .line = s->line,
                                .kind = m->l->kinds[s->kind].name,
                                .worker = m->local ? 0 : w + 1,
                                .attempt = s->attempt,
                                .exit_code = d.exit_code,
                                .signal = d.sig,
                                .start = d.start,
                                .elapsed = d.elapsed,
                                .data = d.data,
                                .len = d.len};
      m->on_result(m->res_arg, &res);
    }
    m->inflight--;
    blame(m, s, w, failed);
    if (failed && s->retries_left > 0) {
      s->retries_left--;
      s->attempt++;
      s->last_worker = w;
      s->worker = -1;
      s->next = NO_SLOT;
      if (m->retry_tail == NO_SLOT)
        m->retry_head = d.slot;
      else
        m->slots[m->retry_tail].next = d.slot;
      m->retry_tail = d.slot;
      continue;
    }
    m->rep.tasks++;
    if (failed)
      m->rep.failed++;
    else
      m->rep.succeeded++;
    if (failed && m->l->opt.halt && m->rep.failed >= m->l->opt.halt &&
        !m->halted) {
      m->halted = 1;
      snprintf(m->errbuf, sizeof(m->errbuf),
               "halted: %" PRIu64 " tasks failed (--halt %" PRIu64 ")",
               m->rep.failed, m->l->opt.halt);
      m->rep.error = m->errbuf;
    }
    slot_free(m, d.slot);
  }
  if (got < 0)
    return got;
  if (k == 0)
    return LOOM_EPROTO; /* every DONE closes a batch */
  loom__sched_observe(&m->sched, n, busy);
  loom__sched_measure(&m->sched, w, n, busy, hinted);
  m->pol->done(m->pol_state, &m->sched, w);
  m->t_last_done = loom__now();
  if (m->joblog.fp && loom__joblog_flush(&m->joblog) != 0)
    m->joblog_err = LOOM_EIO;
  return 0;
}

/* ---- dispatch --------------------------------------------------------- */

/* No worker can take the work that is left (all quarantined)? Then the
 * run ends with that work not started. */
static void check_workers_left(struct master *m) {
  if (m->inflight > 0 || m->halted || !have_work(m))
    return;
  for (int w = 0; w < m->sched.n; w++)
    if (!m->sched.w[w].quarantined)
      return;
  m->halted = 1;
  snprintf(m->errbuf, sizeof(m->errbuf),
           "every worker is quarantined: the tasks left were not started");
  m->rep.error = m->errbuf;
}

/* Hands the batch in m->out to worker w: to its rank, or with one rank to
 * the master's own executor. */
static int send_batch(struct master *m, int w) {
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

/* Fills and sends batches while some worker has room and there is work. */
static int dispatch(struct master *m) {
  while (have_work(m)) {
    int w;

    /* What the policy may look at: which task comes next, and its cost. */
    m->sched.next_task = m->seq;
    m->sched.next_cost = m->retry_head != NO_SLOT ? m->slots[m->retry_head].cost
                         : m->have_look           ? m->look.cost
                                                  : -1;
    w = m->pol->pick(m->pol_state, &m->sched);
    uint32_t want, n = 0;
    double cost = 0;
    int rc;

    if (w < 0)
      return 0;
    rc = loom__wire_begin(&m->out);
    if (rc != 0)
      return rc;
    want = loom__sched_batch_size(&m->sched, w);
    while (n < want && m->out.len < BATCH_BYTES_MAX && have_work(m)) {
      uint32_t si;
      const void *payload;
      size_t len;
      double timeout;
      struct loom__wire_task t;

      if (m->retry_head == NO_SLOT &&
          loom__sched_batch_full(&m->sched, n, cost, m->look.cost))
        break; /* the hints say this batch is long enough */
      rc = take(m, w, &si, &payload, &len, &timeout);
      if (rc == LOOM_ENOENT)
        continue; /* a retry dropped for the deadline */
      if (rc != 0)
        return rc;
      t = (struct loom__wire_task){.slot = si,
                                   .kind = m->slots[si].kind,
                                   .attempt = m->slots[si].attempt,
                                   .id = m->slots[si].id,
                                   .timeout = timeout,
                                   .payload = payload,
                                   .len = (uint32_t)len};
      rc = loom__wire_put_task(&m->out, &t);
      if (rc != 0)
        return rc;
      m->slots[si].worker = w;
      if (m->joblog.fp &&
          loom__joblog_started(&m->joblog, t.id, m->cold[si].key) != 0)
        m->joblog_err = LOOM_EIO;
      if (m->slots[si].cost > 0)
        cost += m->slots[si].cost;
      m->inflight++;
      n++;
    }
    if (n == 0)
      return 0;
    loom__sched_assign(&m->sched, w, n, cost);
    m->pol->assigned(m->pol_state, &m->sched, w);
    /* The journal knows a task was handed out before the worker does. */
    if (m->joblog.fp && loom__joblog_flush(&m->joblog) != 0)
      m->joblog_err = LOOM_EIO;
    rc = send_batch(m, w);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* A DONE message from a worker's rank. */
static int on_done(void *arg, int src, struct loom__buf *msg) {
  struct master *m = arg;

  if (src < 1 || src > m->sched.n)
    return LOOM_EPROTO;
  return handle_done(m, src - 1, msg->data, msg->len);
}

/* One-rank mode: handles every batch the master's executor finished.
 * Returns how many, or a negative code. */
static int take_local(struct master *m) {
  int n = 0, rc, job_rc;

  while (loom__executor_take(&m->ex, &m->local_done, &job_rc)) {
    rc = job_rc != 0 ? job_rc
                     : handle_done(m, 0, m->local_done.data, m->local_done.len);
    if (rc != 0)
      return rc;
    n++;
  }
  return n;
}

/* Idle back-off: yield first (cheap, hands the core to a worker), then
 * sleep in growing steps up to what the workers' queues allow. */
static void idle_wait(struct master *m, unsigned *idle) {
  double cap = loom__sched_idle_cap(&m->sched), s;

  if (*idle < 16) {
    (*idle)++;
    sched_yield();
    return;
  }
  s = fmin(cap, 1e-6 * (double)(1u << (*idle - 16 < 12 ? *idle - 16 : 12)));
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
  if (!m->stopping) {
    m->stopping = 1;
    m->stop_at = now;
    snprintf(m->errbuf, sizeof(m->errbuf),
             "stopped on request (a signal): %" PRIu64
             " tasks in flight were given %g s to finish",
             m->inflight, m->l->opt.grace);
    m->rep.error = m->errbuf;
  }
  if (requests < 2 && now - m->stop_at < m->l->opt.grace)
    return 0;
  m->cancelled = 1;
  if (m->local) {
    loom__executor_cancel(&m->ex);
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

/* A user's weight for worker rank r on host h from the "KEY=W,..." spec
 * (KEY a rank number or a host name; a rank wins over a host), or < 0. */
static double weight_override(const char *spec, int r, const char *h) {
  double by_host = -1;

  while (spec && *spec) {
    const char *eq = strchr(spec, '='), *end = strchr(spec, ',');
    size_t klen;
    char *num_end;
    long rank;
    double v;

    if (!end)
      end = spec + strlen(spec);
    if (!eq || eq > end)
      break;
    klen = (size_t)(eq - spec);
    v = strtod(eq + 1, NULL);
    rank = strtol(spec, &num_end, 10);
    if (num_end == eq && rank == r)
      return v;
    if (strlen(h) == klen && strncmp(spec, h, klen) == 0)
      by_host = v;
    spec = *end ? end + 1 : end;
  }
  return by_host;
}

/* Gathers every rank's hardware profile: the report shows it, and each
 * worker's weight (the user's, else the profile's) seeds its capacity. */
static int gather_workers(struct master *m) {
  struct loom *l = m->l;
  struct loom_profile *all = NULL;
  int rc = loom_profile_gather(l->comm, &l->profile, &all);

  for (int w = 0; rc == 0 && w < m->sched.n; w++) {
    const struct loom_profile *p = &all[m->local ? 0 : w + 1];
    struct loom__report_worker *rw = &m->rep.w[w];
    double over = weight_override(l->opt.weights, p->rank, p->host);

    rw->rank = p->rank;
    snprintf(rw->host, sizeof(rw->host), "%s", p->host);
    snprintf(rw->cpuset, sizeof(rw->cpuset), "%s", p->cpuset);
    snprintf(rw->notes, sizeof(rw->notes), "%s", p->notes);
    rw->cores = p->cores;
    rw->pus = p->pus;
    rw->numa_nodes = p->numa_nodes;
    rw->l3 = p->l3;
    rw->cpukind = p->cpukind;
    rw->weight = over > 0 ? over : p->weight;
    rw->weight_given = over > 0;
    m->sched.w[w].weight = rw->weight;
  }
  free(all);
  return rc;
}

static void finish_report(struct master *m, int rc) {
  struct loom *l = m->l;
  char path[PATH_MAX];

  m->rep.makespan = m->rep.attempts ? m->t_last_done - m->t_start : 0;
  if (rc != 0 && !m->rep.error) {
    if (!m->errbuf[0])
      snprintf(m->errbuf, sizeof(m->errbuf), "%s", loom_strerror(rc));
    m->rep.error = m->errbuf;
  }
  l->summary.tasks = m->rep.tasks;
  l->summary.succeeded = m->rep.succeeded;
  l->summary.failed = m->rep.failed;
  l->summary.attempts = m->rep.attempts;
  l->summary.makespan = m->rep.makespan;
  l->summary.skipped = m->resume.skipped;
  l->summary.halted = m->halted;
  l->summary.stopped = m->stopping;
  l->summary.not_started = m->not_started;
  l->summary.quarantined = m->quarantined;
  m->rep.not_started = m->not_started;
  if (m->not_started > 0 && !m->rep.error) {
    snprintf(m->errbuf, sizeof(m->errbuf),
             "deadline: %" PRIu64 " tasks could not finish before it and were "
             "not started",
             m->not_started);
    m->rep.error = m->errbuf;
  }
  if (m->rep.error)
    snprintf(l->error, sizeof(l->error), "%s", m->rep.error);
  m->rep.resumed = m->resuming;
  m->rep.skipped = m->resume.skipped;
  m->rep.lost = m->resume.lost;
  loom__progress_end(&m->prog);
  if (l->run_dir) {
    snprintf(path, sizeof(path), "%s/report.json", l->run_dir);
    if (loom__report_write(&m->rep, path) != 0)
      loom__log("cannot write %s", path);
  }
  /* A run that failed before its first task has nothing to sum up: the
   * caller reports the error itself. */
  if (!l->opt.quiet && (m->rep.attempts > 0 || rc == 0))
    loom__report_summary(&m->rep, stderr);
}

int loom__master_run(struct loom *l, loom_source_fn src, void *src_arg,
                     loom_result_fn on_result, void *res_arg) {
  struct master *m;
  unsigned idle = 0;
  int rc, rc2;

  m = calloc(1, sizeof(*m));
  if (!m)
    return LOOM_ENOMEM; /* workers wait for STOP: caller must abort */
  m->l = l;
  m->src = src;
  m->src_arg = src_arg;
  m->on_result = on_result;
  m->res_arg = res_arg;
  m->local = l->size == 1;
  m->free_head = m->retry_head = m->retry_tail = NO_SLOT;
  m->pool_free = m->pool_cur = NO_SLOT;
  m->pol = loom__policy_find(l->opt.policy);
  m->ahead_max = m->pol->longest_first ? l->opt.lookahead : 0;
  rc = loom__sched_init(&m->sched, l->nworkers, l->opt.window,
                        (uint32_t)l->opt.batch_max, l->opt.batch_target);
  m->waker.fd = -1;
  m->rep.w = calloc((size_t)l->nworkers, sizeof(*m->rep.w));
  if (rc == 0 && !m->rep.w)
    rc = LOOM_ENOMEM;
  m->rep.version = LOOM_VERSION;
  m->rep.policy = m->pol->name;
  m->rep.lookahead = m->ahead_max;
  m->rep.command_line = l->opt.command_line;
  m->rep.source = l->opt.source_name;
  m->rep.run_dir = l->run_dir;
  m->rep.nworkers = l->nworkers;
  m->rep.master_runs_tasks = m->local;
  m->rep.started = loom__wall();
  rc2 = gather_workers(m); /* collective: always take part */
  if (rc == 0)
    rc = rc2;
  if (rc == 0)
    m->sched.total = l->opt.expected_tasks;
  if (rc == 0)
    rc = m->pol->init(&m->sched, &m->pol_state);
  if (rc == 0 && !(m->kind_hash = calloc(l->nkinds, sizeof(uint64_t))))
    rc = LOOM_ENOMEM;
  for (size_t i = 0; rc == 0 && i < l->nkinds; i++)
    m->kind_hash[i] = loom__kind_hash(l->kinds[i].name);
  if (rc == 0)
    rc = loom__comm_init(&m->comm, l->comm);
  if (rc == 0)
    rc = loom__waker_init(&m->waker);
  if (rc == 0 && m->local)
    rc = loom__executor_start(&m->ex, l, &m->waker);
  loom__comm_on(&m->comm, LOOM__TAG_DONE, on_done, m);
  if (rc == 0 && l->run_dir && l->opt.resume) {
    rc = loom__resume_load(&m->resume, l->run_dir, l->opt.skip_failed,
                           m->errbuf, sizeof(m->errbuf));
    m->resuming = rc == 0;
  }
  if (rc == 0 && l->run_dir &&
      loom__joblog_open(&m->joblog, l->run_dir, l->opt.resume)) {
    snprintf(m->errbuf, sizeof(m->errbuf), "cannot write %s/joblog.tsv",
             l->run_dir);
    rc = LOOM_EIO;
  }
  /* Short sleeps are only short with a small timer slack. */
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  m->t_start = m->t_last_done = loom__now();
  loom__progress_init(&m->prog, l->opt.progress != LOOM_PROGRESS_OFF,
                      l->opt.progress_interval, l->opt.expected_tasks,
                      m->t_start);

  if (rc == 0)
    rc = dispatch(m);
  while (rc == 0 && (m->inflight > 0 || have_work(m))) {
    int got = 0;
    if (m->local) {
      got = take_local(m);
    } else if ((rc = loom__comm_poll(&m->comm, &got)) != 0) {
      snprintf(m->errbuf, sizeof(m->errbuf), "%s", m->comm.err);
      break;
    }
    if (got < 0) {
      rc = got;
      break;
    }
    rc = check_stop(m);
    if (rc != 0)
      break;
    check_workers_left(m);
    if (got > 0) {
      rc = dispatch(m);
      idle = 0;
    } else {
      idle_wait(m, &idle);
    }
    loom__progress_tick(&m->prog, loom__now(), m->rep.tasks, m->rep.failed);
  }
  /* A source error stops new work only: what was in flight is recorded
   * above before the loop ends (inflight reached 0). */
  if (rc == 0 && m->src_err) {
    rc = m->src_err;
    if (!m->errbuf[0])
      snprintf(m->errbuf, sizeof(m->errbuf), "task source failed: %s",
               loom_strerror(rc));
  }
  if (rc == 0)
    rc = m->joblog_err;
  rc2 = stop_workers(m);
  if (rc == 0)
    rc = rc2;
  rc2 = loom__comm_flush(&m->comm);
  if (rc == 0)
    rc = rc2;
  if (loom__joblog_close(&m->joblog) != 0 && rc == 0)
    rc = LOOM_EIO;
  finish_report(m, rc);

  if (m->pol_state)
    m->pol->fini(m->pol_state);
  loom__executor_stop(&m->ex);
  loom__comm_fini(&m->comm); /* flushed above */
  loom__waker_fini(&m->waker);
  loom__buf_fini(&m->out);
  for (uint32_t i = 0; i < m->nslots; i++) {
    free(m->cold[i].own_text);
    free(m->cold[i].payload);
  }
  for (uint32_t i = 0; i < m->npool; i++)
    free(m->pool[i].mem);
  free(m->pool);
  loom__heap_free(&m->ahead);
  free(m->slots);
  free(m->cold);
  free(m->kind_hash);
  free(m->rep.w);
  loom__resume_fini(&m->resume);
  loom__buf_fini(&m->local_done);
  loom__sched_fini(&m->sched);
  free(m);
  return rc;
}
