/* test_feed.c - unit tests of the master's task intake
 * (engine/src/dispatch/feed.c): kinds are resolved, bad specs stop the run
 * with a line that names the task, the look-ahead starts at the first hint
 * and then hands out the longest first, a task that cannot end before the
 * deadline is left out and counted, and a resumed run passes over what the
 * journal holds as done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "common/common.h"
#include "dispatch/engine.h"
#include "dispatch/feed.h"

static int calc(struct loom_task *t, const void *p, size_t n, void *a) {
  (void)t;
  (void)p;
  (void)n;
  (void)a;
  return 0;
}

static struct loom__kind kinds[2] = {{.name = "sh"},
                                     {.name = "calc", .fn = calc}};

/* A source over an array of specs. */
struct specs {
  struct loom_task_spec *s;
  int n, next;
};

static int next_spec(void *arg, struct loom_task_spec *out) {
  struct specs *v = arg;
  if (v->next >= v->n)
    return 0;
  *out = v->s[v->next++];
  return 1;
}

static struct loom_task_spec sh(const char *cmd, double cost, uint64_t line) {
  struct loom_task_spec s;
  loom_task_spec_init(&s);
  s.payload = cmd;
  s.len = strlen(cmd);
  s.cost = cost;
  s.line = line;
  return s;
}

struct rig {
  struct loom l;
  struct loom__sched sched;
  struct loom__feed f;
  struct specs src;
};

static void rig_init(struct rig *r, struct loom_task_spec *s, int n,
                     uint64_t lookahead) {
  memset(r, 0, sizeof(*r));
  r->l.kinds = kinds;
  r->l.nkinds = 2;
  r->src.s = s;
  r->src.n = n;
  assert_int_equal(loom__sched_init(&r->sched, 2, 2, 4096, 0.0005), 0);
  assert_int_equal(
      loom__feed_init(&r->f, &r->l, &r->sched, next_spec, &r->src, lookahead),
      0);
}

static void rig_fini(struct rig *r) {
  loom__feed_fini(&r->f);
  loom__sched_fini(&r->sched);
}

/* Takes the next task's payload as a string (tests use short ones). */
static const char *take(struct rig *r, char *buf, size_t n) {
  if (!loom__feed_next(&r->f))
    return NULL;
  snprintf(buf, n, "%.*s", (int)r->f.look.spec.len,
           (const char *)r->f.look.spec.payload);
  loom__feed_taken(&r->f);
  return buf;
}

static void test_feed_streams_in_order_and_resolves_kinds(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("a", -1, 1), sh("b", -1, 2), sh("c", -1, 3)};
  struct rig r;

  s[1].kind = "calc";
  rig_init(&r, s, 3, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(loom__feed_next(&r.f), 1);
    assert_int_equal(loom__feed_next(&r.f), 1); /* idempotent until taken */
    assert_int_equal(r.f.look.pos, (uint64_t)i + 1);
    assert_int_equal(r.f.look.kind, i == 1 ? 1 : 0);
    assert_int_equal(r.f.look.attempt, 1);
    assert_int_equal(r.src.next, i + 1); /* read one at a time */
    loom__feed_taken(&r.f);
  }
  assert_int_equal(loom__feed_next(&r.f), 0);
  assert_int_equal(r.f.err, 0);
  rig_fini(&r);
}

static void test_feed_unknown_kind_stops_with_its_name(void **st) {
  (void)st;
  struct loom_task_spec s[2] = {sh("a", -1, 1), sh("b", -1, 2)};
  struct rig r;
  char buf[16];

  s[1].kind = "nosuch";
  rig_init(&r, s, 2, 0);
  assert_string_equal(take(&r, buf, sizeof(buf)), "a");
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(r.f.err, LOOM_ENOENT);
  assert_non_null(strstr(r.f.errbuf, "unknown kind 'nosuch'"));
  rig_fini(&r);
}

static void test_feed_bad_spec_stops_and_names_the_task(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("a", -1, 5), sh("b", NAN, 7),
                                sh("c", -1, 9)};
  struct rig r;
  char buf[16];

  rig_init(&r, s, 3, 0);
  assert_string_equal(take(&r, buf, sizeof(buf)), "a");
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(r.f.err, LOOM_EINVAL);
  assert_non_null(strstr(r.f.errbuf, "task 2 from the source (line 7)"));
  assert_non_null(strstr(r.f.errbuf, "cost"));
  assert_int_equal(r.src.next, 2); /* nothing read past it */
  rig_fini(&r);
}

static void test_feed_spec_check_rules(void **st) {
  (void)st;
  struct loom_task_spec s = sh("x", -1, 1);
  char err[128];

  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), 0);
  s.timeout = -1;
  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), LOOM_EINVAL);
  assert_non_null(strstr(err, "timeout"));
  s = sh("x", INFINITY, 1);
  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), LOOM_EINVAL);
  s = sh("x", -1, 1);
  s.retries = LOOM_RETRIES_MAX + 1;
  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), LOOM_EINVAL);
  assert_non_null(strstr(err, "retries"));
  s.retries = LOOM_RETRIES_MAX;
  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), 0);
  s.payload = NULL;
  assert_int_equal(loom__task_spec_check(&s, err, sizeof(err)), LOOM_EINVAL);
}

static void test_feed_arrays_come_element_by_element_or_in_runs(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("x", -1, 0), sh("y", -1, 0), sh("z", 2, 0)};
  uint64_t keys[10];
  struct rig r;

  for (int i = 0; i < 3; i++)
    s[i].kind = "calc";
  s[0].count = 10; /* an array of 10 */
  s[2].count = 3;  /* hinted: never a run */
  rig_init(&r, s, 3, 0);
  r.f.keyed = 1;
  /* One by one: index 0, 1, ..., each with its own key, all of them
   * read from one spec at one position. */
  for (uint64_t k = 0; k < 3; k++) {
    assert_int_equal(loom__feed_next(&r.f), 1);
    assert_true(r.f.look.index == k);
    assert_true(r.f.look.pos == 1);
    keys[k] = r.f.look.key;
    assert_true(keys[k] == loom_task_id_element(r.f.arr_key, k));
    assert_int_equal(loom__feed_run_max(&r.f, 1), 1);
    loom__feed_taken(&r.f);
  }
  assert_true(keys[0] != keys[1] && keys[1] != keys[2]);
  assert_int_equal(r.src.next, 1);
  /* A run of 4 from index 3 on, then the last 3 (of 7 asked). */
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_true(r.f.look.index == 3);
  assert_int_equal(loom__feed_run_max(&r.f, 4), 4);
  loom__feed_taken_run(&r.f, 4);
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_true(r.f.look.index == 7);
  assert_int_equal(loom__feed_run_max(&r.f, 7), 3);
  loom__feed_taken_run(&r.f, 3);
  assert_true(r.f.read == 10);
  /* The next spec: a task of its own at the next position. */
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_true(r.f.look.index == 0);
  assert_true(r.f.look.pos == 11);
  assert_int_equal(loom__feed_run_max(&r.f, 100), 1);
  loom__feed_taken(&r.f);
  /* A hinted array goes out element by element. */
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_int_equal(loom__feed_run_max(&r.f, 100), 1);
  rig_fini(&r);

  /* Retries, or a deadline, need the master per element: no runs. */
  s[0].retries = 1;
  rig_init(&r, s, 1, 0);
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_int_equal(loom__feed_run_max(&r.f, 100), 1);
  rig_fini(&r);
  s[0].retries = 0;
  rig_init(&r, s, 1, 0);
  r.l.opt.deadline = 1e12;
  assert_int_equal(loom__feed_next(&r.f), 1);
  assert_int_equal(loom__feed_run_max(&r.f, 100), 1);
  r.l.opt.deadline = 0;
  assert_int_equal(loom__feed_run_max(&r.f, 100), 10);
  rig_fini(&r);
}

static void test_feed_lookahead_starts_at_the_first_hint(void **st) {
  (void)st;
  /* Two unhinted tasks stream; from the first hint on, the rest wait in
   * the pool and come out longest first, ties in source order. */
  struct loom_task_spec s[6] = {sh("u1", -1, 1), sh("u2", -1, 2),
                                sh("h1", 1, 3),  sh("h5", 5, 4),
                                sh("h3", 3, 5),  sh("h5b", 5, 6)};
  static const char *want[] = {"u1", "u2", "h5", "h5b", "h3", "h1"};
  struct rig r;
  char buf[16];

  rig_init(&r, s, 6, 100);
  for (int i = 0; i < 6; i++) {
    assert_non_null(take(&r, buf, sizeof(buf)));
    assert_string_equal(buf, want[i]);
    if (i == 0)
      assert_int_equal(r.src.next, 1); /* streaming: nothing read ahead */
  }
  assert_null(take(&r, buf, sizeof(buf)));
  /* A task keeps its place among the tasks read: h5b was the sixth. */
  rig_fini(&r);
}

static void test_feed_lookahead_is_capped(void **st) {
  (void)st;
  struct loom_task_spec s[5] = {sh("h1", 1, 1), sh("h2", 2, 2), sh("h3", 3, 3),
                                sh("h9", 9, 4), sh("h4", 4, 5)};
  struct rig r;
  char buf[16];

  /* Two may wait: h1 and h2 at first, so h2 comes out before h9 is read. */
  rig_init(&r, s, 5, 2);
  assert_string_equal(take(&r, buf, sizeof(buf)), "h2");
  assert_string_equal(take(&r, buf, sizeof(buf)), "h3");
  assert_string_equal(take(&r, buf, sizeof(buf)), "h9");
  assert_string_equal(take(&r, buf, sizeof(buf)), "h4");
  assert_string_equal(take(&r, buf, sizeof(buf)), "h1");
  assert_null(take(&r, buf, sizeof(buf)));
  rig_fini(&r);
}

static void test_feed_leaves_out_what_misses_the_deadline(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("short", 5, 1), sh("long", 1000, 2),
                                sh("short2", 1, 3)};
  struct rig r;
  char buf[16];

  rig_init(&r, s, 3, 0);
  r.l.opt.deadline = loom__wall() + 100;
  assert_string_equal(take(&r, buf, sizeof(buf)), "short");
  assert_string_equal(take(&r, buf, sizeof(buf)), "short2");
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(r.f.not_started, 1);
  assert_int_equal(r.f.err, 0);
  rig_fini(&r);
}

static void test_feed_resume_passes_over_done_tasks(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("same", -1, 1), sh("same", -1, 2),
                                sh("other", -1, 3)};
  struct loom__resume res;
  struct loom__mapval *v;
  struct rig r;
  char buf[16];

  rig_init(&r, s, 3, 0);
  memset(&res, 0, sizeof(res));
  /* The journal holds one "same" done, after two attempts in all. */
  v = loom__map_get(&res.keys, loom__task_key(loom__kind_hash("sh"), "same", 4),
                    1);
  assert_non_null(v);
  v->a = 1;
  v->b = 2;
  r.f.keyed = 1;
  r.f.resume = &res;
  assert_string_equal(take(&r, buf, sizeof(buf)), "same");
  assert_int_equal(r.f.look.attempt, 3); /* after the journal's two */
  assert_int_equal(r.f.look.pos, 1);     /* the skipped one is not counted */
  assert_string_equal(take(&r, buf, sizeof(buf)), "other");
  assert_int_equal(r.f.look.attempt, 1);
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(res.skipped, 1);
  loom__resume_fini(&res);
  rig_fini(&r);
}

static void test_feed_probe_refuses_another_task_set(void **st) {
  (void)st;
  struct loom_task_spec s[3] = {sh("x", -1, 1), sh("y", -1, 2), sh("z", -1, 3)};
  struct loom__resume res;
  struct loom__mapval *v;
  struct rig r;
  char buf[16];

  rig_init(&r, s, 3, 0);
  memset(&res, 0, sizeof(res));
  v = loom__map_get(&res.keys,
                    loom__task_key(loom__kind_hash("sh"), "other", 5), 1);
  v->a = 1;
  res.done = 1;
  r.f.keyed = 1;
  r.f.resume = &res;
  r.f.probe = 100;
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(r.f.err, LOOM_EMISMATCH);
  assert_non_null(strstr(r.f.errbuf, "none of the first 3 tasks"));
  loom__resume_fini(&res);
  rig_fini(&r);
}

static void test_feed_probe_keeps_what_it_read_in_order(void **st) {
  (void)st;
  /* The journal knows the third task: the two before it were read while
   * looking, and still come first, at their places. */
  struct loom_task_spec s[4] = {sh("p", -1, 1), sh("q", -1, 2),
                                sh("done", -1, 3), sh("r", -1, 4)};
  static const char *want[] = {"p", "q", "r"};
  struct loom__resume res;
  struct loom__mapval *v;
  struct rig r;
  char buf[16];

  rig_init(&r, s, 4, 0);
  memset(&res, 0, sizeof(res));
  v = loom__map_get(&res.keys, loom__task_key(loom__kind_hash("sh"), "done", 4),
                    1);
  v->a = 1;
  res.done = 1;
  r.f.keyed = 1;
  r.f.resume = &res;
  r.f.probe = 100;
  for (int i = 0; i < 3; i++) {
    assert_non_null(take(&r, buf, sizeof(buf)));
    assert_string_equal(buf, want[i]);
    assert_int_equal(r.f.look.pos, (uint64_t)i + 1);
  }
  assert_null(take(&r, buf, sizeof(buf)));
  assert_int_equal(r.f.err, 0);
  assert_int_equal(res.skipped, 1);
  loom__resume_fini(&res);
  rig_fini(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_feed_streams_in_order_and_resolves_kinds),
      cmocka_unit_test(test_feed_unknown_kind_stops_with_its_name),
      cmocka_unit_test(test_feed_bad_spec_stops_and_names_the_task),
      cmocka_unit_test(test_feed_spec_check_rules),
      cmocka_unit_test(test_feed_arrays_come_element_by_element_or_in_runs),
      cmocka_unit_test(test_feed_lookahead_starts_at_the_first_hint),
      cmocka_unit_test(test_feed_lookahead_is_capped),
      cmocka_unit_test(test_feed_leaves_out_what_misses_the_deadline),
      cmocka_unit_test(test_feed_resume_passes_over_done_tasks),
      cmocka_unit_test(test_feed_probe_refuses_another_task_set),
      cmocka_unit_test(test_feed_probe_keeps_what_it_read_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
