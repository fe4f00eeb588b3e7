/* state.c - the state table's calls, and the loop thread's work (state.h).
 *
 * A call (loom_state_*) is checked, counted, and then:
 *  - on the loop thread during a run (the result callback): run at once;
 *  - on any other thread during a run (a task): queued, the loop thread
 *    poked, and the caller blocks on its request's semaphore until the
 *    loop thread has its answer (at once for a local operation; after
 *    rank 0's answer in strong mode);
 *  - outside a run: reads see the last run's final table; the rest is
 *    LOOM_ESTATE.
 * An answer that reports a change is released only once the journal holds
 * the change (rank 0: pump() writes the journal, then answers).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/common.h"
#include "dispatch/engine.h"
#include "state/internal.h"

/* At the end of an eventual run: anti-entropy rounds before giving up. */
#define REPAIR_ROUNDS 50

static __thread uint64_t last_ts;
static __thread int last_origin = -1;

void loom__state_last_stamp(uint64_t *ts, int *origin) {
  *ts = last_ts;
  *origin = last_origin;
}

void loom__state_fail(struct loom__state *s, const char *fmt, ...) {
  va_list ap;
  if (s->failed)
    return;
  s->failed = 1;
  va_start(ap, fmt);
  vsnprintf(s->err, sizeof(s->err), fmt, ap);
  va_end(ap);
}

/* ---- making and starting ------------------------------------------------ */

int loom__state_new(struct loom *l, struct loom__state **out) {
  struct loom__state *s = calloc(1, sizeof(*s));

  *out = NULL;
  if (!s)
    return LOOM_ENOMEM;
  s->l = l;
  s->rank = l->rank;
  s->size = l->size;
  s->log_fd = -1;
  s->phase = PHASE_IDLE;
  loom__table_init(&s->t, 0);
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    return LOOM_ENOMEM;
  }
  *out = s;
  return 0;
}

static void held_free(struct loom__held *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    loom__buf_fini(&h[i].msg);
  free(h);
}

void loom__state_free(struct loom__state *s) {
  if (!s)
    return;
  loom__log_close(s);
  loom__table_fini(&s->t);
  for (size_t i = 0; i < s->nw; i++)
    loom__buf_fini(&s->w[i].old);
  free(s->w);
  free(s->later);
  held_free(s->replies, s->nreplies);
  held_free(s->held, s->nheld);
  held_free(s->delayed, s->ndelayed);
  free(s->dirty);
  free(s->vc);
  free(s->seen_base);
  free(s->seen);
  loom__buf_fini(&s->logbuf);
  loom__buf_fini(&s->scratch);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Clears what one run leaves behind (the table stays until the next
 * start: reads after a run see it). */
static void reset_run(struct loom__state *s) {
  for (size_t i = 0; i < s->nw; i++)
    loom__buf_fini(&s->w[i].old);
  s->nw = s->nlater = s->ndirty = 0;
  held_free(s->replies, s->nreplies);
  held_free(s->held, s->nheld);
  held_free(s->delayed, s->ndelayed);
  s->replies = s->held = s->delayed = NULL;
  s->nreplies = s->repliescap = s->nheld = s->heldcap = 0;
  s->ndelayed = s->delayedcap = 0;
  s->pending = NULL;
  s->pending_calls = 0;
  free(s->seen_base);
  free(s->seen);
  s->seen_base = s->seen = NULL;
  s->seq_out = s->seq_in = 0;
  s->nsent = s->nrecv = s->bytes_sent = 0;
  s->journaled = 0;
  s->failed = 0;
  s->err[0] = s->io_err[0] = '\0';
  memset(s->calls, 0, sizeof(s->calls));
  memset(&s->f, 0, sizeof(s->f));
}

static int agree(struct loom__state *s, int rc) {
  int worst;
  if (rc == LOOM_EMPI)
    return rc;
  if (LOOM_MPI(MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MIN, s->l->comm)))
    return LOOM_EMPI;
  return worst;
}

/* Agrees on the start (collective): every rank's rc, and rank 0's table
 * (a resumed run's) to every rank. One allreduce when there is no table,
 * the usual case; with one, its bytes and two more agreements. */
static int share_table(struct loom__state *s, int rc) {
  int64_t v[2] = {0, 0};
  uint64_t n;

  s->scratch.len = 0;
  if (s->rank == 0 && rc == 0) {
    for (size_t i = 0; rc == 0 && i < s->t.n; i++)
      rc = loom__entry_encode(&s->scratch, &s->t.e[i], -1);
    if (rc == 0 && s->scratch.len > INT_MAX)
      rc = LOOM_ETOOBIG; /* MPI counts bytes in int */
  }
  v[0] = -(int64_t)rc; /* the worst code is the largest */
  v[1] = s->rank == 0 ? (int64_t)s->scratch.len : 0;
  if (rc == LOOM_EMPI || LOOM_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT64_T,
                                                MPI_MAX, s->l->comm)))
    return LOOM_EMPI;
  if (v[0] != 0)
    return (int)-v[0];
  n = (uint64_t)v[1];
  if (n == 0)
    return 0;
  /* Room on every rank before the broadcast, or no rank takes part. */
  if (s->rank != 0 && loom__buf_reserve(&s->scratch, n) != 0)
    rc = LOOM_ENOMEM;
  rc = agree(s, rc);
  if (rc != 0)
    return rc;
  if (LOOM_MPI(MPI_Bcast(s->scratch.data, (int)n, MPI_BYTE, 0, s->l->comm)))
    return LOOM_EMPI;
  if (s->rank != 0) {
    struct loom__cur c;
    loom__cur_init(&c, s->scratch.data, n);
    while (rc == 0 && loom__cur_left(&c) > 0) {
      struct loom__entry_in y;
      rc = loom__entry_decode(&c, &y);
      if (rc == 0)
        rc = loom__table_merge(&s->t, &y, NULL) < 0 ? LOOM_ENOMEM : 0;
    }
  }
  for (size_t i = 0; i < s->t.n; i++)
    if (s->t.e[i].kind == LOOM__KIND_REG && s->t.e[i].ts > s->clock)
      s->clock = s->t.e[i].ts;
  return agree(s, rc);
}

int loom__state_start(struct loom__state *s, struct loom__comm *c,
                      struct loom__waker *waker, int failed, char *err,
                      size_t errlen) {
  struct loom *l;
  const char *faults = getenv("LOOM_STATE_FAULTS");
  int rc = failed;

  if (!s)
    return failed; /* no table: a loop driven without loom_run() (tests) */
  l = s->l;

  reset_run(s);
  s->mode = l->opt.state_mode;
  s->comm = NULL;
  s->waker = waker;
  s->clock = 0;
  loom__table_fini(&s->t);
  loom__table_init(&s->t, l->opt.state_budget ? l->opt.state_budget
                                              : LOOM_STATE_BUDGET_DEFAULT);
  free(s->vc);
  s->vc = calloc((size_t)s->size, sizeof(*s->vc));
  if (!s->vc && rc == 0)
    rc = LOOM_ENOMEM;
  if (rc == 0 && faults && *faults)
    rc = loom__faults_parse(&s->f, faults, s->rank, s->mode, err, errlen);
  if (rc == 0 && s->rank == 0 && l->run_dir)
    rc = loom__log_open(s, l->run_dir, l->opt.resume, err, errlen);
  rc = share_table(s, rc);
  if (rc != 0) {
    loom__log_close(s);
    return rc;
  }
  s->comm = c;
  loom__repl_register(s);
  s->f.t0 = loom__now();
  s->next_ae = s->f.t0 + LOOM__AE_INTERVAL;
  s->ae_peer = s->rank;
  pthread_mutex_lock(&s->mu);
  s->phase = PHASE_RUNNING;
  atomic_store(&s->attention, 0);
  s->cancelled = 0;
  s->loop = pthread_self();
  pthread_mutex_unlock(&s->mu);
  return 0;
}

/* ---- applying one operation ------------------------------------------- */

static int kind_of(const struct loom__entry *e) {
  return e && (e->present || e->origin >= 0) ? e->kind : -1;
}

static void view(const struct loom__entry *e, struct loom__res *r) {
  r->view = e ? loom__entry_view(e, r->text, &r->len) : NULL;
  if (!r->view) {
    r->len = 0;
    r->rc = LOOM_ENOENT;
  }
}

static int same_bytes(const struct loom__res *r, const void *p, size_t n) {
  return r->view && r->len == n && (n == 0 || !memcmp(r->view, p, n));
}

/* Checks the budget for an entry growing by `more` bytes, and makes it.
 * Returns its index, or a negative code. */
static long make(struct loom__state *s, const struct loom__op *op, long x,
                 size_t more) {
  if (x < 0)
    more += loom__entry_cost(op->keylen, 0, 0);
  if (loom__table_over(&s->t, more))
    return LOOM_ETOOBIG;
  return x >= 0 ? x : loom__table_make(&s->t, op->key, op->keylen);
}

static void apply_write(struct loom__state *s, const struct loom__op *op,
                        long x, int who, struct loom__res *r) {
  const struct loom__entry *e = x >= 0 ? &s->t.e[x] : NULL;
  const void *value = op->code == LOOM__SOP_PUT   ? op->a
                      : op->code == LOOM__SOP_CAS ? op->b
                                                  : NULL;
  size_t len = op->code == LOOM__SOP_PUT   ? op->alen
               : op->code == LOOM__SOP_CAS ? op->blen
                                           : 0;
  int rc;

  if (op->code == LOOM__SOP_PUT && (op->flags & OP_A_NULL))
    value = "";
  if (op->code == LOOM__SOP_CAS && (op->flags & OP_B_NULL))
    value = NULL;
  if (op->code == LOOM__SOP_CAS) {
    struct loom__res cur = {0};
    view(e, &cur);
    if ((op->flags & OP_A_NULL) ? cur.view != NULL
                                : !same_bytes(&cur, op->a, op->alen)) {
      r->rc = LOOM_ECONFLICT;
      return;
    }
  }
  x = make(s, op, x,
           value && (!e || len > e->len) ? len - (e ? e->len : 0) : 0);
  if (x < 0) {
    r->rc = (int)x;
    return;
  }
  r->ts = ++s->clock;
  r->origin = who;
  rc = loom__table_set(&s->t, (size_t)x, value, len, r->ts, who);
  if (rc != 0) {
    r->rc = rc;
    return;
  }
  loom__state_changed(s, (size_t)x, 1, -1);
}

static void apply_add(struct loom__state *s, const struct loom__op *op, long x,
                      int who, struct loom__res *r) {
  const struct loom__entry *e = x >= 0 ? &s->t.e[x] : NULL;
  int64_t sum, mine;
  size_t more;

  r->before = e && e->kind == LOOM__KIND_COUNTER ? loom__entry_count(e) : 0;
  mine = e && e->kind == LOOM__KIND_COUNTER && (uint32_t)who < e->nrank
             ? e->cnt[2 * who + (op->num < 0)]
             : 0;
  if (__builtin_add_overflow(r->before, op->num, &sum) ||
      (op->num < 0 ? op->num == INT64_MIN || mine > INT64_MAX + op->num
                   : mine > INT64_MAX - op->num)) {
    r->rc = LOOM_ETOOBIG;
    return;
  }
  more = e && e->kind == LOOM__KIND_COUNTER && e->nrank >= (uint32_t)s->size
             ? 0
             : 16 * (size_t)s->size;
  x = make(s, op, x, more);
  if (x < 0) {
    r->rc = (int)x;
    return;
  }
  if (op->num == 0)
    return;
  r->rc = loom__table_add(&s->t, (size_t)x, (uint32_t)s->size, who, op->num);
  if (r->rc == 0)
    loom__state_changed(s, (size_t)x, 1, who);
}

static void apply_extreme(struct loom__state *s, const struct loom__op *op,
                          long x, struct loom__res *r) {
  const struct loom__entry *e = x >= 0 ? &s->t.e[x] : NULL;
  int kind = op->code == LOOM__SOP_MIN ? LOOM__KIND_MIN : LOOM__KIND_MAX;
  int present = kind_of(e) == kind;

  r->before = present ? e->num : kind == LOOM__KIND_MIN ? INT64_MAX : INT64_MIN;
  if (present &&
      (kind == LOOM__KIND_MIN ? op->num >= e->num : op->num <= e->num))
    return;
  x = make(s, op, x, 0);
  if (x < 0) {
    r->rc = (int)x;
    return;
  }
  loom__table_setnum(&s->t, (size_t)x, kind, op->num);
  loom__state_changed(s, (size_t)x, 1, -1);
}

/* Runs op on this replica as rank `who` (the caller's rank). Reads leave
 * the bytes in r->view. */
void loom__state_apply(struct loom__state *s, const struct loom__op *op,
                       int who, struct loom__res *r) {
  long x = loom__table_find(&s->t, op->key, op->keylen);
  const struct loom__entry *e = x >= 0 ? &s->t.e[x] : NULL;
  int kind = kind_of(e);

  memset(r, 0, sizeof(*r));
  r->origin = -1;
  switch (op->code) {
  case LOOM__SOP_GET:
    view(e, r);
    return;
  case LOOM__SOP_PUT:
  case LOOM__SOP_DEL:
  case LOOM__SOP_CAS:
    if (kind >= 0 && kind != LOOM__KIND_REG)
      r->rc = LOOM_EEXIST;
    else
      apply_write(s, op, x, who, r);
    return;
  case LOOM__SOP_ADD:
    if (kind >= 0 && kind != LOOM__KIND_COUNTER)
      r->rc = LOOM_EEXIST;
    else
      apply_add(s, op, x, who, r);
    return;
  case LOOM__SOP_MIN:
  case LOOM__SOP_MAX:
    if (kind >= 0 &&
        kind != (op->code == LOOM__SOP_MIN ? LOOM__KIND_MIN : LOOM__KIND_MAX))
      r->rc = LOOM_EEXIST;
    else
      apply_extreme(s, op, x, r);
    return;
  default:
    r->rc = LOOM_EPROTO;
  }
}

/* ---- answers ------------------------------------------------------------ */

/* Copies an outcome into a local call (at once: r->view points into the
 * table, which may change before the call is released). */
static void fill(struct loom__req *q, const struct loom__res *r) {
  q->rc = r->rc;
  q->before = r->before;
  q->ts = r->ts;
  q->origin = r->origin;
  q->len = r->len;
  if (r->rc == 0 && r->view && q->buf) {
    if (r->len > q->cap)
      q->rc = LOOM_ETOOBIG;
    else if (r->len > 0)
      memcpy(q->buf, r->view, r->len);
  }
}

/* Releases a local call, now or (deferred) once the journal is written. */
void loom__state_complete(struct loom__state *s, struct loom__req *q,
                          int deferred) {
  void *grown;
  if (deferred) {
    grown = loom__array_grow((void *)s->later, &s->latercap, s->nlater + 1,
                             sizeof(struct loom__req *));
    if (grown) {
      s->later = grown;
      s->later[s->nlater++] = q;
      return;
    }
    q->rc = LOOM_ENOMEM;
  }
  sem_post(&q->done);
}

/* Queues the answer to rank's request id, sent once the journal is
 * written. Returns 0 or LOOM_ENOMEM. */
int loom__state_complete_remote(struct loom__state *s, int rank, uint64_t id,
                                const struct loom__res *r) {
  struct loom__held *h;
  struct loom__buf b = {0};
  void *grown = loom__array_grow(s->replies, &s->repliescap, s->nreplies + 1,
                                 sizeof(*s->replies));
  size_t len = r->rc == 0 && r->view ? r->len : 0;

  if (!grown)
    return LOOM_ENOMEM;
  s->replies = grown;
  if (loom__buf_reserve(&b, 40 + len) != 0)
    return LOOM_ENOMEM;
  loom__put_u64(&b, id);
  loom__put_u32(&b, (uint32_t)r->rc);
  loom__put_i64(&b, r->before);
  loom__put_u64(&b, r->ts);
  loom__put_u32(&b, (uint32_t)r->origin);
  loom__put_u32(&b, (uint32_t)len);
  loom__buf_append(&b, r->view, len);
  h = &s->replies[s->nreplies++];
  h->peer = rank;
  h->tag = LOOM__TAG_STATE_REPLY;
  h->due = 0;
  h->msg = b;
  return 0;
}

/* Writes the journal, then releases the answers it held. */
static int commit(struct loom__state *s) {
  int rc = loom__log_commit(s), rc2 = 0;

  for (size_t i = 0; i < s->nlater; i++) {
    if (rc != 0 && s->later[i]->rc == 0)
      s->later[i]->rc = LOOM_EIO; /* applied here, but not journaled */
    sem_post(&s->later[i]->done);
  }
  s->nlater = 0;
  for (size_t i = 0; i < s->nreplies; i++) {
    struct loom__held *h = &s->replies[i];
    if (rc != 0) { /* the answer's rc field: not journaled */
      uint32_t eio = (uint32_t)LOOM_EIO, was;
      memcpy(&was, h->msg.data + 8, 4);
      if (was == 0)
        memcpy(h->msg.data + 8, &eio, 4);
    }
    if (rc2 == 0)
      rc2 = loom__repl_send(s, h->peer, h->tag, &h->msg);
    loom__buf_fini(&h->msg);
  }
  s->nreplies = 0;
  return rc2;
}

/* ---- waits -------------------------------------------------------------- */

/* Is the wait over? Fills r when it is. */
static int wait_over(struct loom__state *s, const char *key, uint32_t keylen,
                     const void *old, size_t oldlen, int has_old,
                     struct loom__res *r) {
  long x = loom__table_find(&s->t, key, keylen);

  memset(r, 0, sizeof(*r));
  r->origin = -1;
  view(x >= 0 ? &s->t.e[x] : NULL, r);
  if (!has_old)
    return r->view != NULL;
  return !same_bytes(r, old, oldlen);
}

static void waiter_answer(struct loom__state *s, struct loom__waiter *w,
                          const struct loom__res *r) {
  if (w->req) {
    fill(w->req, r);
    loom__state_complete(s, w->req, 1);
  } else if (loom__state_complete_remote(s, w->rank, w->id, r) != 0) {
    loom__state_fail(s, "out of memory answering a wait");
  }
  loom__buf_fini(&w->old);
  *w = s->w[--s->nw];
}

int loom__state_wait_begin(struct loom__state *s, const struct loom__op *op,
                           struct loom__req *q, int rank, uint64_t id) {
  int has_old = !(op->flags & OP_A_NULL);
  struct loom__waiter *w;
  struct loom__res r;
  void *grown;

  if (wait_over(s, op->key, op->keylen, op->a, op->alen, has_old, &r) ||
      op->timeout == 0) {
    if (r.rc == 0 &&
        !(r.view && (!has_old || !same_bytes(&r, op->a, op->alen))))
      r.rc = LOOM_ETIMEDOUT;
    if (q) {
      fill(q, &r);
      loom__state_complete(s, q, 1);
      return 0;
    }
    return loom__state_complete_remote(s, rank, id, &r);
  }
  grown = loom__array_grow(s->w, &s->wcap, s->nw + 1, sizeof(*s->w));
  if (!grown)
    return LOOM_ENOMEM;
  s->w = grown;
  w = &s->w[s->nw];
  memset(w, 0, sizeof(*w));
  memcpy(w->key, op->key, op->keylen);
  w->keylen = op->keylen;
  w->has_old = has_old;
  if (has_old && loom__buf_set(&w->old, op->a, op->alen) != 0)
    return LOOM_ENOMEM;
  w->deadline = op->timeout < 0 ? -1 : loom__now() + op->timeout;
  w->req = q;
  w->rank = rank;
  w->id = id;
  s->nw++;
  return 0;
}

static void waits_check(struct loom__state *s, const struct loom__entry *e) {
  for (size_t i = 0; i < s->nw;) {
    struct loom__waiter *w = &s->w[i];
    struct loom__res r;
    if (w->keylen == e->keylen && !memcmp(w->key, e->key, e->keylen) &&
        wait_over(s, w->key, w->keylen, w->old.data, w->old.len, w->has_old,
                  &r))
      waiter_answer(s, w, &r);
    else
      i++;
  }
}

static void waits_expire(struct loom__state *s, double now, int all, int rc) {
  for (size_t i = 0; i < s->nw;) {
    struct loom__waiter *w = &s->w[i];
    if (all || (w->deadline >= 0 && now >= w->deadline)) {
      struct loom__res r = {.rc = rc, .origin = -1};
      waiter_answer(s, w, &r);
    } else {
      i++;
    }
  }
}

/* ---- changes ------------------------------------------------------------ */

/* The table changed at entry x (a counter: rank who's totals, or who < 0
 * any): journal it (rank 0), list it for the replicas when the change is
 * this rank's own (local) in a mode where this rank sends its changes, and
 * end the waits it satisfies. */
void loom__state_changed(struct loom__state *s, size_t x, int local, int who) {
  struct loom__entry *e = &s->t.e[x];

  if (s->log_on && loom__log_add(s, e, who) != 0)
    loom__state_fail(s, "out of memory journaling the state table");
  if (local && (s->mode != LOOM_STATE_STRONG || s->rank == 0) && !e->mark) {
    void *grown = loom__array_grow(s->dirty, &s->dirtycap, s->ndirty + 1,
                                   sizeof(*s->dirty));
    if (!grown) {
      loom__state_fail(s, "out of memory listing a state change");
    } else {
      s->dirty = grown;
      if (s->ndirty == 0)
        s->dirty_since = loom__now();
      s->dirty[s->ndirty++] = x;
      e->mark = 1;
    }
  }
  if (s->nw > 0)
    waits_check(s, e);
}

/* ---- the loop thread ---------------------------------------------------- */

/* Runs a call (not a wait) on this replica; the answer is in q. */
static void apply_now(struct loom__state *s, struct loom__req *q) {
  struct loom__res r;
  loom__state_apply(s, &q->op, s->rank, &r);
  fill(q, &r);
}

/* Runs a queued call on this replica; its answer waits for the journal. */
static void run_local(struct loom__state *s, struct loom__req *q) {
  if (q->op.code != LOOM__SOP_WAIT) {
    apply_now(s, q);
    loom__state_complete(s, q, 1);
  } else if (loom__state_wait_begin(s, &q->op, q, -1, 0) != 0) {
    q->rc = LOOM_ENOMEM;
    loom__state_complete(s, q, 0);
  }
}

/* Is the call one this rank answers from its own replica? */
static int served_here(const struct loom__state *s, const struct loom__op *op) {
  if (s->mode != LOOM_STATE_STRONG || s->rank == 0)
    return 1;
#ifdef LOOM_BROKEN_STALE_READ
  /* A deliberately broken build (tests): strong reads from the local
   * replica, which may lag rank 0. */
  return op->code == LOOM__SOP_GET;
#else
  (void)op;
  return 0;
#endif
}

static void run_queued(struct loom__state *s, struct loom__req *q) {
  if (s->cancelled) {
    q->rc = LOOM_ESTATE;
    loom__state_complete(s, q, 0);
  } else if (served_here(s, &q->op)) {
    run_local(s, q);
  } else if (loom__repl_request(s, q) != 0) {
    q->rc = LOOM_ENOMEM;
    loom__state_complete(s, q, 0);
  }
}

static int pump_locked(struct loom__state *s) {
  struct loom__req *q = s->queue, *next;
  double now;
  int n = 0, rc;

  s->queue = s->queue_tail = NULL;
  for (; q; q = next, n++) {
    next = q->next;
    run_queued(s, q);
  }
  now = loom__now();
  rc = loom__repl_tick(s, now);
  if (rc > 0)
    n += rc;
  if (s->nw > 0)
    waits_expire(s, now, 0, LOOM_ETIMEDOUT);
  if (rc >= 0 && (s->nlater || s->nreplies || s->logbuf.len)) {
    n++;
    rc = commit(s);
  }
  if (rc >= 0)
    rc = loom__repl_flush(s, 0);
  if (rc > 0)
    n += rc;
  if (rc < 0)
    return rc;
  return s->failed ? LOOM_EPROTO : n;
}

/* Does the loop have state work of its own (fields only it changes)? */
static int loop_work(const struct loom__state *s) {
  return s->ndelayed > 0 || (s->mode == LOOM_STATE_EVENTUAL && s->size > 1 &&
                             loom__now() >= s->next_ae);
}

/* Under mu: keeps the loop coming back while anything is left to do. */
static void keep_attention(struct loom__state *s) {
  if (s->queue || s->ndirty || s->nlater || s->nreplies || s->logbuf.len ||
      s->nw)
    atomic_store(&s->attention, 1);
}

int loom__state_pump(struct loom__state *s) {
  int n;
  if (!s || s->phase != PHASE_RUNNING ||
      (!(atomic_load_explicit(&s->attention, memory_order_relaxed) &&
         atomic_exchange(&s->attention, 0)) &&
       !loop_work(s)))
    return 0;
  pthread_mutex_lock(&s->mu);
  n = pump_locked(s);
  keep_attention(s);
  pthread_mutex_unlock(&s->mu);
  return n;
}

int loom__state_sync(struct loom__state *s) {
  int rc;
  if (!s || s->phase != PHASE_RUNNING ||
      !atomic_load_explicit(&s->attention, memory_order_relaxed))
    return 0;
  pthread_mutex_lock(&s->mu);
  rc = loom__repl_flush(s, 1);
  if (rc >= 0)
    rc = commit(s);
  keep_attention(s);
  pthread_mutex_unlock(&s->mu);
  return rc < 0 ? rc : 0;
}

int loom__state_busy(struct loom__state *s) {
  return s && s->phase == PHASE_RUNNING &&
         (s->pending_calls > 0 || s->ndelayed > 0 ||
          atomic_load(&s->attention) ||
          (s->hot_until > 0 && loom__now() < s->hot_until));
}

static void cancel_locked(struct loom__state *s) {
  struct loom__req *q = s->queue, *next;

  s->cancelled = 1;
  s->queue = s->queue_tail = NULL;
  for (; q; q = next) {
    next = q->next;
    q->rc = LOOM_ESTATE;
    sem_post(&q->done);
  }
  /* Waits end now; other calls sent to rank 0 get their answers soon. */
  for (size_t i = 0; i < s->nw;) {
    if (s->w[i].req) {
      struct loom__res r = {.rc = LOOM_ESTATE, .origin = -1};
      waiter_answer(s, &s->w[i], &r);
    } else {
      i++;
    }
  }
  for (q = s->pending; q; q = next) {
    next = q->next;
    if (q->op.code == LOOM__SOP_WAIT) {
      loom__repl_forget(s, q); /* its late answer is dropped (repl.c) */
      q->rc = LOOM_ESTATE;
      sem_post(&q->done);
    }
  }
  keep_attention(s);
}

void loom__state_cancel(struct loom__state *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->mu);
  if (s->phase == PHASE_RUNNING)
    cancel_locked(s);
  pthread_mutex_unlock(&s->mu);
}

const char *loom__state_socket(struct loom__state *s) {
  const char *path = "";
  if (!s)
    return path;
  pthread_mutex_lock(&s->mu);
  /* Made for the first shell task: a run of C tasks needs none. */
  if (s->phase == PHASE_RUNNING && !s->cancelled && !s->sock &&
      !s->sock_failed && loom__sock_start(s->l, &s->sock) != 0) {
    s->sock_failed = 1;
    loom__log("rank %d: no state table for shell tasks (cannot make its "
              "socket: %s)",
              s->rank, strerror(errno));
  }
  if (s->phase == PHASE_RUNNING && s->sock)
    path = loom__sock_path(s->sock);
  pthread_mutex_unlock(&s->mu);
  return path; /* the socket's, alive until the run ends */
}

const char *loom__state_io_error(const struct loom__state *s) {
  return s && s->io_err[0] ? s->io_err : NULL;
}

/* ---- the end ------------------------------------------------------------ */

/* One turn of the loop's state work, while the socket's last connections
 * finish. */
static int drive(void *arg) {
  struct loom__state *s = arg;
  int rc = loom__comm_poll(s->comm, NULL);
  if (rc == 0 && loom__state_pump(s) < 0)
    rc = LOOM_EPROTO;
  sched_yield();
  return rc;
}

/* What the ranks agree on at the end of quiesce(). */
struct verdict {
  int same;        /* every replica's digest is the same */
  uint64_t digest; /* this rank's */
  int failed;      /* the table failed on some rank */
};

/* Serves state messages until every rank has sent and received as many as
 * the others, two rounds in a row (a message in flight during the first
 * shows in the second). Each round also compares the replicas' digests:
 * when the counts settle, nothing changed between the two rounds, so the
 * last round's digests are the final ones. The message layer keeps moving
 * while the collectives complete. Returns 0 (with *v) or a negative code.
 */
static int quiesce(struct loom__state *s, struct verdict *v) {
  uint64_t prev[2] = {UINT64_MAX, UINT64_MAX};

  for (int round = 0;; round++) {
    uint64_t sum[3], sums[3], max[3], maxs[3], digest;
    MPI_Request req[2];
    int done = 0, rc;

    pthread_mutex_lock(&s->mu);
    rc = loom__repl_flush(s, 1);
    digest = loom__table_digest(&s->t);
    sum[0] = s->nsent;
    sum[1] = s->nrecv;
    sum[2] = s->nheld + s->ndelayed + s->pending_calls;
    max[0] = digest;
    max[1] = ~digest;
    max[2] = (uint64_t)s->failed;
    pthread_mutex_unlock(&s->mu);
    if (rc < 0)
      return rc;
    if (LOOM_MPI(MPI_Iallreduce(sum, sums, 3, MPI_UINT64_T, MPI_SUM, s->l->comm,
                                &req[0])) ||
        LOOM_MPI(MPI_Iallreduce(max, maxs, 3, MPI_UINT64_T, MPI_MAX, s->l->comm,
                                &req[1])))
      return LOOM_EMPI;
    while (!done) {
      if (LOOM_MPI(MPI_Testall(2, req, &done, MPI_STATUSES_IGNORE)))
        return LOOM_EMPI;
      rc = loom__comm_poll(s->comm, NULL);
      if (rc == 0)
        rc = loom__state_pump(s) < 0 ? LOOM_EPROTO : 0;
      if (rc != 0) {
        MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
        return rc;
      }
      if (!done)
        sched_yield();
    }
    if (sums[0] == sums[1] && sums[2] == 0 && sums[0] == prev[0] &&
        sums[1] == prev[1]) {
      v->same = maxs[0] == ~maxs[1]; /* max == min */
      v->digest = digest;
      v->failed = maxs[2] != 0;
      return 0;
    }
    if (sums[2] > 0 && round > 200000)
      return LOOM_EPROTO; /* something is held for good */
    prev[0] = sums[0];
    prev[1] = sums[1];
  }
}

/* Sums what every rank did into stats (rank 0). */
static int sum_stats(struct loom__state *s, struct loom__state_stats *st) {
  uint64_t mine[LOOM__SOP_N + 2], all[LOOM__SOP_N + 2];

  pthread_mutex_lock(&s->mu);
  memcpy(mine, s->calls, sizeof(s->calls));
  pthread_mutex_unlock(&s->mu);
  mine[LOOM__SOP_N] = s->nsent;
  mine[LOOM__SOP_N + 1] = s->bytes_sent;
  if (LOOM_MPI(MPI_Reduce(mine, all, LOOM__SOP_N + 2, MPI_UINT64_T, MPI_SUM, 0,
                          s->l->comm)))
    return LOOM_EMPI;
  memcpy(st->ops, all, sizeof(st->ops));
  st->messages = all[LOOM__SOP_N];
  st->bytes = all[LOOM__SOP_N + 1];
  return 0;
}

int loom__state_finish(struct loom__state *s, int failed,
                       struct loom__state_stats *st) {
  struct verdict v = {0};
  int rc;

  memset(st, 0, sizeof(*st));
  if (!s || !s->comm)
    return 0; /* no table, or a start that failed on every rank */
  st->mode = s->mode;
  /* No call is left in a run that ends: the tasks are done (or left
   * behind, then their calls fail). */
  pthread_mutex_lock(&s->mu);
  cancel_locked(s);
  waits_expire(s, 0, 1, LOOM_ESTATE);
  keep_attention(s);
  pthread_mutex_unlock(&s->mu);
  loom__sock_stop(s->sock, drive, s);
  s->sock = NULL;
  s->sock_failed = 0;
  rc = quiesce(s, &v);
  for (int round = 0; rc == 0 && !v.same && s->mode == LOOM_STATE_EVENTUAL &&
                      round < REPAIR_ROUNDS;
       round++) {
    st->repairs = round + 1;
    pthread_mutex_lock(&s->mu);
    rc = loom__repl_repair(s);
    pthread_mutex_unlock(&s->mu);
    if (rc == 0)
      rc = quiesce(s, &v);
  }
  /* The table failed on some rank: all report the same verdict. */
  if (rc == 0 && v.failed && !s->failed)
    loom__state_fail(s, "the state table failed on another rank");
  (void)failed; /* the run's own failure is the caller's to report */
  if (rc != LOOM_EMPI && sum_stats(s, st) != 0)
    rc = LOOM_EMPI;
  st->converged = rc == 0 && v.same;
  st->digest = v.digest;
  st->journaled = s->journaled;
  for (size_t i = 0; i < s->t.n; i++)
    st->keys += s->t.e[i].present;
  if (s->failed)
    snprintf(st->error, sizeof(st->error), "%s", s->err);
  else if (rc != 0)
    snprintf(st->error, sizeof(st->error), "ending the run: %s",
             loom_strerror(rc));
  else if (!st->converged)
    snprintf(st->error, sizeof(st->error),
             "the replicas did not converge (digests differ after %d "
             "repair rounds)",
             st->repairs);
  pthread_mutex_lock(&s->mu);
  s->phase = PHASE_ENDED;
  pthread_mutex_unlock(&s->mu);
  if (rc == 0 && s->log_on && loom__log_commit(s) != 0)
    rc = LOOM_EIO;
  /* The final table beside the journal, when the run used the table. */
  if (s->log_on && (s->log_fd >= 0 || s->t.n > 0) && st->converged &&
      !s->failed && loom__log_final(s) != 0 && rc == 0)
    rc = LOOM_EIO;
  loom__log_close(s);
  s->comm = NULL;
  if (rc == 0 && (s->failed || !st->converged))
    rc = LOOM_EREPLICA;
  return rc;
}

/* ---- the calls ---------------------------------------------------------- */

static int key_ok(const char *key, uint32_t *len) {
  size_t n;
  if (!key)
    return 0;
  n = strnlen(key, LOOM_STATE_KEY_MAX + 1);
  *len = (uint32_t)n;
  return n >= 1 && n <= LOOM_STATE_KEY_MAX;
}

/* Runs a call where it belongs (the file's header). */
static int call(struct loom *l, struct loom__req *q) {
  struct loom__state *s = l ? l->state : NULL;
  int rc;

  if (!l)
    return LOOM_EINVAL;
  if (!key_ok(q->op.key, &q->op.keylen))
    return LOOM_EINVAL;
  if (!s)
    return LOOM_ESTATE;
  q->origin = -1;
  pthread_mutex_lock(&s->mu);
  s->calls[q->op.code]++;
  if (s->phase != PHASE_RUNNING || s->cancelled) {
    /* Between runs: the last run's table, read only. */
    if (s->phase == PHASE_ENDED && q->op.code == LOOM__SOP_GET) {
      struct loom__res r;
      loom__state_apply(s, &q->op, s->rank, &r);
      fill(q, &r);
      rc = q->rc;
    } else {
      rc = LOOM_ESTATE;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
  }
  if (pthread_equal(pthread_self(), s->loop)) {
    if (q->op.code == LOOM__SOP_WAIT || !served_here(s, &q->op)) {
      pthread_mutex_unlock(&s->mu);
      return LOOM_ESTATE; /* it would stop the loop that answers it */
    }
    apply_now(s, q);
    /* Answered at once: what it changed is journaled first. */
    rc = commit(s);
    keep_attention(s);
    pthread_mutex_unlock(&s->mu);
    return rc == 0 ? q->rc : rc;
  }
  if (s->mode != LOOM_STATE_STRONG && q->op.code != LOOM__SOP_WAIT) {
    /* Causal and eventual calls are the local replica's: made here, on
     * the caller's thread, under the lock (no hop to the loop thread).
     * A wait they end is released by the loop: wake it. */
    apply_now(s, q);
    rc = s->nlater > 0;
    keep_attention(s);
    pthread_mutex_unlock(&s->mu);
    if (rc)
      loom__waker_poke(s->waker);
    return q->rc;
  }
  if (sem_init(&q->done, 0, 0) != 0) {
    pthread_mutex_unlock(&s->mu);
    return LOOM_ESYS;
  }
  q->next = NULL;
  if (s->queue_tail)
    s->queue_tail->next = q;
  else
    s->queue = q;
  s->queue_tail = q;
  atomic_store(&s->attention, 1);
  pthread_mutex_unlock(&s->mu);
  loom__waker_poke(s->waker);
  /* No spinning here: on a full node the spinner would take the core the
   * loop thread needs to get the answer (measured: slower). */
  while (sem_wait(&q->done) != 0 && errno == EINTR)
    ;
  sem_destroy(&q->done);
  return q->rc;
}

static void stamp(const struct loom__req *q) {
  if (q->rc == 0 && q->origin >= 0) {
    last_ts = q->ts;
    last_origin = q->origin;
  }
}

int loom_state_put(struct loom *l, const char *key, const void *value,
                   size_t len) {
  struct loom__req q = {.op = {.code = LOOM__SOP_PUT, .key = key}};
  int rc;
  if ((!value && len > 0))
    return LOOM_EINVAL;
  if (len > LOOM_STATE_VALUE_MAX)
    return LOOM_ETOOBIG;
  q.op.a = value;
  q.op.alen = (uint32_t)len;
  q.op.flags = value ? 0 : OP_A_NULL;
  rc = call(l, &q);
  stamp(&q);
  return rc;
}

int loom_state_get(struct loom *l, const char *key, void *buf, size_t cap,
                   size_t *len) {
  struct loom__req q = {.op = {.code = LOOM__SOP_GET, .key = key}};
  int rc;
  if (!len || (!buf && cap > 0))
    return LOOM_EINVAL;
  q.buf = buf;
  q.cap = cap;
  rc = call(l, &q);
  *len = q.len;
  return rc;
}

int loom_state_del(struct loom *l, const char *key) {
  struct loom__req q = {.op = {.code = LOOM__SOP_DEL, .key = key}};
  int rc = call(l, &q);
  stamp(&q);
  return rc;
}

int loom_state_cas(struct loom *l, const char *key, const void *expect,
                   size_t elen, const void *value, size_t len) {
  struct loom__req q = {.op = {.code = LOOM__SOP_CAS, .key = key}};
  int rc;
  if ((!expect && elen > 0) || (!value && len > 0))
    return LOOM_EINVAL;
  if (elen > LOOM_STATE_VALUE_MAX || len > LOOM_STATE_VALUE_MAX)
    return LOOM_ETOOBIG;
  if (l && l->state && l->opt.state_mode != LOOM_STATE_STRONG)
    return LOOM_ESTATE;
  q.op.a = expect;
  q.op.alen = (uint32_t)elen;
  q.op.b = value;
  q.op.blen = (uint32_t)len;
  q.op.flags = (uint8_t)((expect ? 0 : OP_A_NULL) | (value ? 0 : OP_B_NULL));
  rc = call(l, &q);
  stamp(&q);
  return rc;
}

static int number_op(struct loom *l, int code, const char *key, int64_t v,
                     int64_t *before) {
  struct loom__req q = {.op = {.code = (uint8_t)code, .key = key, .num = v}};
  int rc = call(l, &q);
  if (rc == 0 && before)
    *before = q.before;
  return rc;
}

int loom_state_add(struct loom *l, const char *key, int64_t delta,
                   int64_t *before) {
  return number_op(l, LOOM__SOP_ADD, key, delta, before);
}

int loom_state_min(struct loom *l, const char *key, int64_t v,
                   int64_t *before) {
  return number_op(l, LOOM__SOP_MIN, key, v, before);
}

int loom_state_max(struct loom *l, const char *key, int64_t v,
                   int64_t *before) {
  return number_op(l, LOOM__SOP_MAX, key, v, before);
}

int loom_state_wait(struct loom *l, const char *key, const void *old,
                    size_t oldlen, double timeout, void *buf, size_t cap,
                    size_t *len) {
  struct loom__req q = {.op = {.code = LOOM__SOP_WAIT, .key = key}};
  int rc;
  if (!len || (!buf && cap > 0) || (!old && oldlen > 0) || timeout != timeout)
    return LOOM_EINVAL;
  if (oldlen > LOOM_STATE_VALUE_MAX)
    return LOOM_ETOOBIG;
  q.op.a = old;
  q.op.alen = (uint32_t)oldlen;
  q.op.flags = old ? 0 : OP_A_NULL;
  q.op.timeout = timeout < 0 ? -1 : timeout;
  q.buf = buf;
  q.cap = cap;
  rc = call(l, &q);
  *len = q.len;
  return rc;
}

const char *loom__state_op_name(int op) {
  static const char *const names[LOOM__SOP_N] = {"put", "get", "del", "cas",
                                                 "add", "min", "max", "wait"};
  return op >= 0 && op < LOOM__SOP_N ? names[op] : "?";
}

int loom_state_mode_parse(const char *name) {
  static const char *const names[] = {"strong", "causal", "eventual"};
  for (int i = 0; name && i < 3; i++)
    if (!strcmp(name, names[i]))
      return i;
  return LOOM_EINVAL;
}

const char *loom_state_mode_name(int mode) {
  switch (mode) {
  case LOOM_STATE_STRONG:
    return "strong";
  case LOOM_STATE_CAUSAL:
    return "causal";
  case LOOM_STATE_EVENTUAL:
    return "eventual";
  default:
    return "unknown";
  }
}

struct loom *loom_task_loom(const struct loom_task *task) {
  return task ? task->l : NULL;
}
