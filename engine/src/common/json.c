/* json.c - JSON strings and numbers (json.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "common/json.h"

/* Length of the valid UTF-8 sequence at s with left bytes readable (1-4),
 * or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t left) {
  size_t n;
  uint32_t c;

  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2, c = s[0] & 0x1f;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3, c = s[0] & 0x0f;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4, c = s[0] & 0x07;
  else
    return 0;
  if (n > left)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  /* No overlong forms, no surrogates, nothing past U+10FFFF. */
  if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
      (c >= 0xd800 && c <= 0xdfff))
    return 0;
  return n;
}

/* JSON strings must be UTF-8: a byte that is not part of a valid sequence
 * (a Latin-1 file name, a name cut mid-character) becomes U+FFFD. A NUL
 * byte ends a continuation, so a bounded read never passes the string. */
void loom__json_string_n(FILE *f, const char *s, size_t max) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;

  fputc('"', f);
  while (p && i < max && p[i]) {
    size_t n = utf8_len(p + i, max - i);
    if (n == 0) {
      fputs("\\ufffd", f);
      i++;
    } else if (p[i] == '"' || p[i] == '\\') {
      fprintf(f, "\\%c", p[i]);
      i++;
    } else if (p[i] < 0x20) {
      fprintf(f, "\\u%04x", p[i]);
      i++;
    } else {
      fwrite(p + i, 1, n, f);
      i += n;
    }
  }
  fputc('"', f);
}

int loom__utf8_valid(const void *s, size_t n) {
  const unsigned char *p = s;
  for (size_t i = 0, k; i < n; i += k)
    if ((k = utf8_len(p + i, n - i)) == 0)
      return 0;
  return 1;
}

void loom__json_bytes(FILE *f, const void *s, size_t n) {
  const unsigned char *p = s;
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"' || p[i] == '\\')
      fprintf(f, "\\%c", p[i]);
    else if (p[i] < 0x20)
      fprintf(f, "\\u%04x", p[i]);
    else
      fputc(p[i], f);
  }
  fputc('"', f);
}

void loom__json_string(FILE *f, const char *s) {
  loom__json_string_n(f, s, SIZE_MAX);
}

double loom__json_num(double x) { return isfinite(x) ? x : 0; }
