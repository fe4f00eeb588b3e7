/* kinds.c - the table of built-in task kinds and the argument helpers they
 * share.
 *
 * The CLI finds a kind here by name and registers every kind's task function
 * on every rank, in table order, so that all ranks agree on the names. The
 * helpers parse KEY=VALUE arguments strictly: a value is either fully valid
 * or rejected with one line that names the key and what was expected.
 */
#include "kinds.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct kind *const kind_table[] = {
    &kind_noop, &kind_sleep, &kind_spin, &kind_pi, &kind_primes, NULL,
};

const struct kind *kind_find(const char *name) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; kind_table[i] != NULL; i++) {
    if (strcmp(kind_table[i]->name, name) == 0)
      return kind_table[i];
  }
  return NULL;
}

int kinds_register_all(struct loom *l) {
  for (size_t i = 0; kind_table[i] != NULL; i++) {
    /* Their functions read only their payload: safe in every slot. */
    int rc = loom_register_flags(l, kind_table[i]->name, kind_table[i]->run,
                                 NULL, LOOM_KIND_THREAD_SAFE);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int key_is(const struct kind_arg *arg, const char *key, size_t len) {
  return arg->key_len == len && memcmp(arg->key, key, len) == 0;
}

const char *kind_arg_get(const struct kind_arg *args, size_t nargs,
                         const char *key) {
  size_t len = strlen(key);
  /* Scan backwards: a later KEY=VALUE overrides an earlier one. */
  for (size_t i = nargs; i > 0; i--) {
    if (key_is(&args[i - 1], key, len))
      return args[i - 1].value;
  }
  return NULL;
}

/* Returns 1 if the arg's key is one of the space-separated words in list. */
static int key_in_list(const struct kind_arg *arg, const char *list) {
  const char *p = list;
  while (*p != '\0') {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (len > 0 && key_is(arg, p, len))
      return 1;
    p += len;
  }
  return 0;
}

int kind_args_check(const struct kind_arg *args, size_t nargs,
                    const char *allowed, const char *kind, char *err,
                    size_t errlen) {
  for (size_t i = 0; i < nargs; i++) {
    if (key_in_list(&args[i], allowed) || key_is(&args[i], "count", 5))
      continue;
    /* Keys come from argv and may be long: %.*s with an int length. */
    int klen = args[i].key_len > 200 ? 200 : (int)args[i].key_len;
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "%s: unknown argument '%.*s' (known: %s)", kind,
               klen, args[i].key, allowed[0] != '\0' ? allowed : "none");
    return LOOM_EINVAL;
  }
  return 0;
}

/* A value may start with a digit or '.', nothing else: this rejects the
 * empty string, signs, leading blanks, "nan" and "inf" before strtod or
 * strtoull get a chance to accept them. */
static int starts_like_number(const char *s) {
  return (*s >= '0' && *s <= '9') || *s == '.';
}

/* Parses a finite, non-negative decimal number with nothing after it. An
 * underflow to 0 is accepted: it is a tiny number, not a typo. */
static int parse_double(const char *s, double *out) {
  /* strtod also reads hexadecimal ("0x10"): not what a user means. */
  if (!starts_like_number(s) || strpbrk(s, "xX") != NULL)
    return LOOM_EINVAL;
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !isfinite(v) || v < 0)
    return LOOM_EINVAL;
  *out = v;
  return 0;
}

/* Parses an unsigned integer: plain digits, or an exponent form that is an
 * exact integer ("1e9", "2.5e3"). */
static int parse_u64(const char *s, uint64_t *out) {
  if (!starts_like_number(s))
    return LOOM_EINVAL;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end != s && *end == '\0') {
    if (errno == ERANGE)
      return LOOM_EINVAL;
    *out = (uint64_t)v;
    return 0;
  }
  /* Doubles are exact integers only up to 2^53, so larger values in
   * exponent form would silently round. */
  double d = 0;
  if (parse_double(s, &d) != 0 || d != floor(d) || d > 9007199254740992.0)
    return LOOM_EINVAL;
  *out = (uint64_t)d;
  return 0;
}

static void bad_value(char *err, size_t errlen, const char *key,
                      const char *value, const char *expected) {
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "bad value '%.200s' for %s (expected %s)", value, key,
             expected);
}

int kind_arg_double(const struct kind_arg *args, size_t nargs, const char *key,
                    double def, double min, double max, double *out, char *err,
                    size_t errlen) {
  const char *value = kind_arg_get(args, nargs, key);
  double v = def;
  if (value != NULL) {
    int rc = parse_double(value, &v);
    if (rc == 0 && (v < min || v > max))
      rc = LOOM_EINVAL;
    if (rc != 0) {
      char expected[96];
      if (max >= DBL_MAX)
        snprintf(expected, sizeof expected, "a number >= %g", min);
      else
        snprintf(expected, sizeof expected, "a number in [%g, %g]", min, max);
      bad_value(err, errlen, key, value, expected);
      *out = 0;
      return LOOM_EINVAL;
    }
  }
  *out = v;
  return 0;
}

int kind_arg_u64(const struct kind_arg *args, size_t nargs, const char *key,
                 uint64_t def, uint64_t min, uint64_t max, uint64_t *out,
                 char *err, size_t errlen) {
  const char *value = kind_arg_get(args, nargs, key);
  uint64_t v = def;
  if (value != NULL) {
    int rc = parse_u64(value, &v);
    if (rc == 0 && (v < min || v > max))
      rc = LOOM_EINVAL;
    if (rc != 0) {
      char expected[96];
      if (max == UINT64_MAX)
        snprintf(expected, sizeof expected, "an integer >= %llu",
                 (unsigned long long)min);
      else
        snprintf(expected, sizeof expected, "an integer in [%llu, %llu]",
                 (unsigned long long)min, (unsigned long long)max);
      bad_value(err, errlen, key, value, expected);
      *out = 0;
      return LOOM_EINVAL;
    }
  }
  *out = v;
  return 0;
}

void kind_err_prefix(char *err, size_t errlen, const char *kind) {
  if (err == NULL || errlen == 0)
    return;
  size_t klen = strlen(kind);
  size_t plen = klen + 2; /* "KIND: " */
  if (plen >= errlen) {
    snprintf(err, errlen, "%s", kind);
    return;
  }
  size_t mlen = strnlen(err, errlen - 1);
  if (mlen > errlen - 1 - plen)
    mlen = errlen - 1 - plen;
  memmove(err + plen, err, mlen);
  err[plen + mlen] = '\0';
  memcpy(err, kind, klen);
  err[klen] = ':';
  err[klen + 1] = ' ';
}
