/* fuzz_state.c - libFuzzer target: what a replica reads from another rank
 * and from the journal (engine/src/state/table.c, log.c). The first byte
 * picks: even, the rest is a batch of entries that is decoded and merged
 * into a table twice (the join must change nothing the second time, and
 * the table's own encoding must decode to the same digest); odd, the rest
 * is a state.log that the journal reader loads. Every length must be
 * checked, whatever the bytes claim.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/codec.h"
#include "loom.h"
#include "state/internal.h"
#include "state/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Merges every entry of msg into t. Returns how many changed it, or -1
 * when the bytes are not entries. */
static int merge_all(struct loom__table *t, const unsigned char *msg,
                     size_t n) {
  struct loom__cur c;
  int changed = 0;

  loom__cur_init(&c, msg, n);
  while (loom__cur_left(&c) > 0) {
    struct loom__entry_in y;
    int rc;
    if (loom__entry_decode(&c, &y) != 0)
      return -1;
    rc = loom__table_merge(t, &y, NULL);
    if (rc < 0)
      abort(); /* out of memory in a fuzzer: not expected */
    changed += rc;
  }
  return changed;
}

static void batch(const unsigned char *msg, size_t n) {
  struct loom__table t, back;
  struct loom__buf b = {0};

  loom__table_init(&t, 0);
  loom__table_init(&back, 0);
  if (merge_all(&t, msg, n) >= 0) {
    if (merge_all(&t, msg, n) != 0)
      abort(); /* a join repeated must change nothing */
    for (size_t i = 0; i < t.n; i++)
      if (loom__entry_encode(&b, &t.e[i], -1) != 0)
        abort();
    if (merge_all(&back, b.data, b.len) < 0 ||
        loom__table_digest(&back) != loom__table_digest(&t))
      abort(); /* what a replica sends is what it holds */
  }
  loom__buf_fini(&b);
  loom__table_fini(&t);
  loom__table_fini(&back);
}

static void journal(const unsigned char *bytes, size_t n) {
  char path[64], err[512];
  struct loom__table t;
  uint64_t records;
  off_t good;
  FILE *f;

  snprintf(path, sizeof(path), "/tmp/fuzz-state-%d.log", (int)getpid());
  f = fopen(path, "w");
  if (!f)
    return;
  fwrite(bytes, 1, n, f);
  fclose(f);
  loom__table_init(&t, 0);
  if (loom__log_load(path, &t, &records, &good, err, sizeof(err)) == 0 &&
      (good < 0 || (size_t)good > n))
    abort(); /* the good prefix lies inside the file */
  loom__table_fini(&t);
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned char *msg;

  if (size < 1)
    return 0;
  /* An exact copy, so a read past the end is a sanitizer report. */
  msg = malloc(size - 1 ? size - 1 : 1);
  if (!msg)
    return 0;
  memcpy(msg, data + 1, size - 1);
  if (data[0] & 1)
    journal(msg, size - 1);
  else
    batch(msg, size - 1);
  free(msg);
  return 0;
}
