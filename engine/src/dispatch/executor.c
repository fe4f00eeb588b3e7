/* executor.c - the task threads (executor.h).
 *
 * The core is shared between the loop thread and the task threads (one per
 * slot), under one mutex. Jobs move through three lists: todo (submitted),
 * done (DONE parts waiting for the loop thread) and spare (taken back; kept
 * with their buffers so a run allocates no memory per batch). A thread
 * sleeps on a condition variable while todo is empty. It blocks every
 * signal: the stop signals belong to the loop thread.
 * Placement: before a task, its thread takes a ticket and waits (on `room`)
 * until every earlier ticket was served and the placer has the cores; it
 * keeps them while the next task of its batch asks for the same, and gives
 * them back when the batch ends.
 * While a batch runs, the thread publishes after every task how many
 * tasks the whole records of the current DONE part answer for, and their
 * bytes (`progress`), and grows the
 * part's buffer only under the mutex, so the loop thread can copy a
 * consistent prefix of a stuck batch under the same mutex (abandon).
 * Harvest: the loop thread may send the answers a running batch has
 * published (its part's whole records) as a part of their own, under mu;
 * `sent` marks how far, and the thread drops those records from its part
 * before it hands the part over. Never all of a batch's answers (the
 * FINAL part answers for one at least), and never in a batch that times
 * tasks in groups (their records change until the group closes).
 * Give-back: a batch that has run loom__give_back_after() (sched/policy.h:
 * 4 times its target, 50 ms at least) while tasks of it have not started
 * gives those back: the loop thread answers them LOOM__DONE_RETURNED, and the
 * master hands them out again, to this worker or another. The thread claims
 * each task before it starts it (`claim`: the tasks started, compare-and-swap)
 * and the loop thread takes the rest with the same swap, setting CUT, so
 * each task is run or given back, never both. Only while a task runs (its
 * answer keeps the FINAL part whole), never in a batch timed in groups or
 * holding runs of elements.
 * Timing: tasks are timed one by one, except that when the first task of a
 * batch takes under TINY_TASK the next ones are timed in groups of up to
 * GROUP_MAX and share the group's mean: two clock reads cost more than such
 * a task. In such a group, the elements of a run (an array's record) are
 * answered by one record for the group, with an exit code byte each
 * (LOOM__DONE_GROUP): 38 bytes a task on the wire become one. Their codes
 * wait in the job (`codes`, counted by `ncodes`) until the group closes,
 * where an abandon finds them too.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/exec.h"
#include "dispatch/executor.h"
#include "dispatch/wire.h"
#include "hw/place.h"
#include "sched/policy.h"

#define SPIN 50 /* yields before the thread sleeps for want of work */
#define TINY_TASK 2e-6
#define GROUP_MAX 256
#define TASKS_SHIFT 40          /* progress = tasks << 40 | bytes */
#define CUT (UINT64_C(1) << 63) /* claim: the rest was given back */

struct job {
  struct loom__buf in;  /* TASKS: read-only once submitted */
  struct loom__buf out; /* DONE part: the thread's until it is handed over */
  int final;            /* out closes the batch */
  int rc;
  uint32_t ntasks;
  uint32_t base;             /* tasks answered in earlier parts */
  _Atomic uint64_t progress; /* tasks out's whole records answer for, and
                                their bytes */
  _Atomic double started;    /* wall clock when the running task began */
  /* The run's elements of the open group, not yet in out: their exit
   * codes, how many (stored last, released), their slot and the wall
   * clock when the group began. */
  unsigned char codes[GROUP_MAX];
  _Atomic uint32_t ncodes;
  uint32_t cslot;
  double cstart;
  /* Harvest: out's bytes up to `sent` went out in a part of their own,
   * answering for sent_tasks tasks of the current part (under mu);
   * `grouped`: the batch times tasks in groups. The loop thread's: when
   * it first saw answers not sent. */
  size_t sent;
  uint32_t sent_tasks;
  atomic_int grouped;
  double unsent_since;
  /* Give-back: tasks the thread started (the index of the next), CUT once
   * the loop thread took the rest; when the batch began (monotonic, set
   * under mu). */
  _Atomic uint64_t claim;
  double begun;
  struct job *next;
};

/* One task thread: a slot. */
struct slot {
  struct loom__executor_core *c;
  struct loom__exec exec; /* the thread's */
  pthread_t thread;
  struct job *running; /* under mu: the batch the thread runs */
  /* The placer's units it holds for its tasks, and their memory; the
   * thread's own, changed under mu. */
  int *units;
  int nunits;
  uint64_t mem;
  char *cpus; /* their PUs as a list ("0-3"), cpus_len bytes */
  size_t cpus_cap;
  uint16_t cpus_len;
};

struct loom__executor_core {
  struct loom__waker *waker;
  struct loom__placer *placer; /* the engine's; NULL: tasks are not pinned */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_mutex_t unsafe; /* held by a task of a kind not thread-safe */
  pthread_cond_t room;    /* units were given back, or a stop came */
  uint64_t ticket_next;   /* under mu: tasks wait for units in turn */
  uint64_t ticket_serving;
  struct slot *slots;
  int nslots;                     /* slots whose thread runs */
  int nmade;                      /* slots set up (freed at the end) */
  struct loom__watchdog watchdog; /* one for every slot's shell tasks */
  /* Under mu: */
  struct job *todo, *todo_tail; /* waiting, in order */
  struct job *done, *done_tail; /* DONE parts, in completion order */
  struct job *spare;            /* taken back, buffers kept */
  int quit;
  int orphaned;      /* the loop thread has given the threads up */
  int refs;          /* the loop thread and each task thread: the last frees */
  atomic_uint ready; /* DONE parts in done: read without the lock */
  double give_back_after; /* seconds a batch runs before its unstarted
                             tasks go back; 0 = never */
  atomic_int drain;
};

static void push(struct job **head, struct job **tail, struct job *j) {
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static struct job *pop(struct job **head, struct job **tail) {
  struct job *j = *head;
  if (j) {
    *head = j->next;
    if (!*head)
      *tail = NULL;
  }
  return j;
}

static void free_list(struct job *j) {
  while (j) {
    struct job *next = j->next;
    loom__buf_fini(&j->in);
    loom__buf_fini(&j->out);
    free(j);
    j = next;
  }
}

/* A job from the spare list, or a new one. Under mu. */
static struct job *spare_job(struct loom__executor_core *c) {
  struct job *j = c->spare;
  if (j) {
    c->spare = j->next;
    return j;
  }
  return calloc(1, sizeof(*j));
}

/* Puts j on the spare list, its buffers kept. Under mu. */
static void keep_spare(struct loom__executor_core *c, struct job *j) {
  j->next = c->spare;
  c->spare = j;
}

/* Files a DONE part and wakes the loop thread. Under mu. */
static void hand_over(struct loom__executor_core *c, struct job *part) {
  push(&c->done, &c->done_tail, part);
  atomic_fetch_add_explicit(&c->ready, 1, memory_order_release);
  loom__waker_poke(c->waker);
}

/* The tasks job j answers for itself: all, or those started before the
 * rest was given back. */
static uint32_t job_end(struct job *j) {
  uint64_t c = atomic_load_explicit(&j->claim, memory_order_acquire);
  return (c & CUT) ? (uint32_t)c : j->ntasks;
}

/* Claims task i (i > 0) of j for the thread: 0 when it was given back. */
static int claim(struct job *j, uint32_t i) {
  uint64_t want = i;
  return atomic_compare_exchange_strong(&j->claim, &want, (uint64_t)i + 1);
}

static void publish(struct job *j, uint32_t tasks) {
  atomic_store_explicit(&j->progress,
                        ((uint64_t)tasks << TASKS_SHIFT) | j->out.len,
                        memory_order_release);
}

/* ---- the thread ----------------------------------------------------------
 */

/* Tasks timed as a group, started at monotonic time t0: n records from
 * byte offset `from` of out, or (compact) n elements of the run in slot
 * `slot` whose codes wait in the job. */
struct group {
  int on;
  int compact;
  size_t from;
  uint32_t n;
  uint32_t slot;
  double t0;
};

/* Closes the group at monotonic time `now`, counting `extra` more tasks
 * in its time (a record the caller writes next, timed by the group:
 * *start and *each say when it began and how long it took). Its records
 * get the group's mean time; a compact group becomes one record, and the
 * tasks it answers for are added to *answered and published. Under mu:
 * the records are published, and an abandon may be copying them or
 * reading the codes. Returns 0 or LOOM_ENOMEM. */
static int group_close_at(struct loom__executor_core *c, struct group *g,
                          struct job *j, double w0, double m0, double now,
                          uint32_t extra, double *start, double *each,
                          uint32_t *answered) {
  uint32_t n = g->n + extra;
  double mean = n > 0 ? (now - g->t0) / n : 0;
  int rc = 0;

  if (start) {
    *start = w0 + (g->t0 - m0) + g->n * mean;
    *each = mean;
  }
  if (g->on && g->n > 0) {
    pthread_mutex_lock(&c->mu);
    if (!g->compact) {
      loom__wire_done_set_times(&j->out, g->from, w0 + (g->t0 - m0), mean);
    } else {
      struct loom__wire_done d;
      loom__wire_done_init(&d, g->slot);
      d.flags = LOOM__DONE_GROUP;
      d.start = w0 + (g->t0 - m0);
      d.elapsed = mean;
      d.data = j->codes;
      d.len = g->n;
      rc = loom__wire_put_done(&j->out, &d); /* grows out: under mu */
      if (rc == 0) {
        *answered += g->n;
        publish(j, *answered);
        atomic_store_explicit(&j->ncodes, 0, memory_order_relaxed);
      }
    }
    pthread_mutex_unlock(&c->mu);
  }
  if (g->n > 0 || extra > 0)
    g->t0 = now;
  g->n = 0;
  g->from = j->out.len;
  return rc;
}

static int group_close(struct loom__executor_core *c, struct group *g,
                       struct job *j, double w0, double m0,
                       uint32_t *answered) {
  if (!g->on || g->n == 0) {
    g->from = j->out.len;
    return 0;
  }
  return group_close_at(c, g, j, w0, m0, loom__now(), 0, NULL, NULL, answered);
}

/* Appends a completion record; grows the buffer under mu. */
static int put(struct loom__executor_core *c, struct job *j,
               const struct loom__wire_done *d) {
  size_t need = LOOM__WIRE_DONE_SIZE((size_t)d->len + d->cpus_len);

  if (j->out.cap - j->out.len < need) {
    int rc;
    pthread_mutex_lock(&c->mu);
    rc = loom__buf_reserve(&j->out, need);
    pthread_mutex_unlock(&c->mu);
    if (rc != 0)
      return rc;
  }
  return loom__wire_put_done(&j->out, d);
}

/* Starts a DONE part for the tasks from j->base on, with room for a record
 * of each without growing. */
static int begin_part(struct job *j) {
  int rc = loom__wire_begin(&j->out, 0);
  if (rc == 0)
    rc = loom__buf_reserve(&j->out, (size_t)(j->ntasks - j->base) *
                                        LOOM__WIRE_DONE_SIZE(0));
  atomic_store_explicit(&j->progress, (uint64_t)j->out.len,
                        memory_order_release);
  return rc;
}

/* Takes the records the loop thread already sent out of j's part (under
 * mu). Returns the records left. */
static uint32_t drop_sent(struct job *j) {
  uint32_t n = loom__wire_count(&j->out); /* right when nothing was sent */

  if (j->sent > LOOM__WIRE_HEADER) {
    memmove(j->out.data + LOOM__WIRE_HEADER, j->out.data + j->sent,
            j->out.len - j->sent);
    j->out.len -= j->sent - LOOM__WIRE_HEADER;
    n = loom__wire_done_records(j->out.data + LOOM__WIRE_HEADER,
                                j->out.len - LOOM__WIRE_HEADER);
    loom__wire_set_count(&j->out, n);
  }
  j->sent = LOOM__WIRE_HEADER;
  j->sent_tasks = 0;
  j->unsent_since = 0;
  return n;
}

/* Hands the part in j->out over to the loop thread (not FINAL) and starts
 * the next one. Returns 0, LOOM_ENOMEM, or 1 when the job was abandoned. */
static int split(struct loom__executor_core *c, struct job *j, uint32_t tasks) {
  struct job *part;
  int rc = 0;

  /* All under mu: an abandon must see the old part or the new one, whole. */
  pthread_mutex_lock(&c->mu);
  if (c->orphaned) {
    pthread_mutex_unlock(&c->mu);
    return 1;
  }
  if (drop_sent(j) == 0) { /* the loop thread sent all of it */
    j->base += tasks;
    rc = begin_part(j);
  } else if ((part = spare_job(c)) != NULL) {
    loom__buf_swap(&part->out, &j->out);
    part->final = 0;
    part->rc = 0;
    hand_over(c, part);
    j->base += tasks;
    rc = begin_part(j);
  } else {
    rc = LOOM_ENOMEM;
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

/* Gives back the units slot sl holds. Under mu. */
static void let_go(struct slot *sl) {
  struct loom__executor_core *c = sl->c;

  if (sl->nunits == 0)
    return;
  loom__unplace(c->placer, sl->nunits, sl->mem, sl->units);
  sl->nunits = 0;
  sl->mem = 0;
  pthread_cond_broadcast(&c->room);
}

/* Binds the slot's thread to its units (so its task, and all that the task
 * starts, inherit them) and tells its tasks where they run. */
static void bind_slot(struct slot *sl) {
  struct loom__placer *p = sl->c->placer;
  size_t need = loom__place_cpus(p, sl->units, sl->nunits, NULL, 0) + 1;
  char places[sizeof(sl->exec.env[0]) - 16];
  const char *cpus = "";

  /* The list, for the task (LOOM_CPUS) and the joblog. */
  if (need > sl->cpus_cap) {
    char *b = realloc(sl->cpus, need);
    if (b) {
      sl->cpus = b;
      sl->cpus_cap = need;
    }
  }
  sl->cpus_len = 0;
  if (need <= sl->cpus_cap) {
    loom__place_cpus(p, sl->units, sl->nunits, sl->cpus, sl->cpus_cap);
    cpus = sl->cpus;
    if (need - 1 <= UINT16_MAX)
      sl->cpus_len = (uint16_t)(need - 1);
  }
  /* Too many to list: OpenMP's own name, which its runtime reads inside
   * the binding. */
  if (loom__place_omp(p, sl->units, sl->nunits, places, sizeof(places)) >=
      sizeof(places))
    snprintf(places, sizeof(places), "%s", p->pu_units ? "threads" : "cores");
  if (p->bind && loom__place_bind(p, sl->units, sl->nunits) != 0)
    loom__log("rank %d: cannot bind a task to CPUs %s: it runs unbound",
              sl->exec.l->rank, cpus);
  if (p->bind && p->membind && loom__place_membind(p, sl->units, 1) != 0)
    loom__log("rank %d: cannot bind the memory of a task on CPUs %s to its "
              "NUMA node: it allocates where the kernel likes",
              sl->exec.l->rank, cpus);
  loom__exec_place(&sl->exec, cpus, places, sl->nunits);
}

/* Gets n units and mem bytes for slot sl's next task, waiting for them in
 * turn: first come, first served, so a wide task is never passed over by
 * narrower ones that came after it. Returns 0, 1 when a stop came while it
 * waited, or LOOM_EPROTO for a request this worker can never meet (the
 * master checks every task against every worker). */
static int take_room(struct slot *sl, int n, uint64_t mem) {
  struct loom__executor_core *c = sl->c;
  uint64_t ticket;
  int rc = 0;

  if (sl->nunits == n && sl->mem == mem)
    return 0; /* what the last task had: keep it */
  pthread_mutex_lock(&c->mu);
  let_go(sl);
  ticket = c->ticket_next++;
  for (;;) {
    if (atomic_load(&c->drain)) {
      rc = 1; /* terminal: nobody waits for this ticket's turn */
      break;
    }
    if (c->ticket_serving == ticket) {
      int r = loom__place(c->placer, n, mem, sl->units);
      if (r <= 0) {
        rc = r < 0 ? LOOM_EPROTO : 0;
        if (r == 0) {
          sl->nunits = n;
          sl->mem = mem;
        }
        c->ticket_serving++;
        pthread_cond_broadcast(&c->room);
        break;
      }
    }
    pthread_cond_wait(&c->room, &c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  if (rc == 0)
    bind_slot(sl);
  return rc;
}

/* Runs C task t; a kind that is not thread-safe waits for the others of
 * its sort (one slot or several). */
static int run_c(struct loom__executor_core *c, struct loom__exec *x,
                 const struct loom__kind *k, const struct loom__wire_task *t) {
  int rc;

  if (c->nslots == 1 || (k->flags & LOOM_KIND_THREAD_SAFE))
    return loom__exec_c(x, k, t);
  pthread_mutex_lock(&c->unsafe);
  rc = loom__exec_c(x, k, t);
  pthread_mutex_unlock(&c->unsafe);
  return rc;
}

/* Runs every task of job j in order, publishing as it goes. Returns 0, an
 * error for the job, or 1 when the job was abandoned meanwhile. */
static int run_job(struct slot *sl, struct job *j) {
  struct loom__executor_core *c = sl->c;
  struct loom__exec *x = &sl->exec;
  struct loom__task_cursor cu;
  struct loom__wire_done d;
  struct group g = {0};
  uint32_t answered = 0; /* tasks the current part's records answer for */
  int rc, got;
  double w0 = loom__wall(), m0 = loom__now();

  rc = loom__wire_count_tasks(j->in.data, j->in.len, &j->ntasks);
  if (rc == 0)
    rc = loom__wire_tasks_open(&cu, j->in.data, j->in.len);
  if (rc != 0)
    return rc;
  pthread_mutex_lock(&c->mu);
  rc = begin_part(j);
  j->begun = loom__now();
  atomic_store_explicit(&j->claim, 1, memory_order_release); /* task 0 */
  pthread_mutex_unlock(&c->mu);
  if (rc != 0)
    return rc;
  for (uint32_t i = 0; (got = loom__wire_next_task(&cu)) == 1; i++) {
    const struct loom__wire_task *t = &cu.t;
    const struct loom__kind *k = NULL;

    /* A grouped batch is never given back: no claim per tiny task. */
    if (i > 0 && !g.on && !claim(j, i))
      break; /* the rest went back to the master */
    loom__wire_done_init(&d, t->slot);
    /* Room for it first, on a worker with placement. */
    if (c->placer && !atomic_load_explicit(&c->drain, memory_order_relaxed)) {
      rc = take_room(sl, t->cores > 0 ? t->cores : 1, t->mem);
      if (rc < 0)
        return rc;
      if (rc == 0) { /* the record says where it ran */
        d.cpus = sl->cpus;
        d.cpus_len = sl->cpus_len;
      }
    }
    /* Drained (and so after an abandon): the engine is not touched. */
    if (atomic_load_explicit(&c->drain, memory_order_relaxed)) {
      /* A stop came: answer for the task without running it. */
      rc = group_close(c, &g, j, w0, m0, &answered);
      if (rc != 0)
        return rc;
      g.on = 0;
      d.start = loom__wall();
      d.flags = LOOM__DONE_CANCEL;
    } else if (t->kind >= x->l->nkinds) {
      return LOOM_EPROTO;
    } else if (!(k = &x->l->kinds[t->kind])->fn) {
      rc = group_close(c, &g, j, w0, m0, &answered);
      if (rc != 0)
        return rc;
      g.on = 0;
      atomic_store_explicit(&j->started, loom__wall(), memory_order_relaxed);
      loom__exec_shell(x, t, &d);
    } else if (g.on) {
      /* A run's elements and other tasks, or two runs, never share a
       * group. A compact group's tasks all have the same CPUs. */
      int compact = t->count > 1 && !c->placer;

      if (g.n > 0 && (compact != g.compact || (compact && t->slot != g.slot))) {
        rc = group_close(c, &g, j, w0, m0, &answered);
        if (rc != 0)
          return rc;
      }
      g.compact = compact;
      g.slot = t->slot;
      d.exit_code = run_c(c, x, k, t);
      if (compact && !x->task.reply_len) {
        if (g.n == 0) {
          j->cslot = t->slot;
          j->cstart = w0 + (g.t0 - m0);
        }
        j->codes[g.n++] = (unsigned char)d.exit_code;
        atomic_store_explicit(&j->ncodes, g.n, memory_order_release);
        if (g.n == GROUP_MAX) {
          rc = group_close(c, &g, j, w0, m0, &answered);
          if (rc != 0)
            return rc;
        }
        continue; /* answered by the group's record */
      }
      if (compact) {
        /* A reply needs a record of its own: the group closes before it,
         * and it takes its share of the group's time. */
        rc = group_close_at(c, &g, j, w0, m0, loom__now(), 1, &d.start,
                            &d.elapsed, &answered);
        if (rc != 0)
          return rc;
      } else {
        g.n++;
      }
    } else {
      double ta = loom__now(), tb;
      atomic_store_explicit(&j->started, w0 + (ta - m0), memory_order_relaxed);
      d.exit_code = run_c(c, x, k, t);
      tb = loom__now();
      d.start = w0 + (ta - m0);
      d.elapsed = tb - ta;
      if (i == 0 && d.elapsed < TINY_TASK && j->ntasks > 2) {
        atomic_store_explicit(&j->grouped, 1, memory_order_relaxed);
        g.on = 1;
        g.t0 = tb;
        g.from = 0; /* set after this record */
      }
    }
    if (k && k->fn && x->task.reply_len) {
      d.data = x->task.reply;
      d.len = (uint32_t)x->task.reply_len;
    }
    rc = put(c, j, &d);
    if (rc != 0)
      return rc;
    answered++;
    if (g.on && g.n == 0)
      g.from = j->out.len;
    else if (g.on && g.n == GROUP_MAX)
      rc = group_close(c, &g, j, w0, m0, &answered);
    if (rc != 0)
      return rc;
    publish(j, answered);
    /* A part that grew past the cap goes now, while others follow. */
    if (j->out.len > x->l->part_max && i + 1 < job_end(j)) {
      rc = group_close(c, &g, j, w0, m0, &answered);
      if (rc == 0)
        rc = split(c, j, answered);
      if (rc != 0)
        return rc;
      answered = 0;
      g.from = j->out.len;
    }
  }
  rc = group_close(c, &g, j, w0, m0, &answered);
  return rc != 0 ? rc : (got < 0 ? got : 0);
}

/* Frees the core: by whichever of the two threads lets go of it last. */
static void core_free(struct loom__executor_core *c) {
  free_list(c->todo);
  free_list(c->done);
  free_list(c->spare);
  for (int i = 0; i < c->nmade; i++) {
    loom__exec_fini(&c->slots[i].exec);
    free(c->slots[i].units);
    free(c->slots[i].cpus);
  }
  free(c->slots);
  loom__watchdog_fini(&c->watchdog); /* after every task is reaped */
  pthread_cond_destroy(&c->cv);
  pthread_cond_destroy(&c->room);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->unsafe);
  free(c);
}

/* Lets go of the core; mu is held and released here. */
static void core_release(struct loom__executor_core *c) {
  int last = --c->refs == 0;
  pthread_mutex_unlock(&c->mu);
  if (last)
    core_free(c);
}

static void *thread_main(void *arg) {
  struct slot *sl = arg;
  struct loom__executor_core *c = sl->c;
  sigset_t all;

  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_mutex_lock(&c->mu);
  for (;;) {
    struct job *j;
    int rc;
    /* The next batch usually comes within microseconds: yield a while
     * before sleeping, which costs a wakeup on both sides. */
    for (int i = 0; i < SPIN && !c->todo && !c->quit; i++) {
      pthread_mutex_unlock(&c->mu);
      sched_yield();
      pthread_mutex_lock(&c->mu);
    }
    while (!c->todo && !c->quit)
      pthread_cond_wait(&c->cv, &c->mu);
    j = pop(&c->todo, &c->todo_tail);
    if (!j)
      break; /* quit, and nothing left */
    atomic_store_explicit(&j->progress, 0, memory_order_relaxed);
    atomic_store_explicit(&j->ncodes, 0, memory_order_relaxed);
    atomic_store_explicit(&j->started, 0, memory_order_relaxed);
    atomic_store_explicit(&j->grouped, 0, memory_order_relaxed);
    atomic_store_explicit(&j->claim, 0, memory_order_relaxed);
    j->base = 0;
    j->sent = LOOM__WIRE_HEADER;
    j->sent_tasks = 0;
    j->unsent_since = 0;
    sl->running = j;
    pthread_mutex_unlock(&c->mu);
    rc = run_job(sl, j);
    pthread_mutex_lock(&c->mu);
    sl->running = NULL;
    if (c->placer)
      let_go(sl); /* an idle thread holds no units */
    if (c->orphaned) {
      /* Answered for by the loop thread already. */
      j->next = NULL;
      free_list(j);
      break;
    }
    j->rc = rc;
    j->final = 1;
    (void)drop_sent(j); /* a harvest leaves a record for this part */
    loom__wire_set_flags(&j->out, LOOM__WIRE_FINAL);
    hand_over(c, j);
  }
  core_release(c);
  return NULL;
}

/* ---- the loop thread's side ---------------------------------------------
 */

int loom__executor_start(struct loom__executor *e, struct loom *l,
                         struct loom__waker *waker) {
  struct loom__executor_core *c;
  int rc = 0, n = l->slots > 0 ? l->slots : 1, made = 0;

  memset(e, 0, sizeof(*e));
  c = calloc(1, sizeof(*c));
  if (!c)
    return LOOM_ENOMEM;
  atomic_init(&c->ready, 0);
  atomic_init(&c->drain, 0);
  c->waker = waker;
  c->placer = l->placer;
  c->give_back_after =
      loom__give_back_after(l->nworkers, n, l->opt.batch_target);
  c->slots = calloc((size_t)n, sizeof(*c->slots));
  if (!c->slots) {
    free(c);
    return LOOM_ENOMEM;
  }
  c->nslots = c->nmade = n;
  rc = loom__watchdog_init(&c->watchdog);
  if (rc != 0) {
    free(c->slots);
    free(c);
    return rc;
  }
  for (int i = 0; i < n && rc == 0; i++) {
    c->slots[i].c = c;
    rc = loom__exec_init(&c->slots[i].exec, l, &c->watchdog);
    if (rc == 0 && c->placer &&
        !(c->slots[i].units = calloc((size_t)c->placer->n, sizeof(int))))
      rc = LOOM_ENOMEM;
  }
  if (rc != 0)
    goto fail;
  /* The locks and conditions, each undone if a later one fails. */
  if (pthread_mutex_init(&c->mu, NULL) != 0)
    goto no_mu;
  if (pthread_cond_init(&c->cv, NULL) != 0)
    goto no_cv;
  if (pthread_mutex_init(&c->unsafe, NULL) != 0)
    goto no_unsafe;
  if (pthread_cond_init(&c->room, NULL) != 0)
    goto no_room;
  c->refs = 1;
  pthread_mutex_lock(&c->mu);
  for (; made < n; made++) {
    if (pthread_create(&c->slots[made].thread, NULL, thread_main,
                       &c->slots[made]) != 0)
      break;
    c->refs++;
  }
  pthread_mutex_unlock(&c->mu);
  e->core = c;
  if (made < n) {
    c->nslots = made; /* the threads that run are joined, then all freed */
    loom__executor_stop(e);
    return LOOM_ESYS;
  }
  return 0;

no_room:
  pthread_mutex_destroy(&c->unsafe);
no_unsafe:
  pthread_cond_destroy(&c->cv);
no_cv:
  pthread_mutex_destroy(&c->mu);
no_mu:
  rc = LOOM_ESYS;
fail:
  for (int i = 0; i < n; i++) {
    loom__exec_fini(&c->slots[i].exec);
    free(c->slots[i].units);
  }
  loom__watchdog_fini(&c->watchdog);
  free(c->slots);
  free(c);
  return rc;
}

void loom__executor_stop(struct loom__executor *e) {
  struct loom__executor_core *c = e->core;
  int running = 0;

  if (!c)
    return;
  e->core = NULL;
  /* Work left only on an error path: do not wait for it to run. */
  if (e->pending)
    loom__executor_cancel(e);
  pthread_mutex_lock(&c->mu);
  c->quit = 1;
  pthread_cond_broadcast(&c->cv);
  for (int i = 0; i < c->nslots; i++)
    running |= c->slots[i].running != NULL;
  /* A task still running here (an error path, or an abandoned C task)
   * would make a join wait for it: leave the threads to finish alone. */
  if (running) {
    c->orphaned = 1;
    atomic_store(&c->drain, 1);
    pthread_cond_broadcast(&c->room);
  }
  if (c->orphaned) {
    for (int i = 0; i < c->nslots; i++)
      pthread_detach(c->slots[i].thread);
  } else {
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < c->nslots; i++)
      pthread_join(c->slots[i].thread, NULL);
    pthread_mutex_lock(&c->mu);
  }
  core_release(c);
}

int loom__executor_submit(struct loom__executor *e, struct loom__buf *batch) {
  struct loom__executor_core *c = e->core;
  struct job *j;

  pthread_mutex_lock(&c->mu);
  j = spare_job(c);
  pthread_mutex_unlock(&c->mu);
  if (!j)
    return LOOM_ENOMEM;
  loom__buf_swap(&j->in, batch);
  batch->len = 0;
  j->rc = 0;
  j->final = 0;
  pthread_mutex_lock(&c->mu);
  push(&c->todo, &c->todo_tail, j);
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  e->pending++;
  return 0;
}

int loom__executor_ready(const struct loom__executor *e) {
  return e->core &&
         atomic_load_explicit(&e->core->ready, memory_order_acquire) > 0;
}

int loom__executor_take(struct loom__executor *e, struct loom__buf *out,
                        int *rc) {
  struct loom__executor_core *c = e->core;
  struct job *j;
  int final = 0;

  if (!loom__executor_ready(e))
    return 0;
  pthread_mutex_lock(&c->mu);
  j = pop(&c->done, &c->done_tail);
  if (j) {
    atomic_fetch_sub_explicit(&c->ready, 1, memory_order_relaxed);
    loom__buf_swap(&j->out, out);
    *rc = j->rc;
    final = j->final;
    keep_spare(c, j);
  }
  pthread_mutex_unlock(&c->mu);
  if (!j)
    return 0;
  if (final)
    e->pending--;
  return 1;
}

/* Starts no new task; wakes the tasks waiting for units, to be answered
 * as cancelled. */
static void stop_starting(struct loom__executor_core *c) {
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->drain, 1);
  pthread_cond_broadcast(&c->room);
  pthread_mutex_unlock(&c->mu);
}

void loom__executor_drain(struct loom__executor *e) {
  if (e->core)
    stop_starting(e->core);
}

void loom__executor_cancel(struct loom__executor *e) {
  if (!e->core)
    return;
  stop_starting(e->core);
  for (int i = 0; i < e->core->nslots; i++)
    atomic_store(&e->core->slots[i].exec.cancel, 1);
  if (e->cancelled_at == 0)
    e->cancelled_at = loom__now();
}

/* A part (flags) holding running batch j's published records not sent yet,
 * up to byte `bytes` of its part. *rc: 0, or why the part (NULL when no
 * job could be had) is not whole. Under mu. */
static struct job *answered_part(struct loom__executor_core *c, struct job *j,
                                 size_t bytes, uint32_t flags, int *rc) {
  struct job *part = spare_job(c);

  *rc = part ? loom__wire_begin(&part->out, flags) : LOOM_ENOMEM;
  if (*rc == 0 && bytes > j->sent)
    *rc = loom__buf_append(&part->out, j->out.data + j->sent, bytes - j->sent);
  if (*rc == 0)
    loom__wire_set_count(
        &part->out, loom__wire_done_records(part->out.data + LOOM__WIRE_HEADER,
                                            part->out.len - LOOM__WIRE_HEADER));
  return part;
}

/* Answers for running batch j: the records published in its current
 * part, then every task from the first unanswered one (the stuck one)
 * cancelled. Under mu. */
static void answer_for(struct loom__executor_core *c, struct job *j) {
  uint64_t p = atomic_load_explicit(&j->progress, memory_order_acquire);
  uint32_t tasks = (uint32_t)(p >> TASKS_SHIFT);
  uint32_t codes = atomic_load_explicit(&j->ncodes, memory_order_acquire);
  size_t bytes = (size_t)(p & ((UINT64_C(1) << TASKS_SHIFT) - 1));
  int rc;
  struct job *part = answered_part(c, j, bytes, LOOM__WIRE_FINAL, &rc);

  /* The open group's elements ran: they are answered as they ended, with
   * no time of their own (it was to be the group's mean). */
  if (rc == 0 && codes > 0) {
    struct loom__wire_done d;
    loom__wire_done_init(&d, j->cslot);
    d.flags = LOOM__DONE_GROUP;
    d.start = j->cstart;
    d.data = j->codes;
    d.len = codes;
    rc = loom__wire_put_done(&part->out, &d);
  }
  if (rc == 0)
    rc = loom__wire_answer_tasks(
        j->in.data, j->in.len, j->base + tasks + codes, job_end(j),
        LOOM__DONE_CANCEL,
        atomic_load_explicit(&j->started, memory_order_relaxed), &part->out);
  if (part) {
    part->rc = rc;
    part->final = 1;
    hand_over(c, part);
  }
}

int loom__executor_abandon_stuck(struct loom__executor *e, double now) {
  struct loom__executor_core *c = e->core;
  struct job *rest;
  int stuck = 0;

  if (!c || e->cancelled_at == 0 || now - e->cancelled_at < LOOM__ABANDON_AFTER)
    return 0;
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < c->nslots; i++)
    stuck += c->slots[i].running != NULL;
  if (!stuck) {
    pthread_mutex_unlock(&c->mu);
    return 0; /* nothing stuck: the threads answer for the rest themselves */
  }
  /* Every running batch is answered for here: the threads drop them when
   * their tasks return. */
  for (int i = 0; i < c->nslots; i++)
    if (c->slots[i].running) {
      answer_for(c, c->slots[i].running);
      c->slots[i].running = NULL;
    }
  /* Batches not started: every task cancelled. */
  while ((rest = pop(&c->todo, &c->todo_tail))) {
    int rc = loom__wire_begin(&rest->out, LOOM__WIRE_FINAL);
    if (rc == 0)
      rc = loom__wire_answer_tasks(rest->in.data, rest->in.len, 0, UINT32_MAX,
                                   LOOM__DONE_CANCEL, 0, &rest->out);
    rest->rc = rc;
    rest->final = 1;
    hand_over(c, rest);
  }
  c->orphaned = 1;
  atomic_store(&c->drain, 1);
  pthread_cond_broadcast(&c->room);
  pthread_mutex_unlock(&c->mu);
  loom__log("a C task has not returned %.0f s after the cancel: its batch is "
            "recorded as cancelled and its thread left behind",
            now - e->cancelled_at);
  return 1;
}

/* Gives back the tasks of running batch j that have not started, once it
 * has run give_back_after seconds: a part of their own (not FINAL), each
 * answered LOOM__DONE_RETURNED. Under mu. Returns 1 when it did. */
static int give_back(struct loom__executor_core *c, struct job *j, double now) {
  uint64_t p = atomic_load_explicit(&j->progress, memory_order_acquire);
  uint32_t answered = j->base + (uint32_t)(p >> TASKS_SHIFT);
  uint64_t cl = atomic_load_explicit(&j->claim, memory_order_acquire);
  struct loom__reader r;
  struct job *part;
  int rc;

  /* Not on a stop (the thread answers the rest as cancelled). The first
   * answer is out (so whether the batch is timed in groups is settled),
   * tasks are left to give, and one runs: its answer keeps the batch's
   * FINAL part from being empty. */
  if (c->give_back_after <= 0 || atomic_load(&c->drain) ||
      now - j->begun < c->give_back_after || answered == 0 ||
      atomic_load_explicit(&j->grouped, memory_order_relaxed) || (cl & CUT) ||
      cl >= j->ntasks || cl <= answered)
    return 0;
  /* An element of a run is never handed out on its own. */
  if (loom__wire_open(&r, j->in.data, j->in.len) != 0 ||
      (r.flags & LOOM__WIRE_RUNS))
    return 0;
  part = spare_job(c);
  if (!part)
    return 0;
  rc = loom__wire_begin(&part->out, 0);
  if (rc == 0)
    rc = loom__wire_answer_tasks(j->in.data, j->in.len, (uint32_t)cl, j->ntasks,
                                 LOOM__DONE_RETURNED, 0, &part->out);
  /* The swap fails when the thread started the next task meanwhile. */
  if (rc != 0 || !atomic_compare_exchange_strong(&j->claim, &cl, cl | CUT)) {
    keep_spare(c, part);
    return 0;
  }
  part->final = 0;
  part->rc = 0;
  hand_over(c, part);
  return 1;
}

int loom__executor_harvest(struct loom__executor *e, double now) {
  struct loom__executor_core *c = e->core;
  int made = 0;

  if (!c || e->pending == 0 || now - e->harvested_at < LOOM__HARVEST_AGE / 4)
    return 0;
  e->harvested_at = now;
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < c->nslots && !c->orphaned; i++) {
    struct job *j = c->slots[i].running, *part;
    uint64_t p;
    uint32_t tasks;
    size_t bytes;
    int rc;

    if (!j)
      continue;
    made += give_back(c, j, now);
    if (atomic_load_explicit(&j->grouped, memory_order_relaxed))
      continue;
    p = atomic_load_explicit(&j->progress, memory_order_acquire);
    tasks = (uint32_t)(p >> TASKS_SHIFT);
    bytes = (size_t)(p & ((UINT64_C(1) << TASKS_SHIFT) - 1));
    /* Nothing new, or the batch's last answers: the thread sends them. */
    if (tasks <= j->sent_tasks || j->base + tasks >= job_end(j)) {
      j->unsent_since = 0;
      continue;
    }
    if (j->unsent_since == 0)
      j->unsent_since = now;
    if (now - j->unsent_since < LOOM__HARVEST_AGE)
      continue;
    part = answered_part(c, j, bytes, 0, &rc);
    if (rc != 0) {
      if (part)
        keep_spare(c, part);
      break;
    }
    part->final = 0;
    part->rc = 0;
    hand_over(c, part);
    j->sent = bytes;
    j->sent_tasks = tasks;
    j->unsent_since = 0;
    made++;
  }
  pthread_mutex_unlock(&c->mu);
  return made;
}
