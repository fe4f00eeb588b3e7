/* joblog.h - joblog.tsv: one row per task attempt, written as they finish.
 *
 * Columns: id line rank host start elapsed exit signal status attempt
 * command. The command is escaped (\t \n \r \\) so a row is one line. The
 * master flushes after every completion message: a killed run keeps every
 * row it had received.
 */
#ifndef LOOM_JOBLOG_H
#define LOOM_JOBLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct loom__joblog {
  FILE *fp;
};

struct loom__joblog_row {
  uint64_t id;
  uint64_t line;
  int rank;
  const char *host;
  double start;
  double elapsed;
  int exit_code;
  int sig;
  const char *status; /* ok, failed, signal, timeout, spawn-failed */
  int attempt;
  const char *text;
  size_t text_len;
};

#define LOOM__JOBLOG_HEADER                                                    \
  "id\tline\trank\thost\tstart\telapsed\texit\tsignal\tstatus\tattempt\t"      \
  "command\n"

/* Creates DIR/joblog.tsv with its header. Returns 0 or LOOM_EIO. */
int loom__joblog_open(struct loom__joblog *j, const char *dir);
int loom__joblog_write(struct loom__joblog *j,
                       const struct loom__joblog_row *r);
int loom__joblog_flush(struct loom__joblog *j);
/* Returns 0, or LOOM_EIO when anything failed to reach the file. */
int loom__joblog_close(struct loom__joblog *j);

/* Writes s escaped into f. */
void loom__joblog_escape(FILE *f, const char *s, size_t n);

#endif /* LOOM_JOBLOG_H */
