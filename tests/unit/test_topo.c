/* test_topo.c - unit tests of the hardware profiles (engine/src/topo.c):
 * loom_profile_probe() on synthetic machines and on the XML files of
 * tests/data (a 2-package server, a hybrid machine with two CPU kinds, a
 * machine without caches or NUMA memory sizes), handed over through
 * LOOM_TOPOLOGY and LOOM_CPUSET exactly as a user would; bad values of both;
 * the weight model by hand; the table and the JSON (parsed back by python3
 * when it is installed). Nothing here depends on this machine's hardware.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "dispatch/engine.h"
#include "hw/topo.h"
#include "journal/report.h"

#ifndef LOOM_TEST_DATA
#define LOOM_TEST_DATA "tests/data"
#endif

#define SERVER                                                                 \
  "synthetic:pack:2 numa:2 l3:1(size=32MiB) l2:4(size=1MiB) core:2 pu:2"
#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)

static const char *const env_vars[] = {"LOOM_TOPOLOGY", "LOOM_CPUSET",
                                       "HWLOC_XMLFILE", "HWLOC_SYNTHETIC",
                                       "HWLOC_THISSYSTEM"};

/* Every test starts and ends without any of the variables the probe reads. */
static int clean_env(void **st) {
  (void)st;
  for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
    unsetenv(env_vars[i]);
  return 0;
}

/* LOOM_TOPOLOGY=xml:<tests/data>/name */
static void use_xml(const char *name) {
  const char *dir = getenv("LOOM_TEST_DATA");
  char spec[4096];

  snprintf(spec, sizeof(spec), "xml:%s/%s", dir && *dir ? dir : LOOM_TEST_DATA,
           name);
  setenv("LOOM_TOPOLOGY", spec, 1);
}

/* Probes with LOOM_TOPOLOGY=topology (NULL: as set) and LOOM_CPUSET=cpuset
 * (NULL: unset); expects success. */
static struct loom_profile probe(const char *topology, const char *cpuset) {
  struct loom_profile p;
  char err[256] = "untouched";

  if (topology)
    setenv("LOOM_TOPOLOGY", topology, 1);
  if (cpuset)
    setenv("LOOM_CPUSET", cpuset, 1);
  else
    unsetenv("LOOM_CPUSET");
  if (loom_profile_probe(&p, err, sizeof(err)) != 0)
    fail_msg("probe failed: %s", err);
  assert_string_equal(err, "");
  return p;
}

/* Expects LOOM_EINVAL, an err that quotes value, and a zeroed profile. */
static void expect_einval(const char *value) {
  struct loom_profile p;
  char err[256] = "";

  memset(&p, 0x5a, sizeof(p));
  assert_int_equal(loom_profile_probe(&p, err, sizeof(err)), LOOM_EINVAL);
  if (!strstr(err, value))
    fail_msg("err '%s' does not name '%s'", err, value);
  assert_int_equal(p.cores, 0);
  assert_int_equal(p.pus, 0);
  assert_string_equal(p.cpuset, "");
}

static void expect_note(const struct loom_profile *p, const char *want) {
  if (!strstr(p->notes, want))
    fail_msg("notes '%s' lack '%s'", p->notes, want);
}

/* ---- probing fake machines ---------------------------------------------- */

static void test_probe_counts_the_whole_synthetic_machine(void **st) {
  (void)st;
  struct loom_profile p = probe(SERVER, NULL);

  /* 2 packages x 2 NUMA x 1 L3 x 4 L2 x 2 cores x 2 threads. */
  assert_int_equal(p.cores, 32);
  assert_int_equal(p.pus, 64);
  assert_int_equal(p.numa_nodes, 4);
  assert_true(p.numa_mem == 4 * GIB); /* hwloc's synthetic default: 1GiB */
  assert_true(p.l2 == 1 * MIB);
  assert_true(p.l3 == 32 * MIB);
  assert_int_equal(p.cpukinds, 0);
  assert_int_equal(p.cpukind, -1);
  assert_string_equal(p.cpuset, "0-63");
  assert_string_equal(p.source, "synthetic");
  assert_true(p.host[0] != '\0');
  assert_float_equal(p.weight, 32 * 1.25, 1e-9);
  expect_note(&p, "fake topology: no binding, whole machine");
}

static void test_probe_counts_only_the_cpuset_it_is_given(void **st) {
  (void)st;
  struct loom_profile p = probe(SERVER, "0-7");

  assert_int_equal(p.cores, 4);
  assert_int_equal(p.pus, 8);
  assert_int_equal(p.numa_nodes, 1);
  assert_true(p.numa_mem == GIB);
  assert_true(p.l2 == MIB);
  assert_true(p.l3 == 32 * MIB);
  assert_string_equal(p.cpuset, "0-7");
  assert_float_equal(p.weight, 5.0, 1e-9);
  assert_string_equal(p.notes, "");
}

static void test_probe_counts_a_core_once_when_one_thread_is_bound(void **st) {
  (void)st;
  struct loom_profile p = probe(SERVER, "0,2,4,6");

  assert_int_equal(p.cores, 4);
  assert_int_equal(p.pus, 4);
  assert_float_equal(p.weight, 4.0, 1e-9);
  p = probe(SERVER, "1");
  assert_int_equal(p.cores, 1);
  assert_int_equal(p.pus, 1);
  assert_float_equal(p.weight, 1.0, 1e-9);
  p = probe(SERVER, "0-2"); /* core 0 whole, core 1 half */
  assert_int_equal(p.cores, 2);
  assert_int_equal(p.pus, 3);
  assert_float_equal(p.weight, 2.25, 1e-9);
}

static void test_probe_counts_every_numa_node_a_cpuset_touches(void **st) {
  (void)st;
  /* NUMA node 0 holds PUs 0-15, node 1 PUs 16-31. */
  struct loom_profile p = probe(SERVER, "14-17");

  assert_int_equal(p.numa_nodes, 2);
  assert_true(p.numa_mem == 2 * GIB);
  assert_int_equal(p.cores, 2);
  assert_string_equal(p.cpuset, "14-17");
}

static void test_probe_reads_the_two_package_xml(void **st) {
  (void)st;
  struct loom_profile p;

  use_xml("topo-2p16c.xml");
  p = probe(NULL, NULL);
  assert_int_equal(p.cores, 16);
  assert_int_equal(p.pus, 32);
  assert_int_equal(p.numa_nodes, 2);
  assert_true(p.numa_mem == 128 * GIB);
  assert_true(p.l2 == MIB);
  assert_true(p.l3 == 32 * MIB);
  assert_string_equal(p.source, "xml");
  assert_float_equal(p.weight, 20.0, 1e-9);

  p = probe(NULL, "16-31");
  assert_int_equal(p.cores, 8);
  assert_int_equal(p.numa_nodes, 1);
  assert_true(p.numa_mem == 64 * GIB);
  assert_string_equal(p.cpuset, "16-31");
}

static void test_probe_of_a_cacheless_machine_notes_the_caches(void **st) {
  (void)st;
  struct loom_profile p = probe("synthetic:pack:1 core:4 pu:1", NULL);

  assert_int_equal(p.cores, 4);
  assert_int_equal(p.pus, 4);
  assert_true(p.l2 == 0);
  assert_true(p.l3 == 0);
  assert_float_equal(p.weight, 4.0, 1e-9);
  expect_note(&p, "no L2 in the topology");
  expect_note(&p, "no L3 in the topology");
}

static void test_probe_notes_numa_memory_it_cannot_know(void **st) {
  (void)st;
  struct loom_profile p;

  use_xml("topo-cacheless.xml");
  p = probe(NULL, NULL);
  assert_int_equal(p.cores, 4);
  assert_int_equal(p.numa_nodes, 1);
  assert_true(p.numa_mem == 0);
  assert_true(p.l2 == 0 && p.l3 == 0);
  expect_note(&p, "NUMA memory unknown");
  expect_note(&p, "no L3 in the topology");
  /* Notes are joined with "; ". */
  expect_note(&p, "whole machine; NUMA memory unknown; no L2");
}

/* topo-hybrid.xml: cores 0-1 are big (PUs 0-3, two threads each, kind
 * efficiency 1), cores 2-5 little (PUs 4, 6, 8, 10; efficiency 0). */
static void test_probe_reads_the_cpu_kind_of_the_binding(void **st) {
  (void)st;
  struct loom_profile p;

  use_xml("topo-hybrid.xml");
  p = probe(NULL, "0-3");
  assert_int_equal(p.cpukinds, 2);
  assert_int_equal(p.cpukind, 1);
  assert_int_equal(p.cores, 2);
  assert_int_equal(p.pus, 4);
  assert_float_equal(p.weight, 2.5, 1e-9);

  p = probe(NULL, "4,6,8,10");
  assert_int_equal(p.cpukinds, 2);
  assert_int_equal(p.cpukind, 0);
  assert_int_equal(p.cores, 4);
  assert_int_equal(p.pus, 4);
  assert_float_equal(p.weight, 2.0, 1e-9);
  assert_string_equal(p.notes, "");
}

static void test_a_little_core_weighs_half_a_big_one(void **st) {
  (void)st;
  struct loom_profile big, little;

  use_xml("topo-hybrid.xml");
  big = probe(NULL, "0,2");
  little = probe(NULL, "4,6");
  assert_int_equal(big.cores, 2);
  assert_int_equal(little.cores, 2);
  assert_float_equal(big.weight, 2.0, 1e-9);
  assert_float_equal(little.weight, 1.0, 1e-9);
}

static void test_a_binding_across_cpu_kinds_has_no_kind(void **st) {
  (void)st;
  struct loom_profile p;

  use_xml("topo-hybrid.xml");
  p = probe(NULL, NULL);
  assert_int_equal(p.cpukinds, 2);
  assert_int_equal(p.cpukind, -1);
  assert_int_equal(p.cores, 6);
  assert_int_equal(p.pus, 8);
  assert_string_equal(p.cpuset, "0-4,6,8,10");
  assert_float_equal(p.weight, 6.5, 1e-9);
  expect_note(&p, "binding spans cpukinds");
}

static void test_a_cpuset_too_long_for_its_field_ends_in_dots(void **st) {
  (void)st;
  char list[1024];
  size_t used = 0;
  struct loom_profile p;

  for (int i = 0; i < 400; i += 2)
    used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d",
                             i ? "," : "", i);
  p = probe("synthetic:pack:1 core:400 pu:1", list);
  assert_int_equal(p.cores, 200);
  assert_int_equal(strlen(p.cpuset), sizeof(p.cpuset) - 1);
  assert_string_equal(p.cpuset + sizeof(p.cpuset) - 4, "...");
  assert_int_equal(strncmp(p.cpuset, "0,2,4,", 6), 0);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_bad_loom_topology_is_an_error_naming_it(void **st) {
  (void)st;
  static const char *const bad[] = {"xml:/no/such/file.xml",
                                    "synthetic:garbage",
                                    "ftp:x",
                                    "",
                                    "xml:",
                                    "synthetic:"};

  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    setenv("LOOM_TOPOLOGY", bad[i], 1);
    expect_einval(bad[i]);
  }
  setenv("LOOM_TOPOLOGY", "xml:/no/such/file.xml", 1);
  expect_einval("LOOM_TOPOLOGY='xml:/no/such/file.xml': hwloc cannot load it");
}

static void test_bad_loom_cpuset_is_an_error_naming_it(void **st) {
  (void)st;
  static const char *const bad[] = {"x",  "1000-1001", "0-3x", "3-1",
                                    "",   "0-",        "-1",   "0,,2",
                                    " 1", "1,",        "0-64", "1;2"};

  setenv("LOOM_TOPOLOGY", SERVER, 1);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    setenv("LOOM_CPUSET", bad[i], 1);
    expect_einval(bad[i]);
  }
  setenv("LOOM_CPUSET", "1000-1001", 1);
  expect_einval("not inside the topology's PUs (0-63)");
  /* A cpuset is checked against the fake machine, not against this one. */
  use_xml("topo-hybrid.xml");
  setenv("LOOM_CPUSET", "4-6", 1);
  expect_einval("LOOM_CPUSET='4-6'");
  setenv("LOOM_CPUSET", "123456789", 1);
  expect_einval("123456789");
}

static void test_probe_without_a_profile_is_einval(void **st) {
  (void)st;
  char err[64];

  assert_int_equal(loom_profile_probe(NULL, err, sizeof(err)), LOOM_EINVAL);
  assert_true(err[0] != '\0');
}

/* ---- hwloc's own variables ---------------------------------------------- */

static void test_loom_topology_wins_over_hwloc_variables(void **st) {
  (void)st;
  struct loom_profile p;

  setenv("HWLOC_SYNTHETIC", "pack:1 core:3 pu:1", 1);
  p = probe("synthetic:pack:1 core:5 pu:1", NULL);
  assert_int_equal(p.cores, 5);
  assert_string_equal(p.source, "synthetic");
}

static void test_an_ignored_hwloc_xmlfile_is_noted(void **st) {
  (void)st;
  struct loom_profile p;

  /* hwloc falls back to the real machine without a word: say so. */
  setenv("HWLOC_XMLFILE", "/no/such/file.xml", 1);
  p = probe(NULL, NULL);
  assert_string_equal(p.source, "this-system");
  expect_note(&p, "HWLOC_XMLFILE ignored by hwloc: real machine used");
}

static void test_a_fake_from_hwloc_synthetic_is_named(void **st) {
  (void)st;
  struct loom_profile p;

  setenv("HWLOC_SYNTHETIC", "pack:1 core:3 pu:2", 1);
  p = probe(NULL, NULL);
  assert_string_equal(p.source, "synthetic");
  assert_int_equal(p.cores, 3);
  assert_int_equal(p.pus, 6);
  expect_note(&p, "topology from HWLOC_SYNTHETIC");
  expect_note(&p, "fake topology: no binding, whole machine");
}

static void test_hwloc_thissystem_does_not_bind_a_fake(void **st) {
  (void)st;
  struct loom_profile p;

  setenv("HWLOC_THISSYSTEM", "1", 1);
  p = probe("synthetic:pack:1 core:6 pu:1", NULL);
  assert_int_equal(p.cores, 6);
  assert_string_equal(p.cpuset, "0-5");
  expect_note(&p, "HWLOC_THISSYSTEM");
}

/* On the real machine only what holds everywhere can be checked. */
static void test_probe_of_this_machine_is_sane(void **st) {
  (void)st;
  struct loom_profile p = probe(NULL, NULL);

  assert_string_equal(p.source, "this-system");
  assert_true(p.cores >= 1);
  assert_true(p.pus >= p.cores);
  assert_true(p.numa_nodes >= 1);
  assert_true(p.cpuset[0] != '\0');
  assert_true(p.host[0] != '\0');
  assert_true(p.weight >= 1.0);
  assert_float_equal(p.weight, loom_profile_weight(&p), 1e-12);
}

/* ---- the weight model --------------------------------------------------- */

static struct loom_profile counts(int cores, int pus, int kind, int kinds) {
  struct loom_profile p;

  memset(&p, 0, sizeof(p));
  p.cores = cores;
  p.pus = pus;
  p.cpukind = kind;
  p.cpukinds = kinds;
  return p;
}

static void test_weight_model_by_hand(void **st) {
  (void)st;
  struct loom_profile p;

  assert_float_equal(loom_profile_weight(NULL), 1.0, 0);
  p = counts(0, 0, -1, 0);
  assert_float_equal(loom_profile_weight(&p), 1.0, 0);
  p = counts(-3, 8, -1, 0);
  assert_float_equal(loom_profile_weight(&p), 1.0, 0);
  p = counts(4, 4, -1, 0); /* no SMT */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
  p = counts(4, 8, -1, 0); /* 2 threads a core: 1.25 each */
  assert_float_equal(loom_profile_weight(&p), 5.0, 1e-12);
  p = counts(4, 6, -1, 1); /* 2 cores with SMT, 2 without */
  assert_float_equal(loom_profile_weight(&p), 4.5, 1e-12);
  p = counts(4, 16, -1, 0); /* 4 threads a core count like 2 */
  assert_float_equal(loom_profile_weight(&p), 5.0, 1e-12);
  p = counts(4, 2, -1, 0); /* fewer PUs than cores: no SMT bonus */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
  p = counts(4, 4, 0, 2); /* least efficient of 2 kinds */
  assert_float_equal(loom_profile_weight(&p), 2.0, 1e-12);
  p = counts(4, 4, 1, 2); /* most efficient */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
  p = counts(4, 4, 1, 3); /* the middle of 3 kinds */
  assert_float_equal(loom_profile_weight(&p), 3.0, 1e-12);
  p = counts(4, 8, 0, 3);
  assert_float_equal(loom_profile_weight(&p), 2.5, 1e-12);
  p = counts(4, 4, 7, 3); /* an efficiency past the last kind: the top */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
  p = counts(4, 4, -1, 2); /* unknown kind */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
  p = counts(4, 4, 0, 1); /* one kind: nothing to compare with */
  assert_float_equal(loom_profile_weight(&p), 4.0, 1e-12);
}

/* ---- printing ----------------------------------------------------------- */

static void test_sizes_read_like_lstopo(void **st) {
  (void)st;
  char b[32];
  static const struct {
    uint64_t bytes;
    const char *text;
  } cases[] = {
      {0, "-"},
      {512, "512B"},
      {1024, "1KiB"},
      {1536, "1.5KiB"},
      {1 << 20, "1MiB"},
      {1310720, "1.25MiB"},
      {32 << 20, "32MiB"},
      {(uint64_t)64 << 30, "64GiB"},
      {(uint64_t)3 << 40, "3TiB"},
      {UINT64_MAX, "16EiB"},
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    loom__topo_size(b, sizeof(b), cases[i].bytes);
    assert_string_equal(b, cases[i].text);
  }
  loom__topo_size(b, 3, (uint64_t)64 << 30); /* cut, still terminated */
  assert_string_equal(b, "64");
}

static char *json_of(const char *s, size_t max) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  assert_non_null(f);
  loom__json_string_n(f, s, max);
  fclose(f);
  return text;
}

static void test_json_string_escapes_and_stays_in_bounds(void **st) {
  (void)st;
  char *t;
  const char unterminated[4] = {'a', 'b', 'c', 'd'};

  t = json_of("a\"b\\c\nd\x01", 64);
  assert_string_equal(t, "\"a\\\"b\\\\c\\u000ad\\u0001\"");
  free(t);
  t = json_of(unterminated, sizeof(unterminated));
  assert_string_equal(t, "\"abcd\"");
  free(t);
  t = json_of("caf\xc3\xa9 \xff", 64); /* valid UTF-8 kept, 0xff replaced */
  assert_string_equal(t, "\"caf\xc3\xa9 \\ufffd\"");
  free(t);
  t = json_of("\xc3\xa9", 1); /* a sequence cut by the bound */
  assert_string_equal(t, "\"\\ufffd\"");
  free(t);
  t = json_of(NULL, 8);
  assert_string_equal(t, "\"\"");
  free(t);
}

/* Two profiles as rank 0 would have gathered them. */
static void two_profiles(struct loom_profile p[2]) {
  memset(p, 0, 2 * sizeof(*p));
  p[0].rank = 0;
  snprintf(p[0].host, sizeof(p[0].host), "node-a");
  snprintf(p[0].cpuset, sizeof(p[0].cpuset), "0-7");
  p[0].cores = 4;
  p[0].pus = 8;
  p[0].numa_nodes = 1;
  p[0].numa_mem = (uint64_t)64 << 30;
  p[0].l2 = 1 << 20;
  p[0].l3 = 32 << 20;
  p[0].cpukind = 1;
  p[0].cpukinds = 2;
  p[0].weight = 5.0;
  snprintf(p[0].source, sizeof(p[0].source), "synthetic");
  p[1].rank = 1;
  /* A host with a quote, a backslash, a newline and a stray byte; a notes
   * field with no NUL at all. */
  snprintf(p[1].host, sizeof(p[1].host), "b\"\\\n\xff");
  p[1].cores = 2;
  p[1].pus = 2;
  p[1].numa_nodes = 1;
  p[1].cpukind = -1;
  p[1].weight = 2.5;
  snprintf(p[1].source, sizeof(p[1].source), "this-system");
  memset(p[1].notes, 'n', sizeof(p[1].notes));
}

static char *print_to_text(const struct loom_profile *p, int n, int json) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);

  assert_non_null(f);
  loom_profile_print(f, p, n, json);
  fclose(f);
  return text;
}

static void expect_contains(const char *text, const char *want) {
  if (!strstr(text, want))
    fail_msg("missing '%s' in:\n%s", want, text);
}

static void test_table_has_a_header_and_one_line_per_rank(void **st) {
  (void)st;
  struct loom_profile p[2];
  char *text, *line2;
  int lines = 0;

  two_profiles(p);
  text = print_to_text(p, 2, 0);
  for (char *c = text; *c; c++)
    lines += *c == '\n';
  assert_int_equal(lines, 3); /* the newline in a host does not split a row */
  assert_int_equal(strncmp(text, "rank  host", 10), 0);
  expect_contains(text, "cpuset  cores    pus  numa       mem        l2"
                        "        l3  kind  weight  notes\n");
  expect_contains(text, "node-a");
  expect_contains(text, "64GiB");
  expect_contains(text, "1MiB");
  expect_contains(text, "32MiB");
  expect_contains(text, "5.00");
  expect_contains(text, "2.50");
  expect_contains(text, "b\"\\?\xff"); /* a control byte as '?' */
  line2 = strchr(strchr(text, '\n') + 1, '\n') + 1;
  /* Unknown sizes, kind and cpuset read "-"; a row ends with its notes. */
  expect_contains(line2, "  -  ");
  expect_contains(line2, "nnnn\n");
  assert_null(strstr(text, "(null)"));
  free(text);

  text = print_to_text(p, 0, 0); /* no ranks: the header alone */
  assert_int_equal(strncmp(text, "rank", 4), 0);
  assert_int_equal(strchr(text, '\n')[1], '\0');
  free(text);
}

/* Where python3 is installed, it must load the JSON and find our values. */
static void python_agrees(const char *json) {
  char path[] = "/tmp/loom-test-topo-XXXXXX", cmd[2048];
  int fd;
  FILE *f;

  if (system("command -v python3 >/dev/null 2>&1") != 0)
    return;
  fd = mkstemp(path);
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
  snprintf(
      cmd, sizeof(cmd),
      "python3 -c 'import json, sys\n"
      "d = json.load(open(sys.argv[1], encoding=\"utf-8\"))\n"
      "assert [p[\"rank\"] for p in d] == [0, 1], d\n"
      "assert d[0][\"host\"] == \"node-a\"\n"
      "assert d[0][\"numa_mem\"] == 64 << 30 and d[0][\"l3\"] == 32 << 20\n"
      "assert d[0][\"cpukind\"] == 1 and d[0][\"cpukinds\"] == 2\n"
      "assert d[0][\"weight\"] == 5 and d[1][\"weight\"] == 2.5\n"
      "assert d[1][\"host\"] == \"b\\\"\\\\\\n\\ufffd\", d[1][\"host\"]\n"
      "assert d[1][\"notes\"] == \"n\" * 160\n"
      "keys = {\"rank\", \"host\", \"cpuset\", \"cores\", \"pus\",\n"
      "  \"numa_nodes\", \"numa_mem\", \"l2\", \"l3\", \"cpukind\",\n"
      "  \"cpukinds\", \"weight\", \"source\", \"notes\"}\n"
      "assert all(set(p) == keys for p in d)\n"
      "' '%s'",
      path);
  assert_int_equal(system(cmd), 0);
  unlink(path);
}

static void test_json_has_every_field_escaped(void **st) {
  (void)st;
  struct loom_profile p[2];
  char *text;

  two_profiles(p);
  text = print_to_text(p, 2, 1);
  assert_int_equal(text[0], '[');
  expect_contains(text, "\"cores\": 4, \"pus\": 8, \"numa_nodes\": 1, "
                        "\"numa_mem\": 68719476736, \"l2\": 1048576");
  expect_contains(text, "\"host\": \"b\\\"\\\\\\u000a\\ufffd\"");
  expect_contains(text, "\"source\": \"this-system\"");
  python_agrees(text);
  free(text);

  text = print_to_text(p, 0, 1);
  assert_string_equal(text, "[]\n");
  free(text);
  p[0].weight = NAN; /* JSON has no NaN */
  text = print_to_text(p, 1, 1);
  expect_contains(text, "\"weight\": 0,");
  free(text);
}

static void test_json_of_a_probed_profile_parses(void **st) {
  (void)st;
  struct loom_profile p;
  char *text;

  use_xml("topo-hybrid.xml");
  p = probe(NULL, NULL);
  text = print_to_text(&p, 1, 1);
  expect_contains(text, "\"cpuset\": \"0-4,6,8,10\"");
  expect_contains(text, "\"cpukinds\": 2");
  expect_contains(text, "\"weight\": 6.5");
  free(text);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_probe_counts_the_whole_synthetic_machine),
      TEST(test_probe_counts_only_the_cpuset_it_is_given),
      TEST(test_probe_counts_a_core_once_when_one_thread_is_bound),
      TEST(test_probe_counts_every_numa_node_a_cpuset_touches),
      TEST(test_probe_reads_the_two_package_xml),
      TEST(test_probe_of_a_cacheless_machine_notes_the_caches),
      TEST(test_probe_notes_numa_memory_it_cannot_know),
      TEST(test_probe_reads_the_cpu_kind_of_the_binding),
      TEST(test_a_little_core_weighs_half_a_big_one),
      TEST(test_a_binding_across_cpu_kinds_has_no_kind),
      TEST(test_a_cpuset_too_long_for_its_field_ends_in_dots),
      TEST(test_bad_loom_topology_is_an_error_naming_it),
      TEST(test_bad_loom_cpuset_is_an_error_naming_it),
      TEST(test_probe_without_a_profile_is_einval),
      TEST(test_loom_topology_wins_over_hwloc_variables),
      TEST(test_an_ignored_hwloc_xmlfile_is_noted),
      TEST(test_a_fake_from_hwloc_synthetic_is_named),
      TEST(test_hwloc_thissystem_does_not_bind_a_fake),
      TEST(test_probe_of_this_machine_is_sane),
      TEST(test_weight_model_by_hand),
      TEST(test_sizes_read_like_lstopo),
      TEST(test_json_string_escapes_and_stays_in_bounds),
      TEST(test_table_has_a_header_and_one_line_per_rank),
      TEST(test_json_has_every_field_escaped),
      TEST(test_json_of_a_probed_profile_parses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
