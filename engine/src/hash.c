/* hash.c - the 64-bit hash behind task identities.
 *
 * A task id must stay the same across runs, ranks and releases (resume keys
 * on it), so the function is fixed here and documented in the README: a
 * multiply-xorshift mix over 8-byte little-endian words, finished with the
 * splitmix64 finaliser. Not cryptographic; collisions are 2^-64 per pair.
 */
#include <string.h>

#include "internal.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static uint64_t load_le64(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

uint64_t loom__hash64(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = mix(seed ^ 0x9e3779b97f4a7c15ULL ^ (uint64_t)len);

  while (len >= 8) {
    h = mix(h ^ load_le64(p, 8)) * 0x9e3779b97f4a7c15ULL;
    p += 8;
    len -= 8;
  }
  if (len > 0)
    h = mix(h ^ load_le64(p, len) ^ 0xff51afd7ed558ccdULL);
  return mix(h);
}

uint64_t loom_task_id_derive(const char *kind, const void *payload, size_t len,
                             uint64_t position) {
  const char *k = kind ? kind : "sh";
  uint64_t h = loom__hash64(k, strlen(k), 0x6c6f6f6dULL); /* "loom" */
  h = loom__hash64(payload, len, h);
  h = mix(h ^ mix(position + 0x632be59bd9b4e019ULL));
  /* 0 means "derive me" in a task spec: never hand it out. */
  return h ? h : 1;
}
