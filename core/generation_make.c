/* generation_make.c — making and freeing a configuration's generation; see
 * generation_make.h. Making one is all or nothing: whatever fails is reported
 * at its INI line and what was loaded for it is undone, so a reload that
 * fails leaves the serving generation exactly as it was. */
#define _GNU_SOURCE /* F_DUPFD_CLOEXEC */
#include "generation_make.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "module.h"
#include "process.h"
#include "router.h"
#include "tls.h"

/* The listener of prev on the same address as l, or -1. */
static long same_address(const irh_generation *prev, const irh_listen_cfg *l) {
  for (size_t j = 0; prev && j < prev->config->nlistens; j++) {
    const irh_listen_cfg *o = &prev->config->listens[j];
    if (o->addrlen == l->addrlen && memcmp(&o->addr, &l->addr, l->addrlen) == 0) return (long)j;
  }
  return -1;
}

/* Each worker's socket for listener i: prev's for the same address (a
 * second descriptor of it, with the new backlog), else newly bound. */
static int open_sockets(irh_generation *g, const irh_generation *prev, int exclusive) {
  irh_config *c = g->config;
  unsigned n = g->nworkers;
  g->listen_fds = malloc((c->nlistens ? c->nlistens : 1) * n * sizeof(int));
  if (!g->listen_fds) return irh_config_error(c, 0, "out of memory");
  for (size_t i = 0; i < c->nlistens * n; i++) g->listen_fds[i] = -1;
  for (size_t i = 0; i < c->nlistens; i++) {
    const irh_listen_cfg *l = &c->listens[i];
    long j = same_address(prev, l);
    if (j < 0) {
      if (irh_listener_bind(c, i, n, exclusive, g->listen_fds + i * n) != 0) return -1;
      continue;
    }
    for (unsigned k = 0; k < n; k++) {
      int fd = fcntl(prev->listen_fds[(size_t)j * n + k], F_DUPFD_CLOEXEC, 0);
      if (fd < 0 || listen(fd, l->backlog) != 0) {
        if (fd >= 0) close(fd);
        return irh_config_error(c, l->section->line, "[listen %s] cannot keep listening: %m",
                                l->section->arg);
      }
      g->listen_fds[i * n + k] = fd;
    }
  }
  return 0;
}

static int make_tls(irh_generation *g) {
  irh_config *c = g->config;
  g->tls = calloc(c->nlistens ? c->nlistens : 1, sizeof(*g->tls));
  if (!g->tls) return irh_config_error(c, 0, "out of memory");
  for (size_t i = 0; i < c->nlistens; i++)
    if (c->listens[i].tls && !(g->tls[i] = irh_tls_ctx_new(c, &c->listens[i]))) return -1;
  return 0;
}

static int takes_upgrades(const irh_generation *g) {
  for (size_t i = 0; i < g->ninstances; i++)
    if (g->instances[i]->module->desc.flags & IR_MODULE_UPGRADES) return 1;
  return 0;
}

/* The modules c names: those not loaded yet are loaded (not started). */
static int load_modules(irh_server *srv, irh_generation *g) {
  irh_config *c = g->config;
  g->module_map = calloc(c->nmodules ? c->nmodules : 1, sizeof(*g->module_map));
  g->instances = calloc(c->nroutes ? c->nroutes : 1, sizeof(*g->instances));
  if (!g->module_map || !g->instances) return irh_config_error(c, 0, "out of memory");
  int rc = irh_modules_load_for(srv->modules, c, g->module_map);
  g->modules_upto = srv->modules->nmodules;
  return rc;
}

int irh_generation_start(irh_server *srv, irh_generation *g, const irh_generation *prev) {
  irh_config *c = g->config;
  irh_modules *m = srv->modules;
  int rc = irh_modules_init_from(m, c, g->modules_first_new);
  if (rc == 0)
    rc =
        irh_instances_make(m, c, g->module_map, g->modules_first_new, prev ? prev->instances : NULL,
                           prev ? prev->ninstances : 0, g->instances);
  free(g->module_map);
  g->module_map = NULL;
  if (rc != 0) return -1;
  g->ninstances = c->nroutes;
  g->any_upgrades = takes_upgrades(g);
  g->router = irh_router_new(g->instances, g->ninstances);
  return g->router ? 0 : irh_config_error(c, 0, "out of memory");
}

irh_generation *irh_generation_open(irh_server *srv, irh_config *c, const irh_generation *prev,
                                    unsigned flags) {
  irh_generation *g = calloc(1, sizeof(*g));
  if (!g) {
    if (!(flags & IRH_GEN_BORROW)) irh_config_free(c);
    return NULL;
  }
  g->config = c;
  g->borrows_config = (flags & IRH_GEN_BORROW) != 0;
  g->number = prev ? prev->number + 1 : 1;
  g->nworkers = srv->nworkers;
  g->modules_first_new = srv->modules->nmodules;
  /* Sockets last: a failure before them leaves no port bound. */
  if (load_modules(srv, g) != 0 || make_tls(g) != 0 ||
      open_sockets(g, prev, (flags & IRH_GEN_EXCLUSIVE) != 0) != 0) {
    irh_generation_free(srv, g, 1);
    return NULL;
  }
  return g;
}

void irh_generation_retire(irh_generation *g) {
  if (!g->listen_fds) return;
  irh_listeners_close_fds(g->listen_fds, g->config->nlistens * g->nworkers);
  free(g->listen_fds);
  g->listen_fds = NULL;
}

void irh_generation_free(irh_server *srv, irh_generation *g, int undo) {
  if (!g) return;
  irh_generation_retire(g);
  for (size_t i = 0; g->instances && i < g->config->nroutes; i++)
    irh_instance_release(g->instances[i]);
  free(g->instances);
  free(g->module_map);
  if (undo) irh_modules_unload_from(srv->modules, g->modules_first_new);
  irh_router_free(g->router);
  if (g->tls)
    for (size_t i = 0; i < g->config->nlistens; i++) irh_tls_ctx_free(g->tls[i]);
  free(g->tls);
  if (!g->borrows_config) irh_config_free(g->config);
  free(g);
}
