/* newer_minor.c — a module built for a newer ABI minor than the host's. It
 * may use host-table entries this host does not have, so the host must refuse
 * it, naming the file and both versions in one line (module_load.sh).
 * Built only for the tests, never installed. */
#include <iridium/iridium.h>

static const ir_module_desc newer_minor = {
    .struct_size = sizeof(ir_module_desc),
    .abi_major = IR_ABI_MAJOR,
    .abi_minor = IR_ABI_MINOR + 1,
    .name = "newer",
    .version = "0.0.0",
};

IR_MODULE_DEFINE(newer_minor)
