/* fuzz_journal.c - libFuzzer target: reading a run directory's journal
 * back, as a resume does (engine/src/journal/joblog.c, resume.c). The input
 * is joblog.tsv, with dispatched.tsv after the first NUL byte if there is
 * one. A malformed journal must be an error naming file and line, never a
 * crash or undefined behaviour (the attempt counter once overflowed).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/resume.h"
#include "loom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n) {
  char path[128];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t n1 = nul ? (size_t)(nul - data) : size;
  struct loom__resume res;
  double *d = NULL;
  size_t nd = 0;
  char err[512] = "";
  int rc;

  if (!dir[0]) {
    snprintf(dir, sizeof(dir), "/tmp/loom-fuzz-journal-XXXXXX");
    if (!mkdtemp(dir))
      abort();
  }
  put("joblog.tsv", data, n1);
  put("dispatched.tsv", nul ? nul + 1 : data, nul ? size - n1 - 1 : 0);
  rc = loom__resume_load(&res, dir, (int)(size & 1), err, sizeof(err));
  if (rc == 0)
    loom__resume_fini(&res);
  else if (rc != LOOM_ENOMEM && !strstr(err, dir))
    abort(); /* an error names the file */
  if (loom_joblog_durations(dir, &d, &nd, err, sizeof(err)) == 0)
    free(d);
  return 0;
}
