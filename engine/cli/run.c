/* run.c - `loom run`: a task file or a built-in kind on every rank.
 *
 * Every rank runs this same code. Flags are parsed before MPI starts, so a
 * usage error costs no MPI start-up and is printed once (by the rank that
 * the launcher calls 0). Input is validated by rank 0, which broadcasts the
 * verdict so every rank exits with the same status. The run directory is
 * created only once the input is known good: a failed start leaves nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kinds.h"
#include "loom.h"

#define MAX_KIND_ARGS 64

struct run_cli {
  const char *taskfile;
  const char *output;
  const char *resume;
  const char *kind;
  uint64_t count;
  int have_count;
  struct kind_arg args[MAX_KIND_ARGS];
  size_t nargs;
  char count_arg[48];
  struct loom_options opt;
  double timeout;
  int retries;
  int cores;    /* --cores: every task's request unless its own says */
  uint64_t mem; /* --mem */
  char command_line[4096];
  char *weights; /* --weight KEY=W and --weights-file lines, joined with
                    commas (malloc'ed) */
  size_t weights_len;
  const char *weights_file;
  int have_lookahead; /* --lookahead given */
  int deadline_slurm; /* --deadline slurm: asked of Slurm by rank 0 */
  double margin;      /* --deadline-margin: seconds kept free before it */
  int have_margin;
  int have_progress; /* --progress given */
};

/* ---- flags -------------------------------------------------------------- */

static int set_output(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct run_cli *)ctx)->output = v;
  return 0;
}

static int set_resume(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct run_cli *)ctx)->resume = v;
  return 0;
}

static int set_resume_any(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct run_cli *)ctx)->opt.resume_any = 1;
  return 0;
}

static int set_skip_failed(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct run_cli *)ctx)->opt.skip_failed = 1;
  return 0;
}

static int set_halt(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 1, UINT64_MAX / 2, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->opt.halt = u;
  return 0;
}

static int set_quarantine(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 0, 1000000, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->opt.quarantine = (int)u;
  return 0;
}

/* A deadline as wall-clock seconds since the epoch: "SECONDS[s|m|h]" from
 * now, "@EPOCH", or "slurm" for the job's end time. */
static int set_deadline(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  double x;
  struct timespec now;

  (void)err, (void)n;
  c->deadline_slurm = strcmp(v, "slurm") == 0;
  if (c->deadline_slurm) {
    c->opt.deadline = 0; /* rank 0 asks Slurm (prepare) */
    return 0;
  }
  if (*v == '@')
    return cli_seconds(v + 1, &c->opt.deadline) == 0 && c->opt.deadline > 0
               ? 0
               : -1;
  if (cli_seconds(v, &x) != 0 || !(x > 0))
    return -1;
  clock_gettime(CLOCK_REALTIME, &now);
  c->opt.deadline = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 + x;
  return 0;
}

static int set_margin(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  (void)err, (void)n;
  c->have_margin = 1;
  return cli_seconds(v, &c->margin);
}

static int set_grace(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  return cli_seconds(v, &((struct run_cli *)ctx)->opt.grace);
}

static int set_lock_wait(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  return cli_seconds(v, &((struct run_cli *)ctx)->opt.lock_wait);
}

static int set_kind(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct run_cli *)ctx)->kind = v;
  return 0;
}

static int set_count(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 1, UINT64_MAX / 2, &u) != 0)
    return -1;
  c->count = u;
  c->have_count = 1;
  return 0;
}

static int set_arg(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  const char *eq = strchr(v, '=');

  if (!eq || eq == v)
    return -1;
  if (c->nargs == MAX_KIND_ARGS - 1) {
    snprintf(err, n, "too many --arg options (at most %d)", MAX_KIND_ARGS - 1);
    return -1;
  }
  c->args[c->nargs++] =
      (struct kind_arg){.key = v, .key_len = (size_t)(eq - v), .value = eq + 1};
  return 0;
}

static int set_policy(void *ctx, const char *v, char *err, size_t n) {
  if (!loom_policy_exists(v)) {
    snprintf(err, n, "unknown policy '%s'", v);
    return -1;
  }
  ((struct run_cli *)ctx)->opt.policy = v;
  return 0;
}

static int set_window(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 1, LOOM_WINDOW_MAX, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->opt.window = (int)u;
  return 0;
}

static int set_slots(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (strcmp(v, "auto") == 0) {
    ((struct run_cli *)ctx)->opt.slots = LOOM_SLOTS_AUTO;
    return 0;
  }
  if (strcmp(v, "auto:pu") == 0) {
    ((struct run_cli *)ctx)->opt.slots = LOOM_SLOTS_AUTO_PU;
    return 0;
  }
  if (cli_u64(v, 1, LOOM_SLOTS_MAX, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->opt.slots = (int)u;
  return 0;
}

static int set_membind(void *ctx, const char *v, char *err, size_t n) {
  (void)v, (void)err, (void)n;
  ((struct run_cli *)ctx)->opt.membind = 1;
  return 0;
}

static int set_lookahead(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 0, LOOM_LOOKAHEAD_MAX, &u) != 0)
    return -1;
  c->opt.lookahead = u;
  c->have_lookahead = 1;
  return 0;
}

static int set_batch_max(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 1, LOOM_BATCH_MAX, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->opt.batch_max = (int)u;
  return 0;
}

static int set_batch_target(void *ctx, const char *v, char *err, size_t n) {
  double x;
  (void)err, (void)n;
  if (cli_seconds(v, &x) != 0 || !(x > 0))
    return -1;
  ((struct run_cli *)ctx)->opt.batch_target = x;
  return 0;
}

static int set_task_output(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  (void)err, (void)n;
  if (strcmp(v, "files") == 0)
    c->opt.output_mode = LOOM_OUTPUT_FILES;
  else if (strcmp(v, "terminal") == 0)
    c->opt.output_mode = LOOM_OUTPUT_TERMINAL;
  else if (strcmp(v, "discard") == 0)
    c->opt.output_mode = LOOM_OUTPUT_DISCARD;
  else
    return -1;
  return 0;
}

static int set_timeout(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  return cli_seconds(v, &((struct run_cli *)ctx)->timeout);
}

static int set_retries(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 0, LOOM_RETRIES_MAX, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->retries = (int)u;
  return 0;
}

static int set_cores(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_u64(v, 1, LOOM_CORES_MAX, &u) != 0)
    return -1;
  ((struct run_cli *)ctx)->cores = (int)u;
  return 0;
}

static int set_mem(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_size(v, &u) != 0 || u == 0)
    return -1;
  ((struct run_cli *)ctx)->mem = u;
  return 0;
}

static int set_progress_interval(void *ctx, const char *v, char *err,
                                 size_t n) {
  struct run_cli *c = ctx;
  (void)err, (void)n;
  return cli_seconds(v, &c->opt.progress_interval) == 0 &&
                 c->opt.progress_interval > 0
             ? 0
             : -1;
}

static int set_progress(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  (void)err, (void)n;
  if (strcmp(v, "live") == 0)
    c->opt.progress = LOOM_PROGRESS_LIVE;
  else if (strcmp(v, "lines") == 0)
    c->opt.progress = LOOM_PROGRESS_LINES;
  else if (strcmp(v, "off") == 0)
    c->opt.progress = LOOM_PROGRESS_OFF;
  else
    return -1;
  c->have_progress = 1;
  return 0;
}

static int set_quiet(void *ctx, const char *v, char *err, size_t n) {
  struct run_cli *c = ctx;
  (void)v, (void)err, (void)n;
  c->opt.quiet = 1;
  c->opt.progress = LOOM_PROGRESS_OFF;
  return 0;
}

/* Appends one KEY=W, checked by the library's own parser, to c->weights. */
static int add_weight(struct run_cli *c, const char *v, char *err, size_t n) {
  struct loom_options probe;
  size_t len = strlen(v);
  char *p;

  loom_options_init(&probe);
  probe.weights = v;
  if (strchr(v, ',') || loom_options_check(&probe, err, n) != 0)
    return -1;
  p = realloc(c->weights, c->weights_len + len + 2);
  if (!p) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  c->weights = p;
  if (c->weights_len)
    c->weights[c->weights_len++] = ',';
  memcpy(c->weights + c->weights_len, v, len + 1);
  c->weights_len += len;
  c->opt.weights = c->weights;
  return 0;
}

static int set_weight(void *ctx, const char *v, char *err, size_t n) {
  char why[256];
  if (add_weight(ctx, v, why, sizeof(why)) == 0)
    return 0;
  err[0] = '\0'; /* the parser's line names the flag */
  (void)n;
  return -1;
}

static int set_weights_file(void *ctx, const char *v, char *err, size_t n) {
  (void)err, (void)n;
  ((struct run_cli *)ctx)->weights_file = v;
  return 0;
}

static int set_state(void *ctx, const char *v, char *err, size_t n) {
  int mode = loom_state_mode_parse(v);
  (void)err, (void)n;
  if (mode < 0)
    return -1;
  ((struct run_cli *)ctx)->opt.state_mode = mode;
  return 0;
}

static int set_state_budget(void *ctx, const char *v, char *err, size_t n) {
  unsigned long long u;
  (void)err, (void)n;
  if (cli_size(v, &u) != 0 || u == 0)
    return -1;
  ((struct run_cli *)ctx)->opt.state_budget = u;
  return 0;
}

static const struct cli_flag run_flags[] = {
    {"--output", 'o', "DIR",
     "run directory (default: a new loom-run-YYYYMMDD-HHMMSS)", NULL,
     set_output},
    {"--resume", 0, "DIR",
     "go on with the run in DIR: run only the tasks that\n"
     "did not succeed there (same or edited task file)",
     NULL, set_resume},
    {"--skip-failed", 0, NULL, "with --resume: tasks that failed count as done",
     NULL, set_skip_failed},
    {"--resume-any", 0, NULL,
     "with --resume: go on although no task of the source\n"
     "is in DIR's journal (another task set)",
     NULL, set_resume_any},
    {"--halt", 0, "N", "stop handing out tasks once N tasks failed (exit 4)",
     "a number of failed tasks >= 1", set_halt},
    {"--quarantine", 0, "N",
     "a worker whose failed tasks succeed elsewhere N times\n"
     "in a row gets no more tasks (default 3, 0 = never)",
     "a count >= 0", set_quarantine},
    {"--deadline", 0, "WHEN",
     "start no task that cannot end before WHEN: seconds\n"
     "from now (90, 30m, 2h), @EPOCH, or slurm (the job's\n"
     "end time: SLURM_JOB_END_TIME, else squeue); a task\n"
     "queued behind others counts their time; exit 4 if\n"
     "any task was left out",
     "seconds from now such as 3600, 90m or 2h, @EPOCH, or slurm",
     set_deadline},
    {"--deadline-margin", 0, "SEC",
     "end tasks this long before the deadline (default 0)",
     "seconds >= 0 such as 60 or 2m", set_margin},
    {"--grace", 0, "SEC",
     "on SIGINT/SIGTERM/SIGUSR1, let running tasks go on\n"
     "this long before killing them (default 30; exit 4)",
     "seconds >= 0", set_grace},
    {"--lock-wait", 0, "SEC",
     "when another loom owns the run directory, wait this\n"
     "long for it to end, then refuse (default 10; exit 2)",
     "seconds >= 0", set_lock_wait},
    {"--state", 0, "MODE",
     "the state table's consistency: strong (default),\n"
     "causal or eventual (README: The state table)",
     "strong, causal or eventual", set_state},
    {"--state-budget", 0, "SIZE",
     "bytes one rank's replica may grow to by its own\n"
     "writes (default 256M; K, M, G suffixes)",
     "a size > 0 such as 4096, 64M or 2G", set_state_budget},
    {"--kind", 0, "NAME", "run a built-in kind instead of a task file", NULL,
     set_kind},
    {"--count", 0, "N", "number of tasks of the kind (>= 1)", "an integer >= 1",
     set_count},
    {"--arg", 'a', "KEY=VALUE", "an argument of the kind (repeatable)",
     "KEY=VALUE", set_arg},
    {"--policy", 0, "NAME", "scheduling policy (default weighted)", NULL,
     set_policy},
    {"--slots", 0, "N|auto|auto:pu",
     "tasks each worker runs at once, each pinned to a\n"
     "core of its own (auto: one per core of the rank's\n"
     "binding; auto:pu: one per hardware thread; N more\n"
     "than the cores: not pinned). Default: one, not pinned",
     "1 to " CLI_STR(LOOM_SLOTS_MAX) ", auto or auto:pu", set_slots},
    {"--membind", 0, NULL,
     "bind each task's memory to the NUMA node of its\n"
     "cores (with pinned --slots)",
     NULL, set_membind},
    {"--window", 0, "N", "batches in flight per worker slot (default 2)",
     "1 to " CLI_STR(LOOM_WINDOW_MAX), set_window},
    {"--lookahead", 0, "N",
     "tasks the weighted policy may read ahead to hand out\n"
     "the longest hinted ones first (default 1000000;\n"
     "0 = file order; stdin and pipes: 0 unless given)",
     "0 to 1073741824", set_lookahead},
    {"--weight", 0, "KEY=W",
     "capacity weight W > 0 for worker rank KEY, or for\n"
     "every rank on host KEY (repeatable; default: from\n"
     "the hardware, see loom topo)",
     "RANK=W or HOST=W with W > 0", set_weight},
    {"--weights-file", 0, "FILE",
     "KEY=W lines as for --weight (# comments); read by\nrank 0", NULL,
     set_weights_file},
    {"--batch-max", 0, "N", "most tasks in one message (default 4096)",
     "1 to 1048576", set_batch_max},
    {"--batch-target", 0, "SEC",
     "expected work one message aims at (default 0.01):\n"
     "bigger means fewer messages for short tasks, but a\n"
     "batch's tasks run in turn on one slot until it has\n"
     "run 4x this (50 ms at least) and gives back the rest",
     "seconds > 0", set_batch_target},
    {"--task-output", 0, "MODE",
     "files (default): out/XX/ID.ATTEMPT.out|err;\n"
     "terminal: lines prefixed by task id; discard",
     "files, terminal or discard", set_task_output},
    {"--timeout", 0, "SEC", "default time limit of a shell task (0 = none)",
     "seconds >= 0", set_timeout},
    {"--retries", 0, "N", "default extra attempts of a failed task",
     "0 to 1000", set_retries},
    {"--cores", 0, "N",
     "cores every task needs at once, unless its own\n"
     "cores= hint says (default 1; with --slots)",
     "1 to " CLI_STR(LOOM_CORES_MAX), set_cores},
    {"--mem", 0, "SIZE",
     "memory every task needs, unless its own mem= hint\n"
     "says (K, M, G, T suffixes; with --slots)",
     "a size > 0 such as 512M or 4G", set_mem},
    {"--progress", 0, "MODE",
     "live (one line kept up to date), lines (a line every\n"
     "--progress-interval) or off; default: live when\n"
     "stderr, or the launcher's, is a terminal, else lines",
     "live, lines or off", set_progress},
    {"--progress-interval", 0, "S",
     "seconds between progress lines in a batch log (5)", "seconds > 0",
     set_progress_interval},
    {"--quiet", 'q', NULL, "no progress line, notices or summary", NULL,
     set_quiet},
    {NULL, 0, NULL, NULL, NULL, NULL}};

static int run_positional(void *ctx, const char *a, char *err, size_t n) {
  struct run_cli *c = ctx;
  if (c->taskfile) {
    snprintf(err, n, "more than one task file ('%s' and '%s')", c->taskfile, a);
    return -1;
  }
  c->taskfile = a;
  return 0;
}

static void run_usage(FILE *f) {
  fprintf(f, "usage: mpirun -np N loom run [OPTIONS] TASKFILE|-\n"
             "       mpirun -np N loom run [OPTIONS] --kind NAME --count N "
             "[--arg KEY=VALUE]...\n"
             "\n"
             "Runs every line of TASKFILE ('-' = stdin) as a shell command on "
             "the worker\n"
             "ranks, or N tasks of a built-in kind, and leaves a run directory "
             "with\n"
             "joblog.tsv, report.json and out/ (captured task output).\n");
}

static void run_more_help(FILE *f) {
  fprintf(f, "\n"
             "task file: one shell command per line; blank lines and # "
             "comments are\n"
             "skipped. 'CMD #loom cost=S timeout=S retries=N' gives hints; "
             "directives:\n"
             "'#loom prefix TEXT', '#loom suffix TEXT', '#loom defaults "
             "key=value...',\n"
             "'#loom repeat N [start=S] [step=K] CMD' ({} becomes the "
             "index).\n"
             "\npolicies:\n");
  loom_policy_list(f);
  fprintf(f, "\nkinds:\n");
  for (size_t i = 0; kind_table[i]; i++)
    fprintf(f, "  %-8s %s\n           args: %s\n", kind_table[i]->name,
            kind_table[i]->summary, kind_table[i]->params);
  fprintf(f, "\nexit status: 0 all tasks succeeded, 1 some task failed, 2 "
             "usage or input\nerror, 3 internal or MPI error, 4 stopped early "
             "(--halt, a signal, the deadline,\nall workers quarantined): "
             "--resume runs the rest.\n");
}

static const struct cli_syntax run_syntax = {"run", run_flags, run_positional,
                                             run_usage, run_more_help};

/* What the flags say together. Returns -1 to go on, or CLI_USAGE. */
static int check_flags(struct run_cli *c, int quiet) {
  const struct cli_syntax *s = &run_syntax;

  if (c->kind && c->taskfile)
    return cli_usage_error(s, quiet, "give a task file or --kind, not both");
  if (!c->kind && !c->taskfile)
    return cli_usage_error(
        s, quiet, "no task file (give a file, '-' for stdin, or --kind)");
  if (c->resume && c->output)
    return cli_usage_error(s, quiet,
                           "--resume DIR writes into DIR: no --output");
  if (c->have_margin && !c->deadline_slurm && !(c->opt.deadline > 0))
    return cli_usage_error(s, quiet, "--deadline-margin goes with --deadline");
  if (c->have_progress && c->opt.quiet)
    return cli_usage_error(s, quiet,
                           "--quiet shows no progress: drop --progress");
  if (c->opt.skip_failed && !c->resume)
    return cli_usage_error(s, quiet, "--skip-failed goes with --resume");
  if (c->opt.resume_any && !c->resume)
    return cli_usage_error(s, quiet, "--resume-any goes with --resume");
  if (c->opt.membind && c->opt.slots == 0)
    return cli_usage_error(s, quiet,
                           "--membind goes with --slots N|auto|auto:pu (a "
                           "task that is not pinned has no NUMA node)");
  if (c->kind && !kind_find(c->kind))
    return cli_usage_error(s, quiet, "unknown kind '%s'", c->kind);
  if (c->kind && !c->have_count)
    return cli_usage_error(s, quiet, "--kind %s needs --count N", c->kind);
  if (!c->kind && (c->have_count || c->nargs))
    return cli_usage_error(s, quiet, "--count and --arg go with --kind");
  if (c->kind) {
    snprintf(c->count_arg, sizeof(c->count_arg), "count=%" PRIu64, c->count);
    c->args[c->nargs++] = (struct kind_arg){
        .key = c->count_arg, .key_len = 5, .value = c->count_arg + 6};
  }
  c->opt.command_line = c->command_line;
  c->opt.source_name = c->kind ? c->kind : c->taskfile;
  return -1;
}

/* --weights-file: one KEY=W a line, as --weight takes; blank lines and
 * lines starting with # are skipped, spaces around an entry ignored. Read
 * on the master only (only the master weighs workers). Prints one error
 * line naming the file and line; returns 0 or CLI_USAGE. */
/* Reads one line of f into line (size bytes, NUL-terminated, newline
 * dropped). Returns 1, 0 at the end, -1 for a line too long, -2 for a NUL
 * byte: an entry is short text, and anything else is not a weights file
 * (a binary file, or /dev/zero, is refused after size bytes). */
static int weights_line(FILE *f, char *line, size_t size) {
  size_t n = 0;
  int c;

  while ((c = getc(f)) != EOF && c != '\n') {
    if (c == '\0')
      return -2;
    if (n + 1 == size)
      return -1;
    line[n++] = (char)c;
  }
  line[n] = '\0';
  return c == EOF && n == 0 ? 0 : 1;
}

static int read_weights_file(struct run_cli *c) {
  FILE *f = fopen(c->weights_file, "r");
  char line[4096] = "", why[256];
  unsigned long no = 0;
  int status = 0, got;

  if (!f) {
    fprintf(stderr, "loom: cannot read weights file '%s': %s\n",
            c->weights_file, strerror(errno));
    return CLI_USAGE;
  }
  while (status == 0 && (got = weights_line(f, line, sizeof(line))) != 0) {
    char *s = line, *e;
    no++;
    if (got < 0) {
      fprintf(stderr, "loom: %s:%lu: %s\n", c->weights_file, no,
              got == -1 ? "line longer than 4095 bytes"
                        : "NUL byte in line (is this a binary file?)");
      status = CLI_USAGE;
      break;
    }
    e = line + strlen(line);
    while (s < e && isspace((unsigned char)*s))
      s++;
    while (e > s && isspace((unsigned char)e[-1]))
      e--;
    *e = '\0';
    if (s == e || *s == '#')
      continue;
    if (add_weight(c, s, why, sizeof(why)) != 0) {
      fprintf(stderr, "loom: %s:%lu: %s\n", c->weights_file, no,
              strchr(s, ',') ? "bad weight (one KEY=W a line, no commas)"
                             : why);
      status = CLI_USAGE;
    }
  }
  if (status == 0 && ferror(f)) {
    fprintf(stderr, "loom: cannot read weights file '%s': %s\n",
            c->weights_file, strerror(errno));
    status = CLI_USAGE;
  }
  fclose(f);
  return status;
}

/* ---- task sources ------------------------------------------------------ */

struct file_source {
  struct loom_taskfile *tf;
  int failed; /* the reader reported a syntax or read error */
};

static int file_next(void *arg, struct loom_task_spec *spec) {
  struct file_source *fs = arg;
  int rc = loom_taskfile_next(fs->tf, spec);

  if (rc < 0)
    fs->failed = 1;
  return rc;
}

struct kind_source {
  const struct kind *k;
  int cores;    /* --cores */
  uint64_t mem; /* --mem */
  void *state;
  uint64_t next;
  uint64_t count;
  unsigned char buf[4096];
};

static int kind_next(void *arg, struct loom_task_spec *spec) {
  struct kind_source *ks = arg;
  size_t len = 0;
  double cost = -1;
  int rc;

  if (ks->next >= ks->count)
    return 0;
  rc = ks->k->make(ks->state, ks->next, ks->buf, sizeof(ks->buf), &len, &cost);
  if (rc != 0)
    return rc;
  loom_task_spec_init(spec);
  spec->kind = ks->k->name;
  spec->payload = ks->buf;
  spec->len = len;
  spec->cost = cost;
  spec->cores = ks->cores;
  spec->mem = ks->mem;
  /* The id is left to the engine, which derives the same one,
   * loom_task_id_derive(name, payload, len, line), with the kind's name
   * hashed once for the run. */
  spec->line = ks->next + 1;
  ks->next++;
  return 1;
}

static void kind_result(void *arg, const struct loom_result *res) {
  struct kind_source *ks = arg;
  if (ks->k->result)
    ks->k->result(ks->state, res);
}

/* ---- the run ------------------------------------------------------------ */

/* The engine a stop signal goes to, while loom_run() runs. */
static struct loom *volatile running_loom;

/* SIGINT, SIGTERM and SIGUSR1 ask for a graceful stop (a second one kills
 * the running tasks at once). Under mpirun, send SIGUSR1: mpirun forwards
 * it to every rank, whereas on SIGTERM it kills the job itself after a
 * moment. srun delivers SIGTERM to every rank and waits KillWait. */
static void on_stop_signal(int sig) {
  (void)sig;
  loom_stop(running_loom);
}

static void stop_signals(int install) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGUSR1};
  struct sigaction sa;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = install ? on_stop_signal : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    sigaction(sigs[i], &sa, NULL);
}

/* Rank 0: checks the input and makes the run directory. Returns -1 to go
 * on, else an exit status (the error line already printed). */
static int prepare(struct run_cli *c, struct file_source *fs,
                   struct kind_source *ks, char *rundir, size_t rundir_len) {
  char err[1024];
  int rc;

  if (c->weights_file && read_weights_file(c) != 0)
    return CLI_USAGE;
  if (c->deadline_slurm &&
      cli_slurm_end_time(&c->opt.deadline, err, sizeof(err)) != 0) {
    fprintf(stderr, "loom: %s\n", err);
    return CLI_USAGE;
  }
  if (c->opt.deadline > 0)
    c->opt.deadline -= c->margin;
  if (c->kind) {
    ks->k = kind_find(c->kind);
    ks->count = c->count;
    ks->cores = c->cores;
    ks->mem = c->mem;
    rc = ks->k->setup(c->args, c->nargs, &ks->state, err, sizeof(err));
    if (rc != 0) {
      fprintf(stderr, "loom: %s\n", err);
      return CLI_USAGE;
    }
    c->opt.expected_tasks = c->count;
  } else {
    struct stat st;
    int is_stdin = strcmp(c->taskfile, "-") == 0;
    /* A pipe or FIFO (`loom run <(generate)`) can be read once only, like
     * stdin: no pre-scan, and no look-ahead unless asked for. */
    int regular =
        !is_stdin && stat(c->taskfile, &st) == 0 && S_ISREG(st.st_mode);

    if (!is_stdin && stat(c->taskfile, &st) == 0 && S_ISDIR(st.st_mode)) {
      fprintf(stderr, "loom: task file '%s' is a directory\n", c->taskfile);
      return CLI_USAGE;
    }
    /* Reading ahead of a pipe would wait for input that a producer may
     * only write once earlier tasks are done. */
    if (!c->have_lookahead && !regular)
      c->opt.lookahead = 0;
    if (regular) {
      uint64_t n = 0;
      rc = loom_taskfile_scan(c->taskfile, &n, err, sizeof(err));
      if (rc != 0) {
        fprintf(stderr, "loom: %s\n", err);
        return CLI_USAGE;
      }
      if (n == 0) {
        fprintf(stderr,
                "loom: task file '%s' has no tasks (empty, or only comments "
                "and directives)\n",
                c->taskfile);
        return CLI_USAGE;
      }
      c->opt.expected_tasks = n;
    }
    rc = loom_taskfile_open(c->taskfile, &fs->tf, err, sizeof(err));
    if (rc != 0) {
      fprintf(stderr, "loom: %s\n", err);
      return CLI_USAGE;
    }
    if (loom_taskfile_defaults(fs->tf, c->timeout, c->retries) != 0 ||
        loom_taskfile_requests(fs->tf, c->cores, c->mem) != 0) {
      fprintf(stderr, "loom: --timeout, --retries or --cores out of range\n");
      return CLI_USAGE;
    }
  }
  if (c->resume) {
    rc = loom_rundir_check_resumable(c->resume, err, sizeof(err));
    if (rc == 0 && strlen(c->resume) < rundir_len) {
      snprintf(rundir, rundir_len, "%s", c->resume);
      c->opt.resume = 1;
    }
  } else {
    rc = loom_rundir_create(c->output, rundir, rundir_len, err, sizeof(err));
  }
  if (rc != 0) {
    fprintf(stderr, "loom: %s\n", err);
    return CLI_USAGE;
  }
  c->opt.run_dir = rundir;
  return -1;
}

/* Removes what a run that did no task at all left behind. */
static void discard_empty_run(const char *dir) {
  static const char *files[] = {"joblog.tsv", "report.json", "dispatched.tsv"};
  char p[PATH_MAX + 32];

  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
    unlink(p);
  }
  loom_rundir_discard(dir);
}

/* Rank 0, after the run: the exit status, and a kind's own answer. */
static int conclude(struct run_cli *c, struct loom *l, int rc,
                    struct file_source *fs, struct kind_source *ks,
                    const char *rundir) {
  struct loom_summary sum;
  int status = CLI_OK;

  loom_summary_get(l, &sum);
  if (rc == LOOM_EBUSY) {
    /* Another loom owns the directory: leave everything of it alone. */
    fprintf(stderr, "loom: %s\n", loom_error_text(l));
    return CLI_USAGE;
  }
  if (fs->failed) {
    fprintf(stderr, "loom: %s\n", loom_taskfile_error(fs->tf));
    status = CLI_USAGE;
  } else if (rc == LOOM_ESYNTAX || rc == LOOM_EMISMATCH) {
    /* The run directory's journal is not one loom wrote (a hand-edited or
     * foreign file): an input error, named by file, line and field. */
    fprintf(stderr, "loom: %s\n",
            *loom_error_text(l) ? loom_error_text(l) : loom_strerror(rc));
    status = CLI_USAGE;
  } else if (rc == LOOM_EINVAL) {
    /* A task the source gave asks for what no run can give it (more
     * cores or memory than a worker has): an input error. */
    fprintf(stderr, "loom: %s: %s\n", c->opt.source_name,
            *loom_error_text(l) ? loom_error_text(l) : loom_strerror(rc));
    status = CLI_USAGE;
  } else if (rc == LOOM_EIO) {
    /* The run directory could not take more (a full disk): what is in it
     * stands, and --resume goes on once there is room. */
    fprintf(stderr, "loom: run stopped: %s\n",
            *loom_error_text(l) ? loom_error_text(l) : loom_strerror(rc));
    status = sum.attempts > 0 || sum.skipped > 0 || c->resume ? CLI_INCOMPLETE
                                                              : CLI_USAGE;
  } else if (rc == LOOM_EREPLICA) {
    /* The tasks ran, but the table they shared cannot be trusted. */
    fprintf(stderr, "loom: %s\n", loom_error_text(l));
    status = CLI_INTERNAL;
  } else if (rc != 0) {
    fprintf(stderr, "loom: run failed: %s\n",
            *loom_error_text(l) ? loom_error_text(l) : loom_strerror(rc));
    status = CLI_INTERNAL;
  } else if (sum.halted || sum.stopped || sum.not_started > 0) {
    status = CLI_INCOMPLETE;
  } else if (sum.tasks == 0 && sum.skipped == 0) {
    fprintf(stderr, "loom: %s: no tasks\n", c->opt.source_name);
    status = CLI_USAGE;
  } else if (sum.failed > 0) {
    status = CLI_TASKS_FAILED;
  }
  if (rc == 0 && c->kind && ks->k->finish && sum.skipped > 0) {
    fprintf(stderr,
            "loom: %s: %" PRIu64 " tasks were done in the earlier run, so "
            "this run has no full answer to check\n",
            c->kind, sum.skipped);
  } else if (rc == 0 && c->kind && ks->k->finish && sum.tasks > 0 &&
             !sum.halted && !sum.stopped && sum.not_started == 0) {
    FILE *f;
    char p[PATH_MAX + 32];
    if (ks->k->finish(ks->state, stdout) != 0 && status == CLI_OK)
      status = CLI_TASKS_FAILED;
    snprintf(p, sizeof(p), "%s/result.txt", rundir);
    f = fopen(p, "w");
    if (f) {
      ks->k->finish(ks->state, f);
      fclose(f);
    }
  }
  /* Nothing ran and nothing was there before: leave nothing behind. */
  if (sum.attempts == 0 && rundir[0] && !c->resume)
    discard_empty_run(rundir);
  return status;
}

/* Is this process the first task of a Slurm step or job (or not under
 * Slurm at all)? Slurm's variable alone: a singleton's MPI sets its own
 * rank variables (OMPI_COMM_WORLD_RANK=0) in every one of them. */
static int env_rank0(void) {
  const char *v = getenv("SLURM_PROCID");
  return !v || strcmp(v, "0") == 0;
}

static int run(struct run_cli *c) {
  struct file_source fs = {0};
  struct kind_source ks = {0};
  struct loom *l = NULL;
  char rundir[PATH_MAX] = "", err[512];
  int rank, size, verdict = -1, rc, status = CLI_OK;

  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* N singletons each see a world of one: each checks for itself, the
   * first of the job's tasks says why. */
  if (cli_slurm_launch_check(size, err, sizeof(err)) != 0) {
    if (env_rank0())
      fprintf(stderr, "loom: %s\n", err);
    status = CLI_USAGE;
    goto out;
  }
  if (rank == 0)
    verdict = prepare(c, &fs, &ks, rundir, sizeof(rundir));
  MPI_Bcast(&verdict, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (verdict >= 0) {
    status = verdict;
    goto out;
  }
  if (rank != 0)
    c->opt.run_dir = NULL; /* the master's is shared by loom_run */
  rc = loom_new(MPI_COMM_WORLD, &c->opt, &l);
  if (rc == 0)
    rc = kinds_register_all(l);
  if (rc != 0) {
    /* A rank that could not read its hardware (a bad LOOM_TOPOLOGY or
     * LOOM_CPUSET) has said so itself: that is an input error. */
    if (rank == 0 && rc != LOOM_EINVAL)
      fprintf(stderr, "loom: cannot start: %s\n", loom_strerror(rc));
    status = rc == LOOM_EINVAL ? CLI_USAGE : CLI_INTERNAL;
    if (rank == 0 && rundir[0] && !c->resume)
      loom_rundir_discard(rundir); /* nothing ran: leave nothing */
    goto out;
  }
  running_loom = l;
  stop_signals(1);
  if (rank == 0 && c->kind)
    rc = loom_run(l, kind_next, &ks, kind_result, &ks);
  else if (rank == 0)
    rc = loom_run(l, file_next, &fs, NULL, NULL);
  else
    rc = loom_run(l, NULL, NULL, NULL, NULL);
  stop_signals(0);
  running_loom = NULL;

  if (rank != 0) {
    if (rc == LOOM_EMPI || rc == LOOM_EPROTO || rc == LOOM_ENOMEM) {
      fprintf(stderr, "loom: rank %d: %s\n", rank, loom_strerror(rc));
      MPI_Abort(MPI_COMM_WORLD, CLI_INTERNAL);
    }
  } else {
    status = conclude(c, l, rc, &fs, &ks, rundir);
  }

out:
  c->opt.run_dir = NULL; /* it pointed at this function's rundir */
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  loom_free(l);
  if (ks.k && ks.k->free && ks.state)
    ks.k->free(ks.state);
  loom_taskfile_close(fs.tf);
  return status;
}

/* Parses and checks the command line into *c. Returns -1 to go on, or an
 * exit status (the error line printed unless quiet). */
static int parse(struct run_cli *c, int argc, char **argv, int quiet) {
  size_t used = 0;
  int status;

  memset(c, 0, sizeof(*c));
  loom_options_init(&c->opt);
  for (int i = 0; i < argc; i++) {
    int n = snprintf(c->command_line + used, sizeof(c->command_line) - used,
                     "%s%s", i ? " " : "", argv[i]);
    if (n > 0 && used + (size_t)n < sizeof(c->command_line))
      used += (size_t)n;
  }
  status = cli_parse(&run_syntax, argc, argv, 2, c, quiet);
  if (status < 0)
    status = check_flags(c, quiet);
  return status;
}

int loom_cli_run_parse(int argc, char **argv) {
  struct run_cli c;
  int status = parse(&c, argc, argv, 1);
  free(c.weights);
  return status;
}

int loom_cli_run(int argc, char **argv, int quiet) {
  struct run_cli c;
  int status, provided;

  status = parse(&c, argc, argv, quiet);
  if (status >= 0) {
    free(c.weights);
    /* Only the launcher's rank 0 reports; the others leave quietly with
     * 0, so that the launcher does not tear the job down (and rank 0's
     * message with it) before rank 0 has spoken. */
    return quiet ? CLI_OK : status;
  }
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    fprintf(stderr, "loom: MPI_Init_thread failed\n");
    free(c.weights);
    return CLI_INTERNAL;
  }
  status = run(&c);
  MPI_Finalize();
  free(c.weights);
  return status;
}
