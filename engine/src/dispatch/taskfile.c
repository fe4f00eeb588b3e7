/* taskfile.c - the streaming task-file reader.
 *
 * One shell command per line. Blank lines and '#' comments are skipped;
 * "#loom WORD ..." lines are directives (prefix, suffix, defaults, repeat);
 * a command may end in "#loom key=value ..." hints. The reader holds one
 * line, the current prefix/suffix and at most one pending repeat, so memory
 * does not grow with the file. Errors name "FILE:LINE".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"

#define LINE_MAX_BYTES (1u << 20)
#define RETRIES_MAX 1000
/* A repeat's index is the low 32 bits of its tasks' position (hash.c). */
#define REPEAT_MAX ((int64_t)UINT32_MAX - 1)

struct hints {
  double cost;
  double timeout;
  int retries;
  int cores;    /* 0 = 1 */
  uint64_t mem; /* 0 = none */
};

struct loom_taskfile {
  FILE *fp;
  int is_stdin;
  char *name;
  uint64_t lineno;

  struct loom__buf line; /* the line being read */

  char *prefix;
  char *suffix;
  struct hints defaults;

  /* a "#loom repeat" line being expanded */
  uint64_t rep_left;
  uint64_t rep_index;
  int64_t rep_start;
  int64_t rep_step;
  uint64_t rep_line;
  char *rep_cmd; /* command with {} still in it */
  struct hints rep_hints;

  char *cmd; /* the command handed out last, prefix and suffix applied */
  size_t cmd_cap;
  char *payload; /* cmd, or "export LOOM_REPEAT_INDEX=k; " + cmd */
  size_t payload_cap;

  char err[512];
};

static int fail(struct loom_taskfile *tf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct loom_taskfile *tf, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(tf->err, sizeof(tf->err), "%s:%" PRIu64 ": %s", tf->name, tf->lineno,
           msg);
  return LOOM_ESYNTAX;
}

int loom_taskfile_open(const char *path, struct loom_taskfile **out, char *err,
                       size_t errlen) {
  struct loom_taskfile *tf;

  if (!out)
    return LOOM_EINVAL;
  *out = NULL;
  if (!path || !*path) {
    if (err)
      snprintf(err, errlen, "no task file given");
    return LOOM_EINVAL;
  }
  tf = calloc(1, sizeof(*tf));
  if (!tf)
    return LOOM_ENOMEM;
  tf->is_stdin = strcmp(path, "-") == 0;
  tf->name = loom__str_dup(tf->is_stdin ? "stdin" : path,
                           strlen(tf->is_stdin ? "stdin" : path));
  tf->defaults.cost = -1;
  if (!tf->name) {
    free(tf);
    return LOOM_ENOMEM;
  }
  tf->fp = tf->is_stdin ? stdin : fopen(path, "r");
  if (!tf->fp) {
    if (err)
      snprintf(err, errlen, "cannot open task file '%s': %s", path,
               strerror(errno));
    free(tf->name);
    free(tf);
    return LOOM_EIO;
  }
  *out = tf;
  return 0;
}

void loom_taskfile_close(struct loom_taskfile *tf) {
  if (!tf)
    return;
  if (tf->fp && !tf->is_stdin)
    fclose(tf->fp);
  free(tf->name);
  loom__buf_fini(&tf->line);
  free(tf->prefix);
  free(tf->suffix);
  free(tf->rep_cmd);
  free(tf->cmd);
  free(tf->payload);
  free(tf);
}

int loom_taskfile_defaults(struct loom_taskfile *tf, double timeout,
                           int retries) {
  if (!tf || !isfinite(timeout) || timeout < 0 || retries < 0 ||
      retries > RETRIES_MAX)
    return LOOM_EINVAL;
  tf->defaults.timeout = timeout;
  tf->defaults.retries = retries;
  return 0;
}

int loom_taskfile_requests(struct loom_taskfile *tf, int cores, uint64_t mem) {
  if (!tf || cores < 0 || cores > LOOM_CORES_MAX)
    return LOOM_EINVAL;
  tf->defaults.cores = cores;
  tf->defaults.mem = mem;
  return 0;
}

int loom_size_parse(const char *v, size_t n, uint64_t *out) {
  static const char units[] = "KMGT";
  uint64_t x = 0;
  size_t i = 0;
  const char *u;

  if (!v || !out || n == 0 || v[0] < '0' || v[0] > '9')
    return LOOM_EINVAL;
  for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
    if (x > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
      return LOOM_EINVAL;
    x = 10 * x + (uint64_t)(v[i] - '0');
  }
  if (i < n) {
    if (i + 1 != n || v[i] == '\0' || !(u = strchr(units, v[i])))
      return LOOM_EINVAL;
    for (long k = u - units + 1; k > 0; k--) {
      if (x > UINT64_MAX / 1024)
        return LOOM_EINVAL;
      x *= 1024;
    }
  }
  *out = x;
  return 0;
}

const char *loom_taskfile_error(const struct loom_taskfile *tf) {
  return tf ? tf->err : "";
}

static const char *skip_space(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

/* Length of s without trailing blanks. */
static size_t trim_len(const char *s, size_t n) {
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  return n;
}

/* Is s (at a token start) the word w followed by a blank or the end? */
static int is_word(const char *s, const char *w) {
  size_t n = strlen(w);
  return strncmp(s, w, n) == 0 && (s[n] == '\0' || s[n] == ' ' || s[n] == '\t');
}

int loom_duration_parse(const char *v, size_t n, double *out) {
  char buf[64], *end;
  double mult = 1, x;

  if (!v || n == 0 || n >= sizeof(buf))
    return LOOM_EINVAL;
  memcpy(buf, v, n);
  buf[n] = '\0';
  errno = 0;
  x = strtod(buf, &end);
  if (end == buf || errno != 0)
    return LOOM_EINVAL;
  if (*end == 's')
    end++;
  else if (*end == 'm')
    mult = 60, end++;
  else if (*end == 'h')
    mult = 3600, end++;
  if (*end != '\0' || !isfinite(x) || x < 0)
    return LOOM_EINVAL;
  *out = x * mult;
  return 0;
}

static int parse_seconds(const char *v, size_t n, double *out) {
  return loom_duration_parse(v, n, out) == 0 ? 0 : -1;
}

static int parse_int(const char *v, size_t n, int64_t min, int64_t max,
                     int64_t *out) {
  char buf[32], *end;
  long long x;

  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, v, n);
  buf[n] = '\0';
  errno = 0;
  x = strtoll(buf, &end, 10);
  if (end == buf || *end != '\0' || errno != 0 || x < min || x > max)
    return -1;
  *out = x;
  return 0;
}

/* Parses "key=value ..." hints from s into h. */
static int parse_hints(struct loom_taskfile *tf, const char *s,
                       struct hints *h) {
  s = skip_space(s);
  if (!*s)
    return fail(tf, "'#loom' hint without key=value");
  while (*s) {
    const char *tok = s, *eq;
    size_t n = strcspn(s, " \t"), klen, vlen;
    int64_t iv;

    s = skip_space(s + n);
    eq = memchr(tok, '=', n);
    if (!eq)
      return fail(tf, "malformed hint '%.*s' (expected key=value)", (int)n,
                  tok);
    klen = (size_t)(eq - tok);
    vlen = n - klen - 1;
    if (klen == 4 && strncmp(tok, "cost", 4) == 0) {
      if (parse_seconds(eq + 1, vlen, &h->cost) != 0)
        return fail(tf, "bad cost '%.*s' (expected seconds >= 0)", (int)vlen,
                    eq + 1);
    } else if (klen == 7 && strncmp(tok, "timeout", 7) == 0) {
      if (parse_seconds(eq + 1, vlen, &h->timeout) != 0 || h->timeout <= 0)
        return fail(tf, "bad timeout '%.*s' (expected seconds > 0)", (int)vlen,
                    eq + 1);
    } else if (klen == 7 && strncmp(tok, "retries", 7) == 0) {
      if (parse_int(eq + 1, vlen, 0, RETRIES_MAX, &iv) != 0)
        return fail(tf, "bad retries '%.*s' (expected 0 to %d)", (int)vlen,
                    eq + 1, RETRIES_MAX);
      h->retries = (int)iv;
    } else if (klen == 5 && strncmp(tok, "cores", 5) == 0) {
      if (parse_int(eq + 1, vlen, 1, LOOM_CORES_MAX, &iv) != 0)
        return fail(tf, "bad cores '%.*s' (expected 1 to %d)", (int)vlen,
                    eq + 1, LOOM_CORES_MAX);
      h->cores = (int)iv;
    } else if (klen == 3 && strncmp(tok, "mem", 3) == 0) {
      if (loom_size_parse(eq + 1, vlen, &h->mem) != 0 || h->mem == 0)
        return fail(tf,
                    "bad mem '%.*s' (expected bytes > 0, with an optional "
                    "K, M, G or T)",
                    (int)vlen, eq + 1);
    } else {
      return fail(tf,
                  "unknown hint '%.*s' (expected cost, timeout, retries, "
                  "cores or mem)",
                  (int)klen, tok);
    }
  }
  return 0;
}

/* Splits a command from its trailing " #loom ..." hints: returns the command
 * length and applies the hints to h. */
static int split_hints(struct loom_taskfile *tf, const char *s, size_t *cmdlen,
                       struct hints *h) {
  const char *p = s, *at = NULL;
  int rc;

  /* "#loom" opens the hints where it starts a word; at the very start it
   * can only follow a repeat's count, and then the command is missing. */
  while ((p = strstr(p, "#loom")) != NULL) {
    if ((p == s || p[-1] == ' ' || p[-1] == '\t') &&
        (p[5] == ' ' || p[5] == '\t' || p[5] == '\0'))
      at = p;
    p += 5;
  }
  if (!at) {
    *cmdlen = trim_len(s, strlen(s));
    return 0;
  }
  *cmdlen = trim_len(s, (size_t)(at - s));
  if (*cmdlen == 0)
    return fail(tf, "hints without a command");
  rc = parse_hints(tf, at + 5, h);
  return rc;
}

static int set_text(char **dst, const char *s, size_t n) {
  char *p = NULL;
  if (n > 0 && !(p = loom__str_dup(s, n)))
    return LOOM_ENOMEM;
  free(*dst);
  *dst = p;
  return 0;
}

static int directive(struct loom_taskfile *tf, const char *s) {
  size_t cmdlen;
  int64_t n, v;

  s = skip_space(s);
  if (is_word(s, "prefix")) {
    s += 6;
    if (*s)
      s++; /* the one blank after the word; the rest is verbatim */
    return set_text(&tf->prefix, s, strlen(s));
  }
  if (is_word(s, "suffix")) {
    s += 6;
    if (*s)
      s++;
    return set_text(&tf->suffix, s, strlen(s));
  }
  if (is_word(s, "defaults")) {
    struct hints h = tf->defaults;
    int rc = parse_hints(tf, s + 8, &h);
    if (rc == 0)
      tf->defaults = h;
    return rc;
  }
  if (is_word(s, "repeat")) {
    const char *tok;
    size_t len;

    s = skip_space(s + 6);
    len = strcspn(s, " \t");
    if (parse_int(s, len, 0, REPEAT_MAX, &n) != 0)
      return fail(tf, "bad repeat count '%.*s' (expected 0 to %" PRId64 ")",
                  (int)len, s, (int64_t)REPEAT_MAX);
    tf->rep_start = 0;
    tf->rep_step = 1;
    s = skip_space(s + len);
    for (;;) {
      int is_start = strncmp(s, "start=", 6) == 0;
      if (!is_start && strncmp(s, "step=", 5) != 0)
        break;
      tok = s + (is_start ? 6 : 5);
      len = strcspn(tok, " \t");
      if (parse_int(tok, len, INT64_MIN / 4, INT64_MAX / 4, &v) != 0)
        return fail(tf, "bad repeat %s '%.*s' (expected an integer)",
                    is_start ? "start" : "step", (int)len, tok);
      if (is_start)
        tf->rep_start = v;
      else
        tf->rep_step = v;
      s = skip_space(tok + len);
    }
    tf->rep_hints = tf->defaults;
    if (split_hints(tf, s, &cmdlen, &tf->rep_hints) != 0)
      return LOOM_ESYNTAX;
    if (cmdlen == 0)
      return fail(tf, "repeat without a command");
    if (n > 0) {
      int64_t span, last;
      if (__builtin_mul_overflow(n - 1, tf->rep_step, &span) ||
          __builtin_add_overflow(tf->rep_start, span, &last))
        return fail(tf, "repeat values run past the 64-bit integer range");
    }
    if (set_text(&tf->rep_cmd, s, cmdlen) != 0)
      return LOOM_ENOMEM;
    tf->rep_left = (uint64_t)n;
    tf->rep_index = 0;
    tf->rep_line = tf->lineno;
    return 0;
  }
  if (!*s)
    return fail(tf, "'#loom' without a directive (expected prefix, suffix, "
                    "defaults or repeat)");
  return fail(tf,
              "unknown directive '%.*s' (expected prefix, suffix, defaults "
              "or repeat)",
              (int)strcspn(s, " \t"), s);
}

/* Makes room for need bytes in *buf. */
static int grow(char **buf, size_t *cap, size_t need) {
  char *p = loom__array_grow(*buf, cap, need, 1);
  if (!p)
    return LOOM_ENOMEM;
  *buf = p;
  return 0;
}

/* Builds prefix + cmd + suffix into tf->cmd, replacing "{}" with value when
 * subst is set. */
static int build(struct loom_taskfile *tf, const char *cmd, size_t n, int subst,
                 int64_t value) {
  size_t plen = tf->prefix ? strlen(tf->prefix) : 0;
  size_t slen = tf->suffix ? strlen(tf->suffix) : 0;
  char num[32];
  int numlen = snprintf(num, sizeof(num), "%" PRId64, value);
  size_t need = plen + slen + 1, len = 0;

  /* Worst case every "{}" grows into the number. */
  need += subst ? n / 2 * (size_t)numlen + n : n;
  if (grow(&tf->cmd, &tf->cmd_cap, need) != 0)
    return LOOM_ENOMEM;
  memcpy(tf->cmd, tf->prefix ? tf->prefix : "", plen);
  len = plen;
  for (size_t i = 0; i < n; i++) {
    if (subst && cmd[i] == '{' && i + 1 < n && cmd[i + 1] == '}') {
      memcpy(tf->cmd + len, num, (size_t)numlen);
      len += (size_t)numlen;
      i++;
    } else {
      tf->cmd[len++] = cmd[i];
    }
  }
  memcpy(tf->cmd + len, tf->suffix ? tf->suffix : "", slen);
  len += slen;
  tf->cmd[len] = '\0';
  return 0;
}

static void fill(struct loom_taskfile *tf, struct loom_task_spec *spec,
                 const struct hints *h, uint64_t line, uint64_t position) {
  loom_task_spec_init(spec);
  spec->kind = "sh";
  spec->payload = tf->cmd;
  spec->len = strlen(tf->cmd);
  spec->text = tf->cmd;
  spec->text_len = spec->len;
  spec->cost = h->cost;
  spec->timeout = h->timeout;
  spec->retries = h->retries;
  spec->cores = h->cores;
  spec->mem = h->mem;
  spec->line = line;
  spec->id = loom_task_id_derive("sh", tf->cmd, spec->len, position);
}

/* /bin/sh -c takes the command as one argument, which Linux caps. */
static int too_long(struct loom_taskfile *tf, size_t n) {
  return fail(tf,
              "command of %zu bytes (prefix and suffix included) is over the "
              "%u-byte limit of one argument to /bin/sh -c",
              n, (unsigned)LOOM_SH_COMMAND_MAX);
}

static int next_repeat(struct loom_taskfile *tf, struct loom_task_spec *spec) {
  /* No overflow: the directive checked start + (count - 1) * step. */
  int64_t value = tf->rep_start + (int64_t)tf->rep_index * tf->rep_step;
  size_t n, clen;
  int k;

  if (build(tf, tf->rep_cmd, strlen(tf->rep_cmd), 1, value) != 0)
    return LOOM_ENOMEM;
  fill(tf, spec, &tf->rep_hints, tf->rep_line,
       (tf->rep_line << 32) | ((tf->rep_index + 1) & 0xffffffffu));
  /* The shell sees LOOM_REPEAT_INDEX; the joblog shows the command alone. */
  clen = strlen(tf->cmd);
  n = clen + 64;
  if (grow(&tf->payload, &tf->payload_cap, n) != 0)
    return LOOM_ENOMEM;
  k = snprintf(tf->payload, n, "export LOOM_REPEAT_INDEX=%" PRId64 "; ", value);
  memcpy(tf->payload + k, tf->cmd, clen + 1);
  spec->payload = tf->payload;
  spec->len = (size_t)k + clen;
  if (spec->len > LOOM_SH_COMMAND_MAX)
    return too_long(tf, spec->len);

  tf->rep_index++;
  tf->rep_left--;
  return 1;
}

int loom_taskfile_next(struct loom_taskfile *tf, struct loom_task_spec *spec) {
  if (!tf || !spec)
    return LOOM_EINVAL;
  for (;;) {
    int got;
    size_t len, cmdlen;
    char *line;
    const char *s;
    struct hints h;
    int rc;

    if (tf->rep_left > 0)
      return next_repeat(tf, spec);
    errno = 0;
    /* Nothing past the longest line allowed (its newline included) is
     * read, so an endless "line" costs no more memory or time. */
    got = loom__buf_getline(&tf->line, tf->fp, LINE_MAX_BYTES);
    if (got == 0)
      return 0;
    if (got == LOOM_EIO) {
      snprintf(tf->err, sizeof(tf->err), "%s: read error: %s", tf->name,
               strerror(errno ? errno : EIO));
      return LOOM_EIO;
    }
    if (got == LOOM_ENOMEM)
      return LOOM_ENOMEM;
    tf->lineno++;
    if (got == LOOM_ETOOBIG)
      return fail(tf, "line longer than %u bytes", LINE_MAX_BYTES);
    len = tf->line.len;
    if (memchr(tf->line.data, '\0', len))
      return fail(tf, "NUL byte in line (is this a binary file?)");
    /* Room for the NUL below: the buffer holds at most len + 1 bytes. */
    if (loom__buf_reserve(&tf->line, 1) != 0)
      return LOOM_ENOMEM;
    line = (char *)tf->line.data;
    line[len] = '\0';
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    s = skip_space(line);
    if (*s == '\0')
      continue;
    if (*s == '#') {
      if (strncmp(s, "#loom", 5) == 0 &&
          (s[5] == ' ' || s[5] == '\t' || s[5] == '\0')) {
        rc = directive(tf, s + 5);
        if (rc != 0)
          return rc;
      }
      continue;
    }
    h = tf->defaults;
    rc = split_hints(tf, s, &cmdlen, &h);
    if (rc != 0)
      return rc;
    if (build(tf, s, cmdlen, 0, 0) != 0)
      return LOOM_ENOMEM;
    fill(tf, spec, &h, tf->lineno, tf->lineno << 32);
    if (spec->len > LOOM_SH_COMMAND_MAX)
      return too_long(tf, spec->len);
    return 1;
  }
}

int loom_taskfile_scan(const char *path, uint64_t *ntasks, char *err,
                       size_t errlen) {
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  uint64_t n = 0;
  int rc;

  if (!ntasks)
    return LOOM_EINVAL;
  *ntasks = 0;
  rc = loom_taskfile_open(path, &tf, err, errlen);
  if (rc != 0)
    return rc;
  /* A pending repeat counts without being expanded. */
  while ((rc = loom_taskfile_next(tf, &spec)) == 1) {
    n += 1 + tf->rep_left;
    tf->rep_left = 0;
  }
  if (rc < 0 && err)
    snprintf(err, errlen, "%s", tf->err);
  loom_taskfile_close(tf);
  if (rc == 0)
    *ntasks = n;
  return rc;
}
