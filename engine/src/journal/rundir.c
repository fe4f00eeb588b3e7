/* rundir.c - creating the run directory without ever reusing an old one.
 *
 * The default name is loom-run-YYYYMMDD-HHMMSS, then -1, -2, ... : mkdir()
 * is atomic, so two runs started in the same second still get two names. An
 * explicit path may be new or an empty directory; one holding a joblog.tsv
 * or report.json is an earlier run and is refused. Missing parent folders
 * are created (mkdir -p). The lock (rundir.h) says which process owns a run
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "journal/joblog.h"
#include "journal/rundir.h"

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

/* Creates every missing folder above path (not path itself), as mkdir -p
 * does. Returns 0, or -1 with errno set. */
static int make_parents(const char *path) {
  char p[PATH_MAX];
  size_t n = strlen(path);

  if (n >= sizeof(p))
    return errno = ENAMETOOLONG, -1;
  memcpy(p, path, n + 1);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      return -1;
    *s = '/';
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

  if (!buf || buflen == 0)
    return LOOM_EINVAL;
  if (path) {
    if (strlen(path) + 1 > buflen || strlen(path) + 64 > PATH_MAX) {
      if (err)
        snprintf(err, errlen, "output directory name too long: '%s'", path);
      return LOOM_EIO;
    }
    if (make_parents(path) != 0) {
      if (err)
        snprintf(err, errlen, "cannot create output directory '%s': %s", path,
                 strerror(errno));
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
  snprintf(sub, sizeof(sub), "%s/" LOOM__LOCK_NAME, path);
  unlink(sub);
  rmdir(path);
}

/* ---- the lock ------------------------------------------------------------
 */

int loom__rundir_lock(const char *dir, double wait, int quiet, int *fd,
                      char *err, size_t errlen) {
  char path[PATH_MAX], owner[256] = "", me[256], host[64];
  double t0 = loom__now();
  int said = 0;

  *fd = -1;
  snprintf(path, sizeof(path), "%s/" LOOM__LOCK_NAME, dir);
  *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (*fd < 0) {
    if (err)
      snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return LOOM_EIO;
  }
  for (;;) {
    ssize_t n;
    if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
      break;
    if (errno != EWOULDBLOCK && errno != EINTR) {
      if (err)
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
      close(*fd);
      *fd = -1;
      return LOOM_EIO;
    }
    n = pread(*fd, owner, sizeof(owner) - 1, 0);
    owner[n > 0 ? n : 0] = '\0';
    owner[strcspn(owner, "\n")] = '\0';
    if (!owner[0])
      snprintf(owner, sizeof(owner), "another process");
    if (loom__now() - t0 >= wait) {
      if (err)
        snprintf(err, errlen,
                 "run directory '%s' is in use by another loom (%s): two runs "
                 "must not write one journal",
                 dir, owner);
      close(*fd);
      *fd = -1;
      return LOOM_EBUSY;
    }
    if (!said && !quiet)
      loom__log("run directory '%s' is in use by another loom (%s); waiting "
                "up to %g s for it to end",
                dir, owner, wait);
    said = 1;
    usleep(100000);
  }
  if (gethostname(host, sizeof(host)) != 0)
    snprintf(host, sizeof(host), "unknown");
  host[sizeof(host) - 1] = '\0';
  {
    time_t now = time(NULL);
    struct tm tm;
    char when[32];
    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(me, sizeof(me), "pid %ld on %s since %s\n", (long)getpid(), host,
             when);
  }
  if (ftruncate(*fd, 0) != 0 || pwrite(*fd, me, strlen(me), 0) < 0) {
    /* The lock holds without the note: only a message loses detail. */
  }
  return 0;
}

void loom__rundir_unlock(int fd) {
  if (fd >= 0)
    close(fd); /* drops the flock */
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
          : strncmp(head, LOOM__JOBLOG_HEADER, strlen(LOOM__JOBLOG_HEADER)) !=
                0) {
    if (err)
      snprintf(err, errlen,
               "cannot resume '%s': its joblog.tsv is not one loom wrote",
               path);
    return LOOM_ESYNTAX;
  }
  return 0;
}
