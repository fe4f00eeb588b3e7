/* state.c - `loom state`: the state table from the command line (cli.h).
 *
 *   loom state dump RUNDIR [--json]
 *
 * prints the table a run directory's journal holds (loom_state_dump()): the
 * final table of a finished run, or what a killed one had journaled. No MPI.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

struct state_cli {
  const char *action; /* "dump" */
  const char *dir;
  int json;
};

static void usage_state(FILE *f) {
  fprintf(f, "usage: loom state dump RUNDIR [--json]\n"
             "\n"
             "Prints the state table that RUNDIR/state.log holds: one "
             "line per key,\n"
             "sorted (key, kind, value; tab-separated, with \\t \\n \\r \\\\ "
             "\\xHH escapes),\n"
             "or a JSON array of {\"key\", \"kind\", \"value\"} objects.\n");
}

static void more_help_state(FILE *f) {
  fprintf(f, "\n"
             "exit status: 0 printed, 2 usage error, no journal or a damaged "
             "one,\n"
             "3 internal error.\n");
}

static int set_json(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct state_cli *)ctx)->json = 1;
  return 0;
}

static int positional(void *ctx, const char *a, char *err, size_t n) {
  struct state_cli *c = ctx;
  if (!c->action) {
    if (strcmp(a, "dump") != 0) {
      snprintf(err, n, "unknown action '%s' (expected dump)", a);
      return -1;
    }
    c->action = a;
    return 0;
  }
  if (!c->dir) {
    c->dir = a;
    return 0;
  }
  snprintf(err, n, "unexpected argument '%s'", a);
  return -1;
}

static const struct cli_flag state_flags[] = {
    {"--json", 0, NULL, "a JSON array instead of tab-separated lines", NULL,
     set_json},
    {NULL, 0, NULL, NULL, NULL, NULL}};

static const struct cli_syntax state_syntax = {"state", state_flags, positional,
                                               usage_state, more_help_state};

int loom_cli_state(int argc, char **argv, int quiet) {
  struct state_cli c = {0};
  char err[4352] = "";
  int status = cli_parse(&state_syntax, argc, argv, 2, &c, quiet), rc;

  if (status >= 0)
    return status;
  if (!c.action || !c.dir)
    return cli_usage_error(&state_syntax, quiet,
                           c.action ? "dump needs a run directory"
                                    : "an action is needed (dump)");
  rc = loom_state_dump(c.dir, c.json, stdout, err, sizeof(err));
  if (rc == 0 && fflush(stdout) != 0)
    rc = LOOM_EIO;
  if (rc == 0)
    return CLI_OK;
  fprintf(stderr, "loom: %s\n", err[0] ? err : loom_strerror(rc));
  return rc == LOOM_ENOENT || rc == LOOM_ESYNTAX || rc == LOOM_EINVAL
             ? CLI_USAGE
             : CLI_INTERNAL;
}
