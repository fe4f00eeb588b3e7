/* faults.c - the fault injector on the state messages' send path.
 *
 * For tests: LOOM_STATE_FAULTS="seed=N,delay=P:MAX,dup=P,drop=P,
 * partition=FROM:TO:RANKS" makes each state message this rank sends, with
 * the chances given, wait up to MAX seconds (which reorders them), go out
 * twice, or be lost (eventual mode only: the other modes need every
 * message and say so at the start). A partition holds every message
 * between RANKS (e.g. 0-1 or 0+2) and the other ranks from FROM to TO
 * seconds after the run's start, then lets them through (it heals). The
 * choices come from a generator seeded with seed and the rank: a run
 * replays with the same seed (message timing aside).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "state/internal.h"

static uint64_t next(uint64_t *x) { /* xorshift64* */
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * UINT64_C(2685821657736338717);
}

static double chance(uint64_t *x) {
  return (double)(next(x) >> 11) / (double)(UINT64_C(1) << 53);
}

/* Parses "0-1" or "0+2+3" into a mask of ranks (0..63). */
static int parse_ranks(const char *v, uint64_t *mask) {
  char *end;
  *mask = 0;
  while (*v) {
    long a = strtol(v, &end, 10), b = a;
    if (end == v || a < 0 || a > 63)
      return -1;
    if (*end == '-') {
      v = end + 1;
      b = strtol(v, &end, 10);
      if (end == v || b < a || b > 63)
        return -1;
    }
    for (long r = a; r <= b; r++)
      *mask |= UINT64_C(1) << r;
    if (*end != '+' && *end != '\0')
      return -1;
    v = *end ? end + 1 : end;
  }
  return *mask ? 0 : -1;
}

static int parse_prob(const char *v, double *p) {
  char *end;
  *p = strtod(v, &end);
  return end != v && *end == '\0' && *p >= 0 && *p <= 1 ? 0 : -1;
}

static int parse_item(struct loom__faults *f, char *item, int mode) {
  char *v = strchr(item, '='), *end;
  uint64_t seed;

  if (!v)
    return -1;
  *v++ = '\0';
  if (!strcmp(item, "seed")) {
    seed = strtoull(v, &end, 10);
    if (end == v || *end)
      return -1;
    f->rng = seed;
    return 0;
  }
  if (!strcmp(item, "dup"))
    return parse_prob(v, &f->dup_p);
  if (!strcmp(item, "drop"))
    return mode == LOOM_STATE_EVENTUAL ? parse_prob(v, &f->drop_p) : -2;
  if (!strcmp(item, "delay")) {
    char *colon = strchr(v, ':');
    if (!colon)
      return -1;
    *colon = '\0';
    f->delay_max = strtod(colon + 1, &end);
    if (end == colon + 1 || *end || !(f->delay_max > 0) || f->delay_max > 60)
      return -1;
    return parse_prob(v, &f->delay_p);
  }
  if (!strcmp(item, "partition")) {
    char *a = strchr(v, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!b)
      return -1;
    *a = *b = '\0';
    f->part_from = strtod(v, &end);
    if (end == v || *end)
      return -1;
    f->part_to = strtod(a + 1, &end);
    if (end == a + 1 || *end || !(f->part_to > f->part_from) ||
        !(f->part_from >= 0))
      return -1;
    return parse_ranks(b + 1, &f->part_mask);
  }
  return -1;
}

int loom__faults_parse(struct loom__faults *f, const char *spec, int rank,
                       int mode, char *err, size_t errlen) {
  char copy[sizeof(f->spec)], *save = NULL;
  uint64_t seed;

  memset(f, 0, sizeof(*f));
  if (strlen(spec) >= sizeof(copy)) {
    snprintf(err, errlen, "LOOM_STATE_FAULTS: longer than %zu bytes",
             sizeof(copy) - 1);
    return LOOM_EINVAL;
  }
  snprintf(f->spec, sizeof(f->spec), "%s", spec);
  snprintf(copy, sizeof(copy), "%s", spec);
  f->rng = 1;
  for (char *item = strtok_r(copy, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    char shown[sizeof(copy)];
    int rc;
    snprintf(shown, sizeof(shown), "%s", item);
    rc = parse_item(f, item, mode);
    if (rc != 0) {
      snprintf(err, errlen,
               rc == -2 ? "LOOM_STATE_FAULTS: '%s': messages may only be "
                          "dropped in eventual mode (the others need every "
                          "one)"
                        : "LOOM_STATE_FAULTS: '%s' is not seed=N, "
                          "delay=P:MAX, dup=P, drop=P or "
                          "partition=FROM:TO:RANKS",
               shown);
      return LOOM_EINVAL;
    }
  }
  seed = f->rng;
  f->rng = (seed ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(rank + 1))) | 1;
  f->on = 1;
  return 0;
}

static int side(const struct loom__faults *f, int rank) {
  return rank < 64 && (f->part_mask >> rank & 1);
}

int loom__faults_decide(struct loom__faults *f, int rank, int dest, int tag,
                        double now, double *delay) {
  double t = now - f->t0;
  int copies = 1;

  *delay = 0;
  if (f->part_mask && t >= f->part_from && t < f->part_to &&
      side(f, rank) != side(f, dest)) {
    *delay = f->part_to - t; /* held until the partition heals */
    return 1;
  }
  if (f->drop_p > 0 &&
      (tag == LOOM__TAG_STATE_UPD || tag == LOOM__TAG_STATE_AE) &&
      chance(&f->rng) < f->drop_p)
    return -1;
  if (f->dup_p > 0 && chance(&f->rng) < f->dup_p)
    copies = 2;
  if (f->delay_p > 0 && chance(&f->rng) < f->delay_p)
    *delay = chance(&f->rng) * f->delay_max;
  return copies;
}
