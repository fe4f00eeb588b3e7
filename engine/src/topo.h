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

/* Writes the first max bytes of s (or up to its NUL) as a JSON string,
 * quotes included: '"', '\\' and control characters escaped, bytes that are
 * not valid UTF-8 written as U+FFFD. Reads no byte past s[max - 1]. */
void loom__topo_json_string(FILE *f, const char *s, size_t max);

#endif /* LOOM_TOPO_H */
