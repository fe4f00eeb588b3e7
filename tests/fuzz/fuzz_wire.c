/* fuzz_wire.c - libFuzzer target: the decoders of every message a rank
 * receives from another (engine/src/dispatch/wire.c). The first byte picks
 * TASKS or DONE records; the rest is the message. Every record must lie
 * inside the message, whatever the header claims.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/wire.h"
#include "loom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct loom__reader r;
  unsigned char *msg;
  int got;

  if (size < 1)
    return 0;
  /* An exact copy, so a read past the end is a sanitizer report. */
  msg = malloc(size - 1 ? size - 1 : 1);
  if (!msg)
    return 0;
  memcpy(msg, data + 1, size - 1);
  if (loom__wire_open(&r, msg, size - 1) == 0) {
    if (data[0] & 1) {
      struct loom__wire_done d;
      while ((got = loom__wire_get_done(&r, &d)) == 1)
        if (d.len && (const unsigned char *)d.data + d.len > msg + size - 1)
          abort();
    } else {
      struct loom__wire_task t;
      while ((got = loom__wire_get_task(&r, &t)) == 1)
        if (t.len && (const unsigned char *)t.payload + t.len > msg + size - 1)
          abort();
      {
        uint32_t n = 0;
        int rc = loom__wire_count_tasks(msg, size - 1, &n);
        /* With runs it walks the records: it never takes a message the
         * walk above refused (it also refuses more tasks than a count). */
        if ((r.flags & LOOM__WIRE_RUNS) && rc == 0 && got != 0)
          abort();
        if (rc != 0 && rc != LOOM_EPROTO)
          abort();
      }
    }
    if (got != 0 && got != LOOM_EPROTO)
      abort();
  }
  free(msg);
  return 0;
}
