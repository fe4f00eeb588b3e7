/* internal.h - what the engine's modules share and the public header hides.
 *
 * struct loom is the engine: its communicator, options, the registry of task
 * kinds and the master's submit queue. Names shared between files are
 * loom__<noun>_<verb>; this header holds the ones that are not owned by a
 * module with a header of its own (wire.h, policy.h, exec.h, ...).
 */
#ifndef LOOM_INTERNAL_H
#define LOOM_INTERNAL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "loom.h"
#include "topo.h"

/* Message tags on the engine's communicator. Later modules (the state table,
 * control messages) take tags above LOOM__TAG_STOP so the dispatch protocol
 * never changes meaning. */
enum {
  LOOM__TAG_TASKS = 1, /* master -> worker: a batch of tasks */
  LOOM__TAG_DONE = 2,  /* worker -> master: a batch of completions */
  LOOM__TAG_STOP = 3,  /* master -> worker: no more tasks, leave the loop */
  LOOM__TAG_CANCEL = 4 /* master -> worker: kill what runs, run nothing more */
};

#define LOOM__KIND_NAME_MAX 64
#define LOOM__HOST_MAX 64

struct loom__kind {
  char name[LOOM__KIND_NAME_MAX];
  loom_task_fn fn; /* NULL for the built-in shell kind */
  void *arg;
};

struct loom__subq; /* the loom_submit() queue (engine.c) */

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
  char error[512]; /* loom_error_text() */
  char host[LOOM__HOST_MAX];
  struct loom_profile profile; /* this rank's hardware (topo.c) */
};

/* A task's execution context (the opaque struct loom_task of loom.h). */
struct loom_task {
  uint64_t id;
  int rank;
  unsigned char *reply; /* owned by the executor, reused across tasks */
  size_t reply_len;
  size_t reply_cap;
};

/* error.c: converts an MPI return code, logging call, place and rank once
 * per process. Returns 0 or LOOM_EMPI. */
int loom__mpi_check(int rc, const char *call, const char *file, int line);
#define LOOM_MPI(call) loom__mpi_check((call), #call, __FILE__, __LINE__)

/* Prints "loom: " + message on stderr (one line). */
void loom__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hash.c: loom_task_id_derive() in two steps, so the master hashes each
 * kind name once. */
uint64_t loom__hash64(const void *data, size_t len, uint64_t seed);
uint64_t loom__kind_hash(const char *kind);
uint64_t loom__task_id(uint64_t kind_hash, const void *payload, size_t len,
                       uint64_t position);
/* A task's key: its kind and command text (or payload) without position,
 * what a resumed run matches on. Never 0. */
uint64_t loom__task_key(uint64_t kind_hash, const void *text, size_t len);

/* Monotonic and wall clocks, in seconds. */
double loom__now(void);
double loom__wall(void);

/* master.c / worker.c: the two halves of loom_run(). */
int loom__master_run(struct loom *l, loom_source_fn src, void *src_arg,
                     loom_result_fn on_result, void *res_arg);
int loom__worker_run(struct loom *l);

/* engine.c: the source that drains the loom_submit() queue. */
int loom__subq_next(void *arg, struct loom_task_spec *spec);

#endif /* LOOM_INTERNAL_H */
