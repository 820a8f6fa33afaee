/* services.h — the registry through which modules offer each other
 * interfaces, by name and version. Registration happens on the main thread
 * during module init (at start, and for a module a reload loads); lookups
 * from any thread need no lock. A module that a reload drops keeps its
 * registration while it stays loaded (until the server stops). */
#ifndef IRIDIUM_CORE_SERVICES_H
#define IRIDIUM_CORE_SERVICES_H

#include <stdint.h>

#include <iridium/module.h>

int irh_service_register(ir_module_t *m, const char *name, uint32_t version, const void *iface);
const void *irh_service_lookup(const char *name, uint32_t min_version, uint32_t *found_version);
/* Withdraws m's registrations (m is being unloaded: a reload failed). */
void irh_services_drop(const ir_module_t *m);
/* Drops every registration (after modules are unloaded). */
void irh_services_clear(void);

#endif /* IRIDIUM_CORE_SERVICES_H */
