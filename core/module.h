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
 * validated with config.c's irh_config_check_keys().
 */
#ifndef IRIDIUM_CORE_MODULE_H
#define IRIDIUM_CORE_MODULE_H

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
  const irh_route_cfg *route;
  irh_key_value *values; /* one per module key, owned */
  size_t nvalues;
  void *data; /* module-owned instance data */
  int created;
};

typedef struct irh_modules {
  ir_module_t *modules; /* owned */
  size_t nmodules;
  ir_instance_t *instances; /* owned; one per route, in route order */
  size_t ninstances;
} irh_modules;

/* Loads every module and checks every route's keys. Reports problems
 * through irh_config_error and returns NULL if there were any. */
irh_modules *irh_modules_load(irh_config *c);
/* Calls init on each module, then instance_create on each instance (also
 * for `iridium -t`, so modules check their own resources). A refusal is
 * reported through irh_config_error at the section's line. */
int irh_modules_start(irh_modules *m, irh_config *c);
/* worker_init on each module in order, on the worker's thread, stopping at
 * the first that fails. *ready is how many succeeded (all: m->nmodules):
 * worker_exit is owed to exactly those. Returns 0, or -1 when one failed
 * (then m->modules[*ready] is the one). */
int irh_modules_worker_init(irh_modules *m, ir_worker_t *w, size_t *ready);
/* worker_exit on the first `ready` modules (those whose worker_init
 * succeeded on w), last first, on the worker's thread. */
void irh_modules_worker_exit(irh_modules *m, ir_worker_t *w, size_t ready);
/* Whether the module's descriptor (struct_size, as it declared it) reaches
 * field and sets it: a module built for an older minor never has a newer
 * hook called. */
#define IRH_DESC_HAS(desc, field)                                                                  \
  ((desc)->struct_size >= offsetof(ir_module_desc, field) + sizeof((desc)->field) &&               \
   (desc)->field != NULL)
/* on_worker_drain(ms_left) on the first `ready` modules (those whose
 * worker_init succeeded on w) that declare it, in order, on w's thread. */
void irh_modules_worker_drain(irh_modules *m, ir_worker_t *w, size_t ready, uint64_t ms_left);
/* instance_destroy, fini, dlclose, free. */
void irh_modules_free(irh_modules *m);

/* The host's API table (host_api.c). */
const ir_host_api *irh_host_api(void);

#endif /* IRIDIUM_CORE_MODULE_H */
