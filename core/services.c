/* services.c — the module service registry; see services.h. */
#include "services.h"

#include <stdlib.h>
#include <string.h>

#include <iridium/abi.h>

typedef struct irh_service {
  char *name; /* owned */
  uint32_t version;
  const void *iface; /* module-owned */
  ir_module_t *owner;
} irh_service;

static irh_service *services; /* written on the main thread before workers start */
static size_t nservices;

int irh_service_register(ir_module_t *m, const char *name, uint32_t version, const void *iface) {
  if (!name || !*name || !iface) return IR_EINVAL;
  for (size_t i = 0; i < nservices; i++)
    if (strcmp(services[i].name, name) == 0 && services[i].version == version) return IR_EEXIST;
  irh_service *grown = realloc(services, (nservices + 1) * sizeof(*grown));
  if (!grown) return IR_ENOMEM;
  services = grown;
  char *copy = strdup(name);
  if (!copy) return IR_ENOMEM;
  services[nservices++] = (irh_service){copy, version, iface, m};
  return IR_OK;
}

const void *irh_service_lookup(const char *name, uint32_t min_version, uint32_t *found_version) {
  const irh_service *best = NULL;
  if (!name) return NULL;
  for (size_t i = 0; i < nservices; i++) {
    const irh_service *s = &services[i];
    if (strcmp(s->name, name) != 0 || s->version < min_version) continue;
    if (!best || s->version > best->version) best = s;
  }
  if (best && found_version) *found_version = best->version;
  return best ? best->iface : NULL;
}

void irh_services_clear(void) {
  for (size_t i = 0; i < nservices; i++) free(services[i].name);
  free(services);
  services = NULL;
  nservices = 0;
}
