/* no_entry.c — a shared object that forgot IR_MODULE_DEFINE: it loads with
 * dlopen but has no iridium_module_entry symbol, only a differently named
 * export. The host must refuse it with a line naming the file
 * (module_load.sh). Built only for the tests, never installed. */
#include <iridium/iridium.h>

__attribute__((visibility("default"))) int iridium_module_entry_missing(void);
__attribute__((visibility("default"))) int iridium_module_entry_missing(void) { return 0; }
