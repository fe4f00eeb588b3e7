/* test_api_errors.c - collective failures of the library, public API only.
 *
 * Ranks that register different kinds (another order, one more) must all get
 * LOOM_EMISMATCH from loom_run() instead of hanging; a task naming an
 * unknown kind gives LOOM_ENOENT on every rank; loom_new() with a bad
 * option on one rank fails on every rank. Registration between two runs
 * must give the same answer on every rank. With one rank there is nobody to
 * disagree with, and those runs must simply work.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>

#include "loom.h"
#include "mpicheck.h"

/* Is this rank the one that disagrees? The last, when there are several. */
static int odd_one_out(void) {
  return world_size > 1 && world_rank == world_size - 1;
}

/* Checks that every rank holds the same value of rc. */
static void check_same_everywhere(int rc, const char *what) {
  int lo = 0, hi = 0;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi) {
    fprintf(stderr, "rank %d: %s: ranks got different codes (%d .. %d)\n",
            world_rank, what, lo, hi);
    failures++;
  }
}

static int count_fn(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  (void)task;
  (void)payload;
  (void)len;
  (void)arg;
  return 0;
}

static void count_result(void *arg, const struct loom_result *res) {
  int *n = arg;
  (void)res;
  (*n)++;
}

static struct loom *new_engine(void) {
  struct loom_options opt;
  struct loom *l = NULL;

  loom_options_init(&opt);
  opt.quiet = 1;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), 0);
  return l;
}

static void submit(struct loom *l, const char *kind, int n) {
  if (loom_rank(l) != 0)
    return;
  for (int k = 0; k < n; k++) {
    struct loom_task_spec spec;
    loom_task_spec_init(&spec);
    spec.kind = kind;
    spec.payload = &k;
    spec.len = sizeof(k);
    CHECK_RC(loom_submit(l, &spec), 0);
  }
}

/* One rank registers the same two kinds in the other order. */
static void test_kinds_in_another_order(void) {
  struct loom *l = new_engine();
  int results = 0, rc;

  if (!l)
    return;
  if (odd_one_out()) {
    CHECK_RC(loom_register(l, "beta", count_fn, NULL), 0);
    CHECK_RC(loom_register(l, "alpha", count_fn, NULL), 0);
  } else {
    CHECK_RC(loom_register(l, "alpha", count_fn, NULL), 0);
    CHECK_RC(loom_register(l, "beta", count_fn, NULL), 0);
  }
  submit(l, "alpha", 10);
  rc = loom_run(l, NULL, NULL, count_result, &results);
  CHECK_RC(rc, world_size > 1 ? LOOM_EMISMATCH : 0);
  check_same_everywhere(rc, "kinds in another order");
  if (world_rank == 0)
    CHECK(results == (world_size > 1 ? 0 : 10)); /* nothing ran */
  loom_free(l);
}

/* One rank registers one kind more than the others. */
static void test_one_kind_more(void) {
  struct loom *l = new_engine();
  int rc;

  if (!l)
    return;
  CHECK_RC(loom_register(l, "alpha", count_fn, NULL), 0);
  if (odd_one_out())
    CHECK_RC(loom_register(l, "gamma", count_fn, NULL), 0);
  submit(l, "alpha", 5);
  rc = loom_run(l, NULL, NULL, NULL, NULL);
  CHECK_RC(rc, world_size > 1 ? LOOM_EMISMATCH : 0);
  check_same_everywhere(rc, "one kind more");
  loom_free(l);
}

static void test_unknown_kind(void) {
  struct loom *l = new_engine();
  int rc;

  if (!l)
    return;
  CHECK_RC(loom_register(l, "alpha", count_fn, NULL), 0);
  submit(l, "no-such-kind", 1);
  rc = loom_run(l, NULL, NULL, NULL, NULL);
  CHECK_RC(rc, LOOM_ENOENT);
  check_same_everywhere(rc, "unknown kind");
  loom_free(l);
}

static void test_new_with_bad_options(void) {
  struct loom_options opt;
  struct loom *l = (struct loom *)&opt; /* must come back NULL */
  int rc;

  loom_options_init(&opt);
  opt.quiet = 1;
  opt.policy = "no-such-policy";
  rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  CHECK_RC(rc, LOOM_EINVAL);
  CHECK(l == NULL);
  loom_free(l);

  /* A look-ahead over 2^30 tasks is refused; 2^30 itself is fine. */
  loom_options_init(&opt);
  opt.quiet = 1;
  opt.lookahead = (UINT64_C(1) << 30) + 1;
  l = (struct loom *)&opt;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), LOOM_EINVAL);
  CHECK(l == NULL);
  opt.lookahead = UINT64_C(1) << 30;
  l = NULL;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), 0);
  CHECK(l != NULL);
  loom_free(l);

  /* Only one rank is wrong: every rank still fails. */
  loom_options_init(&opt);
  opt.quiet = 1;
  if (odd_one_out())
    opt.window = 5000; /* over the limit of 1024 */
  l = (struct loom *)&opt;
  rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  CHECK_RC(rc, world_size > 1 ? LOOM_EINVAL : 0);
  check_same_everywhere(rc, "one rank with a bad option");
  CHECK(rc == 0 ? l != NULL : l == NULL);
  loom_free(rc == 0 ? l : NULL);
}

/* loom.h: LOOM_ESTATE "after loom_run started". The implementation may
 * close registration for good or only while a run is going on; either way
 * every rank must answer alike and a kind it accepted must work. */
static void test_register_between_runs(void) {
  struct loom *l = new_engine();
  int results = 0, rc;

  if (!l)
    return;
  CHECK_RC(loom_register(l, "alpha", count_fn, NULL), 0);
  submit(l, "alpha", 4);
  CHECK_RC(loom_run(l, NULL, NULL, count_result, &results), 0);
  rc = loom_register(l, "beta", count_fn, NULL);
  CHECK(rc == 0 || rc == LOOM_ESTATE);
  check_same_everywhere(rc, "register between runs");
  if (world_rank == 0)
    printf("test_api_errors: register after a finished run returns %d "
           "(%s)\n",
           rc, loom_strerror(rc));
  if (rc == 0) {
    results = 0;
    submit(l, "beta", 3);
    CHECK_RC(loom_run(l, NULL, NULL, count_result, &results), 0);
    if (world_rank == 0)
      CHECK(results == 3);
  }
  loom_free(l);
}

static void test_local_functions(void) {
  static const int codes[] = {
      LOOM_OK,      LOOM_EINVAL, LOOM_ENOMEM,    LOOM_EIO,    LOOM_EMPI,
      LOOM_EPROTO,  LOOM_ENOENT, LOOM_EEXIST,    LOOM_ESTATE, LOOM_ESYNTAX,
      LOOM_ETOOBIG, LOOM_ESYS,   LOOM_EMISMATCH, LOOM_EBUSY};
  size_t n = sizeof(codes) / sizeof(codes[0]);

  for (size_t i = 0; i < n; i++) {
    CHECK(loom_strerror(codes[i]) != NULL);
    CHECK(strcmp(loom_strerror(codes[i]), "unknown error") != 0);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(loom_strerror(codes[i]), loom_strerror(codes[j])) != 0);
  }
  CHECK(strcmp(loom_strerror(LOOM_EMISMATCH), "ranks disagree") == 0);
  CHECK(strcmp(loom_strerror(12345), "unknown error") == 0);
  CHECK(strcmp(loom_strerror(-12345), "unknown error") == 0);
  CHECK(loom_task_id_derive("sh", "echo", 4, 1) ==
        loom_task_id_derive("sh", "echo", 4, 1));
  CHECK(loom_task_id_derive("sh", "echo", 4, 1) !=
        loom_task_id_derive("sh", "echo", 4, 2));
  CHECK(loom_task_id_derive("sh", "echo", 4, 1) !=
        loom_task_id_derive("x", "echo", 4, 1));
  loom_free(NULL);
}

/* The library checks what its caller hands it: NULL where an object is
 * due, a null communicator, values out of a spec's range. Each is
 * LOOM_EINVAL (or a harmless nothing), never a crash or an MPI abort. */
static void test_null_and_bad_arguments(void) {
  struct loom *l = NULL;
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  struct loom_sim_options so;
  uint64_t n;
  double d;
  char buf[64];

  CHECK_RC(loom_new(MPI_COMM_WORLD, NULL, NULL), LOOM_EINVAL);
  CHECK_RC(loom_new(MPI_COMM_NULL, NULL, &l), LOOM_EINVAL);
  CHECK(l == NULL);
  CHECK(loom_rank(NULL) == LOOM_EINVAL);
  CHECK(loom_nworkers(NULL) == 0);
  CHECK(loom_task_id(NULL) == 0);
  CHECK(loom_task_rank(NULL) == LOOM_EINVAL);
  CHECK(strcmp(loom_error_text(NULL), "") == 0);
  loom_summary_get(NULL, NULL);
  loom_options_init(NULL);
  loom_task_spec_init(NULL);
  loom_stop(NULL);
  loom_policy_list(NULL);
  CHECK(!loom_policy_exists(NULL));
  CHECK_RC(loom_taskfile_open("/etc/hostname", NULL, buf, sizeof(buf)),
           LOOM_EINVAL);
  CHECK_RC(loom_taskfile_next(NULL, &spec), LOOM_EINVAL);
  CHECK(strcmp(loom_taskfile_error(NULL), "") == 0);
  CHECK_RC(loom_taskfile_defaults(NULL, 0, 0), LOOM_EINVAL);
  CHECK_RC(loom_taskfile_scan("/etc/hostname", NULL, buf, sizeof(buf)),
           LOOM_EINVAL);
  if (loom_taskfile_open("/etc/hostname", &tf, buf, sizeof(buf)) == 0) {
    CHECK_RC(loom_taskfile_defaults(tf, -1, 0), LOOM_EINVAL);
    CHECK_RC(loom_taskfile_defaults(tf, 0, -1), LOOM_EINVAL);
    CHECK_RC(loom_taskfile_defaults(tf, 0, LOOM_RETRIES_MAX + 1), LOOM_EINVAL);
    CHECK_RC(loom_taskfile_defaults(tf, 5, 2), 0);
    CHECK_RC(loom_taskfile_next(tf, NULL), LOOM_EINVAL);
    loom_taskfile_close(tf);
  }
  CHECK_RC(loom_duration_parse(NULL, 3, &d), LOOM_EINVAL);
  CHECK_RC(loom_rundir_create(NULL, NULL, 0, buf, sizeof(buf)), LOOM_EINVAL);
  CHECK_RC(loom_profile_probe(NULL, buf, sizeof(buf)), LOOM_EINVAL);
  CHECK_RC(loom_joblog_durations("/nonexistent", NULL, NULL, buf, sizeof(buf)),
           LOOM_EINVAL);
  memset(&so, 0, sizeof(so));
  CHECK_RC(loom_sim_run(&so, NULL), LOOM_EINVAL);
  (void)n;
}

/* A spec out of its documented range is refused by loom_submit(). */
static void test_submit_refuses_bad_specs(void) {
  struct loom *l = NULL;
  struct loom_task_spec s;
  static const char cmd[] = "true";

  CHECK_RC(loom_new(MPI_COMM_WORLD, NULL, &l), 0);
  if (!l || world_rank != 0) {
    loom_free(l);
    return;
  }
  loom_task_spec_init(&s);
  s.payload = cmd;
  s.len = 4;
  CHECK_RC(loom_submit(l, &s), 0);
  s.cost = NAN;
  CHECK_RC(loom_submit(l, &s), LOOM_EINVAL);
  s.cost = -1;
  s.timeout = -2;
  CHECK_RC(loom_submit(l, &s), LOOM_EINVAL);
  s.timeout = 0;
  s.retries = -1;
  CHECK_RC(loom_submit(l, &s), LOOM_EINVAL);
  s.retries = 70000; /* would have wrapped the 16-bit attempt counter */
  CHECK_RC(loom_submit(l, &s), LOOM_EINVAL);
  s.retries = 0;
  s.payload = NULL; /* a length without bytes */
  CHECK_RC(loom_submit(l, &s), LOOM_EINVAL);
  loom_free(l);
}

int main(int argc, char **argv) {
  if (mpicheck_init(&argc, &argv) != 0)
    return 3;

  test_local_functions();
  test_kinds_in_another_order();
  test_one_kind_more();
  test_unknown_kind();
  test_new_with_bad_options();
  test_register_between_runs();
  test_null_and_bad_arguments();
  test_submit_refuses_bad_specs();

  return mpicheck_verdict("test_api_errors");
}
