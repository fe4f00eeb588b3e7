/* test_hash.c - unit tests of task identities (engine/src/hash.c).
 *
 * Resume keys on loom_task_id_derive(), so its values are pinned here: the
 * known values below were computed once from the multiply-rotate hash the
 * README documents, and a change that moves any of them breaks every
 * journal written before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "dispatch/engine.h"

static void test_task_id_derive_matches_known_values(void **st) {
  (void)st;
  static const unsigned char bytes[3] = {1, 2, 3};
  assert_true(loom_task_id_derive("sh", "echo hello", 10, UINT64_C(1) << 32) ==
              UINT64_C(0x3f06e4ea4cac401f));
  assert_true(loom_task_id_derive("sh", "", 0, 0) ==
              UINT64_C(0xc8ae0749407ec0d5));
  assert_true(loom_task_id_derive("noop", NULL, 0, 7) ==
              UINT64_C(0xdebbd7131bfb1d49));
  assert_true(loom_task_id_derive("pi", bytes, 3, 42) ==
              UINT64_C(0x4c82c31376957bbd));
  /* Longer than one 8-byte word, with a tail; a repeat position. */
  assert_true(loom_task_id_derive("sh", "0123456789abcdef!", 17,
                                  (UINT64_C(5) << 32) | 3) ==
              UINT64_C(0xd1d6516e67002dcc));
}

static void test_task_id_derive_is_stable_across_calls(void **st) {
  (void)st;
  char copy[32];
  uint64_t a = loom_task_id_derive("sh", "sleep 1", 7, 99);
  memcpy(copy, "sleep 1", 7);
  /* Only the bytes matter, not where they live. */
  assert_true(loom_task_id_derive("sh", copy, 7, 99) == a);
  assert_true(loom_task_id_derive("sh", "sleep 1", 7, 99) == a);
}

static void test_task_id_derive_reads_a_null_kind_as_sh(void **st) {
  (void)st;
  assert_true(loom_task_id_derive(NULL, "true", 4, 1) ==
              loom_task_id_derive("sh", "true", 4, 1));
}

static void test_task_id_derive_differs_by_position(void **st) {
  (void)st;
  uint64_t ids[64];
  for (uint64_t i = 0; i < 64; i++) {
    /* Lines, and repeat indices within a line, as the task file uses. */
    uint64_t pos = i < 32 ? i << 32 : (UINT64_C(7) << 32) | (i - 31);
    ids[i] = loom_task_id_derive("sh", "echo same", 9, pos);
    for (uint64_t j = 0; j < i; j++)
      assert_true(ids[i] != ids[j]);
  }
}

static void test_task_id_derive_differs_by_payload(void **st) {
  (void)st;
  /* Every single-byte change, at every place of a payload of each length
   * up to two words and a bit, moves the id. */
  unsigned char buf[20];
  for (size_t len = 1; len <= sizeof buf; len++) {
    memset(buf, 'a', sizeof buf);
    uint64_t base = loom_task_id_derive("sh", buf, len, 5);
    for (size_t i = 0; i < len; i++) {
      buf[i] ^= 1;
      assert_true(loom_task_id_derive("sh", buf, len, 5) != base);
      buf[i] ^= 1;
    }
  }
  /* A longer payload is another payload, even with zero bytes added. */
  static const char z[2] = {'a', '\0'};
  assert_true(loom_task_id_derive("sh", z, 1, 5) !=
              loom_task_id_derive("sh", z, 2, 5));
  assert_true(loom_task_id_derive("sh", "", 0, 5) !=
              loom_task_id_derive("sh", z + 1, 1, 5));
}

static void test_task_id_derive_differs_by_kind(void **st) {
  (void)st;
  static const char *const kinds[] = {"sh", "noop",   "sleep", "spin",
                                      "pi", "primes", "",      "s"};
  uint64_t ids[8];
  for (size_t i = 0; i < 8; i++) {
    ids[i] = loom_task_id_derive(kinds[i], "x", 1, 1);
    for (size_t j = 0; j < i; j++)
      assert_true(ids[i] != ids[j]);
  }
  /* Where the kind ends and the payload starts is part of the identity. */
  assert_true(loom_task_id_derive("ab", "c", 1, 0) !=
              loom_task_id_derive("a", "bc", 2, 0));
}

static void test_task_id_derive_is_never_zero(void **st) {
  (void)st;
  /* 0 means "derive me" in a spec. A zero would need 2^64 tries to find;
   * this checks the many ids handed out in a sweep of positions. */
  for (uint64_t pos = 0; pos < 100000; pos++)
    assert_true(loom_task_id_derive("sh", "true", 4, pos) != 0);
  for (uint64_t len = 0; len < 64; len++)
    assert_true(loom_task_id_derive("pi",
                                    "0123456789012345678901234567890123"
                                    "456789012345678901234567890123",
                                    len, 0) != 0);
}

static void test_task_id_in_two_steps_equals_task_id_derive(void **st) {
  (void)st;
  /* The master hashes each kind name once and reuses it. */
  static const char *const kinds[] = {"sh", "noop", "primes"};
  for (size_t i = 0; i < 3; i++)
    for (uint64_t pos = 0; pos < 5; pos++)
      assert_true(loom__task_id(loom__kind_hash(kinds[i]), "payload", 7, pos) ==
                  loom_task_id_derive(kinds[i], "payload", 7, pos));
  assert_true(loom__kind_hash(NULL) == loom__kind_hash("sh"));
}

static void test_hash64_depends_on_seed_and_length(void **st) {
  (void)st;
  assert_true(loom__hash64("abc", 3, 0) == loom__hash64("abc", 3, 0));
  assert_true(loom__hash64("abc", 3, 0) != loom__hash64("abc", 3, 1));
  assert_true(loom__hash64("abc", 3, 0) != loom__hash64("abc", 2, 0));
  assert_true(loom__hash64(NULL, 0, 0) != loom__hash64(NULL, 0, 1));
}

/* The documented function, written out byte by byte: every word and tail
 * length must hash as it does, or ids change between releases and a resume
 * no longer finds its tasks. */
static uint64_t reference_hash64(const unsigned char *p, size_t len,
                                 uint64_t seed) {
  uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);
  size_t done = 0;

  while (done < len) {
    size_t n = len - done < 8 ? len - done : 8;
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
      w |= (uint64_t)p[done + i] << (8 * i);
    w *= 0xff51afd7ed558ccdULL;
    h ^= w;
    h = n == 8 ? (h << 31) | (h >> 33) : (h << 29) | (h >> 35);
    h *= 0xc4ceb9fe1a85ec53ULL;
    done += n;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

static void
test_hash64_matches_the_documented_function_at_every_length(void **st) {
  (void)st;
  unsigned char buf[80];
  uint64_t x = 0x243f6a8885a308d3ULL;

  for (size_t i = 0; i < sizeof(buf); i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (unsigned char)x;
  }
  for (size_t off = 0; off < 8; off++)
    for (size_t len = 0; len + off <= sizeof(buf) && len <= 64; len++)
      for (uint64_t seed = 0; seed < 3; seed++)
        if (loom__hash64(buf + off, len, seed * 0x1234567ULL) !=
            reference_hash64(buf + off, len, seed * 0x1234567ULL))
          fail_msg("length %zu at offset %zu, seed %d", len, off, (int)seed);
}

/* An array element's id, as the README states it: the splitmix64
 * finaliser of A + (k + 1) * golden, written out here. */
static void test_task_id_element_matches_the_documented_function(void **st) {
  (void)st;
  static const uint64_t arrays[] = {1, 0x0123456789abcdefULL, UINT64_MAX};
  static const uint64_t ks[] = {0, 1, 2, 1000, UINT64_MAX - 1};

  for (size_t a = 0; a < 3; a++)
    for (size_t i = 0; i < 5; i++) {
      uint64_t h = arrays[a] + (ks[i] + 1) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 30;
      h *= 0xbf58476d1ce4e5b9ULL;
      h ^= h >> 27;
      h *= 0x94d049bb133111ebULL;
      h ^= h >> 31;
      assert_true(loom_task_id_element(arrays[a], ks[i]) == (h ? h : 1));
    }
  /* Elements differ from each other and from the array. */
  assert_true(loom_task_id_element(7, 0) != loom_task_id_element(7, 1));
  assert_true(loom_task_id_element(7, 0) != 7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_id_derive_matches_known_values),
      cmocka_unit_test(test_task_id_derive_is_stable_across_calls),
      cmocka_unit_test(test_task_id_derive_reads_a_null_kind_as_sh),
      cmocka_unit_test(test_task_id_derive_differs_by_position),
      cmocka_unit_test(test_task_id_derive_differs_by_payload),
      cmocka_unit_test(test_task_id_derive_differs_by_kind),
      cmocka_unit_test(test_task_id_derive_is_never_zero),
      cmocka_unit_test(test_task_id_in_two_steps_equals_task_id_derive),
      cmocka_unit_test(test_hash64_depends_on_seed_and_length),
      cmocka_unit_test(test_task_id_element_matches_the_documented_function),
      cmocka_unit_test(
          test_hash64_matches_the_documented_function_at_every_length),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
