/* joblog.h - the run's journal: joblog.tsv and dispatched.tsv.
 *
 * joblog.tsv has one row per finished task attempt. Columns: id key line
 * rank host start elapsed exit signal status attempt command. The command
 * is escaped (\t \n \r \\) so a row is one line. dispatched.tsv has one
 * row (id, key) per task handed out, written before the batch is sent.
 * The master flushes both after every message, so a killed run keeps every
 * row it had; a torn last line is ignored when the journal is read back
 * (resume). Rows are formatted into buffers of the journal's own and reach
 * the files in few write() calls.
 */
#ifndef LOOM_JOBLOG_H
#define LOOM_JOBLOG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* The digits of the whole seconds of the last start time written. */
struct loom__joblog_secs {
  uint64_t sec;
  unsigned char len; /* 0: nothing kept */
  char text[16];     /* the digits (under 9e9 s: at most 10) */
};

/* The bytes of a journal file's buffer: rows are formatted into it and
 * written out when it is full and at every flush. */
#define LOOM__JOURNAL_BUFFER (1u << 20)

struct loom__jfile {
  int fd;     /* -1: closed */
  int err;    /* errno of a failed write; nothing more is written then */
  size_t len; /* bytes in buf not yet written */
  char *buf;  /* LOOM__JOURNAL_BUFFER bytes */
};

struct loom__joblog {
  int open;                   /* the files are open: rows are written */
  struct loom__jfile file[2]; /* joblog.tsv, dispatched.tsv */
  char path[2][PATH_MAX];
  char err[PATH_MAX + 96]; /* the first failure ("cannot write PATH: why");
                              after it nothing more is written */
  struct loom__joblog_secs start_secs;
};

struct loom__joblog_row {
  uint64_t id;
  uint64_t key;
  uint64_t line;
  int rank;
  const char *host;
  double start;
  double elapsed;
  int exit_code;
  int sig;
  const char *status; /* ok, failed, signal, timeout, spawn-failed */
  int attempt;
  const char *cpus; /* where it was pinned ("0-3"), cpus_len bytes; NULL:
                       not pinned, written "-" */
  size_t cpus_len;
  const char *text;
  size_t text_len;
};

#define LOOM__JOBLOG_HEADER                                                    \
  "id\tkey\tline\trank\thost\tstart\telapsed\texit\tsignal\tstatus\t"          \
  "attempt\tcpus\tcommand\n"
#define LOOM__STARTED_HEADER "id\tkey\n"

/* The highest attempt number a journal may hold: with at most
 * LOOM_RETRIES_MAX retries after it, a task's attempts still fit the 16-bit
 * counter of the wire. */
#define LOOM__ATTEMPT_MAX 60000

/* Creates DIR/joblog.tsv and DIR/dispatched.tsv with their headers, or with
 * append set opens existing ones to add to them (a resumed run).
 * Returns 0 or LOOM_EIO (j->err says which file and why).
 * Every writer below returns 0 or LOOM_EIO; the first failure is kept in
 * j->err, and from then on nothing more is written (a journal ends in
 * whole rows, or in one torn row that a resume cuts off). */
int loom__joblog_open(struct loom__joblog *j, const char *dir, int append);
int loom__joblog_write(struct loom__joblog *j,
                       const struct loom__joblog_row *r);
/* Records that a task was handed out (dispatched.tsv). */
int loom__joblog_started(struct loom__joblog *j, uint64_t id, uint64_t key);
int loom__joblog_flush(struct loom__joblog *j);
/* Returns 0, or LOOM_EIO when anything failed to reach the files. */
int loom__joblog_close(struct loom__joblog *j);

struct loom__joblog_entry {
  uint64_t id;
  uint64_t key;
  int attempt;
  int ok;
  double elapsed; /* joblog.tsv rows only */
};
typedef int (*loom__joblog_fn)(void *arg, const struct loom__joblog_entry *e);

/* Reads DIR/NAME (joblog.tsv or dispatched.tsv), calling fn for every whole
 * row; a last line without its newline (a run killed mid-write) is skipped.
 * Every field is checked (numbers in range, a known status, an attempt of
 * 1 to LOOM__ATTEMPT_MAX): a row loom did not write is an error naming the
 * file, line and field, with an escaped excerpt. A missing dispatched.tsv
 * reads as empty. Returns 0, fn's non-zero return, LOOM_EIO or
 * LOOM_ESYNTAX (err names file and line). */
int loom__joblog_read(const char *dir, const char *name, loom__joblog_fn fn,
                      void *arg, char *err, size_t errlen);

#endif /* LOOM_JOBLOG_H */
