/* state_run.c - a randomized workload on the state table that records
 * every operation's history, for the checkers (check_history.py).
 *
 *   mpiexec -n P state_run --mode strong|causal|eventual --dir DIR
 *       [--tasks N] [--ops K] [--keys Q] [--seed S] [--pause US] [--claims]
 *       [--witness] [--resume]
 *
 * N tasks (kind "mix") each run K operations drawn from a generator seeded
 * with S and the task's index, PAUSE microseconds apart (default 200:
 * replication then has time to interleave with the calls). On registers
 * k0..k{Q-1}: get then put (a write that depends on a read, so that the
 * causal order runs deep; every value written in a run is unique: rank <<
 * 40 | sequence, as decimal text), get, del and, in strong mode,
 * compare-and-swap; fetch-add on counters c0 and c1; fetch-max on hi and
 * fetch-min on lo. The master's result callback adds a read or a write
 * now and then (the loop thread's own calls). Each rank's first operation
 * writes the key "tie": the workers all do so before they have seen
 * another's write, so in the weak modes their writes carry equal clocks
 * and only the tie-break orders them.
 * Each rank writes DIR/history.RANK.jsonl: a header, an invoke record
 * before each call and a completion record after it (monotonic
 * nanoseconds; ok, fail for a lost CAS, info for an outcome not known),
 * and at the end a final record with its replica's table. The run
 * directory is DIR/run (its journal: DIR/run/state.log).
 * --claims: every operation is a fetch-add of 1 on the counter "claim"
 * (a ticket dispenser), for the exactly-once test across kill -9 and
 * --resume (which resumes DIR/run).
 * --witness: task i writes the key wI and nothing else; when its result
 * comes back, the master's callback reads wI on rank 0's replica and, if
 * it is there, appends i to DIR/witness.txt (flushed). Whatever a kill -9
 * does, every key in that file must be in the journal: what reached rank
 * 0 is not lost (the causal and eventual durability promise).
 * Exits 0 when every call returned what its mode allows (the checker
 * judges the values), 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mpi.h>

#include "loom.h"
#include "state/state.h"

struct cfg {
  int mode;
  const char *dir;
  uint64_t tasks;
  int ops, keys;
  uint64_t seed;
  long pause_us;
  int claims;
  int witness;
  int resume;
};

static struct cfg cfg = {
    .tasks = 40, .ops = 50, .keys = 4, .seed = 1, .pause_us = 200};
static struct loom *engine;
static int rank;
static FILE *hist;
static pthread_mutex_t hist_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t next_id, next_value;
static atomic_int bad;  /* a call returned something no mode allows */
static atomic_int tied; /* this rank wrote "tie" */
static FILE *witness;   /* rank 0, --witness */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&hist_mu);
  va_start(ap, fmt);
  vfprintf(hist, fmt, ap);
  va_end(ap);
  fflush(hist); /* a kill -9 loses no finished record */
  pthread_mutex_unlock(&hist_mu);
}

static uint64_t rnd(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void complain(const char *what, const char *key, int rc) {
  fprintf(stderr, "state_run: rank %d: %s %s: %s\n", rank, what, key,
          loom_strerror(rc));
  atomic_store(&bad, 1);
}

/* A value as the history writes it: the integer, or null. */
static void value_text(char *out, size_t n, const char *bytes, size_t len,
                       int found) {
  if (!found)
    snprintf(out, n, "null");
  else
    snprintf(out, n, "%.*s", (int)len, bytes);
}

static void op_get(const char *key) {
  uint64_t id = atomic_fetch_add(&next_id, 1);
  char buf[64], v[64];
  size_t len = 0;
  int rc;

  record("{\"type\":\"invoke\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"get\",\"key\":\"%s\",\"value\":null,\"t\":%" PRIu64 "}\n",
         rank, id, key, now_ns());
  rc = loom_state_get(engine, key, buf, sizeof(buf) - 1, &len);
  if (rc != 0 && rc != LOOM_ENOENT)
    complain("get", key, rc);
  value_text(v, sizeof(v), buf, len, rc == 0);
  record("{\"type\":\"%s\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"get\",\"key\":\"%s\",\"value\":%s,\"t\":%" PRIu64 "}\n",
         rc == 0 || rc == LOOM_ENOENT ? "ok" : "info", rank, id, key, v,
         now_ns());
}

/* put (value != 0) or del (value 0). */
static void op_write(const char *key, uint64_t value) {
  uint64_t id = atomic_fetch_add(&next_id, 1), ts;
  const char *f = value ? "put" : "del";
  char text[32] = "null";
  int rc, origin;

  if (value)
    snprintf(text, sizeof(text), "%" PRIu64, value);
  record("{\"type\":\"invoke\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"%s\",\"key\":\"%s\",\"value\":%s,\"t\":%" PRIu64 "}\n",
         rank, id, f, key, text, now_ns());
  rc = value ? loom_state_put(engine, key, text, strlen(text))
             : loom_state_del(engine, key);
  loom__state_last_stamp(&ts, &origin);
  if (rc != 0) {
    complain(f, key, rc);
    record("{\"type\":\"info\",\"rank\":%d,\"id\":%" PRIu64
           ",\"f\":\"%s\",\"key\":\"%s\",\"value\":%s,\"t\":%" PRIu64 "}\n",
           rank, id, f, key, text, now_ns());
    return;
  }
  record("{\"type\":\"ok\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"%s\",\"key\":\"%s\",\"value\":%s,\"ts\":[%" PRIu64
         ",%d],\"t\":%" PRIu64 "}\n",
         rank, id, f, key, text, ts, origin, now_ns());
}

static void op_cas(const char *key, const char *expect, uint64_t value) {
  uint64_t id = atomic_fetch_add(&next_id, 1);
  char text[32];
  int rc;

  snprintf(text, sizeof(text), "%" PRIu64, value);
  record("{\"type\":\"invoke\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"cas\",\"key\":\"%s\",\"value\":[%s,%s],\"t\":%" PRIu64 "}\n",
         rank, id, key, expect ? expect : "null", text, now_ns());
  rc = loom_state_cas(engine, key, expect, expect ? strlen(expect) : 0, text,
                      strlen(text));
  if (rc != 0 && rc != LOOM_ECONFLICT)
    complain("cas", key, rc);
  record("{\"type\":\"%s\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"cas\",\"key\":\"%s\",\"value\":[%s,%s],\"t\":%" PRIu64 "}\n",
         rc == 0                ? "ok"
         : rc == LOOM_ECONFLICT ? "fail"
                                : "info",
         rank, id, key, expect ? expect : "null", text, now_ns());
}

/* add, min or max: the value before is the completion's value. */
static void op_number(const char *f, const char *key, int64_t v) {
  uint64_t id = atomic_fetch_add(&next_id, 1);
  int64_t before = 0;
  char text[32];
  int rc;

  record("{\"type\":\"invoke\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"%s\",\"key\":\"%s\",\"value\":%" PRId64 ",\"t\":%" PRIu64
         "}\n",
         rank, id, f, key, v, now_ns());
  rc = f[1] == 'd'   ? loom_state_add(engine, key, v, &before)
       : f[1] == 'i' ? loom_state_min(engine, key, v, &before)
                     : loom_state_max(engine, key, v, &before);
  if (rc != 0)
    complain(f, key, rc);
  if (f[1] != 'd' && (before == INT64_MAX || before == INT64_MIN))
    snprintf(text, sizeof(text), "null");
  else
    snprintf(text, sizeof(text), "%" PRId64, before);
  record("{\"type\":\"%s\",\"rank\":%d,\"id\":%" PRIu64
         ",\"f\":\"%s\",\"key\":\"%s\",\"value\":%s,\"t\":%" PRIu64 "}\n",
         rc == 0 ? "ok" : "info", rank, id, f, key, text, now_ns());
}

static uint64_t unique_value(void) {
  return ((uint64_t)rank << 40) | (atomic_fetch_add(&next_value, 1) + 1);
}

/* One random operation, drawn with x. */
static void one_op(uint64_t *x) {
  char key[16];
  unsigned pick = (unsigned)(rnd(x) % 100);

  if (cfg.claims) {
    op_number("add", "claim", 1);
    return;
  }
  if (!atomic_exchange(&tied, 1)) {
    op_write("tie", unique_value());
    return;
  }
  snprintf(key, sizeof(key), "k%d", (int)(rnd(x) % (uint64_t)cfg.keys));
  if (pick < 30) {
    /* Read one key, write another: the write depends on what was read,
     * which makes the causal order deep enough to be tested. */
    char other[16];
    snprintf(other, sizeof(other), "k%d", (int)(rnd(x) % (uint64_t)cfg.keys));
    op_get(other);
    op_write(key, unique_value());
  } else if (pick < 60) {
    op_get(key);
  } else if (pick < 70 && cfg.mode == LOOM_STATE_STRONG) {
    char cur[64];
    size_t len = 0;
    int rc = loom_state_get(engine, key, cur, sizeof(cur) - 1, &len);
    cur[rc == 0 ? len : 0] = '\0';
    op_cas(key, rc == 0 ? cur : NULL, unique_value());
  } else if (pick < 75) {
    op_write(key, 0);
  } else if (pick < 88) {
    op_number("add", rnd(x) % 2 ? "c0" : "c1", (int64_t)(rnd(x) % 7) - 2);
  } else if (pick < 94) {
    op_number("max", "hi", (int64_t)(rnd(x) % 1000000));
  } else {
    op_number("min", "lo", (int64_t)(rnd(x) % 1000000));
  }
}

static int mix(struct loom_task *task, const void *payload, size_t len,
               void *arg) {
  uint64_t i = 0, x;
  (void)task;
  (void)arg;
  memcpy(&i, payload, len < 8 ? len : 8);
  if (cfg.witness) {
    char key[32];
    struct timespec pause = {cfg.pause_us / 1000000,
                             cfg.pause_us % 1000000 * 1000};
    snprintf(key, sizeof(key), "w%" PRIu64, i);
    op_write(key, unique_value());
    nanosleep(&pause, NULL);
    return atomic_load(&bad);
  }
  x = (cfg.seed * 0x9e3779b97f4a7c15ULL) ^ (i + 1) * 0xbf58476d1ce4e5b9ULL;
  x |= 1;
  for (int k = 0; k < cfg.ops; k++) {
    struct timespec pause = {cfg.pause_us / 1000000,
                             cfg.pause_us % 1000000 * 1000};
    one_op(&x);
    if (cfg.pause_us > 0)
      nanosleep(&pause, NULL);
  }
  return atomic_load(&bad);
}

static void on_result(void *arg, const struct loom_result *res) {
  uint64_t *x = arg;
  if (cfg.witness) {
    char key[32], buf[64];
    size_t n;
    uint64_t i = res->line ? res->line - 1 : 0;
    snprintf(key, sizeof(key), "w%" PRIu64, i);
    if (loom_state_get(engine, key, buf, sizeof(buf), &n) == 0) {
      fprintf(witness, "%s\n", key);
      fflush(witness);
    }
    return;
  }
  if (cfg.claims)
    return;
  /* The loop thread's own calls: a read or a write now and then. */
  if (rnd(x) % 4 == 0) {
    char key[16];
    snprintf(key, sizeof(key), "k%d", (int)(rnd(x) % (uint64_t)cfg.keys));
    if (rnd(x) % 2)
      op_get(key);
    else
      op_write(key, unique_value());
  }
}

/* The final record: this replica's table, read back key by key. */
static void final_record(void) {
  const char *fixed[] = {"c0", "c1", "hi", "lo", "claim", "tie"};
  int n = 0;

  pthread_mutex_lock(&hist_mu);
  fprintf(hist, "{\"type\":\"final\",\"rank\":%d,\"table\":{", rank);
  for (int k = 0; k < cfg.keys + 6; k++) {
    char key[16], buf[64];
    size_t len = 0;
    if (k < cfg.keys)
      snprintf(key, sizeof(key), "k%d", k);
    else
      snprintf(key, sizeof(key), "%s", fixed[k - cfg.keys]);
    if (loom_state_get(engine, key, buf, sizeof(buf), &len) == 0)
      fprintf(hist, "%s\"%s\":%.*s", n++ ? "," : "", key, (int)len, buf);
  }
  fprintf(hist, "}}\n");
  fflush(hist);
  pthread_mutex_unlock(&hist_mu);
}

static int parse(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--claims")) {
      cfg.claims = 1;
      continue;
    }
    if (!strcmp(a, "--resume")) {
      cfg.resume = 1;
      continue;
    }
    if (!strcmp(a, "--witness")) {
      cfg.witness = 1;
      continue;
    }
    if (!v)
      return -1;
    i++;
    if (!strcmp(a, "--mode"))
      cfg.mode = loom_state_mode_parse(v);
    else if (!strcmp(a, "--dir"))
      cfg.dir = v;
    else if (!strcmp(a, "--tasks"))
      cfg.tasks = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--ops"))
      cfg.ops = atoi(v);
    else if (!strcmp(a, "--keys"))
      cfg.keys = atoi(v);
    else if (!strcmp(a, "--seed"))
      cfg.seed = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--pause"))
      cfg.pause_us = atol(v);
    else
      return -1;
  }
  return cfg.mode < 0 || !cfg.dir || cfg.keys < 1 || cfg.ops < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  struct loom_options opt;
  char path[4096], run[4096];
  uint64_t x;
  int provided, rc, size;

  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (parse(argc, argv) != 0) {
    if (rank == 0)
      fprintf(stderr, "usage: state_run --mode M --dir DIR [--tasks N] "
                      "[--ops K] [--keys Q] [--seed S] [--pause US] "
                      "[--claims] [--witness] [--resume]\n");
    MPI_Finalize();
    return 2;
  }
  snprintf(run, sizeof(run), "%s/run", cfg.dir);
  if (rank == 0 && !cfg.resume && mkdir(run, 0755) != 0 && errno != EEXIST)
    perror(run);
  snprintf(path, sizeof(path), "%s/history.%d%s.jsonl", cfg.dir, rank,
           cfg.resume ? ".resumed" : "");
  hist = fopen(path, "w");
  if (!hist) {
    perror(path);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  fprintf(hist,
          "{\"type\":\"header\",\"rank\":%d,\"nranks\":%d,\"mode\":\"%s\","
          "\"seed\":%" PRIu64 "}\n",
          rank, size, loom_state_mode_name(cfg.mode), cfg.seed);
  loom_options_init(&opt);
  opt.state_mode = cfg.mode;
  opt.run_dir = run;
  opt.quiet = 1;
  opt.resume = cfg.resume;
  opt.progress = LOOM_PROGRESS_OFF;
  rc = loom_new(MPI_COMM_WORLD, &opt, &engine);
  if (rc == 0)
    rc = loom_register(engine, "mix", mix, NULL);
  if (rc == 0 && rank == 0)
    for (uint64_t i = 0; rc == 0 && i < cfg.tasks; i++) {
      struct loom_task_spec spec;
      loom_task_spec_init(&spec);
      spec.kind = "mix";
      spec.payload = &i;
      spec.len = sizeof(i);
      spec.line = i + 1; /* the callback's way back to i */
      rc = loom_submit(engine, &spec);
    }
  x = cfg.seed | 1;
  if (rank == 0 && cfg.witness) {
    snprintf(path, sizeof(path), "%s/witness.txt", cfg.dir);
    witness = fopen(path, "a");
    if (!witness)
      rc = LOOM_EIO;
  }
  if (rc == 0)
    rc = loom_run(engine, NULL, NULL, on_result, &x);
  if (rc != 0)
    fprintf(stderr, "state_run: rank %d: %s%s%s\n", rank, loom_strerror(rc),
            rank == 0 ? ": " : "", rank == 0 ? loom_error_text(engine) : "");
  final_record();
  fclose(hist);
  if (witness)
    fclose(witness);
  if (rank == 0 && rc == 0) {
    struct loom_summary sum;
    loom_summary_get(engine, &sum);
    if (sum.failed > 0) {
      fprintf(stderr, "state_run: %" PRIu64 " tasks failed\n", sum.failed);
      rc = 1;
    }
  }
  loom_free(engine);
  MPI_Finalize();
  return rc != 0 || atomic_load(&bad) ? 1 : 0;
}
