/* weights.h - the user's capacity weights: "KEY=W,KEY=W,...".
 *
 * KEY is a worker's rank (a number) or a host name (every rank on it); W is
 * a finite number > 0. A rank's own entry wins over its host's; a later
 * entry for the same key wins over an earlier one. This is the one parser
 * of the spec: loom_options_check() (so loom_new() and the command line)
 * and the master use it.
 */
#ifndef LOOM_WEIGHTS_H
#define LOOM_WEIGHTS_H

#include <stddef.h>

struct loom__weight {
  char key[64]; /* a host name, or "" for a rank */
  long rank;    /* with key "" */
  double w;
};

struct loom__weights {
  struct loom__weight *e;
  size_t n, cap;
};

/* Parses spec (NULL or "" = no entries) into *out. On an error err names
 * the bad entry, escaped and cut short. Returns 0, LOOM_EINVAL or
 * LOOM_ENOMEM; *out is empty then. */
int loom__weights_parse(const char *spec, struct loom__weights *out, char *err,
                        size_t errlen);

/* The weight the user gave worker rank on host, or < 0 for none. */
double loom__weights_find(const struct loom__weights *ws, int rank,
                          const char *host);

void loom__weights_fini(struct loom__weights *ws);

#endif /* LOOM_WEIGHTS_H */
