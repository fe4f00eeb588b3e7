/* taskfile_scan.c - streams a task file through loom's reader and reports
 * how long it took and the most memory the process held.
 *
 * bench/loombench.py bigfile runs it on files of 10k to 10M lines: the reader
 * keeps one line at a time, so maxrss should stay flat as the file grows.
 * Prints one CSV row "tasks,seconds,maxrss_kib". No MPI: the reader needs
 * none.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loom.h"

static double now(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  struct rusage ru;
  char err[512];
  uint64_t ntasks = 0;
  uint64_t bytes = 0; /* command bytes seen, so the reads are not dead */
  double t0, t1;
  int rc, status = 0, header = 0;
  const char *path;

  if (argc == 3 && strcmp(argv[1], "--header") == 0)
    header = 1;
  if (argc != 2 + header) {
    fprintf(stderr, "usage: bench-taskfile-scan [--header] FILE\n");
    return 2;
  }
  path = argv[1 + header];

  t0 = now();
  rc = loom_taskfile_open(path, &tf, err, sizeof(err));
  if (rc != 0) {
    fprintf(stderr, "bench-taskfile-scan: %s\n", err);
    status = 1;
    goto out;
  }
  while ((rc = loom_taskfile_next(tf, &spec)) == 1) {
    ntasks++;
    bytes += spec.len;
  }
  if (rc < 0) {
    fprintf(stderr, "bench-taskfile-scan: %s (%s)\n", loom_taskfile_error(tf),
            loom_strerror(rc));
    status = 1;
    goto out;
  }
  t1 = now();

  if (getrusage(RUSAGE_SELF, &ru) != 0) {
    perror("bench-taskfile-scan: getrusage");
    status = 1;
    goto out;
  }
  if (header)
    printf("tasks,seconds,maxrss_kib\n");
  /* On Linux ru_maxrss is in KiB. */
  printf("%" PRIu64 ",%.6f,%ld\n", ntasks, t1 - t0, (long)ru.ru_maxrss);
  if (bytes == 0 && ntasks > 0)
    fprintf(stderr, "bench-taskfile-scan: warning: all commands empty\n");
out:
  loom_taskfile_close(tf);
  return status;
}
