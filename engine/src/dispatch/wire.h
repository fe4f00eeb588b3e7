/* wire.h - the byte format of dispatch messages.
 *
 * A TASKS message is a batch: a header (magic, record count, flags) and one
 * task record per task; a DONE message is the same with completion
 * records. A batch's completions may come back in several DONE messages
 * (so that no message grows past LOOM__WIRE_PART_MAX however large the
 * replies): every one but the last lacks the FINAL flag. All
 * ranks run the same build on one byte order, so fields are copied in host
 * order, but every length is checked on decode: a short or oversized message
 * is LOOM_EPROTO, never a read past the buffer.
 */
#ifndef LOOM_WIRE_H
#define LOOM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "loom.h"

#define LOOM__WIRE_MAGIC 0x4c4d0005u /* "LM" + format version 5 */
#define LOOM__WIRE_HEADER 12u        /* magic, count, flags */
#define LOOM__WIRE_PAYLOAD_MAX (64u << 20)
#define LOOM__WIRE_PART_MAX (64u << 20) /* a DONE part is closed past this */

enum {
  LOOM__WIRE_FINAL = 1u << 0, /* DONE: the last part of its batch's answer */
  LOOM__WIRE_RUNS = 1u << 1   /* TASKS: some record holds a run of several
                                 elements of an array (count > 1) */
};

/* One record in a TASKS message: a task, or a run of `count` elements of
 * an array (indexes index to index + count - 1), all in one slot and
 * answered by one DONE record each, in order. In a run, id is the array's
 * and element i's is loom_task_id_element(id, i); with count 1 it is the
 * task's own. payload points into the message on decode. */
struct loom__wire_task {
  uint32_t slot;    /* the master's handle, echoed in the completion */
  uint16_t kind;    /* index in the kind registry */
  uint16_t attempt; /* 1 for the first */
  uint64_t id;
  double timeout; /* seconds, 0 = none */
  uint16_t cores; /* cores it needs at once (>= 1) */
  uint64_t mem;   /* bytes of memory it needs, 0 = none said */
  uint64_t index; /* its index in its array (of the first, in a run) */
  uint32_t count; /* elements in the record, >= 1 */
  const void *payload;
  uint32_t len;
};

/* The id (or resume key) of element `index` of a record of count tasks
 * whose id (or key) is `id`: derived in a run, the record's own else. */
static inline uint64_t loom__wire_run_id(uint64_t id, uint32_t count,
                                         uint64_t index) {
  return count > 1 ? loom_task_id_element(id, index) : id;
}

/* One finished attempt in a DONE message. data points into the message. */
struct loom__wire_done {
  uint32_t slot;
  int32_t exit_code;
  int32_t sig;
  uint32_t flags; /* LOOM__DONE_* */
  double start;   /* wall clock seconds */
  double elapsed;
  const void *data;
  uint32_t len;
  const char *cpus; /* the CPUs it was pinned to ("0-3,8"; digits, commas
                       and dashes only, checked on decode), NULL none */
  uint16_t cpus_len;
};

/* A zero record for task slot `slot`, field by field: a memset here is
 * compiled into wide stores that straddle start and elapsed, and the
 * encoder's loads of those, right after, could not be forwarded from them
 * (a stall that was two thirds of loom__wire_put_done's time per task). */
static inline void loom__wire_done_init(struct loom__wire_done *d,
                                        uint32_t slot) {
  d->slot = slot;
  d->exit_code = 0;
  d->sig = 0;
  d->flags = 0;
  d->start = 0;
  d->elapsed = 0;
  d->data = NULL;
  d->len = 0;
  d->cpus = NULL;
  d->cpus_len = 0;
}

enum {
  LOOM__DONE_TIMEOUT = 1u << 0, /* killed for running past its timeout */
  LOOM__DONE_SPAWN = 1u << 1,   /* could not be started at all */
  LOOM__DONE_CANCEL = 1u << 2,  /* killed, or never started, on a stop */
  LOOM__DONE_OUTPUT = 1u << 3,  /* its output could not be written; the
                                   data says which file and why */
  LOOM__DONE_GROUP = 1u << 4,   /* the record answers for len consecutive
                                  elements of its slot's run, in order:
                                  data holds their exit codes, a byte
                                  each; the k-th started at start + k *
                                  elapsed and took elapsed. Alone: no
                                  other flag, no signal, exit code 0 */
  LOOM__DONE_RETURNED = 1u << 5 /* never started: given back because its
                                   batch ran far past its estimate, to be
                                   handed out again (not an attempt).
                                   Alone: no other flag, no code; data
                                   holds what the master keeps only for
                                   retries: the task's timeout (a double)
                                   and memory request (8 bytes), then its
                                   payload */
};

/* Bytes before the payload in a LOOM__DONE_RETURNED record's data. */
#define LOOM__RETURNED_HEAD 16

/* Tasks a DONE record answers for: a group's elements, else 1. */
static inline uint32_t loom__wire_done_tasks(const struct loom__wire_done *d) {
  return (d->flags & LOOM__DONE_GROUP) ? d->len : 1;
}

/* Starts a message: clears b and writes the header with count 0 and
 * flags (LOOM__WIRE_*). */
int loom__wire_begin(struct loom__buf *b, uint32_t flags);

/* Sets or clears flags in a message begun with loom__wire_begin(). */
void loom__wire_set_flags(struct loom__buf *b, uint32_t flags);

/* Rewrites the record count of a message (a copy of a prefix of records
 * says how many it holds). */
void loom__wire_set_count(struct loom__buf *b, uint32_t count);
/* Number of records written since loom__wire_begin(). */
uint32_t loom__wire_count(const struct loom__buf *b);

int loom__wire_put_task(struct loom__buf *b, const struct loom__wire_task *t);
int loom__wire_put_done(struct loom__buf *b, const struct loom__wire_done *d);

/* Tasks (elements) in the TASKS message msg: its record count, or with
 * LOOM__WIRE_RUNS the sum of its records' counts. Returns 0 with *n, or
 * LOOM_EPROTO. */
int loom__wire_count_tasks(const void *msg, size_t len, uint32_t *n);

/* Appends to out (a DONE message) a record with `flags` for every task
 * (element) of the TASKS message msg from the from-th up to (not
 * including) the to-th: tasks that never ran, but the from-th one ran
 * since `started` (wall clock) when started > 0. With
 * LOOM__DONE_RETURNED each record carries its task's timeout, memory
 * request and payload. Returns 0, LOOM_EPROTO, LOOM_ETOOBIG (a payload
 * too large to carry back) or LOOM_ENOMEM. */
int loom__wire_answer_tasks(const void *msg, size_t len, uint32_t from,
                            uint32_t to, uint32_t flags, double started,
                            struct loom__buf *out);

/* What a LOOM__DONE_RETURNED record d (checked by loom__wire_get_done)
 * carries: its task's timeout, memory request and payload (in d). */
void loom__wire_returned_spec(const struct loom__wire_done *d, double *timeout,
                              uint64_t *mem, const void **payload,
                              uint32_t *len);

/* Whole DONE records in the len bytes of records at p (no header). */
uint32_t loom__wire_done_records(const void *p, size_t len);

/* Bytes a DONE record takes on the wire, with len bytes of data and
 * CPU list together. */
#define LOOM__WIRE_DONE_SIZE(len) (38u + (size_t)(len))

/* Rewrites start and elapsed of every DONE record from byte offset `from`
 * of b: the k-th gets start + k * each and elapsed = each. */
void loom__wire_done_set_times(struct loom__buf *b, size_t from, double start,
                               double each);

/* A cursor over a received message. */
struct loom__reader {
  const unsigned char *p;
  const unsigned char *end;
  uint32_t left;  /* records not yet read */
  uint32_t flags; /* the header's LOOM__WIRE_* flags */
};

/* Checks the header. Returns 0 or LOOM_EPROTO. */
int loom__wire_open(struct loom__reader *r, const void *msg, size_t len);
/* Each returns 1 with a record, 0 at the end, LOOM_EPROTO when the bytes do
 * not hold the record the header promised. */
int loom__wire_get_task(struct loom__reader *r, struct loom__wire_task *t);

/* A cursor over the tasks of a TASKS message, a run's elements one by one:
 * t is the current task, with its own index and id (count stays the
 * record's). */
struct loom__task_cursor {
  struct loom__reader r;
  struct loom__wire_task t;
  uint64_t first, id; /* the record's index and id */
  uint32_t e;         /* the element's place in its record */
};

/* Checks the header (0 or LOOM_EPROTO); the first task comes from the
 * first call of loom__wire_next_task(). */
int loom__wire_tasks_open(struct loom__task_cursor *c, const void *msg,
                          size_t len);
/* Moves to the next task: 1, 0 at the end, or LOOM_EPROTO. */
int loom__wire_next_task(struct loom__task_cursor *c);
int loom__wire_get_done(struct loom__reader *r, struct loom__wire_done *d);

#endif /* LOOM_WIRE_H */
