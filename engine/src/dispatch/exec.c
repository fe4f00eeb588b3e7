/* exec.c - runs the tasks of a TASKS message (exec.h).
 *
 * Shell tasks: posix_spawn of /bin/sh -c in a new process group, stdin from
 * /dev/null, stdout/stderr through pipes into per-task files (created only
 * when there is output), to the terminal with a task prefix, or discarded.
 * The wait is a poll on a pidfd and the pipes that wakes at least every
 * TICK to heed a cancel and enforce the timeout (TERM to the whole group,
 * KILL two seconds later).
 */
#define _GNU_SOURCE /* pipe2, splice */
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

#include "dispatch/exec.h"
#include "state/state.h"

extern char **environ;

#define KILL_GRACE 2.0
#define TICK_MS 10

int loom__exec_output_path(char *buf, size_t buflen, const char *run_dir,
                           uint64_t id, int attempt, const char *ext) {
  int n = snprintf(buf, buflen, "%s/out/%02x/%016" PRIx64 ".%d.%s", run_dir,
                   (unsigned)(id >> 56), id, attempt, ext);
  return n < 0 || (size_t)n >= buflen ? LOOM_ETOOBIG : 0;
}

int loom__exec_init(struct loom__exec *x, struct loom *l,
                    struct loom__watchdog *watchdog) {
  size_t n = 0, k = 0;

  memset(x, 0, sizeof(*x));
  atomic_init(&x->cancel, 0);
  x->watchdog = watchdog;
  x->l = l;
  x->task.rank = l->rank;
  x->task.l = l;
  while (environ && environ[n])
    n++;
  x->envp = calloc(n + LOOM__ENV_SLOTS + 2, sizeof(char *));
  if (!x->envp)
    return LOOM_ENOMEM;
  /* Our own variables replace inherited ones (a loom inside a loom task). */
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "LOOM_", 5) != 0)
      x->envp[k++] = environ[i];
  for (int i = 0; i < 6; i++)
    x->envp[k++] = x->env[i];
  x->envp[k] = NULL;
  x->env_tail = k;
  snprintf(x->env[1], sizeof(x->env[1]), "LOOM_RANK=%d", l->rank);
  snprintf(x->env[2], sizeof(x->env[2]), "LOOM_NWORKERS=%d", l->nworkers);
  snprintf(x->env[3], sizeof(x->env[3]), "LOOM_RUN_DIR=%s",
           l->run_dir ? l->run_dir : "");
  return 0;
}

void loom__exec_place(struct loom__exec *x, const char *cpus,
                      const char *places, int threads) {
  size_t k = x->env_tail, n = strlen(cpus) + sizeof("LOOM_CPUS=");
  char *e = realloc(x->cpus_env, n);

  if (e) {
    x->cpus_env = e;
    snprintf(e, n, "LOOM_CPUS=%s", cpus);
    x->envp[k++] = e;
  }
  if (!getenv("OMP_NUM_THREADS")) {
    snprintf(x->env[6], sizeof(x->env[6]), "OMP_NUM_THREADS=%d", threads);
    x->envp[k++] = x->env[6];
  }
  if (!getenv("OMP_PLACES")) {
    snprintf(x->env[7], sizeof(x->env[7]), "OMP_PLACES=%s", places);
    x->envp[k++] = x->env[7];
  }
  if (!getenv("OMP_PROC_BIND")) {
    snprintf(x->env[8], sizeof(x->env[8]), "OMP_PROC_BIND=close");
    x->envp[k++] = x->env[8];
  }
  x->envp[k] = NULL;
}

void loom__exec_fini(struct loom__exec *x) {
  free(x->envp);
  free(x->cpus_env);
  free(x->cmd);
  free(x->words);
  free(x->task.reply);
  memset(x, 0, sizeof(*x));
}

int loom_task_reply(struct loom_task *task, const void *data, size_t len) {
  if (!task || (len > 0 && !data))
    return LOOM_EINVAL;
  if (len > LOOM_RESULT_MAX)
    return LOOM_ETOOBIG;
  if (len > task->reply_cap) {
    unsigned char *p = loom__array_grow(task->reply, &task->reply_cap, len, 1);
    if (!p)
      return LOOM_ENOMEM;
    task->reply = p;
  }
  if (len)
    memcpy(task->reply, data, len);
  task->reply_len = len;
  return 0;
}

uint64_t loom_task_id(const struct loom_task *task) {
  return task ? task->id : 0;
}

uint64_t loom_task_index(const struct loom_task *task) {
  return task ? task->index : 0;
}

int loom_task_rank(const struct loom_task *task) {
  return task ? task->rank : LOOM_EINVAL;
}

/* ---- shell tasks ------------------------------------------------------- */

/* Where one output stream of a running shell task goes. In files and
 * terminal mode the child writes into a pipe that the executor drains: a
 * file is created only when the first byte arrives (creating and removing
 * two empty files per task costs more than a `true` task itself on many
 * file systems), and data moves with splice(), never held in memory. */
struct sink {
  int rd;   /* pipe read end; -1 when the child writes to /dev/null */
  int file; /* files mode: the output file, once opened */
  int mode;
  int failed; /* the file could not be written: drain and drop */
  int err;    /* errno of that failure */
  FILE *term; /* terminal mode: stdout or stderr */
  char path[PATH_MAX];
  char buf[4096]; /* terminal mode: a partial line */
  size_t len;
};

static void term_flush(struct sink *k, uint64_t id, int all) {
  size_t start = 0;
  for (size_t i = 0; i < k->len; i++) {
    if (k->buf[i] == '\n') {
      fprintf(k->term, "[%016" PRIx64 "] %.*s\n", id, (int)(i - start),
              k->buf + start);
      start = i + 1;
    }
  }
  /* A full buffer without a newline goes out as a line of its own. */
  if (all || (start == 0 && k->len == sizeof(k->buf))) {
    if (start < k->len)
      fprintf(k->term, "[%016" PRIx64 "] %.*s\n", id, (int)(k->len - start),
              k->buf + start);
    start = k->len;
  }
  memmove(k->buf, k->buf + start, k->len - start);
  k->len -= start;
  fflush(k->term);
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

/* Sets up stream i (0 stdout, 1 stderr) of task t; *child gets the fd the
 * child writes to (the caller closes it after the spawn). */
static int sink_open(struct loom__exec *x, const struct loom__wire_task *t,
                     int i, struct sink *k, int *child) {
  static const char *ext[2] = {"out", "err"};
  int p[2];

  k->rd = k->file = *child = -1;
  k->mode = x->l->opt.output_mode;
  if (k->mode == LOOM_OUTPUT_FILES && !x->l->run_dir)
    k->mode = LOOM_OUTPUT_DISCARD;
  if (k->mode == LOOM_OUTPUT_DISCARD) {
    *child = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return *child < 0 ? LOOM_ESYS : 0;
  }
  if (k->mode == LOOM_OUTPUT_FILES &&
      loom__exec_output_path(k->path, sizeof(k->path), x->l->run_dir, t->id,
                             t->attempt, ext[i]) != 0)
    return LOOM_EIO;
  k->term = i == 0 ? stdout : stderr;
  if (pipe2(p, O_CLOEXEC) != 0)
    return LOOM_ESYS;
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  k->rd = p[0];
  *child = p[1];
  return 0;
}

/* The output file cannot take what the task writes: from now on the
 * stream is drained and dropped, and the attempt will say why. */
static void sink_fail(struct sink *k) {
  if (!k->failed)
    k->err = errno ? errno : EIO;
  k->failed = 1;
}

/* Moves what the pipe holds to the file. Returns 0 at EOF, 1 otherwise. */
static int pump_file(struct loom__exec *x, struct sink *k, uint64_t id) {
  char buf[65536];

  if (k->file < 0 && !k->failed) {
    /* Create the file only for real bytes: a pipe that is readable may
     * hold just the end of the stream. */
    ssize_t n = read(k->rd, buf, sizeof(buf));
    if (n == 0)
      return 0;
    if (n < 0)
      return errno == EAGAIN || errno == EINTR ? 1 : 0;
    if (shard_dir(x, id) == 0)
      k->file = open(k->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (k->file < 0 || loom__write_all(k->file, buf, (size_t)n) != 0)
      sink_fail(k);
  }
  for (;;) {
    ssize_t n = -1;
    if (!k->failed) {
      n = splice(k->rd, NULL, k->file, NULL, 1 << 20,
                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0)
        continue;
      if (n == 0)
        return 0;
      if (errno == EAGAIN)
        return 1;
    }
    /* splice() refused (a file system without it) or the file failed:
     * copy, or just drain so the task never blocks on a full pipe. */
    n = read(k->rd, buf, sizeof(buf));
    if (n == 0)
      return 0;
    if (n < 0)
      return errno == EAGAIN || errno == EINTR ? 1 : 0;
    if (!k->failed && loom__write_all(k->file, buf, (size_t)n) != 0)
      sink_fail(k);
  }
}

/* Drains stream k once. Returns 0 when it reached EOF (then closed). */
static int sink_pump(struct loom__exec *x, struct sink *k, uint64_t id) {
  int more;

  if (k->rd < 0)
    return 0;
  if (k->mode == LOOM_OUTPUT_FILES) {
    more = pump_file(x, k, id);
  } else {
    ssize_t n;
    more = 1;
    while ((n = read(k->rd, k->buf + k->len, sizeof(k->buf) - k->len)) > 0) {
      k->len += (size_t)n;
      term_flush(k, id, 0);
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR))
      more = 0;
  }
  if (!more) {
    close(k->rd);
    k->rd = -1;
  }
  return more;
}

static void sink_close(struct sink *k, uint64_t id) {
  if (k->mode == LOOM_OUTPUT_TERMINAL)
    term_flush(k, id, 1);
  if (k->rd >= 0)
    close(k->rd);
  /* A file system may report a failed write only here (NFS). */
  if (k->file >= 0 && close(k->file) != 0)
    sink_fail(k);
  k->rd = k->file = -1;
}

/* Plain commands (exec.h: loom__exec_plain) run without a shell. */
static int plain_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("_-./,:+@%", c) != NULL);
}

static int shell_word(const char *w) {
  static const char *const words[] = {
      "!",       ".",       ":",        "[",       "alias",    "bg",
      "break",   "case",    "cd",       "declare", "let",      "source",
      "typeset", "command", "continue", "do",      "done",     "echo",
      "elif",    "else",    "esac",     "eval",    "exec",     "exit",
      "export",  "fc",      "fg",       "fi",      "for",      "function",
      "getopts", "hash",    "if",       "in",      "jobs",     "kill",
      "local",   "printf",  "pwd",      "read",    "readonly", "return",
      "select",  "set",     "shift",    "test",    "then",     "time",
      "times",   "trap",    "type",     "ulimit",  "umask",    "unalias",
      "unset",   "until",   "wait",     "while"};
  for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
    if (strcmp(w, words[i]) == 0)
      return 1;
  return 0;
}

int loom__exec_plain(const char *cmd, char *words, char **argv) {
  size_t n = strlen(cmd);
  char *p;
  int k = 0;

  for (size_t i = 0; i < n; i++)
    if (!plain_char((unsigned char)cmd[i]) && cmd[i] != ' ' && cmd[i] != '\t')
      return 0;
  memcpy(words, cmd, n + 1);
  for (p = words; *p;) {
    while (*p == ' ' || *p == '\t')
      *p++ = '\0';
    if (!*p)
      break;
    if (k == LOOM__PLAIN_WORDS)
      return 0;
    argv[k++] = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
  }
  argv[k] = NULL;
  return k > 0 && !shell_word(argv[0]) ? k : 0;
}

/* The plain command of x cut into argv, in x->words: its word count, or 0
 * (it needs a shell, or memory ran out: the shell then runs it). */
static int plain_argv(struct loom__exec *x, char **argv) {
  char *w = loom__array_grow(x->words, &x->words_cap, strlen(x->cmd) + 1, 1);
  if (!w)
    return 0;
  x->words = w;
  return loom__exec_plain(x->cmd, w, argv);
}

static int spawn(struct loom__exec *x, int out[2], pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  char *argv[] = {"sh", "-c", x->cmd, NULL};
  char *plain[LOOM__PLAIN_WORDS + 1];
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
  /* Nothing else of ours or of MPI's reaches the task: an inherited
   * socket or the journal's file would outlive the task in its children
   * (and keep Open MPI's daemon from noticing that this rank exited). */
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  /* Own process group (a timeout kills the whole tree), default signal
   * handling and an empty mask whatever MPI installed in this process. */
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  /* A plain command that cannot be run as it is (not found, not
   * executable, a script without #!) goes to the shell all the same, which
   * says so as it always does (exit 127 or 126) or runs the script. */
  rc = plain_argv(x, plain) > 0
           ? posix_spawnp(pid, plain[0], &fa, &attr, plain, x->envp)
           : -1;
  if (rc != 0)
    rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, x->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

/* Waits for pid while draining its output, enforcing the timeout and
 * heeding a cancel. Fills the exit fields of d. */
static void wait_child(struct loom__exec *x, pid_t pid, double timeout,
                       double t0, struct sink k[2], uint64_t id,
                       struct loom__wire_done *d) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int status = 0, termed = 0;
  double kill_at = 0;

  for (;;) {
    struct pollfd p[3];
    int np = 0;
    pid_t w;

    if (pidfd >= 0)
      p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    for (int i = 0; i < 2; i++)
      if (k[i].rd >= 0)
        p[np++] = (struct pollfd){.fd = k[i].rd, .events = POLLIN};
    if (poll(p, (nfds_t)np, TICK_MS) > 0)
      for (int i = 0; i < 2; i++)
        sink_pump(x, &k[i], id);
    w = waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR))
      break;
    if (timeout > 0 || atomic_load(&x->cancel) || termed) {
      double now = loom__now();
      int late = timeout > 0 && now - t0 > timeout;
      int cancel = atomic_load(&x->cancel);
      if (!termed && (late || cancel)) {
        kill(-pid, SIGTERM);
        termed = 1;
        kill_at = now + KILL_GRACE;
        d->flags |= late ? LOOM__DONE_TIMEOUT : LOOM__DONE_CANCEL;
      } else if (termed == 1 && now > kill_at) {
        kill(-pid, SIGKILL);
        termed = 2;
      }
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  /* The shell is gone. Take what its pipes hold; a background child that
   * still holds them open is not waited for. */
  for (int i = 0; i < 2; i++)
    sink_pump(x, &k[i], id);
  if (WIFSIGNALED(status)) {
    d->sig = WTERMSIG(status);
    d->exit_code = 128 + d->sig;
  } else {
    d->exit_code = WEXITSTATUS(status);
  }
}

void loom__exec_shell(struct loom__exec *x, const struct loom__wire_task *t,
                      struct loom__wire_done *d) {
  struct sink k[2];
  int child[2] = {-1, -1}, rc = 0;
  pid_t pid;
  double t0 = loom__now();

  d->start = loom__wall();
  memset(k, 0, sizeof(k));
  k[0].rd = k[0].file = k[1].rd = k[1].file = -1;
  {
    char *p = loom__array_grow(x->cmd, &x->cmd_cap, (size_t)t->len + 1, 1);
    if (!p) {
      rc = LOOM_ENOMEM;
      goto out;
    }
    x->cmd = p;
  }
  memcpy(x->cmd, t->payload, t->len);
  x->cmd[t->len] = '\0';
  snprintf(x->env[0], sizeof(x->env[0]), "LOOM_TASK_ID=%016" PRIx64, t->id);
  snprintf(x->env[4], sizeof(x->env[4]), "LOOM_ATTEMPT=%d", t->attempt);
  snprintf(x->env[5], sizeof(x->env[5]), "LOOM_STATE_SOCKET=%s",
           loom__state_socket(x->l->state));

  /* Started once, for the first shell task: a run of C tasks needs none. */
  rc = loom__watchdog_ensure(x->watchdog);
  for (int i = 0; rc == 0 && i < 2; i++)
    rc = sink_open(x, t, i, &k[i], &child[i]);
  if (rc == 0)
    rc = spawn(x, child, &pid) == 0 ? 0 : LOOM_ESYS;
  /* The child holds its own copies: the pipes see EOF when it is done. */
  for (int i = 0; i < 2; i++)
    if (child[i] >= 0)
      close(child[i]);
  if (rc == 0) {
    int entry = loom__watchdog_add(x->watchdog, pid); /* setpgroup 0 */
    wait_child(x, pid, t->timeout, t0, k, t->id, d);
    loom__watchdog_remove(x->watchdog, entry);
  }
out:
  for (int i = 0; i < 2; i++) {
    sink_close(&k[i], t->id);
    /* Never ok with its output lost: the record says which file and why,
     * and the master stops the run (a full disk). */
    if (k[i].failed && !(d->flags & LOOM__DONE_OUTPUT)) {
      d->flags |= LOOM__DONE_OUTPUT;
      snprintf(x->why, sizeof(x->why), "cannot write %s: %s", k[i].path,
               strerror(k[i].err));
      d->data = x->why;
      d->len = (uint32_t)strlen(x->why);
    }
  }
  if (rc != 0) {
    d->exit_code = 127;
    d->flags |= LOOM__DONE_SPAWN;
  }
  d->elapsed = loom__now() - t0;
}

/* ---- C tasks ------------------------------------------------------------ */

int loom__exec_c(struct loom__exec *x, const struct loom__kind *k,
                 const struct loom__wire_task *t) {
  int rc;
  x->task.id = t->id;
  x->task.index = t->index;
  x->task.reply_len = 0;
  rc = k->fn(&x->task, t->payload, t->len, k->arg);
  return rc == 0 ? 0 : (rc >= 1 && rc <= 255 ? rc : 1);
}
