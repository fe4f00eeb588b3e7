/* topo.h - what a rank knows of its own hardware.
 *
 * topo.c implements the hardware profiles of loom.h (loom_profile_*):
 * cores, threads, NUMA, caches and CPU kinds of each rank's binding, from
 * the real machine or a fake one named in the environment. The helpers
 * below are shared with the unit tests.
 */
#ifndef LOOM_TOPO_H
#define LOOM_TOPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hwloc.h>

#include "loom.h"

/* Writes a byte count the way the profile table shows it: "512B", "1MiB",
 * "1.25MiB", "64GiB"; "-" for 0 (unknown). Always NUL-terminates buf. */
void loom__topo_size(char *buf, size_t len, uint64_t bytes);

/* Loads this rank's topology and binding the way a profile is probed:
 * LOOM_TOPOLOGY's fake machine or this one, LOOM_CPUSET's binding or the
 * process's. Notes go to p (a scratch profile will do). On success the
 * caller owns *topo and *set; *fake says the topology is not this machine
 * (nothing may be bound to it). Returns 0, LOOM_EINVAL (bad environment:
 * err says which), LOOM_ENOMEM or LOOM_ESYS. */
int loom__topo_open(hwloc_topology_t *topo, hwloc_bitmap_t *set, int *fake,
                    struct loom_profile *p, char *err, size_t errlen);

#endif /* LOOM_TOPO_H */
