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
