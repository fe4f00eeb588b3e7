/* engine.h - the engine object that the dispatch layer shares.
 *
 * struct loom is the engine: its communicator, options, the registry of task
 * kinds and the master's submit queue. Names shared between files are
 * loom__<noun>_<verb>; this header holds the ones that are not owned by a
 * module with a header of its own (wire.h, policy.h, exec.h, ...).
 */
#ifndef LOOM_ENGINE_H
#define LOOM_ENGINE_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"
#include "hw/topo.h"
#include "loom.h"

#define LOOM__KIND_NAME_MAX 64
#define LOOM__HOST_MAX 64

struct loom__kind {
  char name[LOOM__KIND_NAME_MAX];
  loom_task_fn fn; /* NULL for the built-in shell kind */
  void *arg;
  unsigned flags; /* LOOM_KIND_THREAD_SAFE */
};

struct loom__subq;   /* the loom_submit() queue (engine.c) */
struct loom__state;  /* the state table (state/state.h) */
struct loom__placer; /* task placement (hw/place.h) */

struct loom {
  MPI_Comm comm;
  int rank;
  int size;
  int nworkers;
  int running; /* inside loom_run(): registration is closed */

  struct loom_options opt; /* strings point at the owned copies below */
  char *policy_name;
  char *run_dir;
  char *command_line;
  char *source_name;
  char *weights;

  struct loom__kind *kinds; /* index 0 is "sh" */
  size_t nkinds;
  size_t kinds_cap;

  volatile sig_atomic_t stop_requests; /* loom_stop() calls */
  struct loom__subq *subq;
  struct loom_summary summary;
  char error[PATH_MAX + 256]; /* loom_error_text() */
  char host[LOOM__HOST_MAX];
  struct loom_profile profile; /* this rank's hardware (topo.c) */
  size_t part_max;             /* a DONE part is closed past this many bytes
                                  (LOOM__WIRE_PART_MAX; white-box tests lower it) */
  struct loom__state *state;   /* made by the first loom_run() */
  int slots;                   /* tasks this rank runs at once (>= 1) */
  struct loom__placer *placer; /* where they run; NULL: not pinned */
};

/* A task's execution context (the opaque struct loom_task of loom.h). */
struct loom_task {
  struct loom *l;
  uint64_t id;
  uint64_t index; /* in its array, else 0 */
  int rank;
  unsigned char *reply; /* owned by the executor, reused across tasks */
  size_t reply_len;
  size_t reply_cap;
};

/* master.c / worker.c: the two halves of loom_run(). */
int loom__master_run(struct loom *l, loom_source_fn src, void *src_arg,
                     loom_result_fn on_result, void *res_arg);
int loom__worker_run(struct loom *l);

/* engine.c: the source that drains the loom_submit() queue. */
int loom__subq_next(void *arg, struct loom_task_spec *spec);

#endif /* LOOM_ENGINE_H */
