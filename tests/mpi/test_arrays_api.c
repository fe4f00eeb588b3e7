/* test_arrays_api.c - task arrays (loom_task_spec.count) under mpiexec,
 * public API only.
 *
 * Run 1: an array of 3000 with derived ids, a plain task, an array of 12
 * with a given id and a retry, and a shell array that must be refused.
 * Every element must run once per attempt with its own index and id (the
 * id the task saw is the id the result carries: loom_task_id_element() of
 * the array's), its exit code must come back to it, and the summary must
 * count tasks, not records. Runs 2 to 4 share a run directory: an array
 * whose every tenth element fails, then --resume (only the failed ones run
 * again, as attempt 2), then --resume with skip_failed (none run). The
 * journal must hold a row per element with distinct ids. Between them, an
 * array of 20,000 tiny tasks, most without a reply: their answers come in
 * group records (a byte of exit code each), which must give each element
 * its own result all the same.
 * Exit status 0 only when every rank passed.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include "loom.h"
#include "mpicheck.h"

#define NA 3000
#define NB 12
#define NC 500
#define ND 20000
#define B_ID UINT64_C(0xfeed000000000001)
#define D_ID UINT64_C(0xd000000000000001)
#define D_CODE(index) ((index) % 7 == 3 ? 9 : 0)
#define D_REPLIES(index) ((index) % 1000 == 999)
#define FAILS(index) ((index) % 10 == 7)

struct reply {
  uint64_t id;
  uint64_t index;
  uint64_t value;
};

/* "elem": replies with what it saw; every tenth element (index 7, 17, ...)
 * fails with exit code 3. */
static int elem_fn(struct loom_task *task, const void *payload, size_t len,
                   void *arg) {
  struct reply r;
  (void)arg;
  if (len != sizeof(r.value))
    return 2;
  memcpy(&r.value, payload, sizeof(r.value));
  r.id = loom_task_id(task);
  r.index = loom_task_index(task);
  if (loom_task_reply(task, &r, sizeof(r)) != 0)
    return 4;
  return FAILS(r.index) ? 3 : 0;
}

/* "code": no reply but every thousandth, exit code 9 at index 3, 10, 17,
 * ...: a run of such tiny tasks is answered by group records, and a
 * reply takes a record of its own amid them. */
static int code_fn(struct loom_task *task, const void *payload, size_t len,
                   void *arg) {
  uint64_t index = loom_task_index(task);
  (void)payload;
  (void)len;
  (void)arg;
  if (D_REPLIES(index) && loom_task_reply(task, &index, sizeof(index)) != 0)
    return 4;
  return D_CODE(index);
}

struct seen_d {
  unsigned char d[ND];
  uint64_t results, bad, replies;
};

static void on_code(void *arg, const struct loom_result *res) {
  struct seen_d *s = arg;
  uint64_t k = res->index, got;
  int ok = 1;

  s->results++;
  if (k >= ND) {
    s->bad++;
    return;
  }
  s->d[k]++;
  ok &= res->exit_code == D_CODE(k);
  ok &= res->id == loom_task_id_element(D_ID, k);
  ok &= res->attempt == 1 && res->elapsed >= 0 && res->start > 0;
  if (D_REPLIES(k)) {
    ok &= res->len == sizeof(got);
    if (res->len == sizeof(got)) {
      memcpy(&got, res->data, sizeof(got));
      ok &= got == k;
      s->replies++;
    }
  } else {
    ok &= res->len == 0;
  }
  if (!ok && s->bad++ < 5)
    fprintf(stderr, "rank 0: element %" PRIu64 " of D: code %d, len %zu\n", k,
            res->exit_code, res->len);
}

/* 20,000 tiny tasks in one array: each comes back once with its own exit
 * code, id and (every thousandth) reply, whether answered alone or in a
 * group record. */
static void test_tiny_array_run(void) {
  struct loom *l = mpicheck_engine(NULL);
  struct seen_d *s = calloc(1, sizeof(*s));
  struct loom_summary sum;
  uint64_t fails = 0, wrong = 0;

  CHECK(l && s);
  if (!l || !s) {
    free(s);
    return;
  }
  CHECK_RC(loom_register(l, "code", code_fn, NULL), 0);
  if (world_rank == 0) {
    struct loom_task_spec spec;
    loom_task_spec_init(&spec);
    spec.kind = "code";
    spec.count = ND;
    spec.id = D_ID;
    CHECK_RC(loom_submit(l, &spec), 0);
  }
  CHECK_RC(loom_run(l, NULL, NULL, on_code, s), 0);
  if (world_rank == 0) {
    for (uint64_t k = 0; k < ND; k++) {
      wrong += s->d[k] != 1;
      fails += D_CODE(k) != 0;
    }
    CHECK(wrong == 0);
    CHECK(s->bad == 0);
    CHECK(s->results == ND);
    CHECK(s->replies == ND / 1000);
    loom_summary_get(l, &sum);
    CHECK(sum.tasks == ND && sum.failed == fails && sum.attempts == ND);
  }
  loom_free(l);
  free(s);
}

/* What the master saw, per array (by payload value) and element. */
struct seen {
  unsigned char a[NA], b_attempts[NB], c[NC];
  uint64_t a_ids[NA], b_ids[NB];
  uint64_t plain, results, bad;
};

static void expect(struct seen *s, int ok, const char *what, uint64_t index) {
  if (!ok) {
    if (s->bad++ < 5)
      fprintf(stderr, "rank 0: %s (element %" PRIu64 ")\n", what, index);
  }
}

static void on_elem(void *arg, const struct loom_result *res) {
  struct seen *s = arg;
  struct reply r;

  s->results++;
  if (res->len != sizeof(r) || !res->data) {
    expect(s, 0, "a result without its reply", res->index);
    return;
  }
  memcpy(&r, res->data, sizeof(r));
  expect(s, r.id == res->id, "the id the task saw is not the result's",
         r.index);
  expect(s, r.index == res->index, "the index the task saw is not the result's",
         r.index);
  expect(s, res->exit_code == (FAILS(r.index) ? 3 : 0),
         "the exit code is not the element's", r.index);
  if (r.value == 100 && r.index < NA) {
    s->a[r.index]++;
    s->a_ids[r.index] = r.id;
    expect(s, res->attempt == 1, "an element of A ran twice", r.index);
  } else if (r.value == 200) {
    s->plain++;
    expect(s, r.index == 0, "a plain task has an index", r.index);
  } else if (r.value == 300 && r.index < NB) {
    s->b_attempts[r.index]++;
    expect(s, res->attempt == s->b_attempts[r.index],
           "attempts of an element of B out of order", r.index);
    expect(s, r.id == loom_task_id_element(B_ID, r.index),
           "an element of B without its derived id", r.index);
    if (s->b_attempts[r.index] == 2)
      expect(s, s->b_ids[r.index] == r.id, "a retry changed the id", r.index);
    s->b_ids[r.index] = r.id;
  } else if (r.value == 400 && r.index < NC) {
    s->c[r.index]++;
  } else {
    expect(s, 0, "a result from no array", r.index);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Submits an array of kind "elem" with payload value v (rank 0). */
static void submit_array(struct loom *l, uint64_t v, uint64_t count,
                         uint64_t id, int retries) {
  struct loom_task_spec s;
  static uint64_t values[8];
  static int next;

  values[next % 8] = v; /* loom_submit copies the payload */
  loom_task_spec_init(&s);
  CHECK(s.count == 0);
  s.kind = "elem";
  s.payload = &values[next++ % 8];
  s.len = sizeof(uint64_t);
  s.count = count;
  s.id = id;
  s.retries = retries;
  CHECK_RC(loom_submit(l, &s), 0);
}

static void test_arrays_run(void) {
  struct loom *l = mpicheck_engine(NULL);
  struct loom_summary sum;
  struct seen *s = calloc(1, sizeof(*s));
  uint64_t fails = 0, dup = 0;

  CHECK(l && s);
  if (!l || !s) {
    free(s);
    return;
  }
  CHECK_RC(loom_register(l, "elem", elem_fn, NULL), 0);
  if (world_rank == 0) {
    struct loom_task_spec sh;

    submit_array(l, 100, NA, 0, 0);
    submit_array(l, 200, 0, 0, 0); /* count 0: one task */
    submit_array(l, 300, NB, B_ID, 1);
    loom_task_spec_init(&sh);
    sh.payload = "true";
    sh.len = 4;
    sh.count = 2;
    CHECK_RC(loom_submit(l, &sh), LOOM_EINVAL);
  }
  CHECK_RC(loom_run(l, NULL, NULL, on_elem, s), 0);
  if (world_rank == 0) {
    for (uint64_t k = 0; k < NA; k++) {
      expect(s, s->a[k] == 1, "an element of A did not run once", k);
      fails += FAILS(k);
    }
    for (uint64_t k = 0; k < NB; k++)
      expect(s, s->b_attempts[k] == (FAILS(k) ? 2 : 1),
             "an element of B ran a wrong number of times", k);
    qsort(s->a_ids, NA, sizeof(uint64_t), cmp_u64);
    for (uint64_t k = 1; k < NA; k++)
      dup += s->a_ids[k] == s->a_ids[k - 1];
    CHECK(dup == 0);
    CHECK(s->plain == 1);
    CHECK(s->bad == 0);
    CHECK(s->results == NA + 1 + NB + 1);
    loom_summary_get(l, &sum);
    CHECK(sum.tasks == NA + 1 + NB);
    CHECK(sum.failed == fails + 1);
    CHECK(sum.succeeded == NA + 1 + NB - fails - 1);
    CHECK(sum.attempts == NA + 1 + NB + 1);
  }
  loom_free(l);
  free(s);
}

/* One run of array C in dir. Returns the master's results in *s. */
static void run_c(const char *dir, int resume, int skip_failed,
                  struct seen *s) {
  struct loom_options opt;
  struct loom *l;

  loom_options_init(&opt);
  opt.run_dir = dir;
  opt.resume = resume;
  opt.skip_failed = skip_failed;
  l = mpicheck_engine(&opt);
  if (!l)
    return;
  CHECK_RC(loom_register(l, "elem", elem_fn, NULL), 0);
  memset(s, 0, sizeof(*s));
  if (world_rank == 0)
    submit_array(l, 400, NC, 0, 0);
  CHECK_RC(loom_run(l, NULL, NULL, on_elem, s), 0);
  loom_free(l);
}

/* The joblog's rows: how many, and how many distinct ids. */
static void joblog_rows(const char *dir, uint64_t *rows, uint64_t *ids) {
  char path[512], line[4096];
  uint64_t *all = NULL, n = 0;
  FILE *f;

  *rows = *ids = 0;
  snprintf(path, sizeof(path), "%s/joblog.tsv", dir);
  f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f)
    return;
  all = calloc(4 * NC, sizeof(uint64_t));
  CHECK(all != NULL);
  while (all && fgets(line, sizeof(line), f))
    if (strncmp(line, "id\t", 3) != 0 && n < 4 * NC)
      all[n++] = strtoull(line, NULL, 16);
  fclose(f);
  qsort(all, n, sizeof(uint64_t), cmp_u64);
  for (uint64_t k = 0; k < n; k++)
    *ids += k == 0 || all[k] != all[k - 1];
  *rows = n;
  free(all);
}

static void test_arrays_resume(void) {
  char dir[256] = "/tmp/loom-arrays-XXXXXX";
  struct seen *s = calloc(1, sizeof(*s));
  uint64_t rows, ids, fails = 0, wrong = 0;

  CHECK(s != NULL);
  if (world_rank == 0)
    CHECK(mkdtemp(dir) != NULL);
  MPI_Bcast(dir, sizeof(dir), MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!s)
    return; /* every rank alike: calloc does not fail on one alone here */
  for (uint64_t k = 0; k < NC; k++)
    fails += FAILS(k);

  run_c(dir, 0, 0, s);
  if (world_rank == 0) {
    for (uint64_t k = 0; k < NC; k++)
      wrong += s->c[k] != 1;
    CHECK(wrong == 0);
    CHECK(s->bad == 0);
    joblog_rows(dir, &rows, &ids);
    CHECK(rows == NC);
    CHECK(ids == NC);
  }

  /* Resumed: the failed elements, and only they, run again. */
  run_c(dir, 1, 0, s);
  if (world_rank == 0) {
    wrong = 0;
    for (uint64_t k = 0; k < NC; k++)
      wrong += s->c[k] != (FAILS(k) ? 1 : 0);
    CHECK(wrong == 0);
    CHECK(s->results == fails);
    CHECK(s->bad == 0);
    joblog_rows(dir, &rows, &ids);
    CHECK(rows == NC + fails);
    CHECK(ids == NC); /* a rerun keeps the element's identity */
  }

  /* Failed ones count as done: nothing runs. */
  run_c(dir, 1, 1, s);
  if (world_rank == 0)
    CHECK(s->results == 0);

  if (world_rank == 0) {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
  free(s);
}

int main(int argc, char **argv) {
  if (mpicheck_init(&argc, &argv) != 0)
    return 3;
  test_arrays_run();
  test_tiny_array_run();
  test_arrays_resume();
  return mpicheck_verdict("test_arrays_api");
}
