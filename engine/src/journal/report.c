/* report.c - report.json and the closing summary (report.h).
 *
 * Load-balance figures, as documented in the README. They count cores,
 * not ranks: a worker counts as the cores it has (loom__report_units), and
 * an attempt as its time times the cores it asked for (core-seconds):
 *   imbalance   = max core-seconds per core / mean per core - 1
 *   efficiency  = sum core-seconds / (cores * makespan)
 *   lower bound = max(sum core-seconds / cores, longest task)
 *   ratio       = makespan / lower bound
 */
#define _GNU_SOURCE /* qsort_r */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hwloc.h>

#include "common/common.h"
#include "common/json.h"
#include "journal/report.h"

/* Worker i's slots: tasks it ran at once (1 for a profile without). */
static double slots_of(const struct loom__report *r, int i) {
  return r->w[i].hw.slots > 0 ? (double)r->w[i].hw.slots : 1.0;
}

/* Worker i's cores, as the balance figures count them. */
static double units_of(const struct loom__report *r, int i) {
  return r->w[i].units > 0 ? r->w[i].units : slots_of(r, i);
}

static int by_host(const void *a, const void *b, void *arg) {
  const struct loom__report *r = arg;
  const struct loom_profile *x = &r->w[*(const int *)a].hw;
  const struct loom_profile *y = &r->w[*(const int *)b].hw;
  int c = strncmp(x->host, y->host, sizeof(x->host));
  return c ? c : (x->rank > y->rank) - (x->rank < y->rank);
}

/* The workers idx[0..n) of one host: each gets its binding's cores, times
 * the share of the host's PUs it has when bindings overlap (P distinct
 * PUs among S bound ones: P / S), and at least its slots. A binding hwloc
 * could not name counts whole. */
static void host_units(struct loom__report *r, const int *idx, int n,
                       hwloc_bitmap_t all, hwloc_bitmap_t one) {
  double listed = 0, share = 1;

  hwloc_bitmap_zero(all);
  for (int k = 0; k < n; k++) {
    const struct loom_profile *hw = &r->w[idx[k]].hw;
    if (hw->cpuset[0] && hwloc_bitmap_list_sscanf(one, hw->cpuset) == 0 &&
        hwloc_bitmap_weight(one) > 0) {
      hwloc_bitmap_or(all, all, one);
      listed += hwloc_bitmap_weight(one);
    }
  }
  if (listed > hwloc_bitmap_weight(all))
    share = hwloc_bitmap_weight(all) / listed;
  for (int k = 0; k < n; k++) {
    struct loom__report_worker *w = &r->w[idx[k]];
    int listed_here = w->hw.cpuset[0] &&
                      hwloc_bitmap_list_sscanf(one, w->hw.cpuset) == 0 &&
                      hwloc_bitmap_weight(one) > 0;
    double cores = w->hw.cores * (listed_here ? share : 1);
    w->units = fmax(cores, slots_of(r, idx[k]));
  }
}

int loom__report_units(struct loom__report *r) {
  hwloc_bitmap_t all = hwloc_bitmap_alloc(), one = hwloc_bitmap_alloc();
  int *idx = malloc(sizeof(*idx) * (size_t)(r->nworkers > 0 ? r->nworkers : 1));
  int rc = all && one && idx ? 0 : LOOM_ENOMEM;

  for (int i = 0; rc == 0 && i < r->nworkers; i++)
    idx[i] = i;
  if (rc == 0)
    qsort_r(idx, (size_t)r->nworkers, sizeof(*idx), by_host, r);
  for (int a = 0, b; rc == 0 && a < r->nworkers; a = b) {
    for (b = a + 1;
         b < r->nworkers && strncmp(r->w[idx[a]].hw.host, r->w[idx[b]].hw.host,
                                    sizeof(r->w[0].hw.host)) == 0;)
      b++;
    host_units(r, idx + a, b - a, all, one);
  }
  free(idx);
  hwloc_bitmap_free(all);
  hwloc_bitmap_free(one);
  return rc;
}

void loom__report_metrics(const struct loom__report *r,
                          struct loom__metrics *m) {
  double sum = 0, max = 0, mean, units = 0;

  for (int i = 0; i < r->nworkers; i++) {
    double per = r->w[i].core_s / units_of(r, i);
    units += units_of(r, i);
    sum += r->w[i].core_s;
    max = fmax(max, per);
  }
  mean = units > 0 ? sum / units : 0;
  m->throughput = r->makespan > 0 ? (double)r->tasks / r->makespan : 0;
  m->imbalance = mean > 0 ? max / mean - 1 : 0;
  m->efficiency =
      r->makespan > 0 && units > 0 ? sum / (units * r->makespan) : 0;
  m->lower_bound = units > 0 ? fmax(sum / units, r->longest) : 0;
  m->ratio = m->lower_bound > 0 ? r->makespan / m->lower_bound : 0;
}

int64_t loom__report_left(const struct loom__report *r) {
  uint64_t done = r->succeeded + r->skipped;
  if (r->source_tasks == 0)
    return -1;
  return r->source_tasks > done ? (int64_t)(r->source_tasks - done) : 0;
}

static void iso_time(char *buf, size_t n, double t) {
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void env_copy(char *dst, size_t n, const char *name) {
  const char *v = getenv(name);
  snprintf(dst, n, "%s", v ? v : "");
}

void loom__report_slurm(struct loom__report *r) {
  env_copy(r->slurm.job_id, sizeof(r->slurm.job_id), "SLURM_JOB_ID");
  env_copy(r->slurm.step_id, sizeof(r->slurm.step_id), "SLURM_STEP_ID");
  env_copy(r->slurm.nodes, sizeof(r->slurm.nodes), "SLURM_JOB_NUM_NODES");
  env_copy(r->slurm.tasks_per_node, sizeof(r->slurm.tasks_per_node),
           "SLURM_TASKS_PER_NODE");
  env_copy(r->slurm.nodelist, sizeof(r->slurm.nodelist), "SLURM_JOB_NODELIST");
}

/* The Slurm section: the job, its step (null under mpirun), its nodes. */
static void write_slurm(FILE *f, const struct loom__report *r) {
  fputs(",\n  \"slurm\": ", f);
  if (!r->slurm.job_id[0]) {
    fputs("null", f);
    return;
  }
  fputs("{\"job_id\": ", f);
  loom__json_string(f, r->slurm.job_id);
  fputs(", \"step_id\": ", f);
  if (r->slurm.step_id[0])
    loom__json_string(f, r->slurm.step_id);
  else
    fputs("null", f);
  fputs(", \"nodes\": ", f);
  loom__json_string(f, r->slurm.nodes);
  fputs(", \"tasks_per_node\": ", f);
  loom__json_string(f, r->slurm.tasks_per_node);
  fputs(", \"nodelist\": ", f);
  loom__json_string(f, r->slurm.nodelist);
  fputs("}", f);
}

/* The state table's section. */
static void write_state(FILE *f, const struct loom__state_stats *st) {
  uint64_t total = 0;

  fprintf(f, ",\n  \"state\": {\"mode\": \"%s\", \"operations\": {",
          loom_state_mode_name(st->mode));
  for (int i = 0; i < LOOM__SOP_N; i++) {
    fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", loom__state_op_name(i),
            st->ops[i]);
    total += st->ops[i];
  }
  fprintf(f,
          ", \"total\": %" PRIu64 "}, \"messages\": %" PRIu64
          ", \"bytes\": %" PRIu64 ", \"keys\": %" PRIu64
          ", \"journaled\": %" PRIu64 ", \"converged\": %s"
          ", \"repair_rounds\": %d, \"digest\": \"%016" PRIx64
          "\", \"error\": ",
          total, st->messages, st->bytes, st->keys, st->journaled,
          st->converged ? "true" : "false", st->repairs, st->digest);
  if (st->error[0])
    loom__json_string(f, st->error);
  else
    fputs("null", f);
  fputs("}", f);
}

int loom__report_write(const struct loom__report *r, const char *path) {
  char tmp[PATH_MAX], when[32];
  struct loom__metrics m;
  FILE *f;
  int bad;

  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
    return LOOM_EIO;
  f = fopen(tmp, "w");
  if (!f)
    return LOOM_EIO;
  loom__report_metrics(r, &m);
  iso_time(when, sizeof(when), r->started);
  fprintf(f, "{\n  \"loom_version\": ");
  loom__json_string(f, r->version);
  fprintf(f, ",\n  \"command\": ");
  loom__json_string(f, r->command_line);
  fprintf(f, ",\n  \"source\": ");
  loom__json_string(f, r->source);
  fprintf(f, ",\n  \"policy\": ");
  loom__json_string(f, r->policy);
  fprintf(f, ",\n  \"lookahead\": %" PRIu64, r->lookahead);
  fprintf(f, ",\n  \"started\": \"%s\",\n", when);
  fprintf(f, "  \"complete\": %s,\n", r->error ? "false" : "true");
  fprintf(f, "  \"error\": ");
  if (r->error)
    loom__json_string(f, r->error);
  else
    fputs("null", f);
  fprintf(f,
          ",\n  \"workers\": %d,\n  \"master_runs_tasks\": %s,\n"
          "  \"tasks\": {\"total\": %" PRIu64 ", \"succeeded\": %" PRIu64
          ", \"failed\": %" PRIu64 ", \"cancelled\": %" PRIu64
          ", \"attempts\": %" PRIu64 "},\n",
          r->nworkers, r->master_runs_tasks ? "true" : "false", r->tasks,
          r->succeeded, r->failed, r->cancelled, r->attempts);
  if (loom__report_left(r) >= 0)
    fprintf(f, "  \"source_tasks\": %" PRIu64 ",\n  \"left\": %" PRId64 ",\n",
            r->source_tasks, loom__report_left(r));
  else
    fprintf(f, "  \"source_tasks\": null,\n  \"left\": null,\n");
  fprintf(f,
          "  \"messages\": {\"batches\": %" PRIu64 ", \"done\": %" PRIu64
          ", \"returned\": %" PRIu64 ", \"per_task\": %.6f},\n",
          r->batches, r->done_msgs, r->returned,
          loom__json_num(r->attempts ? (double)(r->batches + r->done_msgs) /
                                           (double)r->attempts
                                     : 0));
  fprintf(f,
          "  \"resumed\": %s,\n  \"skipped\": %" PRIu64
          ",\n  \"lost_in_earlier_run\": %" PRIu64
          ",\n  \"not_started\": %" PRIu64 ",\n",
          r->resumed ? "true" : "false", r->skipped, r->lost, r->not_started);
  fprintf(f, "  \"quarantined\": [");
  for (int i = 0, n = 0; i < r->nworkers; i++)
    if (r->w[i].quarantined)
      fprintf(f, "%s%d", n++ ? ", " : "", r->w[i].hw.rank);
  fprintf(f, "],\n");
  fprintf(f,
          "  \"makespan_s\": %.6f,\n  \"throughput_tasks_per_s\": %.3f,\n"
          "  \"task_seconds\": {\"sum\": %.6f, \"longest\": %.6f},\n",
          loom__json_num(r->makespan), loom__json_num(m.throughput),
          loom__json_num(r->sum_task), loom__json_num(r->longest));
  fprintf(f,
          "  \"balance\": {\"imbalance\": %.6f, \"efficiency\": %.6f, "
          "\"lower_bound_s\": %.6f, \"makespan_over_lower_bound\": %.6f},\n",
          loom__json_num(m.imbalance), loom__json_num(m.efficiency),
          loom__json_num(m.lower_bound), loom__json_num(m.ratio));
  fprintf(f, "  \"per_worker\": [\n");
  for (int i = 0; i < r->nworkers; i++) {
    const struct loom__report_worker *w = &r->w[i];
    fprintf(f, "    {\"rank\": %d, \"host\": ", w->hw.rank);
    loom__json_string_n(f, w->hw.host, sizeof(w->hw.host));
    fprintf(f, ", \"cpuset\": ");
    loom__json_string_n(f, w->hw.cpuset, sizeof(w->hw.cpuset));
    fprintf(f,
            ", \"numa_nodes\": %d, \"l3_bytes\": %" PRIu64
            ", \"cpukind\": %d, \"weight\": %.6g, \"weight_from\": \"%s\""
            ", \"topology_notes\": ",
            w->hw.numa_nodes, w->hw.l3, w->hw.cpukind,
            loom__json_num(w->weight), w->weight_given ? "user" : "topology");
    loom__json_string_n(f, w->hw.notes, sizeof(w->hw.notes));
    fprintf(f,
            ", \"cores\": %d, \"pus\": %d, \"slots\": %d, \"tasks\": %" PRIu64
            ", \"failed\": %" PRIu64
            ", \"cores_counted\": %.6g, \"core_seconds\": %.6f"
            ", \"busy_s\": %.6f, \"idle_s\": %.6f, \"slot_utilisation\": %.6f"
            ", \"quarantined\": %s}%s\n",
            w->hw.cores, w->hw.pus, (int)slots_of(r, i), w->attempts, w->failed,
            loom__json_num(units_of(r, i)), loom__json_num(w->core_s),
            loom__json_num(w->busy),
            loom__json_num(fmax(0, slots_of(r, i) * r->makespan - w->busy)),
            loom__json_num(
                r->makespan > 0 ? w->busy / (slots_of(r, i) * r->makespan) : 0),
            w->quarantined ? "true" : "false", i + 1 < r->nworkers ? "," : "");
  }
  fprintf(f, "  ]");
  write_slurm(f, r);
  if (r->state)
    write_state(f, r->state);
  fprintf(f, "\n}\n");
  bad = ferror(f);
  if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
    remove(tmp);
    return LOOM_EIO;
  }
  return 0;
}

void loom__report_totals(const struct loom__report *r, struct loom_summary *s) {
  memset(s, 0, sizeof(*s));
  s->tasks = r->tasks;
  s->succeeded = r->succeeded;
  s->failed = r->failed;
  s->cancelled = r->cancelled;
  s->left = loom__report_left(r);
  s->attempts = r->attempts;
  s->makespan = r->makespan;
  s->skipped = r->skipped;
  s->halted = r->halted;
  s->stopped = r->stopped;
  s->not_started = r->not_started;
  s->quarantined = r->quarantined;
}

void loom__report_summary(const struct loom__report *r, FILE *out) {
  struct loom__metrics m;

  loom__report_metrics(r, &m);
  char cancelled[48] = "";

  if (r->cancelled)
    snprintf(cancelled, sizeof(cancelled), ", %" PRIu64 " cancelled",
             r->cancelled);
  fprintf(out,
          "loom: %" PRIu64 " tasks, %" PRIu64 " succeeded, %" PRIu64
          " failed%s (%" PRIu64 " attempts) on %d worker%s in %.3f s "
          "(%.1f tasks/s)\n",
          r->tasks, r->succeeded, r->failed, cancelled, r->attempts,
          r->nworkers, r->nworkers == 1 ? "" : "s", r->makespan, m.throughput);
  fprintf(out,
          "loom: balance: efficiency %.3f, imbalance %.3f, makespan / lower "
          "bound %.3f\n",
          m.efficiency, m.imbalance, m.ratio);
  if (r->resumed)
    fprintf(out,
            "loom: resumed: %" PRIu64
            " tasks done earlier were skipped, %" PRIu64
            " lost in flight ran again\n",
            r->skipped, r->lost);
  for (int i = 0; i < r->nworkers; i++)
    if (r->w[i].quarantined)
      fprintf(out,
              "loom: rank %d on %s was quarantined: its failed tasks "
              "succeeded on other workers\n",
              r->w[i].hw.rank, r->w[i].hw.host);
  if (r->state) {
    uint64_t total = 0;
    for (int i = 0; i < LOOM__SOP_N; i++)
      total += r->state->ops[i];
    if (total > 0 || r->state->error[0])
      fprintf(out,
              "loom: state table (%s): %" PRIu64 " operations, %" PRIu64
              " keys, %s\n",
              loom_state_mode_name(r->state->mode), total, r->state->keys,
              r->state->converged ? "every replica the same" : "NOT converged");
  }
  if (r->error)
    fprintf(out, "loom: stopped early: %s\n", r->error);
  if (r->error && loom__report_left(r) > 0)
    fprintf(out,
            "loom: %" PRId64 " of the source's %" PRIu64
            " tasks are left: --resume %s runs them\n",
            loom__report_left(r), r->source_tasks,
            r->run_dir ? r->run_dir : "RUNDIR");
  if (r->run_dir)
    fprintf(out, "loom: run directory %s (joblog.tsv, report.json, out/)\n",
            r->run_dir);
}
