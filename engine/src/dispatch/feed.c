/* feed.c - the master's task intake (feed.h).
 *
 * Streaming (no look-ahead, or no hint seen yet): each task is read when
 * the previous one was taken, so memory stays flat and a source that
 * blocks for input (a pipe) is never read ahead. With a look-ahead, the
 * first hinted task starts it: from then on up to `lookahead` tasks wait in
 * pool entries, each with its own copy of the spec's bytes, and the heap
 * hands out the longest first.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/feed.h"
#include "dispatch/wire.h"
#include "sched/ahead.h"

#define NONE UINT32_MAX

struct loom__feed_entry {
  struct loom__feed_task t; /* the spec's payload and text point into mem */
  uint32_t next;            /* free list */
  struct loom__buf mem;
};

int loom__task_spec_check(const struct loom_task_spec *s, char *err,
                          size_t errlen) {
  const char *why = NULL;

  if (s->len > 0 && !s->payload)
    why = "a payload length without a payload";
  else if (s->text_len > 0 && !s->text)
    why = "a text length without a text";
  else if (!isfinite(s->cost))
    why = "a cost that is not a finite number";
  else if (!isfinite(s->timeout) || s->timeout < 0)
    why = "a timeout that is not a number of seconds >= 0";
  else if (s->retries < 0 || s->retries > LOOM_RETRIES_MAX)
    why = "retries outside 0 to " LOOM__STR(LOOM_RETRIES_MAX);
  else if (s->cores < 0 || s->cores > LOOM_CORES_MAX)
    why = "cores outside 0 to " LOOM__STR(LOOM_CORES_MAX);
  else if (s->count > 1 && (!s->kind || strcmp(s->kind, "sh") == 0))
    why = "an array (count > 1) of shell commands: give each command a task "
          "of its own";
  else if (s->len > LOOM_SH_COMMAND_MAX &&
           (!s->kind || strcmp(s->kind, "sh") == 0))
    why = "a shell command over " LOOM__STR(
        LOOM_SH_COMMAND_MAX) " bytes, the limit of one argument to /bin/sh -c";
  if (!why)
    return 0;
  if (err)
    snprintf(err, errlen, "%s", why);
  return LOOM_EINVAL;
}

/* Can some worker give the task what it asks for? */
static int fits(const struct loom__feed *f, const struct loom_task_spec *s,
                char *why, size_t n) {
  int cores = s->cores > 0 ? s->cores : 1;

  if ((f->cores_all == 0 || cores <= f->cores_all) &&
      (f->mem_all == 0 || s->mem <= f->mem_all))
    return 1;
  return !f->can_run || f->can_run(f->can_arg, cores, s->mem, why, n);
}

int loom__feed_init(struct loom__feed *f, const struct loom *l,
                    struct loom__sched *sched, loom_source_fn src,
                    void *src_arg, uint64_t lookahead) {
  memset(f, 0, sizeof(*f));
  f->l = l;
  f->sched = sched;
  f->src = src;
  f->src_arg = src_arg;
  f->ahead_max = lookahead;
  f->pool_free = f->pool_cur = NONE;
  f->held = f->held_tail = NONE;
  f->kind_hash = calloc(l->nkinds, sizeof(uint64_t));
  if (!f->kind_hash)
    return LOOM_ENOMEM;
  for (size_t i = 0; i < l->nkinds; i++)
    f->kind_hash[i] = loom__kind_hash(l->kinds[i].name);
  return 0;
}

void loom__feed_fini(struct loom__feed *f) {
  for (size_t i = 0; i < f->npool; i++)
    loom__buf_fini(&f->pool[i].mem);
  free(f->pool);
  loom__heap_free(&f->ahead);
  free(f->kind_hash);
  memset(f, 0, sizeof(*f));
}

int loom__feed_fits_deadline(const struct loom__feed *f, double cost) {
  double expected;

  if (!(f->l->opt.deadline > 0))
    return 1;
  expected = cost >= 0 ? cost : (f->sched->t_est > 0 ? f->sched->t_est : 0);
  return loom__wall() + expected <= f->l->opt.deadline;
}

/* Stops the feed with an error. Returns 0 (nothing read). */
static int fail(struct loom__feed *f, int err) {
  f->err = err;
  f->dry = 1;
  return 0;
}

/* Are two kind names the same? Names are short: a loop the compiler
 * inlines costs less per task than a call to strcmp. */
static int same_name(const char *a, const char *b) {
  while (*a && *a == *b)
    a++, b++;
  return *a == *b;
}

/* Finds the registry index of a kind name. Sources hand the same name
 * pointer again and again, so the last answer is checked first. */
static int kind_index(struct loom__feed *f, const char *name, uint16_t *out) {
  const struct loom *l = f->l;

  if (!name)
    name = "sh";
  if (name == f->kind_ptr && same_name(l->kinds[f->kind_idx].name, name)) {
    *out = f->kind_idx;
    return 0;
  }
  for (size_t i = 0; i < l->nkinds; i++)
    if (strcmp(l->kinds[i].name, name) == 0) {
      f->kind_ptr = name;
      f->kind_idx = (uint16_t)i;
      *out = (uint16_t)i;
      return 0;
    }
  return LOOM_ENOENT;
}

/* The text a task's key hashes: a shell task's command, else its payload. */
static uint64_t key_of(const struct loom__feed *f,
                       const struct loom__feed_task *t) {
  int text = t->kind == 0 && t->spec.text;
  return loom__task_key(f->kind_hash[t->kind],
                        text ? (const void *)t->spec.text : t->spec.payload,
                        text ? t->spec.text_len : t->spec.len);
}

/* Reads the next task from the source into f->look: checks it, resolves
 * its kind and, in a resumed run, passes over the tasks the journal holds
 * as done. Returns 1, or 0 when the source is dry or failed. */
static int read_source(struct loom__feed *f) {
  struct loom__feed_task *t = &f->look;
  char why[160];
  int rc;

  for (;;) {
    if (f->arr_left > 0) {
      /* The next element of the array being read. */
      *t = f->arr;
      f->arr.index++;
      f->arr_left--;
      if (f->keyed) {
        t->key = loom_task_id_element(f->arr_key, t->index);
        if (f->resume && loom__resume_check(f->resume, t->key, &t->attempt))
          continue; /* done in an earlier run */
      }
      f->read++;
      f->look_arr = 1;
      return 1;
    }
    if (f->dry)
      return 0;
    rc = f->src(f->src_arg, &t->spec);
    if (rc != 1) {
      f->dry = 1;
      if (rc < 0)
        f->err = rc;
      return 0;
    }
    if (loom__task_spec_check(&t->spec, why, sizeof(why)) != 0) {
      snprintf(f->errbuf, sizeof(f->errbuf),
               "task %" PRIu64 " from the source (line %" PRIu64 "): %s",
               f->read + 1, t->spec.line, why);
      return fail(f, LOOM_EINVAL);
    }
    if (!fits(f, &t->spec, why, sizeof(why))) {
      snprintf(f->errbuf, sizeof(f->errbuf),
               "task %" PRIu64 " from the source (line %" PRIu64 "): %s",
               f->read + 1, t->spec.line, why);
      return fail(f, LOOM_EINVAL);
    }
    if (t->spec.len > LOOM__WIRE_PAYLOAD_MAX) {
      snprintf(f->errbuf, sizeof(f->errbuf),
               "task payload of %zu bytes is over the %u byte limit",
               t->spec.len, LOOM__WIRE_PAYLOAD_MAX);
      return fail(f, LOOM_ETOOBIG);
    }
    if (kind_index(f, t->spec.kind, &t->kind) != 0) {
      snprintf(f->errbuf, sizeof(f->errbuf), "task names unknown kind '%.64s'",
               t->spec.kind);
      return fail(f, LOOM_ENOENT);
    }
    t->attempt = 1;
    t->key = 0;
    t->index = 0;
    if (t->spec.count > 1) {
      /* An array: its elements come one by one from the top of the loop.
       * They share its position (their ids derive from the array's). */
      f->arr = *t;
      f->arr.pos = f->read + 1;
      f->arr_left = t->spec.count;
      if (f->keyed)
        f->arr_key = key_of(f, t);
      continue;
    }
    if (f->keyed) {
      t->key = key_of(f, t);
      if (f->resume && loom__resume_check(f->resume, t->key, &t->attempt))
        continue; /* done in an earlier run */
    }
    t->pos = ++f->read;
    f->look_arr = 0;
    return 1;
  }
}

/* Gives back the pool entry f->look points into, now that it is taken. */
static void release(struct loom__feed *f) {
  if (f->pool_cur != NONE) {
    f->pool[f->pool_cur].next = f->pool_free;
    f->pool_free = f->pool_cur;
    f->pool_cur = NONE;
  }
}

/* Copies the task in f->look into a free pool entry, whose index it
 * returns, or NONE out of memory (the feed is then stopped). */
static uint32_t keep(struct loom__feed *f) {
  const struct loom_task_spec *s = &f->look.spec;
  size_t text_len = s->text ? s->text_len : 0;
  struct loom__feed_entry *e;
  uint32_t i;
  int rc;

  if (f->pool_free == NONE) {
    e = loom__array_grow(f->pool, &f->pool_cap, f->npool + 1, sizeof(*e));
    if (!e) {
      fail(f, LOOM_ENOMEM);
      return NONE;
    }
    f->pool = e;
    memset(&f->pool[f->npool], 0, sizeof(*e));
    f->pool[f->npool].next = NONE;
    f->pool_free = (uint32_t)f->npool++;
  }
  i = f->pool_free;
  e = &f->pool[i];
  rc = loom__buf_set(&e->mem, s->payload, s->len);
  if (rc == 0)
    rc = loom__buf_append(&e->mem, s->text, text_len);
  if (rc != 0) {
    fail(f, LOOM_ENOMEM);
    return NONE;
  }
  e->t = f->look;
  e->t.spec.payload = e->mem.data;
  e->t.spec.text = s->text ? (const char *)e->mem.data + s->len : NULL;
  e->t.spec.kind = f->l->kinds[f->look.kind].name;
  f->pool_free = e->next;
  e->next = NONE;
  return i;
}

/* The probe of a resumed run: reads tasks, keeping them in order, until
 * one is one the journal knows (done, so skipped, or tried before), the
 * source ends, or f->probe tasks were read. None known: another task set,
 * and the feed stops with LOOM_EMISMATCH before anything runs. */
static void probe(struct loom__feed *f) {
  uint64_t n = 0, skipped = f->resume->skipped;
  int known = 0;

  while (n < f->probe && !known && read_source(f)) {
    uint32_t i = keep(f);
    if (i == NONE)
      return;
    if (f->held_tail == NONE)
      f->held = i;
    else
      f->pool[f->held_tail].next = i;
    f->held_tail = i;
    n++;
    known = f->look.attempt > 1;
  }
  known |= f->resume->skipped > skipped;
  f->probe = 0;
  if (!known && n > 0) {
    snprintf(f->errbuf, sizeof(f->errbuf),
             "none of the first %" PRIu64 " tasks of this source is in the "
             "journal, which holds %" PRIu64 " tasks done: another task set "
             "(give --resume-any to run it in this directory anyway)",
             n, f->resume->done);
    fail(f, LOOM_EMISMATCH);
  }
}

/* The next task in f->look: one the probe kept, else the source's. */
static int intake(struct loom__feed *f) {
  release(f); /* the last task is taken: its entry is free again */
  if (f->probe)
    probe(f);
  if (f->held != NONE && !f->err) {
    uint32_t i = f->held;
    f->held = f->pool[i].next;
    if (f->held == NONE)
      f->held_tail = NONE;
    f->look = f->pool[i].t;
    f->pool_cur = i;
    f->look_arr = 0;
    return 1;
  }
  return f->err ? 0 : read_source(f);
}

/* Copies the task in f->look into a pool entry and the look-ahead heap.
 * Out of memory, it stops the feed with LOOM_ENOMEM and returns that. */
static int store(struct loom__feed *f) {
  double cost = f->look.spec.cost;
  uint64_t pos = f->look.pos;
  uint32_t i;

  /* A held task is already in a pool entry: it moves to the heap. */
  if (f->pool_cur != NONE) {
    i = f->pool_cur;
    f->pool_cur = NONE;
  } else if ((i = keep(f)) == NONE) {
    return LOOM_ENOMEM;
  }
  if (loom__ahead_push(&f->ahead, loom__sched_hint(f->sched, cost), pos, i) !=
      0) {
    fail(f, LOOM_ENOMEM);
    return LOOM_ENOMEM;
  }
  return 0;
}

/* With the look-ahead on: tops the pool up from the source, then moves its
 * longest task into f->look. Returns 1, or 0 when both are dry. */
static int ahead_next(struct loom__feed *f) {
  uint32_t ref;

  release(f); /* f->look is done with it */
  while (f->ahead.n < f->ahead_max && intake(f))
    if (store(f) != 0)
      return 0;
  if (f->ahead.n == 0)
    return 0;
  ref = loom__ahead_pop(&f->ahead);
  f->look = f->pool[ref].t;
  f->pool_cur = ref;
  f->look_arr = 0;
  return 1;
}

int loom__feed_next(struct loom__feed *f) {
  while (!f->have_look) {
    if (f->ahead_max && f->sched->hints > 0) {
      if (!ahead_next(f))
        return 0;
    } else {
      if (!intake(f))
        return 0;
      if (f->ahead_max && f->look.spec.cost >= 0) {
        /* The first hint starts the look-ahead. Until then it could not
         * reorder anything, so a file without hints streams. */
        if (store(f) != 0)
          return 0;
        continue;
      }
      loom__sched_hint(f->sched, f->look.spec.cost);
    }
    if (!loom__feed_fits_deadline(f, f->look.spec.cost)) {
      f->not_started++;
      continue;
    }
    f->have_look = 1;
  }
  return 1;
}
