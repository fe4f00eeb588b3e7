/* fuzz_options.c - libFuzzer target: loom_options_check() on a weights
 * spec (the input, as a string) and numeric fields drawn from the input's
 * bytes: every value is accepted or refused with a reason, never a crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct loom_options o;
  char *spec = malloc(size + 1), err[256] = "";
  double x = 0;
  int rc;

  if (!spec)
    return 0;
  memcpy(spec, data, size);
  spec[size] = '\0';
  if (size >= sizeof(x))
    memcpy(&x, data, sizeof(x));
  loom_options_init(&o);
  o.weights = spec;
  o.grace = size & 1 ? x : 30;
  o.window = size >= 12 ? (int)data[11] - 64 : 0;
  rc = loom_options_check(&o, err, sizeof(err));
  if (rc != 0 && (rc != LOOM_EINVAL || !err[0]))
    abort(); /* a refusal always says why */
  free(spec);
  return 0;
}
