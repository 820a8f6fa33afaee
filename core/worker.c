/* worker.c — a worker thread and its loop; see worker.h.
 *
 * Each loop turn ends with a pass (in both the prepare and check phases, so
 * that work queued by timers is flushed before the loop blocks in poll):
 * settle the streams modules ended or reset, then write every connection's
 * queued output with one writev each, repeated while that queued more (a
 * drained connection may call modules again), then the access-log buffer.
 *
 * Deadlines (irh_deadline, a stream's handler_timeout) sit in lanes of
 * equal timeouts, so each lane is in due order; one timer is armed for the
 * earliest head of any lane.
 *
 * Draining: on a stop request the worker closes its listeners, closes idle
 * connections, lets busy ones finish their current response, and after
 * shutdown_timeout closes whatever is left. When the last connection is gone
 * it closes the modules' outbound connections (on_close IR_ECLOSED), runs
 * their worker_exit hooks and closes its own handles (and the timers and
 * fd watches modules left open), which ends uv_run. Before any of that,
 * each module hears on_worker_drain and each of its open streams
 * on_stream_drain (the protocols' on_shutdown deliver those).
 */
#include "worker.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "module.h"
#include "process.h"
#include "recycler.h"

#define READ_BUF_SIZE (64u * 1024u)

struct irh_task {
  irh_task *next;
  void (*cb)(void *);
  void *data;
};

struct ir_timer {
  uv_timer_t handle;
  irh_link link; /* in worker->timers */
  ir_worker_t *worker;
  void (*cb)(ir_timer_t *, void *);
  void *data;
};

/* A thread-pool job (work_submit, work_start). */
struct ir_work {
  uv_work_t req;
  ir_worker_t *worker;
  irh_link link;       /* in worker->jobs until done */
  irh_link owner_link; /* in its owner's list (a stream's) while the owner is open */
  void (*work)(void *);
  void (*done)(void *, int);
  void *data;
  int cancelled;       /* what done gets when the pool dropped it: IR_ECANCELED or IR_ECLOSED */
  int owner_closed;    /* the owner closed first: done gets IR_ECLOSED */
  irh_generation *gen; /* held until done: the route instance the work may read */
};

/* ---- the end-of-turn pass ---- */

/* Rounds of settle + flush in one pass; work queued past them is left to
 * the next turn, which then does not wait in poll. */
#define END_OF_TURN_ROUNDS 16

static void on_more_work(uv_idle_t *h);
static void on_deadline_timer(uv_timer_t *t);

static void run_queue(irh_link *queue) {
  while (!irh_list_empty(queue)) {
    irh_deferred *d = irh_container_of(queue->next, irh_deferred, link);
    irh_list_remove(&d->link);
    d->run(d);
  }
}

static void end_of_turn(ir_worker_t *w) {
  /* A flush may hand a drained connection back to its protocol, which may
   * call modules, which may end streams and queue output again. */
  int round = 0;
  while (round++ < END_OF_TURN_ROUNDS &&
         !(irh_list_empty(&w->finish_queue) && irh_list_empty(&w->flush_queue))) {
    run_queue(&w->finish_queue);
    run_queue(&w->flush_queue);
  }
  int more = !(irh_list_empty(&w->finish_queue) && irh_list_empty(&w->flush_queue));
  if (more != uv_is_active((uv_handle_t *)&w->more_work) &&
      !uv_is_closing((uv_handle_t *)&w->more_work)) {
    if (more)
      uv_idle_start(&w->more_work, on_more_work); /* poll returns at once */
    else
      uv_idle_stop(&w->more_work);
  }
  if (w->access.len) irh_access_flush(&w->access);
}

static void on_more_work(uv_idle_t *h) { end_of_turn(h->data); }
static void on_before_poll(uv_prepare_t *h) { end_of_turn(h->data); }
static void on_after_poll(uv_check_t *h) { end_of_turn(h->data); }

void irh_worker_defer_settle(ir_worker_t *w, irh_deferred *d) {
  if (!irh_list_linked(&d->link)) irh_list_push(&w->finish_queue, &d->link);
}

void irh_worker_defer_flush(ir_worker_t *w, irh_deferred *d) {
  if (!irh_list_linked(&d->link)) irh_list_push(&w->flush_queue, &d->link);
}

void irh_worker_hold(ir_worker_t *w, irh_drainable *d) { irh_list_push(&w->conns, &d->link); }

const char *irh_worker_date(ir_worker_t *w, size_t *len) {
  time_t now = time(NULL);
  if ((uint64_t)now != w->date_sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    w->date_len = strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    w->date_sec = (uint64_t)now;
  }
  *len = w->date_len;
  return w->date;
}

/* ---- deadlines ---- */

static irh_deadline *lane_head(const irh_deadline_lane *lane) {
  return irh_list_empty(&lane->pending) ? NULL
                                        : irh_container_of(lane->pending.next, irh_deadline, link);
}

/* Arms the timer for the earliest deadline of any lane, or stops it. */
static void arm_deadlines(ir_worker_t *w) {
  uint64_t first = UINT64_MAX;
  for (size_t i = 0; i < w->nlanes; i++) {
    const irh_deadline *d = lane_head(w->lanes[i]);
    if (d && d->due < first) first = d->due;
  }
  if (first == UINT64_MAX) {
    uv_timer_stop(&w->deadline_timer);
    return;
  }
  uint64_t now = uv_now(&w->loop);
  uv_timer_start(&w->deadline_timer, on_deadline_timer, first > now ? first - now : 0, 0);
}

static void on_deadline_timer(uv_timer_t *t) {
  ir_worker_t *w = t->data;
  uint64_t now = uv_now(&w->loop);
  for (size_t i = 0; i < w->nlanes; i++) {
    irh_deadline *d;
    /* fire may add or cancel deadlines: the head is looked up afresh */
    while ((d = lane_head(w->lanes[i])) && d->due <= now) {
      irh_list_remove(&d->link);
      d->fire(d);
    }
  }
  if (!w->closed) arm_deadlines(w);
}

static irh_deadline_lane *lane_for(ir_worker_t *w, uint64_t timeout_ms) {
  for (size_t i = 0; i < w->nlanes; i++)
    if (w->lanes[i]->timeout_ms == timeout_ms) return w->lanes[i];
  irh_deadline_lane **grown = realloc(w->lanes, (w->nlanes + 1) * sizeof(*grown));
  if (!grown) return NULL;
  w->lanes = grown;
  irh_deadline_lane *lane = malloc(sizeof(*lane)); /* its own block: list heads never move */
  if (!lane) return NULL;
  lane->timeout_ms = timeout_ms;
  irh_list_init(&lane->pending);
  w->lanes[w->nlanes++] = lane;
  return lane;
}

int irh_worker_deadline(ir_worker_t *w, irh_deadline *d, uint64_t timeout_ms) {
  irh_deadline_lane *lane = w->closed ? NULL : lane_for(w, timeout_ms);
  if (!lane) return -1;
  d->due = uv_now(&w->loop) + timeout_ms;
  int first = !uv_is_active((uv_handle_t *)&w->deadline_timer) ||
              d->due < uv_now(&w->loop) + uv_timer_get_due_in(&w->deadline_timer);
  irh_list_push(&lane->pending, &d->link);
  if (first) arm_deadlines(w);
  return 0;
}

/* ---- posted tasks ---- */

static void run_posted(ir_worker_t *w) {
  uv_mutex_lock(&w->post_lock);
  irh_task *list = w->posted;
  w->posted = NULL;
  uv_mutex_unlock(&w->post_lock);
  irh_task *ordered = NULL; /* the list is newest first: reverse it */
  while (list) {
    irh_task *next = list->next;
    list->next = ordered;
    ordered = list;
    list = next;
  }
  while (ordered) {
    irh_task *next = ordered->next;
    ordered->cb(ordered->data);
    free(ordered);
    ordered = next;
  }
}

int irh_worker_post(ir_worker_t *w, void (*cb)(void *), void *data) {
  if (!w || !cb) return IR_EINVAL;
  irh_task *t = malloc(sizeof(*t));
  if (!t) return IR_ENOMEM;
  t->cb = cb;
  t->data = data;
  uv_mutex_lock(&w->post_lock);
  if (!w->accepting_posts) {
    uv_mutex_unlock(&w->post_lock);
    free(t);
    return IR_ECLOSED;
  }
  t->next = w->posted;
  w->posted = t;
  uv_async_send(&w->wakeup); /* under the lock: the handle cannot close meanwhile */
  uv_mutex_unlock(&w->post_lock);
  return IR_OK;
}

/* ---- a reload's steps (server.c posts them; generation.h) ---- */

typedef struct reload_step {
  ir_worker_t *w;
  irh_generation *gen;
} reload_step;

static void reload_init(void *arg) {
  reload_step *st = arg;
  ir_worker_t *w = st->w;
  irh_generation *g = st->gen;
  if (!w->draining &&
      irh_modules_worker_init(w->server->modules, w, &w->modules_ready, g->modules_upto) != 0) {
    const ir_module_t *mod = &w->server->modules->modules[w->modules_ready];
    irh_log_error(
        "reload: %s:%d: [module %s] worker_init failed on worker %u; the reload is undone",
        g->config->path, irh_config_module_line(g->config, mod->name), mod->name, w->index);
    atomic_store(&g->worker_failed, 1);
  }
  atomic_fetch_add(&g->acks, 1);
  free(st);
}

static void reload_unwind(void *arg) {
  reload_step *st = arg;
  ir_worker_t *w = st->w;
  irh_modules_worker_exit(w->server->modules, w, &w->modules_ready, st->gen->modules_first_new);
  atomic_fetch_add(&st->gen->acks, 1);
  free(st);
}

/* The new generation's sockets start before the old ones stop: a socket
 * both share (a kept address) is never unwatched in between. */
static void reload_adopt(void *arg) {
  reload_step *st = arg;
  ir_worker_t *w = st->w;
  irh_generation *g = st->gen;
  irh_listener_set *set =
      w->draining ? NULL : irh_listeners_start(w, &w->loop, w->index, g, w->server->on_accept);
  if (set) {
    irh_listeners_stop(w->listeners);
    w->listeners = set;
    irh_generation_hold(g);
    irh_generation_release(w->gen);
    w->gen = g;
  } else if (!w->draining) {
    irh_log_error("worker %u cannot listen on the new configuration's sockets (out of memory?): "
                  "it keeps the one before",
                  w->index);
  }
  atomic_fetch_add(&g->acks, 1);
  free(st);
}

static int post_step(ir_worker_t *w, irh_generation *g, void (*cb)(void *)) {
  reload_step *st = malloc(sizeof(*st));
  if (!st) return -1;
  *st = (reload_step){w, g};
  if (irh_worker_post(w, cb, st) == IR_OK) return 0;
  free(st);
  return -1;
}

int irh_worker_reload_init(ir_worker_t *w, irh_generation *g) {
  return post_step(w, g, reload_init);
}
int irh_worker_reload_unwind(ir_worker_t *w, irh_generation *g) {
  return post_step(w, g, reload_unwind);
}
int irh_worker_reload_adopt(ir_worker_t *w, irh_generation *g) {
  return post_step(w, g, reload_adopt);
}

/* ---- draining and stopping ---- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_module_timer_closed(uv_handle_t *h) { free(h->data); }

/* The last connection is gone: let modules clean up, then close our own
 * handles so that uv_run returns. */
static void stop_jobs(ir_worker_t *w);

static void finish_drain(ir_worker_t *w) {
  if (w->closed) return;
  if (!irh_list_empty(&w->jobs)) { /* modules hear of every job before worker_exit */
    stop_jobs(w);                  /* the last job's done calls us again */
    return;
  }
  w->outbound_refused = 1;
  while (!irh_list_empty(&w->owned)) { /* IR_ECLOSED, before the modules let go */
    irh_closable *c = irh_container_of(w->owned.next, irh_closable, link);
    c->close(c); /* unlinks c */
  }
  irh_modules_worker_exit(w->server->modules, w, &w->modules_ready, 0);
  uv_mutex_lock(&w->post_lock);
  w->accepting_posts = 0;
  uv_mutex_unlock(&w->post_lock);
  run_posted(w);
  w->closed = 1;
  while (!irh_list_empty(&w->timers)) { /* timers a module did not stop */
    irh_link *l = w->timers.next;
    irh_list_remove(l);
    ir_timer_t *t = irh_container_of(l, ir_timer_t, link);
    uv_close((uv_handle_t *)&t->handle, on_module_timer_closed);
  }
  while (!irh_list_empty(&w->watches)) { /* watches a module did not stop */
    irh_drainable *d = irh_container_of(w->watches.next, irh_drainable, link);
    d->ops->close(d, IR_CLOSE_SHUTDOWN); /* unlinks d */
  }
  end_of_turn(w);
  close_handle((uv_handle_t *)&w->wakeup);
  close_handle((uv_handle_t *)&w->before_poll);
  close_handle((uv_handle_t *)&w->after_poll);
  close_handle((uv_handle_t *)&w->more_work);
  close_handle((uv_handle_t *)&w->shutdown_timer);
  close_handle((uv_handle_t *)&w->deadline_timer);
}

void irh_worker_conn_closed(ir_worker_t *w) {
  w->conns_alive--;
  if (w->draining && w->conns_alive == 0) finish_drain(w);
}

static void close_all_conns(ir_worker_t *w, int reason) {
  while (!irh_list_empty(&w->conns)) {
    irh_drainable *d = irh_container_of(w->conns.next, irh_drainable, link);
    d->ops->close(d, reason); /* unlinks d */
  }
}

static void on_shutdown_timeout(uv_timer_t *t) {
  ir_worker_t *w = t->data;
  irh_log(IR_LOG_WARN, 0, -1, NULL, "worker %u: shutdown_timeout reached, closing %llu connections",
          w->index, (unsigned long long)w->conns_alive);
  close_all_conns(w, IR_CLOSE_SHUTDOWN);
}

/* A stopping worker's sockets close at once, so new clients are refused
 * rather than left in a backlog; each worker closes only its own. */
static void close_own_sockets(ir_worker_t *w) {
  irh_generation *g = w->gen;
  if (!g->listen_fds) return;
  for (size_t i = 0; i < g->config->nlistens; i++) {
    int *fd = &g->listen_fds[i * g->nworkers + w->index];
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

static void begin_drain(ir_worker_t *w) {
  if (w->draining) return;
  w->draining = 1;
  uint64_t timeout = w->gen->config->shutdown_timeout_ms;
  w->drain_due = uv_now(&w->loop) + timeout;
  irh_listeners_stop(w->listeners);
  w->listeners = NULL;
  close_own_sockets(w);
  /* The drain notice: the modules first, then (from each connection's
   * shutdown, through its protocol) their open streams. */
  irh_modules_worker_drain(w->server->modules, w, w->modules_ready, timeout);
  /* Idle connections close now, busy ones after their current response.
   * Each waits in `pending` until its turn: a shutdown may close its own
   * connection or, through a module's drain notice, another one, and a
   * closed connection just leaves whichever list holds it. */
  irh_link pending;
  irh_list_init(&pending);
  while (!irh_list_empty(&w->conns)) {
    irh_link *l = w->conns.next;
    irh_list_remove(l);
    irh_list_push(&pending, l);
  }
  while (!irh_list_empty(&pending)) {
    irh_link *l = pending.next;
    irh_list_remove(l);
    irh_list_push(&w->conns, l);
    irh_drainable *d = irh_container_of(l, irh_drainable, link);
    d->ops->shutdown(d);
  }
  if (w->conns_alive == 0) {
    finish_drain(w);
    return;
  }
  uv_timer_start(&w->shutdown_timer, on_shutdown_timeout, timeout, 0);
}

static void on_wakeup(uv_async_t *a) {
  ir_worker_t *w = a->data;
  run_posted(w);
  if (atomic_load(&w->server->stopping)) begin_drain(w);
}

void irh_worker_request_stop(ir_worker_t *w) {
  uv_mutex_lock(&w->post_lock); /* as for posts: the handle cannot close meanwhile */
  if (w->accepting_posts) uv_async_send(&w->wakeup);
  uv_mutex_unlock(&w->post_lock);
}

/* ---- the thread ---- */

/* A module's worker_init failed: one line for the whole server (the first
 * worker to fail says it), at the module's section, like a failing init. */
static void report_init_failure(ir_worker_t *w, irh_generation *g, const char *then) {
  const ir_module_t *mod = &w->server->modules->modules[w->modules_ready]; /* the one that failed */
  irh_config_error(g->config, irh_config_module_line(g->config, mod->name),
                   "[module %s] worker_init failed on worker %u%s", mod->name, w->index, then);
}

static void worker_free(ir_worker_t *w);

static void worker_main(void *arg) {
  ir_worker_t *w = arg;
  irh_server *srv = w->server;
  int ok = irh_modules_worker_init(srv->modules, w, &w->modules_ready, w->gen->modules_upto) == 0;
  if (!ok) {
    if (!atomic_exchange(&srv->start_failed, 1))
      report_init_failure(w, w->gen, w->trial ? "" : "; stopping the server");
  } else if (!w->trial &&
             !(w->listeners = irh_listeners_start(w, &w->loop, w->index, w->gen, srv->on_accept))) {
    irh_log_error("worker %u cannot listen; stopping the server", w->index);
    ok = 0;
  }
  if (!ok) w->exit_status = 1;
  /* A failed worker (and a trial one) drains at once: worker_exit for the
   * modules that did start, its handles closed, before the main thread
   * hears of it (server.c's poll then stops the others). */
  if (!ok || w->trial) begin_drain(w);
  atomic_store(&w->started, ok ? 1 : -1);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  irh_recycler_release();
}

int irh_worker_trial(irh_server *srv, irh_generation *gen) {
  ir_worker_t *w = irh_worker_new(srv, 0, gen);
  if (!w) return -1;
  w->trial = 1;
  if (irh_worker_start(w) == 0)
    uv_thread_join(&w->thread);
  else
    worker_main(w); /* no thread to be had: the hooks run here instead */
  worker_free(w);
  return atomic_load(&srv->start_failed) ? -1 : 0;
}

ir_worker_t *irh_worker_new(irh_server *srv, unsigned index, irh_generation *gen) {
  ir_worker_t *w = calloc(1, sizeof(*w));
  if (!w) return NULL;
  w->index = index;
  w->server = srv;
  w->read_buf_size = READ_BUF_SIZE;
  w->read_buf = malloc(READ_BUF_SIZE);
  w->tls_stage = malloc(IRH_WORKER_STAGE_SIZE);
  w->module_data = calloc(IRH_MAX_MODULES, sizeof(void *));
  if (!w->read_buf || !w->tls_stage || !w->module_data || uv_loop_init(&w->loop) != 0) {
    free(w->read_buf);
    free(w->tls_stage);
    free(w->module_data);
    free(w);
    return NULL;
  }
  uv_mutex_init(&w->post_lock);
  w->accepting_posts = 1;
  uv_async_init(&w->loop, &w->wakeup, on_wakeup);
  uv_prepare_init(&w->loop, &w->before_poll);
  uv_check_init(&w->loop, &w->after_poll);
  uv_idle_init(&w->loop, &w->more_work);
  w->more_work.data = w;
  uv_timer_init(&w->loop, &w->shutdown_timer);
  uv_timer_init(&w->loop, &w->deadline_timer);
  w->wakeup.data = w->before_poll.data = w->after_poll.data = w->shutdown_timer.data = w;
  w->deadline_timer.data = w;
  uv_prepare_start(&w->before_poll, on_before_poll);
  uv_check_start(&w->after_poll, on_after_poll);
  uv_unref((uv_handle_t *)&w->before_poll);
  uv_unref((uv_handle_t *)&w->after_poll);
  irh_list_init(&w->conns);
  irh_list_init(&w->flush_queue);
  irh_list_init(&w->finish_queue);
  irh_list_init(&w->timers);
  irh_list_init(&w->watches);
  irh_list_init(&w->jobs);
  irh_list_init(&w->owned);
  w->gen = gen;
  irh_generation_hold(gen);
  return w;
}

int irh_worker_start(ir_worker_t *w) { return uv_thread_create(&w->thread, worker_main, w); }

/* Frees a worker whose loop ended. */
static void worker_free(ir_worker_t *w) {
  uv_loop_close(&w->loop);
  irh_generation_release(w->gen);
  uv_mutex_destroy(&w->post_lock);
  irh_access_buf_free(&w->access);
  irh_slab_destroy(&w->conn_slab);
  irh_slab_destroy(&w->stream_slab);
  irh_slab_destroy(&w->proto_slab);
  free(w->read_buf);
  free(w->tls_stage);
  free(w->module_data);
  for (size_t i = 0; i < w->nlanes; i++) free(w->lanes[i]);
  free(w->lanes);
  free(w);
}

void irh_worker_join_and_free(ir_worker_t *w) {
  uv_thread_join(&w->thread);
  worker_free(w);
}

/* ---- SDK timers and work ---- */

static void on_module_timer(uv_timer_t *h) {
  ir_timer_t *t = h->data;
  t->cb(t, t->data);
}

ir_timer_t *irh_timer_start(ir_worker_t *w, uint64_t timeout_ms, uint64_t repeat_ms,
                            void (*cb)(ir_timer_t *, void *), void *data) {
  if (w->closed || !cb) return NULL;
  ir_timer_t *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->worker = w;
  t->cb = cb;
  t->data = data;
  uv_timer_init(&w->loop, &t->handle);
  t->handle.data = t;
  irh_list_push(&w->timers, &t->link);
  uv_timer_start(&t->handle, on_module_timer, timeout_ms, repeat_ms);
  return t;
}

void irh_timer_stop(ir_timer_t *t) {
  if (!t) return;
  irh_list_remove(&t->link);
  uv_timer_stop(&t->handle);
  uv_close((uv_handle_t *)&t->handle, on_module_timer_closed);
}

static void on_work(uv_work_t *req) {
  ir_work_t *job = req->data;
  job->work(job->data);
}

static void on_work_done(uv_work_t *req, int status) {
  ir_work_t *job = req->data;
  ir_worker_t *w = job->worker;
  irh_list_remove(&job->link);
  if (irh_list_linked(&job->owner_link)) irh_list_remove(&job->owner_link);
  int result = IR_OK;
  if (status == UV_ECANCELED)
    result = job->cancelled ? job->cancelled : IR_ECLOSED;
  else if (job->owner_closed)
    result = IR_ECLOSED;
  if (job->done) job->done(job->data, result);
  if (job->gen) irh_generation_release(job->gen);
  free(job);
  if (w->jobs_stopping && irh_list_empty(&w->jobs)) finish_drain(w);
}

/* Drops a job from the pool's queue if its work has not started. */
static int job_cancel(ir_work_t *job, int status) {
  if (job->cancelled || uv_cancel((uv_req_t *)&job->req) != 0) return -1;
  job->cancelled = status;
  return 0;
}

/* The worker is stopping: jobs not started are dropped (done gets
 * IR_ECLOSED), running ones finish, and no new ones are taken. */
static void stop_jobs(ir_worker_t *w) {
  w->jobs_stopping = 1;
  for (irh_link *l = w->jobs.next; l != &w->jobs; l = l->next)
    job_cancel(irh_container_of(l, ir_work_t, link), IR_ECLOSED);
}

ir_work_t *irh_work_start(ir_worker_t *w, irh_link *owner, irh_generation *gen,
                          void (*work)(void *), void (*done)(void *, int), void *data) {
  if (!w || !work || w->closed || w->jobs_stopping) return NULL;
  ir_work_t *job = calloc(1, sizeof(*job));
  if (!job) return NULL;
  job->worker = w;
  job->work = work;
  job->done = done;
  job->data = data;
  job->req.data = job;
  irh_list_init(&job->owner_link);
  if (uv_queue_work(&w->loop, &job->req, on_work, on_work_done) != 0) {
    free(job);
    return NULL;
  }
  irh_list_push(&w->jobs, &job->link);
  if (owner) irh_list_push(owner, &job->owner_link);
  if ((job->gen = gen)) irh_generation_hold(gen);
  return job;
}

int irh_work_submit(ir_worker_t *w, void (*work)(void *), void (*done)(void *, int), void *data) {
  if (!work) return IR_EINVAL;
  if (w->closed || w->jobs_stopping) return IR_ECLOSED;
  return irh_work_start(w, NULL, NULL, work, done, data) ? IR_OK : IR_ENOMEM;
}

int irh_work_cancel(ir_work_t *wk) {
  if (!wk) return IR_EINVAL;
  if (wk->cancelled == IR_ECANCELED) return IR_OK; /* asked already: done still follows once */
  return job_cancel(wk, IR_ECANCELED) == 0 ? IR_OK : IR_ESTATE;
}

void irh_work_owner_closed(irh_link *owner) {
  while (!irh_list_empty(owner)) {
    ir_work_t *job = irh_container_of(owner->next, ir_work_t, owner_link);
    irh_list_remove(&job->owner_link);
    job->owner_closed = 1;
    job_cancel(job, IR_ECLOSED);
  }
}

/* ---- every worker (process.h's irh_serving) ---- */

unsigned irh_worker_count(void) {
  irh_server *srv = atomic_load_explicit(&irh_serving, memory_order_acquire);
  return srv ? srv->nworkers : 0;
}

ir_worker_t *irh_worker_at(unsigned index) {
  irh_server *srv = atomic_load_explicit(&irh_serving, memory_order_acquire);
  return srv && index < srv->nworkers ? srv->workers[index] : NULL;
}
