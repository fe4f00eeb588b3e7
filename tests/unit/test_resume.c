/* test_resume.c - unit tests of what a resumed run reads back: the u64 map
 * (engine/src/map.c), the journal reader (loom__joblog_read in joblog.c)
 * and the resume decisions (resume.c) on journals written by hand, with
 * keys and ids computed the way the master computes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/map.h"
#include "dispatch/engine.h"
#include "journal/joblog.h"
#include "journal/resume.h"

/* ---- the map ------------------------------------------------------------ */

/* Keys that share their low bits, so that they collide unless the map mixes
 * them; never 0. */
static uint64_t nth_key(uint64_t i) { return (i + 1) << 32; }

static void test_map_finds_what_was_inserted(void **st) {
  struct loom__map m = {0};
  struct loom__mapval *v;
  (void)st;

  assert_null(loom__map_get(&m, 42, 0)); /* an empty map finds nothing */
  v = loom__map_get(&m, 42, 1);
  assert_non_null(v);
  assert_int_equal(v->u, 0); /* a new value is zeroed */
  assert_int_equal(v->a, 0);
  assert_int_equal(v->b, 0);
  v->u = 7;
  v->a = 8;
  v->b = 9;
  v = loom__map_get(&m, 42, 0);
  assert_non_null(v);
  assert_int_equal(v->u, 7);
  assert_int_equal(v->a, 8);
  assert_int_equal(v->b, 9);
  /* create on an existing key finds it, it does not reset it */
  v = loom__map_get(&m, 42, 1);
  assert_int_equal(v->u, 7);
  assert_int_equal(m.n, 1);
  assert_null(loom__map_get(&m, 43, 0));
  assert_int_equal(m.n, 1);
  loom__map_fini(&m);
  assert_null(m.keys);
  assert_int_equal(m.cap, 0);
  assert_int_equal(m.n, 0);
  loom__map_fini(&m); /* twice is harmless */
}

static void check_all_present(struct loom__map *m, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    struct loom__mapval *v = loom__map_get(m, nth_key(i), 0);
    assert_non_null(v);
    assert_int_equal(v->u, i);
    assert_int_equal(v->a, (uint32_t)(i * 3));
  }
}

static void test_map_grows_past_64_and_to_100000_keys(void **st) {
  struct loom__map m = {0};
  const uint64_t n = 100000;
  (void)st;

  for (uint64_t i = 0; i < n; i++) {
    struct loom__mapval *v = loom__map_get(&m, nth_key(i), 1);
    assert_non_null(v);
    v->u = i;
    v->a = (uint32_t)(i * 3);
    if (i == 63) {
      assert_int_equal(m.n, 64);
      check_all_present(&m, 64);
    }
    if (i == 64) {
      /* past the first table: grown, everything still there */
      assert_true(m.cap > 64);
      check_all_present(&m, 65);
    }
  }
  assert_int_equal(m.n, n);
  assert_true(m.cap >= 2 * n);              /* grows at 1/2 load */
  assert_int_equal(m.cap & (m.cap - 1), 0); /* a power of two */
  check_all_present(&m, n);
  for (uint64_t i = n; i < n + 1000; i++)
    assert_null(loom__map_get(&m, nth_key(i), 0));
  assert_int_equal(m.n, n);
  loom__map_fini(&m);
}

static void test_map_iteration_visits_each_key_once(void **st) {
  struct loom__map m = {0};
  const uint64_t n = 5000;
  unsigned char *seen = calloc(n, 1);
  struct loom__mapval *v;
  size_t pos = 0, visits = 0;
  uint64_t key;
  (void)st;

  assert_non_null(seen);
  assert_int_equal(loom__map_next(&m, &pos, &key, &v), 0); /* empty map */
  for (uint64_t i = 0; i < n; i++) {
    v = loom__map_get(&m, nth_key(i), 1);
    assert_non_null(v);
    v->u = i;
  }
  pos = 0;
  while (loom__map_next(&m, &pos, &key, &v)) {
    assert_true(v->u < n);
    assert_int_equal(key, nth_key(v->u));
    assert_int_equal(seen[v->u], 0);
    seen[v->u] = 1;
    visits++;
  }
  assert_int_equal(visits, n);
  assert_int_equal(loom__map_next(&m, &pos, &key, &v), 0); /* stays at end */
  free(seen);
  loom__map_fini(&m);
}

static void test_map_rejects_key_0(void **st) {
  struct loom__map m = {0};
  (void)st;

  assert_null(loom__map_get(&m, 0, 1));
  assert_int_equal(m.n, 0);
  assert_non_null(loom__map_get(&m, 1, 1));
  assert_null(loom__map_get(&m, 0, 1));
  assert_null(loom__map_get(&m, 0, 0));
  assert_int_equal(m.n, 1);
  loom__map_fini(&m);
}

/* ---- journals written by hand ------------------------------------------ */

/* The current test's directory; the teardown removes it and its files. */
static char dir[64];

static int make_dir(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/loom-test-resume-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static void remove_file(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path);
}

static int remove_dir(void **st) {
  (void)st;
  remove_file("joblog.tsv");
  remove_file("dispatched.tsv");
  rmdir(dir);
  return 0;
}

/* Writes text as DIR/name, replacing what was there. */
static void write_file(const char *name, const char *text) {
  char path[128];
  FILE *f;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

/* A journal being written: a text for each file, grown row by row. */
struct journal {
  char *log;
  size_t log_len;
  FILE *logf;
  char *disp;
  size_t disp_len;
  FILE *dispf;
};

static uint64_t key_of(const char *cmd) {
  return loom__task_key(loom__kind_hash("sh"), cmd, strlen(cmd));
}

static uint64_t id_of(const char *cmd, uint64_t line) {
  return loom_task_id_derive("sh", cmd, strlen(cmd), line);
}

static void journal_begin(struct journal *j) {
  memset(j, 0, sizeof(*j));
  j->logf = open_memstream(&j->log, &j->log_len);
  j->dispf = open_memstream(&j->disp, &j->disp_len);
  assert_non_null(j->logf);
  assert_non_null(j->dispf);
  fputs(LOOM__JOBLOG_HEADER, j->logf);
  fputs(LOOM__STARTED_HEADER, j->dispf);
}

/* A dispatched.tsv row: the task on line `line` running cmd was handed
 * out. */
static void journal_dispatched(struct journal *j, const char *cmd,
                               uint64_t line) {
  fprintf(j->dispf, "%016" PRIx64 "\t%016" PRIx64 "\n", id_of(cmd, line),
          key_of(cmd));
}

/* A joblog.tsv row for one attempt of the task on line `line` (the command
 * has no character that needs escaping). */
static void journal_row(struct journal *j, const char *cmd, uint64_t line,
                        int attempt, const char *status) {
  int code = strcmp(status, "ok") == 0 ? 0 : 1;
  fprintf(j->logf,
          "%016" PRIx64 "\t%016" PRIx64 "\t%" PRIu64
          "\t1\tnode1\t1700000000.000000\t0.010000\t%d\t0\t%s\t%d\t-\t%s\n",
          id_of(cmd, line), key_of(cmd), line, code, status, attempt, cmd);
}

/* A task that was handed out and finished: both files. */
static void journal_ran(struct journal *j, const char *cmd, uint64_t line,
                        int attempt, const char *status) {
  journal_dispatched(j, cmd, line);
  journal_row(j, cmd, line, attempt, status);
}

/* Writes both files into DIR; `torn` is added to joblog.tsv without a
 * newline, as a kill mid-write leaves it. */
static void journal_end(struct journal *j, const char *torn) {
  assert_int_equal(fclose(j->logf), 0);
  assert_int_equal(fclose(j->dispf), 0);
  if (torn) {
    size_t n = j->log_len + strlen(torn) + 1;
    char *t = malloc(n);
    assert_non_null(t);
    snprintf(t, n, "%s%s", j->log, torn);
    write_file("joblog.tsv", t);
    free(t);
  } else {
    write_file("joblog.tsv", j->log);
  }
  write_file("dispatched.tsv", j->disp);
  free(j->log);
  free(j->disp);
}

/* ---- loom__joblog_read --------------------------------------------------- */

#define MAX_SEEN 16

/* What the reader handed to its callback. */
struct seen {
  struct loom__joblog_entry e[MAX_SEEN];
  int n;
  int stop_at; /* return 99 on this call (1-based), 0 = never */
};

static int collect(void *arg, const struct loom__joblog_entry *e) {
  struct seen *s = arg;
  assert_true(s->n < MAX_SEEN);
  s->e[s->n++] = *e;
  return s->stop_at == s->n ? 99 : 0;
}

static void assert_entry(const struct loom__joblog_entry *e, const char *cmd,
                         uint64_t line, int attempt, int ok) {
  assert_int_equal(e->id, id_of(cmd, line));
  assert_int_equal(e->key, key_of(cmd));
  assert_int_equal(e->attempt, attempt);
  assert_int_equal(e->ok, ok);
}

static void test_joblog_read_gives_every_whole_row(void **st) {
  struct journal j;
  struct seen s = {0};
  char err[256] = "";
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "echo a", 1, 1, "ok");
  journal_ran(&j, "exit 3", 2, 1, "failed");
  journal_row(&j, "exit 3", 2, 2, "timeout");
  journal_ran(&j, "kill -9 $$", 4, 1, "signal");
  journal_end(&j, NULL);
  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err), 0);
  assert_int_equal(s.n, 4);
  assert_entry(&s.e[0], "echo a", 1, 1, 1);
  assert_entry(&s.e[1], "exit 3", 2, 1, 0);
  assert_entry(&s.e[2], "exit 3", 2, 2, 0);
  assert_entry(&s.e[3], "kill -9 $$", 4, 1, 0);

  /* dispatched.tsv rows: attempt 0, not ok */
  memset(&s, 0, sizeof s);
  assert_int_equal(
      loom__joblog_read(dir, "dispatched.tsv", collect, &s, err, sizeof err),
      0);
  assert_int_equal(s.n, 3);
  assert_entry(&s.e[0], "echo a", 1, 0, 0);
  assert_entry(&s.e[1], "exit 3", 2, 0, 0);
  assert_entry(&s.e[2], "kill -9 $$", 4, 0, 0);
}

static void test_joblog_read_skips_a_torn_last_line(void **st) {
  struct journal j;
  struct seen s = {0};
  char err[256] = "";
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "echo a", 1, 1, "ok");
  journal_ran(&j, "echo b", 2, 1, "ok");
  /* the start of a third row, cut mid-field */
  journal_end(&j, "00112233445566\t");
  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err), 0);
  assert_int_equal(s.n, 2);
  assert_entry(&s.e[1], "echo b", 2, 1, 1);

  /* a whole row but for its newline is torn too: it never made it */
  memset(&s, 0, sizeof s);
  write_file("dispatched.tsv",
             LOOM__STARTED_HEADER "0000000000000001\t0000000000000002\n"
                                  "0000000000000003\t0000000000000004");
  assert_int_equal(
      loom__joblog_read(dir, "dispatched.tsv", collect, &s, err, sizeof err),
      0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].id, 1);
  assert_int_equal(s.e[0].key, 2);

  /* a file torn inside its header has no rows */
  memset(&s, 0, sizeof s);
  write_file("dispatched.tsv", "id\tk");
  assert_int_equal(
      loom__joblog_read(dir, "dispatched.tsv", collect, &s, err, sizeof err),
      0);
  assert_int_equal(s.n, 0);
}

static void test_joblog_read_rejects_a_bad_header(void **st) {
  struct seen s = {0};
  char err[256] = "";
  (void)st;

  write_file("joblog.tsv", "Seq\tHost\tStarttime\tJobRuntime\tCommand\n"
                           "1\th\t0\t0\techo\n");
  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err),
      LOOM_ESYNTAX);
  assert_int_equal(s.n, 0);
  assert_non_null(strstr(err, dir));
  assert_non_null(strstr(err, "joblog.tsv"));

  /* dispatched.tsv with its columns swapped */
  err[0] = '\0';
  write_file("dispatched.tsv", "key\tid\n"
                               "0000000000000001\t0000000000000002\n");
  assert_int_equal(
      loom__joblog_read(dir, "dispatched.tsv", collect, &s, err, sizeof err),
      LOOM_ESYNTAX);
  assert_non_null(strstr(err, "dispatched.tsv"));
}

static void test_joblog_read_names_file_and_line_of_a_malformed_row(void **st) {
  const char *bad[] = {
      "not a row at all\n",
      /* 12 fields */
      "0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1\t-\n",
      /* an id of 15 hex digits */
      "000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1\t-\tx\n",
      /* a key that is not hex */
      "0000000000000001\t000000000000000g\t1\t1\th\t0\t0\t0\t0\tok\t1\t-\tx\n",
  };
  char want[128];
  (void)st;

  snprintf(want, sizeof want, "%s/joblog.tsv:3", dir);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct journal j;
    struct seen s = {0};
    char err[256] = "";

    journal_begin(&j);
    journal_row(&j, "echo a", 1, 1, "ok");
    fputs(bad[i], j.logf); /* line 3: after the header and one row */
    journal_row(&j, "echo b", 2, 1, "ok");
    journal_end(&j, NULL);
    assert_int_equal(
        loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err),
        LOOM_ESYNTAX);
    assert_int_equal(s.n, 1); /* the rows before it were read */
    assert_non_null(strstr(err, want));
    /* err is optional */
    memset(&s, 0, sizeof s);
    assert_int_equal(loom__joblog_read(dir, "joblog.tsv", collect, &s, NULL, 0),
                     LOOM_ESYNTAX);
  }
}

/* Every field of a row is checked, so a hand-edited or foreign journal is
 * an error naming the field, never a wrapped counter or undefined behaviour:
 * the attempt counter is 16 bits on the wire, and 2147483647 once aborted a
 * resume under UBSan, 65535 wrapped to 0. */
static void test_joblog_read_checks_every_field(void **st) {
  static const struct {
    const char *row;
    const char *field;
  } bad[] = {
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t"
       "2147483647\t-\tx\n",
       "bad attempt '2147483647'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t"
       "65535\t-\tx\n",
       "bad attempt '65535'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t0\t-\tx\n",
       "bad attempt '0'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t-1\t-"
       "\tx\n",
       "bad attempt '-1'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1x\t-"
       "\tx\n",
       "bad attempt '1x'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tdone\t1\t-"
       "\tx\n",
       "bad status 'done'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1\tab\tx"
       "\n",
       "bad cpus 'ab'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1\t\tx\n",
       "bad cpus ''"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t0\tok\t1\t-"
       "3\tx\n",
       "bad cpus '-3'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\tnan\t0\t0\tok\t1\t-"
       "\tx\n",
       "bad elapsed 'nan'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t-2\t0\t0\tok\t1\t-"
       "\tx\n",
       "bad elapsed '-2'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t0\t999\tok\t1\t-"
       "\tx\n",
       "bad signal '999'"},
      {"0000000000000001\t0000000000000002\t-4\t1\th\t0\t0\t0\t0\tok\t1\t-"
       "\tx\n",
       "bad line '-4'"},
      {"0000000000000001\t0000000000000002\t1\tr\xff\th\t0\t0\t0\t0\tok\t1\t-"
       "\tx"
       "\n",
       "bad rank 'r\\xff'"},
      {"0000000000000001\t0000000000000002\t1\t1\th\t0\t0\t99999999999\t0\tok\t"
       "1"
       "\t-\tx\n",
       "bad exit '99999999999'"},
  };
  (void)st;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct journal j;
    struct seen s = {0};
    char err[512] = "";

    journal_begin(&j);
    journal_row(&j, "echo a", 1, 1, "ok");
    fputs(bad[i].row, j.logf);
    journal_end(&j, NULL);
    assert_int_equal(
        loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err),
        LOOM_ESYNTAX);
    if (!strstr(err, bad[i].field))
      fail_msg("row %zu: '%s' lacks '%s'", i, err, bad[i].field);
    assert_non_null(strstr(err, "joblog.tsv:3"));
  }
  /* The largest attempt a journal may hold reads back. */
  {
    struct journal j;
    struct seen s = {0};
    char err[512] = "";
    journal_begin(&j);
    journal_row(&j, "echo a", 1, LOOM__ATTEMPT_MAX, "ok");
    journal_end(&j, NULL);
    assert_int_equal(
        loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.e[0].attempt, LOOM__ATTEMPT_MAX);
  }
}

/* A row far longer than loom ever writes is refused without holding it
 * all in memory. */
static void test_joblog_read_refuses_an_endless_row(void **st) {
  struct journal j;
  struct seen s = {0};
  char err[512] = "";
  (void)st;

  journal_begin(&j);
  for (int i = 0; i < 4 << 20; i++)
    fputc('x', j.logf);
  fputc('\n', j.logf);
  journal_end(&j, NULL);
  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err),
      LOOM_ESYNTAX);
  assert_non_null(strstr(err, "joblog.tsv:2"));
}

static void
test_joblog_read_takes_a_missing_dispatched_tsv_as_empty(void **st) {
  struct seen s = {0};
  char err[256] = "";
  (void)st;

  assert_int_equal(
      loom__joblog_read(dir, "dispatched.tsv", collect, &s, err, sizeof err),
      0);
  assert_int_equal(s.n, 0);
}

static void test_joblog_read_fails_on_a_missing_joblog_tsv(void **st) {
  struct seen s = {0};
  char err[256] = "";
  (void)st;

  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err),
      LOOM_EIO);
  assert_int_equal(s.n, 0);
  assert_non_null(strstr(err, dir));
  assert_non_null(strstr(err, "joblog.tsv"));
}

static void test_joblog_read_stops_at_a_callback_error(void **st) {
  struct journal j;
  struct seen s = {.stop_at = 2};
  char err[256] = "";
  (void)st;

  journal_begin(&j);
  for (uint64_t line = 1; line <= 5; line++)
    journal_row(&j, "echo a", line, 1, "ok");
  journal_end(&j, NULL);
  assert_int_equal(
      loom__joblog_read(dir, "joblog.tsv", collect, &s, err, sizeof err), 99);
  assert_int_equal(s.n, 2);
}

/* ---- loom__resume_load / loom__resume_check ---------------------------- */

/* Loads DIR's journal, failing the test on an error. */
static void load(struct loom__resume *r, int skip_failed) {
  char err[256] = "";
  int rc = loom__resume_load(r, dir, skip_failed, err, sizeof err);
  if (rc != 0)
    fail_msg("loom__resume_load: %d: %s", rc, err);
}

/* Asks about the next task running cmd: returns 1 when it is skipped,
 * else 0 with its first attempt's number in *attempt. */
static int check(struct loom__resume *r, const char *cmd, int *attempt) {
  *attempt = -1;
  return loom__resume_check(r, key_of(cmd), attempt);
}

static void assert_runs(struct loom__resume *r, const char *cmd,
                        int want_attempt) {
  int attempt;
  assert_int_equal(check(r, cmd, &attempt), 0);
  assert_int_equal(attempt, want_attempt);
}

static void assert_skipped(struct loom__resume *r, const char *cmd) {
  int attempt;
  assert_int_equal(check(r, cmd, &attempt), 1);
}

static void test_resume_skips_a_task_as_often_as_it_succeeded(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  /* "echo dup" is on lines 1 and 3 and succeeded on both */
  journal_begin(&j);
  journal_ran(&j, "echo dup", 1, 1, "ok");
  journal_ran(&j, "echo other", 2, 1, "ok");
  journal_ran(&j, "echo dup", 3, 1, "ok");
  journal_end(&j, NULL);
  load(&r, 0);
  assert_int_equal(r.done, 3);
  assert_int_equal(r.lost, 0);
  assert_int_equal(r.skipped, 0);
  /* the new file has it three times, anywhere: two are done, one runs */
  assert_skipped(&r, "echo dup");
  assert_runs(&r, "echo new", 1);
  assert_skipped(&r, "echo dup");
  assert_runs(&r, "echo dup", 1);
  assert_runs(&r, "echo dup", 1);
  assert_skipped(&r, "echo other");
  assert_runs(&r, "echo other", 1);
  assert_int_equal(r.skipped, 3);
  loom__resume_fini(&r);
}

static void test_resume_runs_a_failed_task_with_the_next_attempt(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "exit 3", 1, 1, "failed");
  journal_row(&j, "exit 3", 1, 2, "failed"); /* its retry */
  journal_ran(&j, "sleep 9", 2, 1, "timeout");
  journal_ran(&j, "echo a", 3, 1, "ok");
  journal_end(&j, NULL);
  load(&r, 0);
  assert_int_equal(r.done, 1);
  assert_int_equal(r.lost, 0);
  assert_runs(&r, "exit 3", 3);
  assert_runs(&r, "sleep 9", 2);
  assert_skipped(&r, "echo a");
  assert_int_equal(r.skipped, 1);
  loom__resume_fini(&r);
}

static void test_resume_skip_failed_skips_failed_tasks(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "exit 3", 1, 1, "failed");
  journal_row(&j, "exit 3", 1, 2, "failed");
  journal_ran(&j, "kill -9 $$", 2, 1, "signal");
  journal_ran(&j, "echo a", 3, 1, "ok");
  journal_dispatched(&j, "echo lost", 4); /* never finished: not failed */
  journal_end(&j, NULL);
  load(&r, 1);
  assert_int_equal(r.done, 3);
  assert_int_equal(r.lost, 1);
  assert_skipped(&r, "exit 3");
  assert_skipped(&r, "kill -9 $$");
  assert_skipped(&r, "echo a");
  assert_runs(&r, "echo lost", 2);
  assert_runs(&r, "exit 3", 1); /* a second copy is new */
  assert_int_equal(r.skipped, 3);
  loom__resume_fini(&r);
}

static void test_resume_reruns_a_task_lost_in_flight_as_attempt_2(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "echo a", 1, 1, "ok");
  journal_dispatched(&j, "echo b", 2); /* in flight at the kill */
  journal_dispatched(&j, "echo c", 3);
  journal_ran(&j, "echo d", 4, 1, "ok");
  /* the kill hit while "echo c"'s row was being written */
  journal_end(&j, "ffffffffffffffff\t0123");
  load(&r, 0);
  assert_int_equal(r.done, 2);
  assert_int_equal(r.lost, 2);
  assert_runs(&r, "echo b", 2);
  assert_runs(&r, "echo c", 2);
  assert_skipped(&r, "echo a");
  assert_skipped(&r, "echo d");
  assert_runs(&r, "echo e", 1);
  assert_int_equal(r.skipped, 2);
  loom__resume_fini(&r);
}

static void
test_resume_counts_a_task_done_when_its_last_attempt_succeeded(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  journal_begin(&j);
  journal_ran(&j, "flaky", 1, 1, "failed");
  journal_row(&j, "flaky", 1, 2, "ok");
  /* rows of another task out of order: the highest attempt decides */
  journal_dispatched(&j, "flaky2", 2);
  journal_row(&j, "flaky2", 2, 2, "ok");
  journal_row(&j, "flaky2", 2, 1, "timeout");
  journal_end(&j, NULL);
  load(&r, 0);
  assert_int_equal(r.done, 2);
  assert_int_equal(r.lost, 0);
  assert_skipped(&r, "flaky");
  assert_skipped(&r, "flaky2");
  assert_runs(&r, "flaky", 1);
  loom__resume_fini(&r);
}

static void test_resume_mixes_done_and_failed_copies_of_a_command(void **st) {
  struct loom__resume r;
  struct journal j;
  (void)st;

  /* two copies: one succeeded, one failed twice */
  journal_begin(&j);
  journal_ran(&j, "maybe", 1, 1, "ok");
  journal_ran(&j, "maybe", 2, 1, "failed");
  journal_row(&j, "maybe", 2, 2, "failed");
  journal_end(&j, NULL);
  load(&r, 0);
  assert_int_equal(r.done, 1);
  assert_skipped(&r, "maybe");
  assert_runs(&r, "maybe", 3);
  assert_int_equal(r.skipped, 1);
  loom__resume_fini(&r);
}

static void test_resume_of_an_empty_journal_runs_everything(void **st) {
  struct loom__resume r;
  (void)st;

  write_file("joblog.tsv", LOOM__JOBLOG_HEADER);
  load(&r, 0); /* no dispatched.tsv at all */
  assert_int_equal(r.done, 0);
  assert_int_equal(r.lost, 0);
  assert_runs(&r, "echo a", 1);
  assert_int_equal(r.skipped, 0);
  loom__resume_fini(&r);
}

static void test_resume_load_reports_a_broken_journal(void **st) {
  struct loom__resume r;
  char err[256] = "";
  (void)st;

  /* no joblog.tsv */
  assert_int_equal(loom__resume_load(&r, dir, 0, err, sizeof err), LOOM_EIO);
  assert_non_null(strstr(err, dir));
  /* a bad dispatched.tsv */
  err[0] = '\0';
  write_file("joblog.tsv", LOOM__JOBLOG_HEADER);
  write_file("dispatched.tsv", LOOM__STARTED_HEADER "garbage\n");
  assert_int_equal(loom__resume_load(&r, dir, 0, err, sizeof err),
                   LOOM_ESYNTAX);
  assert_non_null(strstr(err, "dispatched.tsv:2"));
  loom__resume_fini(&r); /* harmless after a failed load */
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_finds_what_was_inserted),
      cmocka_unit_test(test_map_grows_past_64_and_to_100000_keys),
      cmocka_unit_test(test_map_iteration_visits_each_key_once),
      cmocka_unit_test(test_map_rejects_key_0),
      TEST(test_joblog_read_gives_every_whole_row),
      TEST(test_joblog_read_skips_a_torn_last_line),
      TEST(test_joblog_read_rejects_a_bad_header),
      TEST(test_joblog_read_names_file_and_line_of_a_malformed_row),
      TEST(test_joblog_read_takes_a_missing_dispatched_tsv_as_empty),
      TEST(test_joblog_read_checks_every_field),
      TEST(test_joblog_read_refuses_an_endless_row),
      TEST(test_joblog_read_fails_on_a_missing_joblog_tsv),
      TEST(test_joblog_read_stops_at_a_callback_error),
      TEST(test_resume_skips_a_task_as_often_as_it_succeeded),
      TEST(test_resume_runs_a_failed_task_with_the_next_attempt),
      TEST(test_resume_skip_failed_skips_failed_tasks),
      TEST(test_resume_reruns_a_task_lost_in_flight_as_attempt_2),
      TEST(test_resume_counts_a_task_done_when_its_last_attempt_succeeded),
      TEST(test_resume_mixes_done_and_failed_copies_of_a_command),
      TEST(test_resume_of_an_empty_journal_runs_everything),
      TEST(test_resume_load_reports_a_broken_journal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
