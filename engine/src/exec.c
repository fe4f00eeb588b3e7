/* exec.c - runs the tasks of a TASKS message (exec.h).
 *
 * Shell tasks: posix_spawn of /bin/sh -c in a new process group, stdin from
 * /dev/null, stdout/stderr to per-task files (empty ones removed), to the
 * terminal with a task prefix, or discarded. The wait is a poll on a pidfd
 * with a 1 ms tick that calls the idle hook and enforces the timeout (TERM to
 * the whole group, KILL two seconds later).
 * Timing: tasks are timed one by one, except that when the first task of a
 * batch takes under 2 us the rest are timed together and share the mean:
 * two clock reads cost more than such a task.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"

extern char **environ;

#define TINY_TASK 2e-6
#define KILL_GRACE 2.0

int loom__exec_output_path(char *buf, size_t buflen, const char *run_dir,
                           uint64_t id, int attempt, const char *ext) {
  int n = snprintf(buf, buflen, "%s/out/%02x/%016" PRIx64 ".%d.%s", run_dir,
                   (unsigned)(id >> 56), id, attempt, ext);
  return n < 0 || (size_t)n >= buflen ? LOOM_ETOOBIG : 0;
}

int loom__exec_init(struct loom__exec *x, struct loom *l) {
  size_t n = 0, k = 0;

  memset(x, 0, sizeof(*x));
  x->l = l;
  x->task.rank = l->rank;
  while (environ && environ[n])
    n++;
  x->envp = calloc(n + LOOM__ENV_SLOTS + 1, sizeof(char *));
  if (!x->envp)
    return LOOM_ENOMEM;
  /* Our own variables replace inherited ones (a loom inside a loom task). */
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LOOM_", 5) != 0)
      x->envp[k++] = environ[i];
  for (int i = 0; i < LOOM__ENV_SLOTS; i++)
    x->envp[k++] = x->env[i];
  x->envp[k] = NULL;
  snprintf(x->env[1], sizeof(x->env[1]), "LOOM_RANK=%d", l->rank);
  snprintf(x->env[2], sizeof(x->env[2]), "LOOM_NWORKERS=%d", l->nworkers);
  snprintf(x->env[3], sizeof(x->env[3]), "LOOM_RUN_DIR=%s",
           l->run_dir ? l->run_dir : "");
  return 0;
}

void loom__exec_fini(struct loom__exec *x) {
  free(x->envp);
  free(x->cmd);
  free(x->task.reply);
  memset(x, 0, sizeof(*x));
}

int loom_task_reply(struct loom_task *task, const void *data, size_t len) {
  if (!task || (len > 0 && !data))
    return LOOM_EINVAL;
  if (len > LOOM_RESULT_MAX)
    return LOOM_ETOOBIG;
  if (len > task->reply_cap) {
    unsigned char *p = realloc(task->reply, len);
    if (!p)
      return LOOM_ENOMEM;
    task->reply = p;
    task->reply_cap = len;
  }
  if (len)
    memcpy(task->reply, data, len);
  task->reply_len = len;
  return 0;
}

uint64_t loom_task_id(const struct loom_task *task) { return task->id; }

int loom_task_rank(const struct loom_task *task) { return task->rank; }

/* ---- shell tasks ------------------------------------------------------- */

/* Forwards complete lines from fd to out with a "[id] " prefix. */
struct linebuf {
  int fd;
  FILE *out;
  char buf[4096];
  size_t len;
};

static void lines_flush(struct linebuf *lb, uint64_t id, int all) {
  size_t start = 0;
  for (size_t i = 0; i < lb->len; i++) {
    if (lb->buf[i] == '\n') {
      fprintf(lb->out, "[%016" PRIx64 "] %.*s\n", id, (int)(i - start),
              lb->buf + start);
      start = i + 1;
    }
  }
  if (all || (start == 0 && lb->len == sizeof(lb->buf))) {
    if (start < lb->len)
      fprintf(lb->out, "[%016" PRIx64 "] %.*s\n", id, (int)(lb->len - start),
              lb->buf + start);
    start = lb->len;
  }
  memmove(lb->buf, lb->buf + start, lb->len - start);
  lb->len -= start;
  fflush(lb->out);
}

/* Reads what is there; returns 0 at EOF or error (fd then closed). */
static int lines_read(struct linebuf *lb, uint64_t id) {
  ssize_t n = read(lb->fd, lb->buf + lb->len, sizeof(lb->buf) - lb->len);
  if (n > 0) {
    lb->len += (size_t)n;
    lines_flush(lb, id, 0);
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return 1;
  lines_flush(lb, id, 1);
  close(lb->fd);
  lb->fd = -1;
  return 0;
}

static int shard_dir(struct loom__exec *x, uint64_t id) {
  unsigned s = (unsigned)(id >> 56);
  char path[PATH_MAX];

  if (x->shard_made[s / 8] & (1u << (s % 8)))
    return 0;
  snprintf(path, sizeof(path), "%s/out/%02x", x->l->run_dir, s);
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return LOOM_EIO;
  x->shard_made[s / 8] |= (unsigned char)(1u << (s % 8));
  return 0;
}

/* Opens the task's two output destinations. fds[2] are pipe read ends in
 * terminal mode, else -1. */
static int open_outputs(struct loom__exec *x, const struct loom__wire_task *t,
                        int out[2], int rd[2], char paths[2][PATH_MAX]) {
  static const char *ext[2] = {"out", "err"};
  int mode = x->l->opt.output_mode;

  out[0] = out[1] = rd[0] = rd[1] = -1;
  paths[0][0] = paths[1][0] = '\0';
  for (int i = 0; i < 2; i++) {
    if (mode == LOOM_OUTPUT_FILES && x->l->run_dir) {
      if (shard_dir(x, t->id) != 0 ||
          loom__exec_output_path(paths[i], PATH_MAX, x->l->run_dir, t->id,
                                 t->attempt, ext[i]) != 0)
        return LOOM_EIO;
      out[i] = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    } else if (mode == LOOM_OUTPUT_TERMINAL) {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0)
        return LOOM_ESYS;
      rd[i] = p[0];
      out[i] = p[1];
      fcntl(rd[i], F_SETFL, O_NONBLOCK);
    } else {
      out[i] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (out[i] < 0)
      return LOOM_EIO;
  }
  return 0;
}

static int spawn(struct loom__exec *x, int out[2], pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  char *argv[] = {"sh", "-c", x->cmd, NULL};
  int rc;

  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[0], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  /* Own process group (a timeout kills the whole tree), default signal
   * handling and an empty mask whatever MPI installed in this process. */
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, x->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

/* Waits for pid, forwarding terminal output, ticking the idle hook and
 * enforcing the timeout. Fills the exit fields of d. */
static void wait_child(struct loom__exec *x, pid_t pid, double timeout,
                       double t0, struct linebuf lb[2], uint64_t id,
                       struct loom__wire_done *d) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int status = 0, termed = 0;
  double kill_at = 0;

  for (;;) {
    struct pollfd p[3];
    int np = 0, r;
    pid_t w;

    if (pidfd >= 0)
      p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    for (int i = 0; i < 2; i++)
      if (lb[i].fd >= 0)
        p[np++] = (struct pollfd){.fd = lb[i].fd, .events = POLLIN};
    r = poll(p, (nfds_t)np, 1);
    for (int i = 0; r > 0 && i < 2; i++)
      if (lb[i].fd >= 0)
        lines_read(&lb[i], id);
    w = waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR))
      break;
    if (x->idle)
      x->idle(x->idle_arg);
    if (timeout > 0) {
      double now = loom__now();
      if (!termed && now - t0 > timeout) {
        kill(-pid, SIGTERM);
        termed = 1;
        kill_at = now + KILL_GRACE;
        d->flags |= LOOM__DONE_TIMEOUT;
      } else if (termed == 1 && now > kill_at) {
        kill(-pid, SIGKILL);
        termed = 2;
      }
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  /* The shell is gone; a background child may still hold the pipes open,
   * so take what is buffered and stop listening. */
  for (int i = 0; i < 2; i++)
    while (lb[i].fd >= 0 && lines_read(&lb[i], id) == 1 && lb[i].len > 0)
      ;
  for (int i = 0; i < 2; i++)
    if (lb[i].fd >= 0) {
      lines_flush(&lb[i], id, 1);
      close(lb[i].fd);
      lb[i].fd = -1;
    }
  if (WIFSIGNALED(status)) {
    d->sig = WTERMSIG(status);
    d->exit_code = 128 + d->sig;
  } else {
    d->exit_code = WEXITSTATUS(status);
  }
}

static void run_shell(struct loom__exec *x, const struct loom__wire_task *t,
                      struct loom__wire_done *d) {
  int out[2], rd[2], rc;
  char paths[2][PATH_MAX];
  struct linebuf lb[2] = {{.fd = -1, .out = stdout}, {.fd = -1, .out = stderr}};
  pid_t pid;
  double t0 = loom__now();

  d->start = loom__wall();
  if ((size_t)t->len + 1 > x->cmd_cap) {
    char *p = realloc(x->cmd, (size_t)t->len + 1);
    if (!p)
      goto spawn_failed;
    x->cmd = p;
    x->cmd_cap = (size_t)t->len + 1;
  }
  memcpy(x->cmd, t->payload, t->len);
  x->cmd[t->len] = '\0';
  snprintf(x->env[0], sizeof(x->env[0]), "LOOM_TASK_ID=%016" PRIx64, t->id);
  snprintf(x->env[4], sizeof(x->env[4]), "LOOM_ATTEMPT=%d", t->attempt);

  rc = open_outputs(x, t, out, rd, paths);
  if (rc == 0)
    rc = spawn(x, out, &pid);
  for (int i = 0; i < 2; i++) {
    lb[i].fd = rd[i];
    if (out[i] >= 0 && rc != 0)
      close(out[i]);
  }
  if (rc != 0) {
    for (int i = 0; i < 2; i++)
      if (rd[i] >= 0)
        close(rd[i]);
    goto spawn_failed;
  }
  /* The child holds its own copies; pipes must see EOF when it exits. */
  for (int i = 0; i < 2; i++)
    if (rd[i] >= 0) {
      close(out[i]);
      out[i] = -1;
    }
  wait_child(x, pid, t->timeout, t0, lb, t->id, d);
  for (int i = 0; i < 2; i++) {
    struct stat st;
    if (out[i] < 0)
      continue;
    if (paths[i][0] && fstat(out[i], &st) == 0 && st.st_size == 0)
      unlink(paths[i]);
    close(out[i]);
  }
  d->elapsed = loom__now() - t0;
  return;

spawn_failed:
  d->exit_code = 127;
  d->flags |= LOOM__DONE_SPAWN;
  d->elapsed = loom__now() - t0;
}

/* ---- the batch ---------------------------------------------------------- */

static int run_c(struct loom__exec *x, const struct loom__kind *k,
                 const struct loom__wire_task *t) {
  int rc;
  x->task.id = t->id;
  x->task.reply_len = 0;
  rc = k->fn(&x->task, t->payload, t->len, k->arg);
  return rc == 0 ? 0 : (rc >= 1 && rc <= 255 ? rc : 1);
}

/* Tasks timed as a group: records from offset `from` of out, started at
 * monotonic time t0 (wall time w0 + t0 - m0). */
struct group {
  int on;
  size_t from;
  uint32_t n;
  double t0;
};

static void group_close(struct group *g, struct loom__buf *out, double w0,
                        double m0) {
  double now = loom__now();
  if (g->on && g->n > 0)
    loom__wire_done_set_times(out, g->from, w0 + (g->t0 - m0),
                              (now - g->t0) / g->n);
  g->on = 0;
  g->n = 0;
}

int loom__exec_batch(struct loom__exec *x, const void *msg, size_t len,
                     struct loom__buf *out) {
  struct loom__reader r;
  struct loom__wire_task t;
  struct loom__wire_done d;
  struct group g = {0};
  int rc, got;
  uint32_t ntasks;
  double w0 = loom__wall(), m0 = loom__now();

  rc = loom__wire_open(&r, msg, len);
  if (rc != 0)
    return rc;
  ntasks = r.left;
  for (uint32_t i = 0; (got = loom__wire_get_task(&r, &t)) == 1; i++) {
    const struct loom__kind *k;

    if (t.kind >= x->l->nkinds)
      return LOOM_EPROTO;
    k = &x->l->kinds[t.kind];
    memset(&d, 0, sizeof(d));
    d.slot = t.slot;
    if (!k->fn) {
      group_close(&g, out, w0, m0);
      run_shell(x, &t, &d);
    } else if (g.on) {
      d.exit_code = run_c(x, k, &t);
      g.n++;
    } else {
      double ta = loom__now(), tb;
      d.exit_code = run_c(x, k, &t);
      tb = loom__now();
      d.start = w0 + (ta - m0);
      d.elapsed = tb - ta;
      if (i == 0 && d.elapsed < TINY_TASK && ntasks > 2) {
        g.on = 1;
        g.t0 = tb;
      }
    }
    if (k->fn && x->task.reply_len) {
      d.data = x->task.reply;
      d.len = (uint32_t)x->task.reply_len;
    }
    rc = loom__wire_put_done(out, &d);
    if (rc != 0)
      return rc;
    if (g.on && g.n == 0)
      g.from = out->len;
  }
  group_close(&g, out, w0, m0);
  return got < 0 ? got : 0;
}
