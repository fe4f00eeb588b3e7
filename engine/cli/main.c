/* main.c - the `loom` command.
 *
 * Every rank runs this same program. Flags are parsed before MPI starts, so
 * a usage error costs no MPI start-up and is printed once (by the rank that
 * the launcher calls 0). Input is validated by rank 0, which broadcasts the
 * verdict so every rank exits with the same status. The run directory is
 * created only once the input is known good: a failed start leaves nothing.
 * Exit status: 0 all tasks succeeded, 1 some task failed, 2 usage or input
 * error, 3 internal or MPI error.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kinds.h"
#include "loom.h"
#include "sim_cmd.h"

enum {
  EXIT_OK = 0,
  EXIT_TASKS_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_INTERNAL = 3,
  EXIT_INCOMPLETE = 4 /* stopped early; --resume runs the rest */
};

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

#define MAX_KIND_ARGS 64

struct cli {
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
  char command_line[4096];
  char *weights; /* --weight KEY=W and --weights-file lines, joined with
                    commas (malloc'ed) */
  size_t weights_len;
  const char *weights_file;
  int have_lookahead; /* --lookahead given */
};

static int launcher_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                               "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
    const char *v = getenv(vars[i]);
    if (v && *v)
      return (int)strtol(v, NULL, 10);
  }
  return 0;
}

static void usage_main(FILE *f) {
  fprintf(f,
          "usage: loom COMMAND [OPTIONS]\n"
          "\n"
          "loom is an MPI task farm: start it on every rank with mpirun or "
          "srun;\n"
          "rank 0 hands out tasks, the other ranks run them.\n"
          "\n"
          "commands:\n"
          "  run        run a task file or a built-in kind (loom run --help)\n"
          "  topo       one row per rank: its hardware and weight (loom topo "
          "--help)\n"
          "  sim        simulate a run offline: policies, speeds, latency "
          "(loom sim --help)\n"
          "\n"
          "options:\n"
          "  -h, --help     this text\n"
          "  --version      print the version\n"
          "\n"
          "exit status: 0 all tasks succeeded, 1 some task failed, 2 usage or "
          "input\n"
          "error, 3 internal or MPI error.\n");
}

static void usage_run(FILE *f) {
  fprintf(f,
          "usage: mpirun -np N loom run [OPTIONS] TASKFILE|-\n"
          "       mpirun -np N loom run [OPTIONS] --kind NAME --count N "
          "[--arg KEY=VALUE]...\n"
          "\n"
          "Runs every line of TASKFILE ('-' = stdin) as a shell command on "
          "the worker\n"
          "ranks, or N tasks of a built-in kind, and leaves a run directory "
          "with\n"
          "joblog.tsv, report.json and out/ (captured task output).\n"
          "\n"
          "options:\n"
          "  -o, --output DIR       run directory (default: a new "
          "loom-run-YYYYMMDD-HHMMSS)\n"
          "  --resume DIR           go on with the run in DIR: run only the "
          "tasks that\n"
          "                         did not succeed there (same or edited "
          "task file)\n"
          "  --skip-failed          with --resume: tasks that failed count "
          "as done\n"
          "  --halt N               stop handing out tasks once N tasks "
          "failed (exit 4)\n"
          "  --quarantine N         a worker whose failed tasks succeed "
          "elsewhere N times\n"
          "                         in a row gets no more tasks (default 3, "
          "0 = never)\n"
          "  --deadline WHEN        start no task that cannot end before "
          "WHEN: seconds\n"
          "                         from now (90, 30m, 2h), @EPOCH, or slurm "
          "(the job's\n"
          "                         end time from SLURM_JOB_END_TIME); exit "
          "4 if any\n"
          "                         task was left out\n"
          "  --grace SEC            on SIGINT/SIGTERM/SIGUSR1, let running "
          "tasks go on\n"
          "                         this long before killing them (default "
          "30; exit 4)\n"
          "  --kind NAME            run a built-in kind instead of a task "
          "file\n"
          "  --count N              number of tasks of the kind (>= 1)\n"
          "  -a, --arg KEY=VALUE    an argument of the kind (repeatable)\n"
          "  --policy NAME          scheduling policy (default "
          "weighted)\n"
          "  --window N             batches in flight per worker (default 2)\n"
          "  --lookahead N          tasks the weighted policy may read ahead "
          "to hand out\n"
          "                         the longest hinted ones first (default "
          "1000000;\n"
          "                         0 = file order; stdin and pipes: 0 "
          "unless given)\n"
          "  --weight KEY=W         capacity weight W > 0 for worker rank KEY, "
          "or for\n"
          "                         every rank on host KEY (repeatable; "
          "default: from\n"
          "                         the hardware, see loom topo)\n"
          "  --weights-file FILE    KEY=W lines as for --weight (# comments); "
          "read by\n"
          "                         rank 0\n"
          "  --batch-max N          most tasks in one message (default "
          "4096)\n"
          "  --task-output MODE     files (default): out/XX/ID.ATTEMPT.out|err;"
          "\n"
          "                         terminal: lines prefixed by task id; "
          "discard\n"
          "  --timeout SEC          default time limit of a shell task "
          "(0 = none)\n"
          "  --retries N            default extra attempts of a failed task\n"
          "  --progress-interval S  seconds between progress lines in a "
          "batch log (5)\n"
          "  -q, --quiet            no progress line, notices or summary\n"
          "  -h, --help             this text\n"
          "\n"
          "task file: one shell command per line; blank lines and # comments "
          "are\n"
          "skipped. 'CMD #loom cost=S timeout=S retries=N' gives hints; "
          "directives:\n"
          "'#loom prefix TEXT', '#loom suffix TEXT', '#loom defaults "
          "key=value...',\n"
          "'#loom repeat N [start=S] [step=K] CMD' ({} becomes the index).\n"
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

/* One error line, printed by rank 0 only. */
static int usage_error(int quiet_rank, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(int quiet_rank, const char *fmt, ...) {
  va_list ap;

  if (!quiet_rank) {
    fprintf(stderr, "loom: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'loom run --help')\n");
  }
  return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
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

/* Seconds >= 0, with an optional s, m or h suffix, as in task files. */
static int parse_seconds(const char *s, double *out) {
  return s && loom_duration_parse(s, strlen(s), out) == 0 ? 0 : -1;
}

/* A deadline as wall-clock seconds since the epoch: "SECONDS[s|m|h]" from
 * now, "@EPOCH", or "slurm" for the job's end time. */
static int parse_deadline(const char *v, double *out) {
  double x;
  struct timespec now;

  if (strcmp(v, "slurm") == 0) {
    v = getenv("SLURM_JOB_END_TIME");
    if (!v || !*v)
      return -1;
    return parse_seconds(v, out) == 0 && *out > 0 ? 0 : -1;
  }
  if (*v == '@')
    return parse_seconds(v + 1, out) == 0 && *out > 0 ? 0 : -1;
  if (parse_seconds(v, &x) != 0 || !(x > 0))
    return -1;
  clock_gettime(CLOCK_REALTIME, &now);
  *out = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 + x;
  return 0;
}

/* Parses `loom run` flags. Returns -1 to go on, or an exit status. */
/* Checks one KEY=W (KEY a rank or a host name, W > 0) and appends it to
 * c->weights. Returns 0, LOOM_EINVAL or LOOM_ENOMEM. */
static int add_weight(struct cli *c, const char *v) {
  const char *eq = strchr(v, '=');
  size_t n = strlen(v);
  double wv;
  char *end, *p;

  errno = 0;
  wv = eq ? strtod(eq + 1, &end) : 0;
  if (!eq || eq == v || strchr(v, ',') || end == eq + 1 || *end || errno ||
      !isfinite(wv) || wv <= 0)
    return LOOM_EINVAL;
  p = realloc(c->weights, c->weights_len + n + 2);
  if (!p)
    return LOOM_ENOMEM;
  c->weights = p;
  if (c->weights_len)
    c->weights[c->weights_len++] = ',';
  memcpy(c->weights + c->weights_len, v, n + 1);
  c->weights_len += n;
  c->opt.weights = c->weights;
  return 0;
}

/* --weights-file: one KEY=W a line, as --weight takes; blank lines and
 * lines starting with # are skipped, spaces around an entry ignored. Reads
 * on the master only (only the master weighs workers). Prints one error
 * line naming the file and line; returns 0 or EXIT_USAGE. */
static int read_weights_file(struct cli *c) {
  FILE *f = fopen(c->weights_file, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  unsigned long no = 0;
  int status = 0;

  if (!f) {
    fprintf(stderr, "loom: cannot read weights file '%s': %s\n",
            c->weights_file, strerror(errno));
    return EXIT_USAGE;
  }
  while (status == 0 && (got = getline(&line, &cap, f)) >= 0) {
    char *s = line, *e = line + got;
    no++;
    while (s < e && isspace((unsigned char)*s))
      s++;
    while (e > s && isspace((unsigned char)e[-1]))
      e--;
    *e = '\0';
    if (s == e || *s == '#')
      continue;
    if (add_weight(c, s) != 0) {
      fprintf(stderr,
              "loom: %s:%lu: bad weight '%s' (expected RANK=W or HOST=W "
              "with W > 0)\n",
              c->weights_file, no, s);
      status = EXIT_USAGE;
    }
  }
  if (status == 0 && ferror(f)) {
    fprintf(stderr, "loom: cannot read weights file '%s'\n", c->weights_file);
    status = EXIT_USAGE;
  }
  free(line);
  fclose(f);
  return status;
}

static int parse_run(struct cli *c, int argc, char **argv, int quiet_rank) {
  size_t used = 0;
  int rc;

  loom_options_init(&c->opt);
  for (int i = 0; i < argc; i++) {
    int n = snprintf(c->command_line + used, sizeof(c->command_line) - used,
                     "%s%s", i ? " " : "", argv[i]);
    if (n > 0 && used + (size_t)n < sizeof(c->command_line))
      used += (size_t)n;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t u;

#define NEED_VALUE()                                                           \
  do {                                                                         \
    if (!v)                                                                    \
      return usage_error(quiet_rank, "option '%s' needs a value", a);          \
    i++;                                                                       \
  } while (0)

    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      if (!quiet_rank)
        usage_run(stdout);
      return EXIT_OK;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      NEED_VALUE();
      c->output = v;
    } else if (strcmp(a, "--resume") == 0) {
      NEED_VALUE();
      c->resume = v;
    } else if (strcmp(a, "--skip-failed") == 0) {
      c->opt.skip_failed = 1;
    } else if (strcmp(a, "--halt") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 1, UINT64_MAX / 2, &u) != 0)
        return usage_error(quiet_rank,
                           "bad --halt '%s' (expected a number of failed "
                           "tasks >= 1)",
                           v);
      c->opt.halt = u;
    } else if (strcmp(a, "--weight") == 0) {
      NEED_VALUE();
      rc = add_weight(c, v);
      if (rc == LOOM_ENOMEM)
        return usage_error(quiet_rank, "out of memory");
      if (rc != 0)
        return usage_error(quiet_rank,
                           "bad --weight '%s' (expected RANK=W or HOST=W "
                           "with W > 0)",
                           v);
    } else if (strcmp(a, "--weights-file") == 0) {
      NEED_VALUE();
      c->weights_file = v;
    } else if (strcmp(a, "--quarantine") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 0, 1000000, &u) != 0)
        return usage_error(quiet_rank,
                           "bad --quarantine '%s' (expected a count >= 0)", v);
      c->opt.quarantine = (int)u;
    } else if (strcmp(a, "--deadline") == 0) {
      NEED_VALUE();
      if (parse_deadline(v, &c->opt.deadline) != 0)
        return usage_error(quiet_rank,
                           "bad --deadline '%s' (expected seconds from now "
                           "such as 3600, 90m or 2h, @EPOCH, or slurm with "
                           "SLURM_JOB_END_TIME set)",
                           v);
    } else if (strcmp(a, "--grace") == 0) {
      NEED_VALUE();
      if (parse_seconds(v, &c->opt.grace) != 0)
        return usage_error(quiet_rank,
                           "bad --grace '%s' (expected seconds >= 0)", v);
    } else if (strcmp(a, "--kind") == 0) {
      NEED_VALUE();
      c->kind = v;
    } else if (strcmp(a, "--count") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 1, UINT64_MAX / 2, &c->count) != 0)
        return usage_error(quiet_rank,
                           "bad --count '%s' (expected an integer >= 1)", v);
      c->have_count = 1;
    } else if (strcmp(a, "-a") == 0 || strcmp(a, "--arg") == 0) {
      const char *eq;
      NEED_VALUE();
      eq = strchr(v, '=');
      if (!eq || eq == v)
        return usage_error(quiet_rank, "bad --arg '%s' (expected KEY=VALUE)",
                           v);
      if (c->nargs == MAX_KIND_ARGS - 1)
        return usage_error(quiet_rank, "too many --arg options");
      c->args[c->nargs++] = (struct kind_arg){
          .key = v, .key_len = (size_t)(eq - v), .value = eq + 1};
    } else if (strcmp(a, "--policy") == 0) {
      NEED_VALUE();
      if (!loom_policy_exists(v))
        return usage_error(quiet_rank, "unknown policy '%s'", v);
      c->opt.policy = v;
    } else if (strcmp(a, "--window") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 1, 1024, &u) != 0)
        return usage_error(quiet_rank, "bad --window '%s' (expected 1 to 1024)",
                           v);
      c->opt.window = (int)u;
    } else if (strcmp(a, "--lookahead") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 0, UINT64_C(1) << 30, &u) != 0)
        return usage_error(
            quiet_rank, "bad --lookahead '%s' (expected 0 to 1073741824)", v);
      c->opt.lookahead = u;
      c->have_lookahead = 1;
    } else if (strcmp(a, "--batch-max") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 1, 1u << 20, &u) != 0)
        return usage_error(quiet_rank,
                           "bad --batch-max '%s' (expected 1 to 1048576)", v);
      c->opt.batch_max = (int)u;
    } else if (strcmp(a, "--task-output") == 0) {
      NEED_VALUE();
      if (strcmp(v, "files") == 0)
        c->opt.output_mode = LOOM_OUTPUT_FILES;
      else if (strcmp(v, "terminal") == 0)
        c->opt.output_mode = LOOM_OUTPUT_TERMINAL;
      else if (strcmp(v, "discard") == 0)
        c->opt.output_mode = LOOM_OUTPUT_DISCARD;
      else
        return usage_error(
            quiet_rank,
            "bad --task-output '%s' (expected files, terminal or discard)", v);
    } else if (strcmp(a, "--timeout") == 0) {
      NEED_VALUE();
      if (parse_seconds(v, &c->timeout) != 0)
        return usage_error(quiet_rank,
                           "bad --timeout '%s' (expected seconds >= 0)", v);
    } else if (strcmp(a, "--retries") == 0) {
      NEED_VALUE();
      if (parse_u64(v, 0, 1000, &u) != 0)
        return usage_error(quiet_rank,
                           "bad --retries '%s' (expected 0 to 1000)", v);
      c->retries = (int)u;
    } else if (strcmp(a, "--progress-interval") == 0) {
      NEED_VALUE();
      if (parse_seconds(v, &c->opt.progress_interval) != 0 ||
          c->opt.progress_interval <= 0)
        return usage_error(
            quiet_rank, "bad --progress-interval '%s' (expected seconds > 0)",
            v);
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      c->opt.quiet = 1;
      c->opt.progress = LOOM_PROGRESS_OFF;
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage_error(quiet_rank, "unknown option '%s'", a);
    } else if (!c->taskfile) {
      c->taskfile = a;
    } else {
      return usage_error(quiet_rank, "more than one task file ('%s' and '%s')",
                         c->taskfile, a);
    }
#undef NEED_VALUE
  }
  if (c->kind && c->taskfile)
    return usage_error(quiet_rank, "give a task file or --kind, not both");
  if (!c->kind && !c->taskfile)
    return usage_error(quiet_rank,
                       "no task file (give a file, '-' for stdin, or --kind)");
  if (c->resume && c->output)
    return usage_error(quiet_rank, "--resume DIR writes into DIR: no --output");
  if (c->opt.skip_failed && !c->resume)
    return usage_error(quiet_rank, "--skip-failed goes with --resume");
  if (c->kind && !kind_find(c->kind))
    return usage_error(quiet_rank, "unknown kind '%s'", c->kind);
  if (c->kind && !c->have_count)
    return usage_error(quiet_rank, "--kind %s needs --count N", c->kind);
  if (!c->kind && (c->have_count || c->nargs))
    return usage_error(quiet_rank, "--count and --arg go with --kind");
  if (c->kind) {
    snprintf(c->count_arg, sizeof(c->count_arg), "count=%" PRIu64, c->count);
    c->args[c->nargs++] = (struct kind_arg){
        .key = c->count_arg, .key_len = 5, .value = c->count_arg + 6};
  }
  c->opt.command_line = c->command_line;
  c->opt.source_name = c->kind ? c->kind : c->taskfile;
  return -1;
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
  spec->line = ks->next + 1;
  spec->id = loom_task_id_derive(ks->k->name, ks->buf, len, ks->next + 1);
  ks->next++;
  return 1;
}

static void kind_result(void *arg, const struct loom_result *res) {
  struct kind_source *ks = arg;
  if (ks->k->result)
    ks->k->result(ks->state, res);
}

/* ---- main -------------------------------------------------------------- */

/* Rank 0: checks the input and makes the run directory. Returns -1 to go
 * on, else an exit status (the error line already printed). */
static int prepare(struct cli *c, struct file_source *fs,
                   struct kind_source *ks, char *rundir, size_t rundir_len) {
  char err[1024];
  int rc;

  if (c->weights_file && read_weights_file(c) != 0)
    return EXIT_USAGE;
  if (c->kind) {
    ks->k = kind_find(c->kind);
    ks->count = c->count;
    rc = ks->k->setup(c->args, c->nargs, &ks->state, err, sizeof(err));
    if (rc != 0) {
      fprintf(stderr, "loom: %s\n", err);
      return EXIT_USAGE;
    }
    c->opt.expected_tasks = c->count;
  } else {
    struct stat st;
    int is_stdin = strcmp(c->taskfile, "-") == 0;

    if (!is_stdin && stat(c->taskfile, &st) == 0 && S_ISDIR(st.st_mode)) {
      fprintf(stderr, "loom: task file '%s' is a directory\n", c->taskfile);
      return EXIT_USAGE;
    }
    /* Reading ahead of a pipe would wait for input that a producer may
     * only write once earlier tasks are done. */
    if (!c->have_lookahead &&
        (is_stdin || stat(c->taskfile, &st) != 0 || !S_ISREG(st.st_mode)))
      c->opt.lookahead = 0;
    if (!is_stdin) {
      uint64_t n = 0;
      rc = loom_taskfile_scan(c->taskfile, &n, err, sizeof(err));
      if (rc != 0) {
        fprintf(stderr, "loom: %s\n", err);
        return EXIT_USAGE;
      }
      if (n == 0) {
        fprintf(stderr,
                "loom: task file '%s' has no tasks (empty, or only comments "
                "and directives)\n",
                c->taskfile);
        return EXIT_USAGE;
      }
      c->opt.expected_tasks = n;
    }
    rc = loom_taskfile_open(c->taskfile, &fs->tf, err, sizeof(err));
    if (rc != 0) {
      fprintf(stderr, "loom: %s\n", err);
      return EXIT_USAGE;
    }
    loom_taskfile_defaults(fs->tf, c->timeout, c->retries);
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
    return EXIT_USAGE;
  }
  c->opt.run_dir = rundir;
  return -1;
}

/* Removes what a run that did no task at all left behind. */
static void discard_empty_run(const char *dir) {
  char p[PATH_MAX + 32];
  snprintf(p, sizeof(p), "%s/joblog.tsv", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/report.json", dir);
  unlink(p);
  snprintf(p, sizeof(p), "%s/dispatched.tsv", dir);
  unlink(p);
  loom_rundir_discard(dir);
}

static int cmd_run(struct cli *c) {
  struct file_source fs = {0};
  struct kind_source ks = {0};
  struct loom *l = NULL;
  struct loom_summary sum;
  char rundir[PATH_MAX] = "";
  int rank, verdict = -1, rc, status = EXIT_OK;

  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
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
    status = rc == LOOM_EINVAL ? EXIT_USAGE : EXIT_INTERNAL;
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
      MPI_Abort(MPI_COMM_WORLD, EXIT_INTERNAL);
    }
  } else {
    loom_summary_get(l, &sum);
    if (fs.failed) {
      fprintf(stderr, "loom: %s\n", loom_taskfile_error(fs.tf));
      status = EXIT_USAGE;
    } else if (rc != 0) {
      fprintf(stderr, "loom: run failed: %s\n",
              *loom_error_text(l) ? loom_error_text(l) : loom_strerror(rc));
      status = EXIT_INTERNAL;
    } else if (sum.halted || sum.stopped || sum.not_started > 0) {
      status = EXIT_INCOMPLETE;
    } else if (sum.tasks == 0 && sum.skipped == 0) {
      fprintf(stderr, "loom: %s: no tasks\n", c->opt.source_name);
      status = EXIT_USAGE;
    } else if (sum.failed > 0) {
      status = EXIT_TASKS_FAILED;
    }
    if (rc == 0 && c->kind && ks.k->finish && sum.skipped > 0)
      fprintf(stderr,
              "loom: %s: %" PRIu64 " tasks were done in the earlier run, so "
              "this run has no full answer to check\n",
              c->kind, sum.skipped);
    else if (rc == 0 && c->kind && ks.k->finish && sum.tasks > 0 &&
             !sum.halted && !sum.stopped && sum.not_started == 0) {
      FILE *f;
      char p[PATH_MAX + 32];
      if (ks.k->finish(ks.state, stdout) != 0 && status == EXIT_OK)
        status = EXIT_TASKS_FAILED;
      snprintf(p, sizeof(p), "%s/result.txt", rundir);
      f = fopen(p, "w");
      if (f) {
        ks.k->finish(ks.state, f);
        fclose(f);
      }
    }
    /* Nothing ran and nothing was there before: leave nothing behind. */
    if (sum.attempts == 0 && rundir[0] && !c->resume)
      discard_empty_run(rundir);
  }

out:
  MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
  loom_free(l);
  if (ks.k && ks.k->free && ks.state)
    ks.k->free(ks.state);
  loom_taskfile_close(fs.tf);
  return status;
}

/* Before MPI starts, only the launcher's rank 0 reports a usage error; the
 * other ranks leave quietly with 0, so that the launcher does not tear the
 * job down (and rank 0's message with it) before rank 0 has spoken. The
 * job's status is still rank 0's. */
static int early_exit(int quiet_rank, int status) {
  return quiet_rank ? EXIT_OK : status;
}

int main(int argc, char **argv) {
  struct cli c;
  int quiet_rank = launcher_rank() != 0, status, provided;

  memset(&c, 0, sizeof(c));
  if (argc < 2) {
    if (!quiet_rank)
      usage_main(stderr);
    return early_exit(quiet_rank, EXIT_USAGE);
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    if (!quiet_rank)
      usage_main(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    if (!quiet_rank)
      printf("loom %s\n", LOOM_VERSION);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "sim") == 0)
    return early_exit(quiet_rank, loom_cli_sim(argc, argv));
  if (strcmp(argv[1], "topo") == 0)
    return loom_cli_topo(argc, argv, quiet_rank);
  if (strcmp(argv[1], "run") != 0) {
    if (!quiet_rank)
      fprintf(stderr, "loom: unknown command '%s' (see 'loom --help')\n",
              argv[1]);
    return early_exit(quiet_rank, EXIT_USAGE);
  }
  status = parse_run(&c, argc, argv, quiet_rank);
  if (status >= 0) {
    free(c.weights);
    return early_exit(quiet_rank, status);
  }

  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS) {
    fprintf(stderr, "loom: MPI_Init_thread failed\n");
    free(c.weights);
    return EXIT_INTERNAL;
  }
  status = cmd_run(&c);
  MPI_Finalize();
  free(c.weights);
  return status;
}
