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
#include "dispatch/wire.h"

#define LOOM__ENV_SLOTS 5

struct loom__exec {
  struct loom *l;
  struct loom_task task; /* reused: its reply buffer grows once */

  char **envp;                              /* environ + our slots */
  char env[LOOM__ENV_SLOTS][PATH_MAX + 32]; /* LOOM_* values */
  char *cmd;                                /* NUL-terminated command */
  size_t cmd_cap;
  unsigned char shard_made[32]; /* out/XX directories already created */

  atomic_int cancel; /* set on a stop (by the loop thread): kill what runs,
                        start nothing */
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
