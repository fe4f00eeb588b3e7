/* policy.c - the built-in scheduling policies and their table.
 *
 * A policy picks which worker gets the next batch; sched.c does the
 * accounting. Policies never call MPI, so the unit tests and the offline
 * simulator run the very code loom run uses.
 * Up to SCAN_MAX workers a pick scans them all, exactly as each policy is
 * defined. Beyond that every policy keeps the workers in an indexed
 * min-heap keyed by what it compares, updated when the engine reports a
 * change (assigned, done): a pick costs O(log workers), so simulations of
 * 100,000 workers stay fast. A pick checks the worker on top and re-keys it
 * when its key went stale (it filled up or was quarantined meanwhile).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/heap.h"
#include "sched/policy.h"

#define SCAN_MAX 64

enum kind { LEAST_LOADED, ROUND_ROBIN, WEIGHTED_RR, EFT, STATIC };

struct pstate {
  enum kind kind;
  int n;
  int next;      /* scan mode: where the round-robin tie-break starts */
  int owner;     /* static, scan mode: the worker the next batch awaits */
  double *value; /* scan: wrr/static credit */
  /* heap mode */
  int heap_mode;
  struct loom__heap heap; /* workers by what the policy compares */
  struct loom__heap all;  /* eft: by expected finish, whether or not they have
                        room (the wait rule, eft_wait) */
  double *pass;           /* wrr/static: virtual time of each worker */
  uint64_t *last;         /* rr/least-loaded: the tick w was last picked */
  uint64_t tick;
  double vtime;    /* wrr: the pass of the last pick */
  double key_mean; /* eft: the mean hint the heap's keys were built with */
};

/* eft: when worker w would finish a task of cost c (< 0: no hints; then
 * tasks stand for work), counting what it has in flight. */
static double finish(const struct loom__sched *s, int w, double c) {
  const struct loom__wstate *ws = &s->w[w];
  double work = c >= 0 ? ws->inflight_cost + c : (double)ws->inflight + 1.0;
  return work / loom__sched_capacity(s, w);
}

/* eft, heap mode: when worker w would finish a task of the mean hint the
 * keys are built with (without hints: one more task). */
static double eft_key(const struct pstate *p, const struct loom__sched *s,
                      int w) {
  return finish(s, w, p->key_mean > 0 ? p->key_mean : -1);
}

/* eft: w's key in the heap of all workers, room or not. A quarantined
 * worker will never finish anything. */
static double all_key(const struct pstate *p, const struct loom__sched *s,
                      int w) {
  return s->w[w].quarantined ? HUGE_VAL : eft_key(p, s, w);
}

/* The key a worker sorts by in heap mode; HUGE_VAL = cannot take work. */
static double key_of(struct pstate *p, const struct loom__sched *s, int w) {
  const struct loom__wstate *ws = &s->w[w];

  if (ws->quarantined)
    return HUGE_VAL;
  if (p->kind == STATIC)
    return p->pass[w]; /* a full owner still holds its turn */
  if (!loom__sched_has_room(s, w))
    return HUGE_VAL;
  switch (p->kind) {
  case LEAST_LOADED:
    /* Fewest in flight; among equals, the one picked longest ago. */
    return (double)ws->inflight + 1e-10 * (double)p->last[w];
  case ROUND_ROBIN:
    return (double)p->last[w];
  case WEIGHTED_RR:
    return p->pass[w];
  case EFT:
    return eft_key(p, s, w);
  case STATIC:
    break;
  }
  return HUGE_VAL;
}

static int heap_pick(struct pstate *p, const struct loom__sched *s) {
  for (;;) {
    int w = (int)loom__heap_top(&p->heap)->ref;
    double k = key_of(p, s, w);
    if (k != loom__heap_key(&p->heap, (uint32_t)w)) {
      loom__heap_set(&p->heap, (uint32_t)w,
                     k); /* stale: re-key and look again */
      continue;
    }
    if (k == HUGE_VAL)
      return -1;
    if (p->kind == STATIC && !loom__sched_has_room(s, w))
      return -1; /* the batch waits for its worker */
    return w;
  }
}

/* ---- scan mode (exact definitions) -------------------------------------- */

static int scan_rr(struct pstate *p, const struct loom__sched *s) {
  for (int k = 0; k < s->n; k++) {
    int w = (p->next + k) % s->n;
    if (loom__sched_has_room(s, w)) {
      p->next = (w + 1) % s->n;
      return w;
    }
  }
  return -1;
}

/* The worker with the fewest tasks in flight, then the fewest batches;
 * ties go round-robin so equal workers share evenly. */
static int scan_ll(struct pstate *p, const struct loom__sched *s) {
  int best = -1;

  for (int k = 0; k < s->n; k++) {
    int w = (p->next + k) % s->n;
    const struct loom__wstate *ws = &s->w[w];
    if (!loom__sched_has_room(s, w))
      continue;
    if (best < 0 || ws->inflight < s->w[best].inflight ||
        (ws->inflight == s->w[best].inflight &&
         ws->batches < s->w[best].batches))
      best = w;
  }
  if (best >= 0)
    p->next = (best + 1) % s->n;
  return best;
}

/* Smooth weighted round-robin (as in nginx): every pick adds each
 * worker's capacity to its credit and takes the worker with the most,
 * which then pays the total. */
static int scan_wrr(struct pstate *p, const struct loom__sched *s) {
  double total = 0;
  int best = -1;

  for (int w = 0; w < s->n; w++) {
    double c;
    if (!loom__sched_has_room(s, w))
      continue;
    c = loom__sched_capacity(s, w);
    p->value[w] += c;
    total += c;
    if (best < 0 || p->value[w] > p->value[best])
      best = w;
  }
  if (best >= 0)
    p->value[best] -= total;
  return best;
}

/* Earliest expected finish: queued work plus the next task, over
 * capacity. Queued work is the cost hints in flight when the next task has
 * a hint, else the tasks in flight. *best_all is the earliest finish of
 * any worker, with room or not. */
static int scan_eft(struct pstate *p, const struct loom__sched *s,
                    double *best_t, double *best_all) {
  int best = -1;

  *best_all = HUGE_VAL;
  for (int k = 0; k < s->n; k++) {
    int w = (p->next + k) % s->n;
    double t;
    if (s->w[w].quarantined)
      continue;
    t = finish(s, w, s->next_cost);
    *best_all = fmin(*best_all, t);
    if (!loom__sched_has_room(s, w))
      continue;
    if (best < 0 || t < *best_t) {
      best = w;
      *best_t = t;
    }
  }
  if (best >= 0)
    p->next = (best + 1) % s->n;
  return best;
}

/* Heap mode keys on the mean hint of the tasks read rather than on the
 * next task's, which changes from task to task. Every key must use the same
 * mean, or a worker keyed long ago would sort wrongly against one keyed
 * now; so when the mean moves by a quarter (or hints appear), all keys are
 * rebuilt, which happens a few times a run. */
static int eft_heap_pick(struct pstate *p, const struct loom__sched *s,
                         double *best_t, double *best_all) {
  double mean = loom__sched_mean_hint(s);
  int w, top;

  if ((mean > 0) != (p->key_mean > 0) ||
      fabs(mean - p->key_mean) > 0.25 * p->key_mean) {
    p->key_mean = mean;
    for (int k = 0; k < p->n; k++) {
      loom__heap_set(&p->heap, (uint32_t)k, key_of(p, s, k));
      loom__heap_set(&p->all, (uint32_t)k, all_key(p, s, k));
    }
  }
  w = heap_pick(p, s);
  if (w < 0)
    return -1;
  p->last[w] = ++p->tick;
  *best_t = loom__heap_key(&p->heap, (uint32_t)w);
  /* Quarantine is final and the policy is not told of it: drop such a
   * worker here, as heap_pick does for the other heap. */
  while (s->w[top = (int)loom__heap_top(&p->all)->ref].quarantined &&
         loom__heap_key(&p->all, (uint32_t)top) != HUGE_VAL)
    loom__heap_set(&p->all, (uint32_t)top, HUGE_VAL);
  *best_all = loom__heap_key(&p->all, (uint32_t)top);
  return w;
}

/* eft: should the task wait rather than go to w, the worker with room that
 * would finish it first (at t)? Only when w already has a long queue of
 * hinted work (loom__sched_busy), so it does not need the task to stay
 * busy, and a worker whose window is full would finish the task sooner
 * (best_all < t): that worker has work in flight, so its next completion
 * ends the wait. An idle worker is never passed over for a wait, nor is
 * anything held without hints. This is what keeps longest-first from
 * committing a long task behind another long one just because the window
 * of the only workers with room is not full. */
static int eft_wait(const struct loom__sched *s, int w, double t,
                    double best_all) {
  return s->next_cost >= 0 && best_all < t && loom__sched_busy(s, w);
}

/* Static: the order of the workers is fixed by the weights alone (smooth
 * weighted round-robin over the weights), and a batch waits for its worker
 * rather than go to another. */
static int scan_static(struct pstate *p, const struct loom__sched *s) {
  if (p->owner < 0 || s->w[p->owner].quarantined) {
    double total = 0;
    int best = -1;
    for (int w = 0; w < s->n; w++) {
      double c = s->w[w].weight > 0 ? s->w[w].weight : 1.0;
      if (s->w[w].quarantined)
        continue;
      p->value[w] += c;
      total += c;
      if (best < 0 || p->value[w] > p->value[best])
        best = w;
    }
    if (best < 0)
      return -1;
    p->value[best] -= total;
    p->owner = best;
  }
  if (!loom__sched_has_room(s, p->owner))
    return -1;
  {
    int w = p->owner;
    p->owner = -1;
    return w;
  }
}

/* ---- the table's functions -------------------------------------------- */

static void pstate_free(void *state) {
  struct pstate *p = state;
  if (!p)
    return;
  free(p->value);
  loom__heap_free(&p->heap);
  loom__heap_free(&p->all);
  free(p->pass);
  free(p->last);
  free(p);
}

static int init_kind(const struct loom__sched *s, void **state,
                     enum kind kind) {
  struct pstate *p = calloc(1, sizeof(*p));
  size_t n = (size_t)s->n;

  if (!p)
    return LOOM_ENOMEM;
  p->kind = kind;
  p->n = s->n;
  p->owner = -1;
  p->heap_mode = s->n > SCAN_MAX;
  p->value = calloc(n, sizeof(double));
  if (p->heap_mode) {
    p->pass = calloc(n, sizeof(double));
    p->last = calloc(n, sizeof(uint64_t));
  }
  if (!p->value || (p->heap_mode &&
                    (loom__heap_init_indexed(&p->heap, (uint32_t)s->n) != 0 ||
                     (kind == EFT &&
                      loom__heap_init_indexed(&p->all, (uint32_t)s->n) != 0) ||
                     !p->pass || !p->last))) {
    pstate_free(p);
    return LOOM_ENOMEM;
  }
  if (p->heap_mode) {
    for (int w = 0; w < s->n; w++)
      loom__heap_set(&p->heap, (uint32_t)w, key_of(p, s, w));
    for (int w = 0; kind == EFT && w < s->n; w++)
      loom__heap_set(&p->all, (uint32_t)w, all_key(p, s, w));
  }
  *state = p;
  return 0;
}

static int pick(void *state, const struct loom__sched *s) {
  struct pstate *p = state;
  int w;

  if (p->kind == EFT) {
    double t = 0, best_all = 0;
    w = p->heap_mode ? eft_heap_pick(p, s, &t, &best_all)
                     : scan_eft(p, s, &t, &best_all);
    return w >= 0 && eft_wait(s, w, t, best_all) ? -1 : w;
  }
  if (!p->heap_mode) {
    switch (p->kind) {
    case LEAST_LOADED:
      return scan_ll(p, s);
    case ROUND_ROBIN:
      return scan_rr(p, s);
    case WEIGHTED_RR:
      return scan_wrr(p, s);
    case STATIC:
      return scan_static(p, s);
    case EFT:
      break; /* above */
    }
    return -1;
  }
  w = heap_pick(p, s);
  if (w < 0)
    return -1;
  /* Stride scheduling: a pick advances the worker's virtual time by the
   * inverse of its capacity (static: of its weight). */
  if (p->kind == WEIGHTED_RR) {
    p->vtime = p->pass[w];
    p->pass[w] += 1.0 / loom__sched_capacity(s, w);
  } else if (p->kind == STATIC) {
    p->pass[w] += 1.0 / (s->w[w].weight > 0 ? s->w[w].weight : 1.0);
  }
  p->last[w] = ++p->tick;
  return w;
}

static void update(void *state, const struct loom__sched *s, int w) {
  struct pstate *p = state;

  if (!p->heap_mode)
    return;
  /* A worker that comes back from a full window does not get to catch up
   * on the turns it missed. */
  if (p->kind == WEIGHTED_RR && p->pass[w] < p->vtime)
    p->pass[w] = p->vtime;
  loom__heap_set(&p->heap, (uint32_t)w, key_of(p, s, w));
  if (p->kind == EFT)
    loom__heap_set(&p->all, (uint32_t)w, all_key(p, s, w));
}

static int ll_init(const struct loom__sched *s, void **st) {
  return init_kind(s, st, LEAST_LOADED);
}
static int rr_init(const struct loom__sched *s, void **st) {
  return init_kind(s, st, ROUND_ROBIN);
}
static int wrr_init(const struct loom__sched *s, void **st) {
  return init_kind(s, st, WEIGHTED_RR);
}
static int eft_init(const struct loom__sched *s, void **st) {
  return init_kind(s, st, EFT);
}
static int static_init(const struct loom__sched *s, void **st) {
  return init_kind(s, st, STATIC);
}

static const struct loom__policy_ops policies[] = {
    {"least-loaded", "the worker with the fewest tasks in flight", ll_init,
     pick, update, update, pstate_free, 0},
    {"rr", "round-robin over workers with room in their window", rr_init, pick,
     update, update, pstate_free, 0},
    {"wrr", "smooth weighted round-robin by capacity (weight x measured speed)",
     wrr_init, pick, update, update, pstate_free, 0},
    {"weighted",
     "(default) earliest expected finish: queued work (cost hints, else "
     "tasks) over capacity; reads ahead to hand out the longest hinted "
     "tasks first",
     eft_init, pick, update, update, pstate_free, 1},
    {"static",
     "batches go to workers in an order fixed by weight alone, and wait for "
     "their worker",
     static_init, pick, update, update, pstate_free, 0},
};

const struct loom__policy_ops *loom__policy_find(const char *name) {
  if (!name)
    name = "weighted";
  for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
    if (strcmp(policies[i].name, name) == 0)
      return &policies[i];
  return NULL;
}

int loom_policy_exists(const char *name) {
  return name && loom__policy_find(name) != NULL;
}

void loom_policy_list(FILE *out) {
  for (size_t i = 0; out && i < sizeof(policies) / sizeof(policies[0]); i++)
    fprintf(out, "  %-14s %s\n", policies[i].name, policies[i].help);
}
