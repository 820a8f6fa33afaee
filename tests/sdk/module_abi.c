/* module_abi.c — prints the ABI version a built module declares, as the host
 * reads it: dlopen, the entry function, the descriptor's abi_major,
 * abi_minor and struct_size. For target_minor.sh, which checks that a module
 * built for an older minor (IR_ABI_TARGET_MINOR) says so.
 *
 *   module_abi SO   ->   "ABI 1.0 struct_size 120 (ABI 1.0's: 120)"
 *
 * Exit 1 when the module has no entry or descriptor, or when struct_size is
 * not the size that minor's SDK gave ir_module_desc (1.0's ends before flags).
 * Built only for the tests, never installed. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

#include <iridium/iridium.h>

/* sizeof(ir_module_desc) in the SDK of each minor up to today's. */
static size_t desc_size_of_minor(unsigned minor) {
  if (minor == 0) return offsetof(ir_module_desc, flags);
  if (minor <= 3) return offsetof(ir_module_desc, on_worker_drain);
  return sizeof(ir_module_desc);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODULE.so\n", argv[0]);
    return 2;
  }
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "module_abi: %s\n", dlerror());
    return 1;
  }
  ir_module_entry_fn entry = (ir_module_entry_fn)dlsym(h, IR_MODULE_ENTRY_SYMBOL);
  if (!entry) {
    fprintf(stderr, "module_abi: %s has no %s\n", argv[1], IR_MODULE_ENTRY_SYMBOL);
    return 1;
  }
  /* The entry function only keeps the table's address: an empty one does. */
  static ir_host_api host = {
      .struct_size = sizeof(ir_host_api), .abi_major = IR_ABI_MAJOR, .abi_minor = IR_ABI_MINOR};
  const ir_module_desc *d = entry(&host, IR_ABI_VERSION);
  if (!d) {
    fprintf(stderr, "module_abi: %s returned no descriptor\n", argv[1]);
    return 1;
  }
  unsigned major = d->abi_major, minor = d->abi_minor;
  size_t want = minor <= IR_ABI_MINOR ? desc_size_of_minor(minor) : 0;
  printf("ABI %u.%u struct_size %u (ABI %u.%u's: %zu)\n", major, minor, (unsigned)d->struct_size,
         major, minor, want);
  return d->struct_size == want ? 0 : 1;
}
