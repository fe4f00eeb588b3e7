/* codec.h - fixed-width fields in and out of byte buffers, checked.
 *
 * Writers append to a growable buffer and return 0 or LOOM_ENOMEM. A
 * reader is a cursor over received bytes: a read past the end sets `bad`
 * and yields zeros, so a decoder reads every field and checks `bad` once
 * at the end, never reading outside the buffer. Host byte order: every
 * rank runs the same build (wire.h).
 */
#ifndef LOOM_CODEC_H
#define LOOM_CODEC_H

#include <stdint.h>
#include <string.h>

#include "common/buf.h"

struct loom__cur {
  const unsigned char *p;
  const unsigned char *end;
  int bad; /* a read ran past the end */
};

static inline void loom__cur_init(struct loom__cur *c, const void *p,
                                  size_t n) {
  c->p = p;
  c->end = n ? c->p + n : c->p; /* p may be NULL when n is 0 */
  c->bad = 0;
}

static inline size_t loom__cur_left(const struct loom__cur *c) {
  return (size_t)(c->end - c->p);
}

/* The next n bytes (a pointer into the buffer), or NULL past the end. */
static inline const void *loom__cur_take(struct loom__cur *c, size_t n) {
  const void *p = c->p;
  if (c->bad || n > loom__cur_left(c)) {
    c->bad = 1;
    return NULL;
  }
  c->p += n;
  return p;
}

static inline void loom__cur_get(struct loom__cur *c, void *v, size_t n) {
  const void *p = loom__cur_take(c, n);
  if (p)
    memcpy(v, p, n);
  else
    memset(v, 0, n);
}

static inline uint8_t loom__get_u8(struct loom__cur *c) {
  uint8_t v;
  loom__cur_get(c, &v, 1);
  return v;
}
static inline uint16_t loom__get_u16(struct loom__cur *c) {
  uint16_t v;
  loom__cur_get(c, &v, 2);
  return v;
}
static inline uint32_t loom__get_u32(struct loom__cur *c) {
  uint32_t v;
  loom__cur_get(c, &v, 4);
  return v;
}
static inline uint64_t loom__get_u64(struct loom__cur *c) {
  uint64_t v;
  loom__cur_get(c, &v, 8);
  return v;
}
static inline int64_t loom__get_i64(struct loom__cur *c) {
  int64_t v;
  loom__cur_get(c, &v, 8);
  return v;
}
static inline double loom__get_f64(struct loom__cur *c) {
  double v;
  loom__cur_get(c, &v, 8);
  return v;
}

static inline int loom__put_u8(struct loom__buf *b, uint8_t v) {
  return loom__buf_append(b, &v, 1);
}
static inline int loom__put_u16(struct loom__buf *b, uint16_t v) {
  return loom__buf_append(b, &v, 2);
}
static inline int loom__put_u32(struct loom__buf *b, uint32_t v) {
  return loom__buf_append(b, &v, 4);
}
static inline int loom__put_u64(struct loom__buf *b, uint64_t v) {
  return loom__buf_append(b, &v, 8);
}
static inline int loom__put_i64(struct loom__buf *b, int64_t v) {
  return loom__buf_append(b, &v, 8);
}
static inline int loom__put_f64(struct loom__buf *b, double v) {
  return loom__buf_append(b, &v, 8);
}

#endif /* LOOM_CODEC_H */
