/* log.c - the state table's journal and its final table (state.h).
 *
 * RUNDIR/state.log, written by rank 0 alone:
 *   "LOOMSTATE 1\n", then one record per change rank 0 applied:
 *   len u32, check u32 (of the bytes), an entry as table.c encodes it.
 * A record holds the entry's state after the change (a counter: the totals
 * of the rank whose call changed it), so replaying the records in order
 * with the join (loom__table_merge) gives the table back; replaying one
 * twice changes nothing. Records are written with write(2) before any
 * call that reported their change is answered: once a call returned, its
 * change survives a kill -9 of the whole job. A kill mid-write leaves at
 * most a torn last record, which a resume cuts off; a damaged record with
 * records after it is an error, never skipped.
 *
 * RUNDIR/state.tsv, written at the end of a run: the final table, one key
 * per line, sorted: key, kind (bytes, counter, min, max), value, with
 * backslash escapes (\t \n \r \\ \xHH) for bytes that are not printable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/common.h"
#include "common/json.h"
#include "state/internal.h"

#define MAGIC "LOOMSTATE 1\n"
#define MAGIC_LEN 12
#define RECORD_MAX (LOOM_STATE_VALUE_MAX + 4096) /* plus key and stamp */
#define CHECK_SEED 0x53544154ULL

static uint32_t check_of(const void *p, size_t n) {
  return (uint32_t)loom__hash64(p, n, CHECK_SEED);
}

/* ---- reading ------------------------------------------------------------ */

int loom__log_load(const char *path, struct loom__table *t, uint64_t *records,
                   off_t *good, char *err, size_t errlen) {
  unsigned char head[8], magic[MAGIC_LEN];
  struct loom__buf rec = {0};
  FILE *f = fopen(path, "r");
  size_t got;
  int rc = 0;

  *records = 0;
  *good = 0;
  if (!f) {
    if (errno == ENOENT)
      return LOOM_ENOENT;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return LOOM_EIO;
  }
  got = fread(magic, 1, MAGIC_LEN, f);
  if (got < MAGIC_LEN || memcmp(magic, MAGIC, MAGIC_LEN) != 0) {
    /* A journal cut before its header was whole (killed at its first
     * write) holds nothing; anything else is not a journal. */
    if (ferror(f) || got == MAGIC_LEN || memcmp(magic, MAGIC, got) != 0) {
      snprintf(err, errlen, "%s: not a loom state journal (bad header)", path);
      rc = LOOM_ESYNTAX;
    }
    fclose(f);
    return rc;
  }
  *good = MAGIC_LEN;
  for (;;) {
    uint32_t len, check;
    size_t n = fread(head, 1, 8, f);
    struct loom__entry_in y;
    struct loom__cur c;
    off_t at = *good;

    if (n == 0 && feof(f))
      break;
    if (n < 8)
      break; /* torn */
    memcpy(&len, head, 4);
    memcpy(&check, head + 4, 4);
    rec.len = 0;
    if (len == 0 || len > RECORD_MAX || loom__buf_reserve(&rec, len) != 0) {
      rc = LOOM_ESYNTAX;
    } else if (fread(rec.data, 1, len, f) != len) {
      break; /* torn */
    } else if (check_of(rec.data, len) != check) {
      int c2 = fgetc(f);
      if (c2 == EOF)
        break; /* the last record, torn inside */
      rc = LOOM_ESYNTAX;
    }
    if (rc == 0) {
      loom__cur_init(&c, rec.data, len);
      rc = loom__entry_decode(&c, &y) != 0 || loom__cur_left(&c) ? LOOM_ESYNTAX
                                                                 : 0;
    }
    if (rc != 0) {
      snprintf(err, errlen, "%s: the record at byte %lld is damaged", path,
               (long long)at);
      break;
    }
    if (loom__table_merge(t, &y, NULL) < 0) {
      rc = LOOM_ENOMEM;
      break;
    }
    (*records)++;
    *good = at + 8 + (off_t)len;
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    rc = LOOM_EIO;
  }
  fclose(f);
  loom__buf_fini(&rec);
  return rc;
}

/* ---- writing ------------------------------------------------------------ */

static int io_failed(struct loom__state *s, const char *what) {
  if (!s->io_err[0])
    snprintf(s->io_err, sizeof(s->io_err), "cannot write %s: %s", what,
             strerror(errno ? errno : EIO));
  return LOOM_EIO;
}

/* Opens the journal for appending; a new one gets its header. */
static int open_log(struct loom__state *s, int truncate, off_t keep) {
  s->log_fd =
      open(s->log_path,
           O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  if (s->log_fd < 0)
    return -1;
  /* A torn last record goes: it was never answered. */
  if (!truncate && ftruncate(s->log_fd, keep) != 0)
    return -1;
  if (lseek(s->log_fd, 0, SEEK_END) < 0)
    return -1;
  return truncate || keep == 0 ? loom__write_all(s->log_fd, MAGIC, MAGIC_LEN)
                               : 0;
}

int loom__log_open(struct loom__state *s, const char *dir, int resume,
                   char *err, size_t errlen) {
  uint64_t records = 0;
  off_t good = 0;
  int rc = LOOM_ENOENT;

  if (snprintf(s->log_path, sizeof(s->log_path), "%s/state.log", dir) >=
      (int)sizeof(s->log_path)) {
    snprintf(err, errlen, "%s: path too long", dir);
    return LOOM_EIO;
  }
  if (resume) {
    rc = loom__log_load(s->log_path, &s->t, &records, &good, err, errlen);
    if (rc != 0 && rc != LOOM_ENOENT)
      return rc;
  }
  /* A journal already there is opened now (a resumed one to go on, an
   * earlier run's to be replaced); a new one at the first change. */
  if ((rc == 0 || access(s->log_path, F_OK) == 0) &&
      open_log(s, !resume, good) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", s->log_path, strerror(errno));
    loom__log_close(s);
    return LOOM_EIO;
  }
  s->log_on = 1;
  s->io_err[0] = '\0';
  return 0;
}

int loom__log_add_raw(struct loom__state *s, const void *entry, size_t n) {
  uint32_t len = (uint32_t)n, check = check_of(entry, n);
  int rc = loom__buf_reserve(&s->logbuf, 8 + n);

  if (rc != 0)
    return rc;
  loom__buf_append(&s->logbuf, &len, 4);
  loom__buf_append(&s->logbuf, &check, 4);
  loom__buf_append(&s->logbuf, entry, n);
  s->journaled++;
  return 0;
}

int loom__log_add(struct loom__state *s, const struct loom__entry *x, int who) {
  size_t at = s->logbuf.len;
  uint32_t len, check;
  int rc = loom__buf_append(&s->logbuf, "\0\0\0\0\0\0\0\0", 8);

  if (rc == 0)
    rc = loom__entry_encode(&s->logbuf, x, who);
  if (rc != 0) {
    s->logbuf.len = at;
    return rc;
  }
  len = (uint32_t)(s->logbuf.len - at - 8);
  check = check_of(s->logbuf.data + at + 8, len);
  memcpy(s->logbuf.data + at, &len, 4);
  memcpy(s->logbuf.data + at + 4, &check, 4);
  s->journaled++;
  return 0;
}

int loom__log_commit(struct loom__state *s) {
  int rc = 0;

  if (s->logbuf.len == 0)
    return s->io_err[0] ? LOOM_EIO : 0;
  if (s->io_err[0])
    rc = LOOM_EIO; /* after a failure nothing more is written */
  else if ((s->log_fd < 0 && open_log(s, 1, 0) != 0) ||
           loom__write_all(s->log_fd, s->logbuf.data, s->logbuf.len) != 0)
    rc = io_failed(s, s->log_path);
  s->logbuf.len = 0;
  return rc;
}

void loom__log_close(struct loom__state *s) {
  if (s->log_fd >= 0)
    close(s->log_fd);
  s->log_fd = -1;
  s->log_on = 0;
}

/* ---- the final table ---------------------------------------------------- */

static int write_tsv_file(const struct loom__table *t, const char *path) {
  FILE *f = fopen(path, "w");
  int rc;
  if (!f)
    return LOOM_EIO;
  rc = loom__table_write_tsv(t, f);
  if (fclose(f) != 0 && rc == 0)
    rc = LOOM_EIO;
  return rc;
}

int loom__log_final(struct loom__state *s) {
  char path[PATH_MAX + 8], tmp[PATH_MAX + 16];
  size_t n = strlen(s->log_path) - strlen("state.log");
  int rc;

  snprintf(path, sizeof(path), "%.*sstate.tsv", (int)n, s->log_path);
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  errno = 0;
  rc = write_tsv_file(&s->t, tmp);
  if (rc == 0 && rename(tmp, path) != 0)
    rc = LOOM_EIO;
  if (rc == LOOM_EIO) {
    io_failed(s, path);
    unlink(tmp);
  }
  return rc;
}

static const char *kind_name(int kind) {
  static const char *const names[] = {"bytes", "min", "max", "counter"};
  return names[kind];
}

static int by_key(const void *a, const void *b) {
  const struct loom__entry *x = *(const struct loom__entry *const *)a;
  const struct loom__entry *y = *(const struct loom__entry *const *)b;
  size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
  int c = memcmp(x->key, y->key, n);
  return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* The entries readers see, sorted by key (malloc'ed; NULL when none or out
 * of memory: *n says which). */
static const struct loom__entry **sorted(const struct loom__table *t,
                                         size_t *n) {
  const struct loom__entry **v =
      malloc((t->n ? t->n : 1) * sizeof(const struct loom__entry *));
  *n = 0;
  if (!v)
    return NULL;
  for (size_t i = 0; i < t->n; i++)
    if (t->e[i].present)
      v[(*n)++] = &t->e[i];
  qsort((void *)v, *n, sizeof(const struct loom__entry *), by_key);
  return v;
}

static void put_escaped(FILE *out, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    if (c == '\t')
      fputs("\\t", out);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c == '\r')
      fputs("\\r", out);
    else if (c == '\\')
      fputs("\\\\", out);
    else if (c < 0x20 || c == 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out);
  }
}

int loom__table_write_tsv(const struct loom__table *t, FILE *out) {
  size_t n;
  const struct loom__entry **v = sorted(t, &n);

  if (!v)
    return LOOM_ENOMEM;
  fputs("key\tkind\tvalue\n", out);
  for (size_t i = 0; i < n; i++) {
    char text[24];
    size_t len;
    const void *p = loom__entry_view(v[i], text, &len);
    put_escaped(out, (const unsigned char *)v[i]->key, v[i]->keylen);
    fprintf(out, "\t%s\t", kind_name(v[i]->kind));
    put_escaped(out, p, len);
    fputc('\n', out);
  }
  free(v);
  return ferror(out) ? LOOM_EIO : 0;
}

int loom__table_write_json(const struct loom__table *t, FILE *out) {
  size_t n;
  const struct loom__entry **v = sorted(t, &n);

  if (!v)
    return LOOM_ENOMEM;
  fputs("[", out);
  for (size_t i = 0; i < n; i++) {
    char text[24];
    size_t len;
    const void *p = loom__entry_view(v[i], text, &len);
    fputs(i ? ",\n {\"key\": " : "\n {\"key\": ", out);
    loom__json_string_n(out, v[i]->key, v[i]->keylen);
    fprintf(out, ", \"kind\": \"%s\", ", kind_name(v[i]->kind));
    if (v[i]->kind != LOOM__KIND_REG) {
      fputs("\"value\": ", out);
      fwrite(p, 1, len, out);
    } else if (loom__utf8_valid(p, len)) {
      fputs("\"value\": ", out);
      loom__json_bytes(out, p, len);
    } else { /* bytes JSON cannot hold as text */
      fputs("\"value_hex\": \"", out);
      for (size_t k = 0; k < len; k++)
        fprintf(out, "%02x", ((const unsigned char *)p)[k]);
      fputc('"', out);
    }
    fputs("}", out);
  }
  fputs(n ? "\n]\n" : "]\n", out);
  free(v);
  return ferror(out) ? LOOM_EIO : 0;
}

int loom_state_dump(const char *dir, int json, FILE *out, char *err,
                    size_t errlen) {
  char path[PATH_MAX];
  struct loom__table t;
  uint64_t records;
  off_t good;
  int rc;

  if (!dir || !out)
    return LOOM_EINVAL;
  if (snprintf(path, sizeof(path), "%s/state.log", dir) >= (int)sizeof(path)) {
    snprintf(err, errlen, "%s: path too long", dir);
    return LOOM_EINVAL;
  }
  loom__table_init(&t, 0);
  rc = loom__log_load(path, &t, &records, &good, err, errlen);
  if (rc == LOOM_ENOENT)
    snprintf(err, errlen,
             "%s: no state.log (the run wrote nothing to its "
             "state table, or this is not a run directory)",
             dir);
  if (rc == 0)
    rc =
        json ? loom__table_write_json(&t, out) : loom__table_write_tsv(&t, out);
  if (rc == LOOM_ENOMEM)
    snprintf(err, errlen, "out of memory reading %s", path);
  loom__table_fini(&t);
  return rc;
}
