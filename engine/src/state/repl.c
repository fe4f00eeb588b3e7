/* repl.c - the messages between replicas (state.h tells the modes).
 *
 * Layouts (host byte order; an entry as table.c encodes it):
 *   STATE_REQ   rank > 0 -> 0 (strong): id u64, op u8, flags u8, keylen u16,
 *               key, alen u32, a, blen u32, b, num i64, timeout f64
 *   STATE_REPLY 0 -> rank: id u64, rc i32, before i64, ts u64, origin i32,
 *               len u32, bytes
 *   STATE_UPD   strong: seq u64, entries (rank 0 -> every rank, in order)
 *               causal: origin u32, nrank u32, vector clock (nrank u64),
 *               entries
 *               eventual: entries
 *   STATE_AE    (eventual) type u8, then DIGEST: LOOM__TABLE_BUCKETS u64;
 *               ENTRIES: reply-wanted u8, bucket mask u64, entries
 * A duplicate (the fault injector makes them) is recognised and dropped:
 * strong by sequence and request numbers, causal by the vector clock;
 * eventual merges are idempotent.
 */
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/common.h"
#include "dispatch/engine.h"
#include "state/internal.h"

#define FLUSH_AFTER 0.001 /* causal, eventual: a batch waits at most this */
#define FLUSH_COUNT 4096  /* ... or until it holds this many changes */
#define HOT_FOR 0.002     /* rank 0 polls this long after a request */

enum { AE_DIGEST = 1, AE_ENTRIES = 2 };

/* ---- sending ------------------------------------------------------------ */

static int send_now(struct loom__state *s, int dest, int tag,
                    struct loom__buf *msg, int copy) {
  size_t len = msg->len;
  int rc = copy ? loom__comm_send_bytes(s->comm, dest, tag, msg->data, len)
                : loom__comm_send(s->comm, dest, tag, msg);
  if (rc == 0) {
    s->nsent++;
    s->bytes_sent += len;
  }
  return rc;
}

static int hold(struct loom__held **h, size_t *n, size_t *cap, int peer,
                int tag, double due, const void *p, size_t len) {
  struct loom__held *x;
  void *grown = loom__array_grow(*h, cap, *n + 1, sizeof(**h));
  if (!grown)
    return LOOM_ENOMEM;
  *h = grown;
  x = &(*h)[*n];
  memset(x, 0, sizeof(*x));
  x->peer = peer;
  x->tag = tag;
  x->due = due;
  if (loom__buf_set(&x->msg, p, len) != 0)
    return LOOM_ENOMEM;
  (*n)++;
  return 0;
}

/* Sends msg (it comes back empty) through the fault injector. */
int loom__repl_send(struct loom__state *s, int dest, int tag,
                    struct loom__buf *msg) {
  double delay = 0;
  int copies = 1, rc = 0;

  if (s->f.on)
    copies =
        loom__faults_decide(&s->f, s->rank, dest, tag, loom__now(), &delay);
  if (copies < 0) {
    msg->len = 0;
    return 0;
  }
  if (delay > 0) {
    for (int i = 0; rc == 0 && i < copies; i++)
      rc = hold(&s->delayed, &s->ndelayed, &s->delayedcap, dest, tag,
                loom__now() + delay * (i + 1), msg->data, msg->len);
    msg->len = 0;
    return rc;
  }
  if (copies > 1)
    rc = send_now(s, dest, tag, msg, 1);
  return rc == 0 ? send_now(s, dest, tag, msg, 0) : rc;
}

/* Sends msg to every other rank. */
static int send_all(struct loom__state *s, int tag, struct loom__buf *msg) {
  int rc = 0, last = s->rank == s->size - 1 ? s->size - 2 : s->size - 1;

  for (int r = 0; rc == 0 && r < s->size; r++) {
    struct loom__buf copy = {0};
    if (r == s->rank)
      continue;
    if (r == last) {
      rc = loom__repl_send(s, r, tag, msg);
      break;
    }
    rc = loom__buf_set(&copy, msg->data, msg->len);
    if (rc == 0)
      rc = loom__repl_send(s, r, tag, &copy);
    loom__buf_fini(&copy);
  }
  msg->len = 0;
  return rc;
}

/* ---- requests to rank 0 (strong) --------------------------------------- */

static int op_encode(struct loom__buf *b, uint64_t id,
                     const struct loom__op *op) {
  int rc = loom__buf_reserve(b, 48 + op->keylen + op->alen + op->blen);
  if (rc != 0)
    return rc;
  loom__put_u64(b, id);
  loom__put_u8(b, op->code);
  loom__put_u8(b, op->flags);
  loom__put_u16(b, (uint16_t)op->keylen);
  loom__buf_append(b, op->key, op->keylen);
  loom__put_u32(b, op->alen);
  loom__buf_append(b, op->a, op->alen);
  loom__put_u32(b, op->blen);
  loom__buf_append(b, op->b, op->blen);
  loom__put_i64(b, op->num);
  return loom__put_f64(b, op->timeout);
}

static int op_decode(struct loom__cur *c, uint64_t *id, struct loom__op *op) {
  memset(op, 0, sizeof(*op));
  *id = loom__get_u64(c);
  op->code = loom__get_u8(c);
  op->flags = loom__get_u8(c);
  op->keylen = loom__get_u16(c);
  op->key = loom__cur_take(c, op->keylen);
  op->alen = loom__get_u32(c);
  op->a = loom__cur_take(c, op->alen);
  op->blen = loom__get_u32(c);
  op->b = loom__cur_take(c, op->blen);
  op->num = loom__get_i64(c);
  op->timeout = loom__get_f64(c);
  if (c->bad || loom__cur_left(c) || op->code >= LOOM__SOP_N ||
      op->keylen == 0 || op->keylen > LOOM_STATE_KEY_MAX ||
      memchr(op->key, '\0', op->keylen) || op->alen > LOOM_STATE_VALUE_MAX ||
      op->blen > LOOM_STATE_VALUE_MAX || op->flags > 3)
    return LOOM_EPROTO;
  return 0;
}

int loom__repl_request(struct loom__state *s, struct loom__req *q) {
  struct loom__buf b = {0};
  int rc;

  q->id = ++s->next_id;
  rc = op_encode(&b, q->id, &q->op);
  if (rc == 0)
    rc = loom__repl_send(s, 0, LOOM__TAG_STATE_REQ, &b);
  loom__buf_fini(&b);
  if (rc != 0)
    return rc;
  q->next = s->pending;
  s->pending = q;
  if (q->op.code != LOOM__SOP_WAIT)
    s->pending_calls++;
  return 0;
}

void loom__repl_forget(struct loom__state *s, struct loom__req *q) {
  for (struct loom__req **p = &s->pending; *p; p = &(*p)->next)
    if (*p == q) {
      *p = q->next;
      if (q->op.code != LOOM__SOP_WAIT)
        s->pending_calls--;
      return;
    }
}

/* Has rank src's request id been answered already? Marks it. */
static int seen_before(struct loom__state *s, int src, uint64_t id) {
  uint64_t *base, *bits;

  if (!s->seen_base) {
    s->seen_base = calloc((size_t)s->size, sizeof(*s->seen_base));
    s->seen = calloc((size_t)s->size * LOOM__DEDUP_WORDS, sizeof(*s->seen));
    if (!s->seen_base || !s->seen) {
      loom__state_fail(s, "out of memory on rank 0");
      return 1;
    }
  }
  base = &s->seen_base[src];
  bits = &s->seen[(size_t)src * LOOM__DEDUP_WORDS];
  if (id < *base)
    return 1;
  while (id - *base >= LOOM__DEDUP_BITS) { /* slide: the oldest word goes */
    memmove(bits, bits + 1, (size_t)(LOOM__DEDUP_WORDS - 1) * sizeof(*bits));
    bits[LOOM__DEDUP_WORDS - 1] = 0;
    *base += 64;
  }
  id -= *base;
  if (bits[id / 64] >> (id % 64) & 1)
    return 1;
  bits[id / 64] |= UINT64_C(1) << (id % 64);
  return 0;
}

static int on_req_locked(struct loom__state *s, int src,
                         struct loom__buf *msg) {
  struct loom__cur c;
  struct loom__op op;
  struct loom__res r;
  uint64_t id;

  if (s->rank != 0 || s->mode != LOOM_STATE_STRONG || src == 0)
    return LOOM_EPROTO;
  s->nrecv++;
  loom__cur_init(&c, msg->data, msg->len);
  if (op_decode(&c, &id, &op) != 0)
    return LOOM_EPROTO;
  s->hot_until = loom__now() + HOT_FOR;
  if (seen_before(s, src, id))
    return 0;
  if (s->cancelled) {
    struct loom__res gone = {.rc = LOOM_ESTATE, .origin = -1};
    return loom__state_complete_remote(s, src, id, &gone);
  }
  if (op.code == LOOM__SOP_WAIT)
    return loom__state_wait_begin(s, &op, NULL, src, id);
  loom__state_apply(s, &op, src, &r);
  return loom__state_complete_remote(s, src, id, &r);
}

static int on_reply_locked(struct loom__state *s, int src,
                           struct loom__buf *msg) {
  struct loom__req *q;
  struct loom__cur c;
  uint64_t id;
  int rc;
  const void *bytes;

  if (src != 0 || s->rank == 0)
    return LOOM_EPROTO;
  s->nrecv++;
  loom__cur_init(&c, msg->data, msg->len);
  id = loom__get_u64(&c);
  for (q = s->pending; q && q->id != id; q = q->next)
    ;
  rc = (int)loom__get_u32(&c);
  if (!q) /* a duplicate, or a wait given up on a stop */
    return c.bad ? LOOM_EPROTO : 0;
  q->before = loom__get_i64(&c);
  q->ts = loom__get_u64(&c);
  q->origin = (int)loom__get_u32(&c);
  q->len = loom__get_u32(&c);
  bytes = loom__cur_take(&c, q->len);
  if (c.bad || loom__cur_left(&c) || rc > 0 || rc < -100)
    return LOOM_EPROTO;
  q->rc = rc;
  if (rc == 0 && bytes && q->buf) {
    if (q->len > q->cap)
      q->rc = LOOM_ETOOBIG;
    else if (q->len > 0)
      memcpy(q->buf, bytes, q->len);
  }
  loom__repl_forget(s, q);
  sem_post(&q->done);
  return 0;
}

/* ---- changes to replicas ------------------------------------------------ */

/* Merges the entries left at the cursor. */
static int merge_all(struct loom__state *s, struct loom__cur *c) {
  while (loom__cur_left(c) > 0) {
    struct loom__entry_in y;
    long x;
    int rc = loom__entry_decode(c, &y);
    if (rc != 0)
      return rc;
    rc = loom__table_merge(&s->t, &y, &x);
    if (rc < 0)
      return rc;
    if (y.kind == LOOM__KIND_REG && y.ts > s->clock)
      s->clock = y.ts; /* Lamport: later writes here stamp higher */
    if (rc > 0)
      loom__state_changed(s, (size_t)x, 0, -1);
  }
  return 0;
}

/* Causal: can a batch stamped vc from origin be applied now? 1 yes, 0 not
 * yet, -1 already applied (a duplicate). */
static int causal_ready(const struct loom__state *s, uint32_t origin,
                        const unsigned char *vc) {
#ifdef LOOM_BROKEN_CAUSAL
  /* A deliberately broken build (tests): every batch is applied as it
   * comes, before the batches it depends on (merges are joins, so the
   * replicas still converge: only the order is wrong). */
  (void)s, (void)origin, (void)vc;
  return 1;
#else
  for (uint32_t k = 0; k < (uint32_t)s->size; k++) {
    uint64_t v;
    memcpy(&v, vc + 8 * (size_t)k, 8);
    if (k == origin && v <= s->vc[k])
      return -1;
    if (k == origin ? v != s->vc[k] + 1 : v > s->vc[k])
      return 0;
  }
  return 1;
#endif
}

/* Tries one update message: 1 applied (or a duplicate dropped), 0 it must
 * wait, or a negative code. */
static int try_update(struct loom__state *s, int src, const void *p,
                      size_t len) {
  struct loom__cur c;
  loom__cur_init(&c, p, len);

  if (s->mode == LOOM_STATE_STRONG) {
    uint64_t seq = loom__get_u64(&c);
    if (c.bad || src != 0)
      return LOOM_EPROTO;
    if (seq <= s->seq_in)
      return 1;
    if (seq != s->seq_in + 1)
      return 0;
    s->seq_in = seq;
    return merge_all(s, &c) == 0 ? 1 : LOOM_EPROTO;
  }
  if (s->mode == LOOM_STATE_CAUSAL) {
    uint32_t origin = loom__get_u32(&c), n = loom__get_u32(&c);
    const unsigned char *vc = loom__cur_take(&c, 8 * (size_t)n);
    uint64_t v;
    int ready;
    if (c.bad || n != (uint32_t)s->size || origin != (uint32_t)src)
      return LOOM_EPROTO;
    ready = causal_ready(s, origin, vc);
    if (ready <= 0)
      return ready < 0 ? 1 : 0;
    memcpy(&v, vc + 8 * (size_t)origin, 8);
    if (v > s->vc[origin])
      s->vc[origin] = v;
    return merge_all(s, &c) == 0 ? 1 : LOOM_EPROTO;
  }
  return merge_all(s, &c) == 0 ? 1 : LOOM_EPROTO;
}

/* Rank 0, causal: a batch that must wait for the batches it depends on is
 * journaled at once all the same (the journal is a join: order does not
 * matter to it), so that what reached rank 0 is durable. */
static int journal_held(struct loom__state *s, const void *p, size_t len) {
  struct loom__cur c;
  uint32_t n;

  loom__cur_init(&c, p, len);
  loom__get_u32(&c);
  n = loom__get_u32(&c);
  loom__cur_take(&c, 8 * (size_t)n);
  while (!c.bad && loom__cur_left(&c) > 0) {
    const unsigned char *at = c.p;
    struct loom__entry_in y;
    int rc = loom__entry_decode(&c, &y);
    if (rc == 0)
      rc = loom__log_add_raw(s, at, (size_t)(c.p - at));
    if (rc != 0)
      return rc;
  }
  return c.bad ? LOOM_EPROTO : 0;
}

/* Applies every held message that has become ready. */
static int release_held(struct loom__state *s) {
  int again = 1, rc;
  while (again) {
    again = 0;
    for (size_t i = 0; i < s->nheld; i++) {
      struct loom__held *h = &s->held[i];
      rc = try_update(s, h->peer, h->msg.data, h->msg.len);
      if (rc < 0)
        return rc;
      if (rc > 0) {
        loom__buf_fini(&h->msg);
        *h = s->held[--s->nheld];
        again = 1;
        break;
      }
    }
  }
  return 0;
}

static int on_update_locked(struct loom__state *s, int src,
                            struct loom__buf *msg) {
  int rc;

  s->nrecv++;
  rc = try_update(s, src, msg->data, msg->len);
  if (rc < 0)
    return rc;
  if (rc == 0 && s->log_on && s->mode == LOOM_STATE_CAUSAL) {
    rc = journal_held(s, msg->data, msg->len);
    if (rc != 0)
      return rc;
  }
  if (rc == 0)
    return hold(&s->held, &s->nheld, &s->heldcap, src, LOOM__TAG_STATE_UPD, 0,
                msg->data, msg->len);
  return s->nheld ? release_held(s) : 0;
}

/* Sends the changes listed in dirty. */
int loom__repl_flush(struct loom__state *s, int force) {
  struct loom__buf *b = &s->scratch;
  int rc = 0;

  if (s->ndirty == 0)
    return 0;
  if (s->mode != LOOM_STATE_STRONG && !force && s->ndirty < FLUSH_COUNT &&
      loom__now() - s->dirty_since < FLUSH_AFTER)
    return 0;
  b->len = 0;
  if (s->mode == LOOM_STATE_STRONG) {
    rc = loom__put_u64(b, ++s->seq_out);
  } else if (s->mode == LOOM_STATE_CAUSAL) {
    s->vc[s->rank]++;
    loom__put_u32(b, (uint32_t)s->rank);
    loom__put_u32(b, (uint32_t)s->size);
    rc = loom__buf_append(b, s->vc, 8 * (size_t)s->size);
  }
  for (size_t i = 0; i < s->ndirty; i++) {
    struct loom__entry *e = &s->t.e[s->dirty[i]];
    e->mark = 0;
    if (rc == 0)
      rc =
          loom__entry_encode(b, e, s->mode == LOOM_STATE_STRONG ? -1 : s->rank);
  }
  s->ndirty = 0;
  if (rc == 0 && s->size > 1)
    rc = send_all(s, LOOM__TAG_STATE_UPD, b);
  return rc < 0 ? rc : 1;
}

/* ---- anti-entropy (eventual) -------------------------------------------- */

static int send_digest(struct loom__state *s, int dest) {
  uint64_t d[LOOM__TABLE_BUCKETS];
  struct loom__buf b = {0};
  int rc;

  loom__table_digests(&s->t, d);
  rc = loom__put_u8(&b, AE_DIGEST);
  if (rc == 0)
    rc = loom__buf_append(&b, d, sizeof(d));
  if (rc == 0)
    rc = loom__repl_send(s, dest, LOOM__TAG_STATE_AE, &b);
  loom__buf_fini(&b);
  return rc;
}

static int send_buckets(struct loom__state *s, int dest, uint64_t mask,
                        int want_reply) {
  struct loom__buf b = {0};
  int rc = loom__put_u8(&b, AE_ENTRIES);

  if (rc == 0)
    rc = loom__put_u8(&b, (uint8_t)want_reply);
  if (rc == 0)
    rc = loom__put_u64(&b, mask);
  for (size_t i = 0; rc == 0 && i < s->t.n; i++) {
    const struct loom__entry *e = &s->t.e[i];
    if ((e->present || e->origin >= 0) && (mask >> loom__entry_bucket(e) & 1))
      rc = loom__entry_encode(&b, e, -1);
  }
  if (rc == 0)
    rc = loom__repl_send(s, dest, LOOM__TAG_STATE_AE, &b);
  loom__buf_fini(&b);
  return rc;
}

static int on_ae_locked(struct loom__state *s, int src, struct loom__buf *msg) {
  struct loom__cur c;
  uint8_t type;

  if (s->mode != LOOM_STATE_EVENTUAL)
    return LOOM_EPROTO;
  s->nrecv++;
  loom__cur_init(&c, msg->data, msg->len);
  type = loom__get_u8(&c);
  if (type == AE_DIGEST) {
    uint64_t theirs[LOOM__TABLE_BUCKETS], mine[LOOM__TABLE_BUCKETS], mask = 0;
    loom__cur_get(&c, theirs, sizeof(theirs));
    if (c.bad || loom__cur_left(&c))
      return LOOM_EPROTO;
    loom__table_digests(&s->t, mine);
    for (int i = 0; i < LOOM__TABLE_BUCKETS; i++)
      if (mine[i] != theirs[i])
        mask |= UINT64_C(1) << i;
    return mask ? send_buckets(s, src, mask, 1) : 0;
  }
  if (type == AE_ENTRIES) {
    int want = loom__get_u8(&c), rc;
    uint64_t mask = loom__get_u64(&c);
    if (c.bad || want > 1)
      return LOOM_EPROTO;
    rc = merge_all(s, &c);
    if (rc == 0 && want)
      rc = send_buckets(s, src, mask, 0);
    return rc;
  }
  return LOOM_EPROTO;
}

int loom__repl_repair(struct loom__state *s) {
  int rc = 0;
  for (int r = 0; rc == 0 && r < s->size; r++)
    if (r != s->rank)
      rc = send_digest(s, r);
  return rc;
}

/* ---- the loop's turn ---------------------------------------------------- */

int loom__repl_tick(struct loom__state *s, double now) {
  int n = 0, rc = 0;

  for (size_t i = 0; rc == 0 && i < s->ndelayed;) {
    struct loom__held *h = &s->delayed[i];
    if (h->due > now && !s->cancelled) {
      i++;
      continue;
    }
    rc = send_now(s, h->peer, h->tag, &h->msg, 0);
    loom__buf_fini(&h->msg);
    *h = s->delayed[--s->ndelayed];
    n++;
  }
  /* Not once the run is ending: its end repairs in rounds of its own. */
  if (rc == 0 && s->mode == LOOM_STATE_EVENTUAL && s->size > 1 &&
      !s->cancelled && now >= s->next_ae) {
    s->next_ae = now + LOOM__AE_INTERVAL;
    s->ae_peer = (s->ae_peer + 1) % s->size;
    if (s->ae_peer == s->rank)
      s->ae_peer = (s->ae_peer + 1) % s->size;
    rc = send_digest(s, s->ae_peer);
    n++;
  }
  return rc < 0 ? rc : n;
}

/* The handlers the message layer calls: each holds the state's lock. */
#define LOCKED_HANDLER(name)                                                   \
  static int name(void *arg, int src, struct loom__buf *msg) {                 \
    struct loom__state *s = arg;                                               \
    int rc;                                                                    \
    pthread_mutex_lock(&s->mu);                                                \
    rc = name##_locked(s, src, msg);                                           \
    atomic_store(&s->attention, 1); /* answers to send: the pump's */          \
    pthread_mutex_unlock(&s->mu);                                              \
    return rc;                                                                 \
  }
LOCKED_HANDLER(on_req)
LOCKED_HANDLER(on_reply)
LOCKED_HANDLER(on_update)
LOCKED_HANDLER(on_ae)

void loom__repl_register(struct loom__state *s) {
  loom__comm_on(s->comm, LOOM__TAG_STATE_REQ, on_req, s);
  loom__comm_on(s->comm, LOOM__TAG_STATE_REPLY, on_reply, s);
  loom__comm_on(s->comm, LOOM__TAG_STATE_UPD, on_update, s);
  loom__comm_on(s->comm, LOOM__TAG_STATE_AE, on_ae, s);
}
