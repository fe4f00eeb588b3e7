/* table.h - one rank's replica of the state table.
 *
 * A map from string keys to entries, with the join that makes replicas
 * converge. Every entry is one of:
 *  - a register: bytes, or deleted (a tombstone that remembers when), the
 *    last writer winning by its stamp (ts, origin rank), compared in that
 *    order: no two writes share a stamp, so every replica picks the same;
 *  - a counter: each rank's own totals of increases and of decreases
 *    (they only grow), the value being their difference summed over ranks;
 *  - a min or a max register: the least or greatest number seen.
 * Merging an entry from another replica takes the join of the two: merges
 * commute and repeat harmlessly, so replicas that have seen the same
 * updates hold the same table whatever the order they saw them in. Two
 * kinds on one key (concurrent writers who disagree) join to the kind that
 * ranks higher (counter, max, min, register), so even that converges.
 * No MPI, no threads: state.c owns the table; tests drive it directly.
 */
#ifndef LOOM_TABLE_H
#define LOOM_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum {
  LOOM__KIND_REG = 0,
  LOOM__KIND_MIN = 1,
  LOOM__KIND_MAX = 2,
  LOOM__KIND_COUNTER = 3
};

/* Buckets of the anti-entropy digests (a key's bucket: its hash). */
#define LOOM__TABLE_BUCKETS 64

/* An entry as stored. */
struct loom__entry {
  char *key; /* owned, NUL-terminated */
  uint32_t keylen;
  uint8_t kind;
  uint8_t present;    /* 0: a deleted register, or never set */
  uint64_t ts;        /* register: its stamp (a Lamport clock or a sequence) */
  int32_t origin;     /* register: the rank that wrote it */
  unsigned char *val; /* register bytes (owned; NULL when len 0) */
  uint32_t len;
  int64_t num;    /* min / max */
  int64_t *cnt;   /* counter: up and down of rank r at 2r and 2r+1 */
  uint32_t nrank; /* counter: ranks in cnt */
  uint64_t hash;  /* of the key */
  uint8_t mark;   /* the owner's (state.c: listed as changed) */
};

/* An entry as decoded from a message or the journal: its pointers point
 * into those bytes. A counter comes as pairs of one rank's totals (rank
 * u32, up i64, down i64: 20 bytes, unaligned), only some ranks' maybe (a
 * change sends the totals that changed; the join keeps the rest). */
struct loom__entry_in {
  const char *key;
  uint32_t keylen;
  uint8_t kind;
  uint8_t present;
  uint64_t ts;
  int32_t origin;
  const void *val;
  uint32_t len;
  int64_t num;
  const unsigned char *pairs;
  uint32_t npairs;
};
#define LOOM__PAIR_SIZE 20

struct loom__table {
  struct loom__entry *e; /* never removed: indexes stay valid */
  size_t n, cap;
  uint32_t *slot; /* open addressing: entry index + 1, 0 empty */
  size_t nslot;   /* a power of two */
  size_t bytes;   /* what entries hold, as counted against the budget */
  size_t budget;  /* most bytes local writes may grow it to; 0 = any */
};

void loom__table_init(struct loom__table *t, size_t budget);
void loom__table_fini(struct loom__table *t);

/* The index of key's entry, or -1. */
long loom__table_find(const struct loom__table *t, const char *key,
                      size_t keylen);

/* What an entry of this kind and sizes adds to t->bytes. */
size_t loom__entry_cost(size_t keylen, size_t len, uint32_t nrank);

/* The index of key's entry, made empty (a register never set) if missing.
 * Returns it, or LOOM_ENOMEM. */
long loom__table_make(struct loom__table *t, const char *key, size_t keylen);

/* Would growing the table by `more` bytes pass the budget? */
int loom__table_over(const struct loom__table *t, size_t more);

/* Sets register x to value (len bytes) or, value NULL, deletes it, stamped
 * (ts, origin). Returns 0 or LOOM_ENOMEM. */
int loom__table_set(struct loom__table *t, size_t x, const void *value,
                    size_t len, uint64_t ts, int32_t origin);

/* Adds delta to rank's share of counter x (x made a counter if it was a
 * never-set register). nrank: how many ranks the counter spans. Returns 0
 * or LOOM_ENOMEM. */
int loom__table_add(struct loom__table *t, size_t x, uint32_t nrank, int rank,
                    int64_t delta);

/* A counter's value: its ranks' increases less decreases. */
int64_t loom__entry_count(const struct loom__entry *x);

/* Sets min or max register x (kind LOOM__KIND_MIN / MAX) to v. */
void loom__table_setnum(struct loom__table *t, size_t x, int kind, int64_t v);

/* What a reader sees of an entry: a register's bytes, or the number as
 * decimal text for the other kinds (written into text, at least 24 bytes).
 * Returns the bytes and *len, or NULL when there is nothing to see. */
const void *loom__entry_view(const struct loom__entry *x, char *text,
                             size_t *len);

/* Joins y (from another replica) into the table; *where (may be NULL)
 * gets the entry's index. Returns 1 when the table changed, 0 when not,
 * or LOOM_ENOMEM. Never checks the budget: replicas must apply what others
 * applied. */
int loom__table_merge(struct loom__table *t, const struct loom__entry_in *y,
                      long *where);

/* A digest of the whole state of each entry (stamps and tombstones too),
 * summed over entries so that order does not matter: equal replicas give
 * equal digests. */
uint64_t loom__table_digest(const struct loom__table *t);

/* The same per bucket of keys (a key's bucket: loom__entry_bucket()). */
void loom__table_digests(const struct loom__table *t,
                         uint64_t out[LOOM__TABLE_BUCKETS]);
int loom__entry_bucket(const struct loom__entry *x);

/* Appends x's encoding to b: a counter with the totals of rank `only`, or
 * (only < 0) of every rank that counted. Returns 0 or LOOM_ENOMEM. */
int loom__entry_encode(struct loom__buf *b, const struct loom__entry *x,
                       int only);

/* Decodes the entry at the cursor (common/codec.h) into y. Returns 0, or
 * LOOM_EPROTO when the bytes are short, a length is out of range
 * (LOOM_STATE_KEY_MAX, LOOM_STATE_VALUE_MAX) or the kind unknown. */
struct loom__cur;
int loom__entry_decode(struct loom__cur *c, struct loom__entry_in *y);

#endif /* LOOM_TABLE_H */
