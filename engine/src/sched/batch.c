/* batch.c - the batch builder (batch.h). */
#include "sched/batch.h"

int loom__batch_build(struct loom__sched *s, const struct loom__policy_ops *pol,
                      void *pstate, const struct loom__batch_src *src,
                      void *arg, struct loom__batch *out) {
  uint32_t want;
  double next;
  int w, rc;

  out->worker = -1;
  out->n = 0;
  out->cost = 0;
  /* What the policy may look at: which task comes next, and its cost. */
  if (!src->peek(arg, -1, &next))
    return 0;
  s->next_cost = next;
  w = pol->pick(pstate, s);
  if (w < 0)
    return 0;
  want = loom__sched_batch_size(s, w);
  while (out->n < want && src->peek(arg, w, &next)) {
    double cost = -1;
    int fresh = 0;
    if (loom__sched_batch_full(s, out->n, out->cost, next))
      break; /* the hints say this batch is long enough */
    rc = src->take(arg, w, want - out->n, &cost, &fresh);
    if (rc < 0)
      return rc;
    if (rc == 0)
      continue;
    out->n += (uint32_t)rc;
    if (cost > 0)
      out->cost += cost * rc;
    if (fresh)
      s->next_task += (uint64_t)rc;
  }
  if (out->n == 0)
    return 0;
  out->worker = w;
  loom__sched_assign(s, w, out->n, out->cost);
  pol->assigned(pstate, s, w);
  return 1;
}
