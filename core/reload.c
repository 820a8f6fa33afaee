/* reload.c — the reload's steps on the main thread; see reload.h. */
#include "reload.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "generation_make.h"
#include "log.h"
#include "module.h"
#include "worker.h"

enum { STEP_INIT = 1, STEP_UNWIND, STEP_ADOPT };

/* A reload's INI problems go to the error log (stderr may be nowhere). */
static void to_log(int warning, const char *where, const char *msg) {
  irh_log(warning ? IR_LOG_WARN : IR_LOG_ERROR, 0, -1, NULL, "reload: %s%s", where, msg);
}

static int same(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* [server] keys read once at start: a new value is said, not applied. */
static void warn_fixed(const irh_config *old, const irh_config *c) {
  struct {
    const char *key;
    int changed;
  } keys[] = {
      {"workers", old->workers != c->workers},
      {"thread_pool", old->thread_pool != c->thread_pool},
      {"user", !same(old->user, c->user)},
      {"group", !same(old->group, c->group)},
      {"pid_file", !same(old->pid_file, c->pid_file)},
      {"error_log", !same(old->error_log, c->error_log)},
      {"access_log", !same(old->access_log, c->access_log)},
      {"access_log_format", old->access_log_format != c->access_log_format},
      {"log_level", old->log_level != c->log_level},
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (keys[i].changed)
      irh_log_warn("reload: [server] %s changed in %s: it takes effect at a restart", keys[i].key,
                   c->path);
}

/* Posts one step to every worker; a worker that takes no posts any more
 * (the server is stopping) counts as done. */
static void post_all(irh_reload *r, int step) {
  irh_generation *g = r->pending;
  int (*post)(ir_worker_t *, irh_generation *) = step == STEP_INIT     ? irh_worker_reload_init
                                                 : step == STEP_UNWIND ? irh_worker_reload_unwind
                                                                       : irh_worker_reload_adopt;
  r->step = step;
  atomic_store(&g->acks, 0);
  for (unsigned i = 0; i < r->srv->nworkers; i++)
    if (post(r->srv->workers[i], g) != 0) atomic_fetch_add(&g->acks, 1);
}

static void start(irh_reload *r) {
  irh_server *srv = r->srv;
  irh_generation *cur = srv->current;
  const char *path = cur->config->path;
  irh_log_info("reload: reading %s", path);
  irh_config_set_sink(to_log);
  irh_config *c = irh_config_load(path);
  irh_generation *g = NULL;
  if (c) {
    warn_fixed(cur->config, c);
    g = irh_generation_open(srv, c, cur, IRH_GEN_EXCLUSIVE);
  }
  if (g && irh_generation_start(srv, g, cur) != 0) {
    irh_generation_free(srv, g, 1);
    g = NULL;
  }
  irh_config_set_sink(NULL);
  if (!g) {
    irh_log_error("reload failed: still serving generation %u, as before", cur->number);
    return;
  }
  irh_generation_hold(g);
  r->pending = g;
  post_all(r, STEP_INIT);
}

void irh_reload_request(irh_reload *r) {
  if (atomic_load(&r->srv->stopping)) return;
  if (r->pending) {
    r->again = 1;
    return;
  }
  start(r);
}

/* Every worker moved to pending: it is the current one now. */
static void adopted(irh_reload *r) {
  irh_server *srv = r->srv;
  irh_generation *g = r->pending, *old = srv->current;
  srv->current = g; /* the reload's reference becomes the server's */
  r->pending = NULL;
  /* A worker that could not move on still accepts on the old sockets. */
  if (!atomic_load(&g->worker_failed)) irh_generation_retire(old);
  irh_generation_release(old);
  old->next = srv->old;
  srv->old = old;
  size_t kept = 0;
  for (size_t i = 0; i < g->ninstances; i++)
    for (size_t k = 0; k < old->ninstances; k++) kept += g->instances[i] == old->instances[k];
  irh_log_info("reload: serving generation %u (%zu listeners, %zu routes, %zu of them unchanged, "
               "%zu modules loaded, %zu new); connections already open finish on the one they "
               "started on",
               g->number, g->config->nlistens, g->ninstances, kept, g->modules_upto,
               g->modules_upto - g->modules_first_new);
}

static void free_unheld(irh_server *srv) {
  for (irh_generation **p = &srv->old; *p;) {
    irh_generation *g = *p;
    if (atomic_load(&g->refs) != 0) {
      p = &g->next;
      continue;
    }
    *p = g->next;
    irh_log_info("reload: generation %u freed: its last connection closed", g->number);
    irh_generation_free(srv, g, 0);
  }
}

void irh_reload_poll(irh_reload *r) {
  irh_server *srv = r->srv;
  free_unheld(srv);
  irh_generation *g = r->pending;
  if (!g) {
    if (r->again && !atomic_load(&srv->stopping)) {
      r->again = 0;
      start(r);
    }
    return;
  }
  if (atomic_load(&g->acks) < srv->nworkers) return;
  switch (r->step) {
  case STEP_INIT: post_all(r, atomic_load(&g->worker_failed) ? STEP_UNWIND : STEP_ADOPT); break;
  case STEP_UNWIND:
    r->pending = NULL;
    irh_generation_release(g);
    irh_generation_free(srv, g, 1);
    irh_log_error("reload failed: still serving generation %u, as before", srv->current->number);
    break;
  default: adopted(r); break;
  }
}

void irh_reload_end(irh_reload *r) {
  irh_server *srv = r->srv;
  if (r->pending) { /* its modules' worker_exit ran with the others' */
    irh_generation_free(srv, r->pending, 0);
    r->pending = NULL;
  }
  if (srv->current) {
    irh_generation_free(srv, srv->current, 0);
    srv->current = NULL;
  }
  while (srv->old) {
    irh_generation *g = srv->old;
    srv->old = g->next;
    irh_generation_free(srv, g, 0);
  }
}
