/* wire.c - encoding and checked decoding of dispatch messages (wire.h).
 *
 * Record layouts (host byte order, no padding on the wire):
 *   task: slot u32, kind u16, attempt u16, id u64, timeout f64, cores u16,
 *         mem u64, index u64, count u32, len u32, bytes
 *   done: slot u32, exit i32, sig i32, flags u32, start f64, elapsed f64,
 *         len u32, bytes
 */
#include <string.h>

#include "common/common.h"
#include "dispatch/wire.h"

#define TASK_FIXED (4 + 2 + 2 + 8 + 8 + 2 + 8 + 8 + 4 + 4)
#define DONE_FIXED (4 + 4 + 4 + 4 + 8 + 8 + 4 + 2)
_Static_assert(DONE_FIXED == LOOM__WIRE_DONE_SIZE(0), "DONE record size");

/* Field writers and readers work on a local cursor: going through b->len
 * or r->p for every field would reload it after each memcpy. */
static unsigned char *put(unsigned char *p, const void *v, size_t n) {
  memcpy(p, v, n);
  return p + n;
}

static const unsigned char *get(const unsigned char *p, void *v, size_t n) {
  memcpy(v, p, n);
  return p + n;
}

/* The bytes of the DONE record at p, its fixed part there (its len and
 * cpus_len fields). */
static size_t done_size(const unsigned char *p) {
  uint32_t len;
  uint16_t cpus_len;
  memcpy(&len, p + 32, 4);
  memcpy(&cpus_len, p + 36, 2);
  return DONE_FIXED + (size_t)len + cpus_len;
}

int loom__wire_begin(struct loom__buf *b, uint32_t flags) {
  uint32_t magic = LOOM__WIRE_MAGIC, zero = 0;
  int rc;

  b->len = 0;
  rc = loom__buf_reserve(b, LOOM__WIRE_HEADER);
  if (rc != 0)
    return rc;
  put(put(put(b->data, &magic, 4), &zero, 4), &flags, 4);
  b->len = LOOM__WIRE_HEADER;
  return 0;
}

void loom__wire_set_flags(struct loom__buf *b, uint32_t flags) {
  if (b->len >= LOOM__WIRE_HEADER)
    memcpy(b->data + 8, &flags, 4);
}

void loom__wire_set_count(struct loom__buf *b, uint32_t count) {
  if (b->len >= LOOM__WIRE_HEADER)
    memcpy(b->data + 4, &count, 4);
}

uint32_t loom__wire_count(const struct loom__buf *b) {
  uint32_t n = 0;
  if (b->len >= LOOM__WIRE_HEADER)
    memcpy(&n, b->data + 4, 4);
  return n;
}

static void bump(struct loom__buf *b) {
  uint32_t n = loom__wire_count(b) + 1;
  memcpy(b->data + 4, &n, 4);
}

int loom__wire_put_task(struct loom__buf *b, const struct loom__wire_task *t) {
  unsigned char *p;
  int rc;

  if (t->len > LOOM__WIRE_PAYLOAD_MAX)
    return LOOM_ETOOBIG;
  rc = loom__buf_reserve(b, TASK_FIXED + (size_t)t->len);
  if (rc != 0)
    return rc;
  p = b->data + b->len;
  p = put(p, &t->slot, 4);
  p = put(p, &t->kind, 2);
  p = put(p, &t->attempt, 2);
  p = put(p, &t->id, 8);
  p = put(p, &t->timeout, 8);
  p = put(p, &t->cores, 2);
  p = put(p, &t->mem, 8);
  p = put(p, &t->index, 8);
  p = put(p, &t->count, 4);
  p = put(p, &t->len, 4);
  if (t->len)
    memcpy(p, t->payload, t->len);
  b->len += TASK_FIXED + (size_t)t->len;
  bump(b);
  return 0;
}

int loom__wire_put_done(struct loom__buf *b, const struct loom__wire_done *d) {
  unsigned char *p;
  int rc;

  if (d->len > LOOM__WIRE_PAYLOAD_MAX)
    return LOOM_ETOOBIG;
  rc = loom__buf_reserve(b, DONE_FIXED + (size_t)d->len + d->cpus_len);
  if (rc != 0)
    return rc;
  p = b->data + b->len;
  p = put(p, &d->slot, 4);
  p = put(p, &d->exit_code, 4);
  p = put(p, &d->sig, 4);
  p = put(p, &d->flags, 4);
  p = put(p, &d->start, 8);
  p = put(p, &d->elapsed, 8);
  p = put(p, &d->len, 4);
  p = put(p, &d->cpus_len, 2);
  if (d->len)
    memcpy(p, d->data, d->len);
  if (d->cpus_len)
    memcpy(p + d->len, d->cpus, d->cpus_len);
  b->len += DONE_FIXED + (size_t)d->len + d->cpus_len;
  bump(b);
  return 0;
}

int loom__wire_open(struct loom__reader *r, const void *msg, size_t len) {
  uint32_t magic;

  r->p = r->end = msg;
  r->left = 0;
  r->flags = 0;
  if (!msg || len < LOOM__WIRE_HEADER)
    return LOOM_EPROTO;
  r->end = r->p + len;
  memcpy(&magic, r->p, 4);
  memcpy(&r->left, r->p + 4, 4);
  memcpy(&r->flags, r->p + 8, 4);
  if (magic != LOOM__WIRE_MAGIC ||
      (r->flags & ~(uint32_t)(LOOM__WIRE_FINAL | LOOM__WIRE_RUNS)))
    return LOOM_EPROTO;
  r->p += LOOM__WIRE_HEADER;
  return 0;
}

/* Claims a variable-length tail of len bytes at p, or fails. */
static int tail(struct loom__reader *r, const unsigned char *p, uint32_t len,
                const void **out) {
  if (len > LOOM__WIRE_PAYLOAD_MAX || (size_t)(r->end - p) < len)
    return LOOM_EPROTO;
  *out = len ? p : NULL;
  r->p = p + len;
  r->left--;
  return 1;
}

int loom__wire_get_task(struct loom__reader *r, struct loom__wire_task *t) {
  const unsigned char *p = r->p;

  if (r->left == 0)
    return p == r->end ? 0 : LOOM_EPROTO;
  if ((size_t)(r->end - p) < TASK_FIXED)
    return LOOM_EPROTO;
  p = get(p, &t->slot, 4);
  p = get(p, &t->kind, 2);
  p = get(p, &t->attempt, 2);
  p = get(p, &t->id, 8);
  p = get(p, &t->timeout, 8);
  p = get(p, &t->cores, 2);
  p = get(p, &t->mem, 8);
  p = get(p, &t->index, 8);
  p = get(p, &t->count, 4);
  p = get(p, &t->len, 4);
  if (t->count == 0)
    return LOOM_EPROTO;
  return tail(r, p, t->len, &t->payload);
}

int loom__wire_tasks_open(struct loom__task_cursor *c, const void *msg,
                          size_t len) {
  c->t.count = 0;
  c->e = 0;
  return loom__wire_open(&c->r, msg, len);
}

int loom__wire_next_task(struct loom__task_cursor *c) {
  struct loom__wire_task *t = &c->t;

  if (c->e + 1 < t->count) {
    c->e++;
  } else {
    int got = loom__wire_get_task(&c->r, t);
    if (got != 1)
      return got;
    c->first = t->index;
    c->id = t->id;
    c->e = 0;
  }
  t->index = c->first + c->e;
  t->id = loom__wire_run_id(c->id, t->count, t->index);
  return 1;
}

int loom__wire_get_done(struct loom__reader *r, struct loom__wire_done *d) {
  const unsigned char *p = r->p;

  if (r->left == 0)
    return p == r->end ? 0 : LOOM_EPROTO;
  if ((size_t)(r->end - p) < DONE_FIXED)
    return LOOM_EPROTO;
  p = get(p, &d->slot, 4);
  p = get(p, &d->exit_code, 4);
  p = get(p, &d->sig, 4);
  p = get(p, &d->flags, 4);
  p = get(p, &d->start, 8);
  p = get(p, &d->elapsed, 8);
  p = get(p, &d->len, 4);
  p = get(p, &d->cpus_len, 2);
  if (d->len > LOOM__WIRE_PAYLOAD_MAX ||
      (size_t)(r->end - p) < (size_t)d->len + d->cpus_len)
    return LOOM_EPROTO;
  /* A group answers for at least one element, and only with its codes;
   * a task given back says nothing else. */
  if ((d->flags & LOOM__DONE_GROUP) &&
      (d->len == 0 || d->flags != LOOM__DONE_GROUP || d->sig != 0 ||
       d->exit_code != 0))
    return LOOM_EPROTO;
  if ((d->flags & LOOM__DONE_RETURNED) &&
      (d->flags != LOOM__DONE_RETURNED || d->len < LOOM__RETURNED_HEAD ||
       d->sig != 0 || d->exit_code != 0))
    return LOOM_EPROTO;
  d->data = d->len ? p : NULL;
  d->cpus = d->cpus_len ? (const char *)p + d->len : NULL;
  /* It goes into the joblog as it is: digits, commas and dashes only. */
  for (uint16_t i = 0; i < d->cpus_len; i++) {
    char c = d->cpus[i];
    if ((c < '0' || c > '9') && c != ',' && c != '-')
      return LOOM_EPROTO;
  }
  r->p = p + d->len + d->cpus_len;
  r->left--;
  return 1;
}

uint32_t loom__wire_done_records(const void *p, size_t len) {
  const unsigned char *q = p, *end = q + len;
  uint32_t n = 0;

  while ((size_t)(end - q) >= DONE_FIXED && (size_t)(end - q) >= done_size(q)) {
    q += done_size(q);
    n++;
  }
  return n;
}

void loom__wire_done_set_times(struct loom__buf *b, size_t from, double start,
                               double each) {
  unsigned char *p = b->data + from, *end = b->data + b->len;

  for (uint64_t k = 0; (size_t)(end - p) >= DONE_FIXED; k++) {
    double t = start + (double)k * each;
    memcpy(p + 16, &t, 8);
    memcpy(p + 24, &each, 8);
    p += done_size(p);
  }
}

int loom__wire_count_tasks(const void *msg, size_t len, uint32_t *n) {
  struct loom__reader r;
  struct loom__wire_task t;
  uint64_t sum = 0;
  int rc = loom__wire_open(&r, msg, len), got = 0;

  if (rc != 0)
    return rc;
  if (!(r.flags & LOOM__WIRE_RUNS)) {
    *n = r.left;
    return 0;
  }
  while ((got = loom__wire_get_task(&r, &t)) == 1)
    sum += t.count;
  if (got < 0 || sum > UINT32_MAX)
    return LOOM_EPROTO;
  *n = (uint32_t)sum;
  return 0;
}

int loom__wire_answer_tasks(const void *msg, size_t len, uint32_t from,
                            uint32_t to, uint32_t flags, double started,
                            struct loom__buf *out) {
  struct loom__task_cursor c;
  struct loom__buf spec = {0};
  int rc, got = 0;

  rc = loom__wire_tasks_open(&c, msg, len);
  for (uint32_t i = 0;
       rc == 0 && i < to && (got = loom__wire_next_task(&c)) == 1; i++) {
    struct loom__wire_done d;
    if (i < from)
      continue;
    d = (struct loom__wire_done){
        .slot = c.t.slot, .flags = flags, .start = loom__wall()};
    if (i == from && started > 0) {
      d.elapsed = d.start - started;
      d.start = started;
    }
    if (flags & LOOM__DONE_RETURNED) {
      unsigned char head[LOOM__RETURNED_HEAD];
      put(put(head, &c.t.timeout, 8), &c.t.mem, 8);
      spec.len = 0;
      rc = (size_t)c.t.len > LOOM__WIRE_PAYLOAD_MAX - sizeof(head)
               ? LOOM_ETOOBIG
               : loom__buf_append(&spec, head, sizeof(head));
      if (rc == 0)
        rc = loom__buf_append(&spec, c.t.payload, c.t.len);
      d.data = spec.data;
      d.len = (uint32_t)spec.len;
    }
    if (rc == 0)
      rc = loom__wire_put_done(out, &d);
  }
  loom__buf_fini(&spec);
  return rc != 0 ? rc : (got < 0 ? got : 0);
}

void loom__wire_returned_spec(const struct loom__wire_done *d, double *timeout,
                              uint64_t *mem, const void **payload,
                              uint32_t *len) {
  const unsigned char *p = get(get(d->data, timeout, 8), mem, 8);
  *payload = p;
  *len = d->len - LOOM__RETURNED_HEAD;
}
