/* test_table.c - unit tests of one replica of the state table
 * (engine/src/state/table.c) and of its journal reader (state/log.c):
 * merges commute and repeat harmlessly (replicas that saw the same updates
 * in any order hold the same table), the last writer wins by (ts, rank),
 * kinds on one key join by rank, counters sum per-rank totals, the budget
 * is counted, the decoder refuses malformed bytes, and the journal reader
 * cuts a torn last record but refuses a damaged one in the middle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/codec.h"
#include "state/internal.h"
#include "state/table.h"

/* Writes register key = value stamped (ts, origin) into t. */
static void put(struct loom__table *t, const char *key, const char *value,
                uint64_t ts, int origin) {
  long x = loom__table_make(t, key, strlen(key));
  assert_true(x >= 0);
  assert_int_equal(loom__table_set(t, (size_t)x, value,
                                   value ? strlen(value) : 0, ts, origin),
                   0);
}

/* Merges every entry of `from` (encoded, decoded: the wire's path) into
 * `to`. Returns how many changed it. */
static int merge_table(struct loom__table *to, const struct loom__table *from) {
  struct loom__buf b = {0};
  struct loom__cur c;
  int changed = 0;

  for (size_t i = 0; i < from->n; i++)
    assert_int_equal(loom__entry_encode(&b, &from->e[i], -1), 0);
  loom__cur_init(&c, b.data, b.len);
  while (loom__cur_left(&c) > 0) {
    struct loom__entry_in y;
    int rc;
    assert_int_equal(loom__entry_decode(&c, &y), 0);
    rc = loom__table_merge(to, &y, NULL);
    assert_true(rc >= 0);
    changed += rc;
  }
  loom__buf_fini(&b);
  return changed;
}

static const char *get(const struct loom__table *t, const char *key,
                       char *buf) {
  long x = loom__table_find(t, key, strlen(key));
  char text[24];
  size_t len;
  const void *p;

  if (x < 0)
    return NULL;
  p = loom__entry_view(&t->e[x], text, &len);
  if (!p)
    return NULL;
  memcpy(buf, p, len);
  buf[len] = '\0';
  return buf;
}

static void test_last_writer_wins_by_stamp(void **st) {
  struct loom__table a, b, one;
  char buf[64];
  (void)st;

  loom__table_init(&a, 0);
  loom__table_init(&b, 0);
  loom__table_init(&one, 0);
  put(&a, "k", "from-1", 5, 1);
  put(&b, "k", "from-2", 5, 2); /* same clock: the higher rank wins */
  put(&one, "k", "old", 4, 3);  /* older clock, higher rank: loses */
  merge_table(&a, &b);
  merge_table(&a, &one);
  merge_table(&b, &one);
  merge_table(&b, &a);
  assert_string_equal(get(&a, "k", buf), "from-2");
  assert_string_equal(get(&b, "k", buf), "from-2");
  assert_int_equal(loom__table_digest(&a), loom__table_digest(&b));
  /* A later delete wins, and stays deleted after an older write. */
  put(&one, "k", NULL, 6, 0);
  merge_table(&a, &one);
  assert_null(get(&a, "k", buf));
  merge_table(&a, &b);
  assert_null(get(&a, "k", buf));
  loom__table_fini(&a);
  loom__table_fini(&b);
  loom__table_fini(&one);
}

/* Random updates from 3 "ranks" merged into replicas in different orders,
 * some twice: all replicas end equal. */
static void test_merges_commute_and_repeat(void **st) {
  enum { RANKS = 3, OPS = 300, REPLICAS = 4 };
  struct loom__table src[RANKS], rep[REPLICAS];
  uint64_t x = 12345;
  (void)st;

  for (int r = 0; r < RANKS; r++)
    loom__table_init(&src[r], 0);
  for (int i = 0; i < OPS; i++) {
    int r = (int)(i % RANKS), kind;
    char key[8], val[16];
    long e;
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    kind = (int)(x >> 60) % 4;
    snprintf(key, sizeof(key), "%c%d", "rmxc"[kind], (int)(x >> 40) % 5);
    e = loom__table_make(&src[r], key, strlen(key));
    assert_true(e >= 0);
    snprintf(val, sizeof(val), "%d", i);
    if (kind == 0)
      loom__table_set(&src[r], (size_t)e, (x >> 20) % 7 ? val : NULL,
                      strlen(val), (uint64_t)(i / 7), r);
    else if (kind == 3)
      loom__table_add(&src[r], (size_t)e, RANKS, r, (int64_t)(x >> 50) % 9 - 4);
    else
      loom__table_setnum(&src[r], (size_t)e,
                         kind == 1 ? LOOM__KIND_MIN : LOOM__KIND_MAX,
                         (int64_t)(x >> 33) % 1000);
  }
  for (int k = 0; k < REPLICAS; k++) {
    loom__table_init(&rep[k], 0);
    for (int j = 0; j < RANKS; j++)
      merge_table(&rep[k], &src[(j + k) % RANKS]);
    if (k % 2) /* again, in reverse: nothing changes */
      for (int j = RANKS - 1; j >= 0; j--)
        assert_int_equal(merge_table(&rep[k], &src[j]), 0);
  }
  for (int k = 1; k < REPLICAS; k++)
    assert_int_equal(loom__table_digest(&rep[k]), loom__table_digest(&rep[0]));
  for (int r = 0; r < RANKS; r++)
    loom__table_fini(&src[r]);
  for (int k = 0; k < REPLICAS; k++)
    loom__table_fini(&rep[k]);
}

static void test_counter_sums_ranks_and_min_max_join(void **st) {
  struct loom__table a, b;
  char buf[64];
  long x;
  (void)st;

  loom__table_init(&a, 0);
  loom__table_init(&b, 0);
  x = loom__table_make(&a, "c", 1);
  loom__table_add(&a, (size_t)x, 2, 0, 5);
  loom__table_add(&a, (size_t)x, 2, 0, -2);
  x = loom__table_make(&b, "c", 1);
  loom__table_add(&b, (size_t)x, 2, 1, 10);
  merge_table(&a, &b);
  merge_table(&b, &a);
  merge_table(&a, &b);
  assert_string_equal(get(&a, "c", buf), "13");
  assert_string_equal(get(&b, "c", buf), "13");
  x = loom__table_make(&a, "hi", 2);
  loom__table_setnum(&a, (size_t)x, LOOM__KIND_MAX, 7);
  x = loom__table_make(&b, "hi", 2);
  loom__table_setnum(&b, (size_t)x, LOOM__KIND_MAX, 9);
  merge_table(&a, &b);
  merge_table(&b, &a);
  assert_string_equal(get(&a, "hi", buf), "9");
  assert_string_equal(get(&b, "hi", buf), "9");
  /* A register and a counter on one key: the counter wins everywhere. */
  put(&a, "mixed", "bytes", 100, 0);
  x = loom__table_make(&b, "mixed", 5);
  loom__table_add(&b, (size_t)x, 2, 1, 4);
  merge_table(&a, &b);
  merge_table(&b, &a);
  assert_string_equal(get(&a, "mixed", buf), "4");
  assert_int_equal(loom__table_digest(&a), loom__table_digest(&b));
  /* Only one rank's totals on the wire: the join keeps the rest. */
  {
    struct loom__buf w = {0};
    struct loom__cur c;
    struct loom__entry_in y;
    x = loom__table_find(&a, "c", 1);
    assert_int_equal(loom__entry_encode(&w, &a.e[x], 1), 0);
    loom__cur_init(&c, w.data, w.len);
    assert_int_equal(loom__entry_decode(&c, &y), 0);
    assert_int_equal(y.npairs, 1);
    assert_int_equal(loom__table_merge(&b, &y, NULL), 0);
    loom__buf_fini(&w);
  }
  loom__table_fini(&a);
  loom__table_fini(&b);
}

static void test_budget_is_counted(void **st) {
  struct loom__table t;
  size_t before;
  long x;
  (void)st;

  loom__table_init(&t, 1000);
  assert_false(loom__table_over(&t, 900));
  put(&t, "k", "0123456789", 1, 0);
  before = t.bytes;
  assert_int_equal(before, loom__entry_cost(1, 10, 0));
  assert_true(loom__table_over(&t, 1000 - before + 1));
  assert_false(loom__table_over(&t, 1000 - before));
  put(&t, "k", "01", 2, 0); /* shrinking gives bytes back */
  assert_int_equal(t.bytes, before - 8);
  x = loom__table_find(&t, "k", 1);
  loom__table_setnum(&t, (size_t)x, LOOM__KIND_MAX, 3);
  assert_int_equal(t.bytes, loom__entry_cost(1, 0, 0));
  loom__table_fini(&t);
}

/* Encodes one entry and lets fn spoil the bytes; the decoder must say
 * LOOM_EPROTO and never read past them. */
static void test_decoder_refuses_malformed(void **st) {
  struct loom__table t;
  struct loom__buf b = {0};
  struct loom__entry_in y;
  struct loom__cur c;
  unsigned char *copy;
  (void)st;

  loom__table_init(&t, 0);
  put(&t, "key", "value", 3, 1);
  assert_int_equal(loom__entry_encode(&b, &t.e[0], -1), 0);
  for (size_t cut = 0; cut < b.len; cut++) { /* every short message */
    copy = malloc(cut ? cut : 1);
    memcpy(copy, b.data, cut);
    loom__cur_init(&c, copy, cut);
    assert_int_equal(loom__entry_decode(&c, &y), LOOM_EPROTO);
    free(copy);
  }
  copy = malloc(b.len);
  memcpy(copy, b.data, b.len);
  copy[2 + 3] = 9; /* no such kind */
  loom__cur_init(&c, copy, b.len);
  assert_int_equal(loom__entry_decode(&c, &y), LOOM_EPROTO);
  memcpy(copy, b.data, b.len);
  copy[3] = '\0'; /* a NUL inside the key */
  loom__cur_init(&c, copy, b.len);
  assert_int_equal(loom__entry_decode(&c, &y), LOOM_EPROTO);
  memcpy(copy, b.data, b.len);
  copy[0] = 0; /* empty key */
  copy[1] = 0;
  loom__cur_init(&c, copy, b.len);
  assert_int_equal(loom__entry_decode(&c, &y), LOOM_EPROTO);
  memcpy(copy, b.data, b.len);
  loom__cur_init(&c, copy, b.len);
  assert_int_equal(loom__entry_decode(&c, &y), 0);
  assert_int_equal(y.len, 5);
  assert_memory_equal(y.val, "value", 5);
  free(copy);
  loom__buf_fini(&b);
  loom__table_fini(&t);
}

/* ---- the journal -------------------------------------------------------- */

static void write_journal(const char *path, const struct loom__table *t,
                          size_t *offsets) {
  struct loom__state s;
  memset(&s, 0, sizeof(s));
  s.log_fd = -1;
  snprintf(s.log_path, sizeof(s.log_path), "%s", path);
  s.log_on = 1;
  unlink(path);
  for (size_t i = 0; i < t->n; i++) {
    offsets[i] = 12 + s.logbuf.len;
    assert_int_equal(loom__log_add(&s, &t->e[i], -1), 0);
  }
  assert_int_equal(loom__log_commit(&s), 0);
  loom__log_close(&s);
  loom__buf_fini(&s.logbuf);
}

static void test_journal_torn_tail_and_damage(void **st) {
  char dir[] = "/tmp/loom-table-XXXXXX", path[256], err[512];
  struct loom__table t, back;
  size_t off[3];
  uint64_t records;
  off_t good;
  FILE *f;
  long size;
  (void)st;

  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/state.log", dir);
  loom__table_init(&t, 0);
  put(&t, "a", "1", 1, 0);
  put(&t, "b", "2", 2, 0);
  put(&t, "c", "3", 3, 0);
  write_journal(path, &t, off);
  loom__table_init(&back, 0);
  assert_int_equal(
      loom__log_load(path, &back, &records, &good, err, sizeof(err)), 0);
  assert_int_equal(records, 3);
  assert_int_equal(loom__table_digest(&back), loom__table_digest(&t));
  loom__table_fini(&back);
  /* A kill mid-write: the last record cut short is not applied. */
  f = fopen(path, "r+");
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fclose(f);
  assert_int_equal(truncate(path, size - 2), 0);
  loom__table_init(&back, 0);
  assert_int_equal(
      loom__log_load(path, &back, &records, &good, err, sizeof(err)), 0);
  assert_int_equal(records, 2);
  assert_int_equal((long)good, (long)off[2]);
  assert_int_equal(loom__table_find(&back, "c", 1), -1);
  loom__table_fini(&back);
  /* A damaged record with records after it: an error naming the byte. */
  write_journal(path, &t, off);
  f = fopen(path, "r+");
  fseek(f, (long)off[1] + 10, SEEK_SET);
  fputc('X', f);
  fclose(f);
  loom__table_init(&back, 0);
  assert_int_equal(
      loom__log_load(path, &back, &records, &good, err, sizeof(err)),
      LOOM_ESYNTAX);
  assert_non_null(strstr(err, "is damaged"));
  loom__table_fini(&back);
  /* Not a journal at all. */
  f = fopen(path, "w");
  fputs("key\tkind\tvalue\n", f);
  fclose(f);
  loom__table_init(&back, 0);
  assert_int_equal(
      loom__log_load(path, &back, &records, &good, err, sizeof(err)),
      LOOM_ESYNTAX);
  loom__table_fini(&back);
  loom__table_fini(&t);
  unlink(path);
  rmdir(dir);
}

static void test_tsv_escapes(void **st) {
  struct loom__table t;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  (void)st;

  loom__table_init(&t, 0);
  put(&t, "b\tkey", "line\nnext\\\x01", 1, 0);
  put(&t, "a", "plain", 1, 0);
  put(&t, "gone", NULL, 2, 0);
  assert_int_equal(loom__table_write_tsv(&t, f), 0);
  fclose(f);
  assert_string_equal(text, "key\tkind\tvalue\n"
                            "a\tbytes\tplain\n"
                            "b\\tkey\tbytes\tline\\nnext\\\\\\x01\n");
  free(text);
  loom__table_fini(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_writer_wins_by_stamp),
      cmocka_unit_test(test_merges_commute_and_repeat),
      cmocka_unit_test(test_counter_sums_ranks_and_min_max_join),
      cmocka_unit_test(test_budget_is_counted),
      cmocka_unit_test(test_decoder_refuses_malformed),
      cmocka_unit_test(test_journal_torn_tail_and_damage),
      cmocka_unit_test(test_tsv_escapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
