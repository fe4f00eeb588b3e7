/* test_rundir.c - unit tests of run directory creation
 * (engine/src/rundir.c): default names never reused, explicit paths new or
 * empty, clear errors, and a discard that never deletes results.
 *
 * Each test runs in a fresh directory under /tmp (default names are made
 * in the current directory) that the teardown removes. The tests run as
 * root on CI, where permissions stop nothing: a path under a regular file
 * is what makes mkdir() fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dispatch/engine.h"
#include "journal/rundir.h"

static char base[64];
static char old_cwd[PATH_MAX];

/* Removes path and everything under it (no symlinks are followed). */
static void remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0)
    return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *e;
    if (d) {
      while ((e = readdir(d)) != NULL) {
        char sub[PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
          continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        remove_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

static int enter_base(void **st) {
  (void)st;
  assert_non_null(getcwd(old_cwd, sizeof old_cwd));
  snprintf(base, sizeof base, "/tmp/loom-test-rundir-XXXXXX");
  assert_non_null(mkdtemp(base));
  assert_int_equal(chdir(base), 0);
  return 0;
}

static int leave_base(void **st) {
  (void)st;
  assert_int_equal(chdir(old_cwd), 0);
  remove_tree(base);
  return 0;
}

static int is_dir(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("x\n", f);
  assert_int_equal(fclose(f), 0);
}

/* Number of entries in the current directory, . and .. aside. */
static int count_entries(void) {
  DIR *d = opendir(".");
  struct dirent *e;
  int n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static void expect_run_dir(const char *name) {
  char out[PATH_MAX];
  assert_true(is_dir(name));
  snprintf(out, sizeof out, "%s/out", name);
  assert_true(is_dir(out));
}

/* Does name read "loom-run-YYYYMMDD-HHMMSS" or that plus "-N"? */
static int is_default_name(const char *name) {
  static const char shape[] = "loom-run-dddddddd-dddddd";
  size_t n = sizeof shape - 1;
  if (strlen(name) < n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (shape[i] == 'd' ? name[i] < '0' || name[i] > '9' : name[i] != shape[i])
      return 0;
  }
  if (name[n] == '\0')
    return 1;
  if (name[n] != '-' || name[n + 1] < '1' || name[n + 1] > '9')
    return 0;
  for (const char *p = name + n + 2; *p; p++)
    if (*p < '0' || *p > '9')
      return 0;
  return 1;
}

/* ---- default names ------------------------------------------------------ */

static void test_rundir_default_name_is_created_with_an_out_dir(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(loom_rundir_create(NULL, buf, sizeof buf, err, sizeof err),
                   0);
  if (!is_default_name(buf))
    fail_msg("unexpected name '%s'", buf);
  expect_run_dir(buf);
  assert_int_equal(count_entries(), 1);
}

static void test_rundir_default_name_is_never_reused(void **st) {
  (void)st;
  /* Earlier runs hold the names of the seconds around now, so this run's
   * first choice is taken whatever second the clock shows. */
  char taken[6][48], a[PATH_MAX], b[PATH_MAX], err[256] = "";
  time_t now = time(NULL);
  for (int i = 0; i < 6; i++) {
    time_t t = now - 1 + i;
    struct tm tm;
    char stamp[32];
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(taken[i], sizeof taken[i], "loom-run-%s", stamp);
    assert_int_equal(mkdir(taken[i], 0777), 0);
  }
  assert_int_equal(loom_rundir_create(NULL, a, sizeof a, err, sizeof err), 0);
  assert_int_equal(loom_rundir_create(NULL, b, sizeof b, err, sizeof err), 0);
  assert_string_not_equal(a, b);
  for (int i = 0; i < 6; i++) {
    assert_string_not_equal(a, taken[i]);
    assert_string_not_equal(b, taken[i]);
  }
  assert_true(is_default_name(a) && is_default_name(b));
  expect_run_dir(a);
  expect_run_dir(b);
  /* The earlier runs' directories were left alone. */
  for (int i = 0; i < 6; i++) {
    char out[64];
    snprintf(out, sizeof out, "%s/out", taken[i]);
    assert_false(exists(out));
  }
  assert_int_equal(count_entries(), 8);
}

static void test_rundir_default_name_takes_the_next_free_number(void **st) {
  (void)st;
  char taken[3][2][56], got[PATH_MAX], err[256] = "";
  time_t now = time(NULL);
  /* "-1" is taken as well for these seconds: a clash lands on "-2". */
  for (int i = 0; i < 3; i++) {
    time_t t = now + i;
    struct tm tm;
    char stamp[32];
    localtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    snprintf(taken[i][0], sizeof taken[i][0], "loom-run-%s", stamp);
    snprintf(taken[i][1], sizeof taken[i][1], "loom-run-%s-1", stamp);
    assert_int_equal(mkdir(taken[i][0], 0777), 0);
    assert_int_equal(mkdir(taken[i][1], 0777), 0);
  }
  assert_int_equal(loom_rundir_create(NULL, got, sizeof got, err, sizeof err),
                   0);
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(taken[i][0]);
    if (strncmp(got, taken[i][0], n) == 0)
      assert_string_equal(got + n, "-2");
  }
  expect_run_dir(got);
}

static void
test_rundir_default_name_too_long_for_the_buffer_leaves_nothing(void **st) {
  (void)st;
  char buf[8] = "", err[256] = "";
  assert_int_equal(loom_rundir_create(NULL, buf, sizeof buf, err, sizeof err),
                   LOOM_EIO);
  /* Regression: rundir.c once checked buflen only after mkdir() succeeded,
   * then returned LOOM_EIO without a word in err and left the new
   * directory behind. */
  assert_string_not_equal(err, "");
  assert_int_equal(count_entries(), 0);
}

/* ---- explicit paths ----------------------------------------------------- */

static void test_rundir_creates_a_new_explicit_dir(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(
      loom_rundir_create("results", buf, sizeof buf, err, sizeof err), 0);
  assert_string_equal(buf, "results");
  expect_run_dir("results");
}

static void test_rundir_accepts_an_empty_existing_dir(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "", abs[PATH_MAX];
  assert_int_equal(mkdir("empty", 0777), 0);
  assert_int_equal(
      loom_rundir_create("empty", buf, sizeof buf, err, sizeof err), 0);
  assert_string_equal(buf, "empty");
  expect_run_dir("empty");
  /* An absolute path works the same way. */
  assert_int_equal(mkdir("empty2", 0777), 0);
  snprintf(abs, sizeof abs, "%s/empty2", base);
  assert_int_equal(loom_rundir_create(abs, buf, sizeof buf, err, sizeof err),
                   0);
  assert_string_equal(buf, abs);
  expect_run_dir(abs);
}

static void test_rundir_refuses_a_non_empty_explicit_dir(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(mkdir("old", 0777), 0);
  touch("old/joblog.tsv");
  assert_int_equal(loom_rundir_create("old", buf, sizeof buf, err, sizeof err),
                   LOOM_EEXIST);
  assert_non_null(strstr(err, "'old'"));
  assert_non_null(strstr(err, "not empty"));
  /* Nothing was added to the earlier run. */
  assert_false(exists("old/out"));
  assert_true(exists("old/joblog.tsv"));
}

static void test_rundir_refuses_a_dir_it_created_before(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(
      loom_rundir_create("twice", buf, sizeof buf, err, sizeof err), 0);
  assert_int_equal(
      loom_rundir_create("twice", buf, sizeof buf, err, sizeof err),
      LOOM_EEXIST);
}

static void test_rundir_fails_for_a_path_under_a_regular_file(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  touch("file");
  assert_int_equal(
      loom_rundir_create("file/sub", buf, sizeof buf, err, sizeof err),
      LOOM_EIO);
  assert_non_null(strstr(err, "'file/sub'"));
  assert_non_null(strstr(err, "Not a directory"));
  assert_false(exists("file/sub"));
}

static void test_rundir_fails_for_a_path_that_is_a_regular_file(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  touch("file");
  assert_int_equal(loom_rundir_create("file", buf, sizeof buf, err, sizeof err),
                   LOOM_EIO);
  assert_non_null(strstr(err, "'file'"));
  assert_non_null(strstr(err, "exists and is not a directory"));
}

static void test_rundir_makes_missing_parents_as_mkdir_p(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(
      loom_rundir_create("missing/sub/run", buf, sizeof buf, err, sizeof err),
      0);
  assert_string_equal(buf, "missing/sub/run");
  assert_true(exists("missing/sub/run/out"));
  /* A parent that is a file cannot be made: one error naming the path. */
  touch("afile");
  assert_int_equal(
      loom_rundir_create("afile/sub/run", buf, sizeof buf, err, sizeof err),
      LOOM_EIO);
  assert_non_null(strstr(err, "'afile/sub/run'"));
  assert_non_null(strstr(err, "Not a directory"));
}

static void test_rundir_refuses_a_path_longer_than_the_buffer(void **st) {
  (void)st;
  char buf[6] = "", err[256] = "";
  assert_int_equal(
      loom_rundir_create("abcdef", buf, sizeof buf, err, sizeof err), LOOM_EIO);
  assert_non_null(strstr(err, "too long"));
  assert_false(exists("abcdef"));
  /* One byte less fits, with its NUL. */
  assert_int_equal(
      loom_rundir_create("abcde", buf, sizeof buf, err, sizeof err), 0);
  assert_string_equal(buf, "abcde");
}

static void test_rundir_errors_need_no_err_buffer(void **st) {
  (void)st;
  char buf[PATH_MAX];
  touch("file");
  assert_int_equal(loom_rundir_create("file/sub", buf, sizeof buf, NULL, 0),
                   LOOM_EIO);
}

/* ---- discard ------------------------------------------------------------ */

static void test_rundir_discard_removes_an_unused_run_dir(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(loom_rundir_create("r", buf, sizeof buf, err, sizeof err),
                   0);
  loom_rundir_discard(buf);
  assert_false(exists("r"));
  assert_int_equal(loom_rundir_create(NULL, buf, sizeof buf, err, sizeof err),
                   0);
  loom_rundir_discard(buf);
  assert_int_equal(count_entries(), 0);
}

static void test_rundir_discard_keeps_dirs_that_hold_files(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "";
  assert_int_equal(loom_rundir_create("r", buf, sizeof buf, err, sizeof err),
                   0);
  touch("r/out/1.out");
  loom_rundir_discard("r");
  assert_true(exists("r/out/1.out"));

  assert_int_equal(loom_rundir_create("s", buf, sizeof buf, err, sizeof err),
                   0);
  touch("s/joblog.tsv");
  loom_rundir_discard("s");
  /* The empty out/ may go; the joblog and its directory stay. */
  assert_true(exists("s/joblog.tsv"));
  assert_true(is_dir("s"));
}

static void test_rundir_discard_of_nothing_does_nothing(void **st) {
  (void)st;
  touch("keep");
  loom_rundir_discard(NULL);
  loom_rundir_discard("no-such-dir");
  loom_rundir_discard("keep"); /* a file is not a directory to remove */
  assert_true(exists("keep"));
  assert_int_equal(count_entries(), 1);
}

static void test_rundir_lock_has_one_owner_at_a_time(void **st) {
  (void)st;
  char buf[PATH_MAX] = "", err[256] = "", who[64];
  int a = -1, b = -1;

  assert_int_equal(loom_rundir_create("run", buf, sizeof buf, err, sizeof err),
                   0);
  assert_int_equal(loom__rundir_lock("run", 0, 1, &a, err, sizeof err), 0);
  assert_true(a >= 0);
  /* A second owner (a descriptor of its own, as another process has) is
   * refused, and told who holds it. */
  assert_int_equal(loom__rundir_lock("run", 0.3, 1, &b, err, sizeof err),
                   LOOM_EBUSY);
  assert_int_equal(b, -1);
  snprintf(who, sizeof(who), "in use by another loom (pid %ld on ",
           (long)getpid());
  assert_non_null(strstr(err, who));
  /* Once the first lets go, the lock is free again. */
  loom__rundir_unlock(a);
  assert_int_equal(loom__rundir_lock("run", 0, 1, &b, err, sizeof err), 0);
  loom__rundir_unlock(b);
  /* An empty run directory that only ever held the lock is discarded
   * whole. */
  loom_rundir_discard("run");
  assert_false(exists("run"));
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, enter_base, leave_base)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_rundir_default_name_is_created_with_an_out_dir),
      TEST(test_rundir_default_name_is_never_reused),
      TEST(test_rundir_default_name_takes_the_next_free_number),
      TEST(test_rundir_default_name_too_long_for_the_buffer_leaves_nothing),
      TEST(test_rundir_creates_a_new_explicit_dir),
      TEST(test_rundir_accepts_an_empty_existing_dir),
      TEST(test_rundir_refuses_a_non_empty_explicit_dir),
      TEST(test_rundir_refuses_a_dir_it_created_before),
      TEST(test_rundir_fails_for_a_path_under_a_regular_file),
      TEST(test_rundir_fails_for_a_path_that_is_a_regular_file),
      TEST(test_rundir_makes_missing_parents_as_mkdir_p),
      TEST(test_rundir_lock_has_one_owner_at_a_time),
      TEST(test_rundir_refuses_a_path_longer_than_the_buffer),
      TEST(test_rundir_errors_need_no_err_buffer),
      TEST(test_rundir_discard_removes_an_unused_run_dir),
      TEST(test_rundir_discard_keeps_dirs_that_hold_files),
      TEST(test_rundir_discard_of_nothing_does_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
