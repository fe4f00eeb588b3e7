/* engine.c - the engine's lifecycle, kind registry and submit queue.
 *
 * loom_new() and loom_run() are collective; both make every rank agree on
 * the outcome before returning, so no rank is left waiting in a collective
 * the others skipped. loom_run() checks that all ranks registered the same
 * kinds in the same order, takes the master's run directory and output mode,
 * then splits into the master loop (master.c) and the worker loop
 * (worker.c); a final broadcast gives every rank the master's result.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "dispatch/engine.h"
#include "dispatch/feed.h"
#include "dispatch/wire.h"
#include "hw/place.h"
#include "journal/rundir.h"
#include "sched/policy.h"
#include "sched/weights.h"
#include "state/state.h"

struct loom__subq {
  struct loom_task_spec *specs; /* payload and text owned */
  size_t n, cap, next;
};

void loom_options_init(struct loom_options *opt) {
  if (!opt)
    return;
  memset(opt, 0, sizeof(*opt));
  opt->grace = 30;
  opt->quarantine = 3;
  opt->lock_wait = LOOM__LOCK_WAIT;
  opt->lookahead = LOOM_LOOKAHEAD_DEFAULT;
}

void loom_stop(struct loom *l) {
  if (l && l->stop_requests < 1000)
    l->stop_requests++;
}

void loom_task_spec_init(struct loom_task_spec *spec) {
  if (!spec)
    return;
  spec->kind = NULL;
  spec->payload = NULL;
  spec->len = 0;
  spec->cost = -1;
  spec->timeout = 0;
  spec->retries = 0;
  spec->line = 0;
  spec->id = 0;
  spec->cores = 0;
  spec->mem = 0;
  spec->text = NULL;
  spec->text_len = 0;
  spec->count = 0;
}

static int invalid(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return LOOM_EINVAL;
}

int loom_options_check(const struct loom_options *opt, char *err,
                       size_t errlen) {
  struct loom__weights ws;
  int rc;

  if (!opt)
    return invalid(err, errlen, "no options given");
  if (opt->policy && !loom__policy_find(opt->policy))
    return invalid(err, errlen, "unknown policy '%.64s'", opt->policy);
  if (opt->window < 0 || opt->window > LOOM_WINDOW_MAX)
    return invalid(err, errlen,
                   "window %d: expected 1 to %d batches (0 = the default)",
                   opt->window, LOOM_WINDOW_MAX);
  if (opt->batch_max < 0 || opt->batch_max > LOOM_BATCH_MAX)
    return invalid(err, errlen,
                   "batch_max %d: expected 1 to %d tasks (0 = the default)",
                   opt->batch_max, LOOM_BATCH_MAX);
  if (!isfinite(opt->batch_target) || opt->batch_target < 0)
    return invalid(err, errlen,
                   "batch_target %g: expected seconds > 0 (0 = the default)",
                   opt->batch_target);
  if (opt->output_mode < LOOM_OUTPUT_FILES ||
      opt->output_mode > LOOM_OUTPUT_DISCARD)
    return invalid(err, errlen, "output_mode %d: not a loom_output_mode",
                   opt->output_mode);
  if (opt->progress < LOOM_PROGRESS_AUTO || opt->progress > LOOM_PROGRESS_LINES)
    return invalid(err, errlen, "progress %d: not a loom_progress_mode",
                   opt->progress);
  if (!isfinite(opt->progress_interval) || opt->progress_interval < 0)
    return invalid(err, errlen,
                   "progress_interval %g: expected seconds > 0 (0 = the "
                   "default)",
                   opt->progress_interval);
  if (!isfinite(opt->lock_wait) || opt->lock_wait < 0)
    return invalid(err, errlen, "lock_wait %g: expected seconds >= 0",
                   opt->lock_wait);
  if (!isfinite(opt->grace) || opt->grace < 0)
    return invalid(err, errlen, "grace %g: expected seconds >= 0", opt->grace);
  if (opt->quarantine < 0)
    return invalid(err, errlen, "quarantine %d: expected a count >= 0",
                   opt->quarantine);
  if (!isfinite(opt->deadline) || opt->deadline < 0)
    return invalid(err, errlen,
                   "deadline %g: expected seconds since the epoch (0 = none)",
                   opt->deadline);
  if (opt->state_mode < LOOM_STATE_STRONG ||
      opt->state_mode > LOOM_STATE_EVENTUAL)
    return invalid(err, errlen,
                   "state_mode %d: expected strong (0), causal (1) or "
                   "eventual (2)",
                   opt->state_mode);
  if (opt->slots < LOOM_SLOTS_AUTO_PU || opt->slots > LOOM_SLOTS_MAX)
    return invalid(err, errlen,
                   "slots %d: expected 1 to %d, LOOM_SLOTS_AUTO or "
                   "LOOM_SLOTS_AUTO_PU (0 = one, not pinned)",
                   opt->slots, LOOM_SLOTS_MAX);
  if (opt->membind != 0 && opt->membind != 1)
    return invalid(err, errlen, "membind %d: expected 0 or 1", opt->membind);
  if (opt->membind && opt->slots == 0)
    return invalid(err, errlen,
                   "membind needs pinned slots (slots N or auto): a task "
                   "that is not pinned has no NUMA node of its own");
  if (opt->lookahead > LOOM_LOOKAHEAD_MAX)
    return invalid(err, errlen, "lookahead %llu: expected at most %llu tasks",
                   (unsigned long long)opt->lookahead,
                   (unsigned long long)LOOM_LOOKAHEAD_MAX);
  rc = loom__weights_parse(opt->weights, &ws, err, errlen);
  loom__weights_fini(&ws);
  return rc;
}

static int copy_options(struct loom *l, const struct loom_options *opt) {
  struct loom_options def;
  int rc;

  if (!opt) {
    loom_options_init(&def);
    opt = &def;
  }
  rc = loom_options_check(opt, NULL, 0);
  if (rc != 0)
    return rc;
  l->opt = *opt;
  if ((opt->policy &&
       !(l->policy_name = loom__str_dup(opt->policy, strlen(opt->policy)))) ||
      (opt->run_dir &&
       !(l->run_dir = loom__str_dup(opt->run_dir, strlen(opt->run_dir)))) ||
      (opt->command_line &&
       !(l->command_line =
             loom__str_dup(opt->command_line, strlen(opt->command_line)))) ||
      (opt->source_name &&
       !(l->source_name =
             loom__str_dup(opt->source_name, strlen(opt->source_name)))) ||
      (opt->weights &&
       !(l->weights = loom__str_dup(opt->weights, strlen(opt->weights)))))
    return LOOM_ENOMEM;
  l->opt.weights = l->weights;
  l->opt.policy = l->policy_name;
  l->opt.run_dir = l->run_dir;
  l->opt.command_line = l->command_line;
  l->opt.source_name = l->source_name;
  /* The documented defaults for the fields left at 0. */
  if (l->opt.window == 0)
    l->opt.window = 2;
  if (l->opt.batch_max == 0)
    l->opt.batch_max = 4096;
  if (l->opt.batch_target == 0)
    l->opt.batch_target = LOOM__BATCH_TARGET;
  if (l->opt.progress_interval == 0)
    l->opt.progress_interval = 5.0;
  return 0;
}

static void free_fields(struct loom *l) {
  if (l->subq) {
    for (size_t i = 0; i < l->subq->n; i++) {
      free((void *)l->subq->specs[i].payload);
      free((void *)l->subq->specs[i].text);
      free((void *)l->subq->specs[i].kind);
    }
    free(l->subq->specs);
    free(l->subq);
  }
  free(l->kinds);
  loom__placer_free(l->placer);
  free(l->policy_name);
  free(l->run_dir);
  free(l->command_line);
  free(l->source_name);
  free(l->weights);
  loom__state_free(l->state);
}

int loom_new(MPI_Comm comm, const struct loom_options *opt, struct loom **out) {
  struct loom *l;
  int rc, worst, up = 0, down = 0;

  if (!out)
    return LOOM_EINVAL;
  *out = NULL;
  /* Checked before any MPI call on comm: a null communicator, or MPI not
   * running, would make MPI abort the process, and the library never
   * does. */
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (!up || down || comm == MPI_COMM_NULL)
    return LOOM_EINVAL;
  l = calloc(1, sizeof(*l));
  if (!l)
    return LOOM_ENOMEM;
  l->comm = MPI_COMM_NULL;
  rc = LOOM_MPI(MPI_Comm_dup(comm, &l->comm));
  if (rc != 0) {
    free(l);
    return rc;
  }
  MPI_Comm_set_errhandler(l->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(l->comm, &l->rank);
  MPI_Comm_size(l->comm, &l->size);
  l->nworkers = l->size > 1 ? l->size - 1 : 1;
  l->part_max = LOOM__WIRE_PART_MAX;
  rc = copy_options(l, opt);
  if (rc == 0) {
    l->kinds = loom__array_grow(NULL, &l->kinds_cap, 8, sizeof(*l->kinds));
    if (!l->kinds)
      rc = LOOM_ENOMEM;
  }
  if (rc == 0) {
    /* The built-in shell kind: no function, no argument. */
    memset(&l->kinds[0], 0, sizeof(l->kinds[0]));
    snprintf(l->kinds[0].name, sizeof(l->kinds[0].name), "sh");
    l->nkinds = 1;
    if (gethostname(l->host, sizeof(l->host)) != 0)
      snprintf(l->host, sizeof(l->host), "unknown");
    l->host[sizeof(l->host) - 1] = '\0';
    char err[512];
    /* A bad fake topology (LOOM_TOPOLOGY, LOOM_CPUSET) is this rank's
     * error; the agreement below makes it everyone's. */
    if (loom_profile_probe(&l->profile, err, sizeof(err)) != 0) {
      loom__log("rank %d: %s", l->rank, err);
      rc = LOOM_EINVAL;
    } else {
      rc = loom__slots_plan(l->opt.slots, &l->placer, &l->slots, err,
                            sizeof(err));
      if (rc != 0)
        loom__log("rank %d: slots: %s", l->rank, err);
      else if (l->opt.membind && !l->placer) {
        loom__log("rank %d: --membind needs pinned slots, but %d slots on "
                  "%d cores share them unpinned",
                  l->rank, l->slots, l->profile.cores);
        rc = LOOM_EINVAL;
      } else if (l->placer)
        l->placer->membind = l->opt.membind;
      /* 0: the default, one task at a time that may use the whole
       * binding. */
      l->profile.slots = l->opt.slots == 0 ? 0 : l->slots;
      l->profile.task_cores_max = l->placer ? l->placer->n : l->profile.cores;
      l->profile.task_mem_max =
          l->placer ? loom__placer_mem_max(l->placer) : l->profile.numa_mem;
    }
  }
  /* Agree: the most negative code wins everywhere. */
  if (LOOM_MPI(MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MIN, l->comm)) != 0)
    worst = LOOM_EMPI;
  if (worst != 0) {
    MPI_Comm_free(&l->comm);
    free_fields(l);
    free(l);
    return worst;
  }
  *out = l;
  return 0;
}

void loom_free(struct loom *l) {
  if (!l)
    return;
  if (l->comm != MPI_COMM_NULL)
    MPI_Comm_free(&l->comm);
  free_fields(l);
  free(l);
}

int loom_rank(const struct loom *l) { return l ? l->rank : LOOM_EINVAL; }

int loom_nworkers(const struct loom *l) { return l ? l->nworkers : 0; }

int loom_register(struct loom *l, const char *name, loom_task_fn fn,
                  void *arg) {
  return loom_register_flags(l, name, fn, arg, 0);
}

int loom_register_flags(struct loom *l, const char *name, loom_task_fn fn,
                        void *arg, unsigned flags) {
  size_t n;

  if (!l || !name || !fn || (flags & ~LOOM_KIND_THREAD_SAFE))
    return LOOM_EINVAL;
  if (l->running)
    return LOOM_ESTATE;
  n = strlen(name);
  if (n == 0 || n >= LOOM__KIND_NAME_MAX)
    return LOOM_EINVAL;
  for (size_t i = 0; i < l->nkinds; i++)
    if (strcmp(l->kinds[i].name, name) == 0)
      return LOOM_EEXIST;
  {
    struct loom__kind *k =
        loom__array_grow(l->kinds, &l->kinds_cap, l->nkinds + 1, sizeof(*k));
    if (!k)
      return LOOM_ENOMEM;
    l->kinds = k;
  }
  memcpy(l->kinds[l->nkinds].name, name, n + 1);
  l->kinds[l->nkinds].fn = fn;
  l->kinds[l->nkinds].arg = arg;
  l->kinds[l->nkinds].flags = flags;
  l->nkinds++;
  return 0;
}

int loom_submit(struct loom *l, const struct loom_task_spec *spec) {
  struct loom__subq *q;
  struct loom_task_spec *s;

  if (!l || !spec || loom__task_spec_check(spec, NULL, 0) != 0)
    return LOOM_EINVAL;
  if (l->rank != 0)
    return LOOM_ESTATE;
  if (!l->subq && !(l->subq = calloc(1, sizeof(*l->subq))))
    return LOOM_ENOMEM;
  q = l->subq;
  {
    struct loom_task_spec *p =
        loom__array_grow(q->specs, &q->cap, q->n + 1, sizeof(*p));
    if (!p)
      return LOOM_ENOMEM;
    q->specs = p;
  }
  s = &q->specs[q->n];
  *s = *spec;
  s->kind = spec->kind ? loom__str_dup(spec->kind, strlen(spec->kind))
                       : loom__str_dup("sh", 2);
  s->payload = loom__mem_dup(spec->payload, spec->len);
  s->text = spec->text ? loom__mem_dup(spec->text, spec->text_len) : NULL;
  if (!s->kind || !s->payload || (spec->text && !s->text)) {
    free((void *)s->kind);
    free((void *)s->payload);
    free((void *)s->text);
    return LOOM_ENOMEM;
  }
  if (s->id == 0)
    s->id = loom_task_id_derive(s->kind, s->payload, s->len, q->n + 1);
  q->n++;
  return 0;
}

int loom__subq_next(void *arg, struct loom_task_spec *spec) {
  struct loom__subq *q = arg;
  if (!q || q->next >= q->n)
    return 0;
  *spec = q->specs[q->next++];
  return 1;
}

const char *loom_error_text(const struct loom *l) {
  return l && l->rank == 0 ? l->error : "";
}

void loom_summary_get(const struct loom *l, struct loom_summary *out) {
  if (!out)
    return;
  if (l && l->rank == 0)
    *out = l->summary;
  else
    memset(out, 0, sizeof(*out));
}

/* Every rank: the same kind names in the same order? */
static int check_kinds(struct loom *l) {
  uint64_t h = 0, lo, hi;

  for (size_t i = 0; i < l->nkinds; i++)
    h = loom__hash64(l->kinds[i].name, strlen(l->kinds[i].name), h + i);
  if (LOOM_MPI(MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, l->comm)) ||
      LOOM_MPI(MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, l->comm)))
    return LOOM_EMPI;
  return lo == hi ? 0 : LOOM_EMISMATCH;
}

/* The master's run directory, output mode, window and batch target (a
 * worker gives back what a batch far past it has not started) become
 * everyone's. */
static int share_settings(struct loom *l) {
  int hdr[4] = {l->run_dir ? (int)strlen(l->run_dir) : -1, l->opt.output_mode,
                l->opt.window, l->opt.state_mode};
  int rc;

  rc = LOOM_MPI(MPI_Bcast(hdr, 4, MPI_INT, 0, l->comm));
  if (rc == 0)
    rc = LOOM_MPI(MPI_Bcast(&l->opt.state_budget, 1, MPI_UINT64_T, 0, l->comm));
  if (rc == 0)
    rc = LOOM_MPI(MPI_Bcast(&l->opt.batch_target, 1, MPI_DOUBLE, 0, l->comm));
  if (rc != 0)
    return rc;
  l->opt.state_mode = hdr[3];
  if (l->rank == 0)
    return hdr[0] < 0
               ? 0
               : LOOM_MPI(MPI_Bcast(l->run_dir, hdr[0], MPI_CHAR, 0, l->comm));
  l->opt.output_mode = hdr[1];
  l->opt.window = hdr[2];
  free(l->run_dir);
  l->run_dir = NULL;
  l->opt.run_dir = NULL;
  if (hdr[0] >= 0) {
    char dir[PATH_MAX] = "";
    if (hdr[0] >= PATH_MAX)
      return LOOM_EPROTO;
    rc = LOOM_MPI(MPI_Bcast(dir, hdr[0], MPI_CHAR, 0, l->comm));
    if (rc == 0 && !(l->run_dir = loom__str_dup(dir, strlen(dir))))
      rc = LOOM_ENOMEM;
  }
  l->opt.run_dir = l->run_dir;
  return rc;
}

int loom_run(struct loom *l, loom_source_fn src, void *src_arg,
             loom_result_fn on_result, void *res_arg) {
  int rc, final;

  if (!l)
    return LOOM_EINVAL;
  if (l->running)
    return LOOM_ESTATE;
  l->running = 1;
  l->stop_requests = 0;
  l->error[0] = '\0';
  memset(&l->summary, 0, sizeof(l->summary));
  rc = check_kinds(l);
  if (rc == 0)
    rc = share_settings(l);
  if (rc == 0 && !l->state)
    rc = loom__state_new(l, &l->state);
  if (rc != LOOM_EMPI) {
    int worst;
    if (LOOM_MPI(MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MIN, l->comm)))
      worst = LOOM_EMPI;
    rc = worst;
  }
  if (rc == 0) {
    if (l->rank == 0)
      rc = loom__master_run(l, src ? src : loom__subq_next,
                            src ? src_arg : l->subq, on_result, res_arg);
    else
      rc = loom__worker_run(l);
  }
  /* The master's outcome is everyone's (workers only add their own MPI
   * failures, which the broadcast would not survive anyway). */
  final = rc;
  if (rc != LOOM_EMPI &&
      LOOM_MPI(MPI_Bcast(&final, 1, MPI_INT, 0, l->comm)) != 0)
    final = LOOM_EMPI;
  if (l->rank != 0 && rc != 0 && final == 0)
    final = rc;
  l->running = 0;
  return final;
}
