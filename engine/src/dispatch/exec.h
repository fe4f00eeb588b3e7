/* exec.h - running the tasks of one TASKS message.
 *
 * Called on the executor thread (executor.h), never on the thread that owns
 * MPI: a task may take as long as it likes. A C task runs in this thread; a
 * shell task runs as `/bin/sh -c` in its own process group with its output
 * captured, and this thread waits for it.
 */
#ifndef LOOM_EXEC_H
#define LOOM_EXEC_H

#include <limits.h>
#include <stdatomic.h>

#include "dispatch/engine.h"
#include "dispatch/watchdog.h"
#include "dispatch/wire.h"

#define LOOM__ENV_SLOTS 9 /* 6 always, 3 for a pinned task (OMP_*) */

struct loom__exec {
  struct loom *l;
  struct loom_task task; /* reused: its reply buffer grows once */

  char **envp;     /* environ + our slots */
  size_t env_tail; /* envp index after slot 5 */
  char *cpus_env;  /* "LOOM_CPUS=..." of a pinned task (any length) */
  char env[LOOM__ENV_SLOTS][PATH_MAX + 32]; /* LOOM_* values */
  char *cmd;                                /* NUL-terminated command */
  size_t cmd_cap;
  char *words; /* a plain command cut into words (exec.c: plain_argv) */
  size_t words_cap;
  unsigned char shard_made[32]; /* out/XX directories already created */

  atomic_int cancel; /* set on a stop (by the loop thread): kill what runs */
  struct loom__watchdog *watchdog; /* the rank's, shared by its slots */
  char why[PATH_MAX + 96];         /* why a task's output was lost */
};

/* Sets x up for engine l; its shell tasks register with watchdog, which
 * the first of them starts. Returns 0 or LOOM_ENOMEM. */
int loom__exec_init(struct loom__exec *x, struct loom *l,
                    struct loom__watchdog *watchdog);

/* Where the tasks of x run from now on: LOOM_CPUS=cpus for every task,
 * and OMP_NUM_THREADS=threads, OMP_PLACES=places, OMP_PROC_BIND=close
 * each unless the user's environment sets it. */
void loom__exec_place(struct loom__exec *x, const char *cpus,
                      const char *places, int threads);
void loom__exec_fini(struct loom__exec *x);

/* Runs shell task t to its end, its timeout or a cancel, capturing its
 * output; fills d's exit code, signal, flags, start and elapsed. */
void loom__exec_shell(struct loom__exec *x, const struct loom__wire_task *t,
                      struct loom__wire_done *d);

/* Runs C task t of kind k in this thread and returns its exit code (0-255);
 * its reply, if any, is in x->task. */
int loom__exec_c(struct loom__exec *x, const struct loom__kind *k,
                 const struct loom__wire_task *t);

/* A command with nothing for a shell to do runs without one, as xargs
 * would run it, saving a shell's start per task. Plain means: words of
 * letters, digits and _-./,:+@% only, split by spaces or tabs, at most
 * LOOM__PLAIN_WORDS of them, the first not a word the shell itself handles
 * (its keywords and builtins, echo and printf included, whose options
 * differ from the programs'; true and false behave the same either way).
 * Anything else (quotes, $, globs, redirections, pipes, ;, &, ~, =, #, a
 * backslash, a newline) goes to /bin/sh -c, and so does a plain command
 * that cannot be started as it is (not found, not executable, a script
 * without #!): the shell says so as always (exit 127, 126) or runs it.
 * loom__exec_plain cuts cmd into argv (NULL-terminated; words is a buffer
 * of strlen(cmd) + 1 bytes that the words point into) and returns the
 * number of words, or 0 when cmd needs a shell. */
#define LOOM__PLAIN_WORDS 64
int loom__exec_plain(const char *cmd, char *words, char **argv);

/* Where a shell task's captured output goes: RUNDIR/out/XX/ID.ATTEMPT.EXT. */
int loom__exec_output_path(char *buf, size_t buflen, const char *run_dir,
                           uint64_t id, int attempt, const char *ext);

#endif /* LOOM_EXEC_H */
