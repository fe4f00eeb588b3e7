/* topo.c - hardware probes with hwloc (topo.h; loom.h "Hardware profiles").
 *
 * Invariant: every count is taken inside the binding cpuset ANDed with the
 * topology's cpuset, so an unbound rank counts the whole machine and a bound
 * one its share. A fake machine (LOOM_TOPOLOGY) goes through hwloc's API,
 * never its environment variables, so a bad one is an error and not a silent
 * fallback to the real machine. loom_new() probes every rank, the master
 * gathers the profiles and weights its workers by them; `loom topo` prints
 * them.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>

#include "common/common.h"
#include "common/json.h"
#include "hw/topo.h"

/* ---- hardware profiles -------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;

  if (!err || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void add_note(struct loom_profile *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one human note, "; " between notes. A note that does not fit is
 * cut and the field ends in "...", so a reader sees that text is missing. */
static void add_note(struct loom_profile *p, const char *fmt, ...) {
  size_t used = strnlen(p->notes, sizeof(p->notes) - 1), left;
  va_list ap;
  int n;

  p->notes[used] = '\0';
  if (used > 0 && used + 2 < sizeof(p->notes)) {
    memcpy(p->notes + used, "; ", 3);
    used += 2;
  }
  left = sizeof(p->notes) - used;
  if (left <= 1) {
    n = 1;
  } else {
    va_start(ap, fmt);
    n = vsnprintf(p->notes + used, left, fmt, ap);
    va_end(ap);
  }
  if (n < 0 || (size_t)n >= left)
    memcpy(p->notes + sizeof(p->notes) - 4, "...", 4);
}

static int env_given(const char *name) {
  const char *v = getenv(name);
  return v && *v;
}

/* Loads the topology: LOOM_TOPOLOGY's fake machine or this one. hwloc's own
 * HWLOC_XMLFILE/HWLOC_SYNTHETIC lose against the API, and when they are set
 * without LOOM_TOPOLOGY but hwloc ignored them, a note says so. *fake is
 * set when the topology is not this machine (no binding to ask for). */
static int load(hwloc_topology_t topo, struct loom_profile *p, int *fake,
                char *err, size_t errlen) {
  const char *spec = getenv("LOOM_TOPOLOGY"), *src, *backend;
  int r;

  *fake = 0;
  if (!spec) {
    if (hwloc_topology_load(topo) != 0) {
      set_err(err, errlen, "hwloc cannot load this machine's topology: %s",
              strerror(errno));
      return LOOM_ESYS;
    }
    if (hwloc_topology_is_thissystem(topo)) {
      if (env_given("HWLOC_XMLFILE"))
        add_note(p, "HWLOC_XMLFILE ignored by hwloc: real machine used");
      if (env_given("HWLOC_SYNTHETIC"))
        add_note(p, "HWLOC_SYNTHETIC ignored by hwloc: real machine used");
      snprintf(p->source, sizeof(p->source), "this-system");
      return 0;
    }
    /* hwloc took a fake machine from its own environment variables. */
    *fake = 1;
    backend = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo), "Backend");
    if (env_given("HWLOC_XMLFILE")) {
      src = "xml";
      add_note(p, "topology from HWLOC_XMLFILE");
    } else if (env_given("HWLOC_SYNTHETIC")) {
      src = "synthetic";
      add_note(p, "topology from HWLOC_SYNTHETIC");
    } else {
      src = backend && strcmp(backend, "Synthetic") == 0 ? "synthetic" : "xml";
    }
    snprintf(p->source, sizeof(p->source), "%s", src);
    return 0;
  }

  if (strncmp(spec, "xml:", 4) == 0) {
    src = "xml";
    r = hwloc_topology_set_xml(topo, spec + 4);
  } else if (strncmp(spec, "synthetic:", 10) == 0) {
    src = "synthetic";
    r = hwloc_topology_set_synthetic(topo, spec + 10);
  } else {
    set_err(err, errlen,
            "LOOM_TOPOLOGY='%s': expected xml:PATH or synthetic:DESCRIPTION",
            spec);
    return LOOM_EINVAL;
  }
  if (r != 0 || hwloc_topology_load(topo) != 0) {
    set_err(err, errlen, "LOOM_TOPOLOGY='%s': hwloc cannot load it", spec);
    return LOOM_EINVAL;
  }
  /* A fake that applied is not "this system", unless HWLOC_THISSYSTEM
   * says so; then binding queries would describe the real machine, so the
   * fake is still treated as one. */
  if (hwloc_topology_is_thissystem(topo)) {
    if (!env_given("HWLOC_THISSYSTEM")) {
      set_err(err, errlen,
              "LOOM_TOPOLOGY='%s': hwloc loaded this machine instead", spec);
      return LOOM_EINVAL;
    }
    add_note(p, "HWLOC_THISSYSTEM set: ignored for the fake topology");
  }
  *fake = 1;
  snprintf(p->source, sizeof(p->source), "%s", src);
  return 0;
}

/* LOOM_CPUSET's grammar: N or N-M (N <= M), joined by commas, nothing else.
 * hwloc's own parser is lenient ("0-3x" reads as 0-3, "0-" is infinite),
 * and a typo must be an error, not a different binding. Numbers are capped
 * at 7 digits so a typo cannot make hwloc allocate a huge bitmap. */
static int cpuset_list_valid(const char *s) {
  for (;;) {
    unsigned long lo, hi;
    char *end;

    if (*s < '0' || *s > '9' || strspn(s, "0123456789") > 7)
      return 0;
    lo = strtoul(s, &end, 10);
    hi = lo;
    s = end;
    if (*s == '-') {
      s++;
      if (*s < '0' || *s > '9' || strspn(s, "0123456789") > 7)
        return 0;
      hi = strtoul(s, &end, 10);
      s = end;
    }
    if (hi < lo)
      return 0;
    if (*s == '\0')
      return 1;
    if (*s != ',')
      return 0;
    s++;
  }
}

/* The binding: LOOM_CPUSET, else what hwloc reports for this process on
 * the real machine, else (fake machine) all of it. */
static int binding(hwloc_topology_t topo, int fake, hwloc_bitmap_t set,
                   struct loom_profile *p, char *err, size_t errlen) {
  hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(topo);
  const char *list = getenv("LOOM_CPUSET");
  char have[64];

  if (list) {
    if (!cpuset_list_valid(list) || hwloc_bitmap_list_sscanf(set, list) != 0) {
      set_err(err, errlen,
              "LOOM_CPUSET='%s': expected a list of PU numbers like 0-3,8",
              list);
      return LOOM_EINVAL;
    }
    if (hwloc_bitmap_iszero(set) || !hwloc_bitmap_isincluded(set, all)) {
      hwloc_bitmap_list_snprintf(have, sizeof(have), all);
      set_err(err, errlen,
              "LOOM_CPUSET='%s': not inside the topology's PUs (%s)", list,
              have);
      return LOOM_EINVAL;
    }
    return 0;
  }
  if (fake) {
    add_note(p, "fake topology: no binding, whole machine");
    if (hwloc_bitmap_copy(set, all) != 0) {
      set_err(err, errlen, "out of memory");
      return LOOM_ENOMEM;
    }
    return 0;
  }
  if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0) {
    add_note(p, "binding unknown (%s): whole machine", strerror(errno));
    hwloc_bitmap_copy(set, all);
  }
  hwloc_bitmap_and(set, set, all);
  if (hwloc_bitmap_iszero(set)) {
    add_note(p, "binding outside the topology: whole machine");
    hwloc_bitmap_copy(set, all);
  }
  return 0;
}

/* Cores with at least one PU in the binding, and the PUs in it. */
static void count(hwloc_topology_t topo, hwloc_const_bitmap_t set,
                  struct loom_profile *p) {
  hwloc_obj_t o = NULL;

  p->pus = hwloc_get_nbobjs_inside_cpuset_by_type(topo, set, HWLOC_OBJ_PU);
  p->cores = 0;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_CORE, o)) != NULL)
    if (o->cpuset && hwloc_bitmap_intersects(o->cpuset, set))
      p->cores++;
  if (p->cores == 0) {
    p->cores = p->pus;
    add_note(p, "no cores in the topology: one per PU");
  }
}

/* The NUMA nodes the binding touches, and their local memory. */
static int numa(hwloc_topology_t topo, hwloc_const_bitmap_t set,
                struct loom_profile *p) {
  hwloc_bitmap_t nodes = hwloc_bitmap_alloc();
  hwloc_obj_t o = NULL;
  int unknown = 0;

  if (!nodes)
    return LOOM_ENOMEM;
  hwloc_cpuset_to_nodeset(topo, set, nodes);
  p->numa_nodes = 0;
  p->numa_mem = 0;
  while ((o = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, o))) {
    if (!hwloc_bitmap_isset(nodes, o->os_index))
      continue;
    p->numa_nodes++;
    if (o->attr && o->attr->numanode.local_memory > 0)
      p->numa_mem += o->attr->numanode.local_memory;
    else
      unknown = 1;
  }
  hwloc_bitmap_free(nodes);
  if (p->numa_nodes == 0) {
    p->numa_nodes = 1;
    unknown = 1;
    add_note(p, "no NUMA node found: 1 assumed");
  }
  if (unknown || p->numa_mem == 0) {
    p->numa_mem = 0;
    add_note(p, "NUMA memory unknown");
  }
  return 0;
}

static uint64_t cache_size(hwloc_topology_t topo, hwloc_obj_t pu,
                           hwloc_obj_type_t type, const char *name,
                           struct loom_profile *p) {
  hwloc_obj_t c = hwloc_get_ancestor_obj_by_type(topo, type, pu);

  if (!c) {
    add_note(p, "no %s in the topology", name);
    return 0;
  }
  if (!c->attr || c->attr->cache.size == 0) {
    add_note(p, "%s size unknown", name);
    return 0;
  }
  return c->attr->cache.size;
}

/* L2 and L3 above the binding's first PU. */
static void caches(hwloc_topology_t topo, hwloc_const_bitmap_t set,
                   struct loom_profile *p) {
  int first = hwloc_bitmap_first(set);
  hwloc_obj_t pu =
      first < 0 ? NULL : hwloc_get_pu_obj_by_os_index(topo, (unsigned)first);

  if (!pu) {
    add_note(p, "first PU not found: caches unknown");
    return;
  }
  p->l2 = cache_size(topo, pu, HWLOC_OBJ_L2CACHE, "L2", p);
  p->l3 = cache_size(topo, pu, HWLOC_OBJ_L3CACHE, "L3", p);
}

/* The binding's CPU kind. hwloc ranks kinds by efficiency, 0 the least
 * efficient; with one kind or none there is nothing to tell apart. */
static void kinds(hwloc_topology_t topo, hwloc_const_bitmap_t set,
                  struct loom_profile *p) {
  int nr = hwloc_cpukinds_get_nr(topo, 0), idx, eff = -1, r;

  p->cpukinds = nr > 0 ? nr : 0;
  p->cpukind = -1;
  if (nr <= 1)
    return;
  idx = hwloc_cpukinds_get_by_cpuset(topo, set, 0);
  if (idx < 0) {
    if (errno == EXDEV)
      add_note(p, "binding spans cpukinds: kind factor 1");
    else
      add_note(p, "cpukind of the binding unknown");
    return;
  }
  r = hwloc_cpukinds_get_info(topo, (unsigned)idx, NULL, &eff, NULL, NULL, 0);
  if (r != 0 || eff < 0) {
    add_note(p, "cpukind efficiency unknown");
    return;
  }
  p->cpukind = eff;
}

int loom__topo_open(hwloc_topology_t *topo, hwloc_bitmap_t *set, int *fake,
                    struct loom_profile *p, char *err, size_t errlen) {
  int rc;

  *set = NULL;
  *fake = 0;
  if (hwloc_topology_init(topo) != 0) {
    set_err(err, errlen, "hwloc_topology_init failed: %s", strerror(errno));
    *topo = NULL;
    return LOOM_ESYS;
  }
  rc = load(*topo, p, fake, err, errlen);
  if (rc == 0) {
    *set = hwloc_bitmap_alloc();
    if (!*set) {
      set_err(err, errlen, "out of memory");
      rc = LOOM_ENOMEM;
    }
  }
  if (rc == 0)
    rc = binding(*topo, *fake, *set, p, err, errlen);
  if (rc != 0) {
    hwloc_bitmap_free(*set);
    hwloc_topology_destroy(*topo);
    *set = NULL;
    *topo = NULL;
  }
  return rc;
}

int loom_profile_probe(struct loom_profile *p, char *err, size_t errlen) {
  hwloc_topology_t topo = NULL;
  hwloc_bitmap_t set = NULL;
  int rc, fake = 0;
  size_t n;

  set_err(err, errlen, "%s", "");
  if (!p) {
    set_err(err, errlen, "no profile to fill");
    return LOOM_EINVAL;
  }
  memset(p, 0, sizeof(*p));
  p->cpukind = -1;
  p->numa_nodes = 1;
  if (gethostname(p->host, sizeof(p->host)) != 0)
    snprintf(p->host, sizeof(p->host), "unknown");
  p->host[sizeof(p->host) - 1] = '\0';

  rc = loom__topo_open(&topo, &set, &fake, p, err, errlen);
  if (rc != 0)
    goto out;

  /* A list longer than the field ends in "..." rather than a cut number. */
  n = (size_t)hwloc_bitmap_list_snprintf(p->cpuset, sizeof(p->cpuset), set);
  if (n >= sizeof(p->cpuset))
    memcpy(p->cpuset + sizeof(p->cpuset) - 4, "...", 4);
  count(topo, set, p);
  rc = numa(topo, set, p);
  if (rc != 0) {
    set_err(err, errlen, "out of memory");
    goto out;
  }
  caches(topo, set, p);
  kinds(topo, set, p);
  p->weight = loom_profile_weight(p);

out:
  hwloc_bitmap_free(set);
  if (topo)
    hwloc_topology_destroy(topo);
  if (rc != 0)
    memset(p, 0, sizeof(*p));
  return rc;
}

/* The weight model, a rank's capacity relative to one plain core:
 *
 *   weight = (cores + 0.25 * smt_cores) * kind_factor
 *
 * - Each core of the binding counts 1.0, or 1.25 when 2 or more of its
 *   hardware threads are in the binding (SMT gives about 25% more
 *   throughput, not 100%). From counts alone: smt_cores = min(cores,
 *   pus - cores), exact when no core has more than 2 threads bound.
 * - kind_factor, on machines with K > 1 CPU kinds (hwloc cpukinds, ranked
 *   by efficiency 0..K-1): 0.5 + 0.5 * efficiency / (K - 1), so the least
 *   efficient kind (E-cores) counts half and the most efficient one (P-cores)
 *   full. 1.0 when the kind is unknown (one kind, no information, or a
 *   binding that spans kinds).
 * - A profile without cores (cores <= 0) weighs 1.0: never zero, so a rank
 *   with unknown hardware still gets work.
 */
double loom_profile_weight(const struct loom_profile *p) {
  double kind_factor = 1.0;
  int smt;

  if (!p || p->cores <= 0)
    return 1.0;
  smt = p->pus > p->cores ? p->pus - p->cores : 0;
  if (smt > p->cores)
    smt = p->cores;
  if (p->cpukinds > 1 && p->cpukind >= 0) {
    int eff = p->cpukind < p->cpukinds ? p->cpukind : p->cpukinds - 1;
    kind_factor = 0.5 + 0.5 * (double)eff / (double)(p->cpukinds - 1);
  }
  return ((double)p->cores + 0.25 * (double)smt) * kind_factor;
}

/* 1. Rank 0 allocates the array and broadcasts whether it could, so on
 *    failure every rank returns LOOM_ENOMEM instead of some waiting in the
 *    gather. 2. Every rank sends its profile as bytes: all ranks run the same
 *    build, so the layout agrees. */
int loom_profile_gather(MPI_Comm comm, const struct loom_profile *mine,
                        struct loom_profile **all) {
  struct loom_profile me, *buf = NULL;
  int rank, size, ok = 1, rc;

  if (all)
    *all = NULL;
  if (!mine || !all)
    return LOOM_EINVAL;
  rc = LOOM_MPI(MPI_Comm_rank(comm, &rank));
  if (rc == 0)
    rc = LOOM_MPI(MPI_Comm_size(comm, &size));
  if (rc != 0)
    return rc;
  memcpy(&me, mine, sizeof(me));
  me.rank = rank;
  if (rank == 0) {
    buf = malloc((size_t)size * sizeof(*buf));
    ok = buf != NULL;
  }
  rc = LOOM_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  if (rc != 0)
    goto out;
  if (!ok) {
    rc = LOOM_ENOMEM;
    goto out;
  }
  rc = LOOM_MPI(MPI_Gather(&me, (int)sizeof(me), MPI_BYTE, buf, (int)sizeof(me),
                           MPI_BYTE, 0, comm));
  if (rc != 0)
    goto out;
  if (rank == 0 && buf) {
    /* Strings from other ranks end inside their fields, whatever came. */
    for (int i = 0; i < size; i++) {
      buf[i].host[sizeof(buf[i].host) - 1] = '\0';
      buf[i].cpuset[sizeof(buf[i].cpuset) - 1] = '\0';
      buf[i].source[sizeof(buf[i].source) - 1] = '\0';
      buf[i].notes[sizeof(buf[i].notes) - 1] = '\0';
    }
    *all = buf;
    buf = NULL;
  }
out:
  free(buf);
  return rc;
}

/* ---- printing ----------------------------------------------------------- */

void loom__topo_size(char *buf, size_t len, uint64_t bytes) {
  static const char *const units[] = {"B",   "KiB", "MiB", "GiB",
                                      "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  size_t u = 0;

  if (!buf || len == 0)
    return;
  if (bytes == 0) {
    snprintf(buf, len, "-");
    return;
  }
  while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024;
    u++;
  }
  snprintf(buf, len, "%.4g%s", v, units[u]);
}

/* A field for the table: at most max bytes of s, control characters as
 * '?' so a row stays one line, "-" for an empty field. */
static void cell(char *buf, size_t len, const char *s, size_t max) {
  size_t i;

  for (i = 0; i + 1 < len && i < max && s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[i] = s[i];
    if (c < 0x20 || c == 0x7f)
      buf[i] = '?';
  }
  buf[i] = '\0';
  if (i == 0)
    snprintf(buf, len, "-");
}

static void print_json(FILE *out, const struct loom_profile *all, int n) {
  fputs("[", out);
  for (int i = 0; i < n; i++) {
    const struct loom_profile *p = &all[i];
    double w = isfinite(p->weight) ? p->weight : 0;

    fprintf(out, "%s\n  {\"rank\": %d, \"host\": ", i ? "," : "", p->rank);
    loom__json_string_n(out, p->host, sizeof(p->host));
    fputs(", \"cpuset\": ", out);
    loom__json_string_n(out, p->cpuset, sizeof(p->cpuset));
    fprintf(out,
            ", \"cores\": %d, \"pus\": %d, \"numa_nodes\": %d, "
            "\"numa_mem\": %" PRIu64 ", \"l2\": %" PRIu64 ", \"l3\": %" PRIu64
            ", \"cpukind\": %d, \"cpukinds\": %d, \"weight\": %.6g, "
            "\"source\": ",
            p->cores, p->pus, p->numa_nodes, p->numa_mem, p->l2, p->l3,
            p->cpukind, p->cpukinds, w);
    loom__json_string_n(out, p->source, sizeof(p->source));
    fputs(", \"notes\": ", out);
    loom__json_string_n(out, p->notes, sizeof(p->notes));
    fputs("}", out);
  }
  fputs(n > 0 ? "\n]\n" : "]\n", out);
}

static void print_table(FILE *out, const struct loom_profile *all, int n) {
  char host[sizeof(all->host) + 1], cpuset[sizeof(all->cpuset) + 1];
  char notes[sizeof(all->notes) + 1], mem[32], l2[32], l3[32], kind[16];
  int wh = 4, wc = 6;

  for (int i = 0; i < n; i++) {
    cell(host, sizeof(host), all[i].host, sizeof(all[i].host));
    cell(cpuset, sizeof(cpuset), all[i].cpuset, sizeof(all[i].cpuset));
    if ((int)strlen(host) > wh)
      wh = (int)strlen(host);
    if ((int)strlen(cpuset) > wc)
      wc = (int)strlen(cpuset);
  }
  fprintf(out, "%4s  %-*s  %-*s  %5s  %5s  %4s  %8s  %8s  %8s  %4s  %6s  %s\n",
          "rank", wh, "host", wc, "cpuset", "cores", "pus", "numa", "mem", "l2",
          "l3", "kind", "weight", "notes");
  for (int i = 0; i < n; i++) {
    const struct loom_profile *p = &all[i];

    cell(host, sizeof(host), p->host, sizeof(p->host));
    cell(cpuset, sizeof(cpuset), p->cpuset, sizeof(p->cpuset));
    cell(notes, sizeof(notes), p->notes, sizeof(p->notes));
    loom__topo_size(mem, sizeof(mem), p->numa_mem);
    loom__topo_size(l2, sizeof(l2), p->l2);
    loom__topo_size(l3, sizeof(l3), p->l3);
    if (p->cpukind >= 0)
      snprintf(kind, sizeof(kind), "%d", p->cpukind);
    else
      snprintf(kind, sizeof(kind), "-");
    fprintf(out,
            "%4d  %-*s  %-*s  %5d  %5d  %4d  %8s  %8s  %8s  %4s  %6.2f  %s\n",
            p->rank, wh, host, wc, cpuset, p->cores, p->pus, p->numa_nodes, mem,
            l2, l3, kind, isfinite(p->weight) ? p->weight : 0.0, notes);
  }
}

void loom_profile_print(FILE *out, const struct loom_profile *p, int n,
                        int json) {
  if (!out)
    return;
  if (!p || n < 0)
    n = 0;
  if (json)
    print_json(out, p, n);
  else
    print_table(out, p, n);
}
