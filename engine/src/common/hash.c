/* hash.c - the 64-bit hash behind task identities.
 *
 * A task id must stay the same across runs, ranks and releases (resume keys
 * on it), so the function is fixed here and documented in the README: a
 * multiply-rotate round over each 8-byte little-endian word, finished with
 * the splitmix64 finaliser. Not cryptographic; a collision between two
 * given tasks has odds of about 2^-64.
 */
#include <string.h>

#include "common/common.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* The first n (<= 8) bytes at p as a little-endian number. A tail of 4 to
 * 7 bytes is two overlapping 4-byte loads, one of 1 to 3 bytes three byte
 * loads: a memcpy of a varying length here was a call, 7% of the master's
 * time per task. */
static uint64_t load_le64(const unsigned char *p, size_t n) {
  uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (n == 8) {
    memcpy(&v, p, 8);
  } else if (n >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + n - 4, 4);
    v = (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
  } else if (n > 0) {
    v = (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) |
        (uint64_t)p[n - 1] << (8 * (n - 1));
  }
#else
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
#endif
  return v;
}

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* One multiply-rotate round per 8-byte word, the length folded in, then
 * the splitmix64 finaliser. */
uint64_t loom__hash64(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);

  while (len >= 8) {
    h = rotl(h ^ (load_le64(p, 8) * 0xff51afd7ed558ccdULL), 31) *
        0xc4ceb9fe1a85ec53ULL;
    p += 8;
    len -= 8;
  }
  if (len > 0)
    h = rotl(h ^ (load_le64(p, len) * 0xff51afd7ed558ccdULL), 29) *
        0xc4ceb9fe1a85ec53ULL;
  return mix(h);
}

uint64_t loom__kind_hash(const char *kind) {
  const char *k = kind ? kind : "sh";
  return loom__hash64(k, strlen(k), 0x6c6f6f6dULL); /* "loom" */
}

uint64_t loom__task_id(uint64_t kind_hash, const void *payload, size_t len,
                       uint64_t position) {
  uint64_t h = loom__hash64(payload, len,
                            kind_hash ^ (position * 0x632be59bd9b4e019ULL));
  /* 0 means "derive me" in a task spec: never hand it out. */
  return h ? h : 1;
}

uint64_t loom_task_id_derive(const char *kind, const void *payload, size_t len,
                             uint64_t position) {
  if (!payload)
    len = 0;
  return loom__task_id(loom__kind_hash(kind), payload, len, position);
}

uint64_t loom_task_id_element(uint64_t array_id, uint64_t index) {
  uint64_t h = mix(array_id + (index + 1) * 0x9e3779b97f4a7c15ULL);
  return h ? h : 1;
}

uint64_t loom__task_key(uint64_t kind_hash, const void *text, size_t len) {
  uint64_t h = loom__hash64(text, len, kind_hash ^ 0x6b65792d6b6579ULL);
  return h ? h : 1;
}
