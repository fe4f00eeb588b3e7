/* test_sched.c - unit tests of the scheduling policies (engine/src/policy.c)
 * and the dispatcher's accounting (engine/src/sched.c): which worker gets
 * the next batch, the in-flight counts, batch sizing and the idle cap.
 *
 * The policies never call MPI, so these tests drive them exactly as the
 * master does: pick, assign, complete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/engine.h"
#include "farm.h"
#include "sched/policy.h"

static int pick(struct farm *f) { return f->ops->pick(f->state, &f->s); }

/* What the master does after a pick: record the batch, tell the policy. */
static void assign(struct farm *f, int w, uint32_t ntasks) {
  loom__sched_assign(&f->s, w, ntasks, 0);
  f->ops->assigned(f->state, &f->s, w);
}

/* Completes a whole batch of ntasks on w. */
static void complete_batch(struct farm *f, int w, uint32_t ntasks) {
  for (uint32_t k = 1; k <= ntasks; k++)
    loom__sched_task_done(&f->s, w, 0.001, -1, 0, k == ntasks);
  f->ops->done(f->state, &f->s, w);
}

/* ---- the policy table --------------------------------------------------- */

static void test_policy_find_knows_least_loaded_and_rr(void **st) {
  (void)st;
  static const char *const names[] = {"least-loaded", "rr"};
  for (size_t i = 0; i < 2; i++) {
    const struct loom__policy_ops *ops = loom__policy_find(names[i]);
    assert_non_null(ops);
    assert_string_equal(ops->name, names[i]);
    assert_non_null(ops->help);
    assert_non_null(ops->init);
    assert_non_null(ops->pick);
    assert_non_null(ops->assigned);
    assert_non_null(ops->done);
    assert_non_null(ops->fini);
  }
}

static void test_policy_find_of_null_is_weighted(void **st) {
  (void)st;
  assert_ptr_equal(loom__policy_find(NULL), loom__policy_find("weighted"));
}

static void test_policy_find_returns_null_for_unknown_names(void **st) {
  (void)st;
  static const char *const bad[] = {
      "", "RR", "round-robin", "least", "least-loaded ", "rr\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_null(loom__policy_find(bad[i]));
}

static void test_policy_exists_and_list_agree_with_the_table(void **st) {
  (void)st;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  assert_int_equal(loom_policy_exists("least-loaded"), 1);
  assert_int_equal(loom_policy_exists("rr"), 1);
  assert_int_equal(loom_policy_exists("random"), 0);
  /* Unlike find(), exists() does not read NULL as the default. */
  assert_int_equal(loom_policy_exists(NULL), 0);

  assert_non_null(f);
  loom_policy_list(f);
  fclose(f);
  assert_non_null(strstr(text, "  least-loaded "));
  assert_non_null(strstr(text, "\n  rr "));
  assert_non_null(strstr(text, "\n  wrr "));
  assert_non_null(strstr(text, "\n  weighted "));
  assert_non_null(strstr(text, "\n  static "));
  assert_int_equal(loom_policy_exists("wrr"), 1);
  assert_int_equal(loom_policy_exists("weighted"), 1);
  assert_int_equal(loom_policy_exists("static"), 1);
  size_t lines = 0;
  for (size_t i = 0; i < len; i++)
    lines += text[i] == '\n';
  assert_int_equal(lines, 5);
  free(text);
}

/* ---- accounting --------------------------------------------------------- */

static void
test_sched_init_starts_every_worker_idle_with_unit_weight(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 4, 2, 64, 0.25), 0);
  assert_int_equal(s.n, 4);
  assert_int_equal(s.window, 2);
  assert_int_equal(s.batch_max, 64);
  assert_true(s.batch_target == 0.25);
  assert_true(s.t_est < 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(s.w[i].inflight, 0);
    assert_int_equal(s.w[i].batches, 0);
    assert_true(s.w[i].inflight_cost == 0);
    assert_true(s.w[i].weight == 1.0);
    assert_int_equal(s.w[i].done, 0);
    assert_int_equal(s.w[i].failed, 0);
    assert_true(s.w[i].busy == 0);
  }
  loom__sched_fini(&s);
  assert_null(s.w);
}

static void test_sched_assign_and_task_done_keep_the_counts(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 64, 0.25), 0);
  loom__sched_assign(&s, 1, 3, 1.5);
  assert_int_equal(s.w[1].inflight, 3);
  assert_int_equal(s.w[1].batches, 1);
  assert_true(s.w[1].inflight_cost == 1.5);
  assert_int_equal(s.w[0].inflight, 0); /* the other worker is untouched */

  loom__sched_task_done(&s, 1, 0.25, 0.5, 0, 0);
  assert_int_equal(s.w[1].inflight, 2);
  assert_int_equal(s.w[1].batches, 1); /* the batch is still open */
  assert_true(s.w[1].inflight_cost == 1.0);
  loom__sched_task_done(&s, 1, 0.5, 0.5, 1, 0);
  loom__sched_task_done(&s, 1, 1.0, 0.5, 0, 1);
  assert_int_equal(s.w[1].inflight, 0);
  assert_int_equal(s.w[1].batches, 0);
  assert_true(s.w[1].inflight_cost == 0);
  assert_int_equal(s.w[1].done, 3);
  assert_int_equal(s.w[1].failed, 1);
  assert_true(s.w[1].busy == 1.75);
  assert_int_equal(s.w[0].done, 0);
  loom__sched_fini(&s);
}

static void test_sched_task_done_never_takes_counts_below_zero(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 64, 0.25), 0);
  loom__sched_assign(&s, 0, 1, 0.5);
  /* A cost hint larger than what is in flight, then a stray completion. */
  loom__sched_task_done(&s, 0, 0.1, 2.0, 0, 1);
  loom__sched_task_done(&s, 0, 0.1, 2.0, 0, 1);
  assert_int_equal(s.w[0].inflight, 0);
  assert_int_equal(s.w[0].batches, 0);
  assert_true(s.w[0].inflight_cost == 0);
  assert_int_equal(s.w[0].done, 2);
  /* An unknown cost (< 0) leaves the in-flight cost alone. */
  loom__sched_assign(&s, 0, 1, 0.75);
  loom__sched_task_done(&s, 0, 0.1, -1, 0, 1);
  assert_true(s.w[0].inflight_cost == 0.75);
  loom__sched_fini(&s);
}

/* ---- round-robin -------------------------------------------------------- */

static void test_rr_cycles_workers_in_rank_order(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "rr", 3, 2);
  for (int i = 0; i < 6; i++) {
    int w = pick(&f);
    assert_int_equal(w, i % 3);
    assign(&f, w, 1);
  }
  assert_int_equal(pick(&f), -1);
  farm_fini(&f);
}

static void test_rr_ignores_how_loaded_a_worker_is(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "rr", 3, 4);
  loom__sched_assign(&f.s, 0, 1000, 0);
  assert_int_equal(pick(&f), 0);
  assert_int_equal(pick(&f), 1);
  farm_fini(&f);
}

static void test_rr_skips_workers_whose_window_is_full(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "rr", 4, 1);
  assign(&f, 1, 1);
  assign(&f, 2, 1);
  assert_int_equal(pick(&f), 0);
  assign(&f, 0, 1);
  assert_int_equal(pick(&f), 3);
  assign(&f, 3, 1);
  assert_int_equal(pick(&f), -1);
  farm_fini(&f);
}

static void test_rr_returns_minus_one_until_a_batch_completes(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "rr", 2, 1);
  assign(&f, pick(&f), 2);
  assign(&f, pick(&f), 2);
  assert_int_equal(pick(&f), -1);
  assert_int_equal(pick(&f), -1);
  /* Half a batch does not free the window; its last task does. */
  loom__sched_task_done(&f.s, 1, 0.001, -1, 0, 0);
  assert_int_equal(pick(&f), -1);
  loom__sched_task_done(&f.s, 1, 0.001, -1, 0, 1);
  f.ops->done(f.state, &f.s, 1);
  assert_int_equal(pick(&f), 1);
  farm_fini(&f);
}

/* ---- least-loaded ------------------------------------------------------- */

static void test_least_loaded_picks_worker_with_fewest_in_flight(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "least-loaded", 3, 4);
  assign(&f, 0, 5);
  assign(&f, 1, 2);
  assign(&f, 2, 7);
  /* No tie: the same answer every time. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(pick(&f), 1);
  farm_fini(&f);
}

static void test_least_loaded_prefers_fewer_batches_on_equal_tasks(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "least-loaded", 3, 4);
  assign(&f, 0, 2);
  assign(&f, 0, 2);
  assign(&f, 1, 4);
  assign(&f, 2, 2);
  assign(&f, 2, 1);
  assign(&f, 2, 1);
  assert_int_equal(pick(&f), 1);
  farm_fini(&f);
}

static void test_least_loaded_shares_ties_round_robin(void **st) {
  (void)st;
  struct farm f;
  int seen[3] = {0, 0, 0};
  farm_init(&f, "least-loaded", 3, 2);
  /* Three equal workers, three picks: each gets one. */
  for (int i = 0; i < 3; i++) {
    int w = pick(&f);
    assert_in_range(w, 0, 2);
    seen[w]++;
  }
  assert_int_equal(seen[0], 1);
  assert_int_equal(seen[1], 1);
  assert_int_equal(seen[2], 1);
  farm_fini(&f);
}

static void test_least_loaded_spreads_equal_batches_evenly(void **st) {
  (void)st;
  struct farm f;
  int seen[4] = {0, 0, 0, 0};
  farm_init(&f, "least-loaded", 4, 2);
  for (int i = 0; i < 8; i++) {
    int w = pick(&f);
    assert_in_range(w, 0, 3);
    seen[w]++;
    assign(&f, w, 3);
  }
  for (int w = 0; w < 4; w++)
    assert_int_equal(seen[w], 2);
  assert_int_equal(pick(&f), -1);
  farm_fini(&f);
}

static void test_least_loaded_skips_workers_whose_window_is_full(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "least-loaded", 3, 2);
  assign(&f, 0, 1);
  assign(&f, 0, 1);
  assign(&f, 1, 1);
  assign(&f, 1, 1);
  assign(&f, 2, 50);
  /* The busiest worker is the only one with room. */
  assert_int_equal(pick(&f), 2);
  assign(&f, 2, 50);
  assert_int_equal(pick(&f), -1);
  farm_fini(&f);
}

static void test_least_loaded_follows_completions(void **st) {
  (void)st;
  struct farm f;
  farm_init(&f, "least-loaded", 2, 2);
  assign(&f, 0, 3);
  assign(&f, 1, 2);
  assert_int_equal(pick(&f), 1);
  /* Two of worker 0's tasks finish: it now has the fewest. */
  loom__sched_task_done(&f.s, 0, 0.001, -1, 0, 0);
  loom__sched_task_done(&f.s, 0, 0.001, -1, 0, 0);
  assert_int_equal(f.s.w[0].inflight, 1);
  assert_int_equal(pick(&f), 0);
  complete_batch(&f, 1, 2);
  assert_int_equal(f.s.w[1].inflight, 0);
  assert_int_equal(f.s.w[1].batches, 0);
  assert_int_equal(pick(&f), 1);
  farm_fini(&f);
}

/* ---- batch sizing ------------------------------------------------------- */

/* Worker w completes a batch of n tasks taking busy seconds in all. */
static void completed(struct loom__sched *s, int w, uint32_t n, double busy) {
  loom__sched_assign(s, w, n, 0);
  for (uint32_t k = 0; k < n; k++)
    loom__sched_task_done(s, w, busy / n, 0, 0, k + 1 == n);
  loom__sched_observe(s, n, busy);
}

static void test_sched_batch_size_is_one_before_any_observation(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 10.0), 0);
  assert_int_equal(loom__sched_batch_size(&s, 0), 1);
  /* An empty observation is no observation. */
  loom__sched_observe(&s, 0, 1.0);
  assert_true(s.t_est < 0);
  assert_int_equal(loom__sched_batch_size(&s, 0), 1);
  loom__sched_fini(&s);
}

static void test_sched_batch_size_aims_at_the_batch_target(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 0.5), 0);
  completed(&s, 0, 4, 0.5); /* 0.125 s a task */
  assert_true(s.t_est == 0.125);
  assert_int_equal(loom__sched_batch_size(&s, 0), 4);
  loom__sched_fini(&s);

  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 1.0), 0);
  completed(&s, 0, 1024, 1.0);
  assert_int_equal(loom__sched_batch_size(&s, 0), 1024);
  loom__sched_fini(&s);
}

static void test_sched_batch_size_is_clamped_to_one_and_batch_max(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 64, 0.0005), 0);
  completed(&s, 0, 1, 10.0); /* long tasks travel alone */
  assert_int_equal(loom__sched_batch_size(&s, 0), 1);
  loom__sched_fini(&s);

  assert_int_equal(loom__sched_init(&s, 1, 2, 64, 0.0005), 0);
  completed(&s, 0, 1000, 1e-6); /* tiny tasks fill the batch */
  assert_int_equal(loom__sched_batch_size(&s, 0), 64);
  loom__sched_fini(&s);

  assert_int_equal(loom__sched_init(&s, 1, 2, 64, 0.0005), 0);
  completed(&s, 0, 100, 0); /* tasks too short to measure */
  assert_int_equal(loom__sched_batch_size(&s, 0), 64);
  loom__sched_fini(&s);
}

static void test_sched_batch_size_grows_only_by_doubling(void **st) {
  (void)st;
  struct loom__sched s;
  uint32_t n = 1;

  assert_int_equal(loom__sched_init(&s, 1, 2, 4096, 0.0005), 0);
  completed(&s, 0, 1, 1e-9); /* tiny: the target alone would say 4096 */
  for (int round = 0; round < 12; round++) {
    uint32_t next = loom__sched_batch_size(&s, 0);
    assert_true(next <= (n * 2 > 4 ? n * 2 : 4));
    n = next;
    completed(&s, 0, n, 1e-9 * n);
  }
  assert_int_equal(n, 4096);
  loom__sched_fini(&s);
}

static void
test_sched_short_first_completions_do_not_make_huge_batches(void **st) {
  (void)st;
  struct loom__sched s;

  /* The first messages are the shortest tasks (they finish first); one
   * ordinary task among the last 16 keeps batches small. */
  assert_int_equal(loom__sched_init(&s, 4, 2, 4096, 0.0005), 0);
  completed(&s, 1, 1, 0.010);
  for (int i = 0; i < 10; i++)
    completed(&s, 0, 4, 4e-6);
  assert_int_equal(loom__sched_batch_size(&s, 0), 1);
  loom__sched_fini(&s);
}

static void
test_sched_batch_size_shrinks_toward_the_end_of_a_known_run(void **st) {
  (void)st;
  struct loom__sched s;

  assert_int_equal(loom__sched_init(&s, 10, 2, 4096, 0.5), 0);
  s.total = 100000;
  completed(&s, 0, 2048, 2048 * 1e-6);
  s.next_task = 0;
  assert_int_equal(loom__sched_batch_size(&s, 0), 4096); /* 100000 / 20 */
  s.next_task = 99000;
  assert_int_equal(loom__sched_batch_size(&s, 0), 50); /* 1000 / 20 */
  s.next_task = 99999;
  assert_int_equal(loom__sched_batch_size(&s, 0), 1);
  /* Slots run a batch each: the end counts them all. */
  loom__sched_set_slots(&s, 3, 16);
  loom__sched_set_slots(&s, 4, 16);
  loom__sched_set_slots(&s, 4, 6); /* said again: replaced, not added */
  assert_true(s.slots == 8 + 16 + 6);
  s.next_task = 99000;
  assert_int_equal(loom__sched_batch_size(&s, 0), 16); /* 1000 / 60 */
  loom__sched_fini(&s);
}

static void test_sched_hinted_batch_is_full_at_the_target(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 4096, 1.0), 0);
  assert_false(loom__sched_batch_full(&s, 0, 0, 5.0));   /* first task goes */
  assert_false(loom__sched_batch_full(&s, 1, 0.4, 0.6)); /* exactly 1.0 */
  assert_true(loom__sched_batch_full(&s, 1, 0.5, 0.6));
  assert_false(loom__sched_batch_full(&s, 3, 5.0, -1)); /* no hint */
  loom__sched_fini(&s);
}

static void test_sched_observe_smooths_after_the_first_measurement(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 4096, 0.5), 0);
  loom__sched_observe(&s, 2, 2.0);
  assert_true(s.t_est == 1.0); /* the first one stands on its own */
  loom__sched_observe(&s, 1, 2.0);
  assert_true(fabs(s.t_est - 1.3) < 1e-12);
  loom__sched_observe(&s, 0, 100.0);
  assert_true(fabs(s.t_est - 1.3) < 1e-12);
  loom__sched_fini(&s);
}

/* ---- idle cap ----------------------------------------------------------- */

static void test_sched_idle_cap_is_fifty_microseconds_at_first(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 0.0005), 0);
  assert_true(loom__sched_idle_cap(&s) == 50e-6);
  loom__sched_fini(&s);
}

static void test_sched_idle_cap_is_a_quarter_of_the_queued_work(void **st) {
  (void)st;
  struct loom__sched s;
  /* Window 3: two batches of 0.5 ms queued behind the running one. */
  assert_int_equal(loom__sched_init(&s, 2, 3, 4096, 0.0005), 0);
  loom__sched_observe(&s, 1, 1e-5);
  assert_true(fabs(loom__sched_idle_cap(&s) - 2.5e-4) < 1e-15);
  loom__sched_fini(&s);
}

static void
test_sched_idle_cap_stays_between_two_microseconds_and_a_millisecond(
    void **st) {
  (void)st;
  static const double times[] = {0, 1e-12, 1e-9, 1e-6, 1e-3, 1, 1e3, 1e9};
  static const double targets[] = {0, 1e-6, 0.0005, 10};
  static const uint32_t maxes[] = {1, 64, 4096};
  static const int windows[] = {1, 2, 8};
  for (size_t a = 0; a < sizeof times / sizeof times[0]; a++)
    for (size_t b = 0; b < sizeof targets / sizeof targets[0]; b++)
      for (size_t c = 0; c < sizeof maxes / sizeof maxes[0]; c++)
        for (size_t d = 0; d < sizeof windows / sizeof windows[0]; d++) {
          struct loom__sched s;
          assert_int_equal(
              loom__sched_init(&s, 2, windows[d], maxes[c], targets[b]), 0);
          loom__sched_observe(&s, 1, times[a]);
          double cap = loom__sched_idle_cap(&s);
          if (!(cap >= 2e-6 && cap <= 1e-3))
            fail_msg("cap %g for t=%g target=%g max=%u window=%d", cap,
                     times[a], targets[b], maxes[c], windows[d]);
          loom__sched_fini(&s);
        }
}

/* ---- cost hints as the look-ahead counts them --------------------------- */

static void test_policy_only_weighted_hands_out_the_longest_first(void **st) {
  (void)st;
  static const char *const others[] = {"least-loaded", "rr", "wrr", "static"};
  /* The master and the simulator read ahead only for such a policy. */
  assert_int_equal(loom__policy_find("weighted")->longest_first, 1);
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    assert_int_equal(loom__policy_find(others[i])->longest_first, 0);
}

static void test_sched_hint_records_a_hint_and_returns_it(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 0.0005), 0);
  assert_int_equal(s.hints, 0);
  assert_true(s.hint_sum == 0);
  assert_true(loom__sched_hint(&s, 2.5) == 2.5);
  assert_true(loom__sched_hint(&s, 0.5) == 0.5);
  /* A hint of 0 is a hint: it counts, and lowers the mean. */
  assert_true(loom__sched_hint(&s, 0) == 0);
  assert_int_equal(s.hints, 3);
  assert_true(s.hint_sum == 3.0);
  loom__sched_fini(&s);
}

static void test_sched_hint_of_an_unhinted_task_is_the_mean_so_far(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 0.0005), 0);
  /* Before any hint: 0, so it sorts after every hinted task. */
  assert_true(loom__sched_hint(&s, -1) == 0);
  assert_int_equal(s.hints, 0);
  assert_true(loom__sched_hint(&s, 1.0) == 1.0);
  assert_true(loom__sched_hint(&s, 3.0) == 3.0);
  assert_true(loom__sched_hint(&s, -1) == 2.0);
  /* Unhinted tasks do not move the mean. */
  assert_true(loom__sched_hint(&s, -1) == 2.0);
  assert_int_equal(s.hints, 2);
  assert_true(s.hint_sum == 4.0);
  assert_true(loom__sched_hint(&s, 8.0) == 8.0);
  assert_true(loom__sched_hint(&s, -1) == 4.0);
  loom__sched_fini(&s);
}

static void test_sched_busy_needs_hints_and_work_in_flight(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 2, 2, 4096, 0.0005), 0);
  /* No hint read yet: never busy, whatever is in flight. */
  loom__sched_assign(&s, 0, 1, 1000.0);
  assert_false(loom__sched_busy(&s, 0));
  assert_false(loom__sched_busy(&s, 1));
  loom__sched_hint(&s, 1.0);
  assert_true(loom__sched_busy(&s, 0));
  /* Nothing in flight: never busy, whatever cost is left on the books. */
  s.w[1].inflight_cost = 1000.0;
  assert_false(loom__sched_busy(&s, 1));
  loom__sched_fini(&s);
}

static void test_sched_busy_is_over_four_times_the_mean_hint(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 4096, 0.0005), 0);
  loom__sched_hint(&s, 0.5);
  loom__sched_hint(&s, 1.5);             /* mean 1: busy above 4 s */
  loom__sched_assign(&s, 0, 2, 4.0);     /* one batch */
  assert_false(loom__sched_busy(&s, 0)); /* exactly 4 x the mean */
  s.w[0].inflight_cost = 4.25;
  assert_true(loom__sched_busy(&s, 0));
  /* Longer tasks read later raise the bar. */
  loom__sched_hint(&s, 4.0); /* mean 2: busy above 8 s */
  assert_false(loom__sched_busy(&s, 0));
  loom__sched_fini(&s);
}

static void test_sched_busy_is_never_under_fifty_milliseconds(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 2, 4096, 0.0005), 0);
  for (int i = 0; i < 10; i++)
    loom__sched_hint(&s, 0.001);         /* 4 x the mean: 4 ms */
  loom__sched_assign(&s, 0, 1, 0.03);    /* one batch */
  assert_false(loom__sched_busy(&s, 0)); /* 30 ms: over 4 ms, under 50 */
  s.w[0].inflight_cost = 0.049;
  assert_false(loom__sched_busy(&s, 0));
  s.w[0].inflight_cost = 0.051;
  assert_true(loom__sched_busy(&s, 0));
  loom__sched_fini(&s);
}

static void
test_sched_busy_with_a_batch_queued_over_five_milliseconds(void **st) {
  (void)st;
  struct loom__sched s;
  assert_int_equal(loom__sched_init(&s, 1, 16, 4096, 0.0005), 0);
  loom__sched_hint(&s, 0.01); /* mean 10 ms: the long-queue bar is 50 ms */
  loom__sched_assign(&s, 0, 1, 0.02);
  assert_false(loom__sched_busy(&s, 0)); /* one batch: nothing queued */
  loom__sched_assign(&s, 0, 1, 0.01);
  assert_true(loom__sched_busy(&s, 0)); /* one running, one queued: 30 ms */
  /* Tiny tasks keep their deep window: two batches under 5 ms are not. */
  s.w[0].inflight_cost = 0.005;
  assert_false(loom__sched_busy(&s, 0));
  loom__sched_fini(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_find_knows_least_loaded_and_rr),
      cmocka_unit_test(test_policy_find_of_null_is_weighted),
      cmocka_unit_test(test_policy_find_returns_null_for_unknown_names),
      cmocka_unit_test(test_policy_exists_and_list_agree_with_the_table),
      cmocka_unit_test(
          test_sched_init_starts_every_worker_idle_with_unit_weight),
      cmocka_unit_test(test_sched_assign_and_task_done_keep_the_counts),
      cmocka_unit_test(test_sched_task_done_never_takes_counts_below_zero),
      cmocka_unit_test(test_rr_cycles_workers_in_rank_order),
      cmocka_unit_test(test_rr_ignores_how_loaded_a_worker_is),
      cmocka_unit_test(test_rr_skips_workers_whose_window_is_full),
      cmocka_unit_test(test_rr_returns_minus_one_until_a_batch_completes),
      cmocka_unit_test(test_least_loaded_picks_worker_with_fewest_in_flight),
      cmocka_unit_test(test_least_loaded_prefers_fewer_batches_on_equal_tasks),
      cmocka_unit_test(test_least_loaded_shares_ties_round_robin),
      cmocka_unit_test(test_least_loaded_spreads_equal_batches_evenly),
      cmocka_unit_test(test_least_loaded_skips_workers_whose_window_is_full),
      cmocka_unit_test(test_least_loaded_follows_completions),
      cmocka_unit_test(test_sched_batch_size_is_one_before_any_observation),
      cmocka_unit_test(test_sched_batch_size_aims_at_the_batch_target),
      cmocka_unit_test(test_sched_batch_size_is_clamped_to_one_and_batch_max),
      cmocka_unit_test(test_sched_batch_size_grows_only_by_doubling),
      cmocka_unit_test(test_sched_hinted_batch_is_full_at_the_target),
      cmocka_unit_test(
          test_sched_short_first_completions_do_not_make_huge_batches),
      cmocka_unit_test(
          test_sched_batch_size_shrinks_toward_the_end_of_a_known_run),
      cmocka_unit_test(test_sched_observe_smooths_after_the_first_measurement),
      cmocka_unit_test(test_sched_idle_cap_is_fifty_microseconds_at_first),
      cmocka_unit_test(test_sched_idle_cap_is_a_quarter_of_the_queued_work),
      cmocka_unit_test(
          test_sched_idle_cap_stays_between_two_microseconds_and_a_millisecond),
      cmocka_unit_test(test_policy_only_weighted_hands_out_the_longest_first),
      cmocka_unit_test(test_sched_hint_records_a_hint_and_returns_it),
      cmocka_unit_test(test_sched_hint_of_an_unhinted_task_is_the_mean_so_far),
      cmocka_unit_test(test_sched_busy_needs_hints_and_work_in_flight),
      cmocka_unit_test(test_sched_busy_is_over_four_times_the_mean_hint),
      cmocka_unit_test(test_sched_busy_is_never_under_fifty_milliseconds),
      cmocka_unit_test(
          test_sched_busy_with_a_batch_queued_over_five_milliseconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
