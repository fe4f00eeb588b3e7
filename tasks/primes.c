/* primes.c - the kind that counts the primes below limit=, split into count
 * ranges, and checks the total against known values.
 *
 * Task i sieves [i*limit/count, (i+1)*limit/count), so the ranges tile
 * [0, limit) exactly. Workers run a segmented sieve whose memory is
 * O(sqrt(hi)) plus one 256 KiB segment, whatever the range's length.
 * Payload: uint64 lo, hi. Reply: uint64 count.
 */
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRIMES_KEYS "limit"
#define PRIMES_PAYLOAD (2 * sizeof(uint64_t))
/* sqrt(1e14) = 1e7: the base-prime sieve of a task stays at 5 MB. */
#define PRIMES_LIMIT_MAX UINT64_C(100000000000000)
#define SEGMENT_BYTES ((size_t)256u * 1024u)
/* The master checks limits that are not powers of ten with its own sieve
 * up to here (6 MB of bits, well under a second). */
#define CHECK_SIEVE_MAX UINT64_C(100000000)

struct primes_state {
  uint64_t limit;
  uint64_t count; /* tasks */
  uint64_t reported;
  uint64_t total;
};

/* pi(10^k) for k = 0..14 (OEIS A000720 at powers of ten). */
static const uint64_t pi_pow10[] = {
    0,         4,          25,          168,          1229,
    9592,      78498,      664579,      5761455,      50847534,
    455052511, 4118054813, 37607912018, 346065536839, 3204941750802,
};

static uint64_t isqrt_u64(uint64_t n) {
  uint64_t r = (uint64_t)sqrt((double)n);
  if (r > 0xFFFFFFFFu)
    r = 0xFFFFFFFFu;
  /* The double may be off by one either way for large n. */
  while (r > 0 && r * r > n)
    r--;
  while (r < 0xFFFFFFFFu && (r + 1) * (r + 1) <= n)
    r++;
  return r;
}

/* The odd primes 3..root, ascending, in a new array (*n of them). Returns
 * NULL when out of memory (or when there are none, with *n = 0). */
static uint64_t *base_primes(uint64_t root, size_t *n) {
  *n = 0;
  if (root < 3)
    return NULL;
  /* Odd numbers only: index k stands for 2k + 1. */
  size_t half = (size_t)(root / 2) + 1;
  unsigned char *composite = calloc(half, 1);
  if (composite == NULL)
    return NULL;
  for (size_t k = 1; (2 * k + 1) * (2 * k + 1) <= root; k++) {
    if (composite[k])
      continue;
    size_t p = 2 * k + 1;
    for (size_t j = p * p / 2; j < half; j += p)
      composite[j] = 1;
  }
  size_t cnt = 0;
  for (size_t k = 1; k < half && 2 * k + 1 <= root; k++)
    cnt += !composite[k];
  uint64_t *primes = malloc((cnt > 0 ? cnt : 1) * sizeof *primes);
  if (primes != NULL) {
    for (size_t k = 1; k < half && 2 * k + 1 <= root; k++) {
      if (!composite[k])
        primes[(*n)++] = 2 * k + 1;
    }
  }
  free(composite);
  return primes;
}

uint64_t primes_count_range(uint64_t lo, uint64_t hi) {
  uint64_t count = 0;
  uint64_t *primes = NULL;
  unsigned char *seg = NULL;
  size_t nprimes = 0;

  if (lo < 2)
    lo = 2;
  if (hi <= lo)
    return 0;
  if (lo == 2) {
    count = 1; /* the only even prime; the sieve below sees odd numbers */
    lo = 3;
  }
  if (hi <= lo)
    return count;

  /* A composite below hi has a prime factor <= sqrt(hi - 1). */
  uint64_t root = isqrt_u64(hi - 1);
  primes = base_primes(root, &nprimes);
  seg = malloc(SEGMENT_BYTES);
  if (seg == NULL || (root >= 3 && primes == NULL)) {
    count = UINT64_MAX;
    goto out;
  }

  /* Index m stands for the odd number 2m + 1; [lo, hi) holds the indices
   * [lo / 2, hi / 2), and lo >= 3 keeps 1 out. */
  uint64_t mhi = hi / 2;
  for (uint64_t m0 = lo / 2; m0 < mhi; m0 += SEGMENT_BYTES) {
    uint64_t m1 = mhi - m0 > SEGMENT_BYTES ? m0 + SEGMENT_BYTES : mhi;
    size_t len = (size_t)(m1 - m0);
    uint64_t first = 2 * m0 + 1, last = 2 * (m1 - 1) + 1;
    memset(seg, 0, len);
    for (size_t k = 0; k < nprimes; k++) {
      uint64_t p = primes[k];
      if (p * p > last)
        break;
      /* The first odd multiple of p in the segment, but never p itself or
       * a smaller multiple: those are found by smaller primes. */
      uint64_t start = p * p;
      if (start < first) {
        start = (first + p - 1) / p * p;
        if (start % 2 == 0)
          start += p;
      }
      for (uint64_t j = (start - 1) / 2 - m0; j < len; j += p)
        seg[j] = 1;
    }
    for (size_t j = 0; j < len; j++)
      count += !seg[j];
  }

out:
  free(seg);
  free(primes);
  return count;
}

/* An independent, plain check for the master: a bit sieve over the odd
 * numbers below n. Returns UINT64_MAX when out of memory. */
static uint64_t simple_sieve_count(uint64_t n) {
  if (n <= 2)
    return 0;
  size_t m = (size_t)(n / 2); /* odd numbers 2k + 1 < n, k in [0, m) */
  unsigned char *bits = calloc(m / 8 + 1, 1);
  if (bits == NULL)
    return UINT64_MAX;
  bits[0] |= 1; /* 1 is not prime */
  for (size_t k = 1; (2 * k + 1) * (2 * k + 1) < n; k++) {
    if (bits[k / 8] & (1u << (k % 8)))
      continue;
    size_t p = 2 * k + 1;
    for (size_t j = p * p / 2; j < m; j += p)
      bits[j / 8] |= (unsigned char)(1u << (j % 8));
  }
  uint64_t count = 1; /* 2 */
  for (size_t k = 0; k < m; k++)
    count += !(bits[k / 8] & (1u << (k % 8)));
  free(bits);
  return count;
}

static int primes_setup(const struct kind_arg *args, size_t nargs, void **state,
                        char *err, size_t errlen) {
  struct primes_state *s = NULL;
  int rc = kind_args_check(args, nargs, PRIMES_KEYS, "primes", err, errlen);
  if (rc != 0)
    goto out;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    rc = LOOM_ENOMEM;
    goto out;
  }
  rc = kind_arg_u64(args, nargs, "limit", 10000000, 2, PRIMES_LIMIT_MAX,
                    &s->limit, err, errlen);
  if (rc != 0) {
    kind_err_prefix(err, errlen, "primes");
    goto out;
  }
  if (kind_arg_get(args, nargs, "count") == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen,
               "primes: missing count= (the number of tasks to split the "
               "range into)");
    rc = LOOM_EINVAL;
    goto out;
  }
  rc = kind_arg_u64(args, nargs, "count", 1, 1, UINT64_MAX, &s->count, err,
                    errlen);
  if (rc != 0) {
    kind_err_prefix(err, errlen, "primes");
    goto out;
  }

out:
  if (rc != 0) {
    free(s);
    s = NULL;
  }
  *state = s;
  return rc;
}

/* i * limit / count without overflow: i < count and limit < 2^64, so the
 * product needs up to 128 bits. */
static uint64_t split_point(uint64_t i, uint64_t limit, uint64_t count) {
  __extension__ typedef unsigned __int128 u128;
  return (uint64_t)((u128)i * limit / count);
}

static int primes_make(void *state, uint64_t i, unsigned char *buf, size_t cap,
                       size_t *len, double *cost) {
  const struct primes_state *s = state;
  (void)cost;
  if (i >= s->count)
    return LOOM_EINVAL;
  if (cap < PRIMES_PAYLOAD)
    return LOOM_ETOOBIG;
  uint64_t range[2] = {split_point(i, s->limit, s->count),
                       split_point(i + 1, s->limit, s->count)};
  memcpy(buf, range, sizeof range);
  *len = PRIMES_PAYLOAD;
  return 0;
}

static int primes_run(struct loom_task *task, const void *payload, size_t len,
                      void *arg) {
  (void)arg;
  uint64_t range[2];
  if (len != PRIMES_PAYLOAD)
    return 2; /* not a payload this kind made */
  memcpy(range, payload, sizeof range);
  if (range[0] > range[1] || range[1] > PRIMES_LIMIT_MAX)
    return 2;
  uint64_t count = primes_count_range(range[0], range[1]);
  if (count == UINT64_MAX)
    return 3; /* out of memory */
  if (loom_task_reply(task, &count, sizeof count) != 0)
    return 3;
  return 0;
}

static void primes_result(void *state, const struct loom_result *res) {
  struct primes_state *s = state;
  if (res->exit_code != 0 || res->len != sizeof(uint64_t) || res->data == NULL)
    return;
  uint64_t count;
  memcpy(&count, res->data, sizeof count);
  s->total += count;
  s->reported++;
}

/* Returns k if n == 10^k, else -1. */
static int power_of_ten(uint64_t n) {
  int k = 0;
  while (n >= 10 && n % 10 == 0) {
    n /= 10;
    k++;
  }
  return n == 1 ? k : -1;
}

static int primes_finish(void *state, FILE *out) {
  const struct primes_state *s = state;
  unsigned long long total = (unsigned long long)s->total;
  unsigned long long limit = (unsigned long long)s->limit;
  int rc = 0;

  if (s->reported != s->count) {
    fprintf(out,
            "primes below %llu: %llu (incomplete: %llu of %llu tasks "
            "reported)\n",
            limit, total, (unsigned long long)s->reported,
            (unsigned long long)s->count);
    return 1;
  }

  int k = power_of_ten(s->limit);
  uint64_t expected = UINT64_MAX;
  if (k >= 0 && (size_t)k < sizeof pi_pow10 / sizeof pi_pow10[0])
    expected = pi_pow10[k];
  else if (s->limit <= CHECK_SIEVE_MAX)
    expected = simple_sieve_count(s->limit);

  if (expected == UINT64_MAX) {
    fprintf(out, "primes below %llu: %llu (unchecked)\n", limit, total);
  } else if (expected == s->total) {
    fprintf(out, "primes below %llu: %llu (checked)\n", limit, total);
  } else {
    fprintf(out, "primes below %llu: %llu (WRONG: expected %llu)\n", limit,
            total, (unsigned long long)expected);
    rc = 1;
  }
  return rc;
}

const struct kind kind_primes = {
    .name = "primes",
    .summary = "count the primes below limit with a segmented sieve, checked",
    .params = "limit=10000000",
    .setup = primes_setup,
    .make = primes_make,
    .run = primes_run,
    .result = primes_result,
    .finish = primes_finish,
    .free = free,
};
