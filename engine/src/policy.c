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

#include "internal.h"
#include "policy.h"

#define SCAN_MAX 64

enum kind { LEAST_LOADED, ROUND_ROBIN, WEIGHTED_RR, EFT, STATIC };

struct pstate {
  enum kind kind;
  int n;
  int next;      /* scan mode: where the round-robin tie-break starts */
  int owner;     /* static, scan mode: the worker the next batch awaits */
  double *value; /* scan: wrr/static credit; heap: the key */
  /* heap mode */
  int heap_mode;
  int *heap;      /* worker ids, heap-ordered by value[] */
  int *pos;       /* pos[w]: w's index in heap */
  double *pass;   /* wrr/static: virtual time of each worker */
  uint64_t *last; /* rr/least-loaded: the tick w was last picked */
  uint64_t tick;
  double vtime;     /* wrr: the pass of the last pick */
  double mean_cost; /* eft: running mean of cost hints */
};

/* ---- the indexed heap ------------------------------------------------ */

static int before(const struct pstate *p, int a, int b) {
  return p->value[a] < p->value[b] || (p->value[a] == p->value[b] && a < b);
}

static void swap_at(struct pstate *p, int i, int j) {
  int a = p->heap[i], b = p->heap[j];
  p->heap[i] = b;
  p->heap[j] = a;
  p->pos[b] = i;
  p->pos[a] = j;
}

static void heap_set(struct pstate *p, int w, double key) {
  int i = p->pos[w];

  p->value[w] = key;
  while (i > 0 && before(p, p->heap[i], p->heap[(i - 1) / 2])) {
    swap_at(p, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    int c = 2 * i + 1;
    if (c >= p->n)
      break;
    if (c + 1 < p->n && before(p, p->heap[c + 1], p->heap[c]))
      c++;
    if (!before(p, p->heap[c], p->heap[i]))
      break;
    swap_at(p, i, c);
    i = c;
  }
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
  case EFT: {
    double work = p->mean_cost > 0 ? ws->inflight_cost + p->mean_cost
                                   : (double)ws->inflight + 1.0;
    return work / loom__sched_capacity(s, w);
  }
  case STATIC:
    break;
  }
  return HUGE_VAL;
}

static int heap_pick(struct pstate *p, const struct loom__sched *s) {
  for (;;) {
    int w = p->heap[0];
    double k = key_of(p, s, w);
    if (k != p->value[w]) {
      heap_set(p, w, k); /* stale: re-key and look again */
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
 * a hint, else the tasks in flight. */
static int scan_eft(struct pstate *p, const struct loom__sched *s) {
  int best = -1;
  double best_t = 0;

  for (int k = 0; k < s->n; k++) {
    int w = (p->next + k) % s->n;
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
    p->next = (best + 1) % s->n;
  return best;
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
  free(p->heap);
  free(p->pos);
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
    p->heap = calloc(n, sizeof(int));
    p->pos = calloc(n, sizeof(int));
    p->pass = calloc(n, sizeof(double));
    p->last = calloc(n, sizeof(uint64_t));
  }
  if (!p->value ||
      (p->heap_mode && (!p->heap || !p->pos || !p->pass || !p->last))) {
    pstate_free(p);
    return LOOM_ENOMEM;
  }
  if (p->heap_mode) {
    /* Every key starts equal (0): the heap is ordered by worker index. */
    for (int w = 0; w < s->n; w++) {
      p->heap[w] = w;
      p->pos[w] = w;
    }
    for (int w = 0; w < s->n; w++)
      heap_set(p, w, key_of(p, s, w));
  }
  *state = p;
  return 0;
}

static int pick(void *state, const struct loom__sched *s) {
  struct pstate *p = state;
  int w;

  if (!p->heap_mode) {
    switch (p->kind) {
    case LEAST_LOADED:
      return scan_ll(p, s);
    case ROUND_ROBIN:
      return scan_rr(p, s);
    case WEIGHTED_RR:
      return scan_wrr(p, s);
    case EFT:
      return scan_eft(p, s);
    case STATIC:
      return scan_static(p, s);
    }
    return -1;
  }
  if (p->kind == EFT && s->next_cost >= 0)
    p->mean_cost = p->mean_cost > 0
                       ? p->mean_cost + 0.01 * (s->next_cost - p->mean_cost)
                       : s->next_cost;
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
  heap_set(p, w, key_of(p, s, w));
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
    {"least-loaded",
     "the worker with the fewest tasks in flight (default: no hints needed)",
     ll_init, pick, update, update, pstate_free},
    {"rr", "round-robin over workers with room in their window", rr_init, pick,
     update, update, pstate_free},
    {"wrr", "smooth weighted round-robin by capacity (weight x measured speed)",
     wrr_init, pick, update, update, pstate_free},
    {"weighted",
     "earliest expected finish: queued work (cost hints, else tasks) over "
     "capacity",
     eft_init, pick, update, update, pstate_free},
    {"static",
     "batches go to workers in an order fixed by weight alone, and wait for "
     "their worker",
     static_init, pick, update, update, pstate_free},
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
