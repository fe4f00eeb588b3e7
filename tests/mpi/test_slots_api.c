/* test_slots_api.c - C tasks in slots, public API only.
 *
 * With two slots per rank, a kind registered LOOM_KIND_THREAD_SAFE runs in
 * both at once, and a kind registered without the flag never runs twice at
 * the same time on a rank. Each call counts the calls of its kind running
 * on its rank when it starts, and replies the count: the master keeps the
 * largest. Every task is also checked to have run exactly once. A third
 * run has every task add to a strong state-table counter from both slots
 * at once: no addition is lost. A bad slots option is refused on every
 * rank alike.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "loom.h"
#include "mpicheck.h"

#define NTASKS 24
#define TASK_NS 40000000L /* 40 ms */

static atomic_int running[2]; /* per kind: calls now running on this rank */

static int busy_fn(struct loom_task *task, const void *payload, size_t len,
                   void *arg) {
  atomic_int *n = arg;
  struct timespec ts = {0, TASK_NS};
  int32_t at_start = atomic_fetch_add(n, 1) + 1;
  (void)payload;
  (void)len;
  nanosleep(&ts, NULL);
  atomic_fetch_sub(n, 1);
  return loom_task_reply(task, &at_start, sizeof(at_start)) == 0 ? 0 : 3;
}

#define ADDS 50

/* "count": ADDS fetch-adds of 1 to "n", from whichever slot runs it. */
static int count_fn(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  struct loom *l = loom_task_loom(task);
  int32_t one = 1;
  (void)payload;
  (void)len;
  (void)arg;
  for (int i = 0; i < ADDS; i++)
    if (loom_state_add(l, "n", 1, NULL) != 0)
      return 4;
  return loom_task_reply(task, &one, sizeof(one)) == 0 ? 0 : 3;
}

struct seen {
  int most;
  int count[NTASKS];
  int bad;
};

static void on_result(void *arg, const struct loom_result *r) {
  struct seen *s = arg;
  int32_t v;
  if (r->exit_code != 0 || r->len != sizeof(v) || r->id < 1 || r->id > NTASKS) {
    s->bad++;
    return;
  }
  memcpy(&v, r->data, sizeof(v));
  if (v > s->most)
    s->most = v;
  s->count[r->id - 1]++;
}

/* Runs NTASKS tasks of kind; returns the largest overlap seen. */
static int run_kind(struct loom *l, const char *kind) {
  struct seen s;
  memset(&s, 0, sizeof(s));
  if (loom_rank(l) == 0)
    for (uint64_t i = 0; i < NTASKS; i++) {
      struct loom_task_spec spec = {.id = i + 1, .kind = kind, .cost = -1};
      CHECK_RC(loom_submit(l, &spec), 0);
    }
  CHECK_RC(loom_run(l, NULL, NULL, on_result, &s), 0);
  if (loom_rank(l) == 0) {
    CHECK(s.bad == 0);
    for (int i = 0; i < NTASKS; i++)
      CHECK(s.count[i] == 1);
  }
  return s.most;
}

int main(int argc, char **argv) {
  struct loom_options opt;
  struct loom *l;

  if (mpicheck_init(&argc, &argv) != 0)
    return 3;
  loom_options_init(&opt);
  opt.slots = 2;
  l = mpicheck_engine(&opt);
  if (!l) {
    MPI_Finalize();
    return 1;
  }
  CHECK_RC(loom_register_flags(l, "safe", busy_fn, &running[0],
                               LOOM_KIND_THREAD_SAFE),
           0);
  CHECK_RC(loom_register(l, "unsafe", busy_fn, &running[1]), 0);
  CHECK_RC(loom_register_flags(l, "bad", busy_fn, NULL, 2), LOOM_EINVAL);
  CHECK_RC(
      loom_register_flags(l, "count", count_fn, NULL, LOOM_KIND_THREAD_SAFE),
      0);
  {
    int safe = run_kind(l, "safe"), unsafe = run_kind(l, "unsafe");
    if (world_rank == 0) {
      CHECK(safe == 2);   /* both slots at once, never more */
      CHECK(unsafe == 1); /* one at a time */
    }
  }
  {
    char got[32] = "", want[32];
    size_t len = 0;
    run_kind(l, "count");
    /* Strong: every rank reads every addition, none lost (counters read
     * as decimal text). */
    CHECK_RC(loom_state_get(l, "n", got, sizeof(got) - 1, &len), 0);
    snprintf(want, sizeof(want), "%d", NTASKS * ADDS);
    CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
  }
  loom_free(l);

  /* Out of range: refused before any MPI call, the same on every rank. */
  opt.slots = LOOM_SLOTS_MAX + 1;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), LOOM_EINVAL);
  opt.slots = -3;
  CHECK_RC(loom_options_check(&opt, NULL, 0), LOOM_EINVAL);
  return mpicheck_verdict("test_slots_api");
}
