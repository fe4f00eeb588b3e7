/* sched.c - per-worker in-flight accounting and batch sizing (sched.h).
 *
 * Batch size: aim each message at batch_target seconds of work, from the
 * smoothed per-task time, so tiny tasks travel thousands to a message while
 * long ones travel alone. Until the first completion the size is 1.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "policy.h"

int loom__sched_init(struct loom__sched *s, int nworkers, int window,
                     uint32_t batch_max, double batch_target) {
  s->n = nworkers;
  s->window = window;
  s->batch_max = batch_max;
  s->batch_target = batch_target;
  s->t_est = -1;
  s->w = calloc((size_t)nworkers, sizeof(*s->w));
  if (!s->w)
    return LOOM_ENOMEM;
  for (int i = 0; i < nworkers; i++)
    s->w[i].weight = 1.0;
  return 0;
}

void loom__sched_fini(struct loom__sched *s) {
  free(s->w);
  s->w = NULL;
}

uint32_t loom__sched_batch_size(const struct loom__sched *s) {
  double n;

  if (s->t_est < 0)
    return 1;
  n = s->batch_target / fmax(s->t_est, 1e-9);
  if (n < 1)
    return 1;
  if (n > (double)s->batch_max)
    return s->batch_max;
  return (uint32_t)n;
}

void loom__sched_assign(struct loom__sched *s, int w, uint32_t ntasks,
                        double cost) {
  s->w[w].inflight += ntasks;
  s->w[w].batches++;
  s->w[w].inflight_cost += cost;
}

void loom__sched_task_done(struct loom__sched *s, int w, double elapsed,
                           double cost, int failed, int last) {
  struct loom__wstate *ws = &s->w[w];

  if (ws->inflight > 0)
    ws->inflight--;
  if (cost > 0)
    ws->inflight_cost = fmax(0, ws->inflight_cost - cost);
  if (last && ws->batches > 0)
    ws->batches--;
  ws->done++;
  ws->failed += failed != 0;
  ws->busy += elapsed;
}

void loom__sched_observe(struct loom__sched *s, uint32_t ntasks, double busy) {
  double t;

  if (ntasks == 0)
    return;
  t = busy / ntasks;
  /* Smooth, but let the first measurement stand on its own. */
  s->t_est = s->t_est < 0 ? t : 0.7 * s->t_est + 0.3 * t;
}

double loom__sched_idle_cap(const struct loom__sched *s) {
  double queued;

  if (s->t_est < 0)
    return 50e-6;
  /* A worker with a full window has about (window - 1) batches queued
   * behind the running one; wake well before it drains. */
  queued = fmin(s->batch_target, s->t_est * s->batch_max);
  queued = fmax(queued, s->t_est) * (s->window > 1 ? s->window - 1 : 1);
  return fmin(fmax(queued / 4, 2e-6), 1e-3);
}
