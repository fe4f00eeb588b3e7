/* textbook.c - the textbook MPI master/worker, as a baseline for loom.
 *
 * Rank 0 is the master, every other rank a worker; one task per message,
 * blocking MPI_Send/MPI_Recv only. The master first sends one task to every
 * worker, then loops: receive a result from any source, send that worker the
 * next task (or a stop message when none is left). Prints one CSV row per
 * timed repeat (see benchutil.h). MPI errors abort the job: MPI_COMM_WORLD
 * keeps its default handler, MPI_ERRORS_ARE_FATAL.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "benchutil.h"

/* The wire records: sent as MPI_BYTE, all ranks run the same binary. */
struct task {
  uint64_t index;
  double duration; /* seconds of work */
};

struct result {
  uint64_t index;
  double elapsed; /* seconds the worker spent on the task */
};

enum { TAG_TASK = 1, TAG_RESULT = 2, TAG_STOP = 3 };

static void send_task(uint64_t index, double duration, int worker) {
  struct task t;

  t.index = index;
  t.duration = duration;
  MPI_Send(&t, (int)sizeof(t), MPI_BYTE, worker, TAG_TASK, MPI_COMM_WORLD);
}

static void send_stop(int worker) {
  MPI_Send(NULL, 0, MPI_BYTE, worker, TAG_STOP, MPI_COMM_WORLD);
}

/* One repeat on the master: ntasks tasks over size-1 workers. Returns the
 * seconds from after the barrier to after the last result, or a negative
 * value when the results do not add up. */
static double master_run(uint64_t ntasks, double duration, int size) {
  uint64_t next = 0, done = 0, index_sum = 0;
  double t0, t1;
  int w;

  MPI_Barrier(MPI_COMM_WORLD);
  t0 = MPI_Wtime();

  /* 1. Prime: one task per worker; workers beyond the task count stop. */
  for (w = 1; w < size; w++) {
    if (next < ntasks)
      send_task(next++, duration, w);
    else
      send_stop(w);
  }

  /* 2. Each result frees its worker: give it the next task or stop it.
   * Every worker gets exactly one stop, after its last result. */
  while (done < ntasks) {
    struct result r;
    MPI_Status st;

    MPI_Recv(&r, (int)sizeof(r), MPI_BYTE, MPI_ANY_SOURCE, TAG_RESULT,
             MPI_COMM_WORLD, &st);
    done++;
    index_sum += r.index;
    if (next < ntasks)
      send_task(next++, duration, st.MPI_SOURCE);
    else
      send_stop(st.MPI_SOURCE);
  }
  t1 = MPI_Wtime();

  /* Each index came back once: their sum is 0 + 1 + ... + (n - 1). */
  if (index_sum != ntasks * (ntasks - 1) / 2)
    return -1.0;
  return t1 - t0;
}

static void worker_run(int work, int time_empty) {
  MPI_Barrier(MPI_COMM_WORLD);
  for (;;) {
    struct task t;
    struct result r;
    MPI_Status st;
    MPI_Recv(&t, (int)sizeof(t), MPI_BYTE, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
    if (st.MPI_TAG == TAG_STOP)
      break;
    r.index = t.index;
    r.elapsed = bench_task_run(work, t.duration, time_empty);
    MPI_Send(&r, (int)sizeof(r), MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
  }
}

int main(int argc, char **argv) {
  struct bench_args a;
  int rank, size, rc, i, status = 0;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  rc = bench_args_parse(argc, argv, 0, rank == 0, &a);
  if (rc != 0) {
    MPI_Finalize();
    return rc > 0 ? 0 : 2;
  }
  if (size < 2) {
    if (rank == 0)
      fprintf(stderr, "bench-textbook: needs at least 2 ranks\n");
    MPI_Finalize();
    return 2;
  }
  if (rank == 0 && a.header)
    printf("%s\n", BENCH_CSV_HEADER);

  for (i = 0; i < a.warmup + a.repeat; i++) {
    int timed = i >= a.warmup;
    uint64_t n = timed ? a.tasks : bench_warmup_tasks(&a);

    if (rank == 0) {
      double s = master_run(n, bench_task_seconds(&a), size);

      if (s < 0) {
        fprintf(stderr, "bench-textbook: results do not match the tasks\n");
        status = 1;
      } else if (timed) {
        bench_csv_row(stdout, "textbook", size, size - 1, &a, s);
      }
    } else {
      worker_run(a.work, a.time_empty);
    }
  }

  MPI_Finalize();
  return status;
}
