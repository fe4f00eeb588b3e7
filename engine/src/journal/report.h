/* report.h - the run's figures: report.json and the closing summary.
 *
 * The master accumulates per-worker and total figures as completions
 * arrive; at the end the same struct gives the JSON file and the human
 * summary, so the two can never disagree.
 */
#ifndef LOOM_REPORT_H
#define LOOM_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loom.h"
#include "state/stats.h"

struct loom__report_worker {
  struct loom_profile hw; /* the rank's hardware, as it probed it */
  double weight;          /* the capacity weight the run started from */
  int weight_given;       /* by the user (--weight), not the topology */
  int quarantined;
  uint64_t attempts;
  uint64_t failed; /* failed attempts */
  double busy;     /* seconds of task time (slot-seconds) */
  double core_s;   /* core-seconds: each attempt's time x the cores it
                      asked for (1 without a request) */
  double units;    /* the cores its capacity counts (loom__report_units);
                      0 = its slots */
};

struct loom__report {
  const struct loom__state_stats *state; /* NULL: the run never started */
  const char *version;
  const char *policy;
  uint64_t lookahead; /* tasks the master could read ahead; 0 = none */
  const char *command_line;
  const char *source;
  const char *run_dir;
  const char *error; /* why the run stopped early, or NULL */
  double started;    /* wall clock */
  double makespan;
  uint64_t tasks, succeeded, failed, attempts;
  uint64_t cancelled;    /* tasks whose last attempt was cancelled by a
                            stop: neither succeeded nor failed */
  uint64_t source_tasks; /* tasks in the source, 0 unknown */
  uint64_t batches;      /* TASKS messages the master sent (or handed to its
                            own executor) */
  uint64_t done_msgs;    /* DONE messages it received */
  uint64_t returned;     /* tasks a worker gave back unstarted, because
                            their batch ran far past its estimate */
  double sum_task;       /* seconds, all attempts */
  double longest;        /* seconds, one attempt */
  int nworkers;
  int master_runs_tasks;
  int resumed;          /* this run resumed an earlier one */
  uint64_t skipped;     /* tasks found done in the journal */
  uint64_t lost;        /* tasks the journal saw handed out but not finished */
  uint64_t not_started; /* left out: deadline, or no worker left */
  int halted;           /* stopped early: --halt, or no worker left */
  int stopped;          /* stopped early: loom_stop() */
  int quarantined;      /* workers quarantined */
  struct loom__report_worker *w;
  /* Under Slurm (rank 0's environment; job_id[0] == 0 otherwise): */
  struct {
    char job_id[32], step_id[32], nodes[16], tasks_per_node[64], nodelist[256];
  } slurm;
};

/* Fills r->slurm from this process's environment. */
void loom__report_slurm(struct loom__report *r);

struct loom__metrics {
  double throughput;  /* tasks per second of makespan */
  double imbalance;   /* max core-seconds per core / mean - 1 */
  double efficiency;  /* sum core-seconds / (cores * makespan) */
  double lower_bound; /* max(sum core-seconds / cores, longest) */
  double ratio;       /* makespan / lower bound */
};

/* Counts each worker's cores for the balance figures (README: load
 * balance): the cores of its binding, shared out among the workers of its
 * host whose bindings overlap (unbound ranks), and never fewer than its
 * slots. Call once the profiles are in. Returns 0 or LOOM_ENOMEM. */
int loom__report_units(struct loom__report *r);

void loom__report_metrics(const struct loom__report *r,
                          struct loom__metrics *m);

/* Writes the report as JSON to path (via a temporary file renamed into
 * place, so a reader never sees half a report). Returns 0 or LOOM_EIO. */
int loom__report_write(const struct loom__report *r, const char *path);

/* The totals loom_summary_get() returns: read off the report, so the two
 * can never disagree. */
void loom__report_totals(const struct loom__report *r, struct loom_summary *s);

/* Tasks of the source a --resume would still run (those not done, failed
 * ones included), or -1 when the source's size is unknown. */
int64_t loom__report_left(const struct loom__report *r);

/* Writes the few-line human summary. */
void loom__report_summary(const struct loom__report *r, FILE *out);

#endif /* LOOM_REPORT_H */
