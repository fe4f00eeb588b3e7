/* sleep.c - the kind whose tasks sleep for a drawn duration: idle work with
 * a known length, to test scheduling without loading the CPUs.
 *
 * Payload: one double, the seconds to sleep (native byte order; all ranks
 * run the same build). Durations come from dist.c and depend only on the
 * task index, so they do not change with the number of ranks.
 */
#include "kinds.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int sleep_setup(const struct kind_arg *args, size_t nargs, void **state,
                       char *err, size_t errlen) {
  return duration_setup(args, nargs, "sleep", state, err, errlen);
}

static int sleep_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                      size_t *len, double *cost) {
  const struct duration_kind *s = state;
  double seconds = dist_draw(&s->dist, i);
  if (cap < sizeof seconds)
    return LOOM_ETOOBIG;
  memcpy(buf, &seconds, sizeof seconds);
  *len = sizeof seconds;
  if (s->hint)
    *cost = seconds;
  return 0;
}

static int sleep_run(struct loom_task *task, const void *payload, size_t len,
                     void *arg) {
  (void)task;
  (void)arg;
  double seconds = 0;
  if (len != sizeof seconds)
    return 2; /* not a payload this kind made */
  memcpy(&seconds, payload, sizeof seconds);
  if (!isfinite(seconds) || seconds < 0)
    return 2;
  /* Clamp to a year so the conversion to time_t cannot overflow. */
  if (seconds > 31536000.0)
    seconds = 31536000.0;
  struct timespec req;
  req.tv_sec = (time_t)seconds;
  req.tv_nsec = (long)((seconds - (double)req.tv_sec) * 1e9);
  if (req.tv_nsec >= 1000000000L)
    req.tv_nsec = 999999999L;
  /* A signal cuts nanosleep short; sleep for what remains. */
  struct timespec rem;
  while (nanosleep(&req, &rem) != 0) {
    if (errno != EINTR)
      return 1;
    req = rem;
  }
  return 0;
}

const struct kind kind_sleep = {
    .name = "sleep",
    .summary = "sleep for a drawn duration: idle tasks of known length",
    .params = DURATION_PARAMS,
    .setup = sleep_setup,
    .make = sleep_make,
    .run = sleep_run,
    .result = NULL,
    .finish = NULL,
    .free = free,
};
