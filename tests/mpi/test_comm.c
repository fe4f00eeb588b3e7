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
    struct loom__wire_task t = {.slot = 0, .kind = 1, .attempt = 1, .id = 42};
    double t0, rtt = -1;

    CHECK_RC(loom_profile_gather(l->comm, &l->profile, &all), 0);
    free(all);
    CHECK_RC(loom__comm_init(&c, l->comm), 0);
    loom__comm_on(&c, LOOM__TAG_PONG, m_pong, &v);
    loom__comm_on(&c, LOOM__TAG_DONE, m_done, &v);
    CHECK_RC(loom__wire_begin(&b), 0);
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
  if (l)
    test_blocking_c_task_does_not_block_messages(l);
  loom_free(l);
  if (world_rank == 0)
    unlink(release_path);
  return mpicheck_verdict("test_comm");
}
