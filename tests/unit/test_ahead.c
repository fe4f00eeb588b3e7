/* test_ahead.c - unit tests of the look-ahead buffer's order
 * (engine/src/ahead.c): the longest key first, and among equal keys the
 * source's order (the smallest seq), whatever order the items were pushed
 * in and however pushes and pops interleave.
 *
 * loom run and loom sim both hand tasks out in the order this heap pops
 * them, so "longest hinted task first, ties in file order" rests on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "internal.h"

/* A small deterministic generator (64-bit LCG, high bits). */
static uint32_t rnd(uint64_t *state) {
  *state =
      *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return (uint32_t)(*state >> 33);
}

/* Does x go before y in the documented order? */
static int goes_first(const struct loom__ahead_item *x,
                      const struct loom__ahead_item *y) {
  return x->key > y->key || (x->key == y->key && x->seq < y->seq);
}

/* Pops everything; checks each item comes in the documented order after
 * the one before it. Returns how many were popped. */
static size_t pop_all_in_order(struct loom__ahead *a,
                               struct loom__ahead_item *out) {
  size_t n = 0;

  while (a->n > 0) {
    out[n] = loom__ahead_pop(a);
    if (n > 0)
      assert_true(goes_first(&out[n - 1], &out[n]));
    n++;
  }
  return n;
}

static void test_ahead_pops_the_largest_key_first(void **st) {
  (void)st;
  struct loom__ahead a = {0};
  static const double keys[] = {0.5, 3.0, 0.01, 2.0, 7.25, 0.0, 1.0, 6.0};
  static const double sorted[] = {7.25, 6.0, 3.0, 2.0, 1.0, 0.5, 0.01, 0.0};

  for (uint32_t i = 0; i < 8; i++)
    assert_int_equal(loom__ahead_push(&a, keys[i], i + 1, 100 + i), 0);
  assert_int_equal(a.n, 8);
  for (size_t i = 0; i < 8; i++) {
    struct loom__ahead_item it = loom__ahead_pop(&a);
    assert_true(it.key == sorted[i]);
  }
  assert_int_equal(a.n, 0);
  loom__ahead_free(&a);
}

static void test_ahead_equal_keys_come_out_in_source_order(void **st) {
  (void)st;
  struct loom__ahead a = {0};
  struct loom__ahead_item out[1000];
  size_t n;

  /* 1000 tasks with one key (no hints: all count as 0), pushed in source
   * order: they must come out in source order, although every sift of
   * the heap moves them around. */
  for (uint32_t i = 0; i < 1000; i++)
    assert_int_equal(loom__ahead_push(&a, 0.0, i + 1, i), 0);
  n = pop_all_in_order(&a, out);
  assert_int_equal(n, 1000);
  for (uint32_t i = 0; i < 1000; i++) {
    assert_int_equal(out[i].seq, i + 1);
    assert_int_equal(out[i].ref, i);
  }

  /* Three distinct keys, seqs pushed in a scrambled order: within each
   * key, ascending seq. */
  for (uint32_t i = 0; i < 999; i++) {
    uint64_t seq = (uint64_t)(i * 7 % 999) + 1; /* a permutation of 1..999 */
    assert_int_equal(loom__ahead_push(&a, (double)(seq % 3), seq, 0), 0);
  }
  n = pop_all_in_order(&a, out);
  assert_int_equal(n, 999);
  for (size_t i = 0; i < 333; i++) {
    assert_true(out[i].key == 2.0);
    assert_true(out[333 + i].key == 1.0);
    assert_true(out[666 + i].key == 0.0);
  }
  assert_int_equal(out[0].seq, 2); /* the first of key 2 in the source */
  assert_int_equal(out[333].seq, 1);
  assert_int_equal(out[666].seq, 3);
  loom__ahead_free(&a);
}

static void test_ahead_keeps_key_seq_and_ref_together(void **st) {
  (void)st;
  struct loom__ahead a = {0};
  uint64_t r = 7;

  for (uint32_t i = 0; i < 600; i++) {
    double key = (double)(rnd(&r) % 50);
    /* ref and key both follow from seq: a mixed-up item shows. */
    assert_int_equal(
        loom__ahead_push(&a, key, UINT64_C(1000) + i, i * 3 + (uint32_t)key),
        0);
  }
  while (a.n > 0) {
    struct loom__ahead_item it = loom__ahead_pop(&a);
    uint32_t i = (uint32_t)(it.seq - 1000);
    assert_int_equal(it.ref, i * 3 + (uint32_t)it.key);
  }
  loom__ahead_free(&a);
}

/* What the master does: top the buffer up to a cap from the source, pop
 * the best, again and again. A linear scan over the same items is the
 * reference. */
static void
test_ahead_interleaved_with_pushes_matches_a_linear_scan(void **st) {
  (void)st;
  enum { TASKS = 5000, CAP = 37 };
  struct loom__ahead a = {0};
  struct loom__ahead_item ref[CAP];
  size_t nref = 0;
  uint64_t r = 2026, next = 0;

  while (next < TASKS || a.n > 0) {
    size_t best = 0;
    struct loom__ahead_item got;
    while (a.n < CAP && next < TASKS) {
      /* Few distinct keys, so ties are common. */
      double key = (double)(rnd(&r) % 8) * 0.25;
      next++;
      assert_int_equal(loom__ahead_push(&a, key, next, (uint32_t)next), 0);
      ref[nref++] = (struct loom__ahead_item){key, next, (uint32_t)next};
    }
    assert_int_equal(a.n, nref);
    for (size_t i = 1; i < nref; i++)
      if (goes_first(&ref[i], &ref[best]))
        best = i;
    got = loom__ahead_pop(&a);
    assert_true(got.key == ref[best].key);
    assert_int_equal(got.seq, ref[best].seq);
    assert_int_equal(got.ref, ref[best].ref);
    ref[best] = ref[--nref];
  }
  assert_int_equal(nref, 0);
  loom__ahead_free(&a);
}

static void test_ahead_grows_past_its_first_allocation_and_frees(void **st) {
  (void)st;
  enum { N = 20000 };
  struct loom__ahead a = {0};
  struct loom__ahead_item *out = malloc(N * sizeof(*out));
  uint64_t r = 99;

  assert_non_null(out);
  for (uint32_t i = 0; i < N; i++)
    assert_int_equal(
        loom__ahead_push(&a, (double)(rnd(&r) % 1000) / 10, i + 1, i), 0);
  assert_int_equal(a.n, N);
  assert_true(a.cap >= N);
  assert_int_equal(pop_all_in_order(&a, out), N);
  loom__ahead_free(&a);
  assert_null(a.h);
  assert_int_equal(a.n, 0);
  assert_int_equal(a.cap, 0);

  /* Usable again after a free. */
  assert_int_equal(loom__ahead_push(&a, 1.0, 2, 0), 0);
  assert_int_equal(loom__ahead_push(&a, 1.0, 1, 1), 0);
  assert_int_equal(loom__ahead_pop(&a).seq, 1);
  assert_int_equal(loom__ahead_pop(&a).seq, 2);
  loom__ahead_free(&a);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ahead_pops_the_largest_key_first),
      cmocka_unit_test(test_ahead_equal_keys_come_out_in_source_order),
      cmocka_unit_test(test_ahead_keeps_key_seq_and_ref_together),
      cmocka_unit_test(
          test_ahead_interleaved_with_pushes_matches_a_linear_scan),
      cmocka_unit_test(test_ahead_grows_past_its_first_allocation_and_frees),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
