/* fuzz_cli.c - libFuzzer target: `loom run`'s command line
 * (engine/cli/flags.c, run.c) and the options it builds, checked as
 * loom_new() checks them. The input is argv, its words split at NUL bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1), *argv[66];
  int argc = 2, status;

  if (!buf)
    return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  argv[0] = "loom";
  argv[1] = "run";
  for (size_t i = 0; i < size && argc < 65;) {
    argv[argc++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  argv[argc] = NULL;
  status = loom_cli_run_parse(argc, argv);
  if (status != -1 && status != CLI_OK && status != CLI_USAGE)
    abort();
  free(buf);
  return 0;
}
