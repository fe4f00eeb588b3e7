/* inflight.c - slots of the tasks in flight and the retry queue
 * (inflight.h). */
#include <stdlib.h>
#include <string.h>

#include "dispatch/inflight.h"
#include "loom.h"

void loom__inflight_init(struct loom__inflight *f) {
  memset(f, 0, sizeof(*f));
  f->free_head = f->retry_head = f->retry_tail = LOOM__NO_SLOT;
}

void loom__inflight_fini(struct loom__inflight *f) {
  for (uint32_t i = 0; i < f->n; i++) {
    loom__buf_fini(&f->c[i].own_text);
    loom__buf_fini(&f->c[i].payload);
  }
  free(f->s);
  free(f->c);
  loom__inflight_init(f);
}

int loom__inflight_alloc(struct loom__inflight *f, uint32_t *out) {
  if (f->free_head == LOOM__NO_SLOT) {
    size_t n = (size_t)f->n + 1;
    struct loom__slot *s;
    struct loom__slot_cold *c;
    if (n >= LOOM__NO_SLOT)
      return LOOM_ENOMEM;
    s = loom__array_grow(f->s, &f->cap, n, sizeof(*s));
    if (!s)
      return LOOM_ENOMEM;
    f->s = s;
    c = loom__array_grow(f->c, &f->cold_cap, n, sizeof(*c));
    if (!c)
      return LOOM_ENOMEM;
    f->c = c;
    memset(&f->s[f->n], 0, sizeof(*s));
    memset(&f->c[f->n], 0, sizeof(*c));
    f->s[f->n].worker = -1;
    f->s[f->n].next = LOOM__NO_SLOT;
    f->free_head = f->n++;
  }
  *out = f->free_head;
  f->free_head = f->s[*out].next;
  return 0;
}

void loom__inflight_free(struct loom__inflight *f, uint32_t i) {
  f->s[i].worker = -1;
  f->s[i].next = f->free_head;
  f->free_head = i;
}

void loom__inflight_retry_push(struct loom__inflight *f, uint32_t i) {
  f->s[i].worker = -1;
  f->s[i].next = LOOM__NO_SLOT;
  if (f->retry_tail == LOOM__NO_SLOT)
    f->retry_head = i;
  else
    f->s[f->retry_tail].next = i;
  f->retry_tail = i;
}

uint32_t loom__inflight_retry_pop(struct loom__inflight *f) {
  uint32_t i = f->retry_head;

  f->retry_head = f->s[i].next;
  if (f->retry_head == LOOM__NO_SLOT)
    f->retry_tail = LOOM__NO_SLOT;
  return i;
}
