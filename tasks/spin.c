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

#define SPIN_PAYLOAD (sizeof(uint64_t) + sizeof(double))

static int spin_setup(const struct kind_arg *args, size_t nargs, void **state,
                      char *err, size_t errlen) {
  int rc = duration_setup(args, nargs, "spin", state, err, errlen);
  /* Calibrate after the arguments are known good: it takes ~0.1 s. */
  if (rc == 0)
    ((struct duration_kind *)*state)->rate = spin_calibrate();
  return rc;
}

static int spin_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                     size_t *len, double *cost) {
  const struct duration_kind *s = state;
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

const struct kind kind_spin = {
    .name = "spin",
    .summary = "burn CPU for a drawn duration: busy tasks of known length",
    .params = DURATION_PARAMS,
    .setup = spin_setup,
    .make = spin_make,
    .run = spin_run,
    .result = NULL,
    .finish = NULL,
    .free = free,
};
