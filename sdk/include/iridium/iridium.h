/* iridium/iridium.h — the one header a module includes.
 *
 * It pulls in the ABI types, the module descriptor and the host API table,
 * and gives short ir_*() wrappers that call through the table the host handed
 * to the entry function. Exactly one source file of a module uses
 * IR_MODULE_DEFINE(desc), which defines the exported entry function and the
 * module's (hidden) pointer to the host table.
 *
 *   static const ir_module_desc hello = { IR_MODULE_DESC_HEADER, .name = ... };
 *   IR_MODULE_DEFINE(hello)
 *
 * Build modules with -fvisibility=hidden and without linking to the host:
 * the entry function is the only symbol a module exports.
 */
#ifndef IRIDIUM_IRIDIUM_H
#define IRIDIUM_IRIDIUM_H

#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "host.h"
#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills the first fields of an ir_module_desc / ir_config_key initialiser.
 * The descriptor declares the targeted minor (IR_ABI_TARGET_MINOR, by default
 * the SDK's own) with that minor's struct size. */
#define IR_MODULE_DESC_HEADER                                                                      \
  .struct_size = IR_MODULE_DESC_SIZE, .abi_major = IR_ABI_MAJOR, .abi_minor = IR_ABI_TARGET_MINOR
#define IR_KEY(type_, name_, default_, required_, help_)                                           \
  { sizeof(ir_config_key), (type_), (name_), (default_), (required_), (help_) }
#define IR_KEY_END                                                                                 \
  { sizeof(ir_config_key), 0, NULL, NULL, 0, NULL }

/* The host's table, set by the entry function. Hidden: never exported. */
extern const ir_host_api *ir__host __attribute__((visibility("hidden")));

#define IR_MODULE_DEFINE(desc)                                                                     \
  const ir_host_api *ir__host __attribute__((visibility("hidden")));                               \
  __attribute__((visibility("default"))) const ir_module_desc *iridium_module_entry(               \
      const ir_host_api *host, uint32_t host_abi) {                                                \
    (void)host_abi;                                                                                \
    ir__host = host;                                                                               \
    return &(desc);                                                                                \
  }

/* ---- wrappers; see host.h for each entry's contract, and its top for the names
 * rule: ir_X(..., const char *) for literals, ir_X_n(..., ptr, len) for names
 * that may come from data ---- */

static inline const char *ir_strerror(int err) { return ir__host->strerror(err); }

__attribute__((format(printf, 4, 5))) static inline void ir_log(ir_module_t *m, ir_stream_t *s,
                                                                int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ir__host->logv(m, s, level, fmt, ap);
  va_end(ap);
}

static inline const char *ir_module_name(ir_module_t *m) { return ir__host->module_name(m); }
static inline void ir_module_set_data(ir_module_t *m, void *d) { ir__host->module_set_data(m, d); }
static inline void *ir_module_data(ir_module_t *m) { return ir__host->module_data(m); }
static inline ir_module_t *ir_instance_module(ir_instance_t *i) {
  return ir__host->instance_module(i);
}
static inline int ir_instance_get_str(ir_instance_t *i, const char *key, ir_str *out) {
  return ir__host->instance_get_str(i, key, out);
}
static inline int ir_instance_get_int(ir_instance_t *i, const char *key, int64_t *out) {
  return ir__host->instance_get_int(i, key, out);
}
static inline const char *ir_instance_prefix(ir_instance_t *i) {
  return ir__host->instance_prefix(i);
}

static inline ir_str ir_req_method(ir_stream_t *s) { return ir__host->req_method(s); }
static inline ir_str ir_req_path(ir_stream_t *s) { return ir__host->req_path(s); }
static inline ir_str ir_req_query(ir_stream_t *s) { return ir__host->req_query(s); }
static inline ir_str ir_req_authority(ir_stream_t *s) { return ir__host->req_authority(s); }
static inline ir_str ir_req_scheme(ir_stream_t *s) { return ir__host->req_scheme(s); }
static inline ir_str ir_req_protocol(ir_stream_t *s) { return ir__host->req_protocol(s); }
static inline ir_str ir_req_peer(ir_stream_t *s) { return ir__host->req_peer(s); }
static inline int ir_req_header(ir_stream_t *s, const char *name, ir_str *value) {
  return ir__host->req_header(s, name, strlen(name), value);
}
static inline int ir_req_header_n(ir_stream_t *s, const char *name, size_t nlen, ir_str *value) {
  return ir__host->req_header(s, name, nlen, value);
}
static inline size_t ir_req_header_count(ir_stream_t *s) { return ir__host->req_header_count(s); }
static inline int ir_req_header_at(ir_stream_t *s, size_t i, ir_str *name, ir_str *value) {
  return ir__host->req_header_at(s, i, name, value);
}
static inline int64_t ir_req_content_length(ir_stream_t *s) {
  return ir__host->req_content_length(s);
}
/* Newer wrappers. A module that targets an older minor (IR_ABI_TARGET_MINOR)
 * gets a declaration instead, and a compile error naming the minor when it
 * uses one. */
#if IR_ABI_TARGET_MINOR >= 1
static inline ir_str ir_req_upgrade(ir_stream_t *s) { return ir__host->req_upgrade(s); }
#else
IR__SINCE_1_1(ir_req_upgrade) ir_str ir_req_upgrade(ir_stream_t *s);
#endif

#if IR_ABI_TARGET_MINOR >= 2
static inline int ir_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len) {
  return ir__host->resp_send_file(s, fd, offset, len);
}
static inline void ir_worker_set_data(ir_module_t *m, ir_worker_t *w, void *data) {
  ir__host->worker_set_data(m, w, data);
}
static inline void *ir_worker_data(ir_module_t *m, ir_worker_t *w) {
  return ir__host->worker_data(m, w);
}
#else
IR__SINCE_1_2(ir_resp_send_file)
int ir_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len);
IR__SINCE_1_2(ir_worker_set_data)
void ir_worker_set_data(ir_module_t *m, ir_worker_t *w, void *data);
IR__SINCE_1_2(ir_worker_data) void *ir_worker_data(ir_module_t *m, ir_worker_t *w);
#endif

#if IR_ABI_TARGET_MINOR >= 3
static inline int ir_resp_header_ref(ir_stream_t *s, const char *name, size_t nlen,
                                     const char *value, size_t vlen) {
  return ir__host->resp_header_ref(s, name, nlen, value, vlen);
}
static inline int ir_resp_header_ref_n(ir_stream_t *s, const char *name, size_t nlen,
                                       const char *value, size_t vlen) {
  return ir__host->resp_header_ref(s, name, nlen, value, vlen);
}
static inline ssize_t ir_resp_write_ref(ir_stream_t *s, const void *data, size_t len) {
  return ir__host->resp_write_ref(s, data, len);
}
#else
IR__SINCE_1_3(ir_resp_header_ref)
int ir_resp_header_ref(ir_stream_t *s, const char *name, size_t nlen, const char *value,
                       size_t vlen);
IR__SINCE_1_3(ir_resp_header_ref_n)
int ir_resp_header_ref_n(ir_stream_t *s, const char *name, size_t nlen, const char *value,
                         size_t vlen);
IR__SINCE_1_3(ir_resp_write_ref)
ssize_t ir_resp_write_ref(ir_stream_t *s, const void *data, size_t len);
#endif

#if IR_ABI_TARGET_MINOR >= 4
static inline ir_module_t *ir_stream_module(ir_stream_t *s) { return ir__host->stream_module(s); }
/* The stream's module's per-worker pointer (worker_set_data). */
static inline void *ir_stream_worker_data(ir_stream_t *s) {
  return ir__host->worker_data(ir__host->stream_module(s), ir__host->stream_worker(s));
}
static inline ir_work_t *ir_work_start(ir_worker_t *w, ir_stream_t *s, ir_task_cb work,
                                       ir_done_cb done, void *data) {
  return ir__host->work_start(w, s, work, done, data);
}
static inline int ir_work_cancel(ir_work_t *wk) { return ir__host->work_cancel(wk); }
static inline unsigned ir_worker_count(void) { return ir__host->worker_count(); }
static inline ir_worker_t *ir_worker_at(unsigned index) { return ir__host->worker_at(index); }
static inline ir_watch_t *ir_watch_start(ir_worker_t *w, int fd, uint32_t events, ir_watch_cb cb,
                                         void *data) {
  return ir__host->watch_start(w, fd, events, cb, data);
}
static inline int ir_watch_change(ir_watch_t *wt, uint32_t events) {
  return ir__host->watch_change(wt, events);
}
static inline void ir_watch_stop(ir_watch_t *wt) { ir__host->watch_stop(wt); }
static inline ir_outbound_t *ir_outbound_open(ir_worker_t *w, const char *host, uint16_t port,
                                              const ir_outbound_opts *opts,
                                              const ir_outbound_cbs *cbs, void *data) {
  return ir__host->outbound_open(w, host, strlen(host), port, opts, cbs, data);
}
static inline ir_outbound_t *ir_outbound_open_n(ir_worker_t *w, const char *host, size_t hlen,
                                                uint16_t port, const ir_outbound_opts *opts,
                                                const ir_outbound_cbs *cbs, void *data) {
  return ir__host->outbound_open(w, host, hlen, port, opts, cbs, data);
}
static inline ssize_t ir_outbound_write(ir_outbound_t *o, const void *bytes, size_t len) {
  return ir__host->outbound_write(o, bytes, len);
}
static inline int ir_outbound_pause(ir_outbound_t *o, int paused) {
  return ir__host->outbound_pause(o, paused);
}
static inline void ir_outbound_close(ir_outbound_t *o) { ir__host->outbound_close(o); }
static inline ir_metric_t *ir_metric_register(ir_module_t *m, const char *name, uint32_t type,
                                              const char *help, const char *const *label_names,
                                              size_t nlabels) {
  return ir__host->metric_register(m, name, type, help, label_names, nlabels);
}
static inline ir_series_t *ir_metric_series(ir_metric_t *mt, const ir_str *label_values,
                                            size_t nvalues) {
  return ir__host->metric_series(mt, label_values, nvalues);
}
static inline void ir_metric_add(ir_worker_t *w, ir_series_t *se, int64_t delta) {
  ir__host->metric_add(w, se, delta);
}
static inline void ir_metric_set(ir_worker_t *w, ir_series_t *se, int64_t value) {
  ir__host->metric_set(w, se, value);
}
static inline size_t ir_metric_list(ir_metric_visit_cb cb, void *data) {
  return ir__host->metric_list(cb, data);
}
#else
IR__SINCE_1_4(ir_stream_module) ir_module_t *ir_stream_module(ir_stream_t *s);
IR__SINCE_1_4(ir_stream_worker_data) void *ir_stream_worker_data(ir_stream_t *s);
IR__SINCE_1_4(ir_work_start)
ir_work_t *ir_work_start(ir_worker_t *w, ir_stream_t *s, ir_task_cb work, ir_done_cb done,
                         void *data);
IR__SINCE_1_4(ir_work_cancel) int ir_work_cancel(ir_work_t *wk);
IR__SINCE_1_4(ir_worker_count) unsigned ir_worker_count(void);
IR__SINCE_1_4(ir_worker_at) ir_worker_t *ir_worker_at(unsigned index);
IR__SINCE_1_4(ir_watch_start)
ir_watch_t *ir_watch_start(ir_worker_t *w, int fd, uint32_t events, ir_watch_cb cb, void *data);
IR__SINCE_1_4(ir_watch_change) int ir_watch_change(ir_watch_t *wt, uint32_t events);
IR__SINCE_1_4(ir_watch_stop) void ir_watch_stop(ir_watch_t *wt);
IR__SINCE_1_4(ir_outbound_open)
ir_outbound_t *ir_outbound_open(ir_worker_t *w, const char *host, uint16_t port,
                                const ir_outbound_opts *opts, const ir_outbound_cbs *cbs,
                                void *data);
IR__SINCE_1_4(ir_outbound_open_n)
ir_outbound_t *ir_outbound_open_n(ir_worker_t *w, const char *host, size_t hlen, uint16_t port,
                                  const ir_outbound_opts *opts, const ir_outbound_cbs *cbs,
                                  void *data);
IR__SINCE_1_4(ir_outbound_write)
ssize_t ir_outbound_write(ir_outbound_t *o, const void *bytes, size_t len);
IR__SINCE_1_4(ir_outbound_pause) int ir_outbound_pause(ir_outbound_t *o, int paused);
IR__SINCE_1_4(ir_outbound_close) void ir_outbound_close(ir_outbound_t *o);
IR__SINCE_1_4(ir_metric_register)
ir_metric_t *ir_metric_register(ir_module_t *m, const char *name, uint32_t type, const char *help,
                                const char *const *label_names, size_t nlabels);
IR__SINCE_1_4(ir_metric_series)
ir_series_t *ir_metric_series(ir_metric_t *mt, const ir_str *label_values, size_t nvalues);
IR__SINCE_1_4(ir_metric_add) void ir_metric_add(ir_worker_t *w, ir_series_t *se, int64_t delta);
IR__SINCE_1_4(ir_metric_set) void ir_metric_set(ir_worker_t *w, ir_series_t *se, int64_t value);
IR__SINCE_1_4(ir_metric_list) size_t ir_metric_list(ir_metric_visit_cb cb, void *data);
#endif

#if IR_ABI_TARGET_MINOR >= 5
/* out->struct_size is set here: the caller's SDK's size. */
static inline int ir_server_info_get(ir_server_info *out) {
  out->struct_size = sizeof(*out);
  return ir__host->server_info(out);
}
static inline size_t ir_worker_connections(ir_worker_t *w, ir_conn_visit_cb cb, void *data) {
  return ir__host->worker_connections(w, cb, data);
}
#else
IR__SINCE_1_5(ir_server_info_get) int ir_server_info_get(ir_server_info *out);
IR__SINCE_1_5(ir_worker_connections)
size_t ir_worker_connections(ir_worker_t *w, ir_conn_visit_cb cb, void *data);
#endif

static inline void ir_stream_set_data(ir_stream_t *s, void *d) { ir__host->stream_set_data(s, d); }
static inline void *ir_stream_data(ir_stream_t *s) { return ir__host->stream_data(s); }
static inline void *ir_stream_alloc(ir_stream_t *s, size_t n) {
  return ir__host->stream_alloc(s, n);
}
static inline ir_worker_t *ir_stream_worker(ir_stream_t *s) { return ir__host->stream_worker(s); }
static inline int ir_stream_consume(ir_stream_t *s, size_t n) {
  return ir__host->stream_consume(s, n);
}
static inline int ir_stream_reset(ir_stream_t *s) { return ir__host->stream_reset(s); }

static inline int ir_resp_status(ir_stream_t *s, int status) {
  return ir__host->resp_status(s, status);
}
static inline int ir_resp_header(ir_stream_t *s, const char *name, const char *value) {
  return ir__host->resp_header(s, name, strlen(name), value, strlen(value));
}
static inline int ir_resp_header_n(ir_stream_t *s, const char *name, size_t nlen, const char *value,
                                   size_t vlen) {
  return ir__host->resp_header(s, name, nlen, value, vlen);
}
static inline int ir_resp_send_head(ir_stream_t *s, uint32_t flags) {
  return ir__host->resp_send_head(s, flags);
}
static inline ssize_t ir_resp_write(ir_stream_t *s, const void *data, size_t len) {
  return ir__host->resp_write(s, data, len);
}
static inline int ir_resp_trailer(ir_stream_t *s, const char *name, const char *value) {
  return ir__host->resp_trailer(s, name, strlen(name), value, strlen(value));
}
static inline int ir_resp_trailer_n(ir_stream_t *s, const char *name, size_t nlen,
                                    const char *value, size_t vlen) {
  return ir__host->resp_trailer(s, name, nlen, value, vlen);
}
static inline int ir_resp_end(ir_stream_t *s) { return ir__host->resp_end(s); }

static inline unsigned ir_worker_index(ir_worker_t *w) { return ir__host->worker_index(w); }
static inline ir_timer_t *ir_timer_start(ir_worker_t *w, uint64_t timeout_ms, uint64_t repeat_ms,
                                         ir_timer_cb cb, void *data) {
  return ir__host->timer_start(w, timeout_ms, repeat_ms, cb, data);
}
static inline void ir_timer_stop(ir_timer_t *t) { ir__host->timer_stop(t); }
static inline int ir_work_submit(ir_worker_t *w, ir_task_cb work, ir_done_cb done, void *data) {
  return ir__host->work_submit(w, work, done, data);
}
static inline int ir_worker_post(ir_worker_t *w, ir_task_cb cb, void *data) {
  return ir__host->worker_post(w, cb, data);
}
static inline int ir_service_register(ir_module_t *m, const char *name, uint32_t version,
                                      const void *iface) {
  return ir__host->service_register(m, name, version, iface);
}
static inline const void *ir_service_lookup(const char *name, uint32_t min_version,
                                            uint32_t *found_version) {
  return ir__host->service_lookup(name, min_version, found_version);
}

/* Answers with a complete small response in one call: status, one
 * Content-Type and a body (copied). Returns an ir_error. */
static inline int ir_respond_simple(ir_stream_t *s, int status, const char *content_type,
                                    const void *body, size_t len) {
  char cl[24];
  int n = snprintf(cl, sizeof cl, "%zu", len);
  int rc = ir_resp_status(s, status);
  if (rc == IR_OK && content_type) rc = ir_resp_header(s, "content-type", content_type);
  if (rc == IR_OK) rc = ir_resp_header_n(s, "content-length", 14, cl, (size_t)n);
  if (rc == IR_OK) rc = ir_resp_send_head(s, len ? 0 : IR_HEAD_END_STREAM);
  if (rc == IR_OK && len) {
    ssize_t w = ir_resp_write(s, body, len);
    if (w < 0) return (int)w;
    if ((size_t)w < len) return IR_EAGAIN;
    rc = ir_resp_end(s);
  }
  return rc;
}

#ifdef __cplusplus
}
#endif

#endif /* IRIDIUM_IRIDIUM_H */
