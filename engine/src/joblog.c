/* joblog.c - the joblog.tsv writer (joblog.h).
 *
 * Rows go through a large stdio buffer; loom__joblog_flush() is called by
 * the master after each completion message, so what was received is on
 * disk (in the page cache) before more work is handed out.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include "internal.h"
#include "joblog.h"

int loom__joblog_open(struct loom__joblog *j, const char *dir) {
  char path[PATH_MAX];

  j->fp = NULL;
  if (snprintf(path, sizeof(path), "%s/joblog.tsv", dir) >= (int)sizeof(path))
    return LOOM_EIO;
  j->fp = fopen(path, "w");
  if (!j->fp)
    return LOOM_EIO;
  setvbuf(j->fp, NULL, _IOFBF, 1 << 20);
  if (fputs(LOOM__JOBLOG_HEADER, j->fp) < 0 || fflush(j->fp) != 0) {
    fclose(j->fp);
    j->fp = NULL;
    return LOOM_EIO;
  }
  return 0;
}

void loom__joblog_escape(FILE *f, const char *s, size_t n) {
  size_t run = 0;

  for (size_t i = 0; i < n; i++) {
    const char *e = NULL;
    switch (s[i]) {
    case '\t':
      e = "\\t";
      break;
    case '\n':
      e = "\\n";
      break;
    case '\r':
      e = "\\r";
      break;
    case '\\':
      e = "\\\\";
      break;
    default:
      continue;
    }
    fwrite(s + run, 1, i - run, f);
    fputs(e, f);
    run = i + 1;
  }
  fwrite(s + run, 1, n - run, f);
}

int loom__joblog_write(struct loom__joblog *j,
                       const struct loom__joblog_row *r) {
  if (!j->fp)
    return 0;
  fprintf(j->fp,
          "%016" PRIx64 "\t%" PRIu64 "\t%d\t%s\t%.6f\t%.6f\t%d\t%d\t%s\t%d\t",
          r->id, r->line, r->rank, r->host, r->start, r->elapsed, r->exit_code,
          r->sig, r->status, r->attempt);
  loom__joblog_escape(j->fp, r->text, r->text_len);
  return fputc('\n', j->fp) == EOF ? LOOM_EIO : 0;
}

int loom__joblog_flush(struct loom__joblog *j) {
  if (!j->fp)
    return 0;
  return fflush(j->fp) == 0 && !ferror(j->fp) ? 0 : LOOM_EIO;
}

int loom__joblog_close(struct loom__joblog *j) {
  int rc = 0;
  if (!j->fp)
    return 0;
  if (ferror(j->fp))
    rc = LOOM_EIO;
  if (fclose(j->fp) != 0)
    rc = LOOM_EIO;
  j->fp = NULL;
  return rc;
}
