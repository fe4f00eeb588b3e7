/* slurm.c - what loom run asks of Slurm (cli.h): is the MPI world the job
 * step the user launched, and when does the job end.
 *
 * Slurm 22.05 puts no end time in the environment (SLURM_JOB_END_TIME is
 * newer), so the end time comes from Slurm itself: `squeue -h -j ID -o %e`,
 * else `scontrol show job ID`'s EndTime=. Both print the local time,
 * "2026-11-30T18:34:56".
 */
#define _GNU_SOURCE /* strptime, timegm-free mktime with tm_isdst = -1 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static long env_long(const char *name) {
  const char *v = getenv(name);
  char *end;
  long x;

  if (!v || !*v)
    return -1;
  x = strtol(v, &end, 10);
  return *end ? -1 : x;
}

int cli_slurm_launch_check(int world, char *err, size_t n) {
  long step = env_long("SLURM_STEP_NUM_TASKS");
  long job = env_long("SLURM_NTASKS");

  if (world != 1)
    return 0;
  if (step > 1) {
    snprintf(err, n,
             "Slurm started %ld tasks (SLURM_STEP_NUM_TASKS) but MPI sees "
             "one: each would run the whole task file alone. srun needs "
             "--mpi=pmix (or MpiDefault=pmix) with this MPI; or start loom "
             "with mpirun inside the job",
             step);
    return CLI_USAGE;
  }
  if (step < 0 && job > 1 && getenv("SLURM_JOB_ID")) {
    snprintf(err, n,
             "the job has %ld tasks (SLURM_NTASKS) but loom runs as one "
             "process: start it with mpirun or srun --mpi=pmix inside the "
             "job, or ask Slurm for one task (--ntasks=1)",
             job);
    return CLI_USAGE;
  }
  return 0;
}

/* "2026-11-30T18:34:56" (local time) -> seconds since the epoch. */
static int parse_time(const char *s, double *out) {
  struct tm tm;
  const char *end;
  time_t t;

  memset(&tm, 0, sizeof(tm));
  while (isspace((unsigned char)*s))
    s++;
  end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end)
    return -1;
  while (isspace((unsigned char)*end))
    end++;
  if (*end)
    return -1;
  tm.tm_isdst = -1;
  t = mktime(&tm);
  if (t == (time_t)-1)
    return -1;
  *out = (double)t;
  return 0;
}

/* Runs cmd and reads a time from its output: the word after key on the
 * first line where one parses (squeue's %e: key ""; scontrol's
 * "EndTime="). Returns 0 when cmd exited 0 and a time parsed. */
static int time_from(const char *cmd, const char *key, double *out) {
  FILE *p = popen(cmd, "r");
  char line[4096];
  int found = -1;

  if (!p)
    return -1;
  while (fgets(line, sizeof(line), p)) {
    char *at = strstr(line, key);
    if (at && found != 0) {
      at += strlen(key);
      at[strcspn(at, " \n")] = '\0';
      found = parse_time(at, out);
    }
  }
  return pclose(p) == 0 ? found : -1;
}

int cli_slurm_end_time(double *end, char *err, size_t n) {
  const char *v = getenv("SLURM_JOB_END_TIME");
  long id = env_long("SLURM_JOB_ID");
  char cmd[128];

  if (v && *v) {
    char *e;
    *end = strtod(v, &e);
    if (*e || !(*end > 0)) {
      snprintf(err, n,
               "--deadline slurm: SLURM_JOB_END_TIME='%s' is not "
               "seconds since the epoch",
               v);
      return CLI_USAGE;
    }
    return 0;
  }
  if (id < 0) {
    snprintf(err, n,
             "--deadline slurm: not inside a Slurm job (no "
             "SLURM_JOB_ID)");
    return CLI_USAGE;
  }
  snprintf(cmd, sizeof(cmd), "squeue -h -j %ld -o %%e 2>/dev/null", id);
  if (time_from(cmd, "", end) == 0)
    return 0;
  snprintf(cmd, sizeof(cmd), "scontrol show job %ld 2>/dev/null", id);
  if (time_from(cmd, "EndTime=", end) == 0)
    return 0;
  snprintf(err, n,
           "--deadline slurm: cannot read job %ld's end time (no "
           "SLURM_JOB_END_TIME, and neither squeue nor scontrol gave one: "
           "does the job have a time limit?)",
           id);
  return CLI_USAGE;
}
