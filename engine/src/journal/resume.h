/* resume.h - what an earlier run of this run directory already did.
 *
 * A resumed run reads the journal (joblog.tsv, dispatched.tsv) and skips
 * every task that already succeeded. Tasks match on their key: a hash of
 * the kind and the command text (or payload), without the position, so an
 * edited, reordered or extended task file does the right thing. A command
 * that occurs k times is done when k distinct tasks with that key are.
 * Memory grows with the journal, not with the task file.
 */
#ifndef LOOM_RESUME_H
#define LOOM_RESUME_H

#include <stdint.h>

#include "common/map.h"

struct loom__resume {
  struct loom__map keys; /* key -> a: tasks left to skip, b: attempts so far */
  uint64_t done;         /* tasks the journal holds as done */
  uint64_t lost;         /* tasks dispatched but never reported (a kill) */
  uint64_t skipped;      /* tasks this run skipped */
};

/* Loads DIR's journal. skip_failed counts tasks whose last attempt failed
 * as done too. Returns 0, LOOM_EIO, LOOM_ESYNTAX or LOOM_ENOMEM (err says
 * which file and why). */
int loom__resume_load(struct loom__resume *r, const char *dir, int skip_failed,
                      char *err, size_t errlen);

/* For the next task from the source: returns 1 when it is done already
 * (skip it), else 0 with *attempt the number its first attempt now gets
 * (1 + the attempts the journal holds, a lost one included). */
int loom__resume_check(struct loom__resume *r, uint64_t key, int *attempt);

void loom__resume_fini(struct loom__resume *r);

#endif /* LOOM_RESUME_H */
