/* test_taskfile.c - unit tests of the streaming task-file reader
 * (engine/src/taskfile.c): comments, hints, directives, repeat expansion,
 * task ids, error messages and the counting scan.
 *
 * Every test writes its input with mkstemp() under /tmp; the teardown
 * removes the file even when an assertion failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch/engine.h"

/* The current test's input file, removed by the teardown. */
static char tmp_path[64];

static int remove_tmp(void **st) {
  (void)st;
  if (tmp_path[0])
    unlink(tmp_path);
  tmp_path[0] = '\0';
  return 0;
}

/* Writes len bytes as the whole content of tmp_path, creating it first. */
static void write_tmp(const char *data, size_t len) {
  int fd;
  size_t off = 0;

  if (!tmp_path[0]) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/loom-test-taskfile-XXXXXX");
    fd = mkstemp(tmp_path);
  } else {
    fd = open(tmp_path, O_WRONLY | O_TRUNC);
  }
  assert_true(fd >= 0);
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    assert_true(w > 0);
    off += (size_t)w;
  }
  assert_int_equal(close(fd), 0);
}

/* String literals may hold NUL bytes: their size is the length. */
#define WRITE_TMP(lit) write_tmp(lit, sizeof(lit) - 1)

/* One task as the reader handed it out, copied before the next call. */
struct got {
  char kind[8];
  char payload[256];
  size_t len;
  char text[256];
  double cost;
  double timeout;
  int retries;
  int cores;
  uint64_t mem;
  uint64_t line;
  uint64_t id;
};

static void copy_spec(struct got *g, const struct loom_task_spec *spec) {
  assert_non_null(spec->kind);
  assert_true(strlen(spec->kind) < sizeof g->kind);
  snprintf(g->kind, sizeof g->kind, "%s", spec->kind);
  assert_true(spec->len < sizeof g->payload);
  memcpy(g->payload, spec->payload, spec->len);
  g->payload[spec->len] = '\0';
  g->len = spec->len;
  assert_non_null(spec->text);
  assert_true(spec->text_len < sizeof g->text);
  memcpy(g->text, spec->text, spec->text_len);
  g->text[spec->text_len] = '\0';
  g->cost = spec->cost;
  g->timeout = spec->timeout;
  g->retries = spec->retries;
  g->cores = spec->cores;
  g->mem = spec->mem;
  g->line = spec->line;
  g->id = spec->id;
}

/* Reads every task of tmp_path into out (at most max); returns how many.
 * The file must read to its end without an error. */
static size_t read_all(struct got *out, size_t max) {
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[256] = "";
  size_t n = 0;
  int rc;

  assert_int_equal(loom_taskfile_open(tmp_path, &tf, err, sizeof err), 0);
  while ((rc = loom_taskfile_next(tf, &spec)) == 1) {
    assert_true(n < max);
    copy_spec(&out[n++], &spec);
  }
  if (rc != 0) {
    snprintf(err, sizeof err, "%s", loom_taskfile_error(tf));
    loom_taskfile_close(tf);
    fail_msg("unexpected %d: %s", rc, err);
  }
  /* The end stays the end. */
  assert_int_equal(loom_taskfile_next(tf, &spec), 0);
  loom_taskfile_close(tf);
  return n;
}

/* Reads lit (which must be bad) and checks the error: `good` tasks come
 * first, then LOOM_ESYNTAX with "FILE:LINE: " and a message holding want.
 * loom_taskfile_scan() must give the same code and text. */
static void expect_syntax_error(const char *data, size_t len, size_t good,
                                uint64_t line, const char *want) {
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[512] = "", msg[512], prefix[96];
  size_t n = 0;
  uint64_t count = 99;
  int rc;

  write_tmp(data, len);
  snprintf(prefix, sizeof prefix, "%s:%" PRIu64 ": ", tmp_path, line);
  assert_int_equal(loom_taskfile_open(tmp_path, &tf, err, sizeof err), 0);
  while ((rc = loom_taskfile_next(tf, &spec)) == 1)
    n++;
  snprintf(msg, sizeof msg, "%s", loom_taskfile_error(tf));
  loom_taskfile_close(tf);
  if (rc != LOOM_ESYNTAX)
    fail_msg("got %d after %zu tasks, want LOOM_ESYNTAX for '%.*s'", rc, n,
             (int)len, data);
  assert_int_equal(n, good);
  if (strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, want))
    fail_msg("error '%s', want '%s...%s...'", msg, prefix, want);

  assert_int_equal(loom_taskfile_scan(tmp_path, &count, err, sizeof err),
                   LOOM_ESYNTAX);
  assert_true(count == 0);
  assert_string_equal(err, msg);
}

#define EXPECT_SYNTAX_ERROR(lit, good, line, want)                             \
  expect_syntax_error(lit, sizeof(lit) - 1, good, line, want)

/* ---- lines, comments and hints ----------------------------------------- */

static void test_taskfile_skips_comments_and_blank_lines(void **st) {
  (void)st;
  struct got t[4];
  WRITE_TMP("# a comment\n"
            "\n"
            "   \t \n"
            "\techo a\n"
            "  # an indented comment\n"
            "#loomish is a comment too\n"
            "echo b   \n");
  assert_int_equal(read_all(t, 4), 2);
  assert_string_equal(t[0].kind, "sh");
  assert_string_equal(t[0].payload, "echo a");
  assert_string_equal(t[0].text, "echo a");
  assert_int_equal(t[0].line, 4);
  assert_string_equal(t[1].payload, "echo b");
  assert_int_equal(t[1].len, 6);
  assert_int_equal(t[1].line, 7);
  /* No hints: the spec defaults. */
  assert_true(t[0].cost == -1);
  assert_true(t[0].timeout == 0);
  assert_int_equal(t[0].retries, 0);
}

static void test_taskfile_reads_a_last_line_without_a_newline(void **st) {
  (void)st;
  struct got t[2];
  WRITE_TMP("echo a\necho b");
  assert_int_equal(read_all(t, 2), 2);
  assert_string_equal(t[1].payload, "echo b");
  assert_int_equal(t[1].line, 2);
}

static void test_taskfile_empty_file_has_no_tasks(void **st) {
  (void)st;
  struct got t[1];
  WRITE_TMP("");
  assert_int_equal(read_all(t, 1), 0);
}

static void test_taskfile_strips_crlf_line_endings(void **st) {
  (void)st;
  struct got t[4];
  WRITE_TMP("echo a\r\n"
            "\r\n"
            "# comment\r\n"
            "echo b #loom retries=2\r\n"
            "#loom suffix  !\r\n"
            "echo c\r\n");
  assert_int_equal(read_all(t, 4), 3);
  assert_string_equal(t[0].payload, "echo a");
  assert_int_equal(t[0].line, 1);
  assert_string_equal(t[1].payload, "echo b");
  assert_int_equal(t[1].retries, 2);
  assert_int_equal(t[1].line, 4);
  assert_string_equal(t[2].payload, "echo c !");
  assert_int_equal(t[2].line, 6);
}

static void
test_taskfile_hints_set_cost_timeout_retries_and_leave_the_command(void **st) {
  (void)st;
  struct got t[4];
  WRITE_TMP("echo a #loom cost=2 timeout=30 retries=3\n"
            "echo b\t#loom\tcost=1.5m  timeout=2h\t\n"
            "echo c #loom cost=10s timeout=0.5m retries=1000\n"
            "echo d #loom cost=0 retries=0\n");
  assert_int_equal(read_all(t, 4), 4);
  assert_string_equal(t[0].payload, "echo a");
  assert_string_equal(t[0].text, "echo a");
  assert_int_equal(t[0].len, 6);
  assert_true(t[0].cost == 2);
  assert_true(t[0].timeout == 30);
  assert_int_equal(t[0].retries, 3);
  assert_string_equal(t[1].payload, "echo b");
  assert_true(t[1].cost == 90);
  assert_true(t[1].timeout == 7200);
  assert_int_equal(t[1].retries, 0);
  assert_string_equal(t[2].payload, "echo c");
  assert_true(t[2].cost == 10);
  assert_true(t[2].timeout == 30);
  assert_int_equal(t[2].retries, 1000);
  assert_string_equal(t[3].payload, "echo d");
  assert_true(t[3].cost == 0);
}

static void test_taskfile_hint_marker_needs_a_blank_before_it(void **st) {
  (void)st;
  struct got t[2];
  WRITE_TMP("echo x#loom cost=1\n"
            "echo '#loomy' #loom retries=1\n");
  assert_int_equal(read_all(t, 2), 2);
  assert_string_equal(t[0].payload, "echo x#loom cost=1");
  assert_true(t[0].cost == -1);
  assert_string_equal(t[1].payload, "echo '#loomy'");
  assert_int_equal(t[1].retries, 1);
}

static void
test_taskfile_defaults_apply_to_later_lines_and_hints_override(void **st) {
  (void)st;
  struct got t[4];
  WRITE_TMP("echo a\n"
            "#loom defaults cost=5 retries=2\n"
            "echo b\n"
            "echo c #loom retries=0 timeout=1m\n"
            "#loom defaults timeout=3\n"
            "echo d\n");
  assert_int_equal(read_all(t, 4), 4);
  /* Before the directive: untouched. */
  assert_true(t[0].cost == -1);
  assert_int_equal(t[0].retries, 0);
  assert_true(t[0].timeout == 0);
  assert_true(t[1].cost == 5);
  assert_int_equal(t[1].retries, 2);
  assert_true(t[1].timeout == 0);
  /* A hint overrides its key only. */
  assert_true(t[2].cost == 5);
  assert_int_equal(t[2].retries, 0);
  assert_true(t[2].timeout == 60);
  /* A later defaults line adds to the earlier one. */
  assert_true(t[3].cost == 5);
  assert_int_equal(t[3].retries, 2);
  assert_true(t[3].timeout == 3);
  assert_int_equal(t[3].line, 6);
}

static void test_taskfile_bad_defaults_line_changes_nothing(void **st) {
  (void)st;
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[256];
  WRITE_TMP("#loom defaults retries=4\n"
            "#loom defaults cost=7 retries=x\n"
            "echo a\n");
  assert_int_equal(loom_taskfile_open(tmp_path, &tf, err, sizeof err), 0);
  assert_int_equal(loom_taskfile_next(tf, &spec), LOOM_ESYNTAX);
  /* A caller that goes on past the error sees the older defaults whole. */
  assert_int_equal(loom_taskfile_next(tf, &spec), 1);
  assert_true(spec.cost == -1);
  assert_int_equal(spec.retries, 4);
  loom_taskfile_close(tf);
}

/* ---- prefix and suffix ------------------------------------------------- */

static void test_taskfile_prefix_and_suffix_concatenate_verbatim(void **st) {
  (void)st;
  struct got t[4];
  WRITE_TMP("#loom prefix cd /tmp && \n"
            "#loom suffix  > out.txt\n"
            "echo a\n"
            "#loom prefix\n"
            "echo b #loom retries=1\n"
            "#loom suffix \n"
            "echo c\n"
            "#loom\tprefix\tX\n"
            "echo d\n");
  assert_int_equal(read_all(t, 4), 4);
  /* One blank after the word is the separator; the rest is kept. */
  assert_string_equal(t[0].payload, "cd /tmp && echo a > out.txt");
  assert_string_equal(t[0].text, "cd /tmp && echo a > out.txt");
  assert_int_equal(t[0].len, strlen("cd /tmp && echo a > out.txt"));
  /* An empty directive clears. */
  assert_string_equal(t[1].payload, "echo b > out.txt");
  assert_int_equal(t[1].retries, 1);
  assert_string_equal(t[2].payload, "echo c");
  assert_string_equal(t[3].payload, "Xecho d");
}

/* ---- repeat ------------------------------------------------------------ */

static void test_taskfile_repeat_expands_index(void **st) {
  (void)st;
  struct got t[5];
  WRITE_TMP("#loom repeat 3 start=10 step=5 echo {} {}\n"
            "echo after\n");
  assert_int_equal(read_all(t, 5), 4);
  static const char *const text[] = {"echo 10 10", "echo 15 15", "echo 20 20"};
  for (int k = 0; k < 3; k++) {
    char want[128];
    snprintf(want, sizeof want, "export LOOM_REPEAT_INDEX=%d; %s", 10 + 5 * k,
             text[k]);
    /* The shell gets the index; the joblog shows the command alone. */
    assert_string_equal(t[k].payload, want);
    assert_int_equal(t[k].len, strlen(want));
    assert_string_equal(t[k].text, text[k]);
    assert_int_equal(t[k].line, 1);
    assert_string_equal(t[k].kind, "sh");
  }
  assert_string_equal(t[3].payload, "echo after");
  assert_int_equal(t[3].line, 2);
  assert_true(t[0].id != t[1].id && t[1].id != t[2].id && t[0].id != t[2].id);
}

static void test_taskfile_repeat_counts_from_zero_by_default(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("#loom repeat 3 echo {}-{x}-{\n");
  assert_int_equal(read_all(t, 3), 3);
  assert_string_equal(t[0].text, "echo 0-{x}-{");
  assert_string_equal(t[1].text, "echo 1-{x}-{");
  assert_string_equal(t[2].payload, "export LOOM_REPEAT_INDEX=2; echo 2-{x}-{");
}

static void test_taskfile_repeat_steps_down_below_zero(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("#loom repeat 3 step=-2 start=2 echo {}\n");
  assert_int_equal(read_all(t, 3), 3);
  assert_string_equal(t[0].text, "echo 2");
  assert_string_equal(t[1].text, "echo 0");
  assert_string_equal(t[2].text, "echo -2");
  assert_string_equal(t[2].payload, "export LOOM_REPEAT_INDEX=-2; echo -2");
}

static void test_taskfile_repeat_takes_hints_defaults_and_prefix(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("#loom defaults retries=2\n"
            "#loom prefix nice \n"
            "#loom repeat 2 sleep {} #loom timeout=5\n"
            "#loom prefix\n"
            "true\n");
  assert_int_equal(read_all(t, 3), 3);
  assert_string_equal(t[0].text, "nice sleep 0");
  assert_string_equal(t[0].payload, "export LOOM_REPEAT_INDEX=0; nice sleep 0");
  assert_true(t[0].timeout == 5);
  assert_int_equal(t[0].retries, 2);
  assert_string_equal(t[1].text, "nice sleep 1");
  assert_true(t[1].timeout == 5);
  assert_int_equal(t[1].line, 3);
  /* The hints belonged to the repeat line only. */
  assert_string_equal(t[2].text, "true");
  assert_true(t[2].timeout == 0);
}

static void test_taskfile_repeat_zero_yields_nothing(void **st) {
  (void)st;
  struct got t[2];
  WRITE_TMP("#loom repeat 0 echo {}\n"
            "echo y\n");
  assert_int_equal(read_all(t, 2), 1);
  assert_string_equal(t[0].payload, "echo y");
  assert_int_equal(t[0].line, 2);
}

/* ---- task ids ---------------------------------------------------------- */

static void test_taskfile_same_text_on_different_lines_gets_new_ids(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("echo same\necho same\n\necho same\n");
  assert_int_equal(read_all(t, 3), 3);
  assert_true(t[0].id != t[1].id);
  assert_true(t[1].id != t[2].id);
  assert_true(t[0].id != t[2].id);
  assert_true(t[0].id != 0 && t[1].id != 0 && t[2].id != 0);
}

static void test_taskfile_repeat_without_placeholder_gets_new_ids(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("#loom repeat 3 true\n");
  assert_int_equal(read_all(t, 3), 3);
  assert_string_equal(t[0].text, t[2].text);
  assert_true(t[0].id != t[1].id);
  assert_true(t[1].id != t[2].id);
  assert_true(t[0].id != t[2].id);
}

static void
test_taskfile_reading_the_same_file_twice_gives_same_ids(void **st) {
  (void)st;
  struct got a[6], b[6];
  WRITE_TMP("echo a\n#loom repeat 3 echo {}\necho b #loom cost=1\n");
  assert_int_equal(read_all(a, 6), 5);
  assert_int_equal(read_all(b, 6), 5);
  for (int i = 0; i < 5; i++)
    assert_true(a[i].id == b[i].id);
}

static void test_taskfile_appending_lines_keeps_earlier_ids(void **st) {
  (void)st;
  struct got a[8], b[8];
  WRITE_TMP("echo a\n#loom repeat 2 echo {}\necho b\n");
  assert_int_equal(read_all(a, 8), 4);
  WRITE_TMP("echo a\n#loom repeat 2 echo {}\necho b\n"
            "echo c\n#loom repeat 2 echo {}\n");
  assert_int_equal(read_all(b, 8), 7);
  for (int i = 0; i < 4; i++)
    assert_true(a[i].id == b[i].id);
  for (int i = 4; i < 7; i++)
    for (int j = 0; j < i; j++)
      assert_true(b[i].id != b[j].id);
}

static void test_taskfile_id_derives_from_command_and_line(void **st) {
  (void)st;
  struct got t[3];
  WRITE_TMP("\necho hello\n#loom repeat 1 start=7 echo {}\n");
  assert_int_equal(read_all(t, 3), 2);
  /* Documented in loom.h: the id hashes kind, command and position. */
  assert_true(t[0].id ==
              loom_task_id_derive("sh", "echo hello", 10, (uint64_t)2 << 32));
  /* A repeat hashes the command the joblog shows, not the payload. */
  assert_true(t[1].id ==
              loom_task_id_derive("sh", "echo 7", 6, ((uint64_t)3 << 32) | 1));
}

/* ---- errors ------------------------------------------------------------ */

static void test_taskfile_requests_from_hints_defaults_and_caller(void **st) {
  (void)st;
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[256];
  struct got t[4];
  int i = 0, rc;

  WRITE_TMP("echo a #loom cores=4 mem=16G\n"
            "echo b\n"
            "#loom defaults cores=2 mem=512M\n"
            "echo c\n"
            "echo d #loom cores=1 mem=3\n");
  assert_int_equal(read_all(t, 4), 4);
  assert_int_equal(t[0].cores, 4);
  assert_true(t[0].mem == (uint64_t)16 << 30);
  assert_int_equal(t[1].cores, 0); /* none said: one */
  assert_true(t[1].mem == 0);
  assert_int_equal(t[2].cores, 2);
  assert_true(t[2].mem == (uint64_t)512 << 20);
  assert_int_equal(t[3].cores, 1);
  assert_true(t[3].mem == 3);
  /* The caller's defaults (--cores, --mem) lose to the file's own. */
  assert_int_equal(loom_taskfile_open(tmp_path, &tf, err, sizeof err), 0);
  assert_int_equal(loom_taskfile_requests(tf, 8, 1024), 0);
  assert_int_equal(loom_taskfile_requests(tf, LOOM_CORES_MAX + 1, 0),
                   LOOM_EINVAL);
  assert_int_equal(loom_taskfile_requests(tf, -1, 0), LOOM_EINVAL);
  while ((rc = loom_taskfile_next(tf, &spec)) == 1) {
    static const int cores[] = {4, 8, 2, 1};
    assert_int_equal(spec.cores, cores[i]);
    if (i == 1)
      assert_true(spec.mem == 1024);
    i++;
  }
  assert_int_equal(rc, 0);
  assert_int_equal(i, 4);
  loom_taskfile_close(tf);
}

static void test_size_parse(void **st) {
  (void)st;
  uint64_t v = 7;
  assert_int_equal(loom_size_parse("4096", 4, &v), 0);
  assert_true(v == 4096);
  assert_int_equal(loom_size_parse("2K", 2, &v), 0);
  assert_true(v == 2048);
  assert_int_equal(loom_size_parse("3T", 2, &v), 0);
  assert_true(v == (uint64_t)3 << 40);
  assert_int_equal(loom_size_parse("64Mx", 3, &v), 0); /* n bytes only */
  assert_true(v == (uint64_t)64 << 20);
  v = 7;
  assert_int_equal(loom_size_parse("", 0, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("K", 1, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("-1", 2, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("1.5G", 4, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("1KB", 3, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("1k", 2, &v), LOOM_EINVAL);
  assert_int_equal(loom_size_parse("18446744073709551616", 20, &v),
                   LOOM_EINVAL);
  assert_int_equal(loom_size_parse("16777216T", 9, &v), LOOM_EINVAL);
  assert_true(v == 7); /* untouched on an error */
  assert_int_equal(loom_size_parse("18446744073709551615", 20, &v), 0);
  assert_true(v == UINT64_MAX);
}

static void test_taskfile_rejects_unknown_and_malformed_hints(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("echo a\necho b #loom colour=red\n", 1, 2,
                      "unknown hint 'colour'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost\n", 0, 1, "malformed hint 'cost'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=1 retries\n", 0, 1,
                      "malformed hint 'retries'");
  EXPECT_SYNTAX_ERROR("echo b #loom\n", 0, 1, "without key=value");
  EXPECT_SYNTAX_ERROR("echo b #loom   \n", 0, 1, "without key=value");
}

static void test_taskfile_rejects_bad_hint_values(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("echo a\n\necho b #loom cost=abc\n", 1, 3,
                      "bad cost 'abc'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=-1\n", 0, 1, "bad cost '-1'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=\n", 0, 1, "bad cost ''");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=5ms\n", 0, 1, "bad cost '5ms'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=nan\n", 0, 1, "bad cost 'nan'");
  EXPECT_SYNTAX_ERROR("echo b #loom cost=inf\n", 0, 1, "bad cost 'inf'");
  EXPECT_SYNTAX_ERROR("echo b #loom timeout=0\n", 0, 1, "bad timeout '0'");
  EXPECT_SYNTAX_ERROR("echo b #loom timeout=0s\n", 0, 1, "bad timeout '0s'");
  EXPECT_SYNTAX_ERROR("echo b #loom timeout=-5\n", 0, 1, "bad timeout '-5'");
  EXPECT_SYNTAX_ERROR("echo b #loom retries=-1\n", 0, 1, "bad retries '-1'");
  EXPECT_SYNTAX_ERROR("echo b #loom retries=1001\n", 0, 1,
                      "bad retries '1001'");
  EXPECT_SYNTAX_ERROR("echo b #loom retries=2x\n", 0, 1, "bad retries '2x'");
  EXPECT_SYNTAX_ERROR("#loom defaults timeout=0\n", 0, 1, "bad timeout '0'");
  EXPECT_SYNTAX_ERROR("echo b #loom cores=0\n", 0, 1, "bad cores '0'");
  EXPECT_SYNTAX_ERROR("echo b #loom cores=4097\n", 0, 1, "bad cores '4097'");
  EXPECT_SYNTAX_ERROR("echo b #loom cores=2.5\n", 0, 1, "bad cores '2.5'");
  EXPECT_SYNTAX_ERROR("echo b #loom mem=0\n", 0, 1, "bad mem '0'");
  EXPECT_SYNTAX_ERROR("echo b #loom mem=1GB\n", 0, 1, "bad mem '1GB'");
  EXPECT_SYNTAX_ERROR("#loom defaults mem=x\n", 0, 1, "bad mem 'x'");
}

static void test_taskfile_rejects_unknown_directives_and_bare_loom(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("echo a\n#loom frobnicate x\n", 1, 2,
                      "unknown directive 'frobnicate'");
  EXPECT_SYNTAX_ERROR("#loom prefixes x\n", 0, 1,
                      "unknown directive 'prefixes'");
  EXPECT_SYNTAX_ERROR("#loom\n", 0, 1, "'#loom' without a directive");
  EXPECT_SYNTAX_ERROR("#loom \t \n", 0, 1, "'#loom' without a directive");
  EXPECT_SYNTAX_ERROR("#loom defaults\n", 0, 1, "without key=value");
}

static void test_taskfile_rejects_repeat_without_count_or_command(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("#loom repeat x echo\n", 0, 1, "bad repeat count 'x'");
  EXPECT_SYNTAX_ERROR("#loom repeat -1 echo\n", 0, 1, "bad repeat count '-1'");
  EXPECT_SYNTAX_ERROR("#loom repeat 3x echo\n", 0, 1, "bad repeat count '3x'");
  EXPECT_SYNTAX_ERROR("#loom repeat\n", 0, 1, "bad repeat count ''");
  EXPECT_SYNTAX_ERROR("echo a\n#loom repeat 3\n", 1, 2,
                      "repeat without a command");
  EXPECT_SYNTAX_ERROR("#loom repeat 3 start=1 step=2\n", 0, 1,
                      "repeat without a command");
  EXPECT_SYNTAX_ERROR("#loom repeat 3 start=x echo\n", 0, 1,
                      "bad repeat start 'x'");
  EXPECT_SYNTAX_ERROR("#loom repeat 3 step= echo\n", 0, 1,
                      "bad repeat step ''");
  EXPECT_SYNTAX_ERROR("#loom repeat 2 echo {} #loom retries=x\n", 0, 1,
                      "bad retries 'x'");
}

static void test_taskfile_rejects_hints_on_a_line_of_their_own(void **st) {
  (void)st;
  /* A line that starts with the marker is a directive, not a command: the
   * hint keys are no directive names. */
  EXPECT_SYNTAX_ERROR("echo a\n#loom cost=1\n", 1, 2, "unknown directive");
  EXPECT_SYNTAX_ERROR("   #loom retries=2 timeout=1\n", 0, 1,
                      "unknown directive 'retries=2'");
}

static void test_taskfile_rejects_repeat_with_hints_but_no_command(void **st) {
  (void)st;
  /* Regression: split_hints() once needed a blank before "#loom", so after
   * a repeat's count the hints became the command: two tasks running the
   * shell comment "#loom cost=1". */
  EXPECT_SYNTAX_ERROR("#loom repeat 2 #loom cost=1\n", 0, 1,
                      "without a command");
  EXPECT_SYNTAX_ERROR("#loom repeat 2 start=1 #loom retries=1\n", 0, 1,
                      "without a command");
}

static void test_taskfile_rejects_a_line_with_a_nul_byte(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("echo a\necho \0b\necho c\n", 1, 2, "NUL byte");
  EXPECT_SYNTAX_ERROR("# comment \0\n", 0, 1, "NUL byte");
}

static void test_taskfile_rejects_a_line_over_one_mebibyte(void **st) {
  (void)st;
  size_t n = (1u << 20) + 16;
  char *data = malloc(n);
  assert_non_null(data);
  memcpy(data, "true\necho ", 10);
  memset(data + 10, 'x', n - 11);
  data[n - 1] = '\n';
  expect_syntax_error(data, n, 1, 2, "line longer than");
  free(data);
}

static void test_taskfile_error_names_the_line_after_skipped_lines(void **st) {
  (void)st;
  EXPECT_SYNTAX_ERROR("# one\n\n#loom prefix x \r\n#loom defaults cost=1\r\n"
                      "#loom repeat 2 echo {}\r\necho a #loom retries=9999\n",
                      2, 6, "bad retries '9999'");
}

/* ---- opening and scanning ---------------------------------------------- */

static void test_taskfile_open_missing_file_names_the_path(void **st) {
  (void)st;
  static char sentinel;
  struct loom_taskfile *tf = (struct loom_taskfile *)(void *)&sentinel;
  char err[256] = "";
  const char *path = "/tmp/loom-test-no-such-dir/tasks.txt";
  assert_int_equal(loom_taskfile_open(path, &tf, err, sizeof err), LOOM_EIO);
  assert_null(tf);
  assert_non_null(strstr(err, path));
  /* Without an err buffer it fails the same way. */
  assert_int_equal(loom_taskfile_open(path, &tf, NULL, 0), LOOM_EIO);
  assert_null(tf);
}

static void test_taskfile_open_rejects_an_empty_path(void **st) {
  (void)st;
  struct loom_taskfile *tf = NULL;
  char err[128] = "";
  assert_int_equal(loom_taskfile_open("", &tf, err, sizeof err), LOOM_EINVAL);
  assert_null(tf);
  assert_int_equal(loom_taskfile_open(NULL, &tf, err, sizeof err), LOOM_EINVAL);
  assert_null(tf);
  loom_taskfile_close(NULL);
}

static void test_taskfile_reading_a_directory_is_an_io_error(void **st) {
  (void)st;
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[256] = "";
  uint64_t n = 5;
  /* fopen() takes a directory; the first read fails. */
  if (loom_taskfile_open("/tmp", &tf, err, sizeof err) == 0) {
    assert_int_equal(loom_taskfile_next(tf, &spec), LOOM_EIO);
    assert_non_null(strstr(loom_taskfile_error(tf), "/tmp: read error"));
    loom_taskfile_close(tf);
  }
  assert_int_equal(loom_taskfile_scan("/tmp", &n, err, sizeof err), LOOM_EIO);
  assert_true(n == 0);
  assert_non_null(strstr(err, "/tmp"));
}

static void test_taskfile_scan_counts_tasks_and_repeat_expansions(void **st) {
  (void)st;
  uint64_t n = 0;
  char err[256] = "";
  WRITE_TMP("# header\necho a\n#loom repeat 5 echo {}\n#loom repeat 0 x\n"
            "#loom prefix p \necho b\n#loom repeat 1 y\necho c\n");
  assert_int_equal(loom_taskfile_scan(tmp_path, &n, err, sizeof err), 0);
  assert_true(n == 9);
}

static void
test_taskfile_scan_counts_a_huge_repeat_without_expanding(void **st) {
  (void)st;
  uint64_t n = 0;
  char err[256] = "";
  /* Expanding a billion tasks would run past the test's timeout. */
  WRITE_TMP("#loom repeat 1000000000 true\necho last\n");
  assert_int_equal(loom_taskfile_scan(tmp_path, &n, err, sizeof err), 0);
  assert_true(n == 1000000001u);
}

static void test_taskfile_scan_of_a_missing_file_names_the_path(void **st) {
  (void)st;
  uint64_t n = 5;
  char err[256] = "";
  const char *path = "/tmp/loom-test-no-such-dir/tasks.txt";
  assert_int_equal(loom_taskfile_scan(path, &n, err, sizeof err), LOOM_EIO);
  assert_true(n == 0);
  assert_non_null(strstr(err, path));
}

/* The last two tests come last: in the sanitizer build the first of them
 * stops the program on the undefined behaviour it describes. */

static void test_taskfile_repeat_ending_at_the_int64_limit_expands(void **st) {
  (void)st;
  struct got t[5];
  /* Regression: next_repeat() once added step to the value after the last
   * task too: a signed overflow here (undefined behaviour, which aborts the
   * sanitizer build). */
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char err[256];
  int n = 0;
  WRITE_TMP("#loom repeat 4 start=2305843009213693951 "
            "step=2305843009213693951 echo {}\n");
  assert_int_equal(loom_taskfile_open(tmp_path, &tf, err, sizeof err), 0);
  /* Removed now: an abort below leaves nothing behind in /tmp. */
  remove_tmp(NULL);
  while (n < 5 && loom_taskfile_next(tf, &spec) == 1)
    copy_spec(&t[n++], &spec);
  loom_taskfile_close(tf);
  assert_int_equal(n, 4);
  assert_string_equal(t[0].text, "echo 2305843009213693951");
  assert_string_equal(t[1].text, "echo 4611686018427387902");
  assert_string_equal(t[2].text, "echo 6917529027641081853");
  assert_string_equal(t[3].text, "echo 9223372036854775804");
}

static void
test_taskfile_rejects_repeat_values_past_the_int64_limit(void **st) {
  (void)st;
  /* Regression: the directive once accepted values past int64, handing
   * out "echo -6917529027641081861" while loom_taskfile_scan() counted the
   * file as good. It is now a syntax error, going up or down. */
  EXPECT_SYNTAX_ERROR("#loom repeat 5 start=2305843009213693951 "
                      "step=2305843009213693951 echo {}\n",
                      0, 1, "repeat");
  EXPECT_SYNTAX_ERROR("#loom repeat 5 start=-2305843009213693952 "
                      "step=-2305843009213693952 echo {}\n",
                      0, 1, "repeat");
}

#define TEST(f) cmocka_unit_test_teardown(f, remove_tmp)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_taskfile_skips_comments_and_blank_lines),
      TEST(test_taskfile_reads_a_last_line_without_a_newline),
      TEST(test_taskfile_empty_file_has_no_tasks),
      TEST(test_taskfile_strips_crlf_line_endings),
      TEST(test_taskfile_hints_set_cost_timeout_retries_and_leave_the_command),
      TEST(test_taskfile_hint_marker_needs_a_blank_before_it),
      TEST(test_taskfile_defaults_apply_to_later_lines_and_hints_override),
      TEST(test_taskfile_bad_defaults_line_changes_nothing),
      TEST(test_taskfile_prefix_and_suffix_concatenate_verbatim),
      TEST(test_taskfile_repeat_expands_index),
      TEST(test_taskfile_repeat_counts_from_zero_by_default),
      TEST(test_taskfile_repeat_steps_down_below_zero),
      TEST(test_taskfile_repeat_takes_hints_defaults_and_prefix),
      TEST(test_taskfile_repeat_zero_yields_nothing),
      TEST(test_taskfile_same_text_on_different_lines_gets_new_ids),
      TEST(test_taskfile_repeat_without_placeholder_gets_new_ids),
      TEST(test_taskfile_reading_the_same_file_twice_gives_same_ids),
      TEST(test_taskfile_appending_lines_keeps_earlier_ids),
      TEST(test_taskfile_id_derives_from_command_and_line),
      TEST(test_taskfile_requests_from_hints_defaults_and_caller),
      TEST(test_size_parse),
      TEST(test_taskfile_rejects_unknown_and_malformed_hints),
      TEST(test_taskfile_rejects_bad_hint_values),
      TEST(test_taskfile_rejects_unknown_directives_and_bare_loom),
      TEST(test_taskfile_rejects_repeat_without_count_or_command),
      TEST(test_taskfile_rejects_hints_on_a_line_of_their_own),
      TEST(test_taskfile_rejects_repeat_with_hints_but_no_command),
      TEST(test_taskfile_rejects_a_line_with_a_nul_byte),
      TEST(test_taskfile_rejects_a_line_over_one_mebibyte),
      TEST(test_taskfile_error_names_the_line_after_skipped_lines),
      TEST(test_taskfile_open_missing_file_names_the_path),
      TEST(test_taskfile_open_rejects_an_empty_path),
      TEST(test_taskfile_reading_a_directory_is_an_io_error),
      TEST(test_taskfile_scan_counts_tasks_and_repeat_expansions),
      TEST(test_taskfile_scan_counts_a_huge_repeat_without_expanding),
      TEST(test_taskfile_scan_of_a_missing_file_names_the_path),
      TEST(test_taskfile_repeat_ending_at_the_int64_limit_expands),
      TEST(test_taskfile_rejects_repeat_values_past_the_int64_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
