/* test_progress.c - unit tests of the progress line
 * (engine/src/progress.c): the text loom__progress_format() makes, and when
 * loom__progress_tick() prints it. Times are passed in, never read from a
 * clock, so nothing here depends on how fast the machine is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/progress.h"

static void test_progress_format_with_a_total_shows_percent_and_eta(void **st) {
  (void)st;
  char buf[256];
  loom__progress_format(buf, sizeof buf, 10.0, 50, 100, 2);
  assert_string_equal(buf, "50/100 tasks (50.0%), 5.0/s, elapsed 0:00:10, "
                           "ETA 0:00:10, 2 failed");
}

static void test_progress_format_without_a_total_has_no_eta(void **st) {
  (void)st;
  char buf[256];
  loom__progress_format(buf, sizeof buf, 4.0, 10, 0, 0);
  assert_string_equal(buf, "10 tasks, 2.5/s, elapsed 0:00:04, 0 failed");
}

static void test_progress_format_writes_hours_minutes_seconds(void **st) {
  (void)st;
  char buf[256];
  /* 3661 s = 1:01:01; 100 more tasks at 1/3661 per second take ~101.7 h. */
  loom__progress_format(buf, sizeof buf, 3661.0, 1, 101, 0);
  assert_string_equal(buf, "1/101 tasks (1.0%), 0.0/s, elapsed 1:01:01, "
                           "ETA 101:41:40, 0 failed");
  /* Seconds round to the nearest. */
  loom__progress_format(buf, sizeof buf, 59.6, 0, 0, 0);
  assert_string_equal(buf, "0 tasks, 0.0/s, elapsed 0:01:00, 0 failed");
}

static void test_progress_format_before_any_rate_shows_unknown_eta(void **st) {
  (void)st;
  char buf[256];
  loom__progress_format(buf, sizeof buf, 0.0, 0, 100, 0);
  assert_string_equal(buf, "0/100 tasks (0.0%), 0.0/s, elapsed 0:00:00, "
                           "ETA ?, 0 failed");
  /* Time passed but nothing finished: no rate to project from. */
  loom__progress_format(buf, sizeof buf, 30.0, 0, 100, 0);
  assert_string_equal(buf, "0/100 tasks (0.0%), 0.0/s, elapsed 0:00:30, "
                           "ETA ?, 0 failed");
}

static void test_progress_format_at_the_end_shows_zero_eta(void **st) {
  (void)st;
  char buf[256];
  loom__progress_format(buf, sizeof buf, 8.0, 100, 100, 3);
  assert_string_equal(buf, "100/100 tasks (100.0%), 12.5/s, elapsed 0:00:08, "
                           "ETA 0:00:00, 3 failed");
}

static void test_progress_format_past_the_total_shows_unknown_eta(void **st) {
  (void)st;
  char buf[256];
  /* Retries and a stale estimate can take done past the total. */
  loom__progress_format(buf, sizeof buf, 2.0, 12, 10, 0);
  assert_string_equal(buf, "12/10 tasks (120.0%), 6.0/s, elapsed 0:00:02, "
                           "ETA ?, 0 failed");
}

static void test_progress_format_never_shows_zero_eta_for_far_work(void **st) {
  (void)st;
  char buf[256];
  /* 1 of a billion tasks (one "#loom repeat 1000000000" line) after 10 s:
   * 1e10 s to go. */
  loom__progress_format(buf, sizeof buf, 10.0, 1, 1000000001, 0);
  /* Regression: hms() once turned any duration of 1e9 s or more into 0,
   * so the line said "ETA 0:00:00", as if the run were about to end. */
  if (strstr(buf, "ETA 0:00:00"))
    fail_msg("'%s' claims the run is about to end", buf);
  /* 1e10 s is 2777777 h 46 min 40 s: said whole. */
  assert_string_equal(buf, "1/1000000001 tasks (0.0%), 0.1/s, elapsed "
                           "0:00:10, ETA 2777777:46:40, 0 failed");
}

static void test_progress_format_truncates_to_the_buffer(void **st) {
  (void)st;
  char buf[12];
  memset(buf, 'x', sizeof buf);
  loom__progress_format(buf, sizeof buf, 10.0, 50, 100, 2);
  assert_string_equal(buf, "50/100 task");
}

static void test_progress_format_keeps_large_counts_exact(void **st) {
  (void)st;
  char buf[256];
  loom__progress_format(buf, sizeof buf, 1.0, UINT64_C(10000000000), 0,
                        UINT64_C(18446744073709551615));
  assert_string_equal(buf, "10000000000 tasks, 10000000000.0/s, elapsed "
                           "0:00:01, 18446744073709551615 failed");
}

/* A progress line writing to memory instead of stderr. */
struct capture {
  struct loom__progress p;
  char *text;
  size_t len;
};

static void capture_init(struct capture *c, int on, int tty, double interval,
                         uint64_t total) {
  loom__progress_init(&c->p, on, -1, interval, total, 100.0);
  /* White-box: pick the mode instead of asking isatty(stderr). */
  c->p.tty = tty;
  c->p.interval = tty ? 0.25 : (interval > 0 ? interval : 5.0);
  c->text = NULL;
  c->len = 0;
  c->p.out = open_memstream(&c->text, &c->len);
  assert_non_null(c->p.out);
}

static void capture_fini(struct capture *c) {
  fclose(c->p.out);
  free(c->text);
}

static void test_progress_tick_prints_plain_lines_every_interval(void **st) {
  (void)st;
  struct capture c;
  capture_init(&c, 1, 0, 10.0, 100);
  loom__progress_tick(&c.p, 105.0, 10, 0); /* too soon */
  fflush(c.p.out);
  assert_int_equal(c.len, 0);
  loom__progress_tick(&c.p, 110.0, 50, 1);
  fflush(c.p.out);
  assert_string_equal(c.text, "loom: progress: 50/100 tasks (50.0%), 5.0/s, "
                              "elapsed 0:00:10, ETA 0:00:10, 1 failed\n");
  loom__progress_tick(&c.p, 115.0, 60, 1); /* 5 s after the last line */
  fflush(c.p.out);
  assert_int_equal(strchr(c.text, '\n') - c.text + 1, (long)c.len);
  /* A plain line ends itself: no extra newline at the end. */
  loom__progress_end(&c.p);
  fflush(c.p.out);
  assert_int_equal(strchr(c.text, '\n') - c.text + 1, (long)c.len);
  capture_fini(&c);
}

static void test_progress_tick_rewrites_a_live_line_on_a_terminal(void **st) {
  (void)st;
  struct capture c;
  capture_init(&c, 1, 1, 10.0, 0);
  loom__progress_tick(&c.p, 100.1, 1, 0); /* within 0.25 s */
  fflush(c.p.out);
  assert_int_equal(c.len, 0);
  loom__progress_tick(&c.p, 102.0, 4, 0);
  fflush(c.p.out);
  assert_string_equal(
      c.text, "\r\033[Kloom: 4 tasks, 2.0/s, elapsed 0:00:02, 0 failed");
  loom__progress_end(&c.p);
  fflush(c.p.out);
  assert_int_equal(c.text[c.len - 1], '\n');
  /* Ending twice adds nothing. */
  size_t len = c.len;
  loom__progress_end(&c.p);
  fflush(c.p.out);
  assert_int_equal(c.len, len);
  capture_fini(&c);
}

static void test_progress_tick_when_off_prints_nothing(void **st) {
  (void)st;
  struct capture c;
  capture_init(&c, 0, 0, 1.0, 10);
  loom__progress_tick(&c.p, 1000.0, 5, 0);
  loom__progress_end(&c.p);
  fflush(c.p.out);
  assert_int_equal(c.len, 0);
  capture_fini(&c);
}

static void
test_progress_init_defaults_the_interval_to_five_seconds(void **st) {
  (void)st;
  struct loom__progress p;
  loom__progress_init(&p, 1, -1, 0, 7, 3.0);
  assert_true(p.t0 == 3.0 && p.last == 3.0);
  assert_int_equal(p.total, 7);
  assert_int_equal(p.live, 0);
  /* On a terminal the live line refreshes four times a second. */
  assert_true(p.interval == (p.tty ? 0.25 : 5.0));
  loom__progress_init(&p, 1, -1, 2.5, 7, 3.0);
  assert_true(p.interval == (p.tty ? 0.25 : 2.5));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_progress_format_with_a_total_shows_percent_and_eta),
      cmocka_unit_test(test_progress_format_without_a_total_has_no_eta),
      cmocka_unit_test(test_progress_format_writes_hours_minutes_seconds),
      cmocka_unit_test(test_progress_format_before_any_rate_shows_unknown_eta),
      cmocka_unit_test(test_progress_format_at_the_end_shows_zero_eta),
      cmocka_unit_test(test_progress_format_past_the_total_shows_unknown_eta),
      cmocka_unit_test(test_progress_format_never_shows_zero_eta_for_far_work),
      cmocka_unit_test(test_progress_format_truncates_to_the_buffer),
      cmocka_unit_test(test_progress_format_keeps_large_counts_exact),
      cmocka_unit_test(test_progress_tick_prints_plain_lines_every_interval),
      cmocka_unit_test(test_progress_tick_rewrites_a_live_line_on_a_terminal),
      cmocka_unit_test(test_progress_tick_when_off_prints_nothing),
      cmocka_unit_test(
          test_progress_init_defaults_the_interval_to_five_seconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
