/* test_joblog.c - unit tests of the joblog.tsv writer
 * (engine/src/joblog.c): the header, the row format, and the escaping that
 * keeps every row on one line.
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

#include "dispatch/engine.h"
#include "journal/joblog.h"

/* The current test's directory, removed with its joblog by the teardown. */
static char dir[64];

static int make_dir(void **st) {
  (void)st;
  snprintf(dir, sizeof dir, "/tmp/loom-test-joblog-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int remove_dir(void **st) {
  char path[128];
  (void)st;
  snprintf(path, sizeof path, "%s/joblog.tsv", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/dispatched.tsv", dir);
  unlink(path);
  rmdir(dir);
  return 0;
}

/* Reads DIR/NAME from byte off on; the caller frees. */
static char *read_from(const char *name, long off, size_t *len) {
  char path[128];
  FILE *f;
  char *text;
  long n;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  n = ftell(f) - off;
  assert_true(n >= 0);
  assert_int_equal(fseek(f, off, SEEK_SET), 0);
  text = malloc((size_t)n + 1);
  assert_non_null(text);
  assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
  text[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return text;
}

/* Reads DIR/joblog.tsv whole; the caller frees. */
static char *read_joblog(size_t *len) {
  return read_from("joblog.tsv", 0, len);
}

/* The row j writes for r: written, flushed and read back from the file,
 * which has *off bytes before it (moved on past it). The caller frees. */
static char *write_one(struct loom__joblog *j, const struct loom__joblog_row *r,
                       long *off) {
  size_t len;
  char *text;

  assert_int_equal(loom__joblog_write(j, r), 0);
  assert_int_equal(loom__joblog_flush(j), 0);
  text = read_from("joblog.tsv", *off, &len);
  *off += (long)len;
  return text;
}

/* What the journal makes of n bytes of s as a row's command: the row's
 * last field, without its newline. The caller frees. */
static char *escaped(const char *s, size_t n) {
  struct loom__joblog j;
  struct loom__joblog_row r = {
      .host = "h", .status = "ok", .attempt = 1, .text = s, .text_len = n};
  long off = (long)strlen(LOOM__JOBLOG_HEADER);
  char *row, *e;

  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  row = write_one(&j, &r, &off);
  assert_int_equal(loom__joblog_close(&j), 0);
  e = strrchr(row, '\t');
  assert_non_null(e);
  assert_int_equal(row[strlen(row) - 1], '\n');
  row[strlen(row) - 1] = '\0';
  e = strdup(e + 1);
  free(row);
  return e;
}

static struct loom__joblog_row sample_row(void) {
  struct loom__joblog_row r = {.id = 0xff,
                               .key = 0xabc,
                               .line = 7,
                               .rank = 2,
                               .host = "node1",
                               .start = 1700000000.25,
                               .elapsed = 1.5,
                               .exit_code = 3,
                               .sig = 0,
                               .status = "failed",
                               .attempt = 2,
                               .text = "echo hi",
                               .text_len = 7};
  return r;
}

static void test_joblog_open_writes_the_exact_header(void **st) {
  (void)st;
  struct loom__joblog j;
  size_t len;

  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  assert_true(j.open);
  /* The header is on disk before any row. */
  char *text = read_joblog(&len);
  assert_string_equal(text, "id\tkey\tline\trank\thost\tstart\telapsed\texit\t"
                            "signal\tstatus\tattempt\tcpus\tcommand\n");
  free(text);
  assert_int_equal(loom__joblog_close(&j), 0);
  assert_false(j.open);
}

static void test_joblog_row_has_thirteen_fields_in_header_order(void **st) {
  (void)st;
  struct loom__joblog j;
  struct loom__joblog_row r = sample_row();
  size_t len;

  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  assert_int_equal(loom__joblog_write(&j, &r), 0);
  assert_int_equal(loom__joblog_flush(&j), 0);
  char *text = read_joblog(&len);
  const char *row = text + strlen(LOOM__JOBLOG_HEADER);
  assert_string_equal(row, "00000000000000ff\t0000000000000abc\t7\t2\tnode1\t"
                           "1700000000.250000\t1.500000\t3\t0\tfailed\t2\t-\t"
                           "echo hi\n");
  free(text);
  /* A pinned attempt names its CPUs. */
  r.cpus = "4-7,9";
  r.cpus_len = 5;
  assert_int_equal(loom__joblog_write(&j, &r), 0);
  assert_int_equal(loom__joblog_flush(&j), 0);
  text = read_joblog(&len);
  assert_non_null(strstr(text, "\tfailed\t2\t4-7,9\techo hi\n"));
  free(text);
  assert_int_equal(loom__joblog_close(&j), 0);
}

static void test_joblog_escapes_the_command_to_keep_one_line(void **st) {
  (void)st;
  static const char cmd[] = "a\tb\nc\rd\\e";
  struct loom__joblog j;
  struct loom__joblog_row r = sample_row();
  size_t len, fields = 1, lines = 0;

  r.id = UINT64_MAX;
  r.line = 0;
  r.text = cmd;
  r.text_len = sizeof cmd - 1;
  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  assert_int_equal(loom__joblog_write(&j, &r), 0);
  assert_int_equal(loom__joblog_close(&j), 0);

  char *text = read_joblog(&len);
  const char *row = text + strlen(LOOM__JOBLOG_HEADER);
  for (const char *p = row; *p; p++) {
    fields += *p == '\t';
    lines += *p == '\n';
  }
  assert_int_equal(fields, 13);
  assert_int_equal(lines, 1);
  assert_int_equal(row[strlen(row) - 1], '\n');
  assert_non_null(strstr(row, "ffffffffffffffff\t0000000000000abc\t0\t"));
  assert_non_null(strstr(row, "\tfailed\t2\t-\ta\\tb\\nc\\rd\\\\e\n"));
  free(text);
}

static void test_joblog_escape_leaves_plain_text_alone(void **st) {
  (void)st;
  static const char plain[] = "echo 'hello world' | tr a-z A-Z";
  char *e = escaped(plain, strlen(plain));
  assert_string_equal(e, plain);
  free(e);
  e = escaped("", 0);
  assert_string_equal(e, "");
  free(e);
}

static void test_joblog_escape_handles_runs_and_both_ends(void **st) {
  (void)st;
  char *e = escaped("\\\t\n\r\r\nx\\", 8);
  assert_string_equal(e, "\\\\\\t\\n\\r\\r\\nx\\\\");
  free(e);
}

static void test_joblog_escape_writes_exactly_n_bytes(void **st) {
  (void)st;
  /* The text need not end in NUL: the length is what counts. */
  static const char unterminated[] = {'a', 'b', 'c', '\t', 'd'};
  char *e = escaped(unterminated, 4);
  assert_string_equal(e, "abc\\t");
  free(e);
}

static void
test_joblog_without_a_file_accepts_rows_and_does_nothing(void **st) {
  (void)st;
  struct loom__joblog j = {0};
  struct loom__joblog_row r = sample_row();
  assert_int_equal(loom__joblog_write(&j, &r), 0);
  assert_int_equal(loom__joblog_flush(&j), 0);
  assert_int_equal(loom__joblog_close(&j), 0);
}

/* The row as printf writes it: the format the journal has always had, which
 * the hand-made formatter must reproduce. */
static char *printf_row(const struct loom__joblog_row *r) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  fprintf(f,
          "%016" PRIx64 "\t%016" PRIx64 "\t%" PRIu64
          "\t%d\t%s\t%.6f\t%.6f\t%d\t%d\t%s\t%d\t%.*s\t",
          r->id, r->key, r->line, r->rank, r->host, r->start, r->elapsed,
          r->exit_code, r->sig, r->status, r->attempt,
          r->cpus_len ? (int)r->cpus_len : 1, r->cpus_len ? r->cpus : "-");
  for (size_t i = 0; i < r->text_len; i++) {
    char c = r->text[i];
    if (c == '\t' || c == '\n' || c == '\r' || c == '\\')
      fprintf(f, "\\%c",
              c == '\t'   ? 't'
              : c == '\n' ? 'n'
              : c == '\r' ? 'r'
                          : c);
    else
      fputc(c, f);
  }
  fputc('\n', f);
  fclose(f);
  return text;
}

static uint64_t next_rand(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Rows of every shape, written without printf, read the same as with it:
 * numbers at their extremes, times a few nanoseconds either side of a
 * microsecond (not half-way: there the two may round apart), long hosts,
 * CPU lists and commands longer than the journal's buffer, rows that
 * run over the buffer's end. */
static void test_joblog_rows_match_printf_byte_for_byte(void **st) {
  (void)st;
  static char big[5000], cpus[3000];
  const size_t huge_len = 3 * LOOM__JOURNAL_BUFFER;
  const int rows = 20000;
  struct loom__joblog j;
  char *huge, **want, *text, *row;
  size_t len;
  static const int ints[] = {0,   1,   -1,    9,         10,       -10,
                             127, 128, 65535, INT32_MAX, INT32_MIN};
  static const double times[] = {0,
                                 1e-6,
                                 0.000001999,
                                 0.5,
                                 1.5,
                                 59.999999,
                                 1700000000.25,
                                 1796072445.368693,
                                 8999999999.999999,
                                 9e9,
                                 1e15,
                                 -0.25,
                                 -1700000000.5};
  uint64_t seed = 88172645463325252ULL;

  for (size_t i = 0; i < sizeof(big) - 1; i++)
    big[i] = (char)('a' + i % 26);
  for (size_t i = 0; i < sizeof(cpus) - 1; i++)
    cpus[i] = i % 3 == 2 ? ',' : (char)('0' + i % 10);
  /* Commands longer than the journal's buffer: letters, and tabs that
   * escape to twice their length. */
  huge = malloc(huge_len);
  assert_non_null(huge);
  for (size_t i = 0; i < huge_len; i++)
    huge[i] = i < huge_len / 2 ? (char)('a' + i % 26) : '\t';
  want = calloc(rows, sizeof(*want));
  assert_non_null(want);
  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  for (int k = 0; k < rows; k++) {
    struct loom__joblog_row r = sample_row();
    uint64_t v = next_rand(&seed);
    r.id = v;
    r.key = k % 7 == 0 ? 0 : k % 7 == 1 ? UINT64_MAX : next_rand(&seed);
    r.line = k % 5 == 0 ? UINT64_MAX : v % 100000000;
    r.rank = ints[k % 11];
    r.exit_code = ints[(k / 11) % 11];
    r.sig = (int)(v % 129);
    r.attempt = 1 + (int)(v % 60000);
    if (k < 13 * 13) {
      r.start = times[k % 13];
      r.elapsed = times[k / 13];
    } else {
      /* A whole number of microseconds up to 2e9 s (the year 2033), then
       * up to 0.3 us off it: still a quarter microsecond or more from half
       * way, in a double of that size. */
      double us = (double)(next_rand(&seed) % 2000000000000000ULL);
      double off = ((double)(next_rand(&seed) % 600) - 300) * 1e-3;
      r.start = (us + off) / 1e6;
      r.elapsed = (double)(next_rand(&seed) % 100000000000ULL) / 1e6;
    }
    r.host = k % 97 == 0 ? big + sizeof(big) - 300 : "node-17.cluster";
    if (k % 3 == 0) {
      r.cpus = k % 91 == 0 ? cpus : "0-3,8";
      r.cpus_len = k % 91 == 0 ? sizeof(cpus) - 1 : 5;
    }
    r.text = k % 89 == 0 ? big : "sh -c 'a\tb'\\\n";
    r.text_len = k % 89 == 0 ? sizeof(big) - 1 : strlen(r.text);
    if (k % 4999 == 1) {
      r.text = k % 2 ? huge : huge + huge_len / 2;
      r.text_len = huge_len / 2 - (size_t)k % 1000;
    }
    want[k] = printf_row(&r);
    assert_int_equal(loom__joblog_write(&j, &r), 0);
    /* Flushed now and then only: rows run over the buffer's end. */
    if (k % 1000 == 999)
      assert_int_equal(loom__joblog_flush(&j), 0);
  }
  assert_int_equal(loom__joblog_close(&j), 0);
  text = read_joblog(&len);
  assert_int_equal(
      strncmp(text, LOOM__JOBLOG_HEADER, strlen(LOOM__JOBLOG_HEADER)), 0);
  row = text + strlen(LOOM__JOBLOG_HEADER);
  for (int k = 0; k < rows; k++) {
    size_t n = strlen(want[k]);
    if (strncmp(row, want[k], n) != 0)
      fail_msg("row %d:\n want %.200s\n got  %.200s", k, want[k], row);
    row += n;
    free(want[k]);
  }
  assert_int_equal(*row, '\0');
  free(want);
  free(text);
  free(huge);
}

/* One journal writes row after row, keeping the digits of the last start
 * time's whole seconds: rows within one second, then in the next, then
 * back, with more and fewer digits, and values printf writes itself,
 * must each read as printf writes them. */
static void test_joblog_rows_in_a_row_keep_their_seconds_right(void **st) {
  (void)st;
  static const double starts[] = {5.25,
                                  5.75,
                                  5.0,
                                  6.0,
                                  59.999999,
                                  60.0,
                                  0.000001,
                                  1796082189.1,
                                  1796082189.9,
                                  1796082190.0,
                                  5.5,
                                  9e9,
                                  5.5,
                                  -1.5,
                                  5.5,
                                  1796082190.000001,
                                  1796082189.999999,
                                  99.5,
                                  100.5,
                                  99.5};
  size_t n = sizeof(starts) / sizeof(starts[0]);
  struct loom__joblog j;
  char *text, *want = NULL;
  size_t len, want_len = 0;
  FILE *expect = open_memstream(&want, &want_len);

  assert_non_null(expect);
  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  for (size_t i = 0; i < n; i++) {
    struct loom__joblog_row r = sample_row();
    char *one;
    r.start = starts[i];
    r.id = 0x0123456789abcdefULL + i;
    assert_int_equal(loom__joblog_write(&j, &r), 0);
    one = printf_row(&r);
    fputs(one, expect);
    free(one);
  }
  assert_int_equal(loom__joblog_close(&j), 0);
  fclose(expect);
  text = read_joblog(&len);
  assert_string_equal(text + strlen(LOOM__JOBLOG_HEADER), want);
  free(text);
  free(want);
}

/* dispatched.tsv's rows: two ids in hex. */
static void test_joblog_started_rows_are_two_hex_ids(void **st) {
  (void)st;
  struct loom__joblog j;
  char *text;
  size_t len;

  assert_int_equal(loom__joblog_open(&j, dir, 0), 0);
  assert_int_equal(loom__joblog_started(&j, 0xff, UINT64_MAX), 0);
  assert_int_equal(loom__joblog_started(&j, 0, 0x0123456789abcdefULL), 0);
  assert_int_equal(loom__joblog_flush(&j), 0);
  text = read_from("dispatched.tsv", 0, &len);
  assert_string_equal(text, "id\tkey\n"
                            "00000000000000ff\tffffffffffffffff\n"
                            "0000000000000000\t0123456789abcdef\n");
  free(text);
  assert_int_equal(loom__joblog_close(&j), 0);
}

static void test_joblog_open_fails_for_a_missing_directory(void **st) {
  (void)st;
  struct loom__joblog j;
  char missing[128];
  snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
  assert_int_equal(loom__joblog_open(&j, missing, 0), LOOM_EIO);
  assert_false(j.open);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_joblog_open_writes_the_exact_header),
      TEST(test_joblog_row_has_thirteen_fields_in_header_order),
      TEST(test_joblog_escapes_the_command_to_keep_one_line),
      TEST(test_joblog_escape_leaves_plain_text_alone),
      TEST(test_joblog_escape_handles_runs_and_both_ends),
      TEST(test_joblog_escape_writes_exactly_n_bytes),
      TEST(test_joblog_without_a_file_accepts_rows_and_does_nothing),
      TEST(test_joblog_rows_match_printf_byte_for_byte),
      TEST(test_joblog_rows_in_a_row_keep_their_seconds_right),
      TEST(test_joblog_started_rows_are_two_hex_ids),
      TEST(test_joblog_open_fails_for_a_missing_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
