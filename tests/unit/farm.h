/* farm.h - a scheduler and one policy over it, as the master holds them:
 * what the unit tests of the policies, the accounting and the batch
 * builder start from. Include once per test program.
 */
#ifndef LOOM_TEST_FARM_H
#define LOOM_TEST_FARM_H

#include "sched/policy.h"

struct farm {
  struct loom__sched s;
  const struct loom__policy_ops *ops;
  void *state;
};

/* n workers, a window of `window` batches, the default batch limits. */
static void farm_init(struct farm *f, const char *policy, int n, int window) {
  assert_int_equal(loom__sched_init(&f->s, n, window, 4096, 0.0005), 0);
  f->ops = loom__policy_find(policy);
  assert_non_null(f->ops);
  f->state = NULL;
  assert_int_equal(f->ops->init(&f->s, &f->state), 0);
}

static void farm_fini(struct farm *f) {
  f->ops->fini(f->state);
  loom__sched_fini(&f->s);
}

#endif /* LOOM_TEST_FARM_H */
