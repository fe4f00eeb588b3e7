/* topo.h - what a rank knows of its own hardware.
 *
 * Probed once per rank with hwloc: the cores and hardware threads inside
 * the rank's binding. The topology-driven policies will read more here.
 */
#ifndef LOOM_TOPO_H
#define LOOM_TOPO_H

struct loom__topo {
  int cores;
  int pus;
};

/* Fills t; on any hwloc failure reports 1 core, 1 PU and returns -1. */
int loom__topo_probe(struct loom__topo *t);

#endif /* LOOM_TOPO_H */
