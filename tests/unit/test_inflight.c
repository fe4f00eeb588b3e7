/* test_inflight.c - unit tests of the master's in-flight slots and retry
 * queue (engine/src/dispatch/inflight.c): slots are reused, retries come
 * back first in first out, a completion is accepted only from the worker
 * that holds the slot, and the table grows without losing what it holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "dispatch/inflight.h"

static void test_inflight_reuses_freed_slots(void **st) {
  (void)st;
  struct loom__inflight f;
  uint32_t a, b, c;

  loom__inflight_init(&f);
  assert_int_equal(loom__inflight_alloc(&f, &a), 0);
  assert_int_equal(loom__inflight_alloc(&f, &b), 0);
  assert_int_not_equal(a, b);
  loom__inflight_free(&f, a);
  assert_int_equal(loom__inflight_alloc(&f, &c), 0);
  assert_int_equal(c, a);
  assert_int_equal(f.n, 2);
  loom__inflight_fini(&f);
}

static void test_inflight_retries_come_back_in_order(void **st) {
  (void)st;
  struct loom__inflight f;
  uint32_t s[5];

  loom__inflight_init(&f);
  for (int i = 0; i < 5; i++)
    assert_int_equal(loom__inflight_alloc(&f, &s[i]), 0);
  loom__inflight_retry_push(&f, s[3]);
  loom__inflight_retry_push(&f, s[0]);
  loom__inflight_retry_push(&f, s[4]);
  assert_int_equal(f.s[s[0]].worker, -1);
  assert_int_equal(loom__inflight_retry_pop(&f), s[3]);
  loom__inflight_retry_push(&f, s[1]);
  assert_int_equal(loom__inflight_retry_pop(&f), s[0]);
  assert_int_equal(loom__inflight_retry_pop(&f), s[4]);
  assert_int_equal(loom__inflight_retry_pop(&f), s[1]);
  assert_int_equal(f.retry_head, LOOM__NO_SLOT);
  assert_int_equal(f.retry_tail, LOOM__NO_SLOT);
  loom__inflight_fini(&f);
}

static void test_inflight_owned_only_by_its_worker(void **st) {
  (void)st;
  struct loom__inflight f;
  uint32_t a;

  loom__inflight_init(&f);
  assert_int_equal(loom__inflight_alloc(&f, &a), 0);
  assert_false(loom__inflight_owned(&f, a, 0)); /* not handed out yet */
  f.s[a].worker = 2;
  assert_true(loom__inflight_owned(&f, a, 2));
  assert_false(loom__inflight_owned(&f, a, 1));
  assert_false(loom__inflight_owned(&f, a + 1, 2)); /* no such slot */
  assert_false(loom__inflight_owned(&f, UINT32_MAX - 1, 2));
  loom__inflight_free(&f, a);
  assert_false(loom__inflight_owned(&f, a, 2)); /* a late duplicate */
  loom__inflight_fini(&f);
}

static void test_inflight_grows_and_keeps_what_it_holds(void **st) {
  (void)st;
  struct loom__inflight f;
  enum { N = 10000 };

  loom__inflight_init(&f);
  for (uint32_t i = 0; i < N; i++) {
    uint32_t si;
    assert_int_equal(loom__inflight_alloc(&f, &si), 0);
    assert_int_equal(si, i);
    f.s[si].id = 1000 + i;
    assert_int_equal(loom__buf_set(&f.c[si].payload, &i, sizeof(i)), 0);
  }
  for (uint32_t i = 0; i < N; i++) {
    uint32_t v;
    assert_int_equal(f.s[i].id, 1000 + i);
    memcpy(&v, f.c[i].payload.data, sizeof(v));
    assert_int_equal(v, i);
  }
  loom__inflight_fini(&f);
  assert_null(f.s);
  assert_int_equal(f.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inflight_reuses_freed_slots),
      cmocka_unit_test(test_inflight_retries_come_back_in_order),
      cmocka_unit_test(test_inflight_owned_only_by_its_worker),
      cmocka_unit_test(test_inflight_grows_and_keeps_what_it_holds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
