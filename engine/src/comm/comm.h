/* comm.h - the message layer: every message between ranks goes through it.
 *
 * The loop thread of a rank calls loom__comm_poll(), which receives every
 * message waiting from any rank with any tag and calls the handler
 * registered for its tag. A new message kind is one tag and one handler.
 * loom__comm_send() is non-blocking: the message's buffer moves into a send
 * slot that keeps it with its MPI request until the send completes, and the
 * caller gets back an empty buffer to fill next (storage recycled, no copy).
 * Per-peer counters of messages sent and received let a later quiescence
 * step check that nothing is still on its way (all sent == all received,
 * agreed collectively).
 * Only the loop thread may call these functions (MPI_THREAD_FUNNELED).
 * comm/ calls common/ and MPI, nothing else of the engine.
 */
#ifndef LOOM_COMM_H
#define LOOM_COMM_H

#include <stdint.h>

#include <mpi.h>

#include "common/buf.h"

/* Message tags on the engine's communicator: the one list of them. */
enum {
  LOOM__TAG_TASKS = 1,  /* master -> worker: a batch of tasks */
  LOOM__TAG_DONE = 2,   /* worker -> master: a batch of completions */
  LOOM__TAG_STOP = 3,   /* master -> worker: no more tasks, leave the loop */
  LOOM__TAG_CANCEL = 4, /* master -> worker: kill what runs, run nothing more */
  LOOM__TAG_PING = 5,   /* any -> any: answered at once with PONG, the same
                           bytes (liveness; tests) */
  LOOM__TAG_PONG = 6,
  LOOM__TAG_DRAIN = 7, /* master -> worker: start no queued task (a stop) */
  /* The state table (state/repl.c). */
  LOOM__TAG_STATE_REQ = 8,   /* rank > 0 -> 0: an operation (strong) */
  LOOM__TAG_STATE_REPLY = 9, /* 0 -> rank: its answer */
  LOOM__TAG_STATE_UPD = 10,  /* changes to replicas */
  LOOM__TAG_STATE_AE = 11,   /* anti-entropy: digests, repairs (eventual) */
  LOOM__TAG_MAX = 32
};

/* A handler: msg holds the message (src, tag as received). It may take the
 * bytes by swapping msg with a buffer of its own (loom__buf_swap). Returns
 * 0, or a negative LOOM_E* code that stops the poll (LOOM_EPROTO: the
 * message is malformed; the poll names the sender). */
typedef int (*loom__comm_fn)(void *arg, int src, struct loom__buf *msg);

struct loom__comm_slot {
  struct loom__buf buf; /* lives with its request (STYLE.md) */
  MPI_Request req;
};

struct loom__comm {
  MPI_Comm comm;
  int rank;
  int size;
  struct {
    loom__comm_fn fn;
    void *arg;
  } on[LOOM__TAG_MAX];
  /* Send slots, a ring: nbusy busy ones from head in the order sent, then
   * the free ones. Sends finish roughly in order, so reclaiming from the
   * head is cheap; the ring only grows when every slot is busy. */
  struct loom__comm_slot *slot;
  size_t head, nbusy, cap;
  struct loom__buf recv;
  uint64_t *sent; /* messages, per peer */
  uint64_t *received;
  char err[256]; /* why the last poll or send failed */
};

/* Sets up the layer on comm (not duplicated: the caller's, which must
 * outlive it). Returns 0 or LOOM_ENOMEM. Local. */
int loom__comm_init(struct loom__comm *c, MPI_Comm comm);

/* Waits for every send to complete, then frees. Returns 0 or LOOM_EMPI. */
int loom__comm_fini(struct loom__comm *c);

/* Registers fn for tag (replacing any other). */
void loom__comm_on(struct loom__comm *c, int tag, loom__comm_fn fn, void *arg);

/* Receives and handles every message waiting. *handled (may be NULL) gets
 * how many. Returns 0, LOOM_EMPI, LOOM_ENOMEM, LOOM_EPROTO (a tag nobody
 * handles, or a handler's verdict; c->err names the sender) or a
 * handler's error. */
int loom__comm_poll(struct loom__comm *c, int *handled);

/* Sends msg's bytes to dest without blocking. The bytes move into a send
 * slot; msg comes back empty (len 0), holding storage to reuse. Returns 0,
 * LOOM_ETOOBIG (over INT_MAX bytes: MPI counts in int), LOOM_EINVAL (no
 * such rank), LOOM_ENOMEM or LOOM_EMPI. */
int loom__comm_send(struct loom__comm *c, int dest, int tag,
                    struct loom__buf *msg);

/* Sends n bytes of p (copied). Same returns. */
int loom__comm_send_bytes(struct loom__comm *c, int dest, int tag,
                          const void *p, size_t n);

/* Waits until every send so far has completed. Returns 0 or LOOM_EMPI. */
int loom__comm_flush(struct loom__comm *c);

/* Messages sent to and received from every peer, summed. */
void loom__comm_totals(const struct loom__comm *c, uint64_t *sent,
                       uint64_t *received);

#endif /* LOOM_COMM_H */
