/* fuzz_taskfile.c - libFuzzer target: the task-file reader and its
 * directives and hints (engine/src/dispatch/taskfile.c). The input is a
 * task file; every task it yields is read, at most 20,000 (a repeat line
 * may ask for billions). A crash, a sanitizer report, a leak or an error
 * without its file:line message is a finding.
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("tasks", MFD_CLOEXEC);
  struct loom_taskfile *tf = NULL;
  struct loom_task_spec spec;
  char path[64], err[256];
  int rc = 0;

  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    abort();
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  if (loom_taskfile_open(path, &tf, err, sizeof(err)) != 0)
    abort();
  for (int n = 0; n < 20000 && (rc = loom_taskfile_next(tf, &spec)) == 1; n++) {
    if (spec.len > LOOM_SH_COMMAND_MAX || !spec.payload)
      abort(); /* a task the reader should have refused */
  }
  if (rc < 0 && rc != LOOM_ENOMEM && !strstr(loom_taskfile_error(tf), ":"))
    abort(); /* an error must name the file and line */
  loom_taskfile_close(tf);
  close(fd);
  return 0;
}
