/* test_plain.c - which shell commands run without a shell
 * (engine/src/dispatch/exec.h: loom__exec_plain), and how they are cut
 * into words. A command that needs a shell for anything (quotes,
 * variables, globs, redirections, pipes, lists, a builtin or keyword)
 * must never run without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dispatch/exec.h"

static int cut(const char *cmd, char **argv) {
  static char words[4096];
  assert_true(strlen(cmd) < sizeof(words));
  return loom__exec_plain(cmd, words, argv);
}

static void test_plain_commands_are_cut_into_words(void **st) {
  char *argv[LOOM__PLAIN_WORDS + 1];
  (void)st;

  assert_int_equal(cut("true", argv), 1);
  assert_string_equal(argv[0], "true");
  assert_null(argv[1]);
  assert_int_equal(cut("  sleep\t 0.5 ", argv), 2);
  assert_string_equal(argv[0], "sleep");
  assert_string_equal(argv[1], "0.5");
  assert_null(argv[2]);
  assert_int_equal(
      cut("./solver --in data/a_1.txt -n 4 user@host:9,10 +x 50%", argv), 8);
  assert_string_equal(argv[5], "user@host:9,10");
  assert_string_equal(argv[7], "50%");
  assert_int_equal(cut("false", argv), 1);
}

static void test_anything_for_a_shell_goes_to_one(void **st) {
  static const char *const shell[] = {
      "",           "   ",         "a;b",        "a | b",      "a && b",
      "a > f",      "a < f",       "a 2>&1",     "echo $HOME", "echo `x`",
      "ls *.c",     "ls a?",       "ls [ab]",    "cd /tmp",    "exit 3",
      "echo hi",    "printf x",    "export A",   "set -e",     "A=1 cmd",
      "cmd 'a b'",  "cmd \"a b\"", "cmd a\\ b",  "ls ~",       "cmd # x",
      "cmd\nother", "(cmd)",       "{ cmd; }",   "cmd &",      "! cmd",
      "if",         "while",       "for",        ". ./env.sh", "source x",
      "eval x",     "exec x",      "trap x INT", "wait",       "read x",
      "ulimit -n",  "umask 022",   "test -f x",  "[ -f x ]",   "kill %1",
      "time cmd",   "cmd {a,b}"};
  char *argv[LOOM__PLAIN_WORDS + 1];
  (void)st;

  for (size_t i = 0; i < sizeof(shell) / sizeof(shell[0]); i++)
    if (cut(shell[i], argv) != 0)
      fail_msg("'%s' would run without a shell", shell[i]);
}

static void test_too_many_words_go_to_a_shell(void **st) {
  char cmd[4096] = "cmd", *argv[LOOM__PLAIN_WORDS + 1];
  (void)st;

  for (int i = 1; i < LOOM__PLAIN_WORDS; i++)
    strcat(cmd, " x");
  assert_int_equal(cut(cmd, argv), LOOM__PLAIN_WORDS);
  strcat(cmd, " y");
  assert_int_equal(cut(cmd, argv), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_commands_are_cut_into_words),
      cmocka_unit_test(test_anything_for_a_shell_goes_to_one),
      cmocka_unit_test(test_too_many_words_go_to_a_shell),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
