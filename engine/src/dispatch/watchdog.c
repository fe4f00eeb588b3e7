/* watchdog.c - the process that kills a dead rank's tasks (watchdog.h). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dispatch/watchdog.h"
#include "loom.h"

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

/* Signals every group still in the table. Returns how many. */
static size_t kill_all(_Atomic int32_t *groups, int sig) {
  size_t n = 0;
  for (size_t i = 0; i < LOOM__WATCHDOG_MAX; i++) {
    int32_t g = atomic_load(&groups[i]);
    if (g > 0) {
      kill(-g, sig);
      n++;
    }
  }
  return n;
}

/* The child: never returns. Only async-signal-safe calls: the rank may have
 * had other threads (MPI's) holding locks when it forked. */
static void watch(int rd, _Atomic int32_t *groups) {
  static const int ignored[] = {SIGINT,  SIGTERM, SIGHUP, SIGQUIT,
                                SIGUSR1, SIGUSR2, SIGPIPE};
  struct sigaction sa;
  sigset_t none;
  struct timespec second = {1, 0};
  char c;

  setsid(); /* out of the rank's process group and session */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  sa.sa_handler = SIG_IGN;
  sa.sa_flags = 0;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    sigaction(ignored[i], &sa, NULL);
  close_all_but(rd);
  /* Nothing is ever written: the read ends when the rank is gone. */
  while (read(rd, &c, 1) < 0 && errno == EINTR)
    ;
  if (kill_all(groups, SIGTERM) > 0) {
    nanosleep(&second, NULL);
    kill_all(groups, SIGKILL);
  }
  _exit(0);
}

int loom__watchdog_init(struct loom__watchdog *w) {
  w->fd = -1;
  w->pid = -1;
  w->groups = NULL;
  atomic_init(&w->next, 0);
  return pthread_mutex_init(&w->mu, NULL) == 0 ? 0 : LOOM_ESYS;
}

/* Maps the table and forks the watchdog. Under w->mu. */
static int start(struct loom__watchdog *w) {
  size_t size = LOOM__WATCHDOG_MAX * sizeof(*w->groups);
  void *groups = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  int p[2];

  if (groups == MAP_FAILED)
    return LOOM_ENOMEM;
  if (pipe2(p, O_CLOEXEC) != 0) {
    munmap(groups, size);
    return LOOM_ESYS;
  }
  w->pid = fork();
  if (w->pid == 0)
    watch(p[0], groups);
  close(p[0]);
  if (w->pid < 0) {
    close(p[1]);
    munmap(groups, size);
    return LOOM_ESYS;
  }
  w->fd = p[1];
  w->groups = groups;
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

int loom__watchdog_add(struct loom__watchdog *w, pid_t pgid) {
  unsigned from = atomic_fetch_add(&w->next, 1);

  if (!w->groups || pgid <= 0)
    return -1;
  for (unsigned k = 0; k < LOOM__WATCHDOG_MAX; k++) {
    int i = (int)((from + k) % LOOM__WATCHDOG_MAX);
    int32_t free_entry = 0;
    if (atomic_compare_exchange_strong(&w->groups[i], &free_entry,
                                       (int32_t)pgid))
      return i;
  }
  return -1;
}

void loom__watchdog_remove(struct loom__watchdog *w, int entry) {
  if (w->groups && entry >= 0 && entry < LOOM__WATCHDOG_MAX)
    atomic_store(&w->groups[entry], 0);
}

void loom__watchdog_fini(struct loom__watchdog *w) {
  if (w->fd >= 0)
    close(w->fd);
  if (w->pid > 0)
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  if (w->groups)
    munmap((void *)w->groups, LOOM__WATCHDOG_MAX * sizeof(*w->groups));
  w->groups = NULL;
  w->fd = -1;
  w->pid = -1;
  pthread_mutex_destroy(&w->mu);
}
