/* rundir.c - creating the run directory without ever reusing an old one.
 *
 * The default name is loom-run-YYYYMMDD-HHMMSS, then -1, -2, ... : mkdir()
 * is atomic, so two runs started in the same second still get two names. An
 * explicit path may be new or an empty directory; one holding a joblog.tsv
 * or report.json is an earlier run and is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "journal/joblog.h"

static int make_out(const char *dir, char *err, size_t errlen) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/out", dir);
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    if (err)
      snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
    return LOOM_EIO;
  }
  return 0;
}

static int is_empty_dir(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  int empty = 1;

  if (!d)
    return 0;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      empty = 0;
      break;
    }
  closedir(d);
  return empty;
}

int loom_rundir_create(const char *path, char *buf, size_t buflen, char *err,
                       size_t errlen) {
  char name[PATH_MAX];

  if (path) {
    if (strlen(path) + 1 > buflen || strlen(path) + 64 > PATH_MAX) {
      if (err)
        snprintf(err, errlen, "output directory name too long: '%s'", path);
      return LOOM_EIO;
    }
    if (mkdir(path, 0777) != 0) {
      struct stat st;
      if (errno != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (err)
          snprintf(err, errlen, "cannot create output directory '%s': %s", path,
                   errno == EEXIST ? "exists and is not a directory"
                                   : strerror(errno));
        return LOOM_EIO;
      }
      if (!is_empty_dir(path)) {
        if (err)
          snprintf(err, errlen,
                   "output directory '%s' is not empty (an earlier run?); "
                   "choose another",
                   path);
        return LOOM_EEXIST;
      }
      if (access(path, W_OK | X_OK) != 0) {
        if (err)
          snprintf(err, errlen, "output directory '%s' is not writable: %s",
                   path, strerror(errno));
        return LOOM_EIO;
      }
    }
    snprintf(buf, buflen, "%s", path);
    return make_out(buf, err, errlen);
  }

  {
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];

    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    for (int i = 0; i < 10000; i++) {
      if (i == 0)
        snprintf(name, sizeof(name), "loom-run-%s", stamp);
      else
        snprintf(name, sizeof(name), "loom-run-%s-%d", stamp, i);
      if (strlen(name) + 1 > buflen) {
        if (err)
          snprintf(err, errlen, "run directory name '%s' is too long", name);
        return LOOM_EIO;
      }
      if (mkdir(name, 0777) == 0) {
        snprintf(buf, buflen, "%s", name);
        return make_out(buf, err, errlen);
      }
      if (errno != EEXIST) {
        if (err)
          snprintf(err, errlen,
                   "cannot create output directory '%s' in the current "
                   "directory: %s",
                   name, strerror(errno));
        return LOOM_EIO;
      }
    }
  }
  if (err)
    snprintf(err, errlen, "no free run directory name");
  return LOOM_EEXIST;
}

void loom_rundir_discard(const char *path) {
  char sub[PATH_MAX];

  if (!path)
    return;
  snprintf(sub, sizeof(sub), "%s/out", path);
  rmdir(sub); /* only if empty: never delete results */
  rmdir(path);
}

int loom_rundir_check_resumable(const char *path, char *err, size_t errlen) {
  char p[PATH_MAX], head[256];
  FILE *f;
  size_t n;

  snprintf(p, sizeof(p), "%s/joblog.tsv", path ? path : "");
  f = fopen(p, "r");
  if (!f) {
    if (err)
      snprintf(err, errlen, "cannot resume '%s': no joblog.tsv there (%s)",
               path ? path : "", strerror(errno));
    return LOOM_ENOENT;
  }
  n = fread(head, 1, sizeof(head) - 1, f);
  head[n] = '\0';
  fclose(f);
  /* A run killed before its header was whole left a prefix of it. */
  if (n < strlen(LOOM__JOBLOG_HEADER)
          ? strncmp(head, LOOM__JOBLOG_HEADER, n) != 0
          : strncmp(head, LOOM__JOBLOG_HEADER, strlen(LOOM__JOBLOG_HEADER))) {
    if (err)
      snprintf(err, errlen,
               "cannot resume '%s': its joblog.tsv is not one loom wrote",
               path);
    return LOOM_ESYNTAX;
  }
  return 0;
}
