/* wrong_abi.c — a module built for the next ABI major. The host must refuse
 * it before calling anything but the entry function, with one line naming
 * the file, the module's ABI (MAJOR+1.MINOR) and the host's (module_load.sh).
 * Built only for the tests, never installed. */
#include <iridium/iridium.h>

static const ir_module_desc wrong_abi = {
    .struct_size = sizeof(ir_module_desc),
    .abi_major = IR_ABI_MAJOR + 1,
    .abi_minor = IR_ABI_MINOR,
    .name = "wrong",
    .version = "0.0.0",
};

IR_MODULE_DEFINE(wrong_abi)
