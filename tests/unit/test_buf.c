/* test_buf.c - unit tests of the growable buffer, array and string copier
 * (engine/src/common/buf.c): contents survive growth, a failed growth
 * leaves everything as it was, sizes that would overflow are refused, and
 * copies are exact (NUL bytes included).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "loom.h"

static void test_buf_append_keeps_every_byte_across_growth(void **st) {
  (void)st;
  struct loom__buf b = {0};
  unsigned char chunk[100];

  for (int i = 0; i < 1000; i++) {
    memset(chunk, i & 0xff, sizeof(chunk));
    assert_int_equal(loom__buf_append(&b, chunk, sizeof(chunk)), 0);
  }
  assert_int_equal(b.len, 100000);
  assert_true(b.cap >= b.len);
  for (size_t k = 0; k < b.len; k++)
    assert_int_equal(b.data[k], (k / 100) & 0xff);
  loom__buf_fini(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

static void test_buf_reserve_refuses_an_overflowing_size(void **st) {
  (void)st;
  struct loom__buf b = {0};

  assert_int_equal(loom__buf_append(&b, "abc", 3), 0);
  assert_int_equal(loom__buf_reserve(&b, SIZE_MAX - 1), LOOM_ENOMEM);
  /* Unchanged. */
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, "abc", 3);
  loom__buf_fini(&b);
}

static void test_buf_set_replaces_and_terminates(void **st) {
  (void)st;
  struct loom__buf b = {0};

  assert_int_equal(loom__buf_set(&b, "a long first text", 17), 0);
  assert_int_equal(loom__buf_set(&b, "ab\0c", 4), 0);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "ab\0c", 4);
  assert_int_equal(b.data[4], '\0');
  assert_int_equal(loom__buf_set(&b, NULL, 0), 0);
  assert_int_equal(b.len, 0);
  assert_string_equal((char *)b.data, "");
  loom__buf_fini(&b);
}

static void test_buf_swap_exchanges_storage(void **st) {
  (void)st;
  struct loom__buf a = {0}, b = {0};
  unsigned char *pa;

  assert_int_equal(loom__buf_append(&a, "message", 7), 0);
  pa = a.data;
  loom__buf_swap(&a, &b);
  assert_null(a.data);
  assert_int_equal(a.len, 0);
  assert_ptr_equal(b.data, pa); /* no copy */
  assert_int_equal(b.len, 7);
  loom__buf_fini(&a);
  loom__buf_fini(&b);
}

static void test_array_grow_doubles_and_keeps_elements(void **st) {
  (void)st;
  uint64_t *v = NULL, *p;
  size_t cap = 0;

  for (size_t i = 0; i < 5000; i++) {
    p = loom__array_grow(v, &cap, i + 1, sizeof(*v));
    assert_non_null(p);
    v = p;
    assert_true(cap >= i + 1);
    v[i] = i * 3;
  }
  assert_int_equal(cap, 8192); /* 16, doubled */
  for (size_t i = 0; i < 5000; i++)
    assert_int_equal(v[i], i * 3);
  /* Enough room already: nothing moves. */
  p = loom__array_grow(v, &cap, 10, sizeof(*v));
  assert_ptr_equal(p, v);
  assert_int_equal(cap, 8192);
  free(v);
}

static void test_array_grow_refuses_overflow_and_keeps_the_array(void **st) {
  (void)st;
  uint64_t *v = NULL;
  size_t cap = 0;

  v = loom__array_grow(v, &cap, 4, sizeof(*v));
  assert_non_null(v);
  v[0] = 42;
  assert_null(loom__array_grow(v, &cap, SIZE_MAX / 4, sizeof(*v)));
  assert_null(loom__array_grow(v, &cap, SIZE_MAX, 1));
  assert_int_equal(cap, 16);
  assert_int_equal(v[0], 42);
  free(v);
}

static void test_str_and_mem_dup_copy_exactly(void **st) {
  (void)st;
  char *s = loom__str_dup("ab\0cd", 5);
  unsigned char *m = loom__mem_dup("xyz", 3);
  void *none = loom__mem_dup(NULL, 0);

  assert_non_null(s);
  assert_memory_equal(s, "ab\0cd", 5);
  assert_int_equal(s[5], '\0');
  assert_non_null(m);
  assert_memory_equal(m, "xyz", 3);
  assert_non_null(none); /* a copy of nothing is still a copy */
  assert_null(loom__str_dup("x", SIZE_MAX));
  free(s);
  free(m);
  free(none);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_append_keeps_every_byte_across_growth),
      cmocka_unit_test(test_buf_reserve_refuses_an_overflowing_size),
      cmocka_unit_test(test_buf_set_replaces_and_terminates),
      cmocka_unit_test(test_buf_swap_exchanges_storage),
      cmocka_unit_test(test_array_grow_doubles_and_keeps_elements),
      cmocka_unit_test(test_array_grow_refuses_overflow_and_keeps_the_array),
      cmocka_unit_test(test_str_and_mem_dup_copy_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
