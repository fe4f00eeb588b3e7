/* state.h - the replicated state table: operations, replication, journal.
 *
 * One struct loom__state per rank, made at the first loom_run(). Its table
 * (table.h) is this rank's replica. The loop thread (the one that owns
 * MPI) does all the work: it handles the state messages the message layer
 * hands it, and in loom__state_pump() it runs the operations other threads
 * queued (a task's call blocks until the loop thread answers it; the loop
 * thread's own calls, from the result callback, run at once).
 *   strong:   rank 0 orders every operation (a sequencer): other ranks send
 *             it each one and wait for its answer; rank 0 journals each
 *             change, then answers and sends the change to every replica
 *             (in order: a sequence number per message).
 *   causal:   operations run on the local replica; changes go out in
 *             batches stamped with a vector clock, and a replica applies a
 *             batch only once it has applied every batch the sender had
 *             (the ISIS CBCAST rule). Registers: last writer wins by
 *             (Lamport clock, rank), which respects causality.
 *   eventual: local operations; batches applied as they come; digests of
 *             key buckets are compared with one peer at a time (anti-
 *             entropy) so that a lost batch is repaired.
 * loom__state_finish() (collective) ends a run: every batch sent, every
 * message received (counted), replicas compared by digest, repaired in
 * eventual mode, and the verdict written (rank 0: state.tsv, the report).
 */
#ifndef LOOM_STATE_H
#define LOOM_STATE_H

#include <stdint.h>

#include "comm/comm.h"
#include "common/waker.h"
#include "loom.h"
#include "state/stats.h"

struct loom__state;

/* Every function below but new() takes s NULL as "no table": a loop that
 * white-box tests drive without loom_run() has none. */

/* Makes the state of l (no MPI). Returns 0 or LOOM_ENOMEM. */
int loom__state_new(struct loom *l, struct loom__state **out);
void loom__state_free(struct loom__state *s);

/* Starts a run (collective: every rank calls it, also one whose own start
 * failed, which says so with failed != 0). Takes the run's mode and
 * budget, registers the state handlers on c, and, on rank 0 with a run
 * directory, turns the journal on (a resumed run loads RUNDIR/state.log
 * first); rank 0's table then goes to every rank. waker: the loop
 * thread's, poked when a call is queued. Returns 0, or the failure agreed
 * across ranks: LOOM_EIO / LOOM_ESYNTAX (err names the file), LOOM_EINVAL
 * (LOOM_STATE_FAULTS), LOOM_ENOMEM, LOOM_EMPI, or a failed rank's code. */
int loom__state_start(struct loom__state *s, struct loom__comm *c,
                      struct loom__waker *waker, int failed, char *err,
                      size_t errlen);

/* Loop thread, every turn: runs queued calls, sends due batches, journal
 * writes and answers, anti-entropy, expired waits. Returns how much it did
 * (0: nothing), or a negative LOOM_E* code (the table failed: s's error
 * says why). */
int loom__state_pump(struct loom__state *s);

/* Loop thread: sends this rank's pending changes now and writes rank 0's
 * journal: a worker calls it before it reports tasks done, the master
 * before it records them, so a task recorded done has its changes in the
 * journal. Cheap when there is nothing to do. Returns 0, LOOM_EIO (the
 * journal; loom__state_io_error() says why) or a send's error. */
int loom__state_sync(struct loom__state *s);

/* Should the loop thread poll again soon rather than sleep (an answer is
 * awaited, a batch or a delayed message is due)? */
int loom__state_busy(struct loom__state *s);

/* The run's tasks are being killed: every call waiting for an answer
 * returns LOOM_ESTATE, and new ones too until the run ends. */
void loom__state_cancel(struct loom__state *s);

/* The socket shell tasks reach the table through during a run
 * ($LOOM_STATE_SOCKET), made at the first call; "" outside a run (or when
 * it cannot be made: said once on stderr). Any thread. */
const char *loom__state_socket(struct loom__state *s);

/* A journal write failed: the reason (rank 0), else NULL. */
const char *loom__state_io_error(const struct loom__state *s);

/* Ends the run (collective, every rank, also after an error: failed says
 * this rank's run failed). Returns 0, or LOOM_EREPLICA when the replicas
 * did not converge or the protocol failed (stats->error says why),
 * LOOM_EIO (state.log, state.tsv), LOOM_EMPI. Fills *stats on rank 0. */
int loom__state_finish(struct loom__state *s, int failed,
                       struct loom__state_stats *stats);

/* The stamp (ts, origin) the calling thread's last put, del or cas got, for
 * histories that a checker compares with the last-writer-wins order. */
void loom__state_last_stamp(uint64_t *ts, int *origin);

#endif /* LOOM_STATE_H */
