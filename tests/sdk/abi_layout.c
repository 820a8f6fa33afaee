/* abi_layout.c — compile-time guard of the SDK's binary layout on x86_64 Linux.
 *
 * Every public struct's size, alignment and every field's offset, and every
 * enum value and ABI constant, written out as literal numbers. A change to the
 * headers that moves anything breaks the build of this file, which is the
 * point: modules already built against ABI 1.x depend on these numbers.
 *
 * A deliberate ABI 1.(x+1) addition appends fields at the end of a struct:
 * add asserts for the new fields under a "1.(x+1)" line, note where the
 * older version ended (the struct_size an older module sends is the offset
 * of the first newer field), and update the struct's size; never edit an
 * existing offset (that would be an ABI break: a major bump).
 *
 * The program itself only prints OK, so ctest can run it; the work is done by
 * the compiler.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>

#include <iridium/iridium.h>

#if defined(__x86_64__) && defined(__linux__) && defined(__LP64__)

#define SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof(" #type ") changed")
#define ALIGN(type, n) _Static_assert(alignof(type) == (n), "alignof(" #type ") changed")
#define AT(type, field, n)                                                                         \
  _Static_assert(offsetof(type, field) == (n), "offsetof(" #type ", " #field ") changed")
#define VALUE(expr, n) _Static_assert((expr) == (n), #expr " changed")

/* ---- abi.h ---- */
VALUE(IR_ABI_MAJOR, 1);
VALUE(IR_ABI_VERSION, IR_ABI_PACK(IR_ABI_MAJOR, IR_ABI_MINOR));
VALUE(IR_ABI_PACK(1, 2), 0x00010002u);
VALUE(IR_ABI_MAJOR_OF(0x00030004u), 3);
VALUE(IR_ABI_MINOR_OF(0x00030004u), 4);

SIZE(ir_error, 4);
VALUE(IR_OK, 0);
VALUE(IR_EINVAL, -1);
VALUE(IR_ENOMEM, -2);
VALUE(IR_EAGAIN, -3);
VALUE(IR_ECLOSED, -4);
VALUE(IR_ESTATE, -5);
VALUE(IR_ENOTFOUND, -6);
VALUE(IR_EEXIST, -7);
VALUE(IR_ETOOBIG, -8);
VALUE(IR_EVERSION, -9);
VALUE(IR_EIO, -10);
VALUE(IR_ETIMEDOUT, -11);
/* 1.4 */
VALUE(IR_ECANCELED, -12);
VALUE(IR_EREFUSED, -13);
VALUE(IR_ETLS, -14);

SIZE(ir_log_level, 4);
VALUE(IR_LOG_DEBUG, 0);
VALUE(IR_LOG_INFO, 1);
VALUE(IR_LOG_WARN, 2);
VALUE(IR_LOG_ERROR, 3);

SIZE(ir_str, 16);
ALIGN(ir_str, 8);
AT(ir_str, ptr, 0);
AT(ir_str, len, 8);

/* ---- module.h ---- */
SIZE(ir_key_type, 4);
VALUE(IR_KEY_STRING, 1);
VALUE(IR_KEY_INT, 2);
VALUE(IR_KEY_BOOL, 3);
VALUE(IR_KEY_SIZE, 4);
VALUE(IR_KEY_DURATION, 5);
VALUE(IR_KEY_PATH, 6);

SIZE(ir_close_reason, 4);
VALUE(IR_CLOSE_DONE, 0);
VALUE(IR_CLOSE_ABORTED, 1);
VALUE(IR_CLOSE_ERROR, 2);
VALUE(IR_CLOSE_TIMEOUT, 3);
VALUE(IR_CLOSE_SHUTDOWN, 4);

SIZE(ir_config_key, 40);
ALIGN(ir_config_key, 8);
AT(ir_config_key, struct_size, 0);
AT(ir_config_key, type, 4);
AT(ir_config_key, name, 8);
AT(ir_config_key, default_value, 16);
AT(ir_config_key, required, 24);
AT(ir_config_key, help, 32);

SIZE(ir_module_desc, 144);
ALIGN(ir_module_desc, 8);
AT(ir_module_desc, struct_size, 0);
AT(ir_module_desc, abi_major, 4);
AT(ir_module_desc, abi_minor, 6);
AT(ir_module_desc, name, 8);
AT(ir_module_desc, version, 16);
AT(ir_module_desc, keys, 24);
AT(ir_module_desc, init, 32);
AT(ir_module_desc, fini, 40);
AT(ir_module_desc, instance_create, 48);
AT(ir_module_desc, instance_destroy, 56);
AT(ir_module_desc, worker_init, 64);
AT(ir_module_desc, worker_exit, 72);
AT(ir_module_desc, on_request, 80);
AT(ir_module_desc, on_body, 88);
AT(ir_module_desc, on_body_end, 96);
AT(ir_module_desc, on_writable, 104);
AT(ir_module_desc, on_close, 112);
/* 1.1: ABI 1.0's descriptor ended here (a 1.0 module's struct_size is 120). */
AT(ir_module_desc, flags, 120);
/* 1.4: ABI 1.1-1.3's descriptor ended here (their struct_size was 128). */
AT(ir_module_desc, on_worker_drain, 128);
AT(ir_module_desc, on_stream_drain, 136);
VALUE(IR_MODULE_UPGRADES, 0x1u);

/* The host looks the entry function up by this exact name. */
_Static_assert(sizeof(IR_MODULE_ENTRY_SYMBOL) == sizeof("iridium_module_entry"),
               "IR_MODULE_ENTRY_SYMBOL changed");

/* ---- host.h ---- */
VALUE(IR_HEAD_END_STREAM, 0x1u);

SIZE(ir_host_api, 520);
ALIGN(ir_host_api, 8);
AT(ir_host_api, struct_size, 0);
AT(ir_host_api, abi_major, 4);
AT(ir_host_api, abi_minor, 6);
AT(ir_host_api, strerror, 8);
AT(ir_host_api, logv, 16);
AT(ir_host_api, module_name, 24);
AT(ir_host_api, module_set_data, 32);
AT(ir_host_api, module_data, 40);
AT(ir_host_api, instance_module, 48);
AT(ir_host_api, instance_get_str, 56);
AT(ir_host_api, instance_get_int, 64);
AT(ir_host_api, instance_prefix, 72);
AT(ir_host_api, req_method, 80);
AT(ir_host_api, req_path, 88);
AT(ir_host_api, req_query, 96);
AT(ir_host_api, req_authority, 104);
AT(ir_host_api, req_scheme, 112);
AT(ir_host_api, req_protocol, 120);
AT(ir_host_api, req_peer, 128);
AT(ir_host_api, req_header, 136);
AT(ir_host_api, req_header_count, 144);
AT(ir_host_api, req_header_at, 152);
AT(ir_host_api, req_content_length, 160);
AT(ir_host_api, stream_set_data, 168);
AT(ir_host_api, stream_data, 176);
AT(ir_host_api, stream_alloc, 184);
AT(ir_host_api, stream_worker, 192);
AT(ir_host_api, stream_consume, 200);
AT(ir_host_api, stream_reset, 208);
AT(ir_host_api, resp_status, 216);
AT(ir_host_api, resp_header, 224);
AT(ir_host_api, resp_send_head, 232);
AT(ir_host_api, resp_write, 240);
AT(ir_host_api, resp_trailer, 248);
AT(ir_host_api, resp_end, 256);
AT(ir_host_api, worker_index, 264);
AT(ir_host_api, timer_start, 272);
AT(ir_host_api, timer_stop, 280);
AT(ir_host_api, work_submit, 288);
AT(ir_host_api, worker_post, 296);
AT(ir_host_api, service_register, 304);
AT(ir_host_api, service_lookup, 312);
/* 1.1: ABI 1.0's table ended here (its struct_size was 320). */
AT(ir_host_api, req_upgrade, 320);
/* 1.2: ABI 1.1's table ended here (328). */
AT(ir_host_api, resp_send_file, 328);
AT(ir_host_api, worker_set_data, 336);
AT(ir_host_api, worker_data, 344);
/* 1.3: ABI 1.2's table ended here (352). */
AT(ir_host_api, resp_header_ref, 352);
AT(ir_host_api, resp_write_ref, 360);
/* 1.4: ABI 1.3's table ended here (368). */
AT(ir_host_api, stream_module, 368);
AT(ir_host_api, work_start, 376);
AT(ir_host_api, work_cancel, 384);
AT(ir_host_api, worker_count, 392);
AT(ir_host_api, worker_at, 400);
AT(ir_host_api, watch_start, 408);
AT(ir_host_api, watch_change, 416);
AT(ir_host_api, watch_stop, 424);
AT(ir_host_api, outbound_open, 432);
AT(ir_host_api, outbound_write, 440);
AT(ir_host_api, outbound_pause, 448);
AT(ir_host_api, outbound_close, 456);
AT(ir_host_api, metric_register, 464);
AT(ir_host_api, metric_series, 472);
AT(ir_host_api, metric_add, 480);
AT(ir_host_api, metric_set, 488);
AT(ir_host_api, metric_list, 496);
/* 1.5: ABI 1.4's table ended here (504). */
AT(ir_host_api, server_info, 504);
AT(ir_host_api, worker_connections, 512);

/* ---- host.h, 1.4 types ---- */
VALUE(IR_WATCH_READ, 0x1);
VALUE(IR_WATCH_WRITE, 0x2);
VALUE(IR_WATCH_ERROR, 0x4);
VALUE(IR_OUTBOUND_TLS, 0x1);
VALUE(IR_OUTBOUND_NO_VERIFY, 0x2);
VALUE(IR_METRIC_COUNTER, 1);
VALUE(IR_METRIC_GAUGE, 2);
SIZE(ir_outbound_opts, 32);
ALIGN(ir_outbound_opts, 8);
AT(ir_outbound_opts, struct_size, 0);
AT(ir_outbound_opts, flags, 4);
AT(ir_outbound_opts, connect_timeout_ms, 8);
AT(ir_outbound_opts, sni, 16);
AT(ir_outbound_opts, ca_file, 24);
SIZE(ir_outbound_cbs, 40);
ALIGN(ir_outbound_cbs, 8);
AT(ir_outbound_cbs, struct_size, 0);
AT(ir_outbound_cbs, on_connect, 8);
AT(ir_outbound_cbs, on_data, 16);
AT(ir_outbound_cbs, on_writable, 24);
AT(ir_outbound_cbs, on_close, 32);
SIZE(ir_metric_sample, 64);
ALIGN(ir_metric_sample, 8);
AT(ir_metric_sample, struct_size, 0);
AT(ir_metric_sample, type, 4);
AT(ir_metric_sample, module, 8);
AT(ir_metric_sample, name, 16);
AT(ir_metric_sample, help, 24);
AT(ir_metric_sample, label_names, 32);
AT(ir_metric_sample, label_values, 40);
AT(ir_metric_sample, nlabels, 48);
AT(ir_metric_sample, value, 56);

/* ---- host.h, 1.5 types ---- */
SIZE(ir_server_info, 112);
ALIGN(ir_server_info, 8);
AT(ir_server_info, struct_size, 0);
AT(ir_server_info, workers, 4);
AT(ir_server_info, version, 8);
AT(ir_server_info, started_ms, 16);
AT(ir_server_info, connections_open, 24);
AT(ir_server_info, connections_total, 32);
AT(ir_server_info, streams_open, 40);
AT(ir_server_info, requests_total, 48);
AT(ir_server_info, requests_by_class, 56);
AT(ir_server_info, bytes_in, 96);
AT(ir_server_info, bytes_out, 104);
SIZE(ir_stream_info, 80);
ALIGN(ir_stream_info, 8);
AT(ir_stream_info, struct_size, 0);
AT(ir_stream_info, upgraded, 4);
AT(ir_stream_info, id, 8);
AT(ir_stream_info, method, 16);
AT(ir_stream_info, path, 32);
AT(ir_stream_info, module, 48);
AT(ir_stream_info, age_ms, 56);
AT(ir_stream_info, bytes_in, 64);
AT(ir_stream_info, bytes_out, 72);
SIZE(ir_conn_info, 88);
ALIGN(ir_conn_info, 8);
AT(ir_conn_info, struct_size, 0);
AT(ir_conn_info, tls, 4);
AT(ir_conn_info, id, 8);
AT(ir_conn_info, peer, 16);
AT(ir_conn_info, protocol, 32);
AT(ir_conn_info, state, 40);
AT(ir_conn_info, age_ms, 48);
AT(ir_conn_info, bytes_in, 56);
AT(ir_conn_info, bytes_out, 64);
AT(ir_conn_info, streams, 72);
AT(ir_conn_info, nstreams, 80);

int main(void) {
  puts("OK");
  return 0;
}

#else

/* The literal numbers above are for x86_64 Linux; elsewhere abidiff still
 * guards the layout. 77 tells ctest the test was skipped. */
int main(void) {
  puts("SKIP: the layout table is for x86_64 Linux");
  return 77;
}

#endif
