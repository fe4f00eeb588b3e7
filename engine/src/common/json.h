/* json.h - writing JSON: strings that are always valid UTF-8, numbers
 * that are always finite. Used by report.json, `loom topo --json` and every
 * other JSON the engine writes.
 */
#ifndef LOOM_JSON_H
#define LOOM_JSON_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as a JSON string literal. */
void loom__json_string(FILE *f, const char *s);

/* The same for at most max bytes of s (a fixed-size field that may lack its
 * NUL): reads no byte past s[max - 1]. */
void loom__json_string_n(FILE *f, const char *s, size_t max);

/* Is s (n bytes, NULs allowed) valid UTF-8? */
int loom__utf8_valid(const void *s, size_t n);

/* Writes n bytes of s, valid UTF-8 (check first), as a JSON string; a NUL
 * is \u0000. */
void loom__json_bytes(FILE *f, const void *s, size_t n);

/* x, or 0 where x is not finite: JSON has no NaN or infinity. */
double loom__json_num(double x);

#endif /* LOOM_JSON_H */
