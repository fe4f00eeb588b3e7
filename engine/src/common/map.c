/* map.c - the u64-keyed hash map (map.h). Grows at 1/2 load. */
#include <stdlib.h>

#include "common/map.h"

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

static int grow(struct loom__map *m) {
  size_t cap = m->cap ? 2 * m->cap : 64;
  uint64_t *keys = calloc(cap, sizeof(*keys));
  struct loom__mapval *vals = calloc(cap, sizeof(*vals));

  if (!keys || !vals) {
    free(keys);
    free(vals);
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++) {
    size_t j;
    if (!m->keys[i])
      continue;
    for (j = slot_of(m->keys[i], cap); keys[j]; j = (j + 1) & (cap - 1))
      ;
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return 0;
}

struct loom__mapval *loom__map_get(struct loom__map *m, uint64_t key,
                                   int create) {
  size_t j;

  if (key == 0)
    return NULL;
  if (m->cap > 0) {
    for (j = slot_of(key, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
      if (m->keys[j] == key)
        return &m->vals[j];
  }
  if (!create)
    return NULL;
  if (2 * (m->n + 1) > m->cap && grow(m) != 0)
    return NULL;
  for (j = slot_of(key, m->cap); m->keys[j]; j = (j + 1) & (m->cap - 1))
    ;
  m->keys[j] = key;
  m->n++;
  return &m->vals[j];
}

int loom__map_next(const struct loom__map *m, size_t *pos, uint64_t *key,
                   struct loom__mapval **val) {
  for (; *pos < m->cap; (*pos)++)
    if (m->keys[*pos]) {
      *key = m->keys[*pos];
      *val = &m->vals[*pos];
      (*pos)++;
      return 1;
    }
  return 0;
}

void loom__map_fini(struct loom__map *m) {
  free(m->keys);
  free(m->vals);
  m->keys = NULL;
  m->vals = NULL;
  m->cap = m->n = 0;
}
