/* watchdog.h - no task outlives its rank.
 *
 * A task's shell runs in a process group of its own, so a timeout or a
 * cancel kills its whole tree. But when the rank itself dies (kill -9, a
 * crash, mpirun ending the job), nobody is left to send that kill, and the
 * tasks would run on beside the ones a resume starts again. The watchdog
 * is a small process forked from the rank, in a session of its own so
 * that a signal to the rank's group does not reach it. The rank tells it,
 * through a pipe, the group of every task it starts and every task it
 * reaps. When the pipe ends, whichever way the rank ended, the watchdog
 * sends SIGTERM to every group still in flight, SIGKILL a second later,
 * and exits. A task's background children that outlive the task itself
 * are left alone, as they are in a normal run.
 * One watchdog serves every slot of a rank: the first shell task starts
 * it (loom__watchdog_ensure, under its lock), and each message is one
 * 8-byte pipe write, which the kernel never interleaves. The child calls
 * only async-signal-safe functions.
 */
#ifndef LOOM_WATCHDOG_H
#define LOOM_WATCHDOG_H

#include <pthread.h>
#include <sys/types.h>

struct loom__watchdog {
  pthread_mutex_t mu; /* held while it starts */
  int fd;             /* the pipe's write end; -1 before the start */
  pid_t pid;          /* the watchdog process */
};

/* Sets w up, not started. Returns 0 or LOOM_ESYS. */
int loom__watchdog_init(struct loom__watchdog *w);

/* Forks the watchdog unless it runs already. Any thread. Returns 0,
 * LOOM_ENOMEM or LOOM_ESYS. */
int loom__watchdog_ensure(struct loom__watchdog *w);

/* Process group pgid is in flight / was reaped. */
void loom__watchdog_add(struct loom__watchdog *w, pid_t pgid);
void loom__watchdog_remove(struct loom__watchdog *w, pid_t pgid);

/* Ends the watchdog (it kills what is still registered), reaps it and
 * frees w's lock. Safe on one that did not start. */
void loom__watchdog_fini(struct loom__watchdog *w);

#endif /* LOOM_WATCHDOG_H */
