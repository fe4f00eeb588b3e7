/* resume.c - reading the journal back for a resumed run (resume.h).
 *
 * Pass 1 folds the rows per task id: its key, its highest attempt, whether
 * that attempt succeeded, and whether it was dispatched without a result
 * (in flight when the run was killed). Pass 2 folds the ids per key: how
 * many are done (to be skipped), and how many attempts the others had.
 */
#include <string.h>

#include "common/common.h"
#include "journal/joblog.h"
#include "journal/resume.h"

/* Per id: u = key, a = highest attempt, b = flags. */
enum { SEEN = 1, LAST_OK = 2, DISPATCHED = 4 };

static int on_row(void *arg, const struct loom__joblog_entry *e) {
  struct loom__map *ids = arg;
  struct loom__mapval *v = loom__map_get(ids, e->id, 1);

  if (!v)
    return LOOM_ENOMEM;
  v->u = e->key;
  v->b |= SEEN;
  if ((uint32_t)e->attempt >= v->a) {
    v->a = (uint32_t)e->attempt;
    v->b = (v->b & ~(uint32_t)LAST_OK) | (e->ok ? LAST_OK : 0);
  }
  return 0;
}

static int on_dispatched(void *arg, const struct loom__joblog_entry *e) {
  struct loom__map *ids = arg;
  struct loom__mapval *v = loom__map_get(ids, e->id, 1);

  if (!v)
    return LOOM_ENOMEM;
  v->u = e->key;
  v->b |= DISPATCHED;
  return 0;
}

int loom__resume_load(struct loom__resume *r, const char *dir, int skip_failed,
                      char *err, size_t errlen) {
  struct loom__map ids = {0};
  struct loom__mapval *v, *k;
  uint64_t id;
  size_t pos = 0;
  int rc;

  memset(r, 0, sizeof(*r));
  rc = loom__joblog_read(dir, "joblog.tsv", on_row, &ids, err, errlen);
  if (rc == 0)
    rc = loom__joblog_read(dir, "dispatched.tsv", on_dispatched, &ids, err,
                           errlen);
  while (rc == 0 && loom__map_next(&ids, &pos, &id, &v)) {
    k = loom__map_get(&r->keys, v->u, 1);
    if (!k) {
      rc = LOOM_ENOMEM;
      break;
    }
    if ((v->b & SEEN) && ((v->b & LAST_OK) || skip_failed)) {
      k->a++;
      r->done++;
      continue;
    }
    if (!(v->b & SEEN)) {
      r->lost++;
      v->a = 1; /* it was handed out once: that attempt is lost */
    }
    if (v->a > k->b)
      k->b = v->a;
  }
  if (rc == LOOM_ENOMEM && err)
    snprintf(err, errlen, "out of memory reading the journal in '%s'", dir);
  loom__map_fini(&ids);
  if (rc != 0)
    loom__resume_fini(r);
  return rc;
}

int loom__resume_check(struct loom__resume *r, uint64_t key, int *attempt) {
  struct loom__mapval *k = loom__map_get(&r->keys, key, 0);

  *attempt = 1;
  if (!k)
    return 0;
  if (k->a > 0) {
    k->a--;
    r->skipped++;
    return 1;
  }
  *attempt = (int)k->b + 1;
  return 0;
}

void loom__resume_fini(struct loom__resume *r) { loom__map_fini(&r->keys); }
