/* progress.h - the master's progress line.
 *
 * On a terminal: one live line rewritten a few times a second. In a batch
 * log: a plain line every interval seconds. Off: nothing.
 */
#ifndef LOOM_PROGRESS_H
#define LOOM_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

struct loom__progress {
  FILE *out;
  int on;
  int tty;
  double interval;
  double t0;
  double last;
  uint64_t total; /* 0 = unknown */
  int live;       /* a live line is on screen */
};

/* live: 1 a live line, 0 plain lines, -1 whichever suits stderr (a
 * terminal, or a pipe to a parent process whose stderr is one). */
void loom__progress_init(struct loom__progress *p, int on, int live,
                         double interval, uint64_t total, double now);

/* Is the stderr of this process, or else of its parent (the launcher that
 * reads our stderr through a pipe), a terminal? */
int loom__progress_tty(void);
void loom__progress_tick(struct loom__progress *p, double now, uint64_t done,
                         uint64_t failed);
/* Ends a live line so the summary starts on its own line. */
void loom__progress_end(struct loom__progress *p);

/* Formats the line into buf (exposed for the tests). */
void loom__progress_format(char *buf, size_t n, double elapsed, uint64_t done,
                           uint64_t total, uint64_t failed);

#endif /* LOOM_PROGRESS_H */
