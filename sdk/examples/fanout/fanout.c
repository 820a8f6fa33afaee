/* fanout.c — every worker answers one request, with no module global.
 *
 * A request to the route posts a task to every worker (ir_worker_count,
 * ir_worker_at, ir_worker_post). Each task runs on its worker's thread,
 * reads that worker's data (set in worker_init) and records its index;
 * the last one posts the answer back to the request's worker:
 *   "asked from worker 1: ran on 0 1 2\n"
 * The stream callback reaches its module with ir_stream_module(s) (for
 * ir_log) and its worker's data with ir_stream_worker_data(s).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <iridium/iridium.h>

/* One per worker, made in worker_init: touched only on that worker. */
typedef struct fanout_worker {
  unsigned index;
  unsigned long requests; /* asked from this worker */
  unsigned long tasks;    /* run on this worker */
} fanout_worker;

typedef struct fanout fanout;
typedef struct fanout_task {
  fanout *f;
  unsigned worker; /* the index this task was posted to */
} fanout_task;

/* One request's round: freed by whoever drops the last reference (the
 * stream's on_close, each task, the answer). */
struct fanout {
  ir_stream_t *s; /* NULL once on_close ran; the home worker's thread only */
  ir_module_t *m;
  ir_worker_t *home;
  atomic_uint pending; /* tasks not yet run */
  atomic_uint refs;
  unsigned n;
  fanout_task *tasks; /* n of them */
  int *ran;           /* ran[i]: what worker i's own data said, -1 if it never ran */
};

static void fanout_release(fanout *f) {
  if (atomic_fetch_sub(&f->refs, 1) != 1) return;
  free(f->tasks);
  free(f->ran);
  free(f);
}

/* On the home worker, once every task ran. */
static void fanout_answer(void *data) {
  fanout *f = data;
  if (f->s) {
    char body[48 + 12 * 64]; /* the first 64 workers' indices */
    size_t len = (size_t)snprintf(body, sizeof body, "asked from worker %u: ran on",
                                  ir_worker_index(f->home));
    for (unsigned i = 0; i < f->n && len + 12 < sizeof body; i++)
      len += (size_t)snprintf(body + len, 12, " %d", f->ran[i]);
    body[len++] = '\n';
    if (ir_respond_simple(f->s, 200, "text/plain", body, len) != IR_OK) ir_stream_reset(f->s);
  }
  fanout_release(f);
}

/* A task is over (run, or never posted): the last one sends the answer home. */
static void fanout_task_over(fanout *f) {
  if (atomic_fetch_sub(&f->pending, 1) == 1 && ir_worker_post(f->home, fanout_answer, f) == IR_OK)
    return; /* the answer now holds this reference */
  fanout_release(f);
}

/* On worker t->worker's thread. */
static void fanout_task_run(void *data) {
  fanout_task *t = data;
  fanout_worker *me = ir_worker_data(t->f->m, ir_worker_at(t->worker));
  me->tasks++;
  t->f->ran[t->worker] = (int)me->index;
  fanout_task_over(t->f);
}

static int fanout_on_request(ir_stream_t *s, void *instance_data) {
  (void)instance_data;
  fanout_worker *me = ir_stream_worker_data(s);
  unsigned n = ir_worker_count();
  fanout *f = calloc(1, sizeof *f);
  if (!f || !(f->tasks = calloc(n, sizeof *f->tasks)) || !(f->ran = calloc(n, sizeof *f->ran))) {
    if (f) free(f->tasks);
    free(f);
    return IR_ENOMEM;
  }
  me->requests++;
  ir_log(ir_stream_module(s), s, IR_LOG_INFO, "request %lu on worker %u: asking %u workers",
         me->requests, me->index, n);
  f->s = s;
  f->m = ir_stream_module(s);
  f->home = ir_stream_worker(s);
  f->n = n;
  atomic_init(&f->pending, n);
  atomic_init(&f->refs, n + 1); /* each task, and the stream until on_close */
  ir_stream_set_data(s, f);
  for (unsigned i = 0; i < n; i++) {
    f->ran[i] = -1;
    f->tasks[i] = (fanout_task){f, i};
    if (ir_worker_post(ir_worker_at(i), fanout_task_run, &f->tasks[i]) != IR_OK)
      fanout_task_over(f); /* that worker is stopping */
  }
  return IR_OK;
}

static void fanout_on_close(ir_stream_t *s, int reason) {
  (void)reason;
  fanout *f = ir_stream_data(s);
  if (!f) return;
  f->s = NULL;
  fanout_release(f);
}

static int fanout_worker_init(ir_module_t *m, ir_worker_t *w) {
  fanout_worker *me = calloc(1, sizeof *me);
  if (!me) return IR_ENOMEM;
  me->index = ir_worker_index(w);
  ir_worker_set_data(m, w, me);
  return IR_OK;
}

static void fanout_worker_exit(ir_module_t *m, ir_worker_t *w) {
  fanout_worker *me = ir_worker_data(m, w);
  ir_log(m, NULL, IR_LOG_INFO, "worker %u: %lu requests, %lu tasks", me->index, me->requests,
         me->tasks);
  free(me);
}

static const ir_module_desc fanout_module = {
    IR_MODULE_DESC_HEADER,
    .name = "fanout",
    .version = "1.0.0",
    .worker_init = fanout_worker_init,
    .worker_exit = fanout_worker_exit,
    .on_request = fanout_on_request,
    .on_close = fanout_on_close,
};
IR_MODULE_DEFINE(fanout_module)
