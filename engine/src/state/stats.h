/* stats.h - what a run did with the state table, for report.json.
 * Apart from state.h so that the journal layer can write it without
 * knowing the table.
 */
#ifndef LOOM_STATE_STATS_H
#define LOOM_STATE_STATS_H

#include <stdint.h>

/* Operations by kind (rank 0's figures are summed over ranks at the
 * end). */
enum {
  LOOM__SOP_PUT,
  LOOM__SOP_GET,
  LOOM__SOP_DEL,
  LOOM__SOP_CAS,
  LOOM__SOP_ADD,
  LOOM__SOP_MIN,
  LOOM__SOP_MAX,
  LOOM__SOP_WAIT,
  LOOM__SOP_N
};

struct loom__state_stats {
  int mode;
  uint64_t ops[LOOM__SOP_N]; /* calls, by kind, all ranks */
  uint64_t messages;         /* state messages sent, all ranks */
  uint64_t bytes;            /* their bytes */
  uint64_t keys;             /* keys in the final table (not deleted) */
  uint64_t digest;           /* of the final table (rank 0's) */
  int converged;             /* every replica had the same digest */
  int repairs;               /* anti-entropy rounds the end needed */
  uint64_t journaled;        /* changes rank 0 wrote to state.log */
  char error[256];           /* what went wrong, "" when nothing */
};

const char *loom__state_op_name(int op);

#endif /* LOOM_STATE_STATS_H */
