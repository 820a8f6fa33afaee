/* iridium/abi.h — the SDK's ABI version, error codes and plain value types.
 *
 * The ABI version (major.minor) is independent of Iridium's release number.
 * A module built against ABI M.m loads on any host whose major is M and whose
 * minor is >= m. Everything in this file is append-only: enum values are
 * explicit and never renumbered, and ir_str never changes shape.
 */
#ifndef IRIDIUM_ABI_H
#define IRIDIUM_ABI_H

#include <stddef.h>
#include <stdint.h>

#define IR_ABI_MAJOR 1
#define IR_ABI_MINOR 6
/* ABI history:
 *   1.0  the first SDK
 *   1.1  upgraded streams: ir_module_desc.flags (IR_MODULE_UPGRADES) and
 *        ir_host_api.req_upgrade
 *   1.2  file bodies (resp_send_file) and per-worker module data
 *        (worker_set_data, worker_data)
 *   1.3  response fields and body bytes without a copy (resp_header_ref,
 *        resp_write_ref)
 *   1.4  what long-lived modules need: a stream's module (stream_module),
 *        thread-pool work with a handle (work_start, work_cancel), every
 *        worker (worker_count, worker_at), fd watches (watch_start,
 *        watch_change, watch_stop; IR_WATCH_READ, IR_WATCH_WRITE,
 *        IR_WATCH_ERROR), outbound connections (outbound_open,
 *        outbound_write, outbound_pause, outbound_close; IR_OUTBOUND_TLS,
 *        IR_OUTBOUND_NO_VERIFY), module metrics (metric_register,
 *        metric_series, metric_add, metric_set, metric_list;
 *        IR_METRIC_COUNTER, IR_METRIC_GAUGE), the drain notice
 *        (ir_module_desc.on_worker_drain, on_stream_drain) and the errors
 *        IR_ECANCELED, IR_EREFUSED, IR_ETLS
 *   1.5  introspection for status modules: the server's counters
 *        (server_info, ir_server_info) and a worker's connections with their
 *        streams (worker_connections, ir_conn_info, ir_stream_info)
 *   1.6  reloads: IR_MODULE_RELOADS (routes that come and go while the
 *        module serves)
 */

/* The minor a module is built for: its descriptor declares it, so the module
 * loads on hosts from MAJOR.IR_ABI_TARGET_MINOR on, and everything newer is
 * hidden at compile time. Define it before including the SDK, e.g.
 * -DIR_ABI_TARGET_MINOR=0 (sdk/README.md, "Building for older hosts");
 * unset, it is IR_ABI_MINOR. */
#ifndef IR_ABI_TARGET_MINOR
#define IR_ABI_TARGET_MINOR IR_ABI_MINOR
#endif

#define IR__STR(x) #x
#define IR__XSTR(x) IR__STR(x)
#define IR__MAJOR_TEXT IR__XSTR(IR_ABI_MAJOR)
#define IR__TARGET_TEXT IR__MAJOR_TEXT "." IR__XSTR(IR_ABI_TARGET_MINOR)
#define IR__SDK_TEXT IR__MAJOR_TEXT "." IR__XSTR(IR_ABI_MINOR)
#ifdef __cplusplus
#define IR__STATIC_ASSERT static_assert
#else
#define IR__STATIC_ASSERT _Static_assert
#endif

#if IR_ABI_TARGET_MINOR < 0 || IR_ABI_TARGET_MINOR > IR_ABI_MINOR
IR__STATIC_ASSERT(0, "IR_ABI_TARGET_MINOR asks for ABI " IR__TARGET_TEXT
                     "; this SDK (ABI " IR__SDK_TEXT
                     ") builds for minors 0 to " IR__XSTR(IR_ABI_MINOR));
#endif

/* IR__SINCE_1_m(name) marks a declaration ABI 1.m added: nothing when the
 * module targets 1.m or later, otherwise an attribute that makes any use of
 * name a compile error naming both minors. */
#if defined(__has_attribute)
#if __has_attribute(unavailable)
#define IR__UNAVAILABLE(msg) __attribute__((unavailable(msg)))
#endif
#endif
#ifndef IR__UNAVAILABLE
#define IR__UNAVAILABLE(msg) __attribute__((deprecated(msg))) /* a warning only */
#endif
#define IR__NEEDS(minor, name)                                                                     \
  IR__UNAVAILABLE(#name " needs SDK ABI " IR__MAJOR_TEXT "." #minor                                \
                        "; this module targets " IR__TARGET_TEXT " (IR_ABI_TARGET_MINOR)")
#if IR_ABI_TARGET_MINOR >= 1
#define IR__SINCE_1_1(name)
#else
#define IR__SINCE_1_1(name) IR__NEEDS(1, name)
#endif
#if IR_ABI_TARGET_MINOR >= 2
#define IR__SINCE_1_2(name)
#else
#define IR__SINCE_1_2(name) IR__NEEDS(2, name)
#endif
#if IR_ABI_TARGET_MINOR >= 3
#define IR__SINCE_1_3(name)
#else
#define IR__SINCE_1_3(name) IR__NEEDS(3, name)
#endif
#if IR_ABI_TARGET_MINOR >= 4
#define IR__SINCE_1_4(name)
#else
#define IR__SINCE_1_4(name) IR__NEEDS(4, name)
#endif
#if IR_ABI_TARGET_MINOR >= 5
#define IR__SINCE_1_5(name)
#else
#define IR__SINCE_1_5(name) IR__NEEDS(5, name)
#endif
#if IR_ABI_TARGET_MINOR >= 6
#define IR__SINCE_1_6(name)
#else
#define IR__SINCE_1_6(name) IR__NEEDS(6, name)
#endif

/* Packs a major.minor pair into the 32-bit form the entry function gets. */
#define IR_ABI_PACK(major, minor) (((uint32_t)(major) << 16) | (uint32_t)(minor))
#define IR_ABI_VERSION IR_ABI_PACK(IR_ABI_MAJOR, IR_ABI_MINOR)
#define IR_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define IR_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* Error codes: negative integers; ir_strerror() names them. */
typedef enum ir_error {
  IR_OK = 0,
  IR_EINVAL = -1,    /* an argument is invalid */
  IR_ENOMEM = -2,    /* out of memory */
  IR_EAGAIN = -3,    /* not now: wait for on_writable (or retry later) */
  IR_ECLOSED = -4,   /* the stream or connection is gone */
  IR_ESTATE = -5,    /* call not allowed in the object's current state */
  IR_ENOTFOUND = -6, /* no such header, key or service */
  IR_EEXIST = -7,    /* already registered */
  IR_ETOOBIG = -8,   /* over a configured limit */
  IR_EVERSION = -9,  /* incompatible version */
  IR_EIO = -10,      /* an I/O error */
  IR_ETIMEDOUT = -11, /* a timeout expired */
  /* 1.4 */
  IR_ECANCELED IR__SINCE_1_4(IR_ECANCELED) = -12, /* cancelled before it ran (work_cancel) */
  IR_EREFUSED IR__SINCE_1_4(IR_EREFUSED) = -13,   /* the peer refused the connection */
  IR_ETLS IR__SINCE_1_4(IR_ETLS) = -14 /* TLS handshake or certificate verification failed */
} ir_error;

/* Log levels, lowest first. */
typedef enum ir_log_level {
  IR_LOG_DEBUG = 0,
  IR_LOG_INFO = 1,
  IR_LOG_WARN = 2,
  IR_LOG_ERROR = 3
} ir_log_level;

/* A string as pointer + length. Not NUL-terminated unless a function's doc
 * says so. Who owns ptr is written on each function that returns one. */
typedef struct ir_str {
  const char *ptr;
  size_t len;
} ir_str;

#endif /* IRIDIUM_ABI_H */
