/* buf.h - the engine's one growable byte buffer, one growable array and
 * one string copier.
 *
 * Every byte string the engine builds or keeps (messages, commands, replies,
 * texts) is a struct loom__buf; every array that grows goes through
 * loom__array_grow(). Nothing else in the engine calls realloc.
 */
#ifndef LOOM_BUF_H
#define LOOM_BUF_H

#include <stddef.h>
#include <stdio.h>

struct loom__buf {
  unsigned char *data;
  size_t len;
  size_t cap;
};

/* The slow half of loom__buf_reserve(): grows the storage. */
int loom__buf_grow(struct loom__buf *b, size_t extra);

/* Makes room for extra more bytes after len. Returns 0 or LOOM_ENOMEM
 * (then b is unchanged). Inline: the encoders call it for every field. */
static inline int loom__buf_reserve(struct loom__buf *b, size_t extra) {
  return extra <= b->cap - b->len ? 0 : loom__buf_grow(b, extra);
}

/* Appends n bytes. Returns 0 or LOOM_ENOMEM. */
int loom__buf_append(struct loom__buf *b, const void *p, size_t n);

/* Replaces the contents with n bytes of p, plus a NUL after them that len
 * does not count (so a text can be used as a C string). Returns 0 or
 * LOOM_ENOMEM. */
int loom__buf_set(struct loom__buf *b, const void *p, size_t n);

/* Exchanges the storage of a and b: how a message changes hands without a
 * copy. */
void loom__buf_swap(struct loom__buf *a, struct loom__buf *b);

/* Frees the storage; b is then empty and may be reused. */
void loom__buf_fini(struct loom__buf *b);

/* Grows an array of elements of size bytes so that it holds at least need
 * of them: returns the (possibly moved) array and sets *cap, or returns
 * NULL and leaves array and *cap as they were (out of memory, or a size
 * that would overflow). Capacity doubles, from 16. */
void *loom__array_grow(void *array, size_t *cap, size_t need, size_t size);

/* A NUL-terminated copy of n bytes of s (malloc'ed), or NULL. s may hold
 * NULs; the copy keeps them. */
char *loom__str_dup(const char *s, size_t n);

/* A copy of n bytes (malloc'ed, at least one byte so that a copy of
 * nothing is not NULL), or NULL. */
void *loom__mem_dup(const void *p, size_t n);

/* Reads one line of f, its newline kept, into b (replacing what b held).
 * Memory is bounded by max: a longer line is not kept. Returns 1 with a
 * line (the last line of a file may lack its newline; NUL bytes are kept
 * and counted in b->len), 0 at the end, LOOM_ETOOBIG as soon as a line
 * passes max bytes (b holds its first max; nothing more is read, so even
 * an endless line such as /dev/zero's costs max bytes and no more time),
 * LOOM_EIO on a read error or LOOM_ENOMEM. */
int loom__buf_getline(struct loom__buf *b, FILE *f, size_t max);

/* Writes at most 40 bytes of s[0..n) into buf (size >= 8), with every byte
 * that is not printable ASCII (and the backslash) as \xHH and "..." when
 * cut: what an error line quotes of a user's input, never raw bytes and
 * never a whole line of a file. */
void loom__excerpt(char *buf, size_t size, const char *s, size_t n);

#endif /* LOOM_BUF_H */
