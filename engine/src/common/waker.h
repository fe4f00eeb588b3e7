/* waker.h - how other threads wake a loop thread that waits.
 *
 * A loop thread (the one that owns MPI) sleeps in loom__waker_wait() with a
 * timeout; any thread that hands it something (an executor with a finished
 * batch, later a task with a state-table request) calls loom__waker_poke().
 * An eventfd: a poke before the wait is not lost, many pokes wake once.
 */
#ifndef LOOM_WAKER_H
#define LOOM_WAKER_H

struct loom__waker {
  int fd;
};

/* Returns 0 or LOOM_ESYS. */
int loom__waker_init(struct loom__waker *w);
void loom__waker_fini(struct loom__waker *w);

/* Wakes the waiting thread, or the next wait. Any thread; async-signal-safe. */
void loom__waker_poke(struct loom__waker *w);

/* Waits until poked or until timeout seconds have passed (0: just
 * checks). Returns 1 when it was poked (the poke is consumed), else 0. */
int loom__waker_wait(struct loom__waker *w, double timeout);

#endif /* LOOM_WAKER_H */
