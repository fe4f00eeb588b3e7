/* common.h - what every layer of the engine may use: error logging, the MPI
 * return-code check, clocks and hashing.
 *
 * common/ sits at the bottom of the engine: it calls nothing of the engine
 * above it (only libc, MPI for the error check, and loom.h for the error
 * codes). Internal names shared between files are loom__<noun>_<verb>.
 */
#ifndef LOOM_COMMON_H
#define LOOM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "loom.h"

/* error.c: converts an MPI return code, logging call, place and rank once
 * per process. Returns 0 or LOOM_EMPI. */
int loom__mpi_check(int rc, const char *call, const char *file, int line);
#define LOOM_MPI(call) loom__mpi_check((call), #call, __FILE__, __LINE__)

/* Prints "loom: " + message on stderr (one line). */
void loom__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hash.c: loom_task_id_derive() in two steps, so the master hashes each
 * kind name once. */
uint64_t loom__hash64(const void *data, size_t len, uint64_t seed);
uint64_t loom__kind_hash(const char *kind);
uint64_t loom__task_id(uint64_t kind_hash, const void *payload, size_t len,
                       uint64_t position);
/* A task's key: its kind and command text (or payload) without position,
 * what a resumed run matches on. Never 0. */
uint64_t loom__task_key(uint64_t kind_hash, const void *text, size_t len);

/* A macro's value as a string literal: LOOM__STR(LOOM_RETRIES_MAX). */
#define LOOM__STR_(x) #x
#define LOOM__STR(x) LOOM__STR_(x)

/* Monotonic and wall clocks, in seconds. */
double loom__now(void);
double loom__wall(void);

/* Writes all n bytes of p to fd (again after EINTR or a short write).
 * Returns 0, or -1 with errno set (ENOSPC when write() takes nothing). */
int loom__write_all(int fd, const void *p, size_t n);

#endif /* LOOM_COMMON_H */
