/* state.c - the state table's speed, beside two plain-MPI baselines.
 *
 *   mpirun -np P bench-state --impl pingpong|owner|loom [--mode MODE]
 *       [--mix add|put|get|mixed] [--ops N] [--busy SEC]
 *
 * Every rank but 0 is a client that makes N calls and times each one
 * (CLOCK_MONOTONIC around the call). Prints one CSV row per client:
 *   impl,mode,mix,ranks,client,ops,seconds,ops_per_s,lat_median_us,
 *   lat_p99_us
 * pingpong: rank 1 sends 16 bytes to rank 0 and waits for them back (the
 *   MPI round trip; one client whatever P).
 * owner: the textbook key-value server: rank 0 owns the table and answers
 *   blocking requests (MPI_Send, MPI_Recv) from every client.
 * loom: one C task per worker rank (policy rr) makes the calls through
 *   loom_state_*: add (fetch-add on one counter), put (16-byte values on
 *   64 keys), get, or mixed (50% get, 30% put, 10% cas in strong mode and
 *   put otherwise, 10% add). --busy SEC: worker 1 runs a C task that spins
 *   SEC seconds instead (a long C task), and the others time their calls
 *   meanwhile.
 * MPI errors abort the job (MPI_ERRORS_ARE_FATAL). Not a test: nothing is
 * asserted; bench/loombench.py state runs it and sums up.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "loom.h"

struct cfg {
  const char *impl, *mode, *mix;
  uint64_t ops;
  double busy;
};

struct summary {
  uint64_t ops;
  double seconds, median_us, p99_us;
};

static struct cfg cfg = {"loom", "strong", "add", 10000, 0};
static int rank, size;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median and 99th percentile of lat (seconds), sorted in place. */
static void summarize(double *lat, uint64_t n, double seconds,
                      struct summary *s) {
  qsort(lat, n, sizeof(*lat), by_value);
  s->ops = n;
  s->seconds = seconds;
  s->median_us = n ? 1e6 * lat[n / 2] : 0;
  s->p99_us = n ? 1e6 * lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0;
}

static void print_row(int client, const struct summary *s) {
  printf("%s,%s,%s,%d,%d,%" PRIu64 ",%.6f,%.1f,%.2f,%.2f\n", cfg.impl,
         strcmp(cfg.impl, "loom") ? "-" : cfg.mode,
         strcmp(cfg.impl, "pingpong") ? cfg.mix : "-", size, client, s->ops,
         s->seconds, s->seconds > 0 ? (double)s->ops / s->seconds : 0,
         s->median_us, s->p99_us);
}

/* Gathers every client's summary at rank 0 and prints them. */
static void report(const struct summary *mine) {
  struct summary *all = rank == 0 ? calloc((size_t)size, sizeof(*all)) : NULL;
  MPI_Gather(mine, (int)sizeof(*mine), MPI_BYTE, all, (int)sizeof(*mine),
             MPI_BYTE, 0, MPI_COMM_WORLD);
  for (int r = 1; rank == 0 && r < size; r++)
    if (all[r].ops > 0)
      print_row(r, &all[r]);
  free(all);
}

/* ---- plain MPI ---------------------------------------------------------- */

static void pingpong(void) {
  char msg[16] = {0};
  struct summary s = {0};
  double *lat = NULL, t0;

  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 1) {
    lat = malloc(cfg.ops * sizeof(*lat));
    t0 = now();
    for (uint64_t i = 0; i < cfg.ops; i++) {
      double a = now();
      MPI_Send(msg, sizeof(msg), MPI_BYTE, 0, 1, MPI_COMM_WORLD);
      MPI_Recv(msg, sizeof(msg), MPI_BYTE, 0, 1, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      lat[i] = now() - a;
    }
    summarize(lat, cfg.ops, now() - t0, &s);
  } else if (rank == 0) {
    for (uint64_t i = 0; i < cfg.ops; i++) {
      MPI_Recv(msg, sizeof(msg), MPI_BYTE, 1, 1, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      MPI_Send(msg, sizeof(msg), MPI_BYTE, 1, 1, MPI_COMM_WORLD);
    }
  }
  free(lat);
  report(&s);
}

/* The textbook owner: requests {op, key, value} answered one by one. */
struct req {
  int32_t op; /* 0 add, 1 put, 2 get, -1 done */
  int32_t key;
  int64_t value;
};

static void owner(void) {
  int64_t table[65] = {0};
  struct summary s = {0};
  double *lat = NULL, t0;
  uint64_t x = (uint64_t)rank * 0x9e3779b97f4a7c15ULL | 1;

  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    int left = size - 1;
    while (left > 0) {
      struct req q;
      MPI_Status st;
      int64_t v;
      MPI_Recv(&q, sizeof(q), MPI_BYTE, MPI_ANY_SOURCE, 1, MPI_COMM_WORLD, &st);
      if (q.op < 0) {
        left--;
        continue;
      }
      v = table[q.key];
      if (q.op == 0)
        table[q.key] += q.value;
      else if (q.op == 1)
        table[q.key] = q.value;
      MPI_Send(&v, sizeof(v), MPI_BYTE, st.MPI_SOURCE, 2, MPI_COMM_WORLD);
    }
  } else {
    struct req done = {-1, 0, 0};
    lat = malloc(cfg.ops * sizeof(*lat));
    t0 = now();
    for (uint64_t i = 0; i < cfg.ops; i++) {
      struct req q = {0, 64, 1};
      int64_t v;
      double a;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      if (!strcmp(cfg.mix, "put") || !strcmp(cfg.mix, "get") ||
          (!strcmp(cfg.mix, "mixed") && x % 10 < 9)) {
        q.op = !strcmp(cfg.mix, "put") || x % 10 < 3 ? 1 : 2;
        q.key = (int32_t)(x % 64);
      }
      a = now();
      MPI_Send(&q, sizeof(q), MPI_BYTE, 0, 1, MPI_COMM_WORLD);
      MPI_Recv(&v, sizeof(v), MPI_BYTE, 0, 2, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      lat[i] = now() - a;
    }
    summarize(lat, cfg.ops, now() - t0, &s);
    MPI_Send(&done, sizeof(done), MPI_BYTE, 0, 1, MPI_COMM_WORLD);
  }
  free(lat);
  report(&s);
}

/* ---- loom --------------------------------------------------------------- */

/* One call of the mix; returns its code (an error stops the task). */
static int one_call(struct loom *l, uint64_t *x, int strong) {
  char key[8], val[16] = "0123456789abcde";
  size_t len;
  unsigned pick;

  *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
  snprintf(key, sizeof(key), "k%d", (int)(*x % 64));
  pick = (unsigned)(*x >> 32) % 10;
  if (!strcmp(cfg.mix, "add") || (!strcmp(cfg.mix, "mixed") && pick == 9))
    return loom_state_add(l, "ctr", 1, NULL);
  if (!strcmp(cfg.mix, "put") || (!strcmp(cfg.mix, "mixed") && pick >= 5)) {
    if (strong && pick == 8) {
      int rc = loom_state_cas(l, key, NULL, 0, val, sizeof(val));
      return rc == LOOM_ECONFLICT ? 0 : rc;
    }
    return loom_state_put(l, key, val, sizeof(val));
  }
  {
    int rc = loom_state_get(l, key, val, sizeof(val), &len);
    return rc == LOOM_ENOENT ? 0 : rc;
  }
}

static int spin(double seconds) {
  double end = now() + seconds;
  volatile uint64_t n = 0;
  while (now() < end)
    n++;
  return 0;
}

static int client_task(struct loom_task *task, const void *payload, size_t len,
                       void *arg) {
  struct loom *l = loom_task_loom(task);
  int strong = strcmp(cfg.mode, "strong") == 0, rc = 0;
  uint64_t x = loom_task_id(task) | 1, n = 0;
  struct summary s = {0};
  double *lat, t0;

  (void)payload, (void)len, (void)arg;
  if (cfg.busy > 0 && loom_task_rank(task) == 1)
    return spin(cfg.busy);
  lat = malloc(cfg.ops * sizeof(*lat));
  if (!lat)
    return 1;
  t0 = now();
  for (; n < cfg.ops && rc == 0; n++) {
    double a = now();
    rc = one_call(l, &x, strong);
    lat[n] = now() - a;
  }
  summarize(lat, n, now() - t0, &s);
  free(lat);
  if (rc != 0)
    fprintf(stderr, "bench-state: rank %d: %s\n", loom_task_rank(task),
            loom_strerror(rc));
  return rc != 0 ? 1 : loom_task_reply(task, &s, sizeof(s));
}

static void on_result(void *arg, const struct loom_result *r) {
  struct summary s;
  (void)arg;
  if (r->len == sizeof(s)) {
    memcpy(&s, r->data, sizeof(s));
    print_row(r->worker, &s);
  }
}

static int with_loom(void) {
  struct loom_options opt;
  struct loom *l;
  int rc;

  loom_options_init(&opt);
  opt.quiet = 1;
  opt.policy = "rr";
  opt.window = 1;
  opt.state_mode = loom_state_mode_parse(cfg.mode);
  rc = loom_new(MPI_COMM_WORLD, &opt, &l);
  if (rc == 0)
    rc = loom_register(l, "client", client_task, NULL);
  for (int w = 1; rc == 0 && rank == 0 && w < size; w++) {
    struct loom_task_spec spec;
    loom_task_spec_init(&spec);
    spec.kind = "client";
    spec.payload = &w;
    spec.len = sizeof(w);
    rc = loom_submit(l, &spec);
  }
  if (rc == 0)
    rc = loom_run(l, NULL, NULL, on_result, NULL);
  if (rc != 0 && rank == 0)
    fprintf(stderr, "bench-state: %s: %s\n", loom_strerror(rc),
            loom_error_text(l));
  loom_free(l);
  return rc;
}

static int parse(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--impl"))
      cfg.impl = v;
    else if (!strcmp(a, "--mode"))
      cfg.mode = v;
    else if (!strcmp(a, "--mix"))
      cfg.mix = v;
    else if (!strcmp(a, "--ops"))
      cfg.ops = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--busy"))
      cfg.busy = strtod(v, NULL);
    else
      return -1;
  }
  return argc % 2 == 1 && cfg.ops > 0 && loom_state_mode_parse(cfg.mode) >= 0
             ? 0
             : -1;
}

int main(int argc, char **argv) {
  int provided, rc = 0;

  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (parse(argc, argv) != 0 || size < 2) {
    if (rank == 0)
      fprintf(stderr, "usage: mpirun -np P (>= 2) bench-state --impl "
                      "pingpong|owner|loom [--mode M] [--mix add|put|get|"
                      "mixed] [--ops N] [--busy SEC]\n");
    MPI_Finalize();
    return 2;
  }
  if (!strcmp(cfg.impl, "pingpong"))
    pingpong();
  else if (!strcmp(cfg.impl, "owner"))
    owner();
  else
    rc = with_loom();
  MPI_Finalize();
  return rc != 0;
}
