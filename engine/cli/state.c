/* state.c - `loom state`: the state table from the command line (cli.h).
 *
 * Inside a shell task of a running `loom run`, the calls of the table go
 * through the socket in $LOOM_STATE_SOCKET (loom_state_call_socket()):
 *   loom state get KEY            prints the value
 *   loom state put KEY VALUE|-    (-: the value is stdin, up to 1 MiB)
 *   loom state del KEY
 *   loom state cas KEY OLD NEW    (--absent KEY NEW: only if KEY is absent)
 *   loom state add KEY DELTA      prints the value before the add
 *   loom state min|max KEY N      prints the value before (nothing if none)
 *   loom state wait KEY [--old VALUE] [--timeout SEC]   prints the value
 * Anywhere: loom state dump RUNDIR [--json] prints what a run directory's
 * journal holds. No MPI.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

/* Exit statuses of the calls (README: The state table). */
enum { STATE_NOT_FOUND = 1, STATE_CAS_LOST = 4, STATE_TIMED_OUT = 5 };

struct action {
  const char *name;
  int op;    /* enum loom_state_op, or -1 for dump */
  int nargs; /* words after the action */
};

static const struct action actions[] = {{"get", LOOM_STATE_OP_GET, 1},
                                        {"put", LOOM_STATE_OP_PUT, 2},
                                        {"del", LOOM_STATE_OP_DEL, 1},
                                        {"cas", LOOM_STATE_OP_CAS, 3},
                                        {"add", LOOM_STATE_OP_ADD, 2},
                                        {"min", LOOM_STATE_OP_MIN, 2},
                                        {"max", LOOM_STATE_OP_MAX, 2},
                                        {"wait", LOOM_STATE_OP_WAIT, 1},
                                        {"dump", -1, 1}};

struct state_cli {
  const struct action *action;
  const char *arg[3];
  int nargs;
  int json;
  int absent;
  const char *old;
  double timeout;
};

static void usage_state(FILE *f) {
  fprintf(f, "usage: loom state get KEY\n"
             "       loom state put KEY VALUE|-\n"
             "       loom state del KEY\n"
             "       loom state cas KEY OLD NEW | cas --absent KEY NEW\n"
             "       loom state add KEY DELTA\n"
             "       loom state min|max KEY NUMBER\n"
             "       loom state wait KEY [--old VALUE] [--timeout SEC]\n"
             "       loom state dump RUNDIR [--json]\n"
             "\n"
             "Inside a shell task of `loom run`, calls the run's state table "
             "through the\n"
             "rank that runs the task ($LOOM_STATE_SOCKET). put - reads the "
             "value from\n"
             "stdin. get and wait print the value; add, min and max print the "
             "value the\n"
             "key held before (min and max print nothing when it held none).\n"
             "dump prints what RUNDIR/state.log holds, one key per line: key, "
             "kind,\n"
             "value (tab-separated; \\t \\n \\r \\\\ \\xHH escapes).\n");
}

static void more_help_state(FILE *f) {
  fprintf(f, "\n"
             "exit status: 0 done, 1 no such key (get; wait: deleted), 2 "
             "usage or\n"
             "input error (also: a key of another kind, a value over the "
             "limits, cas\n"
             "outside strong mode), 3 no table to reach (not inside a loom "
             "task, or\n"
             "the run is ending) or internal error, 4 cas lost (another "
             "value was\n"
             "there), 5 wait timed out.\n");
}

static int set_json(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct state_cli *)ctx)->json = 1;
  return 0;
}

static int set_absent(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct state_cli *)ctx)->absent = 1;
  return 0;
}

static int set_old(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct state_cli *)ctx)->old = v;
  return 0;
}

static int set_timeout(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  return cli_seconds(v, &((struct state_cli *)ctx)->timeout);
}

static int positional(void *ctx, const char *a, char *err, size_t n) {
  struct state_cli *c = ctx;
  if (!c->action) {
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
      if (strcmp(a, actions[i].name) == 0)
        c->action = &actions[i];
    if (!c->action) {
      snprintf(err, n,
               "unknown action '%s' (expected get, put, del, cas, add, "
               "min, max, wait or dump)",
               a);
      return -1;
    }
    return 0;
  }
  if (c->nargs == 3) {
    snprintf(err, n, "unexpected argument '%s'", a);
    return -1;
  }
  c->arg[c->nargs++] = a;
  return 0;
}

static const struct cli_flag state_flags[] = {
    {"--json", 0, NULL, "dump: a JSON array instead of tab-separated lines",
     NULL, set_json},
    {"--absent", 0, NULL, "cas: swap only when the key is absent", NULL,
     set_absent},
    {"--old", 0, "VALUE",
     "wait: until the key holds something other than\n"
     "VALUE (default: until it exists)",
     NULL, set_old},
    {"--timeout", 0, "SEC", "wait: give up after SEC seconds (default: never)",
     "seconds >= 0", set_timeout},
    {NULL, 0, NULL, NULL, NULL, NULL}};

static const struct cli_syntax state_syntax = {"state", state_flags, positional,
                                               usage_state, more_help_state};

/* Reads stdin whole into *out (at most LOOM_STATE_VALUE_MAX bytes). */
static int read_stdin(char **out, size_t *len) {
  size_t cap = LOOM_STATE_VALUE_MAX + 1;
  char *buf = malloc(cap);
  size_t n = 0, got;

  if (!buf)
    return LOOM_ENOMEM;
  while ((got = fread(buf + n, 1, cap - n, stdin)) > 0)
    n += got;
  if (ferror(stdin) || n > LOOM_STATE_VALUE_MAX) {
    free(buf);
    return ferror(stdin) ? LOOM_EIO : LOOM_ETOOBIG;
  }
  *out = buf;
  *len = n;
  return 0;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  long long v;
  errno = 0;
  v = strtoll(s, &end, 10);
  if (!*s || *end || errno)
    return -1;
  *out = v;
  return 0;
}

/* The call's outcome as an exit status, with one line on stderr for a
 * failure that is not an answer (not found, cas lost, timed out). */
static int status_of(const struct state_cli *c, int rc) {
  const char *what = c->action->name, *key = c->arg[0];
  switch (rc) {
  case 0:
    return CLI_OK;
  case LOOM_ENOENT:
    return STATE_NOT_FOUND;
  case LOOM_ECONFLICT:
    return STATE_CAS_LOST;
  case LOOM_ETIMEDOUT:
    return STATE_TIMED_OUT;
  case LOOM_ESYS:
    fprintf(stderr,
            "loom: state %s: no state table to reach at '%s' (not inside a "
            "task of a running loom run?)\n",
            what, getenv("LOOM_STATE_SOCKET"));
    return CLI_INTERNAL;
  case LOOM_EEXIST:
    fprintf(stderr, "loom: state %s %s: the key holds another kind of value\n",
            what, key);
    return CLI_USAGE;
  case LOOM_ETOOBIG:
  case LOOM_EINVAL:
    fprintf(stderr, "loom: state %s %s: %s\n", what, key,
            rc == LOOM_EINVAL ? "bad key (1 to 255 bytes)"
                              : "too large (a value over 1 MiB, a counter "
                                "out of range, or the replica's budget)");
    return CLI_USAGE;
  case LOOM_ESTATE:
    fprintf(stderr, "loom: state %s: %s\n", what,
            c->action->op == LOOM_STATE_OP_CAS
                ? "compare-and-swap needs --state strong"
                : "the run is ending");
    return c->action->op == LOOM_STATE_OP_CAS ? CLI_USAGE : CLI_INTERNAL;
  default:
    fprintf(stderr, "loom: state %s %s: %s\n", what, key, loom_strerror(rc));
    return CLI_INTERNAL;
  }
}

static int call(struct state_cli *c) {
  struct loom_state_call sc = {.op = c->action->op, .key = c->arg[0]};
  const char *path = getenv("LOOM_STATE_SOCKET");
  char *in = NULL, *out = NULL;
  int rc, status;

  sc.timeout = c->timeout;
  switch (sc.op) {
  case LOOM_STATE_OP_PUT:
    if (strcmp(c->arg[1], "-") == 0) {
      rc = read_stdin(&in, &sc.len);
      if (rc != 0) {
        fprintf(stderr, "loom: state put %s: %s\n", c->arg[0],
                rc == LOOM_ETOOBIG ? "stdin holds more than 1 MiB"
                                   : "cannot read stdin");
        return CLI_USAGE;
      }
      sc.value = in;
    } else {
      sc.value = c->arg[1];
      sc.len = strlen(c->arg[1]);
    }
    break;
  case LOOM_STATE_OP_CAS:
    sc.expect_absent = c->absent;
    if (!c->absent) {
      sc.expect = c->arg[1];
      sc.elen = strlen(c->arg[1]);
    }
    sc.value = c->arg[c->absent ? 1 : 2];
    sc.len = strlen(sc.value);
    break;
  case LOOM_STATE_OP_ADD:
  case LOOM_STATE_OP_MIN:
  case LOOM_STATE_OP_MAX:
    if (parse_i64(c->arg[1], &sc.num) != 0)
      return cli_usage_error(&state_syntax, 0,
                             "%s: '%s' is not a 64-bit integer",
                             c->action->name, c->arg[1]);
    break;
  case LOOM_STATE_OP_WAIT:
    sc.expect_absent = !c->old;
    sc.expect = c->old;
    sc.elen = c->old ? strlen(c->old) : 0;
    break;
  default:
    break;
  }
  if (sc.op == LOOM_STATE_OP_GET || sc.op == LOOM_STATE_OP_WAIT) {
    out = malloc(LOOM_STATE_VALUE_MAX);
    if (!out) {
      free(in);
      return CLI_INTERNAL;
    }
    sc.buf = out;
    sc.cap = LOOM_STATE_VALUE_MAX;
  }
  rc = path && *path ? loom_state_call_socket(path, &sc) : LOOM_ESYS;
  status = status_of(c, rc);
  if (rc == 0 && out && fwrite(out, 1, sc.out_len, stdout) != sc.out_len)
    status = CLI_INTERNAL;
  if (rc == 0 && sc.op == LOOM_STATE_OP_ADD)
    printf("%" PRId64 "\n", sc.before);
  if (rc == 0 && (sc.op == LOOM_STATE_OP_MIN || sc.op == LOOM_STATE_OP_MAX) &&
      sc.before != (sc.op == LOOM_STATE_OP_MIN ? INT64_MAX : INT64_MIN))
    printf("%" PRId64 "\n", sc.before);
  if (fflush(stdout) != 0 && status == CLI_OK)
    status = CLI_INTERNAL;
  free(in);
  free(out);
  return status;
}

static int dump(const struct state_cli *c) {
  char err[4352] = "";
  int rc = loom_state_dump(c->arg[0], c->json, stdout, err, sizeof(err));

  if (rc == 0 && fflush(stdout) != 0)
    rc = LOOM_EIO;
  if (rc == 0)
    return CLI_OK;
  fprintf(stderr, "loom: %s\n", err[0] ? err : loom_strerror(rc));
  return rc == LOOM_ENOENT || rc == LOOM_ESYNTAX || rc == LOOM_EINVAL
             ? CLI_USAGE
             : CLI_INTERNAL;
}

int loom_cli_state(int argc, char **argv, int quiet) {
  struct state_cli c = {.timeout = -1};
  int status = cli_parse(&state_syntax, argc, argv, 2, &c, quiet), need;

  if (status >= 0)
    return status;
  if (!c.action)
    return cli_usage_error(&state_syntax, quiet,
                           "an action is needed (get, put, del, cas, add, "
                           "min, max, wait or dump)");
  need = c.action->nargs - (c.action->op == LOOM_STATE_OP_CAS && c.absent);
  if (c.nargs != need)
    return cli_usage_error(&state_syntax, quiet, "%s takes %d argument%s",
                           c.action->name, need, need == 1 ? "" : "s");
  if ((c.json && c.action->op != -1) ||
      (c.absent && c.action->op != LOOM_STATE_OP_CAS) ||
      ((c.old || c.timeout >= 0) && c.action->op != LOOM_STATE_OP_WAIT))
    return cli_usage_error(&state_syntax, quiet,
                           "a flag that %s does not take (see --help)",
                           c.action->name);
  return c.action->op == -1 ? dump(&c) : call(&c);
}
