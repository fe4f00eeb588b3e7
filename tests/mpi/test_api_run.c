/* test_api_run.c - the library's main path under mpiexec, public API only.
 *
 * One engine does five runs: 1000 submitted tasks whose function doubles its
 * payload (every reply checked, every task seen exactly once), a second
 * submit-queue run, a pull-source run, a run of exit codes and retries, and
 * a run whose task function and result callback try to register and run
 * while the engine is running. Registration errors are checked first.
 * Every rank takes every collective call whatever a check found, so a
 * failed check is reported instead of hanging; ctest's TIMEOUT catches
 * the hangs that remain. Exit status 0 only when every rank passed.
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

#define NTASKS 1000
#define NTASKS2 500
#define NPULL 300
#define ID2_BASE UINT64_C(0xabc0000000000000)

/* ---- task functions ------------------------------------------------------ */

/* The reply of "double": the task's id, its payload, twice the payload and
 * the rank that ran it. */
struct dbl_reply {
  uint64_t id;
  uint64_t v;
  uint64_t twice;
  uint64_t rank;
};

static int double_fn(struct loom_task *task, const void *payload, size_t len,
                     void *arg) {
  struct dbl_reply r;
  (void)arg;
  if (len != sizeof(uint64_t))
    return 2;
  memcpy(&r.v, payload, sizeof(r.v));
  r.id = loom_task_id(task);
  r.twice = 2 * r.v;
  r.rank = (uint64_t)loom_task_rank(task);
  return loom_task_reply(task, &r, sizeof(r)) == 0 ? 0 : 3;
}

/* "ret": returns the int32 payload as the task's result code. */
static int ret_fn(struct loom_task *task, const void *payload, size_t len,
                  void *arg) {
  int32_t v;
  (void)task;
  (void)arg;
  if (len != sizeof(v))
    return 99;
  memcpy(&v, payload, sizeof(v));
  return v;
}

/* "reg": tries to register a kind and to start a run from inside a task;
 * replies with both return codes. arg is the engine. */
static int reg_fn(struct loom_task *task, const void *payload, size_t len,
                  void *arg) {
  struct loom *l = arg;
  int32_t rc[2];
  (void)payload;
  (void)len;
  rc[0] = loom_register(l, "late", double_fn, NULL);
  rc[1] = loom_run(l, NULL, NULL, NULL, NULL);
  return loom_task_reply(task, rc, sizeof(rc)) == 0 ? 0 : 3;
}

/* ---- result callbacks ---------------------------------------------------- */

static int valid_worker(int w) {
  return world_size == 1 ? w == 0 : (w >= 1 && w < world_size);
}

struct doubles {
  uint64_t first; /* payload of the first task of this run */
  uint64_t n;     /* tasks in this run */
  uint64_t base;  /* explicit ids: base + index; 0 = derived ids */
  uint64_t results;
  unsigned char *count; /* per task index */
  uint64_t *ids;
};

static void doubles_init(struct doubles *d, uint64_t first, uint64_t n,
                         uint64_t base) {
  memset(d, 0, sizeof(*d));
  d->first = first;
  d->n = n;
  d->base = base;
  d->count = calloc(n, 1);
  d->ids = calloc(n, sizeof(uint64_t));
  CHECK(d->count && d->ids);
}

static void doubles_fini(struct doubles *d) {
  free(d->count);
  free(d->ids);
}

static void on_double(void *arg, const struct loom_result *res) {
  struct doubles *d = arg;
  struct dbl_reply r;
  uint64_t k;

  d->results++;
  CHECK(res->exit_code == 0);
  CHECK(res->signal == 0);
  CHECK(res->attempt == 1);
  CHECK(res->kind && strcmp(res->kind, "double") == 0);
  CHECK(valid_worker(res->worker));
  CHECK(res->elapsed >= 0);
  CHECK(res->len == sizeof(r) && res->data != NULL);
  if (res->len != sizeof(r) || !res->data)
    return;
  memcpy(&r, res->data, sizeof(r));
  CHECK(r.twice == 2 * r.v);
  CHECK(r.id == res->id);
  CHECK(r.rank == (uint64_t)res->worker);
  CHECK(r.v >= d->first && r.v < d->first + d->n);
  if (r.v < d->first || r.v >= d->first + d->n)
    return;
  k = r.v - d->first;
  CHECK(res->line == k + 1);
  if (d->base)
    CHECK(res->id == d->base + k);
  d->count[k]++;
  d->ids[k] = res->id;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Master: every task exactly once, ids distinct. */
static void doubles_check(struct doubles *d) {
  uint64_t missing = 0, twice = 0, dup = 0;

  CHECK(d->results == d->n);
  for (uint64_t k = 0; k < d->n; k++) {
    missing += d->count[k] == 0;
    twice += d->count[k] > 1;
  }
  qsort(d->ids, d->n, sizeof(uint64_t), cmp_u64);
  for (uint64_t k = 1; k < d->n; k++)
    dup += d->ids[k] == d->ids[k - 1];
  CHECK(missing == 0);
  CHECK(twice == 0);
  CHECK(dup == 0);
  if (missing || twice || dup)
    fprintf(stderr,
            "rank 0: %" PRIu64 " missing, %" PRIu64 " seen twice, %" PRIu64
            " duplicate ids\n",
            missing, twice, dup);
}

static void check_summary(struct loom *l, uint64_t tasks, uint64_t ok,
                          uint64_t failed, uint64_t attempts) {
  struct loom_summary s;

  memset(&s, 0xff, sizeof(s));
  loom_summary_get(l, &s);
  if (loom_rank(l) != 0) {
    CHECK(s.tasks == 0 && s.succeeded == 0 && s.failed == 0 && s.attempts == 0);
    return;
  }
  CHECK(s.tasks == tasks);
  CHECK(s.succeeded == ok);
  CHECK(s.failed == failed);
  CHECK(s.attempts == attempts);
  CHECK(s.makespan >= 0);
  if (s.tasks != tasks || s.succeeded != ok || s.failed != failed ||
      s.attempts != attempts)
    fprintf(stderr,
            "summary: %" PRIu64 " tasks %" PRIu64 " ok %" PRIu64
            " failed %" PRIu64 " attempts; expected %" PRIu64 " %" PRIu64
            " %" PRIu64 " %" PRIu64 "\n",
            s.tasks, s.succeeded, s.failed, s.attempts, tasks, ok, failed,
            attempts);
}

/* ---- the runs ------------------------------------------------------------ */

static void test_register_errors(struct loom *l) {
  char name[80];

  CHECK_RC(loom_register(l, "double", double_fn, NULL), 0);
  CHECK_RC(loom_register(l, "double", ret_fn, NULL), LOOM_EEXIST);
  CHECK_RC(loom_register(l, "sh", double_fn, NULL), LOOM_EEXIST);
  CHECK_RC(loom_register(l, "", double_fn, NULL), LOOM_EINVAL);
  CHECK_RC(loom_register(l, NULL, double_fn, NULL), LOOM_EINVAL);
  CHECK_RC(loom_register(l, "nofn", NULL, NULL), LOOM_EINVAL);
  CHECK_RC(loom_register(NULL, "x", double_fn, NULL), LOOM_EINVAL);
  memset(name, 'n', 64);
  name[64] = '\0';
  CHECK_RC(loom_register(l, name, double_fn, NULL), LOOM_EINVAL);
  name[63] = '\0'; /* 63 bytes is the longest name */
  CHECK_RC(loom_register(l, name, double_fn, NULL), 0);
  CHECK_RC(loom_register(l, "ret", ret_fn, NULL), 0);
  CHECK_RC(loom_register(l, "reg", reg_fn, l), 0);
}

static void test_submit_errors(struct loom *l) {
  struct loom_task_spec spec;

  loom_task_spec_init(&spec);
  CHECK(spec.kind == NULL && spec.cost < 0 && spec.timeout == 0 &&
        spec.retries == 0 && spec.id == 0);
  spec.kind = "double";
  spec.len = 8;
  spec.payload = NULL; /* bytes promised but none given */
  CHECK_RC(loom_submit(l, &spec), LOOM_EINVAL);
  CHECK_RC(loom_submit(l, NULL), LOOM_EINVAL);
  CHECK_RC(loom_submit(NULL, &spec), LOOM_EINVAL);
  if (loom_rank(l) != 0) {
    uint64_t v = 1;
    spec.payload = &v;
    CHECK_RC(loom_submit(l, &spec), LOOM_ESTATE); /* master only */
  }
}

static void submit_doubles(struct loom *l, uint64_t first, uint64_t n,
                           uint64_t base) {
  for (uint64_t k = 0; k < n; k++) {
    struct loom_task_spec spec;
    uint64_t v = first + k;
    loom_task_spec_init(&spec);
    spec.kind = "double";
    spec.payload = &v; /* copied by loom_submit */
    spec.len = sizeof(v);
    spec.line = k + 1;
    spec.id = base ? base + k : 0;
    CHECK_RC(loom_submit(l, &spec), 0);
  }
}

static void test_submitted_run(struct loom *l, uint64_t first, uint64_t n,
                               uint64_t base) {
  struct doubles d;

  doubles_init(&d, first, n, base);
  if (loom_rank(l) == 0)
    submit_doubles(l, first, n, base);
  CHECK_RC(loom_run(l, NULL, NULL, on_double, &d), 0);
  if (loom_rank(l) == 0)
    doubles_check(&d);
  else
    CHECK(d.results == 0); /* workers ignore on_result */
  check_summary(l, n, n, 0, n);
  doubles_fini(&d);
}

struct pull {
  uint64_t next;
  uint64_t n;
  uint64_t v; /* the payload of the spec handed out last */
  int calls_after_end;
};

static int pull_next(void *arg, struct loom_task_spec *spec) {
  struct pull *p = arg;

  CHECK(world_rank == 0);
  if (p->next >= p->n) {
    p->calls_after_end++;
    return 0;
  }
  loom_task_spec_init(spec);
  p->v = 10000 + p->next;
  spec->kind = "double";
  spec->payload = &p->v; /* valid until the next call */
  spec->len = sizeof(p->v);
  spec->line = p->next + 1;
  p->next++;
  return 1;
}

static void test_pull_run(struct loom *l) {
  struct pull p = {0, NPULL, 0, 0};
  struct doubles d;

  doubles_init(&d, 10000, NPULL, 0);
  CHECK_RC(loom_run(l, pull_next, &p, on_double, &d), 0);
  if (loom_rank(l) == 0) {
    doubles_check(&d);
    CHECK(p.next == NPULL);
  } else {
    CHECK(p.next == 0);
  }
  check_summary(l, NPULL, NPULL, 0, NPULL);
  doubles_fini(&d);
}

/* Task k returns codes[k]; the last one also gets two retries. */
static const int32_t codes[] = {0, 7, 255, 256, -1, 1000, 3};
static const int recorded[] = {0, 7, 255, 1, 1, 1, 3};
#define NCODES (sizeof(codes) / sizeof(codes[0]))
#define CODE_ID_BASE UINT64_C(0x5000)

struct exits {
  int seen[NCODES][4]; /* per task and attempt: exit code + 1000 */
  int results;
};

static void on_exit_code(void *arg, const struct loom_result *res) {
  struct exits *e = arg;
  uint64_t k = res->id - CODE_ID_BASE;

  e->results++;
  CHECK(k < NCODES);
  CHECK(res->attempt >= 1 && res->attempt <= 3);
  CHECK(res->signal == 0);
  CHECK(res->line == k + 1);
  CHECK(res->kind && strcmp(res->kind, "ret") == 0);
  CHECK(valid_worker(res->worker));
  if (k < NCODES && res->attempt >= 1 && res->attempt <= 3)
    e->seen[k][res->attempt] = res->exit_code + 1000;
}

static void test_exit_codes(struct loom *l) {
  struct exits e;

  memset(&e, 0, sizeof(e));
  if (loom_rank(l) == 0)
    for (size_t k = 0; k < NCODES; k++) {
      struct loom_task_spec spec;
      loom_task_spec_init(&spec);
      spec.kind = "ret";
      spec.payload = &codes[k];
      spec.len = sizeof(codes[k]);
      spec.id = CODE_ID_BASE + k;
      spec.line = k + 1;
      spec.retries = k == NCODES - 1 ? 2 : 0;
      CHECK_RC(loom_submit(l, &spec), 0);
    }
  CHECK_RC(loom_run(l, NULL, NULL, on_exit_code, &e), 0);
  if (loom_rank(l) == 0) {
    CHECK(e.results == (int)NCODES + 2);
    for (size_t k = 0; k < NCODES; k++) {
      int attempts = k == NCODES - 1 ? 3 : 1;
      for (int a = 1; a <= 3; a++) {
        int want = a <= attempts ? recorded[k] + 1000 : 0;
        if (e.seen[k][a] != want) {
          fprintf(stderr,
                  "task returning %d, attempt %d: recorded %d, expected %d\n",
                  (int)codes[k], a, e.seen[k][a] ? e.seen[k][a] - 1000 : -1,
                  want ? want - 1000 : -1);
          failures++;
        }
      }
    }
  }
  /* Only the task returning 0 succeeded; 9 attempts in all. */
  check_summary(l, NCODES, 1, NCODES - 1, NCODES + 2);
}

struct reg_results {
  struct loom *l;
  int results;
  int checked_in_callback;
};

static void on_reg(void *arg, const struct loom_result *res) {
  struct reg_results *r = arg;
  int32_t rc[2];

  r->results++;
  CHECK(res->exit_code == 0);
  CHECK(res->len == sizeof(rc));
  if (res->len == sizeof(rc)) {
    memcpy(rc, res->data, sizeof(rc));
    CHECK_RC(rc[0], LOOM_ESTATE); /* loom_register inside a task */
    CHECK_RC(rc[1], LOOM_ESTATE); /* loom_run inside a task */
  }
  if (!r->checked_in_callback) {
    r->checked_in_callback = 1;
    CHECK_RC(loom_register(r->l, "late", double_fn, NULL), LOOM_ESTATE);
    CHECK_RC(loom_run(r->l, NULL, NULL, NULL, NULL), LOOM_ESTATE);
  }
}

static void test_calls_while_running(struct loom *l) {
  struct reg_results r = {l, 0, 0};
  const int n = 8;

  if (loom_rank(l) == 0)
    for (int k = 0; k < n; k++) {
      struct loom_task_spec spec;
      loom_task_spec_init(&spec);
      spec.kind = "reg";
      CHECK_RC(loom_submit(l, &spec), 0);
    }
  CHECK_RC(loom_run(l, NULL, NULL, on_reg, &r), 0);
  if (loom_rank(l) == 0) {
    CHECK(r.results == n);
    CHECK(r.checked_in_callback);
  }
  check_summary(l, (uint64_t)n, (uint64_t)n, 0, (uint64_t)n);
}

/* ---- replies past the part size ---------------------------------------- */

#define MIB_TASKS 300

/* "mib": replies 1 MiB whose every byte is the task's index (mod 251). */
static int mib_fn(struct loom_task *task, const void *payload, size_t len,
                  void *arg) {
  static unsigned char *buf;
  uint64_t i;
  (void)arg;
  if (len != sizeof(i))
    return 2;
  memcpy(&i, payload, sizeof(i));
  if (!buf && !(buf = malloc(LOOM_RESULT_MAX)))
    return 3;
  memset(buf, (int)(i % 251), LOOM_RESULT_MAX);
  return loom_task_reply(task, buf, LOOM_RESULT_MAX) == 0 ? 0 : 4;
}

struct mibs {
  unsigned char seen[MIB_TASKS];
  int bad;
};

static void on_mib(void *arg, const struct loom_result *r) {
  struct mibs *m = arg;
  const unsigned char *b = r->data;
  uint64_t i = r->line - 1;
  if (i >= MIB_TASKS || r->len != LOOM_RESULT_MAX || r->exit_code != 0) {
    m->bad++;
    return;
  }
  m->seen[i]++;
  m->bad += b[0] != i % 251 || b[r->len - 1] != i % 251;
}

/* Batches grow to hundreds of 1 MiB replies: their answers come back in
 * several DONE parts (no message near MPI's 2 GiB limit), and every reply
 * arrives once, whole, while the window's accounting stays right (a part
 * taken for the batch's end would leave the master answering for a batch
 * it no longer has). */
static void test_replies_past_the_part_size(void) {
  struct loom_options opt;
  struct loom *l = NULL;
  struct mibs got;
  int rc;

  loom_options_init(&opt);
  opt.quiet = 1;
  opt.batch_target = 10; /* seconds: batches as big as doubling allows */
  opt.window = 1;
  CHECK_RC(loom_new(MPI_COMM_WORLD, &opt, &l), 0);
  if (!l)
    return;
  CHECK_RC(loom_register(l, "mib", mib_fn, NULL), 0);
  memset(&got, 0, sizeof(got));
  if (world_rank == 0)
    for (uint64_t i = 0; i < MIB_TASKS; i++) {
      struct loom_task_spec s;
      loom_task_spec_init(&s);
      s.kind = "mib";
      s.payload = &i;
      s.len = sizeof(i);
      s.line = i + 1;
      CHECK_RC(loom_submit(l, &s), 0);
    }
  rc = loom_run(l, NULL, NULL, on_mib, &got);
  CHECK_RC(rc, 0);
  if (world_rank == 0) {
    CHECK(got.bad == 0);
    for (int i = 0; i < MIB_TASKS; i++)
      CHECK(got.seen[i] == 1);
  }
  loom_free(l);
}

/* A batch's finished tasks are answered while a later task of the same
 * batch still runs. 300 tasks of 50 us, then one that waits (20 s at
 * most) for a file the master makes once all 300 results are in: with big
 * batches the waiting task shares a batch with quick ones before it, and
 * if their answers waited for the batch's end, it would wait in vain. */
#define NQUICK 300
#define WAIT_LIMIT 20.0

static int quick_fn(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  (void)task;
  (void)payload;
  (void)len;
  (void)arg;
  usleep(50); /* not tiny: tiny tasks are timed, and answered, in groups */
  return 0;
}

static int waiter_fn(struct loom_task *task, const void *payload, size_t len,
                     void *arg) {
  char path[256];
  double t0 = MPI_Wtime();
  (void)task;
  (void)arg;
  if (len == 0 || len >= sizeof(path))
    return 2;
  memcpy(path, payload, len);
  path[len] = '\0';
  while (access(path, F_OK) != 0) {
    if (MPI_Wtime() - t0 > WAIT_LIMIT)
      return 1;
    usleep(1000);
  }
  return 0;
}

struct harvest {
  char path[256];
  uint64_t next, quick_done;
  int waiter_seen, waiter_code;
};

static int harvest_next(void *arg, struct loom_task_spec *spec) {
  struct harvest *h = arg;

  if (h->next > NQUICK)
    return 0;
  loom_task_spec_init(spec);
  spec->kind = h->next < NQUICK ? "quick" : "waiter";
  if (h->next == NQUICK) {
    spec->payload = h->path;
    spec->len = strlen(h->path);
  }
  h->next++;
  return 1;
}

static void on_harvest(void *arg, const struct loom_result *res) {
  struct harvest *h = arg;

  if (strcmp(res->kind, "quick") == 0) {
    if (++h->quick_done == NQUICK) {
      FILE *f = fopen(h->path, "w");
      CHECK(f != NULL);
      if (f)
        fclose(f);
    }
  } else {
    h->waiter_seen++;
    h->waiter_code = res->exit_code;
  }
}

static void test_answers_before_their_batch_ends(void) {
  struct loom_options opt;
  struct harvest h;
  struct loom *l;

  loom_options_init(&opt);
  opt.batch_target = 10; /* seconds: batches as big as doubling allows */
  l = mpicheck_engine(&opt);
  if (!l)
    return;
  memset(&h, 0, sizeof(h));
  snprintf(h.path, sizeof(h.path), "/tmp/loom-test-harvest-%ld",
           (long)getpid());
  unlink(h.path);
  CHECK_RC(loom_register(l, "quick", quick_fn, NULL), 0);
  CHECK_RC(loom_register(l, "waiter", waiter_fn, NULL), 0);
  CHECK_RC(
      loom_run(l, world_rank == 0 ? harvest_next : NULL, &h, on_harvest, &h),
      0);
  if (world_rank == 0) {
    CHECK(h.quick_done == NQUICK);
    CHECK(h.waiter_seen == 1);
    CHECK(h.waiter_code == 0); /* 1: the quick answers never came */
    unlink(h.path);
  }
  loom_free(l);
}

int main(int argc, char **argv) {
  struct loom *l;

  if (mpicheck_init(&argc, &argv) != 0)
    return 3;
  l = mpicheck_engine(NULL);
  if (!l) {
    MPI_Finalize();
    return 1;
  }
  CHECK(loom_rank(l) == world_rank);
  CHECK(loom_nworkers(l) == (world_size > 1 ? world_size - 1 : 1));

  test_register_errors(l);
  test_submit_errors(l);
  test_submitted_run(l, 0, NTASKS, 0);
  /* A second run on the same engine: only what was submitted since. */
  test_submitted_run(l, 5000, NTASKS2, ID2_BASE);
  test_pull_run(l);
  test_exit_codes(l);
  test_calls_while_running(l);
  loom_free(l);
  test_replies_past_the_part_size();
  test_answers_before_their_batch_ends();

  return mpicheck_verdict("test_api_run");
}
