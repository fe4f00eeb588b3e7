/* test_wire.c - unit tests of the dispatch message format
 * (engine/src/wire.c): round trips, the record count, and checked decoding
 * of short, long and corrupt messages.
 *
 * Decoding tests copy the message into a heap block of exactly its length,
 * so a read past the end is caught by AddressSanitizer in the sanitizer
 * build rather than hidden by the encoder's spare capacity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dispatch/engine.h"
#include "dispatch/wire.h"

/* Fixed record sizes, from the layout documented in wire.c. */
#define TASK_FIXED 50u
#define DONE_FIXED 38u

static unsigned char big[1000];

static void fill_big(void) {
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (unsigned char)(i * 7 + 3);
}

/* A heap copy of exactly n bytes (at least one byte is allocated). */
static unsigned char *exact_copy(const void *src, size_t n) {
  unsigned char *p = malloc(n ? n : 1);
  assert_non_null(p);
  if (n)
    memcpy(p, src, n);
  return p;
}

/* Three tasks with payloads of 0, 1 and 1000 bytes. */
/* Writes record d alone into b and reads it back into d: what
 * loom__wire_get_done says. */
static int read_back(struct loom__buf *b, struct loom__wire_done *d) {
  struct loom__reader r;

  assert_int_equal(loom__wire_begin(b, 0), 0);
  assert_int_equal(loom__wire_put_done(b, d), 0);
  assert_int_equal(loom__wire_open(&r, b->data, b->len), 0);
  return loom__wire_get_done(&r, d);
}

static void put_three_tasks(struct loom__buf *b) {
  static const unsigned char one = 0xab;
  struct loom__wire_task t[3] = {
      {.slot = 0,
       .kind = 0,
       .attempt = 1,
       .id = 1,
       .timeout = 0,
       .cores = 1,
       .count = 1},
      {.slot = 7,
       .kind = 3,
       .attempt = 2,
       .id = UINT64_MAX,
       .timeout = 2.5,
       .cores = 4,
       .mem = (uint64_t)16 << 30,
       .index = 5,
       .count = 1,
       .payload = &one,
       .len = 1},
      {.slot = UINT32_MAX,
       .kind = UINT16_MAX,
       .attempt = UINT16_MAX,
       .id = 0x0123456789abcdefULL,
       .timeout = 1e9,
       .cores = UINT16_MAX,
       .mem = UINT64_MAX,
       .index = UINT64_MAX - 2,
       .count = 3, /* a run: the array's last three elements */
       .payload = big,
       .len = sizeof big},
  };
  fill_big();
  assert_int_equal(loom__wire_begin(b, LOOM__WIRE_RUNS), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(loom__wire_put_task(b, &t[i]), 0);
    assert_int_equal(loom__wire_count(b), i + 1);
  }
}

/* Three completions with 0, 1 and 1000 bytes of result. */
static void put_three_dones(struct loom__buf *b) {
  static const unsigned char one = 0x5a;
  struct loom__wire_done d[3] = {
      {.slot = 4,
       .exit_code = 0,
       .sig = 0,
       .flags = 0,
       .start = 1.5,
       .elapsed = 0.25},
      {.slot = 9,
       .exit_code = -1,
       .sig = 9,
       .flags = LOOM__DONE_TIMEOUT,
       .start = 1700000000.125,
       .elapsed = 3,
       .data = &one,
       .len = 1,
       .cpus = "0-3,8",
       .cpus_len = 5},
      {.slot = UINT32_MAX,
       .exit_code = 255,
       .sig = 0,
       .flags = LOOM__DONE_SPAWN | LOOM__DONE_TIMEOUT,
       .start = 0,
       .elapsed = 1e-9,
       .data = big,
       .len = sizeof big},
  };
  fill_big();
  assert_int_equal(loom__wire_begin(b, 0), 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(loom__wire_put_done(b, &d[i]), 0);
    assert_int_equal(loom__wire_count(b), i + 1);
  }
}

static void test_wire_tasks_round_trip_with_0_1_and_1000_bytes(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_task t;

  put_three_tasks(&b);
  assert_int_equal(b.len, LOOM__WIRE_HEADER + 3 * TASK_FIXED + 0 + 1 + 1000);
  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
  assert_int_equal(r.left, 3);

  assert_int_equal(loom__wire_get_task(&r, &t), 1);
  assert_int_equal(t.slot, 0);
  assert_int_equal(t.kind, 0);
  assert_int_equal(t.attempt, 1);
  assert_true(t.id == 1);
  assert_true(t.timeout == 0);
  assert_int_equal(t.cores, 1);
  assert_true(t.mem == 0);
  assert_int_equal(t.len, 0);
  assert_null(t.payload);
  assert_true(t.index == 0);
  assert_int_equal(t.count, 1);

  assert_int_equal(loom__wire_get_task(&r, &t), 1);
  assert_int_equal(t.slot, 7);
  assert_int_equal(t.kind, 3);
  assert_int_equal(t.attempt, 2);
  assert_true(t.id == UINT64_MAX);
  assert_true(t.timeout == 2.5);
  assert_int_equal(t.cores, 4);
  assert_true(t.mem == (uint64_t)16 << 30);
  assert_int_equal(t.len, 1);
  assert_int_equal(*(const unsigned char *)t.payload, 0xab);
  assert_true(t.index == 5);
  assert_int_equal(t.count, 1);

  assert_int_equal(loom__wire_get_task(&r, &t), 1);
  assert_true(t.slot == UINT32_MAX);
  assert_int_equal(t.kind, UINT16_MAX);
  assert_int_equal(t.attempt, UINT16_MAX);
  assert_true(t.id == 0x0123456789abcdefULL);
  assert_true(t.timeout == 1e9);
  assert_int_equal(t.cores, UINT16_MAX);
  assert_true(t.mem == UINT64_MAX);
  assert_true(t.index == UINT64_MAX - 2);
  assert_int_equal(t.count, 3);
  assert_int_equal(t.len, 1000);
  assert_memory_equal(t.payload, big, 1000);
  /* The payload points into the message, not into a copy. */
  assert_true((const unsigned char *)t.payload >= msg &&
              (const unsigned char *)t.payload + 1000 <= msg + b.len);

  assert_int_equal(loom__wire_get_task(&r, &t), 0);
  assert_int_equal(loom__wire_get_task(&r, &t), 0);
  free(msg);
  loom__buf_fini(&b);
}

static void test_wire_dones_round_trip_with_0_1_and_1000_bytes(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_done d;

  put_three_dones(&b);
  assert_int_equal(b.len,
                   LOOM__WIRE_HEADER + 3 * DONE_FIXED + 0 + 1 + 5 + 1000);
  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);

  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(d.slot, 4);
  assert_int_equal(d.exit_code, 0);
  assert_int_equal(d.sig, 0);
  assert_int_equal(d.flags, 0);
  assert_true(d.start == 1.5);
  assert_true(d.elapsed == 0.25);
  assert_int_equal(d.len, 0);
  assert_null(d.data);
  assert_int_equal(d.cpus_len, 0);
  assert_null(d.cpus);

  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(d.slot, 9);
  assert_int_equal(d.exit_code, -1);
  assert_int_equal(d.sig, 9);
  assert_int_equal(d.flags, LOOM__DONE_TIMEOUT);
  assert_true(d.start == 1700000000.125);
  assert_true(d.elapsed == 3);
  assert_int_equal(d.len, 1);
  assert_int_equal(*(const unsigned char *)d.data, 0x5a);
  assert_int_equal(d.cpus_len, 5);
  assert_memory_equal(d.cpus, "0-3,8", 5);

  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_true(d.slot == UINT32_MAX);
  assert_int_equal(d.exit_code, 255);
  assert_int_equal(d.flags, LOOM__DONE_SPAWN | LOOM__DONE_TIMEOUT);
  assert_true(d.start == 0);
  assert_true(d.elapsed == 1e-9);
  assert_int_equal(d.len, 1000);
  assert_memory_equal(d.data, big, 1000);

  assert_int_equal(loom__wire_get_done(&r, &d), 0);
  free(msg);
  loom__buf_fini(&b);
}

/* The CPU list goes into the joblog as it is: anything but digits,
 * commas and dashes, or a length past the end, is refused. */
static void test_wire_done_cpus_are_checked(void **st) {
  static const char *const bad[] = {"0\t1", "0\n", "a", "0 1"};
  (void)st;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct loom__buf b = {0};
    struct loom__reader r;
    struct loom__wire_done d = {
        .slot = 1, .cpus = bad[i], .cpus_len = (uint16_t)strlen(bad[i])};
    assert_int_equal(loom__wire_begin(&b, 0), 0);
    assert_int_equal(loom__wire_put_done(&b, &d), 0);
    assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
    assert_int_equal(loom__wire_get_done(&r, &d), LOOM_EPROTO);
    /* A list that claims more bytes than the message has. */
    d.cpus = "1";
    d.cpus_len = 1;
    assert_int_equal(loom__wire_begin(&b, 0), 0);
    assert_int_equal(loom__wire_put_done(&b, &d), 0);
    b.len--; /* cut the list short */
    assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
    assert_int_equal(loom__wire_get_done(&r, &d), LOOM_EPROTO);
    loom__buf_fini(&b);
  }
}

static void test_wire_empty_message_has_a_zero_count_header(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_task t;
  uint32_t magic, count;

  assert_int_equal(loom__wire_count(&b), 0); /* no header yet */
  assert_int_equal(loom__wire_begin(&b, 0), 0);
  assert_int_equal(b.len, LOOM__WIRE_HEADER);
  memcpy(&magic, b.data, 4);
  memcpy(&count, b.data + 4, 4);
  assert_int_equal(magic, LOOM__WIRE_MAGIC);
  assert_int_equal(count, 0);
  assert_int_equal(loom__wire_count(&b), 0);

  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
  assert_int_equal(loom__wire_get_task(&r, &t), 0);
  free(msg);
  loom__buf_fini(&b);
}

static void test_wire_count_header_counts_records_written(void **st) {
  (void)st;
  struct loom__buf b = {0};
  uint32_t count;

  put_three_tasks(&b);
  memcpy(&count, b.data + 4, 4);
  assert_int_equal(count, 3);
  /* A new message on the same buffer starts over. */
  assert_int_equal(loom__wire_begin(&b, 0), 0);
  assert_int_equal(b.len, LOOM__WIRE_HEADER);
  assert_int_equal(loom__wire_count(&b), 0);
  put_three_dones(&b);
  assert_int_equal(loom__wire_count(&b), 3);
  loom__buf_fini(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

/* Every proper prefix of a good message is LOOM_EPROTO, at open or at
 * some record, and no decode reads past the prefix. */
static void expect_every_prefix_rejected(const struct loom__buf *b, int done) {
  for (size_t k = 0; k < b->len; k++) {
    unsigned char *msg = exact_copy(b->data, k);
    struct loom__reader r;
    int rc = loom__wire_open(&r, msg, k);

    if (k < LOOM__WIRE_HEADER) {
      assert_int_equal(rc, LOOM_EPROTO);
    } else {
      assert_int_equal(rc, 0);
      do {
        struct loom__wire_task t;
        struct loom__wire_done d;
        rc = done ? loom__wire_get_done(&r, &d) : loom__wire_get_task(&r, &t);
      } while (rc == 1);
      if (rc != LOOM_EPROTO)
        fail_msg("a message cut at %zu of %zu bytes gave %d", k, b->len, rc);
    }
    free(msg);
  }
}

static void test_wire_truncated_task_message_is_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  put_three_tasks(&b);
  expect_every_prefix_rejected(&b, 0);
  loom__buf_fini(&b);
}

static void test_wire_truncated_done_message_is_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  put_three_dones(&b);
  expect_every_prefix_rejected(&b, 1);
  loom__buf_fini(&b);
}

static void test_wire_trailing_bytes_are_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_task t;

  put_three_tasks(&b);
  assert_int_equal(loom__buf_reserve(&b, 1), 0);
  b.data[b.len++] = 0;
  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(loom__wire_get_task(&r, &t), 1);
  assert_int_equal(loom__wire_get_task(&r, &t), LOOM_EPROTO);
  free(msg);
  loom__buf_fini(&b);
}

static void test_wire_bad_magic_is_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;

  put_three_tasks(&b);
  for (int byte = 0; byte < 4; byte++) {
    unsigned char *msg = exact_copy(b.data, b.len);
    msg[byte] ^= 0x40;
    assert_int_equal(loom__wire_open(&r, msg, b.len), LOOM_EPROTO);
    free(msg);
  }
  assert_int_equal(loom__wire_open(&r, NULL, 0), LOOM_EPROTO);
  loom__buf_fini(&b);
}

static void test_wire_count_above_the_records_is_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_done d;
  uint32_t lie = 4;

  put_three_dones(&b);
  memcpy(b.data + 4, &lie, 4);
  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(loom__wire_get_done(&r, &d), LOOM_EPROTO);
  free(msg);
  loom__buf_fini(&b);
}

static void test_wire_payload_length_past_the_end_is_rejected(void **st) {
  (void)st;
  static const uint32_t lies[] = {2, 1000, LOOM__WIRE_PAYLOAD_MAX + 1,
                                  UINT32_MAX};
  struct loom__buf b = {0};
  struct loom__wire_task in = {
      .slot = 1, .attempt = 1, .count = 1, .payload = "x", .len = 1};

  assert_int_equal(loom__wire_begin(&b, 0), 0);
  assert_int_equal(loom__wire_put_task(&b, &in), 0);
  for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
    struct loom__reader r;
    struct loom__wire_task t;
    unsigned char *msg = exact_copy(b.data, b.len);
    /* The length field is the last fixed field of the record. */
    memcpy(msg + LOOM__WIRE_HEADER + TASK_FIXED - 4, &lies[i], 4);
    assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
    assert_int_equal(loom__wire_get_task(&r, &t), LOOM_EPROTO);
    free(msg);
  }
  loom__buf_fini(&b);
}

static void test_wire_put_refuses_payloads_over_the_maximum(void **st) {
  (void)st;
  struct loom__buf b = {0};
  /* The length is checked before the bytes are touched. */
  struct loom__wire_task t = {.payload = big,
                              .len = LOOM__WIRE_PAYLOAD_MAX + 1};
  struct loom__wire_done d = {.data = big, .len = UINT32_MAX};

  assert_int_equal(loom__wire_begin(&b, 0), 0);
  assert_int_equal(loom__wire_put_task(&b, &t), LOOM_ETOOBIG);
  assert_int_equal(loom__wire_put_done(&b, &d), LOOM_ETOOBIG);
  assert_int_equal(b.len, LOOM__WIRE_HEADER);
  assert_int_equal(loom__wire_count(&b), 0);
  loom__buf_fini(&b);
}

static void test_wire_done_set_times_rewrites_records_after_offset(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_done d;
  size_t from;

  put_three_dones(&b);
  from = b.len;
  for (uint32_t i = 0; i < 3; i++) {
    struct loom__wire_done late = {.slot = 100 + i,
                                   .exit_code = (int32_t)i,
                                   .sig = 0,
                                   .flags = 0,
                                   .start = -1,
                                   .elapsed = -1,
                                   .data = big,
                                   .len = 10 * i};
    assert_int_equal(loom__wire_put_done(&b, &late), 0);
  }
  loom__wire_done_set_times(&b, from, 100, 0.5);

  unsigned char *msg = exact_copy(b.data, b.len);
  assert_int_equal(loom__wire_open(&r, msg, b.len), 0);
  assert_int_equal(r.left, 6);
  /* Records before the offset keep their times. */
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_true(d.start == 1.5 && d.elapsed == 0.25);
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_true(d.start == 1700000000.125 && d.elapsed == 3);
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_true(d.start == 0 && d.elapsed == 1e-9);
  /* The k-th record after it starts at start + k * each. */
  for (uint32_t i = 0; i < 3; i++) {
    assert_int_equal(loom__wire_get_done(&r, &d), 1);
    assert_int_equal(d.slot, 100 + i);
    assert_int_equal(d.exit_code, (int32_t)i);
    assert_true(d.start == 100 + 0.5 * i);
    assert_true(d.elapsed == 0.5);
    assert_int_equal(d.len, 10 * i);
    if (i > 0)
      assert_memory_equal(d.data, big, 10 * i);
  }
  assert_int_equal(loom__wire_get_done(&r, &d), 0);
  free(msg);

  /* An offset at the end changes nothing. */
  unsigned char *before = exact_copy(b.data, b.len);
  loom__wire_done_set_times(&b, b.len, 7, 7);
  assert_memory_equal(before, b.data, b.len);
  free(before);
  loom__buf_fini(&b);
}

static void test_wire_flags_travel_and_unknown_ones_are_refused(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_done d;
  uint32_t bad = 0x80;

  put_three_dones(&b); /* begun without flags */
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(r.flags, 0);
  loom__wire_set_flags(&b, LOOM__WIRE_FINAL);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(r.flags, LOOM__WIRE_FINAL);
  loom__wire_set_flags(&b, 0);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(r.flags, 0);
  /* A prefix copied with its count rewritten reads as that many. */
  loom__wire_set_count(&b, 2);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(loom__wire_get_done(&r, &d), LOOM_EPROTO); /* bytes left */
  memcpy(b.data + 8, &bad, 4);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), LOOM_EPROTO);
  loom__buf_fini(&b);
}

static void test_wire_cursor_gives_a_runs_elements_one_by_one(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__task_cursor c;
  struct loom__buf out = {0};
  struct loom__reader r;
  struct loom__wire_done d;
  uint32_t n = 0;

  put_three_tasks(&b); /* 1 + 1 + a run of 3 */
  assert_int_equal(loom__wire_count_tasks(b.data, b.len, &n), 0);
  assert_int_equal(n, 5);
  assert_int_equal(loom__wire_tasks_open(&c, b.data, b.len), 0);
  assert_int_equal(loom__wire_next_task(&c), 1);
  assert_true(c.t.id == 1 && c.t.index == 0); /* one task: its own id */
  assert_int_equal(loom__wire_next_task(&c), 1);
  assert_true(c.t.id == UINT64_MAX && c.t.index == 5);
  for (uint64_t i = UINT64_MAX - 2; i != 0; i++) {
    assert_int_equal(loom__wire_next_task(&c), 1);
    assert_true(c.t.slot == UINT32_MAX);
    assert_true(c.t.index == i);
    /* Each element's own identity, derived from the array's. */
    assert_true(c.t.id == loom_task_id_element(0x0123456789abcdefULL, i));
    assert_int_equal(c.t.len, 1000);
  }
  assert_int_equal(loom__wire_next_task(&c), 0);

  /* Without the flag the header's record count is the task count. */
  loom__wire_set_flags(&b, 0);
  assert_int_equal(loom__wire_count_tasks(b.data, b.len, &n), 0);
  assert_int_equal(n, 3);
  loom__wire_set_flags(&b, LOOM__WIRE_RUNS);

  /* Cancelled from the 4th task on: the run's last two elements. */
  assert_int_equal(loom__wire_begin(&out, LOOM__WIRE_FINAL), 0);
  assert_int_equal(loom__wire_answer_tasks(b.data, b.len, 3, UINT32_MAX,
                                           LOOM__DONE_CANCEL, 0, &out),
                   0);
  assert_int_equal(loom__wire_open(&r, out.data, out.len), 0);
  assert_int_equal(r.left, 2);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(loom__wire_get_done(&r, &d), 1);
    assert_true(d.slot == UINT32_MAX);
    assert_int_equal(d.flags, LOOM__DONE_CANCEL);
  }
  /* Given back: the 2nd to the 4th (not the 5th), each on its own. */
  assert_int_equal(loom__wire_begin(&out, 0), 0);
  assert_int_equal(loom__wire_answer_tasks(b.data, b.len, 1, 4,
                                           LOOM__DONE_RETURNED, 0, &out),
                   0);
  assert_int_equal(loom__wire_open(&r, out.data, out.len), 0);
  assert_int_equal(r.left, 3);
  for (int i = 0; i < 3; i++) {
    double timeout;
    uint64_t mem;
    const void *payload;
    uint32_t len;
    assert_int_equal(loom__wire_get_done(&r, &d), 1);
    assert_int_equal(d.flags, LOOM__DONE_RETURNED);
    assert_int_equal(d.exit_code, 0);
    /* Each carries its task's request and payload back. */
    loom__wire_returned_spec(&d, &timeout, &mem, &payload, &len);
    if (i == 0) {
      assert_true(timeout == 2.5 && mem == (uint64_t)16 << 30);
      assert_int_equal(len, 1);
      assert_int_equal(*(const unsigned char *)payload, 0xab);
    } else {
      assert_true(timeout == 1e9 && mem == UINT64_MAX);
      assert_int_equal(len, sizeof(big));
      assert_memory_equal(payload, big, sizeof(big));
    }
  }
  assert_int_equal(loom__wire_get_done(&r, &d), 0);
  loom__buf_fini(&out);
  loom__buf_fini(&b);
}

static void test_wire_group_records_carry_a_code_per_element(void **st) {
  (void)st;
  static const unsigned char codes[] = {0, 3, 255};
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_done d = {.slot = 9,
                              .flags = LOOM__DONE_GROUP,
                              .start = 100.5,
                              .elapsed = 0.25,
                              .data = codes,
                              .len = 3},
                         one = {.slot = 9, .exit_code = 4, .start = 101};
  size_t whole;

  assert_int_equal(loom__wire_begin(&b, LOOM__WIRE_FINAL), 0);
  assert_int_equal(loom__wire_put_done(&b, &d), 0);
  assert_int_equal(loom__wire_put_done(&b, &one), 0);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(loom__wire_get_done(&r, &d), 1);
  assert_int_equal(d.flags, LOOM__DONE_GROUP);
  assert_int_equal(loom__wire_done_tasks(&d), 3);
  assert_memory_equal(d.data, codes, 3);
  assert_true(d.start == 100.5 && d.elapsed == 0.25);
  assert_int_equal(loom__wire_get_done(&r, &one), 1);
  assert_int_equal(loom__wire_done_tasks(&one), 1);
  assert_int_equal(one.exit_code, 4);
  assert_int_equal(loom__wire_get_done(&r, &one), 0);

  /* Whole records in a prefix: 2, 1 when the second is cut, 0 when the
   * first is. */
  whole = b.len - LOOM__WIRE_HEADER;
  assert_int_equal(loom__wire_done_records(b.data + LOOM__WIRE_HEADER, whole),
                   2);
  assert_int_equal(
      loom__wire_done_records(b.data + LOOM__WIRE_HEADER, whole - 1), 1);
  assert_int_equal(loom__wire_done_records(b.data + LOOM__WIRE_HEADER, 40), 0);
  loom__buf_fini(&b);

  /* A group of nothing, or with anything but its codes, is refused. */
  for (int bad = 0; bad < 4; bad++) {
    struct loom__wire_done g = {
        .slot = 1, .flags = LOOM__DONE_GROUP, .data = codes, .len = 3};
    if (bad == 0)
      g.len = 0;
    else if (bad == 1)
      g.flags |= LOOM__DONE_CANCEL;
    else if (bad == 2)
      g.sig = 9;
    else
      g.exit_code = 1;
    assert_int_equal(read_back(&b, &g), LOOM_EPROTO);
  }
  /* A task given back says so alone, with its request and payload: with
   * a flag, a code or a signal beside it, or without room for its
   * request, the record is refused. */
  for (int bad = -1; bad < 4; bad++) {
    struct loom__wire_done g = {.slot = 1,
                                .flags = LOOM__DONE_RETURNED,
                                .data = big,
                                .len = LOOM__RETURNED_HEAD};
    if (bad == 0)
      g.flags |= LOOM__DONE_TIMEOUT;
    else if (bad == 1)
      g.exit_code = 1;
    else if (bad == 2)
      g.sig = 9;
    else if (bad == 3)
      g.len = LOOM__RETURNED_HEAD - 1;
    assert_int_equal(read_back(&b, &g), bad < 0 ? 1 : LOOM_EPROTO);
  }
  loom__buf_fini(&b);
}

static void test_wire_task_with_no_elements_is_rejected(void **st) {
  (void)st;
  struct loom__buf b = {0};
  struct loom__reader r;
  struct loom__wire_task t = {.slot = 1, .attempt = 1, .count = 0};
  uint32_t n;

  assert_int_equal(loom__wire_begin(&b, LOOM__WIRE_RUNS), 0);
  assert_int_equal(loom__wire_put_task(&b, &t), 0);
  assert_int_equal(loom__wire_open(&r, b.data, b.len), 0);
  assert_int_equal(loom__wire_get_task(&r, &t), LOOM_EPROTO);
  assert_int_equal(loom__wire_count_tasks(b.data, b.len, &n), LOOM_EPROTO);
  loom__buf_fini(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wire_flags_travel_and_unknown_ones_are_refused),
      cmocka_unit_test(test_wire_cursor_gives_a_runs_elements_one_by_one),
      cmocka_unit_test(test_wire_task_with_no_elements_is_rejected),
      cmocka_unit_test(test_wire_group_records_carry_a_code_per_element),
      cmocka_unit_test(test_wire_tasks_round_trip_with_0_1_and_1000_bytes),
      cmocka_unit_test(test_wire_dones_round_trip_with_0_1_and_1000_bytes),
      cmocka_unit_test(test_wire_done_cpus_are_checked),
      cmocka_unit_test(test_wire_empty_message_has_a_zero_count_header),
      cmocka_unit_test(test_wire_count_header_counts_records_written),
      cmocka_unit_test(test_wire_truncated_task_message_is_rejected),
      cmocka_unit_test(test_wire_truncated_done_message_is_rejected),
      cmocka_unit_test(test_wire_trailing_bytes_are_rejected),
      cmocka_unit_test(test_wire_bad_magic_is_rejected),
      cmocka_unit_test(test_wire_count_above_the_records_is_rejected),
      cmocka_unit_test(test_wire_payload_length_past_the_end_is_rejected),
      cmocka_unit_test(test_wire_put_refuses_payloads_over_the_maximum),
      cmocka_unit_test(test_wire_done_set_times_rewrites_records_after_offset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
