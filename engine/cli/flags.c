/* flags.c - parsing a subcommand's flags from its table, and its --help
 * (cli.h). A flag's value may follow it ("--window 4") or be joined to it
 * ("--window=4"); a short alias takes the next word ("-o DIR"). "--" ends
 * the flags: every word after it is positional.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

int cli_usage_error(const struct cli_syntax *s, int quiet, const char *fmt,
                    ...) {
  va_list ap;

  if (quiet)
    return CLI_USAGE;
  fprintf(stderr, "loom: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see 'loom %s --help')\n", s->command);
  return CLI_USAGE;
}

void cli_help(const struct cli_syntax *s, FILE *f) {
  s->usage(f);
  fprintf(f, "\noptions:\n");
  for (const struct cli_flag *fl = s->flags; fl->name; fl++) {
    char head[64];
    const char *h = fl->help;
    int n;

    if (fl->alias)
      n = snprintf(head, sizeof(head), "  -%c, %s%s%s", fl->alias, fl->name,
                   fl->value ? " " : "", fl->value ? fl->value : "");
    else
      n = snprintf(head, sizeof(head), "  %s%s%s", fl->name,
                   fl->value ? " " : "", fl->value ? fl->value : "");
    /* The text starts in column 25, or on the next line after a long
     * flag; continuation lines start in column 25. */
    if (n > 23)
      fprintf(f, "%s\n%-25s", head, "");
    else
      fprintf(f, "%-25s", head);
    while (*h) {
      const char *nl = strchr(h, '\n');
      size_t len = nl ? (size_t)(nl - h) : strlen(h);
      fprintf(f, "%.*s\n", (int)len, h);
      h += len;
      if (*h == '\n') {
        h++;
        fprintf(f, "%-25s", "");
      }
    }
  }
  fprintf(f, "  -h, --help             this text\n");
  if (s->more_help)
    s->more_help(f);
}

static const struct cli_flag *find(const struct cli_syntax *s, const char *a,
                                   size_t n) {
  for (const struct cli_flag *fl = s->flags; fl->name; fl++) {
    if (strlen(fl->name) == n && strncmp(fl->name, a, n) == 0)
      return fl;
    if (fl->alias && n == 2 && a[0] == '-' && a[1] == fl->alias)
      return fl;
  }
  return NULL;
}

int cli_parse(const struct cli_syntax *s, int argc, char **argv, int first,
              void *ctx, int quiet) {
  int flags_done = 0;

  for (int i = first; i < argc; i++) {
    const char *a = argv[i], *value = NULL, *eq;
    const struct cli_flag *fl;
    char err[512] = "";
    size_t n;

    if (flags_done || a[0] != '-' || a[1] == '\0') {
      if (s->positional(ctx, a, err, sizeof(err)) != 0)
        return cli_usage_error(s, quiet, "%s", err);
      continue;
    }
    if (strcmp(a, "--") == 0) {
      flags_done = 1;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      if (!quiet)
        cli_help(s, stdout);
      return CLI_OK;
    }
    eq = a[1] == '-' ? strchr(a, '=') : NULL;
    n = eq ? (size_t)(eq - a) : strlen(a);
    fl = find(s, a, n);
    if (!fl)
      return cli_usage_error(s, quiet, "unknown option '%s'", a);
    if (fl->value) {
      if (eq)
        value = eq + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        return cli_usage_error(s, quiet, "option '%s' needs a value", a);
    } else if (eq) {
      return cli_usage_error(s, quiet, "option '%s' takes no value", fl->name);
    }
    if (fl->set(ctx, value, err, sizeof(err)) != 0) {
      if (err[0])
        return cli_usage_error(s, quiet, "%s", err);
      return cli_usage_error(s, quiet, "bad %s '%s' (expected %s)", fl->name,
                             value ? value : "", fl->expect);
    }
  }
  return -1;
}

int cli_u64(const char *s, unsigned long long min, unsigned long long max,
            unsigned long long *out) {
  char *end;
  unsigned long long v;

  if (!s || !*s || *s == '-' || *s == '+')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (*end || errno || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

int cli_seconds(const char *s, double *out) {
  return s && loom_duration_parse(s, strlen(s), out) == 0 ? 0 : -1;
}

int cli_size(const char *s, unsigned long long *out) {
  uint64_t v;
  if (!s || loom_size_parse(s, strlen(s), &v) != 0)
    return -1;
  *out = v;
  return 0;
}
