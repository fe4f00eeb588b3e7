/* table.c - one rank's replica of the state table (table.h).
 *
 * Encoding of an entry (host byte order):
 *   keylen u16, key bytes, kind u8, present u8, then by kind
 *   register: ts u64, origin i32, len u32, bytes
 *   min, max: num i64
 *   counter:  npairs u32, npairs x (rank u32, up i64, down i64)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/common.h"
#include "state/table.h"

#define ENTRY_OVERHEAD 64 /* bytes an entry costs besides key and value */
#define HASH_SEED 0x6c6f6f6d7374ULL

void loom__table_init(struct loom__table *t, size_t budget) {
  memset(t, 0, sizeof(*t));
  t->budget = budget;
}

void loom__table_fini(struct loom__table *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->e[i].key);
    free(t->e[i].val);
    free(t->e[i].cnt);
  }
  free(t->e);
  free(t->slot);
  memset(t, 0, sizeof(*t));
}

size_t loom__entry_cost(size_t keylen, size_t len, uint32_t nrank) {
  return ENTRY_OVERHEAD + keylen + len + 16 * (size_t)nrank;
}

int loom__table_over(const struct loom__table *t, size_t more) {
  return t->budget && (more > t->budget || t->bytes > t->budget - more);
}

static uint64_t key_hash(const char *key, size_t keylen) {
  return loom__hash64(key, keylen, HASH_SEED);
}

long loom__table_find(const struct loom__table *t, const char *key,
                      size_t keylen) {
  size_t mask = t->nslot - 1, i;
  uint64_t h;

  if (t->nslot == 0)
    return -1;
  h = key_hash(key, keylen);
  for (i = (size_t)h & mask; t->slot[i]; i = (i + 1) & mask) {
    const struct loom__entry *x = &t->e[t->slot[i] - 1];
    if (x->hash == h && x->keylen == keylen && !memcmp(x->key, key, keylen))
      return (long)(t->slot[i] - 1);
  }
  return -1;
}

static void slot_put(uint32_t *slot, size_t nslot, uint64_t h, uint32_t idx) {
  size_t i;
  for (i = (size_t)h & (nslot - 1); slot[i]; i = (i + 1) & (nslot - 1))
    ;
  slot[i] = idx + 1;
}

/* Keeps the slots under half full. */
static int rehash(struct loom__table *t) {
  size_t nslot = t->nslot ? t->nslot * 2 : 64;
  uint32_t *slot;

  if (nslot > UINT32_MAX)
    return LOOM_ENOMEM;
  slot = calloc(nslot, sizeof(*slot));
  if (!slot)
    return LOOM_ENOMEM;
  for (size_t i = 0; i < t->n; i++)
    slot_put(slot, nslot, t->e[i].hash, (uint32_t)i);
  free(t->slot);
  t->slot = slot;
  t->nslot = nslot;
  return 0;
}

long loom__table_make(struct loom__table *t, const char *key, size_t keylen) {
  long found = loom__table_find(t, key, keylen);
  struct loom__entry *x;
  void *grown;

  if (found >= 0)
    return found;
  if ((t->n + 1) * 2 > t->nslot && rehash(t) != 0)
    return LOOM_ENOMEM;
  grown = loom__array_grow(t->e, &t->cap, t->n + 1, sizeof(*t->e));
  if (!grown)
    return LOOM_ENOMEM;
  t->e = grown;
  x = &t->e[t->n];
  memset(x, 0, sizeof(*x));
  x->key = loom__str_dup(key, keylen);
  if (!x->key)
    return LOOM_ENOMEM;
  x->keylen = (uint32_t)keylen;
  x->hash = key_hash(key, keylen);
  x->origin = -1;
  slot_put(t->slot, t->nslot, x->hash, (uint32_t)t->n);
  t->bytes += loom__entry_cost(keylen, 0, 0);
  return (long)t->n++;
}

int loom__table_set(struct loom__table *t, size_t x, const void *value,
                    size_t len, uint64_t ts, int32_t origin) {
  struct loom__entry *e = &t->e[x];
  unsigned char *copy = NULL;

  if (value && len > 0) {
    copy = loom__mem_dup(value, len);
    if (!copy)
      return LOOM_ENOMEM;
  }
  t->bytes -= e->len;
  free(e->val);
  e->val = copy;
  e->len = value ? (uint32_t)len : 0;
  t->bytes += e->len;
  e->present = value != NULL;
  e->kind = LOOM__KIND_REG;
  e->ts = ts;
  e->origin = origin;
  return 0;
}

/* Has rank r of counter x counted anything? */
static int counted(const struct loom__entry *x, uint32_t r) {
  return x->cnt[2 * (size_t)r] || x->cnt[2 * (size_t)r + 1];
}

/* Frees a register's bytes (the entry becomes another kind). */
static void drop_value(struct loom__table *t, struct loom__entry *x) {
  t->bytes -= x->len;
  free(x->val);
  x->val = NULL;
  x->len = 0;
}

/* Makes x a counter over at least nrank ranks. */
static int counter_widen(struct loom__table *t, struct loom__entry *x,
                         uint32_t nrank) {
  int64_t *cnt;

  if (x->kind == LOOM__KIND_COUNTER && x->nrank >= nrank)
    return 0;
  cnt = calloc(2 * (size_t)nrank, sizeof(*cnt));
  if (!cnt)
    return LOOM_ENOMEM;
  if (x->kind == LOOM__KIND_COUNTER && x->cnt) {
    memcpy(cnt, x->cnt, 2 * (size_t)x->nrank * sizeof(*cnt));
  } else { /* a register or number becomes a counter: joined away */
    drop_value(t, x);
    x->nrank = 0;
  }
  t->bytes += 16 * (size_t)(nrank - x->nrank);
  free(x->cnt);
  x->cnt = cnt;
  x->nrank = nrank;
  x->kind = LOOM__KIND_COUNTER;
  x->present = 1;
  return 0;
}

int loom__table_add(struct loom__table *t, size_t x, uint32_t nrank, int rank,
                    int64_t delta) {
  struct loom__entry *e = &t->e[x];
  int rc = counter_widen(t, e, nrank > (uint32_t)rank ? nrank : rank + 1u);
  int64_t *mine;

  if (rc != 0)
    return rc;
  /* Totals grow by magnitudes; wrapping is the caller's to refuse. */
  mine = &e->cnt[2 * (size_t)rank];
  if (delta >= 0)
    mine[0] = (int64_t)((uint64_t)mine[0] + (uint64_t)delta);
  else
    mine[1] = (int64_t)((uint64_t)mine[1] - (uint64_t)delta);
  return 0;
}

int64_t loom__entry_count(const struct loom__entry *x) {
  uint64_t sum = 0;
  for (uint32_t r = 0; r < x->nrank; r++)
    sum +=
        (uint64_t)x->cnt[2 * (size_t)r] - (uint64_t)x->cnt[2 * (size_t)r + 1];
  return (int64_t)sum;
}

void loom__table_setnum(struct loom__table *t, size_t x, int kind, int64_t v) {
  struct loom__entry *e = &t->e[x];
  drop_value(t, e);
  e->kind = (uint8_t)kind;
  e->num = v;
  e->present = 1;
}

const void *loom__entry_view(const struct loom__entry *x, char *text,
                             size_t *len) {
  int64_t v;

  if (!x->present) {
    *len = 0;
    return NULL;
  }
  if (x->kind == LOOM__KIND_REG) {
    *len = x->len;
    return x->val ? (const void *)x->val : (const void *)"";
  }
  v = x->kind == LOOM__KIND_COUNTER ? loom__entry_count(x) : x->num;
  *len = (size_t)snprintf(text, 24, "%" PRId64, v);
  return text;
}

/* Does register stamp (ts, origin) of y win over x's? A never-set entry
 * (origin -1) loses to any write. */
static int reg_wins(const struct loom__entry *x,
                    const struct loom__entry_in *y) {
  if (y->ts != x->ts)
    return y->ts > x->ts;
#ifdef LOOM_BROKEN_NO_TIEBREAK
  /* A deliberately broken build (tests): no tie-break, each replica keeps
   * its own write on equal clocks, and replicas never agree. */
  return x->origin < 0;
#else
  return y->origin > x->origin;
#endif
}

/* Counter pair i of a decoded entry: its rank and its two totals. */
static uint32_t pair_at(const struct loom__entry_in *y, uint32_t i,
                        int64_t v[2]) {
  const unsigned char *p = y->pairs + LOOM__PAIR_SIZE * (size_t)i;
  uint32_t r;

  memcpy(&r, p, 4);
  memcpy(v, p + 4, 16);
  return r;
}

static int merge_counter(struct loom__table *t, struct loom__entry *x,
                         const struct loom__entry_in *y) {
  int changed = x->kind != LOOM__KIND_COUNTER, rc;
  uint32_t need = x->nrank;
  int64_t v[2];

  for (uint32_t i = 0; i < y->npairs; i++) {
    uint32_t r = pair_at(y, i, v);
    if (r + 1 > need)
      need = r + 1;
  }
  rc = counter_widen(t, x, need);
  if (rc != 0)
    return rc;
  for (uint32_t i = 0; i < y->npairs; i++) {
    uint32_t r = pair_at(y, i, v);
    for (int k = 0; k < 2; k++)
      if (v[k] > x->cnt[2 * r + k]) {
        x->cnt[2 * r + k] = v[k];
        changed = 1;
      }
  }
  return changed;
}

int loom__table_merge(struct loom__table *t, const struct loom__entry_in *y,
                      long *where) {
  long i = loom__table_make(t, y->key, y->keylen);
  struct loom__entry *x;
  int rc;

  if (where)
    *where = i;
  if (i < 0)
    return (int)i;
  x = &t->e[i];
  if (y->kind == LOOM__KIND_REG && y->origin < 0)
    return 0; /* a register never written: nothing to join */
  if (y->kind < x->kind && (x->present || x->origin >= 0))
    return 0; /* the lower kind loses */
  switch (y->kind) {
  case LOOM__KIND_REG:
    if (x->kind == LOOM__KIND_REG && (x->origin >= 0 || x->present) &&
        !reg_wins(x, y))
      return 0;
    rc = loom__table_set(t, (size_t)i, y->present ? y->val : NULL, y->len,
                         y->ts, y->origin);
    return rc == 0 ? 1 : rc;
  case LOOM__KIND_MIN:
  case LOOM__KIND_MAX:
    if (x->kind == y->kind && x->present &&
        (y->kind == LOOM__KIND_MIN ? y->num >= x->num : y->num <= x->num))
      return 0;
    loom__table_setnum(t, (size_t)i, y->kind, y->num);
    return 1;
  default:
    return merge_counter(t, x, y);
  }
}

/* ---- digests ----------------------------------------------------------- */

int loom__entry_bucket(const struct loom__entry *x) {
  return (int)(x->hash >> 58) % LOOM__TABLE_BUCKETS;
}

static uint64_t entry_digest(const struct loom__entry *x) {
  uint64_t h = x->hash, fixed[4];

  fixed[0] = x->kind;
  fixed[1] = x->present;
  switch (x->kind) {
  case LOOM__KIND_REG:
    fixed[2] = x->ts;
    fixed[3] = (uint64_t)(int64_t)x->origin;
    h = loom__hash64(fixed, sizeof(fixed), h);
    return loom__hash64(x->val, x->len, h);
  case LOOM__KIND_COUNTER: {
    /* Trailing ranks with nothing counted are as good as absent. */
    uint32_t n = x->nrank;
    while (n > 0 && !counted(x, n - 1))
      n--;
    h = loom__hash64(fixed, 2 * sizeof(fixed[0]), h);
    return loom__hash64(x->cnt, 16 * (size_t)n, h);
  }
  default:
    fixed[2] = (uint64_t)x->num;
    return loom__hash64(fixed, 3 * sizeof(fixed[0]), h);
  }
}

/* Entries made but never written (a write that failed) do not count. */
static int written(const struct loom__entry *x) {
  return x->present || x->origin >= 0;
}

uint64_t loom__table_digest(const struct loom__table *t) {
  uint64_t sum = 0;
  for (size_t i = 0; i < t->n; i++)
    if (written(&t->e[i]))
      sum += entry_digest(&t->e[i]);
  return sum;
}

void loom__table_digests(const struct loom__table *t,
                         uint64_t out[LOOM__TABLE_BUCKETS]) {
  memset(out, 0, LOOM__TABLE_BUCKETS * sizeof(*out));
  for (size_t i = 0; i < t->n; i++)
    if (written(&t->e[i]))
      out[loom__entry_bucket(&t->e[i])] += entry_digest(&t->e[i]);
}

/* ---- encoding ---------------------------------------------------------- */

static int put_pair(struct loom__buf *b, const struct loom__entry *x,
                    uint32_t r) {
  loom__put_u32(b, r);
  return loom__buf_append(b, &x->cnt[2 * (size_t)r], 16);
}

int loom__entry_encode(struct loom__buf *b, const struct loom__entry *x,
                       int only) {
  int rc = loom__buf_reserve(b, 32 + x->keylen + x->len +
                                    LOOM__PAIR_SIZE * (size_t)x->nrank);
  uint32_t n = 0;

  if (rc != 0)
    return rc;
  loom__put_u16(b, (uint16_t)x->keylen);
  loom__buf_append(b, x->key, x->keylen);
  loom__put_u8(b, x->kind);
  loom__put_u8(b, x->present);
  switch (x->kind) {
  case LOOM__KIND_REG:
    loom__put_u64(b, x->ts);
    loom__put_u32(b, (uint32_t)x->origin);
    loom__put_u32(b, x->len);
    return loom__buf_append(b, x->val, x->len);
  case LOOM__KIND_COUNTER:
    if (only >= 0) {
      if ((uint32_t)only >= x->nrank)
        return loom__put_u32(b, 0);
      loom__put_u32(b, 1);
      return put_pair(b, x, (uint32_t)only);
    }
    for (uint32_t r = 0; r < x->nrank; r++)
      n += (uint32_t)counted(x, r);
    loom__put_u32(b, n);
    for (uint32_t r = 0; r < x->nrank; r++)
      if (counted(x, r))
        put_pair(b, x, r);
    return 0;
  default:
    return loom__put_i64(b, x->num);
  }
}

/* Counter pairs: ranks in range, totals never negative. */
static int pairs_ok(const struct loom__entry_in *y) {
  int64_t v[2];

  for (uint32_t i = 0; i < y->npairs; i++) {
    uint32_t r = pair_at(y, i, v);
    if (r >= LOOM_STATE_RANKS_MAX || v[0] < 0 || v[1] < 0)
      return 0;
  }
  return 1;
}

int loom__entry_decode(struct loom__cur *c, struct loom__entry_in *y) {
  memset(y, 0, sizeof(*y));
  y->keylen = loom__get_u16(c);
  y->key = loom__cur_take(c, y->keylen);
  y->kind = loom__get_u8(c);
  y->present = loom__get_u8(c);
  y->origin = -1;
  switch (y->kind) {
  case LOOM__KIND_REG:
    y->ts = loom__get_u64(c);
    y->origin = (int32_t)loom__get_u32(c);
    y->len = loom__get_u32(c);
    if (y->len > LOOM_STATE_VALUE_MAX)
      return LOOM_EPROTO;
    y->val = loom__cur_take(c, y->len);
    break;
  case LOOM__KIND_MIN:
  case LOOM__KIND_MAX:
    y->num = loom__get_i64(c);
    break;
  case LOOM__KIND_COUNTER:
    y->npairs = loom__get_u32(c);
    if (y->npairs > LOOM_STATE_RANKS_MAX)
      return LOOM_EPROTO;
    y->pairs = loom__cur_take(c, LOOM__PAIR_SIZE * (size_t)y->npairs);
    if (!c->bad && !pairs_ok(y))
      return LOOM_EPROTO;
    break;
  default:
    return LOOM_EPROTO;
  }
  if (c->bad || y->keylen == 0 || y->keylen > LOOM_STATE_KEY_MAX ||
      memchr(y->key, '\0', y->keylen) || y->present > 1 || y->origin < -1 ||
      (y->kind != LOOM__KIND_REG && !y->present))
    return LOOM_EPROTO;
  return 0;
}
