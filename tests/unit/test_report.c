/* test_report.c - unit tests of the run report (engine/src/report.c): the
 * load-balance formulas on a hand-computed example, report.json (parsed
 * back by a strict JSON checker below, and by python3 when it is
 * installed), string escaping, and the human summary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "dispatch/engine.h"
#include "journal/report.h"

/* ---- a strict JSON syntax checker (RFC 8259) ---------------------------- */

struct json {
  const char *p;
  const char *end;
  int depth;
};

static int json_value(struct json *j);

static void json_ws(struct json *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static int json_peek(const struct json *j, char c) {
  return j->p < j->end && *j->p == c;
}

static int json_literal(struct json *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
    return 0;
  j->p += n;
  return 1;
}

static int json_digits(struct json *j) {
  const char *start = j->p;
  while (j->p < j->end && isdigit((unsigned char)*j->p))
    j->p++;
  return j->p > start;
}

static int json_number(struct json *j) {
  if (json_peek(j, '-'))
    j->p++;
  if (json_peek(j, '0'))
    j->p++;
  else if (!json_digits(j))
    return 0;
  if (json_peek(j, '.')) {
    j->p++;
    if (!json_digits(j))
      return 0;
  }
  if (json_peek(j, 'e') || json_peek(j, 'E')) {
    j->p++;
    if (json_peek(j, '+') || json_peek(j, '-'))
      j->p++;
    if (!json_digits(j))
      return 0;
  }
  return 1;
}

/* Length of the UTF-8 sequence at p (1 to 4), or 0 when it is not well
 * formed: stray continuation bytes, cut sequences, overlong forms and
 * surrogates are all refused. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  uint32_t cp;
  size_t n;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2, cp = c & 0x1fu;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, cp = c & 0x0fu;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, cp = c & 0x07u;
  else
    return 0;
  if ((size_t)(end - p) < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (p[i] & 0x3fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

static int json_string(struct json *j) {
  if (!json_peek(j, '"'))
    return 0;
  j->p++;
  while (j->p < j->end) {
    unsigned char c = (unsigned char)*j->p;
    size_t n =
        utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
    if (n == 0)
      return 0; /* RFC 8259 section 8.1: JSON text is UTF-8 */
    j->p += n;
    if (c == '"')
      return 1;
    if (c < 0x20)
      return 0; /* control characters must be escaped */
    if (c != '\\')
      continue;
    if (j->p >= j->end)
      return 0;
    c = (unsigned char)*j->p++;
    if (c == 'u') {
      for (int i = 0; i < 4; i++, j->p++)
        if (j->p >= j->end || !isxdigit((unsigned char)*j->p))
          return 0;
    } else if (c == '\0' || !strchr("\"\\/bfnrt", c)) {
      return 0;
    }
  }
  return 0;
}

/* open '{' or '['; members are "key": value for objects. */
static int json_container(struct json *j, char close, int object) {
  if (++j->depth > 64)
    return 0;
  j->p++;
  json_ws(j);
  if (json_peek(j, close)) {
    j->p++;
    j->depth--;
    return 1;
  }
  for (;;) {
    json_ws(j);
    if (object) {
      if (!json_string(j))
        return 0;
      json_ws(j);
      if (!json_peek(j, ':'))
        return 0;
      j->p++;
    }
    if (!json_value(j))
      return 0;
    json_ws(j);
    if (json_peek(j, close)) {
      j->p++;
      j->depth--;
      return 1;
    }
    if (!json_peek(j, ','))
      return 0;
    j->p++;
  }
}

static int json_value(struct json *j) {
  json_ws(j);
  if (j->p >= j->end)
    return 0;
  switch (*j->p) {
  case '{':
    return json_container(j, '}', 1);
  case '[':
    return json_container(j, ']', 0);
  case '"':
    return json_string(j);
  case 't':
    return json_literal(j, "true");
  case 'f':
    return json_literal(j, "false");
  case 'n':
    return json_literal(j, "null");
  default:
    return json_number(j);
  }
}

/* 1 when text[0..len) is exactly one JSON value. */
static int json_valid(const char *text, size_t len) {
  struct json j = {text, text + len, 0};
  if (!json_value(&j))
    return 0;
  json_ws(&j);
  return j.p == j.end;
}

#define JSON_VALID(lit) json_valid(lit, sizeof(lit) - 1)

/* ---- fixtures ----------------------------------------------------------- */

/* The current test's directory and its report.json. */
static char dir[64];
static char path[96];

static int make_dir(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/loom-test-report-XXXXXX");
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/report.json", dir);
  return 0;
}

static int remove_dir(void **st) {
  char tmp[128];
  (void)st;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  unlink(path);
  rmdir(path); /* a test that puts a directory in its place */
  rmdir(dir);
  return 0;
}

static char *read_file(const char *p, size_t *len) {
  FILE *f = fopen(p, "rb");
  char *text;
  long n;

  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  text = malloc((size_t)n + 1);
  assert_non_null(text);
  assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
  text[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return text;
}

static int exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

/* Where python3 is installed, it must load the file too. */
static void python_agrees(const char *p) {
  char cmd[256];
  if (system("command -v python3 >/dev/null 2>&1") != 0)
    return;
  snprintf(cmd, sizeof cmd,
           "python3 -c 'import json, sys; json.load(open(sys.argv[1], "
           "encoding=\"utf-8\"))' '%s'",
           p);
  assert_int_equal(system(cmd), 0);
}

static void expect_contains(const char *text, const char *want) {
  if (!strstr(text, want))
    fail_msg("missing '%s' in:\n%s", want, text);
}

/* Three workers with 2, 3 and 4 s of task time over a 5 s makespan. */
static struct loom__report_worker three[3] = {
    {.hw = {.rank = 1, .host = "n\"1", .cores = 4, .pus = 8},
     .attempts = 5,
     .failed = 1,
     .busy = 2.0,
     .core_s = 2.0},
    {.hw = {.rank = 2, .host = "back\\slash", .cores = 2, .pus = 2},
     .attempts = 4,
     .failed = 0,
     .busy = 3.0,
     .core_s = 3.0},
    {.hw = {.rank = 3, .host = "tab\there", .cores = 1, .pus = 1},
     .attempts = 5,
     .failed = 1,
     .busy = 4.0,
     .core_s = 4.0},
};

static struct loom__report sample(void) {
  struct loom__report r = {.version = "0.1.0",
                           .policy = "least-loaded",
                           .command_line = "loom run \"x y\"",
                           .source = "t\xc3\xa2"
                                     "ches.txt",
                           .run_dir = "loom-run-1",
                           .error = NULL,
                           .started = 1700000000,
                           .makespan = 5.0,
                           .tasks = 12,
                           .succeeded = 10,
                           .failed = 2,
                           .attempts = 14,
                           .sum_task = 9.0,
                           .longest = 2.5,
                           .nworkers = 3,
                           .master_runs_tasks = 0,
                           .w = three};
  return r;
}

static char *json_string_of(const char *s) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  loom__json_string(f, s);
  fclose(f);
  return text;
}

/* ---- metrics ------------------------------------------------------------ */

static void test_report_metrics_for_three_workers_by_hand(void **st) {
  (void)st;
  struct loom__report r = sample();
  struct loom__metrics m;
  loom__report_metrics(&r, &m);
  /* 12 tasks in 5 s. */
  assert_true(fabs(m.throughput - 2.4) < 1e-12);
  /* busy 2, 3, 4: mean 3, max 4. */
  assert_true(fabs(m.imbalance - 1.0 / 3.0) < 1e-12);
  /* 9 s of work over 3 workers x 5 s. */
  assert_true(fabs(m.efficiency - 0.6) < 1e-12);
  /* max(9 / 3, 2.5) = 3: the average load bounds the makespan. */
  assert_true(fabs(m.lower_bound - 3.0) < 1e-12);
  assert_true(fabs(m.ratio - 5.0 / 3.0) < 1e-12);
}

static void test_report_lower_bound_is_the_longest_task_when_larger(void **st) {
  (void)st;
  struct loom__report r = sample();
  struct loom__metrics m;
  r.longest = 4.5;
  loom__report_metrics(&r, &m);
  assert_true(fabs(m.lower_bound - 4.5) < 1e-12);
  assert_true(fabs(m.ratio - 5.0 / 4.5) < 1e-12);
}

static void test_report_metrics_of_perfect_balance(void **st) {
  (void)st;
  struct loom__report_worker w[2] = {{.busy = 4.0, .core_s = 4.0},
                                     {.busy = 4.0, .core_s = 4.0}};
  struct loom__report r = {.makespan = 4.0,
                           .tasks = 8,
                           .sum_task = 8.0,
                           .longest = 1.0,
                           .nworkers = 2,
                           .w = w};
  struct loom__metrics m;
  loom__report_metrics(&r, &m);
  assert_true(m.imbalance == 0);
  assert_true(m.efficiency == 1);
  assert_true(m.lower_bound == 4);
  assert_true(m.ratio == 1);
  assert_true(m.throughput == 2);
}

static void test_report_metrics_count_slots(void **st) {
  (void)st;
  /* Four 1 s tasks: two at a time on a 2-slot worker (busy 4 s in 2 s),
   * and one by one on a 1-slot worker beside it (busy 4 s in 4 s). */
  struct loom__report_worker w[2] = {
      {.hw = {.slots = 2}, .busy = 4.0, .core_s = 4.0},
      {.hw = {.slots = 1}, .busy = 4.0, .core_s = 4.0}};
  struct loom__report r = {.makespan = 4.0,
                           .tasks = 8,
                           .sum_task = 8.0,
                           .longest = 1.0,
                           .nworkers = 2,
                           .w = w};
  struct loom__metrics m;
  loom__report_metrics(&r, &m);
  /* 8 s of work on 3 slots: at best 8 / 3 s. */
  assert_true(fabs(m.lower_bound - 8.0 / 3.0) < 1e-12);
  assert_true(fabs(m.efficiency - 8.0 / 12.0) < 1e-12);
  /* Per slot: 2 s and 4 s, mean 8 / 3. */
  assert_true(fabs(m.imbalance - (4.0 / (8.0 / 3.0) - 1)) < 1e-12);
}

/* The example: four 1 s tasks one by one on a worker whose
 * binding has 2 cores left half of them idle: efficiency 0.5, not 1. */
static void test_report_counts_cores_not_ranks(void **st) {
  (void)st;
  struct loom__report_worker w[1] = {
      {.hw = {.rank = 1, .host = "a", .cpuset = "0-1", .cores = 2, .pus = 2},
       .busy = 4.0,
       .core_s = 4.0}};
  struct loom__report r = {
      .makespan = 4.0, .tasks = 4, .longest = 1.0, .nworkers = 1, .w = w};
  struct loom__metrics m;

  assert_int_equal(loom__report_units(&r), 0);
  assert_true(w[0].units == 2);
  loom__report_metrics(&r, &m);
  assert_true(fabs(m.efficiency - 0.5) < 1e-12);
  assert_true(fabs(m.lower_bound - 2.0) < 1e-12);
  /* The same tasks two at a time in 2 s: every core busy. */
  w[0].hw.slots = 2;
  r.makespan = 2.0;
  loom__report_metrics(&r, &m);
  assert_true(fabs(m.efficiency - 1.0) < 1e-12);
  /* One 2 s task asking for both cores is 4 core-seconds in 2 s. */
  w[0].busy = 2.0;
  r.tasks = 1;
  r.longest = 2.0;
  loom__report_metrics(&r, &m);
  assert_true(fabs(m.efficiency - 1.0) < 1e-12);
  assert_true(fabs(m.ratio - 1.0) < 1e-12);
}

/* Unbound ranks of one host share its cores; bound ones do not; ranks of
 * other hosts are counted apart; slots beyond the cores count as asked. */
static void test_report_units_share_overlapping_bindings(void **st) {
  (void)st;
  struct loom__report_worker w[6] = {
      /* two unbound ranks on host a (2 cores): one core each */
      {.hw = {.rank = 1, .host = "a", .cpuset = "0-1", .cores = 2, .pus = 2}},
      {.hw = {.rank = 2, .host = "a", .cpuset = "0-1", .cores = 2, .pus = 2}},
      /* host b: two ranks bound to 2 cores each (SMT: 4 PUs each) */
      {.hw = {.rank = 3, .host = "b", .cpuset = "0-3", .cores = 2, .pus = 4}},
      {.hw = {.rank = 4, .host = "b", .cpuset = "4-7", .cores = 2, .pus = 4}},
      /* host c: one PU per slot, 4 slots on 2 cores */
      {.hw = {.rank = 5,
              .host = "c",
              .cpuset = "0-3",
              .cores = 2,
              .pus = 4,
              .slots = 4}},
      /* host d: a binding hwloc could not name counts whole */
      {.hw = {.rank = 6, .host = "d", .cpuset = "", .cores = 3, .pus = 3}},
  };
  struct loom__report r = {.nworkers = 6, .w = w};
  const double want[6] = {1, 1, 2, 2, 4, 3};

  assert_int_equal(loom__report_units(&r), 0);
  for (int i = 0; i < 6; i++)
    if (fabs(w[i].units - want[i]) > 1e-12)
      fail_msg("rank %d: %g cores counted, want %g", i + 1, w[i].units,
               want[i]);
}

static void test_report_zero_makespan_gives_zero_not_nan(void **st) {
  (void)st;
  struct loom__report_worker w[2] = {{.hw = {.rank = 1}}, {.hw = {.rank = 2}}};
  struct loom__report r = {.nworkers = 2, .w = w};
  struct loom__metrics m;
  loom__report_metrics(&r, &m);
  assert_true(m.throughput == 0);
  assert_true(m.imbalance == 0);
  assert_true(m.efficiency == 0);
  assert_true(m.lower_bound == 0);
  assert_true(m.ratio == 0);

  /* Tasks that took no measurable time, and no workers at all. */
  r.tasks = 3;
  loom__report_metrics(&r, &m);
  assert_true(m.throughput == 0 && m.ratio == 0);
  r.nworkers = 0;
  r.w = NULL;
  loom__report_metrics(&r, &m);
  assert_false(isnan(m.imbalance) || isnan(m.efficiency) ||
               isnan(m.lower_bound) || isnan(m.ratio) || isnan(m.throughput));
  assert_true(m.efficiency == 0 && m.lower_bound == 0);
}

/* ---- JSON --------------------------------------------------------------- */

static void test_report_json_checker_rejects_broken_json(void **st) {
  (void)st;
  /* The checker is only worth its verdicts if it says no. */
  assert_true(JSON_VALID("{\"a\": [1, -2.5e3, true, null, \"\\u00e9\"]}"));
  assert_true(JSON_VALID(" [ ] "));
  assert_false(JSON_VALID("{\"a\": 1,}"));
  assert_false(JSON_VALID("{\"a\": nan}"));
  assert_false(JSON_VALID("{\"a\": inf}"));
  assert_false(JSON_VALID("{\"a\": 01}"));
  assert_false(JSON_VALID("[\"tab\there\"]"));
  assert_false(JSON_VALID("[\"bad \\x escape\"]"));
  assert_false(JSON_VALID("{\"a\": 1} x"));
  assert_true(JSON_VALID("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]"));
  assert_false(JSON_VALID("[\"t\xe9st\"]"));      /* Latin-1 */
  assert_false(JSON_VALID("[\"caf\xc3\"]"));      /* cut sequence */
  assert_false(JSON_VALID("[\"\xc0\xaf\"]"));     /* overlong '/' */
  assert_false(JSON_VALID("[\"\xed\xa0\x80\"]")); /* a surrogate */
  assert_false(JSON_VALID("{\"a\" 1}"));
  assert_false(JSON_VALID("[1"));
  assert_false(JSON_VALID(""));
}

static void test_report_json_has_totals_balance_and_per_worker(void **st) {
  (void)st;
  struct loom__report r = sample();
  size_t len;

  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  expect_contains(text, "\"loom_version\": \"0.1.0\"");
  expect_contains(text, "\"command\": \"loom run \\\"x y\\\"\"");
  /* UTF-8 goes through as it is. */
  expect_contains(text, "\"source\": \"t\xc3\xa2"
                        "ches.txt\"");
  expect_contains(text, "\"policy\": \"least-loaded\"");
  expect_contains(text, "\"started\": \"2023-11-14T22:13:20Z\"");
  expect_contains(text, "\"complete\": true");
  expect_contains(text, "\"error\": null");
  expect_contains(text, "\"workers\": 3");
  expect_contains(text, "\"master_runs_tasks\": false");
  expect_contains(text, "\"tasks\": {\"total\": 12, \"succeeded\": 10, "
                        "\"failed\": 2, \"cancelled\": 0, \"attempts\": 14}");
  /* A source of unknown size (stdin): nothing said about what is left. */
  expect_contains(text, "\"source_tasks\": null,\n  \"left\": null,\n");
  expect_contains(text, "\"makespan_s\": 5.000000");
  expect_contains(text, "\"throughput_tasks_per_s\": 2.400");
  expect_contains(
      text, "\"task_seconds\": {\"sum\": 9.000000, \"longest\": 2.500000}");
  expect_contains(text, "\"balance\": {\"imbalance\": 0.333333, "
                        "\"efficiency\": 0.600000, \"lower_bound_s\": "
                        "3.000000, \"makespan_over_lower_bound\": 1.666667}");
  expect_contains(text, "\"per_worker\": [\n");
  expect_contains(text, "{\"rank\": 1, \"host\": \"n\\\"1\", \"cpuset\": \"\", "
                        "\"numa_nodes\": 0, \"l3_bytes\": 0, \"cpukind\": 0, "
                        "\"weight\": 0, \"weight_from\": \"topology\", "
                        "\"topology_notes\": \"\", \"cores\": 4, \"pus\": 8, "
                        "\"slots\": 1, \"tasks\": 5, \"failed\": 1, "
                        "\"cores_counted\": 1, \"core_seconds\": 2.000000, "
                        "\"busy_s\": 2.000000, \"idle_s\": 3.000000, "
                        "\"slot_utilisation\": 0.400000, "
                        "\"quarantined\": false},\n");
  expect_contains(text, "{\"rank\": 2, \"host\": \"back\\\\slash\", ");
  expect_contains(text, "{\"rank\": 3, \"host\": \"tab\\u0009here\", ");
  expect_contains(text,
                  "\"idle_s\": 1.000000, \"slot_utilisation\": 0.800000, "
                  "\"quarantined\": false}\n  ],\n  \"slurm\": null\n}\n");
  expect_contains(text, "\"resumed\": false");
  expect_contains(text, "\"quarantined\": []");
  size_t ranks = 0;
  for (const char *p = text; (p = strstr(p, "\"rank\":")) != NULL; p++)
    ranks++;
  assert_int_equal(ranks, 3);
  /* Written through a temporary that is gone afterwards. */
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  assert_false(exists(tmp));
  free(text);
  python_agrees(path);
}

/* Under Slurm the report names the job, its step and its nodes; under
 * mpirun inside a job the step is null. */
static void test_report_json_names_the_slurm_job(void **st) {
  (void)st;
  struct loom__report r = sample();
  size_t len;

  setenv("SLURM_JOB_ID", "4242", 1);
  setenv("SLURM_JOB_NUM_NODES", "2", 1);
  setenv("SLURM_TASKS_PER_NODE", "4(x2)", 1);
  setenv("SLURM_JOB_NODELIST", "node[01-02]", 1);
  unsetenv("SLURM_STEP_ID");
  loom__report_slurm(&r);
  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  expect_contains(text, "\"slurm\": {\"job_id\": \"4242\", \"step_id\": null, "
                        "\"nodes\": \"2\", \"tasks_per_node\": \"4(x2)\", "
                        "\"nodelist\": \"node[01-02]\"}");
  free(text);
  setenv("SLURM_STEP_ID", "0", 1);
  loom__report_slurm(&r);
  assert_int_equal(loom__report_write(&r, path), 0);
  text = read_file(path, &len);
  expect_contains(text, "\"step_id\": \"0\"");
  free(text);
  unsetenv("SLURM_JOB_ID");
  unsetenv("SLURM_STEP_ID");
}

static void test_report_json_of_a_stopped_run_names_the_error(void **st) {
  (void)st;
  struct loom__report r = sample();
  size_t len;

  r.error = "worker 2 \"died\"\n";
  r.master_runs_tasks = 1;
  r.command_line = NULL;
  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  expect_contains(text, "\"complete\": false");
  expect_contains(text, "\"error\": \"worker 2 \\\"died\\\"\\u000a\"");
  expect_contains(text, "\"master_runs_tasks\": true");
  /* A missing string is an empty one, still JSON. */
  expect_contains(text, "\"command\": \"\"");
  free(text);
  python_agrees(path);
}

static void test_report_json_of_an_empty_run_has_no_nan(void **st) {
  (void)st;
  struct loom__report r = {.version = "0.1.0", .policy = "rr"};
  size_t len;

  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  assert_null(strstr(text, "nan"));
  assert_null(strstr(text, "inf"));
  expect_contains(text, "\"makespan_s\": 0.000000");
  expect_contains(text, "\"balance\": {\"imbalance\": 0.000000, "
                        "\"efficiency\": 0.000000, \"lower_bound_s\": "
                        "0.000000, \"makespan_over_lower_bound\": 0.000000}");
  expect_contains(text, "\"per_worker\": [\n  ]");
  free(text);
  python_agrees(path);
}

static void test_report_json_writes_non_finite_figures_as_zero(void **st) {
  (void)st;
  struct loom__report r = sample();
  size_t len;

  r.makespan = INFINITY;
  r.longest = NAN;
  r.sum_task = INFINITY;
  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  assert_null(strstr(text, "nan"));
  assert_null(strstr(text, "inf"));
  expect_contains(text, "\"makespan_s\": 0.000000");
  expect_contains(text, "\"longest\": 0.000000");
  free(text);
  python_agrees(path);
}

static void test_report_json_stays_utf8_when_its_strings_are_not(void **st) {
  (void)st;
  struct loom__report r = sample();
  size_t len;

  /* A Latin-1 file name on the command line, a task file's byte in an
   * error message, a name cut inside a character. */
  r.command_line = "loom run t\xe9st.txt";
  r.source = "caf\xc3";
  r.error = "t.txt:1: unknown hint 'co\xf6ts' (expected cost, timeout or "
            "retries)";
  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  /* Regression: loom__json_string() once copied every byte >= 0x20 as it
   * was, so these strings made report.json invalid UTF-8, which RFC 8259
   * (section 8.1) does not allow. Such bytes now become U+FFFD. */
  int valid = json_valid(text, len);
  free(text);
  if (!valid)
    fail_msg("report.json is not valid JSON (bytes that are not UTF-8)");
  python_agrees(path);
}

static void test_report_write_fails_without_a_directory(void **st) {
  (void)st;
  struct loom__report r = sample();
  char missing[128];
  snprintf(missing, sizeof missing, "%s/no/such/report.json", dir);
  assert_int_equal(loom__report_write(&r, missing), LOOM_EIO);
}

static void test_report_write_leaves_no_temporary_on_failure(void **st) {
  (void)st;
  struct loom__report r = sample();
  char tmp[128];
  /* A directory in the way: the rename fails after the write. */
  assert_int_equal(mkdir(path, 0700), 0);
  assert_int_equal(loom__report_write(&r, path), LOOM_EIO);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  assert_false(exists(tmp));
}

static void test_json_string_escapes_quote_backslash_and_controls(void **st) {
  (void)st;
  char *s = json_string_of("say \"hi\" \\ now");
  assert_string_equal(s, "\"say \\\"hi\\\" \\\\ now\"");
  free(s);
  s = json_string_of("\t\n\r\x01\x1f end");
  assert_string_equal(s, "\"\\u0009\\u000a\\u000d\\u0001\\u001f end\"");
  assert_true(json_valid(s, strlen(s)));
  free(s);
  /* Bytes from 0x20 up pass through: UTF-8 stays UTF-8. */
  s = json_string_of("caf\xc3\xa9 / \x7f");
  assert_string_equal(s, "\"caf\xc3\xa9 / \x7f\"");
  free(s);
  s = json_string_of(NULL);
  assert_string_equal(s, "\"\"");
  free(s);
}

static void test_json_string_escapes_every_control_character(void **st) {
  (void)st;
  for (int c = 1; c < 0x20; c++) {
    char in[2] = {(char)c, '\0'}, want[16];
    char *s = json_string_of(in);
    snprintf(want, sizeof want, "\"\\u%04x\"", c);
    assert_string_equal(s, want);
    assert_true(json_valid(s, strlen(s)));
    free(s);
  }
}

/* ---- the summary -------------------------------------------------------- */

static char *summary_of(const struct loom__report *r) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  loom__report_summary(r, f);
  fclose(f);
  return text;
}

static void test_report_summary_states_totals_and_balance(void **st) {
  (void)st;
  struct loom__report r = sample();
  char *s = summary_of(&r);
  assert_string_equal(
      s, "loom: 12 tasks, 10 succeeded, 2 failed (14 attempts) on 3 workers "
         "in 5.000 s (2.4 tasks/s)\n"
         "loom: balance: efficiency 0.600, imbalance 0.333, makespan / lower "
         "bound 1.667\n"
         "loom: run directory loom-run-1 (joblog.tsv, report.json, out/)\n");
  free(s);
}

static void test_report_summary_of_one_worker_and_an_error(void **st) {
  (void)st;
  struct loom__report r = sample();
  r.nworkers = 1;
  r.run_dir = NULL;
  r.error = "task file: line 3: bad cost";
  char *s = summary_of(&r);
  expect_contains(s, " on 1 worker in ");
  expect_contains(s, "loom: stopped early: task file: line 3: bad cost\n");
  assert_null(strstr(s, "run directory"));
  free(s);
}

/* A stopped run says how much of the source is left, and counts the tasks
 * the stop cancelled apart from the failed ones. */
static void test_report_of_a_stopped_run_says_what_is_left(void **st) {
  (void)st;
  struct loom__report r = sample();
  struct loom_summary sum;
  size_t len;

  r.source_tasks = 300;
  r.tasks = 42;
  r.succeeded = 38;
  r.failed = 1;
  r.cancelled = 3;
  r.skipped = 10;
  r.error = "stopped on request (a signal)";
  char *s = summary_of(&r);
  expect_contains(s, "42 tasks, 38 succeeded, 1 failed, 3 cancelled (");
  expect_contains(s, "loom: 252 of the source's 300 tasks are left: --resume "
                     "loom-run-1 runs them\n");
  free(s);
  assert_int_equal(loom__report_write(&r, path), 0);
  char *text = read_file(path, &len);
  assert_true(json_valid(text, len));
  expect_contains(text, "\"failed\": 1, \"cancelled\": 3, ");
  expect_contains(text, "\"source_tasks\": 300,\n  \"left\": 252,\n");
  free(text);
  loom__report_totals(&r, &sum);
  assert_int_equal(sum.cancelled, 3);
  assert_int_equal(sum.left, 252);
  /* Unknown size: -1, and no line about it. */
  r.source_tasks = 0;
  loom__report_totals(&r, &sum);
  assert_int_equal(sum.left, -1);
  s = summary_of(&r);
  assert_null(strstr(s, "are left"));
  free(s);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_metrics_for_three_workers_by_hand),
      cmocka_unit_test(test_report_lower_bound_is_the_longest_task_when_larger),
      cmocka_unit_test(test_report_counts_cores_not_ranks),
      cmocka_unit_test(test_report_units_share_overlapping_bindings),
      cmocka_unit_test(test_report_metrics_of_perfect_balance),
      cmocka_unit_test(test_report_metrics_count_slots),
      cmocka_unit_test(test_report_zero_makespan_gives_zero_not_nan),
      cmocka_unit_test(test_report_json_checker_rejects_broken_json),
      TEST(test_report_json_has_totals_balance_and_per_worker),
      TEST(test_report_json_names_the_slurm_job),
      TEST(test_report_json_of_a_stopped_run_names_the_error),
      TEST(test_report_json_of_an_empty_run_has_no_nan),
      TEST(test_report_json_writes_non_finite_figures_as_zero),
      TEST(test_report_json_stays_utf8_when_its_strings_are_not),
      TEST(test_report_write_fails_without_a_directory),
      TEST(test_report_write_leaves_no_temporary_on_failure),
      cmocka_unit_test(test_json_string_escapes_quote_backslash_and_controls),
      cmocka_unit_test(test_json_string_escapes_every_control_character),
      cmocka_unit_test(test_report_summary_states_totals_and_balance),
      cmocka_unit_test(test_report_summary_of_one_worker_and_an_error),
      TEST(test_report_of_a_stopped_run_says_what_is_left),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
