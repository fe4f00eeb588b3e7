/* place.h - placing a worker's tasks on its cores.
 *
 * A worker's binding is cut into units: its cores (a task given a core gets
 * every hardware thread of it that is in the binding), or its hardware
 * threads (PUs) when the user asks for `auto:pu`. A task asks for n units
 * and, optionally, bytes of memory. loom__place() gives it n free units as
 * close together as the machine allows:
 *
 *   the units under one core (PU units only), else under one L2, else one
 *   L3, else one NUMA node, else one package, else anywhere;
 *
 * at each level the fullest group that still has room wins (best fit, ties
 * in topology order), so that small tasks fill partly used groups and leave
 * whole ones for wide tasks; inside the group the free units are taken in
 * topology order. A task waits rather than be split: it never goes above
 * the smallest level where a group is large enough for it (a task that fits
 * in a package waits for room in one, rather than take cores of two). Memory is
 * charged to the NUMA node of the task's first unit, and a placement never
 * takes a node past its budget (its local memory, when hwloc knows it). Nothing
 * here binds or calls MPI: the placer is plain bookkeeping, tested against the
 * fake machines of tests/data; the executor binds.
 */
#ifndef LOOM_PLACE_H
#define LOOM_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include <hwloc.h>

#define LOOM__PLACE_LEVELS 6 /* core, L2, L3, NUMA node, package, machine */

struct loom__unit {
  int group[LOOM__PLACE_LEVELS]; /* the enclosing group at each level */
  int numa;                      /* index into the placer's NUMA nodes */
  int pu0, npu;                  /* its PUs: pus[pu0 .. pu0 + npu) */
};

struct loom__placer {
  int n;                /* units */
  int pu_units;         /* a unit is a PU, not a core */
  int bind;             /* the units are this machine's: tasks may be bound */
  struct loom__unit *u; /* in topology order */
  int *pus;             /* PU os indexes of every unit, in unit order */
  unsigned char *busy;  /* per unit */
  int free;             /* units not busy */
  int widest[LOOM__PLACE_LEVELS]; /* units of the largest group per level */
  int nnuma;
  int *numa_os;     /* per NUMA node: its OS index (what the kernel calls
                       it), -1 unknown */
  int membind;      /* bind each task's memory to its NUMA node */
  uint64_t *budget; /* per NUMA node, bytes; 0 unknown (not accounted) */
  uint64_t *used;   /* per NUMA node: memory of the placed tasks */
};

/* A rank's slots: how many tasks it runs at once, from the slots option
 * of loom.h (0 one, unpinned; N; LOOM_SLOTS_AUTO one per core of the
 * binding; LOOM_SLOTS_AUTO_PU one per hardware thread). *n gets the count;
 * *out a placer when the slots are pinned (an explicit count no larger
 * than the binding's cores, or auto), else NULL. The topology and binding
 * are read as for the rank's profile (LOOM_TOPOLOGY, LOOM_CPUSET): tasks
 * are bound only on this machine. Returns 0, LOOM_EINVAL (err says why),
 * LOOM_ENOMEM or LOOM_ESYS. */
int loom__slots_plan(int slots, struct loom__placer **out, int *n, char *err,
                     size_t errlen);

/* Frees a placer made by loom__slots_plan(); NULL is fine. */
void loom__placer_free(struct loom__placer *p);

/* Binds the calling thread to the PUs of units[0..n). Returns 0 or
 * LOOM_ESYS. */
int loom__place_bind(const struct loom__placer *p, const int *units, int n);

/* Binds the memory the calling thread allocates from now on (and that of
 * the processes it starts) to the NUMA node of units[0], the node the
 * task's memory is charged to; with on = 0, undoes it. Returns 0 or
 * LOOM_ESYS (the kernel refused, or the node's OS index is unknown). */
int loom__place_membind(const struct loom__placer *p, const int *units, int on);

/* Builds the placer for the PUs of set in topo: one unit per core with a
 * PU in set, or one per PU when pu_units. Returns 0 or LOOM_ENOMEM. */
int loom__placer_build(struct loom__placer *p, hwloc_topology_t topo,
                       hwloc_const_bitmap_t set, int pu_units);
void loom__placer_fini(struct loom__placer *p);

/* The largest memory one task may ask for: the largest NUMA node's budget;
 * 0 when no budget is known (memory is then not accounted). */
uint64_t loom__placer_mem_max(const struct loom__placer *p);

/* Could a task of n units and mem bytes ever be placed here? */
int loom__placer_fits(const struct loom__placer *p, int n, uint64_t mem);

/* Places a task of n units (n >= 1) and mem bytes: fills out[0..n) with
 * unit indexes and marks them busy. Returns 0, 1 when it does not fit now
 * (try again after loom__unplace), or LOOM_EINVAL when it never can. */
int loom__place(struct loom__placer *p, int n, uint64_t mem, int *out);

/* Gives back what loom__place() gave. */
void loom__unplace(struct loom__placer *p, int n, uint64_t mem,
                   const int *units);

/* Writes the PUs of units[0..n) as a sorted list with ranges ("0-3,8").
 * Returns the length it needed (like snprintf). */
size_t loom__place_cpus(const struct loom__placer *p, const int *units, int n,
                        char *buf, size_t len);

/* Writes OMP_PLACES for units[0..n): one place per unit, "{0,1},{2,3}". */
size_t loom__place_omp(const struct loom__placer *p, const int *units, int n,
                       char *buf, size_t len);

#endif /* LOOM_PLACE_H */
