/* module.h — loading modules and making their route instances.
 *
 * module.c dlopens each [module NAME] with RTLD_NOW|RTLD_LOCAL, finds the
 * one entry symbol, calls it with the host API table and checks the
 * descriptor's ABI version before touching anything else: a module whose
 * major differs or whose minor is newer than the host's is refused with one
 * line and nothing else of it is called. The descriptor and key tables are
 * copied into host-sized structs (zero-filled past the module's struct_size)
 * so the rest of the host can read every field safely.
 *
 * Each [route] becomes an ir_instance holding its module's key values,
 * validated with config.c's irh_config_check_keys(). A reload (server.c,
 * generation.c) loads only modules not loaded yet and keeps the instance
 * of every route it leaves as it was.
 */
#ifndef IRIDIUM_CORE_MODULE_H
#define IRIDIUM_CORE_MODULE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <iridium/iridium.h>

#include "config.h"

typedef struct irh_key_value {
  ir_config_key key; /* host-sized copy of the module's declaration */
  char *text;        /* value (or default) as text, owned; NULL when unset */
  int64_t number;    /* parsed INT/BOOL/SIZE/DURATION */
} irh_key_value;

struct ir_module {
  char *name;          /* owned */
  char *path;          /* owned */
  void *handle;        /* dlopen handle */
  ir_module_desc desc; /* host-sized copy */
  ir_config_key *keys; /* host-sized copies, owned; nkeys of them */
  size_t nkeys;
  void *data; /* module-owned, set through the SDK */
  int initialized;
};

struct ir_instance {
  ir_module_t *module;
  const irh_route_cfg *route; /* &own: outlives the config that made it */
  irh_route_cfg own;          /* prefix, host and module owned; section NULL */
  irh_key_value *values;      /* one per module key, owned */
  size_t nvalues;
  void *data; /* module-owned instance data */
  int created;
  atomic_uint holders; /* generations routing to it (module.c's irh_instance_release) */
};

/* The modules loaded since start, in load order. Slots never move (each
 * worker's module data is indexed by slot), so a reload appends: a module
 * stays loaded while its slot is in use, and until the server stops. */
#define IRH_MAX_MODULES 64

typedef struct irh_modules {
  ir_module_t *modules; /* owned; IRH_MAX_MODULES slots, [0, nmodules) loaded */
  size_t nmodules;
  ir_instance_t **instances; /* irh_modules_load's, one per route in route order; held */
  size_t ninstances;
} irh_modules;

/* The one-shot form (`-T`, `--modules`): every module of c loaded and
 * every route's keys checked, instances in m->instances (never created:
 * for printing their values). Reports problems through irh_config_error
 * and returns NULL if there were any. */
irh_modules *irh_modules_load(irh_config *c);

/* ---- the serving form: a generation's modules and instances ---- */

irh_modules *irh_modules_new(void);
/* map[i] = the loaded module for c->modules[i]: one already loaded from the
 * same path under the same name, else a new slot (dlopen, ABI check, keys).
 * Returns 0, or -1 after reporting through irh_config_error. */
int irh_modules_load_for(irh_modules *m, irh_config *c, ir_module_t **map);
/* init on the slots from first on. -1 after reporting (those that did
 * init are fini'd by irh_modules_unload_from). */
int irh_modules_init_from(irh_modules *m, irh_config *c, size_t first);
/* fini (those that did init) and dlclose of the slots from first on, which
 * no worker has run worker_init for; nmodules = first. */
void irh_modules_unload_from(irh_modules *m, size_t first);
/* out[i] = the instance for c->routes[i]: a route identical to one of
 * prev's (same module, host, prefix, handler_timeout and key values) keeps
 * that instance (held again), any other gets a new one (instance_create).
 * A module loaded before this call (slot < first_new) that does not
 * declare IR_MODULE_RELOADS can neither gain nor lose a route this way:
 * refused at the route's line. prev may be NULL. Returns 0, or -1 after
 * reporting, with out[] released. */
int irh_instances_make(irh_modules *m, irh_config *c, ir_module_t **map, size_t first_new,
                       ir_instance_t *const *prev, size_t nprev, ir_instance_t **out);
/* One holder less: the last one destroys it (instance_destroy). Main thread. */
void irh_instance_release(ir_instance_t *inst);

/* worker_init on each module from *ready up to upto, in order, on the
 * worker's thread, stopping at the first that fails. *ready is how many
 * succeeded (all: upto): worker_exit is owed to exactly those. Returns 0,
 * or -1 when one failed (then m->modules[*ready] is the one). */
int irh_modules_worker_init(irh_modules *m, ir_worker_t *w, size_t *ready, size_t upto);
/* worker_exit on the modules in [from, *ready), last first, on the worker's
 * thread; *ready = from. */
void irh_modules_worker_exit(irh_modules *m, ir_worker_t *w, size_t *ready, size_t from);
/* Whether the module's descriptor (struct_size, as it declared it) reaches
 * field and sets it: a module built for an older minor never has a newer
 * hook called. */
#define IRH_DESC_HAS(desc, field)                                                                  \
  ((desc)->struct_size >= offsetof(ir_module_desc, field) + sizeof((desc)->field) &&               \
   (desc)->field != NULL)
/* on_worker_drain(ms_left) on the first `ready` modules (those whose
 * worker_init succeeded on w) that declare it, in order, on w's thread. */
void irh_modules_worker_drain(irh_modules *m, ir_worker_t *w, size_t ready, uint64_t ms_left);
/* Releases m->instances, then fini, dlclose, free (every generation's
 * instances released before). */
void irh_modules_free(irh_modules *m);

/* The host's API table (host_api.c). */
const ir_host_api *irh_host_api(void);

#endif /* IRIDIUM_CORE_MODULE_H */
