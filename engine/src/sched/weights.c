/* weights.c - parsing and looking up capacity weights (weights.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "sched/weights.h"

static int bad(const char *s, size_t n, char *err, size_t errlen) {
  char ex[200];
  loom__excerpt(ex, sizeof(ex), s, n);
  if (err)
    snprintf(err, errlen,
             "bad weight '%s' (expected RANK=W or HOST=W with W > 0)", ex);
  return LOOM_EINVAL;
}

/* One KEY=W of n bytes at s. */
static int parse_one(const char *s, size_t n, struct loom__weight *out,
                     char *err, size_t errlen) {
  const char *eq = memchr(s, '=', n);
  char num[64], *end;
  size_t klen, vlen;
  double w;

  if (!eq || eq == s)
    return bad(s, n, err, errlen);
  klen = (size_t)(eq - s);
  vlen = n - klen - 1;
  if (klen >= sizeof(out->key) || vlen == 0 || vlen >= sizeof(num))
    return bad(s, n, err, errlen);
  memcpy(num, eq + 1, vlen);
  num[vlen] = '\0';
  errno = 0;
  w = strtod(num, &end);
  if (*end || errno || !isfinite(w) || !(w > 0) || isspace((unsigned char)*num))
    return bad(s, n, err, errlen);
  memset(out, 0, sizeof(*out));
  out->w = w;
  out->rank = -1;
  if (isdigit((unsigned char)s[0])) {
    char rk[32];
    long r;
    if (klen >= sizeof(rk))
      return bad(s, n, err, errlen);
    memcpy(rk, s, klen);
    rk[klen] = '\0';
    errno = 0;
    r = strtol(rk, &end, 10);
    if (*end == '\0' && !errno && r >= 0) {
      out->rank = r;
      return 0;
    }
  }
  for (size_t i = 0; i < klen; i++)
    if (!isgraph((unsigned char)s[i]))
      return bad(s, n, err, errlen);
  memcpy(out->key, s, klen);
  return 0;
}

int loom__weights_parse(const char *spec, struct loom__weights *out, char *err,
                        size_t errlen) {
  memset(out, 0, sizeof(*out));
  while (spec && *spec) {
    const char *end = strchr(spec, ',');
    size_t n = end ? (size_t)(end - spec) : strlen(spec);
    struct loom__weight *p;
    int rc;

    p = loom__array_grow(out->e, &out->cap, out->n + 1, sizeof(*p));
    if (!p) {
      loom__weights_fini(out);
      return LOOM_ENOMEM;
    }
    out->e = p;
    rc = parse_one(spec, n, &out->e[out->n], err, errlen);
    if (rc != 0) {
      loom__weights_fini(out);
      return rc;
    }
    out->n++;
    spec = end ? end + 1 : spec + n;
    if (end && !*spec) { /* a trailing comma: an empty entry */
      loom__weights_fini(out);
      return bad("", 0, err, errlen);
    }
  }
  return 0;
}

double loom__weights_find(const struct loom__weights *ws, int rank,
                          const char *host) {
  double by_rank = -1, by_host = -1;

  for (size_t i = 0; i < ws->n; i++) {
    const struct loom__weight *e = &ws->e[i];
    if (!e->key[0] && e->rank == rank)
      by_rank = e->w;
    else if (e->key[0] && strcmp(e->key, host) == 0)
      by_host = e->w;
  }
  return by_rank > 0 ? by_rank : by_host;
}

void loom__weights_fini(struct loom__weights *ws) {
  free(ws->e);
  memset(ws, 0, sizeof(*ws));
}
