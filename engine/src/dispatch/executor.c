/* executor.c - the task thread (executor.h).
 *
 * Jobs move through three lists under one mutex: todo (submitted), done
 * (finished, waiting for the loop thread) and spare (taken back; kept with
 * their buffers so a run allocates no memory per batch). The thread sleeps
 * on a condition variable while todo is empty. It blocks every signal: the
 * stop signals belong to the loop thread, and a signal that interrupted a
 * task's wait here would be noise.
 */
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/executor.h"

#define SPIN 50 /* yields before the thread sleeps for want of work */

static void push(struct loom__job **head, struct loom__job **tail,
                 struct loom__job *j) {
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static struct loom__job *pop(struct loom__job **head, struct loom__job **tail) {
  struct loom__job *j = *head;
  if (j) {
    *head = j->next;
    if (!*head)
      *tail = NULL;
  }
  return j;
}

static void *thread_main(void *arg) {
  struct loom__executor *e = arg;
  sigset_t all;

  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_mutex_lock(&e->mu);
  for (;;) {
    struct loom__job *j;
    /* The next batch usually comes within microseconds: yield a while
     * before sleeping, which costs a wakeup on both sides. */
    for (int i = 0; i < SPIN && !e->todo && !e->quit; i++) {
      pthread_mutex_unlock(&e->mu);
      sched_yield();
      pthread_mutex_lock(&e->mu);
    }
    while (!e->todo && !e->quit)
      pthread_cond_wait(&e->cv, &e->mu);
    j = pop(&e->todo, &e->todo_tail);
    if (!j)
      break; /* quit, and nothing left */
    pthread_mutex_unlock(&e->mu);
    j->rc = loom__wire_begin(&j->out);
    if (j->rc == 0)
      j->rc = loom__exec_batch(&e->exec, j->in.data, j->in.len, &j->out);
    pthread_mutex_lock(&e->mu);
    push(&e->done, &e->done_tail, j);
    atomic_fetch_add_explicit(&e->finished, 1, memory_order_release);
    loom__waker_poke(e->waker);
  }
  pthread_mutex_unlock(&e->mu);
  return NULL;
}

int loom__executor_start(struct loom__executor *e, struct loom *l,
                         struct loom__waker *waker) {
  int rc;

  memset(e, 0, sizeof(*e));
  atomic_init(&e->finished, 0);
  e->waker = waker;
  rc = loom__exec_init(&e->exec, l);
  if (rc != 0)
    return rc;
  if (pthread_mutex_init(&e->mu, NULL) != 0)
    return LOOM_ESYS;
  if (pthread_cond_init(&e->cv, NULL) != 0) {
    pthread_mutex_destroy(&e->mu);
    return LOOM_ESYS;
  }
  if (pthread_create(&e->thread, NULL, thread_main, e) != 0) {
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    return LOOM_ESYS;
  }
  e->started = 1;
  return 0;
}

static void free_list(struct loom__job *j) {
  while (j) {
    struct loom__job *next = j->next;
    loom__buf_fini(&j->in);
    loom__buf_fini(&j->out);
    free(j);
    j = next;
  }
}

void loom__executor_stop(struct loom__executor *e) {
  if (e->started) {
    /* Work left only on an error path: do not wait for it to run. */
    if (e->pending)
      loom__executor_cancel(e);
    pthread_mutex_lock(&e->mu);
    e->quit = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    e->started = 0;
  }
  free_list(e->todo);
  free_list(e->done);
  free_list(e->spare);
  e->todo = e->todo_tail = e->done = e->done_tail = e->spare = NULL;
  loom__exec_fini(&e->exec);
}

int loom__executor_submit(struct loom__executor *e, struct loom__buf *batch) {
  struct loom__job *j;

  pthread_mutex_lock(&e->mu);
  j = e->spare;
  if (j)
    e->spare = j->next;
  pthread_mutex_unlock(&e->mu);
  if (!j && !(j = calloc(1, sizeof(*j))))
    return LOOM_ENOMEM;
  loom__buf_swap(&j->in, batch);
  batch->len = 0;
  pthread_mutex_lock(&e->mu);
  push(&e->todo, &e->todo_tail, j);
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
  e->pending++;
  return 0;
}

int loom__executor_take(struct loom__executor *e, struct loom__buf *out,
                        int *rc) {
  struct loom__job *j;

  if (!loom__executor_ready(e))
    return 0;
  pthread_mutex_lock(&e->mu);
  j = pop(&e->done, &e->done_tail);
  if (j) {
    atomic_fetch_sub_explicit(&e->finished, 1, memory_order_relaxed);
    loom__buf_swap(&j->out, out);
    *rc = j->rc;
    j->next = e->spare;
    e->spare = j;
  }
  pthread_mutex_unlock(&e->mu);
  if (!j)
    return 0;
  e->pending--;
  return 1;
}

void loom__executor_cancel(struct loom__executor *e) {
  atomic_store(&e->exec.cancel, 1);
}
