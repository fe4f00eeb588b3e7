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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatch/engine.h"
#include "sched/policy.h"

struct loom__subq {
  struct loom_task_spec *specs; /* payload and text owned */
  size_t n, cap, next;
};

void loom_options_init(struct loom_options *opt) {
  memset(opt, 0, sizeof(*opt));
  opt->grace = 30;
  opt->quarantine = 3;
  opt->lookahead = LOOM_LOOKAHEAD_DEFAULT;
}

void loom_stop(struct loom *l) {
  if (l && l->stop_requests < 1000)
    l->stop_requests++;
}

void loom_task_spec_init(struct loom_task_spec *spec) {
  memset(spec, 0, sizeof(*spec));
  spec->cost = -1;
}

static char *copy_str(const char *s) {
  char *p;
  size_t n;
  if (!s)
    return NULL;
  n = strlen(s) + 1;
  p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

static int copy_options(struct loom *l, const struct loom_options *opt) {
  if (opt)
    l->opt = *opt;
  else
    loom_options_init(&l->opt);
  if ((opt && opt->policy && !(l->policy_name = copy_str(opt->policy))) ||
      (opt && opt->run_dir && !(l->run_dir = copy_str(opt->run_dir))) ||
      (opt && opt->command_line &&
       !(l->command_line = copy_str(opt->command_line))) ||
      (opt && opt->source_name &&
       !(l->source_name = copy_str(opt->source_name))) ||
      (opt && opt->weights && !(l->weights = copy_str(opt->weights))))
    return LOOM_ENOMEM;
  l->opt.weights = l->weights;
  l->opt.policy = l->policy_name;
  l->opt.run_dir = l->run_dir;
  l->opt.command_line = l->command_line;
  l->opt.source_name = l->source_name;
  if (l->opt.window <= 0)
    l->opt.window = 2;
  if (l->opt.batch_max <= 0)
    l->opt.batch_max = 4096;
  if (!(l->opt.batch_target > 0))
    l->opt.batch_target = 0.0005;
  if (!(l->opt.progress_interval > 0))
    l->opt.progress_interval = 5.0;
  if (!loom__policy_find(l->opt.policy) ||
      l->opt.output_mode < LOOM_OUTPUT_FILES ||
      l->opt.output_mode > LOOM_OUTPUT_DISCARD || l->opt.window > 1024 ||
      l->opt.lookahead > (UINT64_C(1) << 30))
    return LOOM_EINVAL;
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
  free(l->policy_name);
  free(l->run_dir);
  free(l->command_line);
  free(l->source_name);
  free(l->weights);
}

int loom_new(MPI_Comm comm, const struct loom_options *opt, struct loom **out) {
  struct loom *l;
  int rc, worst;

  *out = NULL;
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
  rc = copy_options(l, opt);
  if (rc == 0) {
    l->kinds_cap = 8;
    l->kinds = calloc(l->kinds_cap, sizeof(*l->kinds));
    if (!l->kinds)
      rc = LOOM_ENOMEM;
  }
  if (rc == 0) {
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

int loom_rank(const struct loom *l) { return l->rank; }

int loom_nworkers(const struct loom *l) { return l->nworkers; }

int loom_register(struct loom *l, const char *name, loom_task_fn fn,
                  void *arg) {
  size_t n;

  if (!l || !name || !fn)
    return LOOM_EINVAL;
  if (l->running)
    return LOOM_ESTATE;
  n = strlen(name);
  if (n == 0 || n >= LOOM__KIND_NAME_MAX)
    return LOOM_EINVAL;
  for (size_t i = 0; i < l->nkinds; i++)
    if (strcmp(l->kinds[i].name, name) == 0)
      return LOOM_EEXIST;
  if (l->nkinds == l->kinds_cap) {
    struct loom__kind *k =
        realloc(l->kinds, 2 * l->kinds_cap * sizeof(*l->kinds));
    if (!k)
      return LOOM_ENOMEM;
    l->kinds = k;
    l->kinds_cap *= 2;
  }
  memcpy(l->kinds[l->nkinds].name, name, n + 1);
  l->kinds[l->nkinds].fn = fn;
  l->kinds[l->nkinds].arg = arg;
  l->nkinds++;
  return 0;
}

static void *copy_bytes(const void *p, size_t n) {
  void *q = malloc(n ? n : 1);
  if (q && n)
    memcpy(q, p, n);
  return q;
}

int loom_submit(struct loom *l, const struct loom_task_spec *spec) {
  struct loom__subq *q;
  struct loom_task_spec *s;

  if (!l || !spec || (spec->len > 0 && !spec->payload))
    return LOOM_EINVAL;
  if (l->rank != 0)
    return LOOM_ESTATE;
  if (!l->subq && !(l->subq = calloc(1, sizeof(*l->subq))))
    return LOOM_ENOMEM;
  q = l->subq;
  if (q->n == q->cap) {
    size_t cap = q->cap ? 2 * q->cap : 64;
    struct loom_task_spec *p = realloc(q->specs, cap * sizeof(*p));
    if (!p)
      return LOOM_ENOMEM;
    q->specs = p;
    q->cap = cap;
  }
  s = &q->specs[q->n];
  *s = *spec;
  s->kind = copy_str(spec->kind ? spec->kind : "sh");
  s->payload = copy_bytes(spec->payload, spec->len);
  s->text = spec->text ? copy_bytes(spec->text, spec->text_len) : NULL;
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

/* The master's run directory, output mode and window become everyone's. */
static int share_settings(struct loom *l) {
  int hdr[3] = {l->run_dir ? (int)strlen(l->run_dir) : -1, l->opt.output_mode,
                l->opt.window};
  int rc;

  rc = LOOM_MPI(MPI_Bcast(hdr, 3, MPI_INT, 0, l->comm));
  if (rc != 0)
    return rc;
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
    if (rc == 0 && !(l->run_dir = copy_str(dir)))
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
