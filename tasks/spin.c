/* spin.c - the kind whose tasks burn CPU for a drawn duration: busy work with
 * a known length, to test scheduling under load.
 *
 * The master calibrates the loop once (spin_calibrate) and turns each drawn
 * duration into an iteration count, so the payload, not the worker's clock,
 * fixes the work: a slower core takes longer, as real work would.
 * Payload: uint64 iterations, then a double of nominal seconds (native byte
 * order; all ranks run the same build).
 */
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SPIN_KEYS "dist mean min max sigma alpha cap seed hint"
#define SPIN_PAYLOAD (sizeof(uint64_t) + sizeof(double))

struct spin_state {
  struct dist dist;
  uint64_t hint;
  double rate; /* iterations per second on the master */
};

static int spin_setup(const struct kind_arg *args, size_t nargs, void **state,
                      char *err, size_t errlen) {
  struct spin_state *s = NULL;
  int rc = kind_args_check(args, nargs, SPIN_KEYS, "spin", err, errlen);
  if (rc != 0)
    goto out;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    rc = LOOM_ENOMEM;
    goto out;
  }
  rc = dist_setup(&s->dist, args, nargs, "spin", err, errlen);
  if (rc != 0)
    goto out;
  rc = kind_arg_u64(args, nargs, "hint", 0, 0, 1, &s->hint, err, errlen);
  if (rc != 0) {
    kind_err_prefix(err, errlen, "spin");
    goto out;
  }
  /* Calibrate after the arguments are known good: it takes ~0.1 s. */
  s->rate = spin_calibrate();

out:
  if (rc != 0) {
    free(s);
    s = NULL;
  }
  *state = s;
  return rc;
}

static int spin_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                     size_t *len, double *cost) {
  const struct spin_state *s = state;
  double seconds = dist_draw(&s->dist, i);
  double n = floor(seconds * s->rate + 0.5);
  /* Clamp before converting: a huge draw times the rate may not fit. */
  uint64_t iterations = n >= 1.8e19 ? UINT64_MAX : (uint64_t)n;
  if (cap < SPIN_PAYLOAD)
    return LOOM_ETOOBIG;
  memcpy(buf, &iterations, sizeof iterations);
  memcpy(buf + sizeof iterations, &seconds, sizeof seconds);
  *len = SPIN_PAYLOAD;
  if (s->hint)
    *cost = seconds;
  return 0;
}

static int spin_run(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  (void)task;
  (void)arg;
  uint64_t iterations = 0;
  if (len != SPIN_PAYLOAD)
    return 2; /* not a payload this kind made */
  memcpy(&iterations, payload, sizeof iterations);
  spin_iterations(iterations);
  return 0;
}

static void spin_free(void *state) { free(state); }

const struct kind kind_spin = {
    .name = "spin",
    .summary = "burn CPU for a drawn duration: busy tasks of known length",
    .params = "dist=fixed|uniform|lognormal|pareto mean=0.001 min=0 "
              "max=2*mean sigma=1 alpha=2 cap=0 seed=1 hint=0",
    .setup = spin_setup,
    .make = spin_make,
    .run = spin_run,
    .result = NULL,
    .finish = NULL,
    .free = spin_free,
};
