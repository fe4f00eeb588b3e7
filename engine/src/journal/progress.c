/* progress.c - the progress line (progress.h). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/progress.h"

int loom__progress_tty(void) {
  char path[64], target[PATH_MAX];
  struct stat st;
  ssize_t n;

  if (isatty(fileno(stderr)))
    return 1;
  /* Only through a pipe: a file or socket means a batch log. */
  if (fstat(fileno(stderr), &st) != 0 || !S_ISFIFO(st.st_mode))
    return 0;
  snprintf(path, sizeof(path), "/proc/%d/fd/2", (int)getppid());
  n = readlink(path, target, sizeof(target) - 1);
  if (n <= 0)
    return 0;
  target[n] = '\0';
  return strncmp(target, "/dev/pts/", 9) == 0 ||
         strncmp(target, "/dev/tty", 8) == 0;
}

void loom__progress_init(struct loom__progress *p, int on, int live,
                         double interval, uint64_t total, double now) {
  p->out = stderr;
  p->on = on;
  p->tty = live >= 0 ? live : loom__progress_tty();
  p->interval = p->tty ? 0.25 : (interval > 0 ? interval : 5.0);
  p->t0 = p->last = now;
  p->total = total;
  p->live = 0;
}

/* H:MM:SS, with hours growing as needed; "?" for what cannot be a time. */
static void hms(char *buf, size_t n, double s) {
  uint64_t t;

  if (!(s >= 0) || s > 1e15) {
    snprintf(buf, n, "?");
    return;
  }
  t = (uint64_t)(s + 0.5);
  snprintf(buf, n, "%" PRIu64 ":%02u:%02u", t / 3600, (unsigned)(t / 60 % 60),
           (unsigned)(t % 60));
}

void loom__progress_format(char *buf, size_t n, double elapsed, uint64_t done,
                           uint64_t total, uint64_t failed) {
  double rate = elapsed > 0 ? (double)done / elapsed : 0;
  char eta[32] = "?", el[32];

  hms(el, sizeof(el), elapsed);
  if (total > 0 && rate > 0 && done <= total)
    hms(eta, sizeof(eta), (double)(total - done) / rate);
  if (total > 0)
    snprintf(buf, n,
             "%" PRIu64 "/%" PRIu64 " tasks (%.1f%%), %.1f/s, elapsed %s, "
             "ETA %s, %" PRIu64 " failed",
             done, total, 100.0 * (double)done / (double)total, rate, el, eta,
             failed);
  else
    snprintf(buf, n,
             "%" PRIu64 " tasks, %.1f/s, elapsed %s, %" PRIu64 " failed", done,
             rate, el, failed);
}

void loom__progress_tick(struct loom__progress *p, double now, uint64_t done,
                         uint64_t failed) {
  char line[256];

  if (!p->on || now - p->last < p->interval)
    return;
  p->last = now;
  loom__progress_format(line, sizeof(line), now - p->t0, done, p->total,
                        failed);
  if (p->tty) {
    fprintf(p->out, "\r\033[Kloom: %s", line);
    p->live = 1;
  } else {
    fprintf(p->out, "loom: progress: %s\n", line);
  }
  fflush(p->out);
}

void loom__progress_end(struct loom__progress *p) {
  if (p->live)
    fputc('\n', p->out);
  p->live = 0;
}
