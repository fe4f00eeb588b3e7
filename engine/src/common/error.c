/* error.c - error texts, the MPI return-code check and the log line (and
 * the clocks, and writing a whole buffer to a file descriptor).
 *
 * Every MPI call in the engine goes through loom__mpi_check() so a failure
 * is converted to LOOM_EMPI and described once, with the call, the place and
 * the rank. Open MPI aborts if MPI_Error_string runs outside Init..Finalize,
 * hence the guards.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"

const char *loom_strerror(int err) {
  switch (err) {
#define LOOM_ERROR_CASE(name, code, text)                                      \
  case code:                                                                   \
    return text;
    LOOM_ERROR_TABLE(LOOM_ERROR_CASE)
#undef LOOM_ERROR_CASE
  default:
    return "unknown error";
  }
}

void loom__log(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "loom: %s\n", line);
}

int loom__mpi_check(int rc, const char *call, const char *file, int line) {
  static int logged;
  char text[MPI_MAX_ERROR_STRING] = "unknown MPI error";
  int init = 0, fini = 0, len = 0, rank = -1;

  if (rc == MPI_SUCCESS)
    return 0;
  if (logged)
    return LOOM_EMPI;
  logged = 1;
  MPI_Initialized(&init);
  MPI_Finalized(&fini);
  if (init && !fini) {
    MPI_Error_string(rc, text, &len);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  loom__log("rank %d: %s failed at %s:%d: %s", rank, call, file, line, text);
  return LOOM_EMPI;
}

double loom__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double loom__wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int loom__write_all(int fd, const void *p, size_t n) {
  const char *c = p;

  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      if (w == 0)
        errno = ENOSPC;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}
