/* inflight.h - the master's record of every task in flight.
 *
 * A task handed to a worker lives in a slot until its last attempt is
 * recorded; the slot's index travels with the task and comes back with its
 * completion, so completions may arrive in any order. A failed attempt
 * with retries left goes back into the slot's retry queue (first in, first
 * out) and keeps its slot. Slots come in two parts: what every task needs,
 * packed small so a window of thousands of tiny tasks stays in cache, and
 * what only a joblog or a retry needs, in a parallel array touched only
 * then. No MPI: the master owns one, the unit tests drive one.
 */
#ifndef LOOM_INFLIGHT_H
#define LOOM_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define LOOM__NO_SLOT UINT32_MAX

struct loom__slot {
  uint64_t id;
  uint64_t line;
  double cost;
  uint16_t kind;
  uint16_t attempt;
  uint16_t cores; /* cores it needs at once (>= 1): each completion counts
                     its core-seconds, so it lives here, not in the cold
                     part (a cache miss per task there) */
  uint16_t array; /* 1: an array's element, or a run of them (the cold
                     part says which) */
  int32_t worker; /* -1 while not in flight */
  int32_t retries_left;
  int32_t last_worker; /* where the last failed attempt ran, or -1 */
  uint32_t next;       /* free list or retry queue */
};

_Static_assert(sizeof(struct loom__slot) <= 48,
               "the hot part of a slot stays within 48 bytes");

struct loom__slot_cold {
  /* An array's slot (array set): the index of its first element, the
   * elements in it (a run: more than 1; its id and key are the array's,
   * each element's derived) and how many of them were answered. */
  uint64_t index;
  uint32_t count;
  uint32_t answered;
  uint64_t key;     /* what a resumed run matches on (resume.h) */
  const char *text; /* joblog text: own_text's, or a kind name */
  size_t text_len;
  struct loom__buf own_text; /* owned, reused */
  double timeout;            /* kept for retries, with the requests */
  uint64_t mem;
  struct loom__buf payload; /* kept for retries, owned, reused */
  int returned;             /* in the retry queue because a worker gave it back
                               unstarted (no attempt of it ran) */
};

struct loom__inflight {
  struct loom__slot *s;
  struct loom__slot_cold *c;
  uint32_t n; /* slots made */
  size_t cap, cold_cap;
  uint32_t free_head;
  uint32_t retry_head, retry_tail;
  uint64_t count; /* attempts in flight */
};

void loom__inflight_init(struct loom__inflight *f);
void loom__inflight_fini(struct loom__inflight *f);

/* A free slot (its cold part keeps its buffers for reuse). Returns 0 or
 * LOOM_ENOMEM. */
int loom__inflight_alloc(struct loom__inflight *f, uint32_t *out);

/* Gives slot i back. */
void loom__inflight_free(struct loom__inflight *f, uint32_t i);

/* Queues slot i for another attempt, behind the others waiting. */
void loom__inflight_retry_push(struct loom__inflight *f, uint32_t i);

/* Removes and returns the first slot waiting for a retry (there must be
 * one: retry_head != LOOM__NO_SLOT). */
uint32_t loom__inflight_retry_pop(struct loom__inflight *f);

/* Is slot i a valid slot handed to worker w (a completion's check)? */
static inline int loom__inflight_owned(const struct loom__inflight *f,
                                       uint32_t i, int w) {
  return i < f->n && f->s[i].worker == w;
}

#endif /* LOOM_INFLIGHT_H */
