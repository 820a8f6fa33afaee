/* old_minor.c — a module as the oldest supported SDK of this major (ABI
 * MAJOR.0) would have built it, loaded by today's host (old_minor.sh).
 *
 * Its descriptor says abi_minor 0 and has ABI 1.0's size: struct_size stops
 * where the first 1.1 member (flags) starts. Whatever lies past struct_size
 * in a real 1.0 module is not its descriptor (the linker puts the next
 * object there), so this one sets every flag bit there: a host that reads
 * past struct_size sees IR_MODULE_UPGRADES, and old_minor.sh notices (the
 * listener then offers extended CONNECT on HTTP/2). It uses no 1.1
 * service: the poison below makes any mention of req_upgrade a compile
 * error. GET (any method) answers "old module ok".
 * Built only for the tests, never installed. */
#include <stddef.h>

#include <iridium/iridium.h>

#pragma GCC poison ir_req_upgrade req_upgrade

static const char answer[] = "old module ok\n";

static int old_on_request(ir_stream_t *s, void *instance_data) {
  (void)instance_data;
  return ir_respond_simple(s, 200, "text/plain", answer, sizeof answer - 1);
}

static const ir_module_desc old_minor = {
    .struct_size = offsetof(ir_module_desc, flags), /* ABI 1.0's sizeof */
    .abi_major = IR_ABI_MAJOR,
    .abi_minor = 0,
    .name = "old",
    .version = "1.0.0",
    .on_request = old_on_request,
    /* Not part of a 1.0 descriptor: stands for the bytes that follow one. */
    .flags = 0xffffffffu,
};

IR_MODULE_DEFINE(old_minor)
