/* services.h — the registry through which modules offer each other
 * interfaces, by name and version. Registration happens on the main thread
 * during module init; afterwards the registry is read-only, so lookups from
 * any thread need no lock. */
#ifndef IRIDIUM_CORE_SERVICES_H
#define IRIDIUM_CORE_SERVICES_H

#include <stdint.h>

#include <iridium/module.h>

int irh_service_register(ir_module_t *m, const char *name, uint32_t version, const void *iface);
const void *irh_service_lookup(const char *name, uint32_t min_version, uint32_t *found_version);
/* Drops every registration (after modules are unloaded). */
void irh_services_clear(void);

#endif /* IRIDIUM_CORE_SERVICES_H */
