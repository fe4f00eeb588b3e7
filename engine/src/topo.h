/* topo.h - what a rank knows of its own hardware.
 *
 * Two probes live in topo.c: loom__topo_probe(), the engine's old count of
 * the cores and hardware threads in the rank's binding, and the public
 * hardware profiles of loom.h (loom_profile_*), which read NUMA, caches and
 * CPU kinds too and accept a fake machine from the environment. The helpers
 * below are shared with the unit tests.
 */
#ifndef LOOM_TOPO_H
#define LOOM_TOPO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct loom__topo {
  int cores;
  int pus;
};

/* Fills t; on any hwloc failure reports 1 core, 1 PU and returns -1. */
int loom__topo_probe(struct loom__topo *t);

/* Writes a byte count the way the profile table shows it: "512B", "1MiB",
 * "1.25MiB", "64GiB"; "-" for 0 (unknown). Always NUL-terminates buf. */
void loom__topo_size(char *buf, size_t len, uint64_t bytes);

/* Writes the first max bytes of s (or up to its NUL) as a JSON string,
 * quotes included: '"', '\\' and control characters escaped, bytes that are
 * not valid UTF-8 written as U+FFFD. Reads no byte past s[max - 1]. */
void loom__topo_json_string(FILE *f, const char *s, size_t max);

#endif /* LOOM_TOPO_H */
