/* test_comm.c - the message layer and the worker's loop thread, white-box,
 * under mpiexec at 2 to 4 ranks.
 *
 * 1. Every rank pings every other rank through loom__comm: each PING is
 *    answered with PONG and the same bytes, and the counters add up.
 * 2. A message whose tag nobody handles is a protocol error that names the
 *    sender.
 * 3. A C task that blocks does not stop its rank's messages: rank 0, as a
 *    master by hand, sends rank 1 a batch of one task that blocks until
 *    released (a file rank 0 creates; at most 20 s), then pings rank 1.
 *    The PONG must come back while the task still runs (before the release
 *    and before the DONE). When tasks ran on the loop thread, no PONG came
 *    until the task gave up, and the task's exit code said so.
 * 4. A batch whose replies pass the part size comes back in several DONE
 *    messages, only the last one FINAL, every task answered once.
 * 5. DRAIN while a batch runs: the running task finishes, the queued ones
 *    are answered as cancelled without starting.
 * 6. CANCEL while a C task blocks: after LOOM__ABANDON_AFTER the worker
 *    answers for the batch itself (the stuck task cancelled, with the time
 *    it ran) and leaves when told, its task thread left behind.
 * 7. A rogue rank (3 ranks or more) sends the master a malformed DONE in the
 *    middle of a run: the run ends with LOOM_EPROTO and an error that names
 *    the sender; nothing reads past the message, and no rank hangs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "comm/comm.h"
#include "dispatch/engine.h"
#include "dispatch/executor.h"
#include "dispatch/wire.h"
#include "loom.h"
#include "mpicheck.h"

#define BLOCK_MAX 20.0 /* seconds the blocking task waits for its release */
#define PONG_WAIT 5.0  /* seconds rank 0 waits for a PONG */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- 1 and 2: pings and unknown tags -------------------------------- */

struct pongs {
  int n;
  int bad; /* a PONG whose bytes were not the PING's */
};

static int on_pong(void *arg, int src, struct loom__buf *msg) {
  struct pongs *p = arg;
  int v;
  if (msg->len != sizeof(v))
    return LOOM_EPROTO;
  memcpy(&v, msg->data, sizeof(v));
  p->bad += v != 1000 * src + world_rank;
  p->n++;
  return 0;
}

static void test_every_rank_pings_every_other(void) {
  struct loom__comm c;
  struct pongs p = {0, 0};
  uint64_t sent, received;
  double t0;

  CHECK_RC(loom__comm_init(&c, MPI_COMM_WORLD), 0);
  loom__comm_on(&c, LOOM__TAG_PONG, on_pong, &p);
  for (int r = 0; r < world_size; r++)
    if (r != world_rank) {
      int v = 1000 * r + world_rank; /* what the PONG must echo */
      CHECK_RC(loom__comm_send_bytes(&c, r, LOOM__TAG_PING, &v, sizeof(v)), 0);
    }
  /* Everyone answers everyone's pings while waiting for its own. */
  t0 = now();
  while (p.n < world_size - 1 && now() - t0 < PONG_WAIT)
    CHECK_RC(loom__comm_poll(&c, NULL), 0);
  CHECK(p.n == world_size - 1);
  CHECK(p.bad == 0);
  /* Others may still need this rank's answers: keep serving until all are
   * done. */
  {
    int mine = p.n == world_size - 1, all = 0;
    MPI_Request req;
    MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &req);
    for (int done = 0; !done;) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      loom__comm_poll(&c, NULL);
    }
  }
  loom__comm_totals(&c, &sent, &received);
  /* Our pings and our pongs out, their pongs and their pings in. */
  CHECK(sent == 2 * (uint64_t)(world_size - 1));
  CHECK(received == 2 * (uint64_t)(world_size - 1));
  CHECK_RC(loom__comm_fini(&c), 0);
  MPI_Barrier(MPI_COMM_WORLD);
}

static void test_unknown_tag_names_the_sender(void) {
  struct loom__comm c;

  CHECK_RC(loom__comm_init(&c, MPI_COMM_WORLD), 0);
  if (world_rank == 1)
    CHECK_RC(loom__comm_send_bytes(&c, 0, LOOM__TAG_MAX - 1, "x", 1), 0);
  if (world_rank == 0) {
    int rc = 0;
    double t0 = now();
    while (rc == 0 && now() - t0 < PONG_WAIT)
      rc = loom__comm_poll(&c, NULL);
    CHECK_RC(rc, LOOM_EPROTO);
    CHECK(strstr(c.err, "rank 1 sent a message with tag 31") != NULL);
  }
  CHECK_RC(loom__comm_fini(&c), 0);
  MPI_Barrier(MPI_COMM_WORLD);
}

/* ---- 3: a blocking C task does not block the loop ------------------- */

static char release_path[256]; /* rank 0 creates it to end the task */

static int block_fn(struct loom_task *task, const void *payload, size_t len,
                    void *arg) {
  double t0 = now();
  (void)task;
  (void)payload;
  (void)len;
  (void)arg;
  /* Released when rank 0 creates the file, which it does only after its
   * PING was answered; or it gives up after BLOCK_MAX seconds. */
  while (access(release_path, F_OK) != 0 && now() - t0 < BLOCK_MAX)
    usleep(1000);
  return access(release_path, F_OK) == 0 ? 0 : 7;
}

/* "late": element i of a run returns i % 3 at once, but element 6 blocks
 * as "block" does. */
static int late_fn(struct loom_task *task, const void *payload, size_t len,
                   void *arg) {
  uint64_t i = loom_task_index(task);
  if (i == 6)
    return block_fn(task, payload, len, arg);
  return (int)(i % 3);
}

/* Every rank: let a task thread left behind return and free what it holds. */
static void release_left_behind(void) {
  if (world_rank == 0)
    fclose(fopen(release_path, "w"));
  MPI_Barrier(MPI_COMM_WORLD);
  usleep(50000);
  if (world_rank == 0)
    unlink(release_path);
}

/* Rank 0's view of the exchange. */
struct master_view {
  int pongs;
  int dones;
  int done_exit; /* exit code in the DONE */
};

static int m_pong(void *arg, int src, struct loom__buf *msg) {
  struct master_view *v = arg;
  (void)msg;
  if (src == 1)
    v->pongs++;
  return 0;
}

static int m_done(void *arg, int src, struct loom__buf *msg) {
  struct master_view *v = arg;
  struct loom__reader r;
  struct loom__wire_done d;
  if (src != 1 || loom__wire_open(&r, msg->data, msg->len) != 0 ||
      loom__wire_get_done(&r, &d) != 1)
    return LOOM_EPROTO;
  v->done_exit = d.exit_code;
  v->dones++;
  return 0;
}

static void test_blocking_c_task_does_not_block_messages(struct loom *l) {
  if (world_rank == 0) {
    struct loom__comm c;
    struct loom__buf b = {0};
    struct master_view v = {0, 0, -1};
    struct loom_profile *all = NULL;
    struct loom__wire_task t = {
        .slot = 0, .kind = 1, .attempt = 1, .id = 42, .count = 1};
    double t0, rtt = -1;

    CHECK_RC(loom_profile_gather(l->comm, &l->profile, &all), 0);
    free(all);
    CHECK_RC(loom__comm_init(&c, l->comm), 0);
    loom__comm_on(&c, LOOM__TAG_PONG, m_pong, &v);
    loom__comm_on(&c, LOOM__TAG_DONE, m_done, &v);
    CHECK_RC(loom__wire_begin(&b, 0), 0);
    CHECK_RC(loom__wire_put_task(&b, &t), 0);
    CHECK_RC(loom__comm_send(&c, 1, LOOM__TAG_TASKS, &b), 0);
    usleep(200000); /* the task is running by now */
    t0 = now();
    CHECK_RC(loom__comm_send_bytes(&c, 1, LOOM__TAG_PING, "ping", 4), 0);
    while (v.pongs == 0 && now() - t0 < PONG_WAIT)
      CHECK_RC(loom__comm_poll(&c, NULL), 0);
    if (v.pongs > 0)
      rtt = now() - t0;
    CHECK(v.pongs == 1);
    CHECK(v.dones == 0); /* the task still runs */
    if (rtt >= 0)
      printf("test_comm: ping answered in %.3f ms while a C task ran\n",
             rtt * 1e3);
    /* Release the task, collect its DONE, stop the worker. */
    fclose(fopen(release_path, "w"));
    t0 = now();
    while (v.dones == 0 && now() - t0 < BLOCK_MAX + PONG_WAIT)
      CHECK_RC(loom__comm_poll(&c, NULL), 0);
    CHECK(v.dones == 1);
    CHECK(v.done_exit == 0); /* released, not timed out */
    for (int r = 1; r < world_size; r++)
      CHECK_RC(loom__comm_send_bytes(&c, r, LOOM__TAG_STOP, NULL, 0), 0);
    CHECK_RC(loom__comm_fini(&c), 0);
    loom__buf_fini(&b);
  } else {
    CHECK_RC(loom__worker_run(l), 0);
  }
}

/* ---- 4-6: a master by hand ---------------------------------------- */

/* Rank 0's side of a scenario: every DONE part from rank 1, kept. */
struct parts {
  int n;            /* parts received */
  int finals;       /* of them FINAL */
  int last_final;   /* the FINAL one came last */
  int answered[16]; /* per slot */
  int status[16];   /* 0 ok, 1 cancelled, 2 other */
  double elapsed[16];
  int bad_reply;
  size_t largest; /* bytes of the largest part */
  /* Every answer in order, a group's elements one by one: the exit code,
   * or -1 when cancelled. */
  int elems[32];
  int nelems;
  int groups;           /* group records */
  double first_elapsed; /* of the first record */
};

static int p_done(void *arg, int src, struct loom__buf *msg) {
  struct parts *p = arg;
  struct loom__reader r;
  struct loom__wire_done d;
  int got;

  if (src != 1 || loom__wire_open(&r, msg->data, msg->len) != 0)
    return LOOM_EPROTO;
  p->n++;
  p->largest = msg->len > p->largest ? msg->len : p->largest;
  if (r.flags & LOOM__WIRE_FINAL)
    p->finals++;
  p->last_final = (r.flags & LOOM__WIRE_FINAL) != 0;
  while ((got = loom__wire_get_done(&r, &d)) == 1) {
    if (d.slot >= 16)
      return LOOM_EPROTO;
    if (p->nelems == 0)
      p->first_elapsed = d.elapsed;
    if (d.flags & LOOM__DONE_GROUP) {
      const unsigned char *codes = d.data;
      p->groups++;
      p->answered[d.slot] += (int)d.len;
      for (uint32_t k = 0; k < d.len && p->nelems < 32; k++)
        p->elems[p->nelems++] = codes[k];
      continue;
    }
    if (p->nelems < 32)
      p->elems[p->nelems++] = d.flags & LOOM__DONE_CANCEL ? -1 : d.exit_code;
    p->answered[d.slot]++;
    p->status[d.slot] = d.flags & LOOM__DONE_CANCEL ? 1
                        : d.exit_code == 0          ? 0
                                                    : 2;
    p->elapsed[d.slot] = d.elapsed;
    if (d.len > 0) {
      const unsigned char *b = d.data;
      for (uint32_t k = 0; k < d.len; k++)
        p->bad_reply += b[k] != (unsigned char)(d.slot + k);
    }
  }
  return got < 0 ? got : 0;
}

/* Starts a hand-made master on rank 0: the worker's hello, the layer. */
static void hand_begin(struct loom *l, struct loom__comm *c, struct parts *p) {
  struct loom_profile *all = NULL;
  CHECK_RC(loom_profile_gather(l->comm, &l->profile, &all), 0);
  free(all);
  CHECK_RC(loom__comm_init(c, l->comm), 0);
  memset(p, 0, sizeof(*p));
  loom__comm_on(c, LOOM__TAG_DONE, p_done, p);
}

/* Sends rank 1 a batch of n tasks of kind `kind`. */
static void hand_batch(struct loom__comm *c, uint16_t kind, uint32_t n) {
  struct loom__buf b = {0};
  CHECK_RC(loom__wire_begin(&b, 0), 0);
  for (uint32_t i = 0; i < n; i++) {
    struct loom__wire_task t = {
        .slot = i, .kind = kind, .attempt = 1, .id = 100 + i, .count = 1};
    CHECK_RC(loom__wire_put_task(&b, &t), 0);
  }
  CHECK_RC(loom__comm_send(c, 1, LOOM__TAG_TASKS, &b), 0);
  loom__buf_fini(&b);
}

/* Polls until the FINAL part came or limit seconds passed. */
static void hand_wait(struct loom__comm *c, struct parts *p, double limit) {
  double t0 = now();
  while (p->finals == 0 && now() - t0 < limit)
    CHECK_RC(loom__comm_poll(c, NULL), 0);
}

static void hand_end(struct loom__comm *c) {
  for (int r = 1; r < world_size; r++)
    CHECK_RC(loom__comm_send_bytes(c, r, LOOM__TAG_STOP, NULL, 0), 0);
  CHECK_RC(loom__comm_fini(c), 0);
}

/* "big": replies 1000 bytes, byte k = slot + k (the slot is the id - 100). */
static int big_fn(struct loom_task *task, const void *payload, size_t len,
                  void *arg) {
  unsigned char b[1000];
  uint64_t slot = loom_task_id(task) - 100;
  (void)payload, (void)len, (void)arg;
  for (int k = 0; k < 1000; k++)
    b[k] = (unsigned char)(slot + (uint64_t)k);
  return loom_task_reply(task, b, sizeof(b)) == 0 ? 0 : 9;
}

static void test_big_replies_come_back_in_parts(struct loom *l, uint16_t big) {
  if (world_rank == 0) {
    struct loom__comm c;
    struct parts p;
    hand_begin(l, &c, &p);
    hand_batch(&c, big, 10);
    hand_wait(&c, &p, 20);
    CHECK(p.finals == 1);
    CHECK(p.last_final);
    CHECK(p.n >= 3); /* 10 x 1 KB against parts of 2.5 KB */
    CHECK(p.largest <= 2500 + 1100);
    for (int i = 0; i < 10; i++)
      CHECK(p.answered[i] == 1 && p.status[i] == 0);
    CHECK(p.bad_reply == 0);
    hand_end(&c);
  } else {
    l->part_max = 2500;
    CHECK_RC(loom__worker_run(l), 0);
    l->part_max = LOOM__WIRE_PART_MAX;
  }
}

static void test_drain_starts_no_queued_task(struct loom *l, uint16_t block) {
  if (world_rank == 0) {
    struct loom__comm c;
    struct parts p;
    hand_begin(l, &c, &p);
    hand_batch(&c, block, 3);
    usleep(300000); /* the first task blocks by now */
    CHECK_RC(loom__comm_send_bytes(&c, 1, LOOM__TAG_DRAIN, NULL, 0), 0);
    usleep(100000);
    fclose(fopen(release_path, "w")); /* the running one may end */
    hand_wait(&c, &p, BLOCK_MAX);
    CHECK(p.finals == 1);
    CHECK(p.answered[0] == 1 && p.status[0] == 0);
    CHECK(p.answered[1] == 1 && p.status[1] == 1 && p.elapsed[1] == 0);
    CHECK(p.answered[2] == 1 && p.status[2] == 1 && p.elapsed[2] == 0);
    hand_end(&c);
    unlink(release_path);
  } else {
    CHECK_RC(loom__worker_run(l), 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

static void test_cancel_abandons_a_stuck_c_task(struct loom *l,
                                                uint16_t block) {
  if (world_rank == 0) {
    struct loom__comm c;
    struct parts p;
    double t0;
    hand_begin(l, &c, &p);
    hand_batch(&c, block, 2);
    usleep(300000);
    t0 = now();
    CHECK_RC(loom__comm_send_bytes(&c, 1, LOOM__TAG_CANCEL, NULL, 0), 0);
    hand_wait(&c, &p, BLOCK_MAX - 5);
    /* Answered while the task still blocks (it is never released here
     * before the answer), after the abandon delay. */
    CHECK(p.finals == 1);
    CHECK(now() - t0 >= LOOM__ABANDON_AFTER - 0.5);
    CHECK(p.answered[0] == 1 && p.status[0] == 1 && p.elapsed[0] > 0.2);
    CHECK(p.answered[1] == 1 && p.status[1] == 1 && p.elapsed[1] == 0);
    hand_end(&c);
  } else {
    CHECK_RC(loom__worker_run(l), 0);
  }
  release_left_behind();
}

/* A run of 10 elements whose 7th blocks: the cancel's abandon answers for
 * the six that ended in the open group (their codes), then the rest as
 * cancelled, in order, all in one FINAL part. */
static void test_abandon_answers_for_a_runs_open_group(struct loom *l,
                                                       uint16_t late) {
  if (world_rank == 0) {
    struct loom__comm c;
    struct parts p;
    struct loom__buf b = {0};
    struct loom__wire_task t = {
        .slot = 3, .kind = late, .attempt = 1, .id = 500, .count = 10};
    static const int want[10] = {0, 1, 2, 0, 1, 2, -1, -1, -1, -1};

    hand_begin(l, &c, &p);
    CHECK_RC(loom__wire_begin(&b, LOOM__WIRE_RUNS), 0);
    CHECK_RC(loom__wire_put_task(&b, &t), 0);
    CHECK_RC(loom__comm_send(&c, 1, LOOM__TAG_TASKS, &b), 0);
    loom__buf_fini(&b);
    usleep(300000);
    CHECK_RC(loom__comm_send_bytes(&c, 1, LOOM__TAG_CANCEL, NULL, 0), 0);
    hand_wait(&c, &p, BLOCK_MAX - 5);
    CHECK(p.finals == 1);
    CHECK(p.answered[3] == 10);
    CHECK(p.nelems == 10);
    for (int k = 0; k < 10 && k < p.nelems; k++)
      CHECK(p.elems[k] == want[k]);
    /* The first element was timed alone; under 2 us the rest ran as a
     * group, answered from the job when the task blocked. */
    if (p.first_elapsed < 2e-6)
      CHECK(p.groups == 1);
    hand_end(&c);
  } else {
    CHECK_RC(loom__worker_run(l), 0);
  }
  release_left_behind();
}

/* ---- 7: a rogue rank ------------------------------------------------ */

static int got_stop;

static int r_stop(void *arg, int src, struct loom__buf *msg) {
  (void)arg, (void)msg;
  got_stop += src == 0;
  return 0;
}

static int r_ignore(void *arg, int src, struct loom__buf *msg) {
  (void)arg, (void)src, (void)msg;
  return 0;
}

static int one_block_task(void *arg, struct loom_task_spec *spec) {
  int *left = arg;
  if (*left == 0)
    return 0;
  (*left)--;
  loom_task_spec_init(spec);
  spec->kind = "block";
  return 1;
}

static void test_a_rogue_rank_is_named_not_trusted(struct loom *l) {
  if (world_size < 3)
    return;
  if (world_rank == 0) {
    int left = 1;
    int rc = loom__master_run(l, one_block_task, &left, NULL, NULL);
    CHECK_RC(rc, LOOM_EPROTO);
    CHECK(strstr(loom_error_text(l), "from rank 2") != NULL);
  } else if (world_rank == 1) {
    CHECK_RC(loom__worker_run(l), 0);
  } else if (world_rank == 2) {
    /* Rogue: takes part in the hello, then lies. */
    struct loom_profile *all = NULL;
    struct loom__comm c;
    static const unsigned char junk[] = {0x02, 0x00, 0x4d, 0x4c, 0xff,
                                         0xff, 0xff, 0x7f, 0x01, 0x00,
                                         0x00, 0x00, 0x09};
    double t0;
    CHECK_RC(loom_profile_gather(l->comm, &l->profile, &all), 0);
    CHECK_RC(loom__comm_init(&c, l->comm), 0);
    loom__comm_on(&c, LOOM__TAG_STOP, r_stop, NULL);
    /* Whatever the master hands it (the policy picks rank 1 first). */
    loom__comm_on(&c, LOOM__TAG_TASKS, r_ignore, NULL);
    loom__comm_on(&c, LOOM__TAG_DRAIN, r_ignore, NULL);
    loom__comm_on(&c, LOOM__TAG_CANCEL, r_ignore, NULL);
    usleep(200000); /* the run is under way */
    CHECK_RC(loom__comm_send_bytes(&c, 0, LOOM__TAG_DONE, junk, sizeof(junk)),
             0);
    t0 = now();
    while (!got_stop && now() - t0 < 30)
      CHECK_RC(loom__comm_poll(&c, NULL), 0);
    CHECK(got_stop == 1);
    CHECK_RC(loom__comm_fini(&c), 0);
  } else {
    CHECK_RC(loom__worker_run(l), 0);
  }
  release_left_behind();
}

int main(int argc, char **argv) {
  struct loom *l = NULL;
  int provided;

  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (world_size < 2) {
    if (world_rank == 0)
      printf("test_comm: needs 2 ranks or more: skipped\n");
    MPI_Finalize();
    return 0;
  }
  test_every_rank_pings_every_other();
  test_unknown_tag_names_the_sender();
  if (world_rank == 0)
    snprintf(release_path, sizeof(release_path), "/tmp/loom-test-comm-%ld",
             (long)getpid());
  MPI_Bcast(release_path, sizeof(release_path), MPI_CHAR, 0, MPI_COMM_WORLD);
  unlink(release_path);
  CHECK_RC(loom_new(MPI_COMM_WORLD, NULL, &l), 0);
  CHECK_RC(loom_register(l, "block", block_fn, NULL), 0);
  CHECK_RC(loom_register(l, "big", big_fn, NULL), 0);
  CHECK_RC(loom_register(l, "late", late_fn, NULL), 0);
  if (l) {
    /* Kind indexes: 0 is "sh", then the order registered. */
    test_blocking_c_task_does_not_block_messages(l);
    if (world_rank == 0)
      unlink(release_path);
    MPI_Barrier(MPI_COMM_WORLD);
    test_big_replies_come_back_in_parts(l, 2);
    test_drain_starts_no_queued_task(l, 1);
    test_cancel_abandons_a_stuck_c_task(l, 1);
    test_abandon_answers_for_a_runs_open_group(l, 3);
    test_a_rogue_rank_is_named_not_trusted(l);
  }
  loom_free(l);
  if (world_rank == 0)
    unlink(release_path);
  return mpicheck_verdict("test_comm");
}
