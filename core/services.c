/* services.c — the module service registry; see services.h. */
#include "services.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <iridium/abi.h>

typedef struct irh_service {
  char *name; /* owned */
  uint32_t version;
  _Atomic(const void *) iface; /* module-owned; NULL once its module is unloaded */
  ir_module_t *owner;
} irh_service;

/* Written on the main thread (module init, at start and by reloads);
 * slots never move and the count is published after its slot is filled,
 * so lookups from any thread need no lock. */
#define MAX_SERVICES 256
static irh_service services[MAX_SERVICES];
static atomic_size_t nservices;

int irh_service_register(ir_module_t *m, const char *name, uint32_t version, const void *iface) {
  if (!name || !*name || !iface) return IR_EINVAL;
  size_t n = atomic_load_explicit(&nservices, memory_order_relaxed);
  for (size_t i = 0; i < n; i++)
    if (atomic_load(&services[i].iface) && strcmp(services[i].name, name) == 0 &&
        services[i].version == version)
      return IR_EEXIST;
  if (n == MAX_SERVICES) return IR_ENOMEM;
  char *copy = strdup(name);
  if (!copy) return IR_ENOMEM;
  services[n].name = copy;
  services[n].version = version;
  services[n].owner = m;
  atomic_store_explicit(&services[n].iface, iface, memory_order_relaxed);
  atomic_store_explicit(&nservices, n + 1, memory_order_release);
  return IR_OK;
}

const void *irh_service_lookup(const char *name, uint32_t min_version, uint32_t *found_version) {
  const irh_service *best = NULL;
  if (!name) return NULL;
  size_t n = atomic_load_explicit(&nservices, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    const irh_service *s = &services[i];
    if (!atomic_load_explicit(&s->iface, memory_order_relaxed) || strcmp(s->name, name) != 0 ||
        s->version < min_version)
      continue;
    if (!best || s->version > best->version) best = s;
  }
  if (best && found_version) *found_version = best->version;
  return best ? atomic_load_explicit(&best->iface, memory_order_relaxed) : NULL;
}

void irh_services_drop(const ir_module_t *m) {
  size_t n = atomic_load(&nservices);
  for (size_t i = 0; i < n; i++)
    if (services[i].owner == m) atomic_store(&services[i].iface, NULL);
}

void irh_services_clear(void) {
  size_t n = atomic_load(&nservices);
  for (size_t i = 0; i < n; i++) free(services[i].name);
  memset(services, 0, sizeof services);
  atomic_store(&nservices, 0);
}
