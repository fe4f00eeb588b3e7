/* test_place.c - unit tests of task placement (engine/src/hw/place.c) on
 * the fake machines of tests/data and on synthetic ones: compact sets
 * (a core's threads, then an L2, an L3, a NUMA node, a package), best fit,
 * never across packages when one would do, the NUMA memory budget, tasks
 * that can never fit, bindings that cover part of the machine, the lists
 * handed to tasks, and a long random run that checks no two tasks ever
 * share a unit. Nothing here depends on this machine's hardware.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/mempolicy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/common.h"
#include "hw/place.h"

#ifndef LOOM_TEST_DATA
#define LOOM_TEST_DATA "tests/data"
#endif

#define GIB ((uint64_t)1 << 30)
/* 2 packages x 2 NUMA nodes x 1 L3 x 4 L2 x 2 cores x 2 PUs: 32 cores. */
#define SERVER "pack:2 numa:2(memory=8GiB) l3:1 l2:4 core:2 pu:2"

struct rig {
  hwloc_topology_t topo;
  hwloc_bitmap_t set;
  struct loom__placer p;
};

/* Loads "xml:NAME" (from tests/data) or a synthetic description; the
 * binding is cpus (a PU list), or the whole machine when NULL. */
static void rig_open(struct rig *r, const char *spec, const char *cpus,
                     int pu_units) {
  assert_int_equal(hwloc_topology_init(&r->topo), 0);
  if (strncmp(spec, "xml:", 4) == 0) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", LOOM_TEST_DATA, spec + 4);
    assert_int_equal(hwloc_topology_set_xml(r->topo, path), 0);
  } else {
    assert_int_equal(strncmp(spec, "synthetic:", 10), 0);
    assert_int_equal(hwloc_topology_set_synthetic(r->topo, spec + 10), 0);
  }
  assert_int_equal(hwloc_topology_load(r->topo), 0);
  r->set = hwloc_bitmap_alloc();
  if (cpus)
    assert_int_equal(hwloc_bitmap_list_sscanf(r->set, cpus), 0);
  else
    hwloc_bitmap_copy(r->set, hwloc_topology_get_topology_cpuset(r->topo));
  assert_int_equal(loom__placer_build(&r->p, r->topo, r->set, pu_units), 0);
}

static void rig_close(struct rig *r) {
  loom__placer_fini(&r->p);
  hwloc_bitmap_free(r->set);
  hwloc_topology_destroy(r->topo);
}

/* Places n units and mem bytes; expects success; returns the PU list. */
static const char *place(struct rig *r, int n, uint64_t mem, int *units) {
  static char buf[256];
  assert_int_equal(loom__place(&r->p, n, mem, units), 0);
  loom__place_cpus(&r->p, units, n, buf, sizeof(buf));
  return buf;
}

static void test_two_package_server(void **st) {
  struct rig r;
  int a[16], b[16], c[16], d[16];
  (void)st;

  rig_open(&r, "xml:topo-2p16c.xml", NULL, 0);
  assert_int_equal(r.p.n, 16);
  assert_int_equal(r.p.free, 16);
  /* A core gets both of its threads. */
  assert_string_equal(place(&r, 1, 0, a), "0-1");
  /* Two cores: not one here and one in the other package; the package
   * already in use, which is the fuller one. */
  assert_string_equal(place(&r, 2, 0, b), "2-5");
  /* Eight cores fit only in the second package: never split. */
  assert_string_equal(place(&r, 8, 0, c), "16-31");
  /* Six: what is left of the first one. */
  assert_string_equal(place(&r, 5, 0, d), "6-15");
  assert_int_equal(r.p.free, 0);
  assert_int_equal(loom__place(&r.p, 1, 0, d), 1); /* full: later */
  loom__unplace(&r.p, 2, 0, b);
  assert_string_equal(place(&r, 1, 0, b), "2-3");
  /* More than the worker has: never. */
  assert_int_equal(loom__place(&r.p, 17, 0, d), LOOM_EINVAL);
  assert_false(loom__placer_fits(&r.p, 17, 0));
  assert_true(loom__placer_fits(&r.p, 16, 0));
  assert_false(loom__placer_fits(&r.p, 0, 0));
  rig_close(&r);

  /* Five cores in each package: six more would fit in a package, but
   * neither has them free. The task waits rather than take three of
   * each; sixteen (larger than a package) may span both. */
  rig_open(&r, "xml:topo-2p16c.xml", NULL, 0);
  assert_string_equal(place(&r, 5, 0, a), "0-9");
  assert_string_equal(place(&r, 5, 0, b), "16-25");
  assert_int_equal(loom__place(&r.p, 6, 0, c), 1);
  loom__unplace(&r.p, 5, 0, a);
  loom__unplace(&r.p, 5, 0, b);
  assert_string_equal(place(&r, 16, 0, c), "0-31");
  rig_close(&r);
}

static void test_narrow_tasks_pack_together(void **st) {
  struct rig r;
  int a[1], b[1], c[1], w[8];
  (void)st;

  rig_open(&r, "synthetic:" SERVER, NULL, 0);
  assert_int_equal(r.p.n, 32);
  assert_string_equal(place(&r, 1, 0, a), "0-1");
  /* The next one shares the first one's L2, not a fresh one. */
  assert_string_equal(place(&r, 1, 0, b), "2-3");
  assert_string_equal(place(&r, 1, 0, c), "4-5");
  /* A wide task takes a whole L3 (one NUMA node here) that nobody uses,
   * rather than the rest of the first one. */
  assert_string_equal(place(&r, 8, 0, w), "16-31");
  loom__unplace(&r.p, 1, 0, b);
  /* The hole is filled first. */
  assert_string_equal(place(&r, 1, 0, b), "2-3");
  rig_close(&r);
}

static void test_hardware_threads_as_units(void **st) {
  struct rig r;
  int a[2], b[1], c[1], d[1];
  (void)st;

  rig_open(&r, "xml:topo-2p16c.xml", NULL, 1);
  assert_int_equal(r.p.n, 32);
  /* Two PUs: the two threads of one core. */
  assert_string_equal(place(&r, 2, 0, a), "0-1");
  assert_string_equal(place(&r, 1, 0, b), "2");
  /* The core already half used comes first. */
  assert_string_equal(place(&r, 1, 0, c), "3");
  loom__unplace(&r.p, 1, 0, b);
  assert_string_equal(place(&r, 1, 0, d), "2");
  rig_close(&r);
}

static void test_memory_budget_per_numa_node(void **st) {
  struct rig r;
  int a[1], b[1], c[1];
  (void)st;

  rig_open(&r, "xml:topo-2p16c.xml", NULL, 0);
  assert_int_equal(loom__placer_mem_max(&r.p), 64 * GIB);
  assert_false(loom__placer_fits(&r.p, 1, 64 * GIB + 1));
  assert_int_equal(loom__place(&r.p, 1, 65 * GIB, a), LOOM_EINVAL);
  assert_string_equal(place(&r, 1, 40 * GIB, a), "0-1");
  /* The first node has 24 GiB left: the next one goes to the second. */
  assert_string_equal(place(&r, 1, 40 * GIB, b), "16-17");
  /* Both are taken past 40 GiB: not now, although cores are free. */
  assert_int_equal(loom__place(&r.p, 1, 40 * GIB, c), 1);
  /* Small ones still fit beside them. */
  assert_string_equal(place(&r, 1, 24 * GIB, c), "2-3");
  loom__unplace(&r.p, 1, 24 * GIB, c);
  loom__unplace(&r.p, 1, 40 * GIB, a);
  assert_string_equal(place(&r, 1, 40 * GIB, c), "0-1");
  rig_close(&r);
}

/* Each NUMA node keeps the kernel's name for it, and --membind binds a
 * task's memory to the node it is charged to: checked with the kernel's
 * own answer on this machine, whose node 0 always exists. */
static void test_membind_names_the_charged_node(void **st) {
  struct rig r;
  int a[1], b[1];
  unsigned long mask[16] = {0};
  int mode = -1;
  (void)st;

  rig_open(&r, "xml:topo-2p16c.xml", NULL, 0);
  assert_int_equal(r.p.nnuma, 2);
  assert_string_equal(place(&r, 1, 40 * GIB, a), "0-1");
  assert_string_equal(place(&r, 1, 40 * GIB, b), "16-17");
  assert_int_equal(r.p.numa_os[r.p.u[a[0]].numa], 0);
  assert_int_equal(r.p.numa_os[r.p.u[b[0]].numa], 1);
  assert_int_equal(loom__place_membind(&r.p, a, 1), 0);
  assert_int_equal(
      syscall(SYS_get_mempolicy, &mode, mask, 8 * sizeof(mask), NULL, 0), 0);
  assert_int_equal(mode, MPOL_BIND);
  assert_int_equal(mask[0], 1);
  assert_int_equal(loom__place_membind(&r.p, a, 0), 0);
  assert_int_equal(
      syscall(SYS_get_mempolicy, &mode, mask, 8 * sizeof(mask), NULL, 0), 0);
  assert_int_equal(mode, MPOL_DEFAULT);
  /* A node the kernel does not know: refused, not ignored. */
  r.p.numa_os[r.p.u[a[0]].numa] = 999;
  assert_int_equal(loom__place_membind(&r.p, a, 1), LOOM_ESYS);
  r.p.numa_os[r.p.u[a[0]].numa] = -1;
  assert_int_equal(loom__place_membind(&r.p, a, 1), LOOM_ESYS);
  rig_close(&r);
}

static void test_unknown_memory_is_not_accounted(void **st) {
  struct rig r;
  int a[4];
  (void)st;

  rig_open(&r, "xml:topo-cacheless.xml", NULL, 0);
  assert_int_equal(r.p.n, 4);
  assert_int_equal(loom__placer_mem_max(&r.p), 0);
  assert_true(loom__placer_fits(&r.p, 4, 1000 * GIB));
  /* No caches: still compact, in topology order. */
  assert_string_equal(place(&r, 3, 1000 * GIB, a), "0-2");
  rig_close(&r);
}

static void test_part_of_the_machine(void **st) {
  struct rig r;
  int a[2];
  char omp[64];
  (void)st;

  /* A rank bound to cores 2-3 and one thread of core 4. */
  rig_open(&r, "xml:topo-2p16c.xml", "4-8", 0);
  assert_int_equal(r.p.n, 3);
  assert_string_equal(place(&r, 2, 0, a), "4-7");
  loom__place_omp(&r.p, a, 2, omp, sizeof(omp));
  assert_string_equal(omp, "{4,5},{6,7}");
  assert_string_equal(place(&r, 1, 0, a), "8");
  rig_close(&r);
}

static void test_lists_are_cut_safely(void **st) {
  struct rig r;
  int a[16];
  char small[6];
  (void)st;

  rig_open(&r, "synthetic:" SERVER, NULL, 1);
  for (int i = 0; i < 16; i++)
    a[i] = 2 * i; /* PUs 0, 2, 4, ...: no ranges */
  assert_true(loom__place_cpus(&r.p, a, 16, small, sizeof(small)) > 6);
  assert_int_equal(strlen(small), 5);
  assert_true(loom__place_omp(&r.p, a, 3, small, sizeof(small)) == 11);
  rig_close(&r);
}

/* The smallest level at which some group has n free units with memory
 * room, computed the slow way. */
static int level_needed(const struct loom__placer *p, int n, uint64_t mem) {
  for (int lv = 0; lv < LOOM__PLACE_LEVELS; lv++)
    for (int i = 0; i < p->n; i++) {
      int k = 0, lead = -1;
      for (int j = 0; j < p->n; j++)
        if (p->u[j].group[lv] == p->u[i].group[lv] && !p->busy[j]) {
          k++;
          if (lead < 0)
            lead = j;
        }
      if (k >= n && lead >= 0 &&
          (mem == 0 || p->used[p->u[lead].numa] + mem <= p->budget[0]))
        return lv;
    }
  return -1;
}

static void test_random_tasks_never_share_a_unit(void **st) {
  struct task {
    int n;
    uint64_t mem;
    int u[32];
  } live[64];
  struct rig r;
  int nlive = 0, owner[64];
  unsigned seed = 12345;
  (void)st;

  rig_open(&r, "synthetic:" SERVER, NULL, 1);
  for (int step = 0; step < 20000; step++) {
    seed = seed * 1103515245u + 12345u;
    if (nlive > 0 && (seed >> 16) % 3 == 0) {
      int k = (int)((seed >> 8) % (unsigned)nlive);
      loom__unplace(&r.p, live[k].n, live[k].mem, live[k].u);
      live[k] = live[--nlive];
    } else if (nlive < 64) {
      struct task *t = &live[nlive];
      int rc, want, cap;
      t->n = 1 + (int)((seed >> 4) % 8);
      t->mem = (seed >> 20) % 4 == 0 ? (uint64_t)((seed >> 12) % 6) * GIB : 0;
      want = level_needed(&r.p, t->n, t->mem);
      rc = loom__place(&r.p, t->n, t->mem, t->u);
      /* Never split above the smallest level with a group large enough:
       * such a task waits instead. */
      for (cap = 0; cap < LOOM__PLACE_LEVELS - 1; cap++)
        if (r.p.widest[cap] >= t->n)
          break;
      if (want < 0 || want > cap) {
        assert_int_equal(rc, 1);
        continue;
      }
      assert_int_equal(rc, 0);
      /* Compact: every unit in one group of the level needed. */
      for (int i = 1; i < t->n; i++)
        assert_int_equal(r.p.u[t->u[i]].group[want],
                         r.p.u[t->u[0]].group[want]);
      nlive++;
    }
    /* No unit in two tasks; the counts and budgets agree. */
    memset(owner, -1, sizeof(owner));
    {
      int busy = 0;
      uint64_t used[4] = {0};
      for (int k = 0; k < nlive; k++) {
        for (int i = 0; i < live[k].n; i++) {
          assert_int_equal(owner[live[k].u[i]], -1);
          owner[live[k].u[i]] = k;
          busy++;
        }
        used[r.p.u[live[k].u[0]].numa] += live[k].mem;
      }
      assert_int_equal(r.p.free, r.p.n - busy);
      for (int i = 0; i < r.p.nnuma; i++) {
        assert_true(used[i] == r.p.used[i]);
        assert_true(used[i] <= r.p.budget[i]);
      }
    }
  }
  rig_close(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_package_server),
      cmocka_unit_test(test_narrow_tasks_pack_together),
      cmocka_unit_test(test_hardware_threads_as_units),
      cmocka_unit_test(test_memory_budget_per_numa_node),
      cmocka_unit_test(test_membind_names_the_charged_node),
      cmocka_unit_test(test_unknown_memory_is_not_accounted),
      cmocka_unit_test(test_part_of_the_machine),
      cmocka_unit_test(test_lists_are_cut_safely),
      cmocka_unit_test(test_random_tasks_never_share_a_unit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
