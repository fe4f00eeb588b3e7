/* test_state_api.c - the state table's calls and their errors, public API
 * only, in each consistency mode.
 *
 * Before the first run every call is LOOM_ESTATE. Inside a run, a task
 * checks: a value written is read back; a missing key is LOOM_ENOENT; a
 * buffer too small is LOOM_ETOOBIG with the length needed and the buffer
 * untouched; a key keeps its kind (LOOM_EEXIST); the budget, the value
 * size and a counter's range are refused (LOOM_ETOOBIG); fetch-min/max
 * report the identity when the key held nothing; compare-and-swap works
 * in strong mode and is LOOM_ESTATE in the others; a wait times out, or
 * returns the value another task wrote. The result callback writes (rank
 * 0's loop thread) and may not wait. After the run every rank reads the
 * final table and may not write. Bad arguments are LOOM_EINVAL. With two
 * workers or more: a C task that never returns to its loop sees, on its
 * own replica, what another worker wrote meanwhile (replication moves
 * while C tasks run).
 * A failed check inside a task makes the task fail; the run's summary must
 * show none failed.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "loom.h"
#include "mpicheck.h"

#define BUDGET (256 << 10)

static int mode;

/* In a task: counts a failed check (the task's exit code). */
#define T_RC(call, want)                                                       \
  do {                                                                         \
    int got_ = (call);                                                         \
    if (got_ != (want)) {                                                      \
      fprintf(stderr, "%s:%d: rank %d (%s): %s returned %d (%s), want %s\n",   \
              __FILE__, __LINE__, world_rank, loom_state_mode_name(mode),      \
              #call, got_, loom_strerror(got_), #want);                        \
      bad++;                                                                   \
    }                                                                          \
  } while (0)
#define T(cond)                                                                \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: rank %d (%s): check failed: %s\n", __FILE__,     \
              __LINE__, world_rank, loom_state_mode_name(mode), #cond);        \
      bad++;                                                                   \
    }                                                                          \
  } while (0)

/* Task 0: the calls on this rank's replica (keys of its own). */
static int calls(struct loom_task *task) {
  struct loom *l = loom_task_loom(task);
  static char big[LOOM_STATE_VALUE_MAX + 1];
  char key[64], other[64], buf[64];
  int64_t before = 0;
  size_t len = 0;
  int bad = 0;

  snprintf(key, sizeof(key), "own-%" PRIx64, loom_task_id(task));
  snprintf(other, sizeof(other), "count-%" PRIx64, loom_task_id(task));
  T_RC(loom_state_get(l, key, buf, sizeof(buf), &len), LOOM_ENOENT);
  T_RC(loom_state_put(l, key, "hello", 5), 0);
  T_RC(loom_state_get(l, key, buf, sizeof(buf), &len), 0);
  T(len == 5 && memcmp(buf, "hello", 5) == 0);
  memcpy(buf, "xx", 2);
  T_RC(loom_state_get(l, key, buf, 2, &len), LOOM_ETOOBIG);
  T(len == 5 && memcmp(buf, "xx", 2) == 0);
  T_RC(loom_state_put(l, key, NULL, 0), 0); /* empty, not deleted */
  T_RC(loom_state_get(l, key, buf, sizeof(buf), &len), 0);
  T(len == 0);
  /* A key keeps its kind. */
  T_RC(loom_state_add(l, key, 1, NULL), LOOM_EEXIST);
  T_RC(loom_state_add(l, other, 5, &before), 0);
  T(before == 0);
  T_RC(loom_state_add(l, other, -2, &before), 0);
  T(before == 5);
  T_RC(loom_state_get(l, other, buf, sizeof(buf), &len), 0);
  T(len == 1 && buf[0] == '3');
  T_RC(loom_state_put(l, other, "x", 1), LOOM_EEXIST);
  T_RC(loom_state_del(l, other), LOOM_EEXIST);
  T_RC(loom_state_max(l, other, 1, NULL), LOOM_EEXIST);
  /* A counter stays in range. */
  T_RC(loom_state_add(l, other, INT64_MAX, NULL), LOOM_ETOOBIG);
  /* Min and max: the identity when the key held nothing. */
  snprintf(other, sizeof(other), "best-%" PRIx64, loom_task_id(task));
  T_RC(loom_state_max(l, other, 7, &before), 0);
  T(before == INT64_MIN);
  T_RC(loom_state_max(l, other, 3, &before), 0);
  T(before == 7);
  T_RC(loom_state_min(l, other, 1, NULL), LOOM_EEXIST);
  /* Sizes: a value past the limit, a replica past its budget. */
  T_RC(loom_state_put(l, key, big, sizeof(big)), LOOM_ETOOBIG);
  T_RC(loom_state_put(l, key, big, BUDGET), LOOM_ETOOBIG);
  T_RC(loom_state_put(l, key, big, 1000), 0);
  /* Delete, then nothing is there. */
  T_RC(loom_state_del(l, key), 0);
  T_RC(loom_state_get(l, key, buf, sizeof(buf), &len), LOOM_ENOENT);
  /* Compare-and-swap: atomic in strong mode only. */
  if (mode == LOOM_STATE_STRONG) {
    T_RC(loom_state_cas(l, key, NULL, 0, "a", 1), 0);
    T_RC(loom_state_cas(l, key, NULL, 0, "b", 1), LOOM_ECONFLICT);
    T_RC(loom_state_cas(l, key, "a", 1, "c", 1), 0);
    T_RC(loom_state_cas(l, key, "c", 1, NULL, 0), 0); /* deletes */
    T_RC(loom_state_get(l, key, buf, sizeof(buf), &len), LOOM_ENOENT);
  } else {
    T_RC(loom_state_cas(l, key, NULL, 0, "a", 1), LOOM_ESTATE);
  }
  /* A wait that nothing ends times out; one already over returns. */
  T_RC(loom_state_wait(l, key, NULL, 0, 0.05, buf, sizeof(buf), &len),
       LOOM_ETIMEDOUT);
  T_RC(loom_state_put(l, key, "v1", 2), 0);
  T_RC(loom_state_wait(l, key, NULL, 0, 5, buf, sizeof(buf), &len), 0);
  T(len == 2 && memcmp(buf, "v1", 2) == 0);
  T_RC(loom_state_wait(l, key, "v1", 2, 0.05, buf, sizeof(buf), &len),
       LOOM_ETIMEDOUT);
  /* Bad arguments. */
  T_RC(loom_state_put(NULL, key, "x", 1), LOOM_EINVAL);
  T_RC(loom_state_put(l, NULL, "x", 1), LOOM_EINVAL);
  T_RC(loom_state_put(l, "", "x", 1), LOOM_EINVAL);
  memset(big, 'k', LOOM_STATE_KEY_MAX + 1);
  big[LOOM_STATE_KEY_MAX + 1] = '\0';
  T_RC(loom_state_put(l, big, "x", 1), LOOM_EINVAL);
  big[LOOM_STATE_KEY_MAX] = '\0';
  T_RC(loom_state_put(l, big, "x", 1), 0); /* the longest key */
  memset(big, 0, LOOM_STATE_KEY_MAX + 2);
  T_RC(loom_state_put(l, key, NULL, 3), LOOM_EINVAL);
  T_RC(loom_state_get(l, key, buf, sizeof(buf), NULL), LOOM_EINVAL);
  return bad;
}

/* Task 1 puts "go"; task 2 waits for it (at the same time on another
 * worker, or later on the same one: either way the wait sees it). */
static int go(struct loom_task *task, int waiter) {
  struct loom *l = loom_task_loom(task);
  char buf[16];
  size_t len = 0;
  int bad = 0;

  if (!waiter) {
    T_RC(loom_state_put(l, "go", "now", 3), 0);
    return bad;
  }
  T_RC(loom_state_wait(l, "go", NULL, 0, 30, buf, sizeof(buf), &len), 0);
  T(len == 3 && memcmp(buf, "now", 3) == 0);
  return bad;
}

/* Task 3 spins on its own replica (a get, never a wait) until "seen"
 * shows up; task 4, on another worker, writes it. In causal and eventual
 * mode the value reaches the spinner's replica only through its rank's
 * loop thread, while the C task holds the executor thread. */
static int spin_until_seen(struct loom_task *task, int writer) {
  struct loom *l = loom_task_loom(task);
  char buf[8];
  size_t len;
  double t0 = MPI_Wtime();
  int bad = 0, rc;

  if (writer) {
    T_RC(loom_state_put(l, "seen", "yes", 3), 0);
    return bad;
  }
  while ((rc = loom_state_get(l, "seen", buf, sizeof(buf), &len)) ==
             LOOM_ENOENT &&
         MPI_Wtime() - t0 < 60)
    ;
  T_RC(rc, 0);
  return bad;
}

static int task_fn(struct loom_task *task, const void *payload, size_t n,
                   void *arg) {
  int which = 0;
  (void)arg;
  memcpy(&which, payload, n < sizeof(which) ? n : sizeof(which));
  if (which >= 3)
    return spin_until_seen(task, which == 4);
  return which == 0 ? calls(task) : go(task, which == 2);
}

/* Tasks 3 and 4 at once on two workers (rr, one batch each). */
static void replication_under_c_task(int m) {
  struct loom_options opt;
  struct loom_summary sum;
  struct loom *l = NULL;

  mode = m;
  loom_options_init(&opt);
  opt.quiet = 1;
  opt.state_mode = m;
  opt.policy = "rr";
  opt.window = 1;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), 0);
  CHECK_RC(loom_register(l, "t", task_fn, NULL), 0);
  for (int which = 3; world_rank == 0 && which <= 4; which++) {
    struct loom_task_spec spec;
    loom_task_spec_init(&spec);
    spec.kind = "t";
    spec.payload = &which;
    spec.len = sizeof(which);
    CHECK_RC(loom_submit(l, &spec), 0);
  }
  CHECK_RC(loom_run(l, NULL, NULL, NULL, NULL), 0);
  if (world_rank == 0) {
    loom_summary_get(l, &sum);
    CHECK(sum.tasks == 2 && sum.failed == 0);
  }
  loom_free(l);
}

struct seen {
  struct loom *l;
  int results;
  int bad;
};

/* The result callback: rank 0's loop thread writes at once, may not
 * wait. */
static void on_result(void *arg, const struct loom_result *res) {
  struct seen *s = arg;
  char key[32], buf[8];
  size_t len;
  int bad = 0;

  (void)res;
  snprintf(key, sizeof(key), "result-%d", s->results++);
  T_RC(loom_state_put(s->l, key, "r", 1), 0);
  T_RC(loom_state_get(s->l, key, buf, sizeof(buf), &len), 0);
  T_RC(loom_state_wait(s->l, key, NULL, 0, 1, buf, sizeof(buf), &len),
       LOOM_ESTATE);
  s->bad += bad;
}

static void one_mode(int m) {
  struct loom_options opt;
  struct loom_summary sum;
  struct seen seen = {0};
  struct loom *l = NULL;
  char buf[16];
  size_t len = 0;

  mode = m;
  loom_options_init(&opt);
  opt.quiet = 1;
  opt.state_mode = m;
  opt.state_budget = BUDGET;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), 0);
  CHECK_RC(loom_register(l, "t", task_fn, NULL), 0);
  /* Before the first run there is no table. */
  CHECK_RC(loom_state_put(l, "k", "v", 1), LOOM_ESTATE);
  CHECK_RC(loom_state_get(l, "k", buf, sizeof(buf), &len), LOOM_ESTATE);
  if (world_rank == 0)
    for (int which = 0; which < 3; which++)
      for (int copy = 0; copy < (which == 0 ? 3 : 1); copy++) {
        struct loom_task_spec spec;
        int payload[2] = {which, copy};
        loom_task_spec_init(&spec);
        spec.kind = "t";
        spec.payload = payload;
        spec.len = sizeof(payload);
        CHECK_RC(loom_submit(l, &spec), 0);
      }
  seen.l = l;
  CHECK_RC(loom_run(l, NULL, NULL, on_result, &seen), 0);
  if (world_rank == 0) {
    loom_summary_get(l, &sum);
    CHECK(sum.tasks == 5 && sum.failed == 0);
    CHECK(seen.results == 5 && seen.bad == 0);
  }
  /* After the run: every rank reads the final table, nobody writes. */
  CHECK_RC(loom_state_get(l, "go", buf, sizeof(buf), &len), 0);
  CHECK(len == 3 && memcmp(buf, "now", 3) == 0);
  CHECK_RC(loom_state_get(l, "result-4", buf, sizeof(buf), &len), 0);
  CHECK_RC(loom_state_put(l, "go", "later", 5), LOOM_ESTATE);
  loom_free(l);
}

int main(int argc, char **argv) {
  int provided;

  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  CHECK_RC(loom_state_mode_parse("causal"), LOOM_STATE_CAUSAL);
  CHECK_RC(loom_state_mode_parse("Strong"), LOOM_EINVAL);
  CHECK_RC(loom_state_put(NULL, "k", "v", 1), LOOM_EINVAL);
  for (int m = LOOM_STATE_STRONG; m <= LOOM_STATE_EVENTUAL; m++) {
    one_mode(m);
    if (world_size >= 3)
      replication_under_c_task(m);
  }
  return mpicheck_verdict("test_state_api");
}
