/* iheap.h - an indexed min-heap of workers 0..n-1 keyed by a double.
 *
 * at[] holds the workers in heap order of key[], pos[w] is where worker w
 * sits, and ties go to the lower worker, so every order is deterministic.
 * Re-keying a worker costs O(log n). The policies keep their workers in it
 * beyond 64 workers (policy.c), and the simulator's ideal greedy scheduler
 * keeps workers by the time they are free (sim.c).
 */
#ifndef LOOM_IHEAP_H
#define LOOM_IHEAP_H

struct loom__iheap {
  int n;
  int *at;
  int *pos;
  double *key;
};

/* Every key starts at 0, so the heap starts ordered by worker. Returns 0
 * or LOOM_ENOMEM (then loom__iheap_free() still applies). */
int loom__iheap_init(struct loom__iheap *h, int n);
void loom__iheap_free(struct loom__iheap *h);

/* Gives worker w a new key and restores the heap order. */
void loom__iheap_set(struct loom__iheap *h, int w, double key);

/* The worker with the smallest key. */
static inline int loom__iheap_top(const struct loom__iheap *h) {
  return h->at[0];
}

#endif /* LOOM_IHEAP_H */
