/* config_dump.h — what the command line prints about a configuration:
 * `iridium --keys` (the host's own keys), `iridium --modules` (the loaded
 * modules and their route keys) and `iridium -T` (the effective
 * configuration, every default filled in). */
#ifndef IRIDIUM_CORE_CONFIG_DUMP_H
#define IRIDIUM_CORE_CONFIG_DUMP_H

#include <stdio.h>

#include "config.h"
#include "module.h"

/* One tab-separated line per key of each host section:
 *   SECTION KEY TYPE DEFAULT HELP
 * DEFAULT is "(required)" for a key that must be set and "-" for one whose
 * default depends on the section (its HELP says how). */
void irh_print_host_keys(FILE *out);

/* Per loaded module, tab-separated: a line
 *   module NAME VERSION ABI_MAJOR.ABI_MINOR PATH
 * then one per key its routes take:
 *   key NAME KEY TYPE DEFAULT HELP */
void irh_print_modules(const irh_modules *m, FILE *out);

/* c as an INI that loads as the same configuration: every section of the
 * file with every key, given or default, relative paths resolved. m is
 * the loaded modules (their route keys and values). */
void irh_print_effective(const irh_config *c, const irh_modules *m, FILE *out);

#endif /* IRIDIUM_CORE_CONFIG_DUMP_H */
