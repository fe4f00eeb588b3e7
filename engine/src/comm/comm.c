/* comm.c - the message layer (comm.h).
 *
 * Receiving: MPI_Iprobe(ANY_SOURCE, ANY_TAG) until nothing waits; each
 * message is received into one reused buffer and handed to its tag's
 * handler. MPI keeps the order of messages from one sender, so a handler
 * sees a peer's messages in the order they were sent, whatever their tags.
 * Sending: MPI_Isend from a slot that owns the bytes; completed slots are
 * reclaimed from the front of the busy list before each send, and their
 * storage goes back to the next caller.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "common/common.h"

static int on_ping(void *arg, int src, struct loom__buf *msg) {
  struct loom__comm *c = arg;
  return loom__comm_send(c, src, LOOM__TAG_PONG, msg);
}

int loom__comm_init(struct loom__comm *c, MPI_Comm comm) {
  memset(c, 0, sizeof(*c));
  c->comm = comm;
  MPI_Comm_rank(comm, &c->rank);
  MPI_Comm_size(comm, &c->size);
  c->sent = calloc((size_t)c->size, sizeof(uint64_t));
  c->received = calloc((size_t)c->size, sizeof(uint64_t));
  if (!c->sent || !c->received) {
    free(c->sent);
    free(c->received);
    c->sent = c->received = NULL;
    return LOOM_ENOMEM;
  }
  loom__comm_on(c, LOOM__TAG_PING, on_ping, c);
  return 0;
}

int loom__comm_fini(struct loom__comm *c) {
  int rc = loom__comm_flush(c);

  for (size_t i = 0; i < c->cap; i++)
    loom__buf_fini(&c->slot[i].buf);
  free(c->slot);
  free(c->sent);
  free(c->received);
  loom__buf_fini(&c->recv);
  c->slot = NULL;
  c->sent = c->received = NULL;
  c->head = c->nbusy = c->cap = 0;
  return rc;
}

void loom__comm_on(struct loom__comm *c, int tag, loom__comm_fn fn, void *arg) {
  if (tag > 0 && tag < LOOM__TAG_MAX) {
    c->on[tag].fn = fn;
    c->on[tag].arg = arg;
  }
}

int loom__comm_poll(struct loom__comm *c, int *handled) {
  int n = 0, rc = 0;

  for (;;) {
    MPI_Status st;
    int flag = 0, count = 0, tag, src;

    rc = LOOM_MPI(MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, c->comm, &flag, &st));
    if (rc != 0 || !flag)
      break;
    tag = st.MPI_TAG;
    src = st.MPI_SOURCE;
    MPI_Get_count(&st, MPI_BYTE, &count);
    c->recv.len = 0;
    rc = loom__buf_reserve(&c->recv, (size_t)(count > 0 ? count : 0));
    if (rc == 0)
      rc = LOOM_MPI(MPI_Recv(c->recv.data, count, MPI_BYTE, src, tag, c->comm,
                             MPI_STATUS_IGNORE));
    if (rc != 0)
      break;
    c->recv.len = (size_t)count;
    c->received[src]++;
    n++;
    if (tag <= 0 || tag >= LOOM__TAG_MAX || !c->on[tag].fn) {
      snprintf(c->err, sizeof(c->err),
               "rank %d sent a message with tag %d, which rank %d does not "
               "expect",
               src, tag, c->rank);
      rc = LOOM_EPROTO;
      break;
    }
    rc = c->on[tag].fn(c->on[tag].arg, src, &c->recv);
    if (rc != 0) {
      if (!c->err[0])
        snprintf(c->err, sizeof(c->err),
                 "rank %d: a message with tag %d from rank %d: %s", c->rank,
                 tag, src, loom_strerror(rc));
      break;
    }
  }
  if (handled)
    *handled = n;
  return rc;
}

/* Frees the completed sends at the head of the ring. Returns 0 or
 * LOOM_EMPI. */
static int reclaim(struct loom__comm *c) {
  while (c->nbusy > 0) {
    int done = 0;
    if (LOOM_MPI(MPI_Test(&c->slot[c->head].req, &done, MPI_STATUS_IGNORE)) !=
        0)
      return LOOM_EMPI;
    if (!done)
      return 0;
    c->head = (c->head + 1) % c->cap;
    c->nbusy--;
  }
  return 0;
}

/* Doubles the ring, its busy slots first in order. Returns 0 or
 * LOOM_ENOMEM. */
static int grow(struct loom__comm *c) {
  size_t cap = c->cap ? 2 * c->cap : 16;
  struct loom__comm_slot *s = calloc(cap, sizeof(*s));

  if (!s)
    return LOOM_ENOMEM;
  for (size_t i = 0; i < c->cap; i++)
    s[i] = c->slot[(c->head + i) % c->cap];
  for (size_t i = c->cap; i < cap; i++)
    s[i].req = MPI_REQUEST_NULL;
  free(c->slot);
  c->slot = s;
  c->head = 0;
  c->cap = cap;
  return 0;
}

int loom__comm_send(struct loom__comm *c, int dest, int tag,
                    struct loom__buf *msg) {
  struct loom__comm_slot *s;
  int rc;

  if (dest < 0 || dest >= c->size)
    return LOOM_EINVAL;
  if (msg->len > INT_MAX) {
    snprintf(c->err, sizeof(c->err),
             "a message of %zu bytes for rank %d is over MPI's limit", msg->len,
             dest);
    return LOOM_ETOOBIG;
  }
  rc = reclaim(c);
  if (rc == 0 && c->nbusy == c->cap)
    rc = grow(c);
  if (rc != 0)
    return rc;
  s = &c->slot[(c->head + c->nbusy) % c->cap];
  loom__buf_swap(&s->buf, msg);
  msg->len = 0;
  rc = LOOM_MPI(MPI_Isend(s->buf.data, (int)s->buf.len, MPI_BYTE, dest, tag,
                          c->comm, &s->req));
  if (rc != 0)
    return rc;
  c->nbusy++;
  c->sent[dest]++;
  return 0;
}

int loom__comm_send_bytes(struct loom__comm *c, int dest, int tag,
                          const void *p, size_t n) {
  struct loom__buf b = {0};
  int rc = loom__buf_append(&b, p, n);

  if (rc == 0)
    rc = loom__comm_send(c, dest, tag, &b);
  loom__buf_fini(&b);
  return rc;
}

int loom__comm_flush(struct loom__comm *c) {
  int rc = 0;

  for (size_t i = 0; i < c->nbusy; i++) {
    int r = LOOM_MPI(
        MPI_Wait(&c->slot[(c->head + i) % c->cap].req, MPI_STATUS_IGNORE));
    if (rc == 0)
      rc = r;
  }
  c->head = 0;
  c->nbusy = 0;
  return rc;
}

void loom__comm_totals(const struct loom__comm *c, uint64_t *sent,
                       uint64_t *received) {
  *sent = *received = 0;
  for (int i = 0; c->sent && i < c->size; i++) {
    *sent += c->sent[i];
    *received += c->received[i];
  }
}
