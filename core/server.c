/* server.c — start-up and shutdown of the whole process; see server.h.
 *
 * Order: log files, the first generation opened (modules loaded, ABI and
 * keys checked, TLS keys read, listeners bound here so a busy port is a
 * config error), pid file, privilege drop, the generation started (module
 * init, route instances, router), workers. The main thread then runs a
 * small loop that only waits for signals, takes reloads through their
 * steps (reload.c) and waits for workers to report that they ended.
 */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "daemon.h"
#include "generation_make.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "negotiate.h"
#include "reload.h"
#include "worker.h"

typedef struct irh_main_loop {
  uv_loop_t loop;
  uv_signal_t sigterm, sigint, sigusr1, sighup;
  uv_timer_t poll_workers;
  irh_server *srv;
  irh_reload *reload;
  int signals;
  int announced; /* the "started" line was logged */
} irh_main_loop;

static void log_started(const irh_server *srv);

_Atomic(irh_server *) irh_serving; /* see process.h */

static void stop_workers(irh_server *srv) {
  atomic_store(&srv->stopping, 1);
  for (unsigned i = 0; i < srv->nworkers; i++) irh_worker_request_stop(srv->workers[i]);
}

static void on_signal(uv_signal_t *h, int signum) {
  irh_main_loop *m = h->data;
  if (++m->signals > 1) {
    irh_log_warn("second signal (%d): exiting now", signum);
    _exit(1);
  }
  irh_log_info("signal %d: finishing in-flight requests, then exiting", signum);
  irh_daemon_notify("STOPPING=1");
  stop_workers(m->srv);
}

/* SIGUSR1: the log files again (logrotate moved them). */
static void on_reopen(uv_signal_t *h, int signum) {
  (void)h;
  if (irh_log_reopen() == 0) irh_log_info("signal %d: reopened the log files", signum);
}

/* SIGHUP: the configuration again (reload.c). */
static void on_hangup(uv_signal_t *h, int signum) {
  irh_main_loop *m = h->data;
  irh_log_info("signal %d: reloading the configuration%s", signum,
               m->announced ? "" : " once every worker serves");
  if (m->announced)
    irh_reload_request(m->reload);
  else
    m->reload->again = 1; /* irh_reload_poll takes it up */
}

static void close_signals(irh_main_loop *m) {
  uv_close((uv_handle_t *)&m->sigterm, NULL);
  uv_close((uv_handle_t *)&m->sigint, NULL);
  uv_close((uv_handle_t *)&m->sigusr1, NULL);
  uv_close((uv_handle_t *)&m->sighup, NULL);
}

/* Before stopping: whether every worker started (then "started" is
 * logged) or one could not (it said why; the others are stopped). */
static void watch_start(irh_main_loop *m) {
  unsigned serving = 0;
  for (unsigned i = 0; i < m->srv->nworkers; i++) {
    int started = atomic_load(&m->srv->workers[i]->started);
    if (started < 0) {
      stop_workers(m->srv);
      return;
    }
    serving += started == 1;
  }
  if (serving == m->srv->nworkers && !m->announced) {
    m->announced = 1;
    log_started(m->srv);
  }
}

/* Polls (every 20 ms) whether the workers started, and while stopping
 * whether all their loops ended; cheaper to reason about than a
 * cross-thread handshake. */
static void on_poll_workers(uv_timer_t *t) {
  irh_main_loop *m = t->data;
  if (!atomic_load(&m->srv->stopping)) {
    watch_start(m);
    if (m->announced) irh_reload_poll(m->reload);
    return;
  }
  for (unsigned i = 0; i < m->srv->nworkers; i++)
    if (!m->srv->workers[i]->closed) return;
  close_signals(m);
  uv_close((uv_handle_t *)&m->poll_workers, NULL);
}

/* Catches SIGTERM, SIGINT, SIGUSR1 and SIGHUP from here on; before the
 * workers start, so that a signal sent as soon as they serve is never
 * fatal. The callbacks run once main_loop_run runs the loop. */
static void main_loop_init(irh_main_loop *m, irh_server *srv, irh_reload *reload) {
  *m = (irh_main_loop){.srv = srv, .reload = reload};
  uv_loop_init(&m->loop);
  uv_signal_init(&m->loop, &m->sigterm);
  uv_signal_init(&m->loop, &m->sigint);
  uv_signal_init(&m->loop, &m->sigusr1);
  uv_signal_init(&m->loop, &m->sighup);
  uv_timer_init(&m->loop, &m->poll_workers);
  m->sigterm.data = m->sigint.data = m->poll_workers.data = m->sighup.data = m;
  uv_signal_start(&m->sigterm, on_signal, SIGTERM);
  uv_signal_start(&m->sigint, on_signal, SIGINT);
  uv_signal_start(&m->sigusr1, on_reopen, SIGUSR1);
  uv_signal_start(&m->sighup, on_hangup, SIGHUP);
}

/* Waits for a signal, then for every worker to end (run = 1); or only
 * closes the loop (run = 0, the workers did not start). */
static void main_loop_run(irh_main_loop *m, int run) {
  if (run) {
    uv_timer_start(&m->poll_workers, on_poll_workers, 20, 20);
  } else {
    close_signals(m);
    uv_close((uv_handle_t *)&m->poll_workers, NULL);
  }
  uv_run(&m->loop, UV_RUN_DEFAULT);
  uv_loop_close(&m->loop);
}

static int start_workers(irh_server *srv) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  srv->started_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
  srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
  if (!srv->workers) return -1;
  for (unsigned i = 0; i < srv->nworkers; i++) {
    srv->workers[i] = irh_worker_new(srv, i, srv->current);
    if (!srv->workers[i]) return -1;
  }
  atomic_store_explicit(&irh_serving, srv, memory_order_release);
  for (unsigned i = 0; i < srv->nworkers; i++)
    if (irh_worker_start(srv->workers[i]) != 0) return -1;
  return 0;
}

static void log_started(const irh_server *srv) {
  const irh_config *c = srv->current->config;
  for (size_t i = 0; i < c->nlistens; i++)
    irh_log_info("listening on %s", c->listens[i].section->arg);
  irh_log_info("iridium %s (SDK ABI %d.%d) started: %u workers, %zu modules, %zu routes, "
               "thread pool of %llu",
               IRIDIUM_VERSION, IR_ABI_MAJOR, IR_ABI_MINOR, srv->nworkers, c->nmodules, c->nroutes,
               (unsigned long long)c->thread_pool);
  irh_daemon_notify("READY=1");
}

/* libuv reads UV_THREADPOOL_SIZE once, when the first work is queued on
 * any loop (a module's ir_work_submit, a file read): so before modules
 * start. The INI's value wins over the environment's. */
static int set_thread_pool(const irh_config *c) {
  char n[24];
  snprintf(n, sizeof n, "%llu", (unsigned long long)c->thread_pool);
  if (setenv("UV_THREADPOOL_SIZE", n, 1) == 0) return 0;
  irh_log_error("cannot set UV_THREADPOOL_SIZE: out of memory");
  return -1;
}

int irh_server_run(irh_config *c) {
  irh_server srv = {.nworkers = c->workers, .on_accept = irh_negotiate_accept};
  irh_identity id;
  int status = 1, pid_written = 0;
  signal(SIGPIPE, SIG_IGN);
  if (irh_log_check(c) != 0 || irh_daemon_check(c, &id) != 0 || irh_log_open(c) != 0 ||
      set_thread_pool(c) != 0) {
    irh_config_free(c);
    return 1;
  }
  if (id.set && geteuid() == 0 && irh_log_chown(id.uid, id.gid) != 0)
    irh_log_warn("cannot give the log files to user %s: reopening them may fail", c->user);
  irh_generation *g = NULL; /* until it serves: then srv.current */
  irh_reload reload = {.srv = &srv};
  int served = 0;
  if (irh_metrics_open(srv.nworkers) != 0 || !(srv.modules = irh_modules_new())) {
    irh_config_free(c);
    goto out;
  }
  g = irh_generation_open(&srv, c, NULL, IRH_GEN_EXCLUSIVE); /* owns c from here */
  if (!g) goto out;
  /* Everything that needs root is open (logs, keys, sockets): the pid file,
   * then the user's identity, before any module starts. */
  if (irh_daemon_write_pid(g->config, &id) != 0) goto out;
  pid_written = g->config->pid_file != NULL;
  if (irh_daemon_drop(g->config, &id) != 0 || irh_generation_start(&srv, g, NULL) != 0) goto out;
  srv.current = g;
  irh_generation_hold(g);
  g = NULL;
  irh_main_loop m;
  main_loop_init(&m, &srv, &reload);
  served = start_workers(&srv) == 0;
  if (!served) atomic_store(&irh_serving, NULL);
  main_loop_run(&m, served);
  atomic_store(&irh_serving, NULL); /* every loop ended: nothing serves */
  status = served ? 0 : 1;
out:
  for (unsigned i = 0; served && i < srv.nworkers; i++) {
    if (srv.workers[i]->exit_status) status = srv.workers[i]->exit_status;
    irh_worker_join_and_free(srv.workers[i]);
  }
  if (served) irh_log_info("stopped");
  if (pid_written) irh_daemon_remove_pid((srv.current ? srv.current : g)->config);
  free(srv.workers);
  if (srv.current) irh_generation_release(srv.current);
  irh_reload_end(&reload); /* every generation: current, older ones, a pending one */
  irh_generation_free(&srv, g, 0);
  irh_modules_free(srv.modules);
  irh_metrics_close();
  irh_log_close();
  return status;
}

int irh_server_check(irh_config *c) {
  irh_identity id;
  int bad = irh_log_check(c) != 0; /* both checks report, then the answer */
  if (irh_daemon_check(c, &id) != 0) bad = 1;
  if (bad) return 1;
  if (set_thread_pool(c) != 0 || irh_metrics_open(1) != 0) return 1; /* the trial worker's */
  irh_server srv = {.nworkers = 1, .modules = irh_modules_new()};
  irh_generation *g = srv.modules ? irh_generation_open(&srv, c, NULL, IRH_GEN_BORROW) : NULL;
  /* The ports could be bound; they must not take a running server's
   * clients (they share its port through SO_REUSEPORT) while modules start. */
  if (g) irh_generation_retire(g);
  int rc = g && irh_generation_start(&srv, g, NULL) == 0 ? 0 : 1;
  /* worker_init and worker_exit too, on a worker that never listens. */
  if (rc == 0 && irh_worker_trial(&srv, g) != 0) rc = 1;
  if (g) irh_generation_free(&srv, g, 0);
  irh_modules_free(srv.modules);
  irh_metrics_close();
  return rc;
}
