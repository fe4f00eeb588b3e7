/* policy.c - the built-in scheduling policies and their table.
 *
 * A policy picks which worker gets the next batch; sched.c does the
 * accounting. Policies never call MPI, so the unit tests and an offline
 * simulator run the very code loom run uses.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "policy.h"

/* Round-robin: the next worker in rank order that has room. */
struct rr {
  int next;
};

static int rr_init(const struct loom__sched *s, void **state) {
  struct rr *r = calloc(1, sizeof(*r));
  (void)s;
  if (!r)
    return LOOM_ENOMEM;
  *state = r;
  return 0;
}

static int rr_pick(void *state, const struct loom__sched *s) {
  struct rr *r = state;

  for (int k = 0; k < s->n; k++) {
    int w = (r->next + k) % s->n;
    if (loom__sched_has_room(s, w)) {
      r->next = (w + 1) % s->n;
      return w;
    }
  }
  return -1;
}

/* Least-loaded: the worker with the fewest tasks in flight, then the fewest
 * batches; ties go round-robin so equal workers share evenly. A linear scan
 * per batch: cheap next to a message. */
static int ll_pick(void *state, const struct loom__sched *s) {
  struct rr *r = state;
  int best = -1;

  for (int k = 0; k < s->n; k++) {
    int w = (r->next + k) % s->n;
    const struct loom__wstate *ws = &s->w[w];
    if (!loom__sched_has_room(s, w))
      continue;
    if (best < 0 || ws->inflight < s->w[best].inflight ||
        (ws->inflight == s->w[best].inflight &&
         ws->batches < s->w[best].batches))
      best = w;
  }
  if (best >= 0)
    r->next = (best + 1) % s->n;
  return best;
}

/* Smooth weighted round-robin (as in nginx): every pick adds each
 * worker's capacity to its credit and takes the worker with the most,
 * which then pays the total. Over any stretch each worker gets batches in
 * proportion to its capacity, evenly spread. */
struct wrr {
  int n;
  double credit[];
};

static int wrr_init(const struct loom__sched *s, void **state) {
  struct wrr *r = calloc(1, sizeof(*r) + (size_t)s->n * sizeof(double));
  if (!r)
    return LOOM_ENOMEM;
  r->n = s->n;
  *state = r;
  return 0;
}

static int wrr_pick(void *state, const struct loom__sched *s) {
  struct wrr *r = state;
  double total = 0;
  int best = -1;

  for (int w = 0; w < s->n; w++) {
    double c;
    if (!loom__sched_has_room(s, w))
      continue;
    c = loom__sched_capacity(s, w);
    r->credit[w] += c;
    total += c;
    if (best < 0 || r->credit[w] > r->credit[best])
      best = w;
  }
  if (best >= 0)
    r->credit[best] -= total;
  return best;
}

/* Earliest expected finish: the worker whose queue, plus the next task,
 * would be done first at its capacity. Queued work is the cost hints in
 * flight when there are hints, else the tasks in flight. */
static int eft_pick(void *state, const struct loom__sched *s) {
  struct rr *r = state;
  int best = -1;
  double best_t = 0;

  for (int k = 0; k < s->n; k++) {
    int w = (r->next + k) % s->n;
    const struct loom__wstate *ws = &s->w[w];
    double work, t;
    if (!loom__sched_has_room(s, w))
      continue;
    work = s->next_cost >= 0 ? ws->inflight_cost + s->next_cost
                             : (double)ws->inflight + 1.0;
    t = work / loom__sched_capacity(s, w);
    if (best < 0 || t < best_t) {
      best = w;
      best_t = t;
    }
  }
  if (best >= 0)
    r->next = (best + 1) % s->n;
  return best;
}

/* Static: the order in which workers get batches is fixed up front by the
 * weights alone (a smooth weighted round-robin over the weights, no
 * measured speed), and a batch waits for its worker's room rather than go
 * to another: the classic static partition, at batch granularity, for
 * comparison with the dynamic policies. */
struct fixed {
  int owner; /* the worker the next batch is promised to, or -1 */
  double credit[];
};

static int static_init(const struct loom__sched *s, void **state) {
  struct fixed *f = calloc(1, sizeof(*f) + (size_t)s->n * sizeof(double));
  if (!f)
    return LOOM_ENOMEM;
  f->owner = -1;
  *state = f;
  return 0;
}

static int static_pick(void *state, const struct loom__sched *s) {
  struct fixed *f = state;

  if (f->owner < 0 || s->w[f->owner].quarantined) {
    double total = 0;
    int best = -1;
    for (int w = 0; w < s->n; w++) {
      double c = s->w[w].weight > 0 ? s->w[w].weight : 1.0;
      if (s->w[w].quarantined)
        continue;
      f->credit[w] += c;
      total += c;
      if (best < 0 || f->credit[w] > f->credit[best])
        best = w;
    }
    if (best < 0)
      return -1;
    f->credit[best] -= total;
    f->owner = best;
  }
  if (!loom__sched_has_room(s, f->owner))
    return -1; /* the batch waits for its worker */
  {
    int w = f->owner;
    f->owner = -1;
    return w;
  }
}

static void nop_update(void *state, const struct loom__sched *s, int w) {
  (void)state;
  (void)s;
  (void)w;
}

static const struct loom__policy_ops policies[] = {
    {"least-loaded",
     "the worker with the fewest tasks in flight (default: no hints needed)",
     rr_init, ll_pick, nop_update, nop_update, free},
    {"rr", "round-robin over workers with room in their window", rr_init,
     rr_pick, nop_update, nop_update, free},
    {"wrr", "smooth weighted round-robin by capacity (weight x measured speed)",
     wrr_init, wrr_pick, nop_update, nop_update, free},
    {"weighted",
     "earliest expected finish: queued work (cost hints, else tasks) over "
     "capacity",
     rr_init, eft_pick, nop_update, nop_update, free},
    {"static", "block partition of the task count by weight, decided up front",
     static_init, static_pick, nop_update, nop_update, free},
};

const struct loom__policy_ops *loom__policy_find(const char *name) {
  if (!name)
    name = "least-loaded";
  for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
    if (strcmp(policies[i].name, name) == 0)
      return &policies[i];
  return NULL;
}

int loom_policy_exists(const char *name) {
  return name && loom__policy_find(name) != NULL;
}

void loom_policy_list(FILE *out) {
  for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
    fprintf(out, "  %-14s %s\n", policies[i].name, policies[i].help);
}
