/* map.h - a hash map from 64-bit keys to small fixed records.
 *
 * Open addressing with linear probing; keys are already hashes (task ids
 * and task keys), so they are used as they are, mixed once. Key 0 marks an
 * empty cell and cannot be stored. Used by resume, whose memory is bounded
 * by what the journal holds, never by the task file.
 */
#ifndef LOOM_MAP_H
#define LOOM_MAP_H

#include <stddef.h>
#include <stdint.h>

struct loom__mapval {
  uint64_t u; /* meaning is the user's */
  uint32_t a;
  uint32_t b;
};

struct loom__map {
  uint64_t *keys;
  struct loom__mapval *vals;
  size_t cap; /* a power of two, or 0 */
  size_t n;
};

/* Finds key; with create set, inserts it (value zeroed) when missing.
 * Returns the value, or NULL (missing, key 0, or out of memory). The
 * pointer is valid until the next insertion. */
struct loom__mapval *loom__map_get(struct loom__map *m, uint64_t key,
                                   int create);

/* Iterates: start with *pos = 0; returns 0 at the end. */
int loom__map_next(const struct loom__map *m, size_t *pos, uint64_t *key,
                   struct loom__mapval **val);

void loom__map_fini(struct loom__map *m);

#endif /* LOOM_MAP_H */
