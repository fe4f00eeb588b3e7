/* sock.c - shell tasks reach their rank's table through a local socket.
 *
 * Every rank that runs tasks listens, for the length of a run, on a Unix
 * socket in a directory of its own (mode 0700, under $TMPDIR or /tmp);
 * shell tasks find it in $LOOM_STATE_SOCKET. One connection carries one
 * call: a thread per connection makes it through the loom_state_* calls
 * (so it queues for the loop thread like a C task's call) and writes the
 * answer. loom_state_call_socket() is the other end (`loom state`).
 *
 * Request:  magic u32, op u8, flags u8 (1: expect absent), keylen u16,
 *           alen u32, blen u32, num i64, timeout f64, key, a, b
 *           (a: the value of put, the expected value of cas, the old value
 *           of wait; b: the new value of cas)
 * Answer:   rc i32, before i64, len u32, bytes (what get and wait read)
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/codec.h"
#include "common/common.h"
#include "state/internal.h"

#define MAGIC 0x4c4d5331u /* "LMS1" */
#define HEAD (4 + 1 + 1 + 2 + 4 + 4 + 8 + 8)
#define ANSWER_HEAD (4 + 8 + 4)

struct loom__sock {
  struct loom *l;
  int fd;      /* listening */
  int stop[2]; /* a pipe: the accept loop's wake-up */
  pthread_t thread;
  atomic_int active; /* connections being served */
  char dir[64];
  char path[96];
};

/* ---- both ends ---------------------------------------------------------- */

static int read_full(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

static int write_full(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* ---- the server --------------------------------------------------------- */

/* Runs one decoded request. */
static int serve_call(struct loom *l, const struct loom_state_call *c,
                      void *buf, size_t cap, size_t *len, int64_t *before) {
  switch (c->op) {
  case LOOM_STATE_OP_PUT:
    return loom_state_put(l, c->key, c->value, c->len);
  case LOOM_STATE_OP_GET:
    return loom_state_get(l, c->key, buf, cap, len);
  case LOOM_STATE_OP_DEL:
    return loom_state_del(l, c->key);
  case LOOM_STATE_OP_CAS:
    return loom_state_cas(l, c->key, c->expect_absent ? NULL : c->expect,
                          c->elen, c->value, c->len);
  case LOOM_STATE_OP_ADD:
    return loom_state_add(l, c->key, c->num, before);
  case LOOM_STATE_OP_MIN:
    return loom_state_min(l, c->key, c->num, before);
  case LOOM_STATE_OP_MAX:
    return loom_state_max(l, c->key, c->num, before);
  case LOOM_STATE_OP_WAIT:
    return loom_state_wait(l, c->key, c->expect_absent ? NULL : c->expect,
                           c->elen, c->timeout, buf, cap, len);
  default:
    return LOOM_EINVAL;
  }
}

struct conn {
  struct loom__sock *k;
  int fd;
};

/* Reads one request, runs it, answers. */
static void serve(struct loom__sock *k, int fd) {
  unsigned char head[HEAD], *body = NULL, *out = NULL;
  char key[LOOM_STATE_KEY_MAX + 1];
  struct loom_state_call c = {0};
  struct loom__cur cur;
  uint32_t magic, alen, blen;
  uint16_t keylen;
  int64_t before = 0;
  size_t len = 0;
  int rc = LOOM_EPROTO;
  uint8_t flags;

  if (read_full(fd, head, HEAD) != 0)
    return;
  loom__cur_init(&cur, head, HEAD);
  magic = loom__get_u32(&cur);
  c.op = loom__get_u8(&cur);
  flags = loom__get_u8(&cur);
  keylen = loom__get_u16(&cur);
  alen = loom__get_u32(&cur);
  blen = loom__get_u32(&cur);
  c.num = loom__get_i64(&cur);
  c.timeout = loom__get_f64(&cur);
  if (magic == MAGIC && keylen >= 1 && keylen <= LOOM_STATE_KEY_MAX &&
      alen <= LOOM_STATE_VALUE_MAX && blen <= LOOM_STATE_VALUE_MAX &&
      (body = malloc((size_t)keylen + alen + blen + 1)) &&
      (out = malloc(LOOM_STATE_VALUE_MAX)) &&
      read_full(fd, body, (size_t)keylen + alen + blen) == 0) {
    memcpy(key, body, keylen);
    key[keylen] = '\0';
    c.key = key;
    c.expect_absent = flags & 1;
    if (c.op == LOOM_STATE_OP_PUT) {
      c.value = body + keylen;
      c.len = alen;
    } else {
      c.expect = body + keylen;
      c.elen = alen;
      c.value = body + keylen + alen;
      c.len = blen;
    }
    rc = strlen(key) != keylen
             ? LOOM_EINVAL
             : serve_call(k->l, &c, out, LOOM_STATE_VALUE_MAX, &len, &before);
  }
  {
    unsigned char answer[ANSWER_HEAD];
    uint32_t n = rc == 0 ? (uint32_t)len : 0;
    int32_t code = rc;
    memcpy(answer, &code, 4);
    memcpy(answer + 4, &before, 8);
    memcpy(answer + 12, &n, 4);
    if (write_full(fd, answer, sizeof(answer)) == 0 && n > 0)
      write_full(fd, out, n);
  }
  free(body);
  free(out);
}

static void *conn_main(void *arg) {
  struct conn *c = arg;
  serve(c->k, c->fd);
  close(c->fd);
  atomic_fetch_sub(&c->k->active, 1);
  free(c);
  return NULL;
}

static void *accept_main(void *arg) {
  struct loom__sock *k = arg;

  for (;;) {
    struct pollfd p[2] = {{k->fd, POLLIN, 0}, {k->stop[0], POLLIN, 0}};
    struct conn *c;
    pthread_t t;
    int fd;

    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return NULL;
    }
    if (p[1].revents)
      return NULL;
    fd = accept4(k->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    c = malloc(sizeof(*c));
    if (!c) {
      close(fd);
      continue;
    }
    c->k = k;
    c->fd = fd;
    atomic_fetch_add(&k->active, 1);
    if (pthread_create(&t, NULL, conn_main, c) != 0) {
      atomic_fetch_sub(&k->active, 1);
      close(fd);
      free(c);
      continue;
    }
    pthread_detach(t);
  }
}

int loom__sock_start(struct loom *l, struct loom__sock **out) {
  const char *tmp = getenv("TMPDIR");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  struct loom__sock *k = calloc(1, sizeof(*k));

  *out = NULL;
  if (!k)
    return LOOM_ENOMEM;
  k->l = l;
  k->fd = k->stop[0] = k->stop[1] = -1;
  atomic_init(&k->active, 0);
  /* A short path: sun_path holds 108 bytes. */
  if (!tmp || !*tmp || strlen(tmp) > 40)
    tmp = "/tmp";
  snprintf(k->dir, sizeof(k->dir), "%s/loom-XXXXXX", tmp);
  if (!mkdtemp(k->dir)) {
    free(k);
    return LOOM_ESYS;
  }
  snprintf(k->path, sizeof(k->path), "%s/state", k->dir);
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", k->path);
  k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (k->fd < 0 || bind(k->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      listen(k->fd, 64) != 0 || pipe2(k->stop, O_CLOEXEC) != 0 ||
      pthread_create(&k->thread, NULL, accept_main, k) != 0) {
    if (k->fd >= 0)
      close(k->fd);
    if (k->stop[0] >= 0) {
      close(k->stop[0]);
      close(k->stop[1]);
    }
    unlink(k->path);
    rmdir(k->dir);
    free(k);
    return LOOM_ESYS;
  }
  *out = k;
  return 0;
}

const char *loom__sock_path(const struct loom__sock *k) {
  return k ? k->path : "";
}

void loom__sock_stop(struct loom__sock *k, int (*drive)(void *), void *arg) {
  if (!k)
    return;
  if (write(k->stop[1], "x", 1) != 1)
    loom__log("state socket: cannot stop its thread");
  pthread_join(k->thread, NULL);
  close(k->fd);
  unlink(k->path);
  /* Connections still served finish their calls: drive() keeps the loop
   * thread answering them (they fail fast once the run is cancelled). */
  while (drive && atomic_load(&k->active) > 0)
    if (drive(arg) != 0)
      break;
  close(k->stop[0]);
  close(k->stop[1]);
  rmdir(k->dir);
  free(k);
}

/* ---- the client --------------------------------------------------------- */

int loom_state_call_socket(const char *path, struct loom_state_call *c) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  struct loom__buf b = {0};
  unsigned char answer[ANSWER_HEAD];
  size_t keylen = c && c->key ? strlen(c->key) : 0;
  size_t alen, blen;
  const void *a, *bb;
  int32_t rc;
  uint32_t n;
  int fd;

  if (!c || !path || keylen == 0 || keylen > LOOM_STATE_KEY_MAX ||
      strlen(path) >= sizeof(addr.sun_path) || c->op < 0 ||
      c->op > LOOM_STATE_OP_WAIT)
    return LOOM_EINVAL;
  a = c->op == LOOM_STATE_OP_PUT ? c->value : c->expect;
  alen = c->op == LOOM_STATE_OP_PUT ? c->len : c->elen;
  bb = c->op == LOOM_STATE_OP_CAS ? c->value : NULL;
  blen = c->op == LOOM_STATE_OP_CAS ? c->len : 0;
  if (alen > LOOM_STATE_VALUE_MAX || blen > LOOM_STATE_VALUE_MAX)
    return LOOM_ETOOBIG;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
  loom__put_u32(&b, MAGIC);
  loom__put_u8(&b, (uint8_t)c->op);
  loom__put_u8(&b, (uint8_t)(c->expect_absent ? 1 : 0));
  loom__put_u16(&b, (uint16_t)keylen);
  loom__put_u32(&b, (uint32_t)alen);
  loom__put_u32(&b, (uint32_t)blen);
  loom__put_i64(&b, c->num);
  loom__put_f64(&b, c->timeout);
  loom__buf_append(&b, c->key, keylen);
  loom__buf_append(&b, a, alen);
  if (loom__buf_append(&b, bb, blen) != 0) {
    loom__buf_fini(&b);
    return LOOM_ENOMEM;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
      write_full(fd, b.data, b.len) != 0 ||
      read_full(fd, answer, sizeof(answer)) != 0) {
    if (fd >= 0)
      close(fd);
    loom__buf_fini(&b);
    return LOOM_ESYS;
  }
  loom__buf_fini(&b);
  memcpy(&rc, answer, 4);
  memcpy(&c->before, answer + 4, 8);
  memcpy(&n, answer + 12, 4);
  c->out_len = n;
  if (n > 0 && (n > c->cap || read_full(fd, c->buf, n) != 0))
    rc = n > c->cap ? LOOM_ETOOBIG : LOOM_ESYS;
  close(fd);
  return rc > 0 ? LOOM_EPROTO : rc;
}
