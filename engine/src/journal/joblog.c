/* joblog.c - writing and reading back the run's journal (joblog.h).
 *
 * Rows go through large stdio buffers; loom__joblog_flush() is called by
 * the master before each batch goes out and after each completion message,
 * so what was dispatched and what was received are on disk (in the page
 * cache) before more work is handed out.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "common/buf.h"
#include "common/common.h"
#include "journal/joblog.h"

/* A run killed mid-write can leave a last line without its newline: the
 * reader skips it, and a run that appends must not glue its first row onto
 * it. Cuts fd's file back to just after its last newline (or to nothing). */
static int cut_torn_tail(int fd) {
  char buf[4096];
  struct stat st;
  off_t pos;

  if (fstat(fd, &st) != 0)
    return -1;
  for (pos = st.st_size; pos > 0;) {
    size_t n = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
    pos -= (off_t)n;
    if (pread(fd, buf, n, pos) != (ssize_t)n)
      return -1;
    for (size_t i = n; i > 0; i--)
      if (buf[i - 1] == '\n') {
        off_t keep = pos + (off_t)i;
        return keep < st.st_size ? ftruncate(fd, keep) : 0;
      }
  }
  return st.st_size > 0 ? ftruncate(fd, 0) : 0;
}

/* Keeps the first failure, on file i, with errno's reason. Returns
 * LOOM_EIO. */
static int failed(struct loom__joblog *j, int i) {
  if (!j->err[0])
    snprintf(j->err, sizeof(j->err), "cannot write %s: %s", j->path[i],
             strerror(errno ? errno : EIO));
  return LOOM_EIO;
}

/* Hands what f's buffer holds to the kernel. After a failure (f->err)
 * nothing more is written: the file ends in whole rows, or in one torn
 * row that the reader skips and close cuts off. */
static void spill(struct loom__jfile *f) {
  if (f->len && !f->err && loom__write_all(f->fd, f->buf, f->len) != 0)
    f->err = errno;
  f->len = 0;
}

/* Closes file i, with what its buffer still holds, and frees the buffer.
 * Returns 0, or -1 with errno set. */
static int close_file(struct loom__jfile *f) {
  int rc;

  spill(f);
  rc = f->err ? -1 : 0;
  if (close(f->fd) != 0 && rc == 0)
    rc = -1;
  else if (rc != 0)
    errno = f->err;
  f->fd = -1;
  free(f->buf);
  f->buf = NULL;
  return rc;
}

static int open_one(struct loom__joblog *j, int i, const char *dir,
                    const char *name, const char *header, int append) {
  struct loom__jfile *f = &j->file[i];
  struct stat st;

  errno = ENAMETOOLONG;
  if (snprintf(j->path[i], sizeof(j->path[i]), "%s/%s", dir, name) >=
      (int)sizeof(j->path[i]))
    return failed(j, i);
  f->len = 0;
  f->err = 0;
  f->buf = malloc(LOOM__JOURNAL_BUFFER);
  if (!f->buf) {
    errno = ENOMEM;
    return failed(j, i);
  }
  f->fd = open(j->path[i],
               O_CREAT | O_CLOEXEC |
                   (append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC),
               0666);
  /* A new file, or one a killed run left empty, gets its header. */
  if (f->fd < 0 || (append && cut_torn_tail(f->fd) != 0) ||
      fstat(f->fd, &st) != 0 ||
      (st.st_size == 0 &&
       loom__write_all(f->fd, header, strlen(header)) != 0)) {
    failed(j, i);
    if (f->fd >= 0)
      close(f->fd);
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    return LOOM_EIO;
  }
  return 0;
}

int loom__joblog_open(struct loom__joblog *j, const char *dir, int append) {
  j->err[0] = '\0';
  j->start_secs.len = 0;
  j->open = 0;
  j->file[0].fd = j->file[1].fd = -1;
  if (open_one(j, 0, dir, "joblog.tsv", LOOM__JOBLOG_HEADER, append) != 0)
    return LOOM_EIO;
  if (open_one(j, 1, dir, "dispatched.tsv", LOOM__STARTED_HEADER, append) !=
      0) {
    close_file(&j->file[0]);
    return LOOM_EIO;
  }
  j->open = 1;
  return 0;
}

/* A row is formatted straight into its file's buffer (printf's formatting
 * of two doubles, and then stdio's copy of the row, were most of the
 * master's time per task on tiny tasks). Only the master's loop thread
 * writes the journal. A line is the buffer's state while a row is built:
 * b and cap are the file's buffer, n the bytes in it. */
struct line {
  struct loom__jfile *f;
  char *b;
  size_t n, cap;
};

static void line_begin(struct line *l, struct loom__jfile *f) {
  l->f = f;
  l->b = f->buf;
  l->n = f->len;
  l->cap = LOOM__JOURNAL_BUFFER;
}

static void line_end(struct line *l) { l->f->len = l->n; }

/* Writes out the buffer (a row longer than the room left goes out in
 * parts). */
static void line_flush(struct line *l) {
  l->f->len = l->n;
  spill(l->f);
  l->n = 0;
}

/* Room for at least n <= l->cap bytes at the end of the line. */
static char *line_room(struct line *l, size_t n) {
  if (l->n + n > l->cap)
    line_flush(l);
  return l->b + l->n;
}

/* Copies n bytes, never touching a byte outside either range: up to 16
 * of them in two overlapping fixed-size moves (a call to memcpy for a
 * host name or a status was most of this function's time). */
static inline __attribute__((always_inline)) void
copy_bytes(char *d, const char *s, size_t n) {
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

static inline __attribute__((always_inline)) void
line_add(struct line *l, const char *s, size_t n) {
  if (n > l->cap) {
    line_flush(l);
    if (!l->f->err && loom__write_all(l->f->fd, s, n) != 0)
      l->f->err = errno;
    return;
  }
  copy_bytes(line_room(l, n), s, n);
  l->n += n;
}

static void line_char(struct line *l, char c) { *line_room(l, 1) = c, l->n++; }

/* The fields of a row are written through a cursor, p, into room made
 * once for several of them; each put_ writes at p and returns the end.
 * (Writing through the line itself, every byte stored could alias its
 * count, which the compiler then read back from memory after each one.)
 * PUT_MAX bounds what the puts between two line_room() calls write. */
#define FIXED6_MAX 400 /* %.6f of any double, with its sign */
#define PUT_MAX (2 * (FIXED6_MAX + 1) + 256)

/* v as 16 lower-case hex digits, as %016 PRIx64 writes it: each half's
 * eight nibbles spread into the eight bytes of a word, then turned into
 * characters all at once (a nibble of 10 or more gets the step from '9'+1
 * to 'a' added). */
static char *put_hex16(char *p, uint64_t v) {
#if defined(__SSE2__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* With SSE2 all sixteen at once: the bytes, first one first, split into
   * high and low nibbles, interleaved, and each turned into its digit. */
  __m128i x = _mm_cvtsi64_si128((long long)__builtin_bswap64(v));
  __m128i low = _mm_set1_epi8(0x0f);
  __m128i n = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi64(x, 4), low),
                                _mm_and_si128(x, low));
  __m128i letters = _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)),
                                  _mm_set1_epi8('a' - '9' - 1));
  _mm_storeu_si128((__m128i *)(void *)p,
                   _mm_add_epi8(n, _mm_add_epi8(letters, _mm_set1_epi8('0'))));
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
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
  return p + 16;
}

/* "00" to "99": two digits a step. */
static const char pairs[] = "0001020304050607080910111213141516171819"
                            "2021222324252627282930313233343536373839"
                            "4041424344454647484950515253545556575859"
                            "6061626364656667686970717273747576777879"
                            "8081828384858687888990919293949596979899";

/* v's digits, written backwards to end just before e (ndigits(v) of
 * them). */
static inline __attribute__((always_inline)) void digits_before(char *e,
                                                                uint64_t v) {
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
static inline __attribute__((always_inline)) size_t ndigits(uint64_t v) {
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

/* v in decimal, with a '-' when negative, as %d and %PRIu64 write it
 * (at most 21 bytes). */
static char *put_dec(char *p, uint64_t v, int negative) {
  if (v < 10 && !negative) { /* most exit codes, signals, attempts, ranks */
    *p = (char)('0' + v);
    return p + 1;
  }
  if (negative)
    *p++ = '-';
  p += ndigits(v);
  digits_before(p, v);
  return p;
}

static char *put_int(char *p, int v) {
  return put_dec(p, v < 0 ? 0 - (uint64_t)(int64_t)v : (uint64_t)v, v < 0);
}

/* v with six decimals, as %.6f writes it (at most FIXED6_MAX bytes).
 * Times up to 9e9 s go through whole microseconds (exact in a double).
 * Where v lies within a rounding error of half way between two
 * microseconds, the digit may end one microsecond off printf's choice;
 * anything else is the same text (the unit test compares them). Other
 * values go to printf. With a cache, the whole seconds' digits are kept
 * for the next call: rows in a row start within the same second, mostly. */
static char *put_fixed6(char *p, double v, struct loom__joblog_secs *cache) {
  uint64_t us, frac, sec;
  size_t nsec;
  char *e;
  int kept;

  if (!(v >= 0 && v < 9e9)) {
    int n = snprintf(p, FIXED6_MAX + 1, "%.6f", v);
    return p + (n > 0 && n <= FIXED6_MAX ? n : 0);
  }
  us = (uint64_t)(v * 1e6 + 0.5);
  sec = us / 1000000;
  frac = us - sec * 1000000;
  kept = cache && cache->len && cache->sec == sec;
  nsec = kept ? cache->len : ndigits(sec);
  e = p + nsec + 7;
  /* Six decimals, zeros kept: three pairs, split by multiplications
   * exact in these ranges (frac < 10^6: / 10^4; rest < 10^4: / 100). */
  {
    uint64_t hi = (frac * 429497) >> 32, rest = frac - hi * 10000;
    uint64_t mid = (rest * 5243) >> 19;
    memcpy(e - 2, pairs + 2 * (rest - mid * 100), 2);
    memcpy(e - 4, pairs + 2 * mid, 2);
    memcpy(e - 6, pairs + 2 * hi, 2);
  }
  e[-7] = '.';
  if (kept) {
    copy_bytes(p, cache->text, nsec);
  } else {
    digits_before(p + nsec, sec);
    if (cache) {
      cache->sec = sec;
      cache->len = (unsigned char)nsec;
      copy_bytes(cache->text, p, nsec);
    }
  }
  return e;
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

/* After a row: 0, or LOOM_EIO when file i failed. */
static int row_done(struct loom__joblog *j, struct line *l, int i) {
  line_end(l);
  if (!l->f->err)
    return 0;
  errno = l->f->err;
  return failed(j, i);
}

int loom__joblog_write(struct loom__joblog *j,
                       const struct loom__joblog_row *r) {
  struct line l;
  char *p;

  if (!j->open)
    return 0;
  if (j->err[0])
    return LOOM_EIO;
  line_begin(&l, &j->file[0]);
  p = line_room(&l, PUT_MAX);
  p = put_hex16(p, r->id);
  *p++ = '\t';
  p = put_hex16(p, r->key);
  *p++ = '\t';
  p = put_dec(p, r->line, 0);
  *p++ = '\t';
  p = put_int(p, r->rank);
  *p++ = '\t';
  l.n = (size_t)(p - l.b);
  line_add(&l, r->host, strlen(r->host));
  p = line_room(&l, PUT_MAX);
  *p++ = '\t';
  p = put_fixed6(p, r->start, &j->start_secs);
  *p++ = '\t';
  p = put_fixed6(p, r->elapsed, NULL);
  *p++ = '\t';
  p = put_int(p, r->exit_code);
  *p++ = '\t';
  p = put_int(p, r->sig);
  *p++ = '\t';
  l.n = (size_t)(p - l.b);
  line_add(&l, r->status, strlen(r->status));
  p = line_room(&l, PUT_MAX);
  *p++ = '\t';
  p = put_int(p, r->attempt);
  *p++ = '\t';
  if (!r->cpus_len)
    *p++ = '-';
  l.n = (size_t)(p - l.b);
  line_add(&l, r->cpus, r->cpus_len);
  line_char(&l, '\t');
  line_escape(&l, r->text, r->text_len);
  line_char(&l, '\n');
  return row_done(j, &l, 0);
}

int loom__joblog_started(struct loom__joblog *j, uint64_t id, uint64_t key) {
  struct line l;
  char *p;

  if (!j->open)
    return 0;
  if (j->err[0])
    return LOOM_EIO;
  line_begin(&l, &j->file[1]);
  p = line_room(&l, 34);
  p = put_hex16(p, id);
  *p++ = '\t';
  p = put_hex16(p, key);
  *p++ = '\n';
  l.n = (size_t)(p - l.b);
  return row_done(j, &l, 1);
}

/* Writes out file i's buffer. */
static int flush_one(struct loom__joblog *j, int i) {
  struct loom__jfile *f = &j->file[i];

  if (j->err[0])
    return LOOM_EIO;
  spill(f);
  if (!f->err)
    return 0;
  errno = f->err;
  return failed(j, i);
}

int loom__joblog_flush(struct loom__joblog *j) {
  int a, b;

  if (!j->open)
    return 0;
  /* dispatched.tsv first: a task is on record as handed out before its
   * batch leaves. */
  a = flush_one(j, 1);
  b = flush_one(j, 0);
  return a ? a : b;
}

static int close_one(struct loom__joblog *j, int i) {
  if (close_file(&j->file[i]) == 0)
    return 0;
  /* No room: the file may end in part of a row. Cut it back to its last
   * whole row (shrinking needs no room), so that what is on disk is
   * whole rows only: a row cut short was never recorded. */
  failed(j, i);
  {
    int fd = open(j->path[i], O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
      (void)cut_torn_tail(fd);
      close(fd);
    }
  }
  return LOOM_EIO;
}

int loom__joblog_close(struct loom__joblog *j) {
  int a, b;

  if (!j->open)
    return 0;
  j->open = 0;
  a = close_one(j, 1);
  b = close_one(j, 0);
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
