/* internal.h - what the files of state/ share (state.h is the outside).
 *
 * state.c: the calls, the queue from other threads, apply(), pump, finish.
 * repl.c:  the messages between replicas, for each mode.
 * log.c:   the journal (state.log), the final table (state.tsv), dumps.
 * faults.c: the fault injector on the state messages' send path (tests).
 */
#ifndef LOOM_STATE_INTERNAL_H
#define LOOM_STATE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "comm/comm.h"
#include "common/buf.h"
#include "common/waker.h"
#include "state/state.h"
#include "state/table.h"

/* One operation, as called or as received (pointers borrowed). */
enum { OP_A_NULL = 1, OP_B_NULL = 2 };
struct loom__op {
  uint8_t code;  /* LOOM__SOP_* */
  uint8_t flags; /* OP_*_NULL */
  const char *key;
  uint32_t keylen;
  const void *a; /* put: the value; cas: expected; wait: the old value */
  uint32_t alen;
  const void *b; /* cas: the new value */
  uint32_t blen;
  int64_t num;    /* add: delta; min, max: the number */
  double timeout; /* wait: seconds, < 0 forever */
};

/* Its outcome. view: the bytes read, in the table (valid until it
 * changes) or in text (a number). */
struct loom__res {
  int rc;
  int64_t before;
  const void *view;
  size_t len;
  char text[24];
  uint64_t ts; /* a write's stamp */
  int origin;
};

/* A call, waiting for its answer. The bytes read go to buf (cap bytes);
 * len gets their length. */
struct loom__req {
  struct loom__op op;
  int rc;
  int64_t before;
  void *buf;
  size_t cap;
  size_t len;
  uint64_t ts;
  int origin;
  sem_t done;
  uint64_t id; /* strong, rank > 0: the request's number */
  struct loom__req *next;
};

/* A wait not yet satisfied, for a local call or a remote rank's. */
struct loom__waiter {
  char key[LOOM_STATE_KEY_MAX + 1];
  uint32_t keylen;
  struct loom__buf old;
  int has_old;
  double deadline;       /* monotonic; < 0 never */
  struct loom__req *req; /* local, or NULL: then rank and id */
  int rank;
  uint64_t id;
};

/* A message kept back: out of order (strong, causal) or delayed by the
 * fault injector. */
struct loom__held {
  int peer; /* sender, or for a delayed send the destination */
  int tag;
  double due; /* delayed sends: when to send */
  struct loom__buf msg;
};

/* The fault injector (faults.c), off unless LOOM_STATE_FAULTS is set. */
struct loom__faults {
  int on;
  uint64_t rng;
  double delay_p, delay_max; /* chance of a delay, its longest */
  double dup_p;              /* chance of a second copy */
  double drop_p;             /* chance of a loss (eventual only) */
  double part_from, part_to; /* seconds after the start: a partition */
  uint64_t part_mask;        /* ranks on one side (bit r; the rest other) */
  double t0;
  char spec[160];
};

enum { PHASE_IDLE, PHASE_RUNNING, PHASE_ENDED };

/* Requests one rank may have in flight to rank 0 at once, at most (one per
 * calling thread). */
#define LOOM__DEDUP_WORDS 64
#define LOOM__DEDUP_BITS (UINT64_C(64) * LOOM__DEDUP_WORDS)

/* Eventual: seconds between two digest exchanges with a peer. */
#define LOOM__AE_INTERVAL 0.05

struct loom__state {
  struct loom *l;
  int rank, size, mode;
  struct loom__table t;
  uint64_t clock; /* stamps: sequencer counter (strong) or Lamport clock */

  /* Shared with calling threads, under mu. */
  pthread_mutex_t mu;
  /* Set (under mu) when the loop has something to do that other threads
   * or handlers left: a queued call, a change to send or journal, an
   * answer to release, a wait to time. The loop checks it without the
   * lock, so a run that does not use the table costs it nothing. */
  atomic_int attention;
  int phase;
  int cancelled;
  pthread_t loop;
  struct loom__req *queue, *queue_tail;
  uint64_t calls[LOOM__SOP_N];

  /* The loop thread's alone from here on. */
  struct loom__comm *comm;
  struct loom__waker *waker;
  uint64_t next_id;
  struct loom__req *pending; /* strong: sent to rank 0, awaiting answers */
  unsigned pending_calls;    /* of them, not waits */
  struct loom__waiter *w;
  size_t nw, wcap;
  /* Answers held until the journal has the changes they report. */
  struct loom__req **later;
  size_t nlater, latercap;
  struct loom__held *replies; /* to other ranks (peer, msg) */
  size_t nreplies, repliescap;

  /* Outgoing changes: strong (rank 0) one message per pump, numbered;
   * causal and eventual, batches. Entries changed are marked in the
   * table (mark 1) and listed in dirty. */
  size_t *dirty;
  size_t ndirty, dirtycap;
  double dirty_since;
  uint64_t seq_out; /* strong: messages numbered (rank 0) */
  uint64_t seq_in;  /* strong: last applied (others) */
  uint64_t *vc;     /* causal: batches applied from each rank */
  struct loom__held *held;
  size_t nheld, heldcap;
  struct loom__held *delayed;
  size_t ndelayed, delayedcap;
  double next_ae; /* eventual: next anti-entropy exchange */
  int ae_peer;
  double hot_until; /* rank 0: keep polling for a while after a request */
  /* Strong, rank 0: the requests of each rank already answered, a window
   * of DEDUP_BITS ids from seen_base (a duplicate is answered never). */
  uint64_t *seen_base;
  uint64_t *seen; /* DEDUP_WORDS words per rank */

  uint64_t nsent, nrecv; /* state messages, for quiescence */
  uint64_t bytes_sent;
  struct loom__faults f;

  /* Journal (rank 0 with a run directory): on, opened at the first
   * change (or at the start when one is there already). */
  int log_on;
  int log_fd;
  char log_path[PATH_MAX];
  struct loom__buf logbuf;
  uint64_t journaled;
  char io_err[PATH_MAX + 128];

  struct loom__sock *sock; /* shell tasks' socket, made for the first one */
  int sock_failed;
  struct loom__buf scratch;
  int failed;
  char err[256];
};

/* state.c */
void loom__state_changed(struct loom__state *s, size_t x, int local, int who);
void loom__state_fail(struct loom__state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void loom__state_apply(struct loom__state *s, const struct loom__op *op,
                       int who, struct loom__res *r);
int loom__state_complete_remote(struct loom__state *s, int rank, uint64_t id,
                                const struct loom__res *r);
void loom__state_complete(struct loom__state *s, struct loom__req *q,
                          int deferred);
int loom__state_wait_begin(struct loom__state *s, const struct loom__op *op,
                           struct loom__req *q, int rank, uint64_t id);

/* repl.c */
void loom__repl_register(struct loom__state *s);
int loom__repl_send(struct loom__state *s, int dest, int tag,
                    struct loom__buf *msg);
int loom__repl_request(struct loom__state *s, struct loom__req *q);
int loom__repl_flush(struct loom__state *s, int force);
int loom__repl_tick(struct loom__state *s, double now);
int loom__repl_repair(struct loom__state *s);
void loom__repl_forget(struct loom__state *s, struct loom__req *q);

/* log.c */
int loom__log_open(struct loom__state *s, const char *dir, int resume,
                   char *err, size_t errlen);
int loom__log_add(struct loom__state *s, const struct loom__entry *x, int who);
/* An entry as encoded (a message's bytes), journaled as it is. */
int loom__log_add_raw(struct loom__state *s, const void *entry, size_t n);
int loom__log_commit(struct loom__state *s);
void loom__log_close(struct loom__state *s);
int loom__log_final(struct loom__state *s);
int loom__log_load(const char *path, struct loom__table *t, uint64_t *records,
                   off_t *good, char *err, size_t errlen);
int loom__table_write_tsv(const struct loom__table *t, FILE *out);
int loom__table_write_json(const struct loom__table *t, FILE *out);

/* sock.c: the socket shell tasks call through. stop() keeps calling
 * drive(arg) (the loop's turn) while connections are still served. */
struct loom__sock;
int loom__sock_start(struct loom *l, struct loom__sock **out);
const char *loom__sock_path(const struct loom__sock *k);
void loom__sock_stop(struct loom__sock *k, int (*drive)(void *), void *arg);

/* faults.c */
int loom__faults_parse(struct loom__faults *f, const char *spec, int rank,
                       int mode, char *err, size_t errlen);
/* What to do with one message to dest: -1 drop, else the number of copies
 * (1 or 2) and *delay seconds (0 = now). */
int loom__faults_decide(struct loom__faults *f, int rank, int dest, int tag,
                        double now, double *delay);

#endif /* LOOM_STATE_INTERNAL_H */
