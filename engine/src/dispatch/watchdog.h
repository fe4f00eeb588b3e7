/* watchdog.h - no task outlives its rank.
 *
 * A task's shell runs in a process group of its own, so a timeout or a
 * cancel kills its whole tree. But when the rank itself dies (kill -9, a
 * crash, mpirun ending the job), nobody is left to send that kill, and the
 * tasks would run on beside the ones a resume starts again. The watchdog
 * is a small process forked from the rank, in a session of its own so
 * that a signal to the rank's group does not reach it. The rank writes the
 * group of every task it starts, and clears it when it reaps the task, in
 * a table shared with the watchdog (a shared anonymous mapping made before
 * the fork): no system call and no wakeup per task. The watchdog sleeps in
 * a read of a pipe whose only write end the rank holds. When the pipe
 * ends, whichever way the rank ended, it sends SIGTERM to every group still
 * in the table, SIGKILL a second later, and exits. A task's background
 * children that outlive the task itself are left alone, as they are in a
 * normal run.
 * One watchdog serves every slot of a rank: the first shell task starts
 * it (loom__watchdog_ensure, under its lock); each task takes an entry of
 * the table with a compare-and-swap. The child calls only
 * async-signal-safe functions.
 */
#ifndef LOOM_WATCHDOG_H
#define LOOM_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

struct loom__watchdog {
  pthread_mutex_t mu;      /* held while it starts */
  int fd;                  /* the pipe's write end; -1 before the start */
  pid_t pid;               /* the watchdog process */
  _Atomic int32_t *groups; /* the shared table: 0 = a free entry */
  atomic_uint next;        /* where the next search for a free entry begins */
};

/* Sets w up, not started. Returns 0 or LOOM_ESYS. */
int loom__watchdog_init(struct loom__watchdog *w);

/* Forks the watchdog unless it runs already. Any thread. Returns 0,
 * LOOM_ENOMEM or LOOM_ESYS. */
int loom__watchdog_ensure(struct loom__watchdog *w);

/* Process group pgid is in flight: returns the entry that holds it, for
 * loom__watchdog_remove once the task is reaped, or -1 when the table is
 * full (LOOM__WATCHDOG_MAX tasks in flight on one rank) or the watchdog
 * did not start. Any thread. */
#define LOOM__WATCHDOG_MAX 65536
int loom__watchdog_add(struct loom__watchdog *w, pid_t pgid);
void loom__watchdog_remove(struct loom__watchdog *w, int entry);

/* Ends the watchdog (it kills what is still registered), reaps it and
 * frees w's lock. Safe on one that did not start. */
void loom__watchdog_fini(struct loom__watchdog *w);

#endif /* LOOM_WATCHDOG_H */
