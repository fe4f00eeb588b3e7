/* noop.c - the kind that does nothing, to measure the engine's own cost per
 * task: an empty payload, a task function that returns at once, no answer.
 */
#include "kinds.h"

static int noop_setup(const struct kind_arg *args, size_t nargs, void **state,
                      char *err, size_t errlen) {
  *state = NULL;
  return kind_args_check(args, nargs, "", "noop", err, errlen);
}

static int noop_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                     size_t *len, double *cost) {
  (void)state;
  (void)i;
  (void)buf;
  (void)cap;
  (void)cost;
  *len = 0;
  return 0;
}

static int noop_run(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  (void)task;
  (void)payload;
  (void)len;
  (void)arg;
  return 0;
}

static void noop_free(void *state) { (void)state; }

const struct kind kind_noop = {
    .name = "noop",
    .summary = "do nothing: measures the engine's overhead per task",
    .params = "(none)",
    .setup = noop_setup,
    .make = noop_make,
    .run = noop_run,
    .result = NULL,
    .finish = NULL,
    .free = noop_free,
};
