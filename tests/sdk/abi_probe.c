/* abi_probe.c — a shared library that exists only to be read by abidw.
 *
 * libabigail describes the types reachable from a library's exported
 * functions. The SDK is headers only, so this file exports one empty function
 * per public type, taking a pointer to it; built with -g, its DWARF then
 * holds every public type in full and `abidw` turns that into the ABI
 * description that the baselines in sdk/abi/ (iridium-sdk-MAJOR.MINOR.abi,
 * one per version) are compared against (see check_abi.sh). A new public
 * type gets a new probe function here.
 */
#include <iridium/iridium.h>

/* With optimisation GCC merges these identical empty functions and abidw
 * then sees only some of the types: the check would pass blind. */
#ifdef __OPTIMIZE__
#error "abi_probe.c must be built with -O0 (see tests/sdk/CMakeLists.txt)"
#endif

#define IR_PROBE(type, name)                                                                       \
  __attribute__((visibility("default"))) void ir_abi_probe_##name(type *p);                        \
  __attribute__((visibility("default"))) void ir_abi_probe_##name(type *p) { (void)p; }

/* abi.h */
IR_PROBE(ir_error, error)
IR_PROBE(ir_log_level, log_level)
IR_PROBE(ir_str, str)

/* module.h */
IR_PROBE(ir_key_type, key_type)
IR_PROBE(ir_config_key, config_key)
IR_PROBE(ir_close_reason, close_reason)
IR_PROBE(ir_module_desc, module_desc)
IR_PROBE(ir_module_entry_fn, module_entry_fn)
IR_PROBE(ir_module_t, module)
IR_PROBE(ir_instance_t, instance)
IR_PROBE(ir_worker_t, worker)
IR_PROBE(ir_stream_t, stream)
IR_PROBE(ir_timer_t, timer)
IR_PROBE(ir_work_t, work)
IR_PROBE(ir_watch_t, watch)
IR_PROBE(ir_outbound_t, outbound)
IR_PROBE(ir_metric_t, metric)
IR_PROBE(ir_series_t, series)

/* host.h */
IR_PROBE(ir_host_api, host_api)
IR_PROBE(ir_timer_cb, timer_cb)
IR_PROBE(ir_task_cb, task_cb)
IR_PROBE(ir_done_cb, done_cb)
IR_PROBE(ir_watch_cb, watch_cb)
IR_PROBE(ir_outbound_opts, outbound_opts)
IR_PROBE(ir_outbound_cbs, outbound_cbs)
IR_PROBE(ir_metric_sample, metric_sample)
IR_PROBE(ir_metric_visit_cb, metric_visit_cb)
IR_PROBE(ir_server_info, server_info)
IR_PROBE(ir_stream_info, stream_info)
IR_PROBE(ir_conn_info, conn_info)
IR_PROBE(ir_conn_visit_cb, conn_visit_cb)
