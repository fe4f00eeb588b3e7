/* sched.c - per-worker in-flight accounting and batch sizing (sched.h).
 *
 * Batch size: aim each message at batch_target seconds of work, from the
 * smoothed per-task time, so tiny tasks travel thousands to a message while
 * long ones travel alone. Until the first completion the size is 1.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "sched/policy.h"

int loom__sched_init(struct loom__sched *s, int nworkers, int window,
                     uint32_t batch_max, double batch_target) {
  memset(s, 0, sizeof(*s));
  s->next_cost = -1;
  s->n = nworkers;
  s->window = window;
  s->batch_max = batch_max;
  s->batch_target = batch_target;
  s->t_est = -1;
  s->w = calloc((size_t)nworkers, sizeof(*s->w));
  if (!s->w)
    return LOOM_ENOMEM;
  for (int i = 0; i < nworkers; i++) {
    s->w[i].weight = 1.0;
    s->w[i].slots = 1;
  }
  s->slots = (uint64_t)nworkers;
  return 0;
}

void loom__sched_set_slots(struct loom__sched *s, int w, int slots) {
  s->slots -= (uint64_t)s->w[w].slots;
  s->w[w].slots = slots > 0 ? slots : 1;
  s->slots += (uint64_t)s->w[w].slots;
}

void loom__sched_fini(struct loom__sched *s) {
  free(s->w);
  s->w = NULL;
}

uint32_t loom__sched_batch_size(const struct loom__sched *s, int w) {
  double n, t = 0, grow;

  if (s->t_est < 0)
    return 1;
  for (uint32_t i = 0; i < s->nrecent && i < 16; i++)
    t = fmax(t, s->recent[i]);
  n = fmin(s->batch_target / fmax(t, 1e-9), (double)s->batch_max);
  grow = fmax(4.0, 2.0 * s->w[w].last_batch);
  n = fmin(n, grow);
  if (s->total > s->next_task)
    n = fmin(n, fmax(1.0, (double)(s->total - s->next_task) /
                              (2.0 * (double)s->slots)));
  return n < 1 ? 1 : (uint32_t)n;
}

int loom__sched_batch_full(const struct loom__sched *s, uint32_t n, double cost,
                           double next_cost) {
  return n > 0 && next_cost > 0 && cost + next_cost > s->batch_target;
}

double loom__sched_hint(struct loom__sched *s, double cost) {
  if (cost >= 0) {
    s->hint_sum += cost;
    s->hints++;
    return cost;
  }
  return loom__sched_mean_hint(s);
}

int loom__sched_busy(const struct loom__sched *s, int w) {
  if (s->w[w].inflight == 0 || s->hints == 0)
    return 0;
  return s->w[w].inflight_cost > fmax(4.0 * loom__sched_mean_hint(s), 0.05) ||
         (s->w[w].batches >= 2 && s->w[w].inflight_cost > 0.005);
}

void loom__sched_assign(struct loom__sched *s, int w, uint32_t ntasks,
                        double cost) {
  s->w[w].inflight += ntasks;
  s->w[w].batches++;
  s->w[w].inflight_cost += cost;
}

/* A task of ws, done or given back, leaves its queue. */
static inline void unqueue(struct loom__wstate *ws, double cost) {
  if (ws->inflight > 0)
    ws->inflight--;
  if (cost > 0)
    ws->inflight_cost = fmax(0, ws->inflight_cost - cost);
}

void loom__sched_task_done(struct loom__sched *s, int w, double elapsed,
                           double cost, int failed, int last) {
  struct loom__wstate *ws = &s->w[w];

  unqueue(ws, cost);
  ws->counting++;
  if (last) {
    if (ws->batches > 0)
      ws->batches--;
    ws->last_batch = ws->counting;
    ws->counting = 0;
  }
  ws->done++;
  ws->failed += failed != 0;
  ws->busy += elapsed;
}

void loom__sched_task_returned(struct loom__sched *s, int w, double cost) {
  unqueue(&s->w[w], cost);
}

void loom__sched_observe(struct loom__sched *s, uint32_t ntasks, double busy) {
  double t;

  if (ntasks == 0)
    return;
  t = busy / ntasks;
  /* Smooth, but let the first measurement stand on its own. */
  s->t_est = s->t_est < 0 ? t : 0.7 * s->t_est + 0.3 * t;
  s->recent[s->nrecent++ % 16] = t;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The reference rate per unit of weight: the median over the measured
 * workers, or over 64 of them spread evenly when there are more. */
static void update_ref(struct loom__sched *s) {
  double per[64];
  int k = 0, step = s->n > 64 ? s->n / 64 : 1;

  for (int i = 0; i < s->n && k < 64; i += step) {
    const struct loom__wstate *v = &s->w[i];
    if (v->samples > 0 && v->rate > 0 && v->weight > 0)
      per[k++] = v->rate / v->weight;
  }
  if (k == 0)
    return;
  qsort(per, (size_t)k, sizeof(per[0]), cmp_double);
  s->ref = k % 2 ? per[k / 2] : 0.5 * (per[k / 2 - 1] + per[k / 2]);
}

void loom__sched_measure(struct loom__sched *s, int w, uint32_t n, double busy,
                         double cost) {
  struct loom__wstate *ws = &s->w[w];
  double obs;

  if (n == 0 || !(busy > 0))
    return; /* too short to tell */
  obs = (cost >= 0 ? cost : (double)n) / busy;
  if (ws->samples == 0) {
    ws->rate = obs;
  } else {
    obs = fmin(fmax(obs, ws->rate / 4), ws->rate * 4);
    ws->rate += 0.2 * (obs - ws->rate);
  }
  ws->samples++;
  /* Few workers: an exact median every time. Many: every 64 messages. */
  if (s->n <= 64 || s->measures % 64 == 0 || !(s->ref > 0))
    update_ref(s);
  s->measures++;
}

double loom__sched_capacity(const struct loom__sched *s, int w) {
  const struct loom__wstate *ws = &s->w[w];
  double f;

  if (ws->samples == 0 || !(ws->rate > 0) || !(ws->weight > 0) || !(s->ref > 0))
    return ws->weight > 0 ? ws->weight : 1.0;
  f = (ws->rate / ws->weight) / s->ref;
  return ws->weight * fmin(fmax(f, 0.05), 20.0);
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
