/* joblog.c - writing and reading back the run's journal (joblog.h).
 *
 * Rows go through large stdio buffers; loom__joblog_flush() is called by
 * the master before each batch goes out and after each completion message,
 * so what was dispatched and what was received are on disk (in the page
 * cache) before more work is handed out.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "journal/joblog.h"

/* A run killed mid-write can leave a last line without its newline: the
 * reader skips it, and a run that appends must not glue its first row onto
 * it. Cuts f back to just after its last newline (or to nothing). */
static int cut_torn_tail(FILE *f) {
  char buf[4096];
  off_t end, pos;

  if (fseeko(f, 0, SEEK_END) != 0 || (end = ftello(f)) < 0)
    return -1;
  for (pos = end; pos > 0;) {
    size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
    pos -= (off_t)n;
    if (fseeko(f, pos, SEEK_SET) != 0 || fread(buf, 1, n, f) != n)
      return -1;
    for (size_t i = n; i > 0; i--)
      if (buf[i - 1] == '\n') {
        off_t keep = pos + (off_t)i;
        if (keep < end && ftruncate(fileno(f), keep) != 0)
          return -1;
        return fseeko(f, 0, SEEK_END);
      }
  }
  if (end > 0 && ftruncate(fileno(f), 0) != 0)
    return -1;
  return fseeko(f, 0, SEEK_END);
}

/* Keeps the first failure, on file i, with errno's reason. Returns
 * LOOM_EIO. */
static int failed(struct loom__joblog *j, int i) {
  if (!j->err[0])
    snprintf(j->err, sizeof(j->err), "cannot write %s: %s", j->path[i],
             strerror(errno ? errno : EIO));
  return LOOM_EIO;
}

/* The stdio buffer of each file. */
#define JOURNAL_BUFFER (1u << 20)

/* Closes file i of the journal and frees its buffer. */
static int close_file(struct loom__joblog *j, FILE *f, int i) {
  int rc = fclose(f);

  free(j->buf[i]);
  j->buf[i] = NULL;
  return rc;
}

static FILE *open_one(struct loom__joblog *j, int i, const char *dir,
                      const char *name, const char *header, int append) {
  struct stat st;
  FILE *f;

  errno = ENAMETOOLONG;
  if (snprintf(j->path[i], sizeof(j->path[i]), "%s/%s", dir, name) >=
      (int)sizeof(j->path[i]))
    return failed(j, i), NULL;
  f = fopen(j->path[i], append ? "a+" : "w");
  if (!f)
    return failed(j, i), NULL;
  if (append && cut_torn_tail(f) != 0) {
    failed(j, i);
    fclose(f);
    return NULL;
  }
  /* A buffer of our own: given none, glibc's is st_blksize (4 KiB), and
   * a write() every 4 KiB, each starting inside a block, cost the master
   * more than formatting the rows. */
  j->buf[i] = malloc(JOURNAL_BUFFER);
  if (!j->buf[i] || setvbuf(f, j->buf[i], _IOFBF, JOURNAL_BUFFER) != 0) {
    errno = ENOMEM;
    failed(j, i);
    close_file(j, f, i);
    return NULL;
  }
  /* A new file, or one a killed run left empty, gets its header. */
  if (fstat(fileno(f), &st) != 0 || (st.st_size == 0 && fputs(header, f) < 0) ||
      fflush(f) != 0) {
    failed(j, i);
    close_file(j, f, i);
    return NULL;
  }
  return f;
}

int loom__joblog_open(struct loom__joblog *j, const char *dir, int append) {
  j->err[0] = '\0';
  j->start_secs.len = 0;
  j->buf[0] = j->buf[1] = NULL;
  j->fp = open_one(j, 0, dir, "joblog.tsv", LOOM__JOBLOG_HEADER, append);
  j->started = j->fp ? open_one(j, 1, dir, "dispatched.tsv",
                                LOOM__STARTED_HEADER, append)
                     : NULL;
  if (!j->started) {
    if (j->fp)
      close_file(j, j->fp, 0);
    j->fp = NULL;
    return LOOM_EIO;
  }
  return 0;
}

/* A row is built in a line buffer and reaches stdio in one fwrite() (or a
 * few, for a row longer than the buffer): printf's formatting of two
 * doubles was most of the master's time per task on tiny tasks. Only the
 * master's loop thread writes the journal, so stdio's own lock is not
 * taken per row (fwrite_unlocked, ferror_unlocked). */
struct line {
  FILE *f;
  size_t n;
  char b[1024];
};

static void line_flush(struct line *l) {
  if (l->n)
    fwrite_unlocked(l->b, 1, l->n, l->f);
  l->n = 0;
}

/* Room for at least n <= sizeof(l->b) bytes at the end of the line. */
static char *line_room(struct line *l, size_t n) {
  if (l->n + n > sizeof(l->b))
    line_flush(l);
  return l->b + l->n;
}

/* Copies n bytes, never touching a byte outside either range: up to 16
 * of them in two overlapping fixed-size moves (a call to memcpy for a
 * host name or a status was most of this function's time). */
static void copy_bytes(char *d, const char *s, size_t n) {
  if (n >= 8 && n <= 16) {
    memcpy(d, s, 8);
    memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4 && n < 8) {
    memcpy(d, s, 4);
    memcpy(d + n - 4, s + n - 4, 4);
  } else if (n < 4) {
    for (size_t i = 0; i < n; i++)
      d[i] = s[i];
  } else {
    memcpy(d, s, n);
  }
}

static void line_add(struct line *l, const char *s, size_t n) {
  if (n > sizeof(l->b)) {
    line_flush(l);
    fwrite_unlocked(s, 1, n, l->f);
    return;
  }
  copy_bytes(line_room(l, n), s, n);
  l->n += n;
}

static void line_char(struct line *l, char c) { *line_room(l, 1) = c, l->n++; }

/* v as 16 lower-case hex digits, as %016 PRIx64 writes it: each half's
 * eight nibbles spread into the eight bytes of a word, then turned into
 * characters all at once (a nibble of 10 or more gets the step from '9'+1
 * to 'a' added). */
static void line_hex16(struct line *l, uint64_t v) {
  char *p = line_room(l, 16);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (int h = 0; h < 2; h++) {
    uint64_t x = (uint32_t)(v >> (h ? 0 : 32)), letters;
    x = (x | x << 16) & 0x0000ffff0000ffffULL;
    x = (x | x << 8) & 0x00ff00ff00ff00ffULL;
    x = (x | x << 4) & 0x0f0f0f0f0f0f0f0fULL;
    x = __builtin_bswap64(x); /* the first nibble first in memory */
    letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
    x += 0x3030303030303030ULL + letters * ('a' - '9' - 1);
    memcpy(p + (size_t)8 * (size_t)h, &x, 8);
  }
#else
  static const char digits[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, v >>= 4)
    p[i] = digits[v & 15];
#endif
  l->n += 16;
}

/* "00" to "99": two digits a step. */
static const char pairs[] = "0001020304050607080910111213141516171819"
                            "2021222324252627282930313233343536373839"
                            "4041424344454647484950515253545556575859"
                            "6061626364656667686970717273747576777879"
                            "8081828384858687888990919293949596979899";

/* v's digits, written backwards to end just before e (ndigits(v) of
 * them). */
static void digits_before(char *e, uint64_t v) {
  while (v >= 100) {
    e -= 2;
    memcpy(e, pairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    e -= 2;
    memcpy(e, pairs + 2 * v, 2);
  } else {
    *--e = (char)('0' + v);
  }
}

/* How many decimal digits v has. */
static size_t ndigits(uint64_t v) {
  size_t n = 1;

  for (;;) {
    if (v < 10)
      return n;
    if (v < 100)
      return n + 1;
    if (v < 1000)
      return n + 2;
    if (v < 10000)
      return n + 3;
    v /= 10000;
    n += 4;
  }
}

/* v in decimal, with a '-' when negative, as %d and %PRIu64 write it.
 * The digits go straight into the line: built elsewhere two at a time and
 * then copied, the copy's wide loads could not be forwarded from the
 * narrow stores and stalled. */
static void line_dec(struct line *l, uint64_t v, int negative) {
  size_t n = ndigits(v) + (negative ? 1 : 0);
  char *p = line_room(l, n);

  digits_before(p + n, v);
  if (negative)
    *p = '-';
  l->n += n;
}

static void line_int(struct line *l, int v) {
  line_dec(l, v < 0 ? 0 - (uint64_t)(int64_t)v : (uint64_t)v, v < 0);
}

static void line_fixed6_printf(struct line *l, double v) {
  char tmp[400];
  int n = snprintf(tmp, sizeof(tmp), "%.6f", v);
  line_add(l, tmp, n > 0 ? (size_t)n : 0);
}

/* v with six decimals, as %.6f writes it. Times up to 9e9 s go through
 * whole microseconds (exact in a double). Where v lies within a rounding
 * error of half way between two microseconds, the digit may end one
 * microsecond off printf's choice; anything else is the same text (the
 * unit test compares them). Other values go to printf. With a cache, the
 * whole seconds' digits are kept for the next call: rows in a row start
 * within the same second, mostly. */
static void line_fixed6(struct line *l, double v,
                        struct loom__joblog_secs *cache) {
  uint64_t us, frac, sec;
  size_t nsec, n;
  char *p, *e;
  int kept;

  if (!(v >= 0 && v < 9e9)) {
    line_fixed6_printf(l, v);
    return;
  }
  us = (uint64_t)(v * 1e6 + 0.5);
  sec = us / 1000000;
  frac = us - sec * 1000000;
  kept = cache && cache->len && cache->sec == sec;
  nsec = kept ? cache->len : ndigits(sec);
  n = nsec + 7;
  p = line_room(l, n);
  e = p + n;
  /* Six decimals, zeros kept: three pairs. */
  for (int i = 0; i < 3; i++, frac /= 100) {
    e -= 2;
    memcpy(e, pairs + 2 * (frac % 100), 2);
  }
  *--e = '.';
  if (kept) {
    copy_bytes(p, cache->text, nsec);
  } else {
    digits_before(e, sec);
    if (cache) {
      cache->sec = sec;
      cache->len = (unsigned char)nsec;
      copy_bytes(cache->text, p, nsec);
    }
  }
  l->n += n;
}

static void line_escape(struct line *l, const char *s, size_t n) {
  size_t run = 0;

  for (size_t i = 0; i < n; i++) {
    char e;
    switch (s[i]) {
    case '\t':
      e = 't';
      break;
    case '\n':
      e = 'n';
      break;
    case '\r':
      e = 'r';
      break;
    case '\\':
      e = '\\';
      break;
    default:
      continue;
    }
    line_add(l, s + run, i - run);
    line_char(l, '\\');
    line_char(l, e);
    run = i + 1;
  }
  line_add(l, s + run, n - run);
}

void loom__joblog_escape(FILE *f, const char *s, size_t n) {
  struct line l;

  l.f = f;
  l.n = 0;
  line_escape(&l, s, n);
  line_flush(&l);
}

int loom__joblog_write(struct loom__joblog *j,
                       const struct loom__joblog_row *r) {
  struct line l;

  if (!j->fp)
    return 0;
  if (j->err[0])
    return LOOM_EIO;
  errno = 0;
  l.f = j->fp;
  l.n = 0;
  line_hex16(&l, r->id);
  line_char(&l, '\t');
  line_hex16(&l, r->key);
  line_char(&l, '\t');
  line_dec(&l, r->line, 0);
  line_char(&l, '\t');
  line_int(&l, r->rank);
  line_char(&l, '\t');
  line_add(&l, r->host, strlen(r->host));
  line_char(&l, '\t');
  line_fixed6(&l, r->start, &j->start_secs);
  line_char(&l, '\t');
  line_fixed6(&l, r->elapsed, NULL);
  line_char(&l, '\t');
  line_int(&l, r->exit_code);
  line_char(&l, '\t');
  line_int(&l, r->sig);
  line_char(&l, '\t');
  line_add(&l, r->status, strlen(r->status));
  line_char(&l, '\t');
  line_int(&l, r->attempt);
  line_char(&l, '\t');
  if (r->cpus_len)
    line_add(&l, r->cpus, r->cpus_len);
  else
    line_char(&l, '-');
  line_char(&l, '\t');
  line_escape(&l, r->text, r->text_len);
  line_char(&l, '\n');
  line_flush(&l);
  return ferror_unlocked(j->fp) ? failed(j, 0) : 0;
}

int loom__joblog_started(struct loom__joblog *j, uint64_t id, uint64_t key) {
  struct line l;

  if (!j->started)
    return 0;
  if (j->err[0])
    return LOOM_EIO;
  errno = 0;
  l.f = j->started;
  l.n = 0;
  line_hex16(&l, id);
  line_char(&l, '\t');
  line_hex16(&l, key);
  line_char(&l, '\n');
  line_flush(&l);
  return ferror_unlocked(j->started) ? failed(j, 1) : 0;
}

static int flush_one(struct loom__joblog *j, FILE *f, int i) {
  if (!f || j->err[0])
    return j->err[0] ? LOOM_EIO : 0;
  errno = 0;
  return fflush(f) == 0 && !ferror(f) ? 0 : failed(j, i);
}

int loom__joblog_flush(struct loom__joblog *j) {
  /* dispatched.tsv first: a task is on record as handed out before its
   * batch leaves. */
  int a = flush_one(j, j->started, 1), b = flush_one(j, j->fp, 0);
  return a ? a : b;
}

static int close_one(struct loom__joblog *j, FILE **f, int i) {
  int rc = 0;
  if (!*f)
    return 0;
  errno = 0;
  if (ferror(*f))
    rc = LOOM_EIO;
  /* After a failure fclose() tries the rest of the buffer once more: the
   * bytes continue where the failed write stopped. */
  if (close_file(j, *f, i) != 0)
    rc = LOOM_EIO;
  *f = NULL;
  if (rc != 0) {
    /* Still no room: the file may end in part of a row. Cut it back to
     * its last whole row (shrinking needs no room), so that what is on
     * disk is whole rows only: a row cut short was never recorded. */
    FILE *g = fopen(j->path[i], "r+");
    if (g) {
      (void)cut_torn_tail(g);
      fclose(g);
    }
    return failed(j, i);
  }
  return 0;
}

int loom__joblog_close(struct loom__joblog *j) {
  int a = close_one(j, &j->started, 1), b = close_one(j, &j->fp, 0);
  return a ? a : b;
}

/* ---- reading back ------------------------------------------------------ */

/* A row is its command (at most 1 MiB, up to twice that escaped) and a few
 * short fields: anything longer was not written by loom. */
#define ROW_MAX (3u << 20)

static int parse_hex(const char *s, size_t n, uint64_t *out) {
  char buf[17], *end;
  if (n != 16)
    return -1;
  memcpy(buf, s, 16);
  buf[16] = '\0';
  errno = 0;
  *out = strtoull(buf, &end, 16);
  return *end || errno || !isxdigit((unsigned char)buf[0]) ? -1 : 0;
}

/* A decimal integer in [min, max], the whole field. */
static int parse_int(const char *s, size_t n, long long min, long long max,
                     long long *out) {
  char buf[32], *end;
  long long v;

  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (!isdigit((unsigned char)buf[buf[0] == '-']))
    return -1;
  errno = 0;
  v = strtoll(buf, &end, 10);
  if (*end || errno || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* A finite number, the whole field; >= 0 when nonneg. */
static int parse_num(const char *s, size_t n, int nonneg, double *out) {
  char buf[64], *end;
  double v;

  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  errno = 0;
  v = strtod(buf, &end);
  if (*end || errno || !isfinite(v) || (nonneg && v < 0) ||
      isspace((unsigned char)buf[0]))
    return -1;
  *out = v;
  return 0;
}

static const char *const statuses[] = {
    "ok",           "failed",    "signal",       "timeout",
    "spawn-failed", "cancelled", "output-failed"};

/* Splits line into at most max tab-separated fields. */
static size_t split(char *line, size_t total, char **f, size_t *len,
                    size_t max) {
  size_t n = 0;
  char *p = line, *end = line + total;

  while (n < max) {
    char *t = memchr(p, '\t', (size_t)(end - p));
    f[n] = p;
    len[n] = t ? (size_t)(t - p) : (size_t)(end - p);
    n++;
    if (!t)
      break;
    p = t + 1;
  }
  return n;
}

/* Is the cpus field "-" or a CPU list (digits, commas, dashes)? */
static int cpus_ok(const char *s, size_t n) {
  if (n == 1 && s[0] == '-')
    return 1;
  if (n == 0 || s[0] < '0' || s[0] > '9')
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((s[i] < '0' || s[i] > '9') && s[i] != ',' && s[i] != '-')
      return 0;
  return 1;
}

/* Checks the fields of a joblog row (13 of them) into e. Returns 0, or the
 * index of the first bad field. */
static int check_row(char **fld, size_t *len, struct loom__joblog_entry *e) {
  long long v;
  double start;
  int known = 0;

  if (parse_int(fld[2], len[2], 0, INT64_MAX, &v) != 0)
    return 2; /* line */
  if (parse_int(fld[3], len[3], 0, INT32_MAX, &v) != 0)
    return 3; /* rank */
  if (parse_num(fld[5], len[5], 0, &start) != 0)
    return 5; /* start */
  if (parse_num(fld[6], len[6], 1, &e->elapsed) != 0)
    return 6; /* elapsed */
  if (parse_int(fld[7], len[7], INT32_MIN, INT32_MAX, &v) != 0)
    return 7; /* exit */
  if (parse_int(fld[8], len[8], 0, 128, &v) != 0)
    return 8; /* signal */
  for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
    known |= len[9] == strlen(statuses[i]) &&
             memcmp(fld[9], statuses[i], len[9]) == 0;
  if (!known)
    return 9;
  if (parse_int(fld[10], len[10], 1, LOOM__ATTEMPT_MAX, &v) != 0)
    return 10; /* attempt */
  if (!cpus_ok(fld[11], len[11]))
    return 11;
  e->attempt = (int)v;
  e->ok = len[9] == 2 && memcmp(fld[9], "ok", 2) == 0;
  return 0;
}

static const char *const field_names[] = {
    "id",   "key",    "line",   "rank",    "host", "start",  "elapsed",
    "exit", "signal", "status", "attempt", "cpus", "command"};

int loom__joblog_read(const char *dir, const char *name, loom__joblog_fn fn,
                      void *arg, char *err, size_t errlen) {
  int is_joblog = strcmp(name, "joblog.tsv") == 0;
  const char *header = is_joblog ? LOOM__JOBLOG_HEADER : LOOM__STARTED_HEADER;
  size_t want = is_joblog ? 13 : 2;
  char path[PATH_MAX];
  struct loom__buf line = {0};
  uint64_t lineno = 0;
  FILE *f;
  int rc = 0, got;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  f = fopen(path, "r");
  if (!f) {
    if (!is_joblog && errno == ENOENT)
      return 0;
    if (err)
      snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    return LOOM_EIO;
  }
  while ((got = loom__buf_getline(&line, f, ROW_MAX)) != 0) {
    struct loom__joblog_entry e = {0};
    char *fld[13], ex[200];
    size_t len[13], n;
    int bad = -1;

    lineno++;
    if (got == LOOM_EIO || got == LOOM_ENOMEM) {
      rc = got;
      if (err)
        snprintf(err, errlen, "cannot read '%s': %s", path,
                 got == LOOM_EIO ? strerror(errno ? errno : EIO)
                                 : "out of memory");
      break;
    }
    if (got == 1 && line.data[line.len - 1] != '\n')
      break; /* torn by a kill: the row never made it */
    if (got == LOOM_ETOOBIG) {
      if (err)
        snprintf(err, errlen,
                 "%s:%" PRIu64 ": a row over %u bytes: not one loom wrote",
                 path, lineno, ROW_MAX);
      rc = LOOM_ESYNTAX;
      break;
    }
    line.len--; /* the newline */
    if (lineno == 1) {
      /* Exactly the header. */
      if (line.len != strlen(header) - 1 ||
          memcmp(line.data, header, line.len) != 0) {
        if (err)
          snprintf(err, errlen, "%s: not a loom %s (bad header)", path, name);
        rc = LOOM_ESYNTAX;
        break;
      }
      continue;
    }
    n = split((char *)line.data, line.len, fld, len, want);
    if (n != want)
      bad = (int)n; /* the first missing field */
    else if (parse_hex(fld[0], len[0], &e.id) != 0)
      bad = 0;
    else if (parse_hex(fld[1], len[1], &e.key) != 0)
      bad = 1;
    else if (is_joblog && (bad = check_row(fld, len, &e)) == 0)
      bad = -1;
    if (bad >= 0) {
      if (bad < (int)n)
        loom__excerpt(ex, sizeof(ex), fld[bad], len[bad]);
      if (err)
        snprintf(err, errlen,
                 "%s:%" PRIu64 ": bad %s '%s' in a row loom did "
                 "not write",
                 path, lineno, field_names[bad], bad < (int)n ? ex : "");
      rc = LOOM_ESYNTAX;
      break;
    }
    rc = fn(arg, &e);
    if (rc != 0)
      break;
  }
  loom__buf_fini(&line);
  fclose(f);
  return rc;
}

/* ---- durations for a replay (loom.h) ------------------------------------ */

struct durations {
  double *d;
  size_t n, cap;
};

static int on_duration(void *arg, const struct loom__joblog_entry *e) {
  struct durations *v = arg;

  if (!e->ok)
    return 0;
  {
    double *p = loom__array_grow(v->d, &v->cap, v->n + 1, sizeof(*p));
    if (!p)
      return LOOM_ENOMEM;
    v->d = p;
  }
  v->d[v->n++] = e->elapsed > 0 ? e->elapsed : 0;
  return 0;
}

int loom_joblog_durations(const char *dir, double **out, size_t *n, char *err,
                          size_t errlen) {
  struct durations v = {0};
  int rc;

  if (!out || !n || !dir)
    return LOOM_EINVAL;
  *out = NULL;
  *n = 0;
  rc = loom__joblog_read(dir, "joblog.tsv", on_duration, &v, err, errlen);
  if (rc == LOOM_ENOMEM && err)
    snprintf(err, errlen, "out of memory reading %s/joblog.tsv", dir);
  if (rc != 0) {
    free(v.d);
    return rc;
  }
  *out = v.d;
  *n = v.n;
  return 0;
}
