/* buf.c - the growable byte buffer, array and string copier (buf.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "loom.h"

int loom__buf_grow(struct loom__buf *b, size_t extra) {
  size_t need = b->len + extra, cap = b->cap ? b->cap : 256;
  unsigned char *p;

  if (need < b->len)
    return LOOM_ENOMEM; /* overflow */
  if (need <= b->cap)
    return 0;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
  p = realloc(b->data, cap);
  if (!p)
    return LOOM_ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int loom__buf_append(struct loom__buf *b, const void *p, size_t n) {
  int rc = loom__buf_reserve(b, n);
  if (rc != 0)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int loom__buf_set(struct loom__buf *b, const void *p, size_t n) {
  int rc;

  b->len = 0;
  rc = loom__buf_reserve(b, n + 1);
  if (rc != 0)
    return rc;
  if (n)
    memcpy(b->data, p, n);
  b->data[n] = '\0';
  b->len = n;
  return 0;
}

void loom__buf_swap(struct loom__buf *a, struct loom__buf *b) {
  struct loom__buf t = *a;
  *a = *b;
  *b = t;
}

void loom__buf_fini(struct loom__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void *loom__array_grow(void *array, size_t *cap, size_t need, size_t size) {
  size_t n = *cap ? *cap : 16;
  void *p;

  if (need <= *cap)
    return array;
  if (size == 0)
    return NULL; /* an array of nothing: a caller's mistake */
  while (n < need) {
    if (n > SIZE_MAX / 2)
      return NULL;
    n *= 2;
  }
  if (n > SIZE_MAX / size)
    return NULL;
  p = realloc(array, n * size);
  if (!p)
    return NULL;
  *cap = n;
  return p;
}

char *loom__str_dup(const char *s, size_t n) {
  char *p;

  if (n == SIZE_MAX)
    return NULL;
  p = malloc(n + 1);
  if (!p)
    return NULL;
  if (n)
    memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void *loom__mem_dup(const void *p, size_t n) {
  void *q = malloc(n ? n : 1);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

void loom__excerpt(char *buf, size_t size, const char *s, size_t n) {
  size_t o = 0;

  for (size_t i = 0; i < n && o + 5 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == 40) {
      o += (size_t)snprintf(buf + o, size - o, "...");
      break;
    }
    if (c < 0x80 && isprint(c) && c != '\\')
      buf[o++] = (char)c;
    else
      o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
  }
  buf[o < size ? o : size - 1] = '\0';
}

int loom__buf_getline(struct loom__buf *b, FILE *f, size_t max) {
  int c;

  b->len = 0;
  while ((c = getc_unlocked(f)) != EOF) {
    if (b->len == max)
      return LOOM_ETOOBIG;
    if (b->len == b->cap && loom__buf_reserve(b, 1) != 0)
      return LOOM_ENOMEM;
    b->data[b->len++] = (unsigned char)c;
    if (c == '\n')
      return 1;
  }
  if (ferror(f))
    return LOOM_EIO;
  return b->len > 0 ? 1 : 0;
}
