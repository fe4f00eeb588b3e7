/* watchdog.c - the process that kills a dead rank's tasks (watchdog.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dispatch/watchdog.h"
#include "loom.h"

#define GROUPS_MAX 65536 /* tasks in flight on one rank, far above slots */

struct msg {
  int32_t op; /* +1 add, -1 remove */
  int32_t pgid;
};

static void close_all_but(int keep) {
  /* close_range() where the kernel has it (5.9+), else one by one. */
  if (syscall(SYS_close_range, 0, keep - 1, 0) != 0 ||
      syscall(SYS_close_range, keep + 1, ~0U, 0) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = 0; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
      if (fd != keep)
        close(fd);
  }
}

/* The child: never returns. Only async-signal-safe calls: the rank may have
 * had other threads (MPI's) holding locks when it forked. groups was
 * allocated before the fork. */
static void watch(int rd, int32_t *groups) {
  static const int ignored[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
                                SIGUSR1, SIGUSR2, SIGPIPE};
  struct sigaction sa;
  sigset_t none;
  struct timespec second = {1, 0};
  size_t n = 0;

  setsid(); /* out of the rank's process group and session */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  sa.sa_handler = SIG_IGN;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    sigaction(ignored[i], &sa, NULL);
  close_all_but(rd);
  for (;;) {
    struct msg m;
    ssize_t r = read(rd, &m, sizeof(m));
    if (r < 0 && errno == EINTR)
      continue;
    if (r != (ssize_t)sizeof(m))
      break; /* the rank is gone (or misbehaved): act */
    if (m.op > 0 && n < GROUPS_MAX) {
      groups[n++] = m.pgid;
    } else if (m.op < 0) {
      for (size_t i = 0; i < n; i++)
        if (groups[i] == m.pgid) {
          groups[i] = groups[--n];
          break;
        }
    }
  }
  for (size_t i = 0; i < n; i++)
    kill(-groups[i], SIGTERM);
  if (n > 0)
    nanosleep(&second, NULL);
  for (size_t i = 0; i < n; i++)
    kill(-groups[i], SIGKILL);
  _exit(0);
}

int loom__watchdog_init(struct loom__watchdog *w) {
  w->fd = -1;
  w->pid = -1;
  return pthread_mutex_init(&w->mu, NULL) == 0 ? 0 : LOOM_ESYS;
}

/* Forks the watchdog. Under w->mu. */
static int start(struct loom__watchdog *w) {
  int32_t *groups = malloc(GROUPS_MAX * sizeof(*groups));
  int p[2];

  if (!groups)
    return LOOM_ENOMEM;
  if (pipe2(p, O_CLOEXEC) != 0) {
    free(groups);
    return LOOM_ESYS;
  }
  w->pid = fork();
  if (w->pid == 0)
    watch(p[0], groups);
  free(groups);
  close(p[0]);
  if (w->pid < 0) {
    close(p[1]);
    return LOOM_ESYS;
  }
  w->fd = p[1];
  return 0;
}

int loom__watchdog_ensure(struct loom__watchdog *w) {
  int rc = 0;

  pthread_mutex_lock(&w->mu);
  if (w->pid < 0)
    rc = start(w);
  pthread_mutex_unlock(&w->mu);
  return rc;
}

static void tell(struct loom__watchdog *w, int32_t op, pid_t pgid) {
  struct msg m = {op, (int32_t)pgid};
  if (w->fd < 0)
    return;
  /* 8 bytes: a pipe write of this size is atomic and, with the watchdog
   * reading, never blocks for long. */
  while (write(w->fd, &m, sizeof(m)) < 0 && errno == EINTR)
    ;
}

void loom__watchdog_add(struct loom__watchdog *w, pid_t pgid) {
  tell(w, 1, pgid);
}

void loom__watchdog_remove(struct loom__watchdog *w, pid_t pgid) {
  tell(w, -1, pgid);
}

void loom__watchdog_fini(struct loom__watchdog *w) {
  if (w->fd >= 0)
    close(w->fd);
  if (w->pid > 0)
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  w->fd = -1;
  w->pid = -1;
  pthread_mutex_destroy(&w->mu);
}
