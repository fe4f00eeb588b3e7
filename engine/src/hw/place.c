/* place.c - placing a worker's tasks on its cores (place.h).
 *
 * A group at a level is a run of consecutive units (in topology order)
 * under the same object; hwloc's tree makes every group one run. A unit
 * with no object at a level (no L2 in the topology, say) is grouped as at
 * the level below, so a missing cache level changes nothing.
 */
#define _GNU_SOURCE
#include <linux/mempolicy.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/common.h"
#include "hw/place.h"
#include "hw/topo.h"

enum { LV_CORE, LV_L2, LV_L3, LV_NUMA, LV_PACKAGE, LV_MACHINE };

/* The group id of obj's ancestor of the given type, or -1. */
static int ancestor(hwloc_topology_t topo, hwloc_obj_t obj,
                    hwloc_obj_type_t type) {
  hwloc_obj_t a =
      obj->type == type ? obj : hwloc_get_ancestor_obj_by_type(topo, type, obj);
  return a ? (int)a->logical_index : -1;
}

/* The NUMA node (logical index) whose cpuset holds obj's, or -1. */
static int numa_of(hwloc_topology_t topo, hwloc_obj_t obj) {
  hwloc_obj_t n = NULL;
  while ((n = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, n)))
    if (n->cpuset && hwloc_bitmap_isincluded(obj->cpuset, n->cpuset))
      return (int)n->logical_index;
  return -1;
}

static void add_unit(struct loom__placer *p, hwloc_topology_t topo,
                     hwloc_obj_t obj, hwloc_const_bitmap_t set, int *npus) {
  static const hwloc_obj_type_t type[LOOM__PLACE_LEVELS] = {
      HWLOC_OBJ_CORE,     HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
      HWLOC_OBJ_NUMANODE, HWLOC_OBJ_PACKAGE, HWLOC_OBJ_MACHINE};
  struct loom__unit *u = &p->u[p->n];
  int pu;

  for (int lv = 0; lv < LOOM__PLACE_LEVELS; lv++) {
    int g = lv == LV_NUMA ? numa_of(topo, obj) : ancestor(topo, obj, type[lv]);
    if (lv == LV_MACHINE)
      g = 0;
    else if (g < 0) /* as the level below, kept apart from this level's */
      g = lv == LV_CORE ? (1 << 24) + p->n
                        : ((lv + 1) << 24) + u->group[lv - 1];
    u->group[lv] = g;
  }
  /* NUMA groups are logical indexes, unless the node was not found. */
  u->numa = u->group[LV_NUMA] < p->nnuma ? u->group[LV_NUMA] : 0;
  u->pu0 = *npus;
  u->npu = 0;
  hwloc_bitmap_foreach_begin(pu, obj->cpuset) {
    if (!hwloc_bitmap_isset(set, (unsigned)pu))
      continue;
    p->pus[(*npus)++] = pu;
    u->npu++;
  }
  hwloc_bitmap_foreach_end();
  p->n++;
}

int loom__placer_build(struct loom__placer *p, hwloc_topology_t topo,
                       hwloc_const_bitmap_t set, int pu_units) {
  hwloc_obj_type_t t = pu_units ? HWLOC_OBJ_PU : HWLOC_OBJ_CORE;
  int nobj = hwloc_get_nbobjs_by_type(topo, t), npus = 0;
  int total = hwloc_bitmap_weight(set);
  hwloc_obj_t o = NULL;

  memset(p, 0, sizeof(*p));
  p->pu_units = pu_units;
  if (nobj <= 0) { /* no cores in the topology: one unit per PU */
    t = HWLOC_OBJ_PU;
    nobj = hwloc_get_nbobjs_by_type(topo, t);
  }
  p->nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  if (p->nnuma < 1)
    p->nnuma = 1;
  p->u = calloc(nobj > 0 ? (size_t)nobj : 1, sizeof(*p->u));
  p->pus = calloc(total > 0 ? (size_t)total : 1, sizeof(*p->pus));
  p->busy = calloc(nobj > 0 ? (size_t)nobj : 1, 1);
  p->budget = calloc((size_t)p->nnuma, sizeof(*p->budget));
  p->used = calloc((size_t)p->nnuma, sizeof(*p->used));
  p->numa_os = malloc((size_t)p->nnuma * sizeof(*p->numa_os));
  if (!p->u || !p->pus || !p->busy || !p->budget || !p->used || !p->numa_os) {
    loom__placer_fini(p);
    return LOOM_ENOMEM;
  }
  for (int i = 0; i < p->nnuma; i++)
    p->numa_os[i] = -1;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o)))
    if ((int)o->logical_index < p->nnuma) {
      p->numa_os[o->logical_index] = (int)o->os_index;
      if (o->attr)
        p->budget[o->logical_index] = o->attr->numanode.local_memory;
    }
  o = NULL;
  while ((o = hwloc_get_next_obj_by_type(topo, t, o)))
    if (o->cpuset && hwloc_bitmap_intersects(o->cpuset, set) && npus < total)
      add_unit(p, topo, o, set, &npus);
  p->free = p->n;
  for (int lv = 0; lv < LOOM__PLACE_LEVELS; lv++)
    for (int a = 0, b; a < p->n; a = b) {
      for (b = a; b < p->n && p->u[b].group[lv] == p->u[a].group[lv]; b++)
        ;
      if (b - a > p->widest[lv])
        p->widest[lv] = b - a;
    }
  return 0;
}

void loom__placer_fini(struct loom__placer *p) {
  free(p->u);
  free(p->pus);
  free(p->busy);
  free(p->budget);
  free(p->used);
  free(p->numa_os);
  memset(p, 0, sizeof(*p));
}

uint64_t loom__placer_mem_max(const struct loom__placer *p) {
  uint64_t m = 0;
  for (int i = 0; i < p->nnuma; i++)
    if (p->budget[i] > m)
      m = p->budget[i];
  return m;
}

int loom__placer_fits(const struct loom__placer *p, int n, uint64_t mem) {
  uint64_t max = loom__placer_mem_max(p);
  return n >= 1 && n <= p->n && (max == 0 || mem <= max);
}

/* Does node `numa` have room for mem more bytes? */
static int mem_room(const struct loom__placer *p, int numa, uint64_t mem) {
  return mem == 0 || p->budget[numa] == 0 ||
         p->used[numa] + mem <= p->budget[numa];
}

/* nfree[lv][i]: free units in the group of unit i at level lv. */
static void count_free(const struct loom__placer *p, int *nfree) {
  for (int lv = 0; lv < LOOM__PLACE_LEVELS; lv++) {
    int *f = nfree + (size_t)lv * (size_t)p->n;
    for (int a = 0, b; a < p->n; a = b) {
      int k = 0;
      for (b = a; b < p->n && p->u[b].group[lv] == p->u[a].group[lv]; b++)
        k += !p->busy[b];
      for (int i = a; i < b; i++)
        f[i] = k;
    }
  }
}

/* Is the group starting at unit a a better home (level lv) than the one at
 * best? Fewer free units at this level, then at each level above. */
static int better(const struct loom__placer *p, const int *nfree, int lv, int a,
                  int best) {
  if (best < 0)
    return 1;
  for (; lv < LOOM__PLACE_LEVELS; lv++) {
    int fa = nfree[(size_t)lv * (size_t)p->n + (size_t)a];
    int fb = nfree[(size_t)lv * (size_t)p->n + (size_t)best];
    if (fa != fb)
      return fa < fb;
  }
  return 0;
}

int loom__place(struct loom__placer *p, int n, uint64_t mem, int *out) {
  int *nfree, rc = 1;

  if (!loom__placer_fits(p, n, mem))
    return LOOM_EINVAL;
  if (n > p->free)
    return 1;
  nfree = malloc(sizeof(*nfree) * (size_t)p->n * LOOM__PLACE_LEVELS);
  if (!nfree)
    return LOOM_ENOMEM;
  count_free(p, nfree);
  for (int lv = 0; lv < LOOM__PLACE_LEVELS && rc == 1; lv++) {
    const int *f = nfree + (size_t)lv * (size_t)p->n;
    if (lv > 0 && p->widest[lv - 1] >= n)
      break; /* a group below is large enough: wait for room in one */
    int best = -1, first = -1;
    for (int a = 0, b; a < p->n; a = b) {
      int lead = -1; /* the group's first free unit: its NUMA node pays */
      for (b = a; b < p->n && p->u[b].group[lv] == p->u[a].group[lv]; b++)
        if (lead < 0 && !p->busy[b])
          lead = b;
      if (f[a] < n || lead < 0 || !mem_room(p, p->u[lead].numa, mem))
        continue;
      if (better(p, nfree, lv, a, best)) {
        best = a;
        first = lead;
      }
    }
    if (best < 0)
      continue;
    for (int i = first, k = 0; k < n; i++)
      if (!p->busy[i]) {
        p->busy[i] = 1;
        out[k++] = i;
      }
    p->free -= n;
    p->used[p->u[first].numa] += mem;
    rc = 0;
  }
  free(nfree);
  return rc;
}

void loom__unplace(struct loom__placer *p, int n, uint64_t mem,
                   const int *units) {
  if (n <= 0)
    return;
  for (int k = 0; k < n; k++)
    if (p->busy[units[k]]) {
      p->busy[units[k]] = 0;
      p->free++;
    }
  if (p->used[p->u[units[0]].numa] >= mem)
    p->used[p->u[units[0]].numa] -= mem;
  else
    p->used[p->u[units[0]].numa] = 0;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* Appends to buf like snprintf, tracking in *at the length needed. */
__attribute__((format(printf, 4, 5))) static void
out(char *buf, size_t len, size_t *at, const char *fmt, ...) {
  va_list ap;
  int k;

  va_start(ap, fmt);
  k = vsnprintf(*at < len ? buf + *at : NULL, *at < len ? len - *at : 0, fmt,
                ap);
  va_end(ap);
  if (k > 0)
    *at += (size_t)k;
}

size_t loom__place_cpus(const struct loom__placer *p, const int *units, int n,
                        char *buf, size_t len) {
  int *v, m = 0;
  size_t at = 0;

  if (len)
    buf[0] = '\0';
  for (int k = 0; k < n; k++)
    m += p->u[units[k]].npu;
  v = malloc(sizeof(*v) * (size_t)(m > 0 ? m : 1));
  if (!v)
    return 0;
  m = 0;
  for (int k = 0; k < n; k++)
    for (int j = 0; j < p->u[units[k]].npu; j++)
      v[m++] = p->pus[p->u[units[k]].pu0 + j];
  qsort(v, (size_t)m, sizeof(*v), cmp_int);
  for (int i = 0, j; i < m; i = j + 1) {
    for (j = i; j + 1 < m && v[j + 1] == v[j] + 1;)
      j++;
    out(buf, len, &at, "%s%d", at ? "," : "", v[i]);
    if (j > i)
      out(buf, len, &at, "-%d", v[j]);
  }
  free(v);
  return at;
}

size_t loom__place_omp(const struct loom__placer *p, const int *units, int n,
                       char *buf, size_t len) {
  size_t at = 0;

  if (len)
    buf[0] = '\0';
  for (int k = 0; k < n; k++) {
    const struct loom__unit *u = &p->u[units[k]];
    out(buf, len, &at, "%s{", k ? "," : "");
    for (int j = 0; j < u->npu; j++)
      out(buf, len, &at, "%s%d", j ? "," : "", p->pus[u->pu0 + j]);
    out(buf, len, &at, "}");
  }
  return at;
}

int loom__place_bind(const struct loom__placer *p, const int *units, int n) {
  cpu_set_t set;

  CPU_ZERO(&set);
  for (int k = 0; k < n; k++)
    for (int j = 0; j < p->u[units[k]].npu; j++) {
      int pu = p->pus[p->u[units[k]].pu0 + j];
      if (pu < 0 || pu >= CPU_SETSIZE)
        return LOOM_ESYS;
      CPU_SET(pu, &set);
    }
  /* 0: the calling thread (Linux binds threads one by one). */
  return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : LOOM_ESYS;
}

int loom__place_membind(const struct loom__placer *p, const int *units,
                        int on) {
  unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
  const unsigned long bits = 8 * sizeof(unsigned long);
  int node = p->numa_os[p->u[units[0]].numa];

  if (!on)
    return syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0) == 0 ? 0
                                                                  : LOOM_ESYS;
  if (node < 0 || (unsigned long)node >= 8 * sizeof(mask))
    return LOOM_ESYS;
  mask[(unsigned long)node / bits] |= 1UL << ((unsigned long)node % bits);
  /* The thread's policy: the kernel gives it to the processes it forks. */
  return syscall(SYS_set_mempolicy, MPOL_BIND, mask, 8 * sizeof(mask)) == 0
             ? 0
             : LOOM_ESYS;
}

int loom__slots_plan(int slots, struct loom__placer **out, int *n, char *err,
                     size_t errlen) {
  struct loom_profile scratch;
  struct loom__placer *p;
  hwloc_topology_t topo;
  hwloc_bitmap_t set;
  int fake, rc, pu = slots == LOOM_SLOTS_AUTO_PU;

  *out = NULL;
  *n = slots > 0 ? slots : 1;
  if (slots == 0)
    return 0;
  memset(&scratch, 0, sizeof(scratch));
  rc = loom__topo_open(&topo, &set, &fake, &scratch, err, errlen);
  if (rc != 0)
    return rc;
  p = calloc(1, sizeof(*p));
  rc = p ? loom__placer_build(p, topo, set, pu) : LOOM_ENOMEM;
  hwloc_bitmap_free(set);
  hwloc_topology_destroy(topo);
  if (rc != 0) {
    free(p);
    return rc;
  }
  p->bind = !fake;
  if (slots < 0)
    *n = p->n;
  if (*n > p->n || p->n == 0) { /* more slots than cores: not pinned */
    loom__placer_free(p);
    return 0;
  }
  *out = p;
  return 0;
}

void loom__placer_free(struct loom__placer *p) {
  if (p) {
    loom__placer_fini(p);
    free(p);
  }
}
