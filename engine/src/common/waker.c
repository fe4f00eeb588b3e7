/* waker.c - an eventfd that wakes a waiting loop thread (waker.h). */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/waker.h"
#include "loom.h"

int loom__waker_init(struct loom__waker *w) {
  w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return w->fd < 0 ? LOOM_ESYS : 0;
}

void loom__waker_fini(struct loom__waker *w) {
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
}

void loom__waker_poke(struct loom__waker *w) {
  uint64_t one = 1;
  /* A full counter (never, in practice) still wakes the reader. */
  while (write(w->fd, &one, sizeof(one)) < 0 && errno == EINTR)
    ;
}

int loom__waker_wait(struct loom__waker *w, double timeout) {
  struct pollfd p = {.fd = w->fd, .events = POLLIN};
  struct timespec ts;
  uint64_t v;

  if (timeout < 0)
    timeout = 0;
  ts.tv_sec = (time_t)timeout;
  ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
  if (ppoll(&p, 1, &ts, NULL) <= 0)
    return 0;
  return read(w->fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}
