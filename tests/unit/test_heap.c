/* test_heap.c - unit tests of the engine's one heap (common/heap.c) and
 * of the look-ahead order built on it (sched/ahead.h).
 *
 * The heap pops the smallest key, and among equal keys the smallest tie,
 * whatever order the items were pushed in and however pushes and pops
 * interleave. The look-ahead keys tasks by negated cost, so the longest
 * comes first and equal costs keep the source's order: loom run and loom
 * sim both hand tasks out in that order. An indexed heap re-keys any of its
 * refs in place; the policies keep their workers in one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/heap.h"
#include "sched/ahead.h"

/* A small deterministic generator (64-bit LCG, high bits). */
static uint32_t rnd(uint64_t *state) {
  *state =
      *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  return (uint32_t)(*state >> 33);
}

/* Does x go before y in the documented order? */
static int goes_first(const struct loom__heap_item *x,
                      const struct loom__heap_item *y) {
  return x->key < y->key || (x->key == y->key && x->tie < y->tie);
}

/* Pops everything; checks each item comes in the documented order after
 * the one before it. Returns how many were popped. */
static size_t pop_all_in_order(struct loom__heap *a,
                               struct loom__heap_item *out) {
  size_t n = 0;

  while (a->n > 0) {
    out[n] = loom__heap_pop(a);
    if (n > 0)
      assert_true(goes_first(&out[n - 1], &out[n]));
    n++;
  }
  return n;
}

static void test_ahead_pops_the_longest_task_first(void **st) {
  (void)st;
  struct loom__heap a = {0};
  static const double keys[] = {0.5, 3.0, 0.01, 2.0, 7.25, 0.0, 1.0, 6.0};
  /* The refs of keys[] in the order they must come out. */
  static const uint32_t order[] = {104, 107, 101, 103, 106, 100, 102, 105};

  for (uint32_t i = 0; i < 8; i++)
    assert_int_equal(loom__ahead_push(&a, keys[i], i + 1, 100 + i), 0);
  assert_int_equal(a.n, 8);
  for (size_t i = 0; i < 8; i++) {
    assert_true(loom__ahead_peek(&a) == keys[order[i] - 100]);
    assert_int_equal(loom__ahead_pop(&a), order[i]);
  }
  assert_int_equal(a.n, 0);
  loom__heap_free(&a);
}

static void test_ahead_equal_costs_come_out_in_source_order(void **st) {
  (void)st;
  struct loom__heap a = {0};
  struct loom__heap_item out[1000];
  size_t n;

  /* 1000 tasks with one key (no hints: all count as 0), pushed in source
   * order: they must come out in source order, although every sift of
   * the heap moves them around. */
  for (uint32_t i = 0; i < 1000; i++)
    assert_int_equal(loom__ahead_push(&a, 0.0, i + 1, i), 0);
  n = pop_all_in_order(&a, out);
  assert_int_equal(n, 1000);
  for (uint32_t i = 0; i < 1000; i++) {
    assert_int_equal(out[i].tie, i + 1);
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
    assert_true(out[i].key == -2.0); /* the longest first */
    assert_true(out[333 + i].key == -1.0);
    assert_true(out[666 + i].key == 0.0);
  }
  assert_int_equal(out[0].tie, 2); /* the first of cost 2 in the source */
  assert_int_equal(out[333].tie, 1);
  assert_int_equal(out[666].tie, 3);
  loom__heap_free(&a);
}

static void test_heap_keeps_key_tie_and_ref_together(void **st) {
  (void)st;
  struct loom__heap a = {0};
  uint64_t r = 7;

  for (uint32_t i = 0; i < 600; i++) {
    double key = (double)(rnd(&r) % 50);
    /* ref and key both follow from seq: a mixed-up item shows. */
    assert_int_equal(
        loom__heap_push(&a, key, UINT64_C(1000) + i, i * 3 + (uint32_t)key), 0);
  }
  while (a.n > 0) {
    struct loom__heap_item it = loom__heap_pop(&a);
    uint32_t i = (uint32_t)(it.tie - 1000);
    assert_int_equal(it.ref, i * 3 + (uint32_t)it.key);
  }
  loom__heap_free(&a);
}

/* What the master does: top the buffer up to a cap from the source, pop
 * the best, again and again. A linear scan over the same items is the
 * reference. */
static void test_heap_interleaved_with_pushes_matches_a_linear_scan(void **st) {
  (void)st;
  enum { TASKS = 5000, CAP = 37 };
  struct loom__heap a = {0};
  struct loom__heap_item ref[CAP];
  size_t nref = 0;
  uint64_t r = 2026, next = 0;

  while (next < TASKS || a.n > 0) {
    size_t best = 0;
    struct loom__heap_item got;
    while (a.n < CAP && next < TASKS) {
      /* Few distinct keys, so ties are common. */
      double key = (double)(rnd(&r) % 8) * 0.25;
      next++;
      assert_int_equal(loom__heap_push(&a, key, next, (uint32_t)next), 0);
      ref[nref++] = (struct loom__heap_item){key, next, (uint32_t)next};
    }
    assert_int_equal(a.n, nref);
    for (size_t i = 1; i < nref; i++)
      if (goes_first(&ref[i], &ref[best]))
        best = i;
    got = loom__heap_pop(&a);
    assert_true(got.key == ref[best].key);
    assert_int_equal(got.tie, ref[best].tie);
    assert_int_equal(got.ref, ref[best].ref);
    ref[best] = ref[--nref];
  }
  assert_int_equal(nref, 0);
  loom__heap_free(&a);
}

static void test_heap_grows_past_its_first_allocation_and_frees(void **st) {
  (void)st;
  enum { N = 20000 };
  struct loom__heap a = {0};
  struct loom__heap_item *out = malloc(N * sizeof(*out));
  uint64_t r = 99;

  assert_non_null(out);
  for (uint32_t i = 0; i < N; i++)
    assert_int_equal(
        loom__heap_push(&a, (double)(rnd(&r) % 1000) / 10, i + 1, i), 0);
  assert_int_equal(a.n, N);
  assert_true(a.cap >= N);
  assert_int_equal(pop_all_in_order(&a, out), N);
  loom__heap_free(&a);
  assert_null(a.h);
  assert_int_equal(a.n, 0);
  assert_int_equal(a.cap, 0);

  /* Usable again after a free. */
  assert_int_equal(loom__heap_push(&a, 1.0, 2, 0), 0);
  assert_int_equal(loom__heap_push(&a, 1.0, 1, 1), 0);
  assert_int_equal(loom__heap_pop(&a).tie, 1);
  assert_int_equal(loom__heap_pop(&a).tie, 2);
  loom__heap_free(&a);
  free(out);
}

/* An indexed heap against a linear scan: after every re-key, the top is
 * the smallest (key, ref) and each ref's key reads back. */
static void test_heap_indexed_set_matches_a_linear_scan(void **st) {
  (void)st;
  enum { N = 100 };
  struct loom__heap h = {0};
  double key[N] = {0};
  uint64_t r = 5;

  assert_int_equal(loom__heap_init_indexed(&h, N), 0);
  /* All keys 0: the refs in order, the smallest first. */
  assert_int_equal(loom__heap_top(&h)->ref, 0);
  for (int step = 0; step < 20000; step++) {
    uint32_t w = rnd(&r) % N, best = 0;
    key[w] = (double)(rnd(&r) % 16); /* few keys: ties are common */
    if (step % 97 == 0)
      key[w] = HUGE_VAL;
    loom__heap_set(&h, w, key[w]);
    for (uint32_t k = 1; k < N; k++)
      if (key[k] < key[best])
        best = k;
    assert_int_equal(loom__heap_top(&h)->ref, best);
    assert_true(loom__heap_top(&h)->key == key[best]);
    assert_true(loom__heap_key(&h, w) == key[w]);
  }
  assert_int_equal(h.n, N);
  loom__heap_free(&h);
  assert_null(h.h);
  assert_null(h.pos);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ahead_pops_the_longest_task_first),
      cmocka_unit_test(test_ahead_equal_costs_come_out_in_source_order),
      cmocka_unit_test(test_heap_keeps_key_tie_and_ref_together),
      cmocka_unit_test(test_heap_interleaved_with_pushes_matches_a_linear_scan),
      cmocka_unit_test(test_heap_grows_past_its_first_allocation_and_frees),
      cmocka_unit_test(test_heap_indexed_set_matches_a_linear_scan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
