/* exec.h - running the tasks of one TASKS message.
 *
 * Used by the worker loop and, with a single rank, by the master itself. A
 * C task runs in this process; a shell task runs as `/bin/sh -c` in its own
 * process group with its output captured, and while it runs the executor
 * calls an idle hook about every millisecond, so the caller's MPI messages
 * keep moving (Open MPI here has no asynchronous progress).
 */
#ifndef LOOM_EXEC_H
#define LOOM_EXEC_H

#include <limits.h>

#include "internal.h"
#include "wire.h"

#define LOOM__ENV_SLOTS 5

struct loom__exec {
  struct loom *l;
  struct loom_task task; /* reused: its reply buffer grows once */

  char **envp;                              /* environ + our slots */
  char env[LOOM__ENV_SLOTS][PATH_MAX + 32]; /* LOOM_* values */
  char *cmd;                                /* NUL-terminated command */
  size_t cmd_cap;
  unsigned char shard_made[32]; /* out/XX directories already created */

  void (*idle)(void *arg);
  void *idle_arg;
  volatile int cancel; /* set on a stop: kill what runs, start nothing */
};

int loom__exec_init(struct loom__exec *x, struct loom *l);
void loom__exec_fini(struct loom__exec *x);

/* Runs every task of the TASKS message msg in order and appends one
 * completion per task to out (a DONE message the caller began).
 * Returns 0, LOOM_EPROTO (malformed message, unknown kind) or LOOM_ENOMEM. */
int loom__exec_batch(struct loom__exec *x, const void *msg, size_t len,
                     struct loom__buf *out);

/* Where a shell task's captured output goes: RUNDIR/out/XX/ID.ATTEMPT.EXT. */
int loom__exec_output_path(char *buf, size_t buflen, const char *run_dir,
                           uint64_t id, int attempt, const char *ext);

#endif /* LOOM_EXEC_H */
