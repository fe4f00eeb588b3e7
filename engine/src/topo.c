/* topo.c - per-rank hardware probe with hwloc (topo.h).
 *
 * The binding cpuset is ANDed with the topology's cpuset before counting,
 * so an unbound rank counts the whole machine and a bound one its share.
 */
#include <hwloc.h>

#include "topo.h"

int loom__topo_probe(struct loom__topo *t) {
  hwloc_topology_t topo;
  hwloc_bitmap_t set = NULL;
  int rc = -1;

  t->cores = 1;
  t->pus = 1;
  if (hwloc_topology_init(&topo) != 0)
    return -1;
  if (hwloc_topology_load(topo) != 0)
    goto out;
  set = hwloc_bitmap_alloc();
  if (!set)
    goto out;
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0)
    hwloc_bitmap_copy(set, hwloc_topology_get_topology_cpuset(topo));
  hwloc_bitmap_and(set, set, hwloc_topology_get_topology_cpuset(topo));
  if (hwloc_bitmap_iszero(set))
    goto out;
  t->cores = hwloc_get_nbobjs_inside_cpuset_by_type(topo, set, HWLOC_OBJ_CORE);
  t->pus = hwloc_get_nbobjs_inside_cpuset_by_type(topo, set, HWLOC_OBJ_PU);
  if (t->cores < 1)
    t->cores = t->pus > 0 ? t->pus : 1;
  if (t->pus < 1)
    t->pus = t->cores;
  rc = 0;
out:
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
  return rc;
}
