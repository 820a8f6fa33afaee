/* host_api.c — the table of host functions handed to every module.
 *
 * Most entries forward to the file that owns the object (stream.c,
 * worker.c, services.c, log.c); the small ones that only read a field live
 * here. The table is built once, statically, and never changes: new entries
 * go at the end, with a minor ABI bump.
 */
#include <string.h>

#include "conn.h"
#include "filesend.h"
#include "introspect.h"
#include "log.h"
#include "metrics.h"
#include "module.h"
#include "outbound.h"
#include "process.h"
#include "services.h"
#include "stream.h"
#include "watch.h"
#include "worker.h"

static const char *api_strerror(int err) {
  switch (err) {
  case IR_OK: return "success";
  case IR_EINVAL: return "invalid argument";
  case IR_ENOMEM: return "out of memory";
  case IR_EAGAIN: return "try again later";
  case IR_ECLOSED: return "closed";
  case IR_ESTATE: return "not allowed in this state";
  case IR_ENOTFOUND: return "not found";
  case IR_EEXIST: return "already exists";
  case IR_ETOOBIG: return "over the limit";
  case IR_EVERSION: return "incompatible version";
  case IR_EIO: return "I/O error";
  case IR_ETIMEDOUT: return "timed out";
  case IR_ECANCELED: return "cancelled";
  case IR_EREFUSED: return "connection refused";
  case IR_ETLS: return "TLS handshake or certificate verification failed";
  default: return "unknown error";
  }
}

static void api_logv(ir_module_t *m, ir_stream_t *s, int level, const char *fmt, va_list ap) {
  if (!irh_log_enabled(level)) return;
  uint64_t conn = s ? s->conn->id : 0;
  int64_t stream = s ? s->id : -1;
  const char *name = m ? m->name : (s && s->instance ? s->instance->module->name : NULL);
  irh_logv(level, conn, stream, name, fmt, ap);
}

static const char *api_module_name(ir_module_t *m) { return m->name; }
static void api_module_set_data(ir_module_t *m, void *d) { m->data = d; }
static void *api_module_data(ir_module_t *m) { return m->data; }
static ir_module_t *api_instance_module(ir_instance_t *i) { return i->module; }
static const char *api_instance_prefix(ir_instance_t *i) { return i->route->prefix; }

static const irh_key_value *instance_value(ir_instance_t *i, const char *key) {
  for (size_t k = 0; k < i->nvalues; k++)
    if (strcmp(i->values[k].key.name, key) == 0) return &i->values[k];
  return NULL;
}

static int api_instance_get_str(ir_instance_t *i, const char *key, ir_str *out) {
  const irh_key_value *v = instance_value(i, key);
  if (!v || !v->text) return IR_ENOTFOUND;
  *out = (ir_str){v->text, strlen(v->text)};
  return IR_OK;
}

static int api_instance_get_int(ir_instance_t *i, const char *key, int64_t *out) {
  const irh_key_value *v = instance_value(i, key);
  if (!v || !v->text) return IR_ENOTFOUND;
  if (v->key.type == IR_KEY_STRING || v->key.type == IR_KEY_PATH) return IR_EINVAL;
  *out = v->number;
  return IR_OK;
}

static ir_str api_req_method(ir_stream_t *s) { return s->method; }
static ir_str api_req_path(ir_stream_t *s) { return s->path; }
static ir_str api_req_query(ir_stream_t *s) { return s->query; }
static ir_str api_req_authority(ir_stream_t *s) { return s->authority; }
static ir_str api_req_scheme(ir_stream_t *s) { return s->scheme; }
static ir_str api_req_protocol(ir_stream_t *s) { return s->protocol; }
static ir_str api_req_peer(ir_stream_t *s) { return (ir_str){s->conn->peer, s->conn->peer_len}; }
static size_t api_req_header_count(ir_stream_t *s) { return s->nheaders; }
static int64_t api_req_content_length(ir_stream_t *s) { return s->content_length; }

static int api_req_header_at(ir_stream_t *s, size_t index, ir_str *name, ir_str *value) {
  if (index >= s->nheaders) return IR_ENOTFOUND;
  *name = s->headers[index].name;
  *value = s->headers[index].value;
  return IR_OK;
}

static ir_str api_req_upgrade(ir_stream_t *s) { return s->upgrade; }

static size_t module_index(const ir_module_t *m, const ir_worker_t *w) {
  return (size_t)(m - w->server->modules->modules);
}
static void api_worker_set_data(ir_module_t *m, ir_worker_t *w, void *d) {
  w->module_data[module_index(m, w)] = d;
}
static void *api_worker_data(ir_module_t *m, ir_worker_t *w) {
  return w->module_data[module_index(m, w)];
}
static void api_stream_set_data(ir_stream_t *s, void *d) { s->data = d; }
static void *api_stream_data(ir_stream_t *s) { return s->data; }
static void *api_stream_alloc(ir_stream_t *s, size_t n) { return irh_arena_alloc(&s->arena, n); }
static ir_worker_t *api_stream_worker(ir_stream_t *s) { return s->worker; }
static unsigned api_worker_index(ir_worker_t *w) { return w->index; }
static ir_module_t *api_stream_module(ir_stream_t *s) { return s->instance->module; }

static const ir_host_api host_api = {
    .struct_size = sizeof(ir_host_api),
    .abi_major = IR_ABI_MAJOR,
    .abi_minor = IR_ABI_MINOR,
    .strerror = api_strerror,
    .logv = api_logv,
    .module_name = api_module_name,
    .module_set_data = api_module_set_data,
    .module_data = api_module_data,
    .instance_module = api_instance_module,
    .instance_get_str = api_instance_get_str,
    .instance_get_int = api_instance_get_int,
    .instance_prefix = api_instance_prefix,
    .req_method = api_req_method,
    .req_path = api_req_path,
    .req_query = api_req_query,
    .req_authority = api_req_authority,
    .req_scheme = api_req_scheme,
    .req_protocol = api_req_protocol,
    .req_peer = api_req_peer,
    .req_header = irh_stream_req_header,
    .req_header_count = api_req_header_count,
    .req_header_at = api_req_header_at,
    .req_content_length = api_req_content_length,
    .stream_set_data = api_stream_set_data,
    .stream_data = api_stream_data,
    .stream_alloc = api_stream_alloc,
    .stream_worker = api_stream_worker,
    .stream_consume = irh_stream_consume,
    .stream_reset = irh_stream_reset,
    .resp_status = irh_stream_resp_status,
    .resp_header = irh_stream_resp_header,
    .resp_send_head = irh_stream_resp_send_head,
    .resp_write = irh_stream_resp_write,
    .resp_trailer = irh_stream_resp_trailer,
    .resp_end = irh_stream_resp_end,
    .worker_index = api_worker_index,
    .timer_start = irh_timer_start,
    .timer_stop = irh_timer_stop,
    .work_submit = irh_work_submit,
    .worker_post = irh_worker_post,
    .service_register = irh_service_register,
    .service_lookup = irh_service_lookup,
    .req_upgrade = api_req_upgrade,
    .resp_send_file = irh_stream_resp_send_file,
    .worker_set_data = api_worker_set_data,
    .worker_data = api_worker_data,
    .resp_header_ref = irh_stream_resp_header_ref,
    .resp_write_ref = irh_stream_resp_write_ref,
    .stream_module = api_stream_module,
    .work_start = irh_stream_work_start,
    .work_cancel = irh_work_cancel,
    .worker_count = irh_worker_count,
    .worker_at = irh_worker_at,
    .watch_start = irh_watch_start,
    .watch_change = irh_watch_change,
    .watch_stop = irh_watch_stop,
    .outbound_open = irh_outbound_open,
    .outbound_write = irh_outbound_write,
    .outbound_pause = irh_outbound_pause,
    .outbound_close = irh_outbound_close,
    .metric_register = irh_metric_register,
    .metric_series = irh_metric_series,
    .metric_add = irh_metric_add,
    .metric_set = irh_metric_set,
    .metric_list = irh_metric_list,
    .server_info = irh_server_info,
    .worker_connections = irh_worker_connections,
};

const ir_host_api *irh_host_api(void) { return &host_api; }
