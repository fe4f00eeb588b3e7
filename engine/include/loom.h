/* loom.h - the public interface of libloom, a topology-aware MPI task farm.
 *
 * One process per MPI rank calls loom_new() on a communicator. Rank 0 of that
 * communicator is the master: it feeds tasks and receives results. Every
 * other rank is a worker: it runs the task functions registered under a name.
 * loom_run() is the collective that does the work. With a single rank the
 * master runs the tasks itself.
 *
 * Every public name starts with loom_ or LOOM_. Functions that can fail
 * return 0 or a negative LOOM_E* code; loom_strerror() names each code. The
 * library never calls exit(), abort() or MPI_Abort(): the caller decides.
 */
#ifndef LOOM_H
#define LOOM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_VERSION "0.1.0"

/* The error table: append only, codes never change meaning. */
#define LOOM_ERROR_TABLE(X)                                                    \
  X(LOOM_OK, 0, "success")                                                     \
  X(LOOM_EINVAL, -1, "invalid argument")                                       \
  X(LOOM_ENOMEM, -2, "out of memory")                                          \
  X(LOOM_EIO, -3, "input/output error")                                        \
  X(LOOM_EMPI, -4, "MPI call failed")                                          \
  X(LOOM_EPROTO, -5, "malformed or unexpected message")                        \
  X(LOOM_ENOENT, -6, "no such name")                                           \
  X(LOOM_EEXIST, -7, "already exists")                                         \
  X(LOOM_ESTATE, -8, "not allowed in this state or on this rank")              \
  X(LOOM_ESYNTAX, -9, "malformed input")                                       \
  X(LOOM_ETOOBIG, -10, "too large")                                            \
  X(LOOM_ESYS, -11, "system call failed")                                      \
  X(LOOM_EMISMATCH, -12, "ranks disagree")                                     \
  X(LOOM_EBUSY, -13, "in use by another process")                              \
  X(LOOM_ECONFLICT, -14, "compare-and-swap lost: another value was there")     \
  X(LOOM_ETIMEDOUT, -15, "timed out")                                          \
  X(LOOM_EREPLICA, -16, "the state table's replicas did not end the same")

enum loom_error {
#define LOOM_ERROR_ENUM(name, code, text) name = (code),
  LOOM_ERROR_TABLE(LOOM_ERROR_ENUM)
#undef LOOM_ERROR_ENUM
};

/* Returns a static, human-readable text for a LOOM_E* code ("unknown error"
 * for anything else). Never NULL. Local. */
const char *loom_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Options                                                                    */

enum loom_output_mode {
  LOOM_OUTPUT_FILES = 0, /* per-task files under RUNDIR/out/ (default) */
  LOOM_OUTPUT_TERMINAL,  /* lines on the worker's stdout, prefixed by task */
  LOOM_OUTPUT_DISCARD    /* /dev/null */
};

enum loom_progress_mode {
  LOOM_PROGRESS_AUTO = 0, /* a live line when stderr is a terminal, or when
                             it is a pipe to a launcher (a local mpirun)
                             whose own stderr is; plain lines otherwise */
  LOOM_PROGRESS_OFF,
  LOOM_PROGRESS_LIVE, /* the live line, whatever stderr is */
  LOOM_PROGRESS_LINES /* plain lines every progress_interval */
};

struct loom_options {
  const char *policy;       /* scheduling policy name; NULL = "weighted" */
  int window;               /* batches in flight per worker, at most
                               LOOM_WINDOW_MAX; 0 = 2 */
  int batch_max;            /* most tasks in one message, at most
                               LOOM_BATCH_MAX; 0 = 4096 */
  double batch_target;      /* seconds of work one batch aims at; 0 = 0.01 */
  const char *run_dir;      /* an existing directory for joblog.tsv, report.json
                               and out/; NULL = write none of them */
  int output_mode;          /* enum loom_output_mode, for shell tasks */
  int progress;             /* enum loom_progress_mode */
  double progress_interval; /* seconds between plain progress lines; 0 = 5 */
  const char *command_line; /* recorded in report.json; may be NULL */
  const char *source_name;  /* recorded in report.json; may be NULL */
  uint64_t expected_tasks;  /* for the progress line's ETA; 0 = unknown */
  int quiet;                /* no notices and no summary on stderr */
  int resume;               /* run_dir holds an earlier run: skip what it did */
  int skip_failed;          /* with resume: tasks that failed count as done */
  int resume_any;           /* with resume: go on although none of the
                               first 100,000 tasks of the source is in the
                               journal (else LOOM_EMISMATCH: another task
                               set would share the directory) */
  uint64_t halt;         /* stop handing out tasks once this many tasks failed
                            for good; 0 = never */
  double grace;          /* after loom_stop(): seconds running tasks may go on
                            before they are killed (0 = kill at once) */
  int quarantine;        /* a worker gets no more tasks once this many of its
                            failed tasks succeeded on other workers with no
                            success of its own in between; 0 = never */
  const char *weights;   /* "KEY=W,...": capacity weights that replace the
                            topology's for a worker rank (KEY a number) or
                            every rank on a host (KEY a name), W a finite
                            number > 0; a rank's entry wins over its host's,
                            a later entry over an earlier one; NULL = none */
  double deadline;       /* wall clock (seconds since the epoch): a task whose
                            expected time (cost hint, else the measured mean)
                            would end past it is not started; 0 = none */
  double lock_wait;      /* seconds a run waits for another process that
                            holds the run directory's lock to end (then
                            LOOM_EBUSY); default 10 */
  uint64_t lookahead;    /* with a policy that hands out the longest hinted
                            tasks first (weighted): how many tasks the master
                            may read ahead of dispatch to find them; each
                            waits in memory with its command; it starts at
                            the first task with a cost hint (before it, tasks
                            stream). 0 = none (the source's order), default
                            LOOM_LOOKAHEAD_DEFAULT.
                            Only for sources that can be read ahead: a
                            source that blocks for input needs 0 */
  int state_mode;        /* enum loom_state_mode: the state table's
                            consistency; 0 = strong */
  uint64_t state_budget; /* bytes one rank's replica may grow to by its own
                            writes; 0 = LOOM_STATE_BUDGET_DEFAULT */
  int slots;             /* tasks this rank runs at once (each rank reads its
                            own): 0 = one, not pinned (the default); N (1 to
                            LOOM_SLOTS_MAX) = N, each pinned to a core of its
                            own when the rank's binding has N cores or more,
                            else sharing them unpinned; LOOM_SLOTS_AUTO = one
                            per core of the binding, LOOM_SLOTS_AUTO_PU = one
                            per hardware thread, both pinned */
  int membind;           /* 1: bind each task's memory to the NUMA node its
                            cores are on (pinned slots only; 0 = the
                            kernel's default, first touch) */
};

#define LOOM_SLOTS_AUTO (-1)
#define LOOM_SLOTS_AUTO_PU (-2)
#define LOOM_SLOTS_MAX 4096
#define LOOM_CORES_MAX 4096

/* The default look-ahead: 1,000,000 tasks; and the limits of the
 * options. */
#define LOOM_LOOKAHEAD_DEFAULT 1000000
#define LOOM_LOOKAHEAD_MAX (UINT64_C(1) << 30)
#define LOOM_WINDOW_MAX 1024
#define LOOM_BATCH_MAX (1 << 20)

/* Fills *opt with the defaults: all zero but grace (30 seconds),
 * quarantine (3), lock_wait (10 seconds) and lookahead
 * (LOOM_LOOKAHEAD_DEFAULT). Local. */
void loom_options_init(struct loom_options *opt);

/* Checks every field of *opt as loom_new() does: a value out of range, an
 * unknown policy, a malformed weights spec, NaN or infinite seconds. On an
 * error err (if not NULL) gets one line naming the option and the value
 * (escaped and cut short). Returns 0 or LOOM_EINVAL. Local. */
int loom_options_check(const struct loom_options *opt, char *err,
                       size_t errlen);

/* ------------------------------------------------------------------------ */
/* Engine lifecycle                                                           */

struct loom;

/* Creates an engine on a duplicate of comm (which stays the caller's).
 * Collective over comm. MPI must be initialised (else, or for
 * MPI_COMM_NULL or a NULL out, LOOM_EINVAL without any MPI call). opt may
 * be NULL (defaults);
 * it is copied, strings included. Every rank must pass the same policy name:
 * all ranks return the same code. On failure *out is NULL.
 * Returns 0, LOOM_EINVAL (an option loom_options_check() refuses: it says
 * why), LOOM_ENOMEM, LOOM_EMPI. */
int loom_new(MPI_Comm comm, const struct loom_options *opt, struct loom **out);

/* Frees the engine and its communicator. Collective (it frees a
 * communicator). loom_free(NULL) does nothing. */
void loom_free(struct loom *l);

/* This rank in the engine's communicator; 0 is the master (LOOM_EINVAL
 * for a NULL engine). Local. */
int loom_rank(const struct loom *l);

/* Number of ranks that run tasks: size - 1, or 1 when running on one rank
 * (the master then runs the tasks itself). Local. */
int loom_nworkers(const struct loom *l);

/* ------------------------------------------------------------------------ */
/* Task functions                                                             */

/* The context a task function runs in. Valid only during the call. */
struct loom_task;

/* A task function: payload/len are the bytes the master submitted (valid for
 * the call). Returns 0 on success; any other value is the task's exit code
 * (1-255 recorded as is, others recorded as 1). arg is what was registered. */
typedef int (*loom_task_fn)(struct loom_task *task, const void *payload,
                            size_t len, void *arg);

/* The stable 64-bit identity of the running task. */
uint64_t loom_task_id(const struct loom_task *task);

/* The running task's index in its array (loom_task_spec.count): 0 to
 * count - 1, and 0 for a task that is not part of an array. */
uint64_t loom_task_index(const struct loom_task *task);

/* The rank running the task. */
int loom_task_rank(const struct loom_task *task);

/* Sets the result bytes sent back to the master with the completion (copied;
 * a later call replaces an earlier one). Returns 0, LOOM_ETOOBIG (more than
 * LOOM_RESULT_MAX bytes) or LOOM_ENOMEM. */
#define LOOM_RESULT_MAX (1u << 20)
int loom_task_reply(struct loom_task *task, const void *data, size_t len);

/* Registers fn under name (copied, at most 63 bytes). Local, but every rank
 * must register the same names in the same order before loom_run(), which
 * checks it. The name "sh" is taken by the built-in shell kind, whose payload
 * is a command run with /bin/sh -c.
 * Returns 0, LOOM_EINVAL (bad name), LOOM_EEXIST, LOOM_ENOMEM, LOOM_ESTATE
 * (while loom_run() is running, e.g. from a task or a result callback).
 * Between runs, new kinds may be registered (on every rank alike). */
int loom_register(struct loom *l, const char *name, loom_task_fn fn, void *arg);

/* loom_register() with flags: LOOM_KIND_THREAD_SAFE says fn may run in
 * several threads at once. A worker with slots (loom_options.slots) runs
 * such a kind's tasks in all of its slots at once; the functions of kinds
 * registered without it run one at a time on the rank (whatever the kind),
 * while shell tasks and thread-safe kinds use the other slots. */
#define LOOM_KIND_THREAD_SAFE 1u
int loom_register_flags(struct loom *l, const char *name, loom_task_fn fn,
                        void *arg, unsigned flags);

/* ------------------------------------------------------------------------ */
/* Feeding tasks and receiving results (master)                               */

/* One task as the master hands it to the engine. All pointers are borrowed
 * for the call that receives the spec; the engine copies what it keeps. */
struct loom_task_spec {
  const char *kind;    /* registered name; NULL means "sh" */
  const void *payload; /* for "sh": the command text (no NUL needed) */
  size_t len;
  double cost;      /* expected seconds, or < 0 when unknown; finite */
  double timeout;   /* seconds >= 0, 0 = none (recorded; enforced for
                       "sh"); finite */
  int retries;      /* extra attempts after a failure, 0 to
                       LOOM_RETRIES_MAX */
  uint64_t line;    /* where the task came from (task file line), 0 = none */
  uint64_t id;      /* 0 = derived: loom_task_id_derive(kind, payload, pos);
                       an array's element k has
                       loom_task_id_element(id, k) */
  int cores;        /* cores the task needs at once, 0 to LOOM_CORES_MAX
                       (0 = 1): on a worker with slots it waits for that
                       many free cores (hardware threads with auto:pu) and
                       is pinned to them; it goes only to workers that
                       can give them (README: Slots and pinning) */
  uint64_t mem;     /* bytes of memory it needs, 0 = none said: on a worker
                       with slots, tasks running at once never take a NUMA
                       node past its memory */
  const char *text; /* what the joblog shows; NULL = payload if "sh", else
                       kind name */
  size_t text_len;
  uint64_t count; /* 0 or 1: one task. n > 1: an array of n tasks, alike in
                     all of the above and told apart by their index, 0 to
                     n - 1 (loom_task_index(), loom_result.index). Each is
                     a task of its own (its own id, attempts, record and
                     result), but the master hands out runs of them as one
                     record: the fast way to feed many small tasks. Not
                     for "sh" (a command per task is a task per line) */
};

#define LOOM_RETRIES_MAX 1000

/* The longest command of the "sh" kind, in bytes: /bin/sh -c takes it as
 * one argument, and Linux caps one argument at 128 KiB with its NUL. */
#define LOOM_SH_COMMAND_MAX 131071

/* Fills a spec with defaults: kind NULL, cost -1, timeout 0, retries 0,
 * count 0 (one task). */
void loom_task_spec_init(struct loom_task_spec *spec);

/* A pull source: fills *spec with the next task and returns 1, returns 0 at
 * the end, or a negative LOOM_E* code to stop the run with that error.
 * Called on the master only, between dispatch steps; the memory spec points
 * to must stay valid until the next call. */
typedef int (*loom_source_fn)(void *arg, struct loom_task_spec *spec);

/* What the master learns about one finished attempt. Valid for the call. */
struct loom_result {
  uint64_t id;
  uint64_t line;
  const char *kind;
  int worker;       /* rank that ran it */
  int attempt;      /* 1 for the first attempt */
  int exit_code;    /* 0 = success */
  int signal;       /* terminating signal of a shell task, 0 = none */
  double start;     /* seconds since the epoch, worker clock */
  double elapsed;   /* seconds */
  const void *data; /* bytes set by loom_task_reply(), may be NULL */
  size_t len;
  uint64_t index; /* its index in its array (loom_task_spec.count), else 0 */
};
typedef void (*loom_result_fn)(void *arg, const struct loom_result *res);

/* Queues one task in memory for the next loom_run() with a NULL source.
 * Master only (LOOM_ESTATE elsewhere). Returns 0, LOOM_EINVAL (a field out
 * of its documented range: see struct loom_task_spec), LOOM_ENOMEM. A pull
 * source's specs are held to the same rules: a bad one stops the run with
 * LOOM_EINVAL and loom_error_text() says which task. */
int loom_submit(struct loom *l, const struct loom_task_spec *spec);

/* Runs every task of src (or of the loom_submit() queue when src is NULL)
 * to completion. Collective: workers ignore src and on_result and return
 * when the master is done. on_result (may be NULL) runs on the master once
 * per finished attempt, in completion order.
 * Returns 0 when the run went through (tasks may still have failed: see
 * loom_summary()), the source's error, LOOM_EBUSY (another process owns the
 * run directory: loom_error_text() names it), LOOM_EMISMATCH (ranks registered
 * different kinds), LOOM_ENOENT (a task names an unknown kind), LOOM_EIO
 * (run directory), LOOM_EMPI or LOOM_EPROTO. Every rank returns the same
 * code when the failure is known collectively; an MPI failure may leave
 * other ranks needing MPI_Abort from the caller. */
int loom_run(struct loom *l, loom_source_fn src, void *src_arg,
             loom_result_fn on_result, void *res_arg);

/* Asks the running loom_run() to stop early: the master hands out no more
 * tasks, lets running ones go on for opt.grace seconds, then has them
 * killed (a shell task's whole process group), records everything and
 * returns; loom_summary_get() then says stopped (unless the stop took
 * nothing away: every task of a known count had been handed out and all
 * succeeded within the grace). A second call kills at once. Async-signal-safe:
 * meant for a signal handler. On a worker it does nothing (the master decides),
 * so every rank can install the same handler. l may be NULL. */
void loom_stop(struct loom *l);

/* Totals of the last loom_run(), valid on the master (zeros elsewhere). */
struct loom_summary {
  uint64_t tasks;       /* distinct tasks finished */
  uint64_t succeeded;   /* tasks whose last attempt succeeded */
  uint64_t failed;      /* tasks whose last attempt failed */
  uint64_t cancelled;   /* tasks whose last attempt a stop cancelled (not
                           counted as failed) */
  uint64_t attempts;    /* joblog rows */
  double makespan;      /* seconds from first dispatch to last completion */
  uint64_t skipped;     /* tasks a resumed run found done already */
  int halted;           /* the run stopped early because of opt.halt */
  int stopped;          /* the run stopped early because of loom_stop() */
  uint64_t not_started; /* tasks left out: past the deadline, or no worker
                           left to run them (all quarantined) */
  int quarantined;      /* workers quarantined */
  int64_t left;         /* tasks of the source a --resume would still run
                           (not done, failed ones included); -1 when the
                           source's size is unknown (expected_tasks 0) */
};
void loom_summary_get(const struct loom *l, struct loom_summary *out);

/* Why the last loom_run() failed or stopped early, in one line, on the
 * master ("" when it ran to the end, and on other ranks). Valid until the
 * next loom_run() or loom_free(). */
const char *loom_error_text(const struct loom *l);

/* The 64-bit identity of a task: a hash of its kind name, payload bytes and
 * position (the task file line number, or the submission index, combined with
 * a repeat index). Documented in the README; stable across releases. */
uint64_t loom_task_id_derive(const char *kind, const void *payload, size_t len,
                             uint64_t position);

/* The identity of element `index` of an array whose spec has (or derives)
 * id `array_id`: the splitmix64 finaliser of array_id + (index + 1) *
 * 0x9e3779b97f4a7c15 (never 0). Documented in the README. */
uint64_t loom_task_id_element(uint64_t array_id, uint64_t index);

/* ------------------------------------------------------------------------ */
/* The state table                                                            */

/* A key-value table replicated on every rank, through which tasks share
 * results. Keys are strings of 1 to LOOM_STATE_KEY_MAX bytes; values are
 * bytes (at most LOOM_STATE_VALUE_MAX), or numbers kept by the counter and
 * min/max operations (a reader sees them as decimal text). The consistency
 * is the run's (opt.state_mode, README "The state table"):
 *   strong: linearizable: every operation takes effect at one instant
 *     between its call and its return, the same on every rank; each one is
 *     a round trip to rank 0, which orders them;
 *   causal: served from the local replica; a write is applied nowhere
 *     before the writes it may depend on; concurrent writes converge;
 *   eventual: local; updates spread in batches; once writers stop, every
 *     replica is the same (the last writer wins, ties broken by rank).
 * Callable from task functions (on any rank, while the run goes on), from
 * the result callback (rank 0) and, to read the final table, after
 * loom_run() returns; never before the first run (LOOM_ESTATE). While a
 * stop kills the run's tasks, a call waiting for an answer returns
 * LOOM_ESTATE. Every call may also return LOOM_EINVAL (a NULL engine,
 * key or out pointer, a key of bad length or with a NUL byte) or
 * LOOM_EPROTO (the table's protocol failed: the run reports it). */
enum loom_state_mode {
  LOOM_STATE_STRONG = 0,
  LOOM_STATE_CAUSAL = 1,
  LOOM_STATE_EVENTUAL = 2
};

#define LOOM_STATE_KEY_MAX 255
#define LOOM_STATE_VALUE_MAX (1u << 20)
#define LOOM_STATE_BUDGET_DEFAULT (UINT64_C(256) << 20)
/* The most ranks a counter spans (a message says how many it holds). */
#define LOOM_STATE_RANKS_MAX (1u << 20)

/* Parses a mode name ("strong", "causal", "eventual"). Returns the mode or
 * LOOM_EINVAL. The name of a mode: loom_state_mode_name(). */
int loom_state_mode_parse(const char *name);
const char *loom_state_mode_name(int mode);

/* The engine a task runs under, for the loom_state_* calls. */
struct loom *loom_task_loom(const struct loom_task *task);

/* Writes value (len bytes, NULL with len 0 for empty) under key. Returns 0,
 * LOOM_ETOOBIG (value too long, or the replica would pass its budget),
 * LOOM_EEXIST (the key holds a counter or a min/max number, which only
 * their own operations change). */
int loom_state_put(struct loom *l, const char *key, const void *value,
                   size_t len);

/* Reads key into buf (cap bytes) and sets *len to the value's length.
 * Returns 0, LOOM_ENOENT (no such key, or deleted), LOOM_ETOOBIG (the
 * value is longer than cap: buf is untouched and *len says how long). */
int loom_state_get(struct loom *l, const char *key, void *buf, size_t cap,
                   size_t *len);

/* Deletes key. Returns 0 (also when it did not exist) or LOOM_EEXIST (a
 * counter or min/max key: those are never deleted). */
int loom_state_del(struct loom *l, const char *key);

/* Compare-and-swap: when key holds exactly expect (elen bytes; expect NULL:
 * when key is absent), writes value (NULL: deletes it). Strong mode only:
 * atomic across ranks. Returns 0 when swapped, LOOM_ECONFLICT when another
 * value was there, LOOM_ESTATE in the other modes (no atomic operation
 * across ranks there), or as put. */
int loom_state_cas(struct loom *l, const char *key, const void *expect,
                   size_t elen, const void *value, size_t len);

/* Fetch-and-add on a counter (a key never written counts 0): adds delta
 * and sets *before (may be NULL) to the value it had. Strong mode: atomic
 * across ranks, so a counter hands out every number exactly once. Causal
 * and eventual: *before is this replica's value; every increment is kept
 * and counted once everywhere. Returns 0, LOOM_EEXIST (key holds bytes or
 * a min/max number), LOOM_ETOOBIG (over the budget, or the counter would
 * pass INT64 range). */
int loom_state_add(struct loom *l, const char *key, int64_t delta,
                   int64_t *before);

/* Fetch-and-min / -max: key becomes the smaller (larger) of its number and
 * v; *before (may be NULL) gets what it held, INT64_MAX (INT64_MIN for
 * max) when it held none. Best-so-far values for search. Returns 0 or
 * LOOM_EEXIST (key holds bytes, a counter or the other extreme). */
int loom_state_min(struct loom *l, const char *key, int64_t v, int64_t *before);
int loom_state_max(struct loom *l, const char *key, int64_t v, int64_t *before);

/* Waits until key exists (old NULL) or holds something other than old
 * (oldlen bytes; deleted counts as other), then reads it as
 * loom_state_get() does. timeout: seconds, < 0 = forever. Returns 0,
 * LOOM_ENOENT (the key was deleted), LOOM_ETIMEDOUT, LOOM_ETOOBIG;
 * LOOM_ESTATE from the result callback (it would stop the master). */
int loom_state_wait(struct loom *l, const char *key, const void *old,
                    size_t oldlen, double timeout, void *buf, size_t cap,
                    size_t *len);

/* Shell tasks reach the table through a local socket whose path their
 * environment holds ($LOOM_STATE_SOCKET); `loom state` is that client. One
 * call per connection, answered by the rank that runs the task, with the
 * semantics and return codes of the loom_state_* call it names. */
enum loom_state_op {
  LOOM_STATE_OP_PUT,
  LOOM_STATE_OP_GET,
  LOOM_STATE_OP_DEL,
  LOOM_STATE_OP_CAS,
  LOOM_STATE_OP_ADD,
  LOOM_STATE_OP_MIN,
  LOOM_STATE_OP_MAX,
  LOOM_STATE_OP_WAIT
};

struct loom_state_call {
  int op;            /* enum loom_state_op */
  const char *key;   /* NUL-terminated */
  const void *value; /* put: the value; cas: the new one */
  size_t len;
  const void *expect; /* cas: the value expected; wait: the old one */
  size_t elen;
  int expect_absent; /* cas: swap only when the key is absent; wait:
                        until the key exists */
  int64_t num;       /* add: delta; min, max: the number */
  double timeout;    /* wait: seconds, < 0 forever */
  void *buf;         /* get, wait: where the value read goes */
  size_t cap;
  size_t out_len; /* out: the value's length */
  int64_t before; /* out: add, min, max */
};

/* Makes call c through the socket at path. Returns the call's code, or
 * LOOM_ESYS (no such socket: not inside a loom task, or the run is over),
 * LOOM_EINVAL, LOOM_ETOOBIG (a value, or the answer past cap). */
int loom_state_call_socket(const char *path, struct loom_state_call *c);

/* Prints the table a run directory's journal (DIR/state.log) holds: the
 * final table of a finished run, or what a killed one had journaled. As
 * tab-separated lines (key, kind, value: "key\tkind\tvalue" header;
 * backslash escapes \t \n \r \\ \xHH) sorted by key, or (json) a JSON
 * array of {"key", "kind", "value"} ("value_hex" for bytes that are not
 * UTF-8). Local. Returns 0, LOOM_ENOENT (no journal), LOOM_ESYNTAX (a
 * damaged record), LOOM_EIO, LOOM_ENOMEM; err names the file. */
int loom_state_dump(const char *dir, int json, FILE *out, char *err,
                    size_t errlen);

/* ------------------------------------------------------------------------ */
/* Task files                                                                 */

/* A task file reader: one shell command per line, '#' comments, trailing
 * "#loom key=value" hints and "#loom" directives (see README). It streams:
 * memory does not grow with the file. */
struct loom_taskfile;

/* Opens path ("-" = stdin). On failure *out is NULL and err (if not NULL)
 * holds one line naming the file. Returns 0, LOOM_EIO, LOOM_ENOMEM. */
int loom_taskfile_open(const char *path, struct loom_taskfile **out, char *err,
                       size_t errlen);

/* Reads the next task into *spec (kind "sh"). The spec's pointers stay
 * valid until the next call. A line may hold at most 1 MiB, a command at
 * most LOOM_SH_COMMAND_MAX bytes once prefix and suffix are applied.
 * Returns 1, 0 at the end, LOOM_ESYNTAX (with loom_taskfile_error() naming
 * file and line), LOOM_EIO, LOOM_ENOMEM. */
int loom_taskfile_next(struct loom_taskfile *tf, struct loom_task_spec *spec);

/* The last error as "FILE:LINE: message". Valid until the next call. */
const char *loom_taskfile_error(const struct loom_taskfile *tf);

/* Sets the hints every task gets unless the file says otherwise (a
 * "#loom defaults" line or the task's own hints win). timeout: seconds,
 * 0 = none; retries: 0 to LOOM_RETRIES_MAX. Call before the first
 * loom_taskfile_next(). Returns 0, or LOOM_EINVAL for a value out of range
 * (nothing is set then). */
int loom_taskfile_defaults(struct loom_taskfile *tf, double timeout,
                           int retries);

/* Sets the requests every task gets unless the file says otherwise (a
 * "#loom defaults" line or the task's own cores= and mem= hints win):
 * cores 0 to LOOM_CORES_MAX (0 = 1), mem bytes (0 = none). Call before the
 * first loom_taskfile_next(). Returns 0 or LOOM_EINVAL. */
int loom_taskfile_requests(struct loom_taskfile *tf, int cores, uint64_t mem);

/* Parses a size: digits with an optional K, M, G or T suffix (powers of
 * 1024), n bytes at v, as cores=/mem= hints and --mem take it. Returns 0
 * or LOOM_EINVAL (also on overflow). */
int loom_size_parse(const char *v, size_t n, uint64_t *out);

/* Parses a duration as task files and flags write it: a number of seconds
 * >= 0 with an optional s, m or h suffix ("90", "2.5m", "1h"); n bytes of v.
 * Returns 0 and *out, or LOOM_EINVAL. Local. */
int loom_duration_parse(const char *v, size_t n, double *out);

/* Closes the file; NULL does nothing. */
void loom_taskfile_close(struct loom_taskfile *tf);

/* Reads the whole file once to validate it and count its tasks, without
 * keeping them. Returns 0 and *ntasks, or the error next() would give
 * (with err filled in). Not for stdin. */
int loom_taskfile_scan(const char *path, uint64_t *ntasks, char *err,
                       size_t errlen);

/* ------------------------------------------------------------------------ */
/* Run directories                                                            */

/* Checks that path holds an earlier run that loom_run() can resume (a
 * joblog.tsv with loom's header). Local. Returns 0, LOOM_ENOENT or
 * LOOM_ESYNTAX (err names the path and the reason). */
int loom_rundir_check_resumable(const char *path, char *err, size_t errlen);

/* Creates a run directory. With path set: creates it, or accepts an existing
 * empty directory; refuses one that already holds a run (LOOM_EEXIST). With
 * path NULL: creates "loom-run-YYYYMMDD-HHMMSS[-N]" in the current directory,
 * never reusing an existing name. Writes the name into buf. Local.
 * Returns 0, LOOM_EEXIST, LOOM_EIO (err names the path and the reason). */
int loom_rundir_create(const char *path, char *buf, size_t buflen, char *err,
                       size_t errlen);

/* Removes a run directory that loom_rundir_create() made and nothing was
 * written into yet (used when a run fails before it starts). Local. */
void loom_rundir_discard(const char *path);

/* ------------------------------------------------------------------------ */
/* Hardware profiles                                                          */

/* What one rank knows of the hardware it is bound to, read with hwloc. */
struct loom_profile {
  int rank;
  char host[64];
  char cpuset[128];  /* the binding as a PU list ("0-3,8"); "" unknown */
  int cores;         /* cores with at least one PU in the binding */
  int pus;           /* hardware threads in the binding */
  int numa_nodes;    /* NUMA nodes the binding touches (>= 1) */
  uint64_t numa_mem; /* local memory of those nodes, bytes; 0 unknown */
  uint64_t l2;       /* L2 size of the binding's first core, bytes; 0 unknown */
  uint64_t l3;       /* L3 size above it, bytes; 0 unknown */
  int cpukind;       /* hwloc cpukind efficiency of the binding's cores,
                        0 = least efficient; -1 unknown (one kind) */
  int cpukinds;      /* cpukinds on the machine; 0 unknown */
  double weight;     /* capacity weight (README: weight model) */
  int task_cores_max;    /* the most cores one task can get on the rank:
                            its slots' cores (hardware threads with
                            auto:pu), or its binding's without slots */
  uint64_t task_mem_max; /* the most memory one task can ask for: the
                            largest NUMA node's; 0 unknown */
  int slots;             /* tasks the rank runs at once, each on cores of its
                            own; 0 = the default: one at a time, not pinned
                            (loom_new() sets it) */
  char source[16];       /* "this-system", "xml" or "synthetic" */
  char notes[160];       /* what was missing and what was assumed instead */
};

/* Probes this rank's hardware. Local. The environment may hand it a fake
 * machine and a binding, for tests and for planning:
 *   LOOM_TOPOLOGY=xml:PATH or synthetic:DESCRIPTION (hwloc syntax), loaded
 *     through the API, so a bad value is an error, never a silent fallback
 *     to the real machine;
 *   LOOM_CPUSET=LIST (e.g. "0-3"), the binding to use instead of the one
 *     hwloc reports (against a fake machine, hwloc reports all of it).
 * Returns 0, LOOM_EINVAL (bad LOOM_TOPOLOGY or LOOM_CPUSET: err says which
 * and why) or LOOM_ESYS (hwloc failed on the real machine). */
int loom_profile_probe(struct loom_profile *p, char *err, size_t errlen);

/* The weight model: a profile's capacity weight (documented in the
 * README). Local, pure. */
double loom_profile_weight(const struct loom_profile *p);

/* Gathers every rank's profile at rank 0 of comm (collective). On rank 0
 * *all gets a malloc'ed array of one profile per rank (rank order; the
 * caller frees it); elsewhere NULL. Returns 0, LOOM_ENOMEM or LOOM_EMPI. */
int loom_profile_gather(MPI_Comm comm, const struct loom_profile *mine,
                        struct loom_profile **all);

/* Writes profiles as a table (one row per rank) or as a JSON array. */
void loom_profile_print(FILE *out, const struct loom_profile *p, int n,
                        int json);

/* ------------------------------------------------------------------------ */
/* Offline simulation                                                         */

/* A simulated run: the master's decisions (the policy's pick, the batch
 * builder's sizes and hint-full batches, the look-ahead's longest-first
 * order) made by the very code loom_run() uses, driven by a discrete-event
 * model instead of MPI. Worker w runs a task of duration d in d / speed[w]
 * seconds; every message takes latency seconds each way. Tasks never fail
 * (so nothing is retried), and there is no deadline and no byte cap on a
 * batch. Deterministic. */
struct loom_sim_options {
  int workers;
  uint64_t tasks;
  /* Duration of task i at speed 1, seconds (a pure function of i). */
  double (*duration)(void *arg, uint64_t i);
  void *arg;
  int hints;             /* tasks carry their duration as a cost hint */
  const double *speeds;  /* per worker; NULL = all 1 */
  const double *weights; /* the capacity weights the policy starts from (what
                            the topology would say); NULL = all 1 */
  const char *policy;    /* NULL = weighted */
  double latency;        /* seconds, one way */
  int window;            /* 0 = 2 */
  int batch_max;         /* 0 = 4096 */
  double batch_target;   /* 0 = 0.01 */
  uint64_t lookahead;    /* as in loom_options, with hints and a policy that
                            hands out the longest tasks first; 0 = none */
  int slots;             /* tasks each worker runs at once, pinned to cores
                            of their own (loom_options.slots); 0 = 1 */
  /* Cores task i needs at once, 1 to slots (a pure function of i, given
   * arg); NULL = 1 each. A worker starts its tasks in the order they
   * reach it, each once its cores are free (as loom run's workers do). */
  int (*cores)(void *arg, uint64_t i);
  /* The master's own time, seconds: per message it sends or receives, and
   * per task it hands out or records (each task counts twice). The master
   * does one thing at a time, so a busy master delays batches and the
   * handling of completions: what limits how many workers one master
   * keeps busy. 0 and 0 = a master that costs nothing. */
  double master_msg;
  double master_task;
};

struct loom_sim_result {
  double makespan;    /* first dispatch to last completion at the master */
  double lower_bound; /* max(sum of durations / sum of speeds,
                         longest duration / fastest speed) */
  double ratio;       /* makespan / lower_bound */
  double greedy;      /* makespan of an ideal online scheduler that sees the
                         tasks in the workload's order, without hints: no
                         latency, no batching, each task to the first
                         worker that is free (list scheduling; one machine
                         per slot); 0 with a cores function */
  double imbalance;   /* max busy / mean busy - 1 */
  double efficiency;  /* sum busy / (workers x makespan) */
  uint64_t messages;  /* batches sent */
  uint64_t lookahead; /* tasks the look-ahead could hold; 0 = not used
                         (no hints, or a policy that keeps the order) */
  double wait_max;    /* the longest a task waited for cores at its worker
                         once its slot could have started it */
  double master_busy; /* the master's busy time (master_msg, master_task)
                         over the makespan, 0 to 1 */
  uint64_t returned;  /* tasks a worker gave back unstarted, from a batch
                         that ran 4 times the batch target (50 ms at least)
                         as loom run's workers do; each was handed out
                         again */
};

/* Reads the elapsed seconds of every successful attempt in DIR/joblog.tsv
 * (a run directory), in file order, to replay a recorded run through
 * loom_sim_run(). *out is malloc'ed (the caller frees it); its memory grows
 * with the joblog. Returns 0, LOOM_EIO, LOOM_ESYNTAX (err names the file
 * and line) or LOOM_ENOMEM. Local. */
int loom_joblog_durations(const char *dir, double **out, size_t *n, char *err,
                          size_t errlen);

/* Runs the simulation. Local, no MPI. Returns 0, LOOM_EINVAL (no workers,
 * no duration function, unknown policy, a speed <= 0) or LOOM_ENOMEM. */
int loom_sim_run(const struct loom_sim_options *opt,
                 struct loom_sim_result *out);

/* ------------------------------------------------------------------------ */
/* Policies                                                                   */

/* Writes the names of the built-in policies, one per line, with a short
 * description. Local. */
void loom_policy_list(FILE *out);

/* Returns 1 if name is a built-in policy, else 0. Local. */
int loom_policy_exists(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* LOOM_H */
