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

/* Writes a byte count the way the profile table shows it: "512B", "1MiB",
 * "1.25MiB", "64GiB"; "-" for 0 (unknown). Always NUL-terminates buf. */
void loom__topo_size(char *buf, size_t len, uint64_t bytes);

#endif /* LOOM_TOPO_H */
