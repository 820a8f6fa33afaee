/* iridium/host.h — the host API table: every service the host offers a
 * module, as function pointers.
 *
 * The table is host-owned and lives as long as the process. It starts with
 * its own size and only ever grows at the end; a module built for ABI minor M
 * only loads on a host whose minor is >= M, so every entry of its SDK's table
 * is present. Modules normally call the ir_*() wrappers in iridium.h rather
 * than the table directly.
 *
 * Names and strings, one rule:
 *  - What a module names from its own source (INI keys, service names,
 *    metric names and help lines, label names, log formats) is a
 *    NUL-terminated C string.
 *  - Anything that may come from data or the wire (header names and
 *    values, body bytes, host names, metric label values) is a pointer and
 *    a length; the host reads exactly len bytes and never needs a NUL.
 *  - What the host hands back is an ir_str (or a const char * for a few
 *    names), NUL-terminated only where its entry says so.
 * The wrappers in iridium.h follow it: every entry that takes a name which
 * may come from data has a C-string wrapper for literals, ir_X(..., const
 * char *), and a length one, ir_X_n(..., ptr, len): ir_req_header(_n),
 * ir_resp_header(_n), ir_resp_trailer(_n), ir_outbound_open(_n).
 * ir_resp_header_ref (1.3) took lengths from the start and keeps that form
 * for source compatibility; ir_resp_header_ref_n is the same call under
 * the rule's name (a C-string form would be the same pointers, so none).
 *
 * Each entry says which ir_error values it returns and when, and which
 * thread may call it:
 *  - "stream's worker": the thread of the callback that gave you the
 *    stream (on_request, on_body, ..., a timer or posted task on that
 *    worker), until on_close has returned;
 *  - "w's thread": the worker w's callbacks (worker_init, worker_exit,
 *    timers, posted tasks, stream callbacks of its streams);
 *  - "main thread": init, fini, instance_create, instance_destroy;
 *  - "any thread": also threads the module started itself.
 * A call on the wrong thread is undefined; the host does not check it.
 * Pointer arguments must be valid unless an entry says NULL is allowed.
 * Ownership: ir_str results point into host-owned memory valid until the
 * stream closes (request fields) or for the process (names), unless written
 * otherwise.
 */
#ifndef IRIDIUM_HOST_H
#define IRIDIUM_HOST_H

#include <stdarg.h>
#include <sys/types.h>

#include "module.h"

/* Flags for send_head. */
#define IR_HEAD_END_STREAM 0x1u /* no body follows: the response ends here */

typedef void (*ir_timer_cb)(ir_timer_t *t, void *data);
typedef void (*ir_task_cb)(void *data);
typedef void (*ir_done_cb)(void *data, int status);

/* ---- 1.4 types ---- */

/* Interest and events of an fd watch (watch_start), outbound connection
 * flags and metric kinds. A module that targets an older minor gets
 * enumerators that fail to compile, naming 1.4, instead of the constants. */
#if IR_ABI_TARGET_MINOR >= 4
#define IR_WATCH_READ 0x1u  /* the fd is readable */
#define IR_WATCH_WRITE 0x2u /* the fd is writable */
#define IR_WATCH_ERROR 0x4u /* reported only: the fd has an error or the peer hung up */
#define IR_OUTBOUND_TLS 0x1u       /* ir_outbound_opts.flags: TLS through the host's GnuTLS */
#define IR_OUTBOUND_NO_VERIFY 0x2u /* TLS without checking the certificate (tests only) */
#define IR_METRIC_COUNTER 1u       /* only goes up */
#define IR_METRIC_GAUGE 2u         /* goes up and down; the host sums the workers' parts */
#else
enum {
  IR_WATCH_READ IR__SINCE_1_4(IR_WATCH_READ) = 0x1,
  IR_WATCH_WRITE IR__SINCE_1_4(IR_WATCH_WRITE) = 0x2,
  IR_WATCH_ERROR IR__SINCE_1_4(IR_WATCH_ERROR) = 0x4,
  IR_OUTBOUND_TLS IR__SINCE_1_4(IR_OUTBOUND_TLS) = 0x1,
  IR_OUTBOUND_NO_VERIFY IR__SINCE_1_4(IR_OUTBOUND_NO_VERIFY) = 0x2,
  IR_METRIC_COUNTER IR__SINCE_1_4(IR_METRIC_COUNTER) = 1,
  IR_METRIC_GAUGE IR__SINCE_1_4(IR_METRIC_GAUGE) = 2
};
#endif
typedef void (*ir_watch_cb)(ir_watch_t *wt, int fd, uint32_t events, void *data);

/* How to open an outbound connection. Module-owned; read during
 * outbound_open only. Zeroed fields take the defaults. */
typedef struct ir_outbound_opts {
  uint32_t struct_size;        /* sizeof(ir_outbound_opts) of the module's SDK */
  uint32_t flags;              /* IR_OUTBOUND_* */
  uint64_t connect_timeout_ms; /* name lookup + TCP + TLS handshake; 0: 10000 */
  const char *sni;             /* TLS server name and the name verified; NULL: host
                                * (no SNI is sent for an IP address) */
  const char *ca_file;         /* PEM CAs to verify against; NULL: the system store */
} ir_outbound_opts;

/* An outbound connection's callbacks, all on the worker that opened it.
 * Module-owned and unchanged until on_close has returned; the host steps
 * through it by struct_size, and a NULL callback is skipped. */
typedef struct ir_outbound_cbs {
  uint32_t struct_size; /* sizeof(ir_outbound_cbs) of the module's SDK */
  /* Connected (and, with TLS, the handshake and verification done). */
  void (*on_connect)(ir_outbound_t *o, void *data);
  /* Bytes from the peer, borrowed for the call. Not called while paused. */
  void (*on_data)(ir_outbound_t *o, const uint8_t *bytes, size_t len, void *data);
  /* A write that was partial or returned IR_EAGAIN may be tried again. */
  void (*on_writable)(ir_outbound_t *o, void *data);
  /* Exactly once per connection outbound_open returned, never from inside
   * a host call the module made: IR_OK after outbound_close (queued bytes
   * were sent), IR_ECLOSED when the peer closed (after its last bytes
   * reached on_data) or the worker stopped, IR_EREFUSED, IR_ETIMEDOUT
   * (connect_timeout_ms), IR_ENOTFOUND (the name did not resolve), IR_ETLS
   * (handshake or verification failed), IR_EIO (reset or another socket
   * error). The handle is invalid once it returns. */
  void (*on_close)(ir_outbound_t *o, int status, void *data);
} ir_outbound_cbs;

/* One series as metric_list reports it: host-owned, valid for the
 * callback only. Read fields by struct_size. */
typedef struct ir_metric_sample {
  uint32_t struct_size;           /* sizeof(ir_metric_sample) of the host */
  uint32_t type;                  /* IR_METRIC_* */
  const char *module;             /* the registering module's name */
  const char *name;               /* as registered: "websocket_messages_total" */
  const char *help;               /* one line */
  const char *const *label_names; /* nlabels names, as registered */
  const ir_str *label_values;     /* nlabels values of this series */
  size_t nlabels;
  int64_t value; /* the sum over every worker */
} ir_metric_sample;
typedef void (*ir_metric_visit_cb)(const ir_metric_sample *sample, void *data);

/* 1.5: the server as a status page shows it (server_info). The host fills
 * the fields the caller's struct_size covers. Counts are sums over the
 * workers, each read atomically (the sum is not one instant). */
typedef struct ir_server_info {
  uint32_t struct_size;       /* set by the caller: sizeof(ir_server_info) */
  uint32_t workers;
  const char *version;        /* the host's release, "0.1.0"; static */
  uint64_t started_ms;        /* wall-clock ms since the epoch when it started */
  uint64_t connections_open;  /* accepted and not yet closed */
  uint64_t connections_total; /* accepted since the start */
  uint64_t streams_open;      /* requests begun and not yet finished */
  uint64_t requests_total;    /* finished requests, whatever their status */
  uint64_t requests_by_class[5]; /* of those, status 1xx .. 5xx ([0] .. [4]) */
  uint64_t bytes_in;          /* read from client sockets (TLS included) */
  uint64_t bytes_out;         /* written to client sockets */
} ir_server_info;

/* 1.5: one request of a connection, as worker_connections shows it. */
typedef struct ir_stream_info {
  uint32_t struct_size;   /* sizeof(ir_stream_info) of the host */
  uint32_t upgraded;      /* a WebSocket or tunnel: upgraded or extended CONNECT */
  int64_t id;             /* the HTTP/2 stream id; 0 on HTTP/1.1 */
  ir_str method;          /* borrowed for the visit */
  ir_str path;            /* without the query; borrowed for the visit */
  const char *module;     /* the route's module, or NULL (none yet, or the host answers) */
  uint64_t age_ms;        /* since its request began */
  uint64_t bytes_in;      /* request body bytes read */
  uint64_t bytes_out;     /* response body bytes sent */
} ir_stream_info;

/* 1.5: one open connection, as worker_connections shows it. */
typedef struct ir_conn_info {
  uint32_t struct_size;    /* sizeof(ir_conn_info) of the host */
  uint32_t tls;            /* non-zero: TLS */
  uint64_t id;             /* the error log's conn= */
  ir_str peer;             /* "127.0.0.1:50312", "[::1]:50312"; borrowed */
  const char *protocol;    /* "http/1.1", "h2", or NULL before one was chosen */
  const char *state;       /* "handshake", "active" (streams open), "idle", "closing" */
  uint64_t age_ms;         /* since accept */
  uint64_t bytes_in;       /* read from the socket */
  uint64_t bytes_out;      /* written to it */
  const ir_stream_info *streams; /* nstreams of them, borrowed for the visit */
  size_t nstreams;
} ir_conn_info;
typedef void (*ir_conn_visit_cb)(const ir_conn_info *conn, void *data);

typedef struct ir_host_api {
  uint32_t struct_size; /* sizeof(ir_host_api) of the host */
  uint16_t abi_major;
  uint16_t abi_minor;

  /* ---- errors and logging ---- */
  /* A static, host-owned, NUL-terminated message for an ir_error;
   * "unknown error" for a value that is none. Any thread. */
  const char *(*strerror)(int err);
  /* Logs one line to the error log (if level is enabled). m and s may be
   * NULL; when given, the line carries the module name and the
   * connection/stream ids (with s alone, the name of s's module). No error
   * return. Any thread with m or NULL; with s, the stream's worker only. */
  void (*logv)(ir_module_t *m, ir_stream_t *s, int level, const char *fmt, va_list ap);

  /* ---- modules and instances ---- */
  /* The module's name (host-owned, NUL-terminated, for the process). No
   * error. Any thread. */
  const char *(*module_name)(ir_module_t *m);
  /* Module-wide pointer the module owns; the host only stores it (no
   * lock). No error. Set it on the main thread (init); read it on any
   * thread once workers run. */
  void (*module_set_data)(ir_module_t *m, void *data);
  void *(*module_data)(ir_module_t *m);
  /* The module of a route instance. No error. Main thread (the instance
   * is only handed out in instance_create). */
  ir_module_t *(*instance_module)(ir_instance_t *inst);
  /* A route key's value as text (defaults applied). *out points to
   * host-owned NUL-terminated memory valid while the instance is (the
   * module is loaded; for an IR_MODULE_RELOADS module, until its
   * instance_destroy returns).
   * IR_OK; IR_ENOTFOUND when the key is none of the module's or is unset
   * and has no default (*out untouched). Paths come back resolved. key is
   * the module's own NUL-terminated name. Main thread. */
  int (*instance_get_str)(ir_instance_t *inst, const char *key, ir_str *out);
  /* A route key as a number: INT as is, BOOL as 0/1, SIZE in bytes,
   * DURATION in milliseconds. IR_OK; IR_ENOTFOUND as instance_get_str;
   * IR_EINVAL for STRING/PATH keys (*out untouched). Main thread. */
  int (*instance_get_int)(ir_instance_t *inst, const char *key, int64_t *out);
  /* The route's path prefix (host-owned, NUL-terminated, valid as
   * instance_get_str's values are). No error. Main thread. */
  const char *(*instance_prefix)(ir_instance_t *inst);

  /* ---- the request (stream's worker; no error: empty when absent) ---- */
  /* Each is host-owned, valid until on_close, not NUL-terminated. */
  ir_str (*req_method)(ir_stream_t *s);    /* "GET" */
  ir_str (*req_path)(ir_stream_t *s);      /* raw path, no query: "/a%20b" */
  ir_str (*req_query)(ir_stream_t *s);     /* after '?', or empty */
  ir_str (*req_authority)(ir_stream_t *s); /* Host / :authority, or empty */
  ir_str (*req_scheme)(ir_stream_t *s);    /* "http" or "https" */
  ir_str (*req_protocol)(ir_stream_t *s);  /* "HTTP/1.1", "HTTP/1.0", "HTTP/2" */
  ir_str (*req_peer)(ir_stream_t *s);      /* "127.0.0.1:50312", "[::1]:50312" */
  /* First header named name (name_len bytes, case-insensitive). IR_OK and
   * *value; IR_ENOTFOUND if absent (also for name_len 0), *value untouched.
   * Stream's worker. */
  int (*req_header)(ir_stream_t *s, const char *name, size_t name_len, ir_str *value);
  /* How many header fields the request has (HTTP/2 pseudo-headers not
   * counted). Stream's worker. */
  size_t (*req_header_count)(ir_stream_t *s);
  /* The index-th field, name lower-case, in arrival order. IR_OK;
   * IR_ENOTFOUND when index >= req_header_count. Stream's worker. */
  int (*req_header_at)(ir_stream_t *s, size_t index, ir_str *name, ir_str *value);
  /* The declared Content-Length, or -1 when the request has none (no body,
   * or a chunked / HTTP/2 body of unknown length). Stream's worker. */
  int64_t (*req_content_length)(ir_stream_t *s);

  /* ---- per-stream state (stream's worker) ---- */
  /* The module's pointer for s (NULL until set); the host only keeps it.
   * No error. */
  void (*stream_set_data)(ir_stream_t *s, void *data);
  void *(*stream_data)(ir_stream_t *s);
  /* Memory from the stream's arena, freed when the stream closes. 16-byte
   * aligned. NULL when out of memory. */
  void *(*stream_alloc)(ir_stream_t *s, size_t size);
  /* The worker that owns s. Never NULL. */
  ir_worker_t *(*stream_worker)(ir_stream_t *s);
  /* Tells the host the module is done with n body bytes: opens the peer's
   * window (HTTP/2) or resumes reading (HTTP/1.1). IR_OK; IR_EINVAL when n
   * is more than the bytes delivered by on_body and not yet consumed
   * (nothing consumed); IR_ECLOSED once the stream finished. */
  int (*stream_consume)(ir_stream_t *s, size_t n);
  /* Aborts the exchange: RST_STREAM on HTTP/2, connection close on HTTP/1.1.
   * on_close follows (not from inside this call) with IR_CLOSE_ABORTED.
   * IR_OK (also after resp_end: the rest is dropped); IR_ECLOSED when s
   * was reset already (by the module, the peer or the host). */
  int (*stream_reset)(ir_stream_t *s);

  /* ---- the response (stream's worker) ----
   * Every call below returns IR_ECLOSED once s was reset (stream_reset,
   * the peer, or the host's own 500/504) and IR_ESTATE when the response
   * already ended (resp_end, or IR_HEAD_END_STREAM), unless it says
   * otherwise. */
  /* Sets the status (100..999; default 200). IR_OK; IR_ESTATE after the
   * head went; IR_EINVAL outside 100..999, and for 1xx except 101 on a
   * request that asks for an upgrade (req_upgrade). */
  int (*resp_status)(ir_stream_t *s, int status);
  /* Adds a header (name_len / value_len bytes); the bytes are copied, the
   * name lower-cased. IR_OK; IR_ESTATE after the head went. Hop-by-hop
   * fields (connection, keep-alive, proxy-connection, transfer-encoding),
   * an empty name or one that is no token, a value with CR, LF
   * or NUL, and a content-length that is no decimal number are refused with
   * IR_EINVAL: the host frames the response itself. IR_ENOMEM. content-length
   * is not added as a field: it declares the body's length, which the host
   * then writes (or leaves out for 204/304) and enforces (see resp_write
   * and resp_end). */
  int (*resp_header)(ir_stream_t *s, const char *name, size_t name_len, const char *value,
                     size_t value_len);
  /* Sends status + headers; flags: IR_HEAD_END_STREAM (the response ends
   * with the head). IR_OK; IR_ESTATE when the head went already; IR_ENOMEM
   * (HTTP/1.1 or HTTP/2 cannot encode it now); IR_ECLOSED also when
   * HTTP/2 refused the stream (the connection is going). */
  int (*resp_send_head)(ir_stream_t *s, uint32_t flags);
  /* Writes body bytes (copied; the head is sent first if it was not). Returns
   * the count accepted (may be less than len), IR_EAGAIN when none could be
   * taken now (on_writable follows), or another ir_error: IR_EINVAL past a
   * declared Content-Length (nothing taken), IR_ESTATE after resp_end, the
   * head's errors (resp_send_head) when this call sends it. A write whose
   * bytes complete the declared Content-Length is taken whole whatever
   * max_queued_output, so ir_respond_simple completes any size. len 0, and
   * any len for a HEAD request, returns len at once. */
  ssize_t (*resp_write)(ir_stream_t *s, const void *data, size_t len);
  /* Adds a trailer field (copied), sent by resp_end; before or after the
   * head. Chunked HTTP/1.1 and HTTP/2 only: IR_ESTATE otherwise (an
   * HTTP/1.0 request, or Content-Length was set) and after resp_end.
   * IR_EINVAL for the names and values resp_header refuses, content-length
   * and upgrade. IR_ENOMEM. */
  int (*resp_trailer)(ir_stream_t *s, const char *name, size_t name_len, const char *value,
                      size_t value_len);
  /* Ends the response. on_close follows (never from inside this call) once
   * the request has ended too, so the stream stays valid until then.
   * IR_EINVAL when the body is shorter than the declared Content-Length:
   * the host logs the declared and sent sizes; before the head it answers
   * 500; after it, HTTP/1.1 closes the connection once written and HTTP/2
   * sends RST_STREAM INTERNAL_ERROR; on_close says IR_CLOSE_ERROR.
   * IR_ESTATE when ended already, IR_ECLOSED after a reset. */
  int (*resp_end)(ir_stream_t *s);

  /* ---- workers, timers, work (w's thread unless written) ---- */
  /* w's index, 0 .. worker_count-1. No error. Any thread. */
  unsigned (*worker_index)(ir_worker_t *w);
  /* A timer that fires after timeout_ms, then every repeat_ms if non-zero.
   * Call timer_stop exactly once for every timer started, fired or not: it
   * frees the handle (it may be called from the timer's own callback).
   * Timers still running when the worker stops are freed by the host after
   * worker_exit. NULL when the worker is stopping (after its drain ended),
   * cb is NULL, or out of memory: cb is then never called. */
  ir_timer_t *(*timer_start)(ir_worker_t *w, uint64_t timeout_ms, uint64_t repeat_ms,
                             ir_timer_cb cb, void *data);
  /* See timer_start; t NULL is ignored. No error. The timer's worker. */
  void (*timer_stop)(ir_timer_t *t);
  /* Runs work(data) on the host's thread pool ([server] thread_pool
   * threads, default 4, shared with the host's file reads under TLS), then
   * done(data, status) on w's thread, exactly once (done may be NULL).
   * status is IR_OK, or IR_ECLOSED if the worker was stopping: a stopping
   * worker drops the jobs not started, waits for running ones, and calls
   * every done before worker_exit. done runs even when the stream the job
   * was for has closed: use work_start (1.4) to tie a job to a stream.
   * Returns IR_OK; IR_EINVAL (work NULL); IR_ECLOSED when w is stopping;
   * IR_ENOMEM (out of memory, or libuv refused the job). On an error
   * neither work nor done is called. */
  int (*work_submit)(ir_worker_t *w, ir_task_cb work, ir_done_cb done, void *data);
  /* Runs cb(data) on w's thread soon, in posting order per poster.
   * IR_OK; IR_EINVAL for a NULL w or cb; IR_ECLOSED once w stopped taking
   * posts (its drain ended): cb will never run; IR_ENOMEM. Any thread. */
  int (*worker_post)(ir_worker_t *w, ir_task_cb cb, void *data);

  /* ---- service registry ---- */
  /* Offers iface (module-owned, static for the module's life) under name
   * (NUL-terminated, copied) and version. IR_OK; IR_EINVAL for a NULL or
   * empty name or a NULL iface; IR_EEXIST when that name has that version
   * already (other versions may coexist); IR_ENOMEM. Main thread, during
   * init (the registry takes no lock). */
  int (*service_register)(ir_module_t *m, const char *name, uint32_t version, const void *iface);
  /* The highest version >= min_version of the service named name
   * (NUL-terminated, not NULL), or NULL when there is none (*found_version
   * untouched). *found_version receives its version if non-NULL. Any
   * thread once the modules' init ran (in init, only services of modules
   * loaded earlier). */
  const void *(*service_lookup)(const char *name, uint32_t min_version, uint32_t *found_version);

  /* ---- ABI 1.1: upgraded streams (stream's worker) ---- */
  /* The protocol the client asks to switch to, lower-case ("websocket"): the
   * Upgrade header of an HTTP/1.1 request that also says Connection:
   * upgrade, or the :protocol of an HTTP/2 extended CONNECT (RFC 8441).
   * Empty when the request asks for none, or when the route's module did not
   * set IR_MODULE_UPGRADES. Answering with status 101 accepts: on HTTP/1.1
   * the host sends "101 Switching Protocols" with Connection: upgrade and
   * Upgrade: <protocol> itself; on HTTP/2 it sends ":status 200". The module
   * adds only its protocol's own fields (e.g. Sec-WebSocket-Accept, which
   * HTTP/1.1 needs and RFC 8441 does not).
   * From then on the stream is a full-duplex byte stream on either protocol:
   * on_body carries the peer's bytes, resp_write sends bytes, on_body_end
   * means the peer closed its side, resp_end closes ours. Idle timeouts and
   * handler_timeout do not apply to it (nor to the upgrade request before
   * the 101); the module keeps it alive or ends it. No error: empty when
   * none. Stream's worker. */
  IR__SINCE_1_1(req_upgrade) ir_str (*req_upgrade)(ir_stream_t *s);

  /* ---- ABI 1.2: file bodies, per-worker data ---- */
  /* Sends len bytes of the open file fd, from offset, as the next part of
   * the body (after what was written before; the head is sent first if it
   * was not). The host dup()s fd, so the module may close its own at once,
   * and never waits on the disk in the loop: sendfile(2) in cleartext
   * (HTTP/1.1 and h2c) after reading ahead, reads on the thread pool for
   * TLS. Returns IR_OK when the segment is queued (on_writable follows
   * once it has been sent), IR_EAGAIN while an earlier segment or too much
   * output is still queued, or another ir_error (IR_EINVAL past a declared
   * Content-Length, or fd < 0), IR_ECLOSED after a reset, IR_ESTATE after
   * resp_end, IR_EIO when fd cannot be duplicated, IR_ENOMEM, or the head's
   * errors. len 0 (and a HEAD request) returns IR_OK at once. The bytes
   * count like resp_write's. If the file is shorter than promised the
   * stream is reset; a file that shrinks while it is being sent ends the
   * connection. Stream's worker. */
  IR__SINCE_1_2(resp_send_file)
  int (*resp_send_file)(ir_stream_t *s, int fd, uint64_t offset, uint64_t len);
  /* A pointer per (module, worker), module-owned; the host only keeps it.
   * Typically set in worker_init and freed in worker_exit; NULL until set.
   * No error. w's thread. */
  IR__SINCE_1_2(worker_set_data)
  void (*worker_set_data)(ir_module_t *m, ir_worker_t *w, void *data);
  IR__SINCE_1_2(worker_data) void *(*worker_data)(ir_module_t *m, ir_worker_t *w);

  /* ---- ABI 1.3: response fields without a copy ---- */
  /* resp_header, but the host keeps the two pointers instead of copying
   * the bytes: name and value must stay valid and unchanged until on_close
   * (string literals, or memory the module frees in on_close or later).
   * name must be lower-case (IR_EINVAL otherwise). Returns as resp_header
   * does (the same refusals, IR_ESTATE after the head, IR_ENOMEM).
   * Stream's worker. */
  IR__SINCE_1_3(resp_header_ref)
  int (*resp_header_ref)(ir_stream_t *s, const char *name, size_t name_len, const char *value,
                         size_t value_len);
  /* resp_write, but the host may keep the pointer instead of copying the
   * bytes: data must stay valid and unchanged until on_close. Returns as
   * resp_write does (a write completing the declared length is kept
   * whole). Stream's worker. */
  IR__SINCE_1_3(resp_write_ref)
  ssize_t (*resp_write_ref)(ir_stream_t *s, const void *data, size_t len);

  /* ---- ABI 1.4: a stream's module, work handles, every worker ---- */
  /* The module whose route took s, for ir_log and worker_data in stream
   * callbacks, so that no module needs a global. Never NULL; no error.
   * Stream's worker. */
  IR__SINCE_1_4(stream_module) ir_module_t *(*stream_module)(ir_stream_t *s);
  /* work_submit with a handle. work(data) runs on the thread pool, then
   * done(data, status) on w's thread, exactly once, with status IR_OK
   * (work ran), IR_ECANCELED (work_cancel came first: work never ran), or
   * IR_ECLOSED (the worker was stopping, or s, when given, closed before
   * done: work may have run, and s must not be touched). With s, the job
   * belongs to that stream (s's worker is w): when s closes, a job not yet
   * started is cancelled. NULL when w is stopping or out of memory (done is
   * then never called), also for a bad argument (no work, s on another
   * worker or closed). A stopping worker drops jobs not started (IR_ECLOSED)
   * and calls every done before worker_exit. The handle is valid until done
   * returns. w's thread. */
  IR__SINCE_1_4(work_start)
  ir_work_t *(*work_start)(ir_worker_t *w, ir_stream_t *s, ir_task_cb work, ir_done_cb done,
                           void *data);
  /* Cancels a job whose work has not started: IR_OK, and done follows
   * (from the loop, never inside this call) with IR_ECANCELED. IR_ESTATE
   * when work is running or ran, or the job's stream closed: done follows
   * as usual. IR_OK again for a job cancelled already; IR_EINVAL for NULL.
   * Its worker's thread. */
  IR__SINCE_1_4(work_cancel) int (*work_cancel)(ir_work_t *wk);
  /* How many workers serve ([server] workers). Any thread, from the first
   * worker_init on (every worker exists by then, though the others may not
   * have run their worker_init yet) until the last worker_exit returned;
   * 0 before, and under `iridium -t`. No error. */
  IR__SINCE_1_4(worker_count) unsigned (*worker_count)(void);
  /* Worker index (0 .. worker_count-1), for worker_post to every worker.
   * NULL outside that range (and whenever worker_count is 0). Any thread,
   * when worker_count is; a worker that stopped refuses posts with
   * IR_ECLOSED. A module's own threads stop calling it, and stop posting,
   * by the time its last worker_exit has returned. */
  IR__SINCE_1_4(worker_at) ir_worker_t *(*worker_at)(unsigned index);

  /* ---- ABI 1.4: fd watches (w's thread) ---- */
  /* Watches an fd the module owns (a library's socket) on w's loop: cb(wt,
   * fd, events, data) runs while it is ready for what events (IR_WATCH_READ
   * | IR_WATCH_WRITE; 0 starts paused) asks, with IR_WATCH_ERROR added on a
   * socket error (which pauses the watch until watch_change) or, with
   * IR_WATCH_READ, a hang-up. Level-triggered. The host makes fd
   * non-blocking and never reads, writes or closes it. NULL for a bad fd,
   * one that cannot be polled or that w watches already (one watch per fd
   * and worker), unknown events bits or a NULL cb, once w's worker_exit has
   * run, or out of memory. */
  IR__SINCE_1_4(watch_start)
  ir_watch_t *(*watch_start)(ir_worker_t *w, int fd, uint32_t events, ir_watch_cb cb,
                             void *data);
  /* Changes the interest (0 pauses the watch: no callback while paused).
   * IR_EINVAL for bad events, IR_ECLOSED after watch_stop (in the callback
   * that stopped it). May be called from the watch's own callback. */
  IR__SINCE_1_4(watch_change) int (*watch_change)(ir_watch_t *wt, uint32_t events);
  /* Stops the watch and frees it: call it exactly once per watch, before
   * closing the fd; cb is never called after. May be called from cb.
   * Watches still open when the worker stops are stopped and freed by the
   * host after worker_exit (stop a watch yourself before closing its fd). */
  IR__SINCE_1_4(watch_stop) void (*watch_stop)(ir_watch_t *wt);

  /* ---- ABI 1.4: outbound connections (w's thread) ---- */
  /* Opens a TCP connection to host (a name, resolved off the loop, or an
   * IP address; host_len bytes, not NUL-terminated) and port, with TLS when
   * opts says so (verified against the system CAs or opts->ca_file, by
   * default). opts may be NULL. Then cbs->on_connect, on_data, on_writable
   * and exactly one on_close (see ir_outbound_cbs), with data. NULL for a
   * bad argument, when w is stopping, or out of memory: no callback
   * follows. */
  IR__SINCE_1_4(outbound_open)
  ir_outbound_t *(*outbound_open)(ir_worker_t *w, const char *host, size_t host_len,
                                  uint16_t port, const ir_outbound_opts *opts,
                                  const ir_outbound_cbs *cbs, void *data);
  /* Queues bytes (copied) to send, also before on_connect. Returns the
   * count accepted (may be less than len), IR_EAGAIN when none could be
   * taken now (on_writable follows), or IR_ECLOSED after outbound_close or
   * once the connection failed (on_close follows or came). */
  IR__SINCE_1_4(outbound_write)
  ssize_t (*outbound_write)(ir_outbound_t *o, const void *bytes, size_t len);
  /* paused non-zero: no more on_data until called again with 0 (the peer
   * is held back by TCP). IR_ECLOSED after outbound_close. */
  IR__SINCE_1_4(outbound_pause) int (*outbound_pause)(ir_outbound_t *o, int paused);
  /* Closes: bytes already queued are sent first (bounded by the server's
   * write timeout), then on_close(IR_OK) from the loop. Call it at most
   * once, and not after on_close. */
  IR__SINCE_1_4(outbound_close) void (*outbound_close)(ir_outbound_t *o);

  /* ---- ABI 1.4: module metrics ---- */
  /* Registers a metric: name ([a-zA-Z_:][a-zA-Z0-9_:]*, up to 200 bytes,
   * unique across modules), type IR_METRIC_*, a one-line help (no newline,
   * up to 1024 bytes), and nlabels (0..8) fixed label names
   * ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", all different). All
   * NUL-terminated; copied. NULL for any bad argument or a taken name, with
   * an error-log line saying why. A metric without labels has one series
   * (metric_series(mt, NULL, 0)), listed from the start. Main thread, in
   * init. */
  IR__SINCE_1_4(metric_register)
  ir_metric_t *(*metric_register)(ir_module_t *m, const char *name, uint32_t type,
                                  const char *help, const char *const *label_names,
                                  size_t nlabels);
  /* The series of mt with these label values (exactly nlabels, ptr+len,
   * copied), made on first use; the same handle for the same values after.
   * Values are any bytes (escaped when shown), up to 1024 bytes each. At
   * most 1024 series per metric: past that NULL (logged once per metric),
   * so labels made from client data cannot exhaust memory; a series costs
   * a 64-byte slot per worker plus its values. NULL too for a wrong count,
   * a value too long, or out of memory. Any thread (it takes the metric's
   * lock: look series up once and keep them). */
  IR__SINCE_1_4(metric_series)
  ir_series_t *(*metric_series)(ir_metric_t *mt, const ir_str *label_values, size_t nvalues);
  /* Adds delta to w's part of the series (counters: a negative delta is
   * ignored). No lock; w's thread only. */
  IR__SINCE_1_4(metric_add) void (*metric_add)(ir_worker_t *w, ir_series_t *se, int64_t delta);
  /* Sets w's part of a gauge series (ignored for a counter). No lock; w's
   * thread only. */
  IR__SINCE_1_4(metric_set) void (*metric_set)(ir_worker_t *w, ir_series_t *se, int64_t value);
  /* Calls cb once per series of every module, in registration order, with
   * the sum of the workers' parts (each part read atomically; the sum is not
   * one instant). Returns the count. cb may call any metric_* entry. Any
   * thread. */
  IR__SINCE_1_4(metric_list) size_t (*metric_list)(ir_metric_visit_cb cb, void *data);

  /* ---- ABI 1.5: introspection ---- */
  /* Fills out (its struct_size set by the caller; fields past it are left
   * alone). IR_EINVAL for NULL or a struct_size below 1.5's first fields,
   * IR_ESTATE before the workers exist. Any thread. */
  IR__SINCE_1_5(server_info) int (*server_info)(ir_server_info *out);
  /* Calls cb once per open connection of w, streams included; everything
   * it gets is borrowed for the call. Returns the count. w's thread only
   * (worker_post a task to each worker to see them all); cb must not
   * close or change connections. */
  IR__SINCE_1_5(worker_connections)
  size_t (*worker_connections)(ir_worker_t *w, ir_conn_visit_cb cb, void *data);
} ir_host_api;

#endif /* IRIDIUM_HOST_H */
