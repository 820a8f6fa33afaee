/* iridium/module.h — what a module tells the host: its descriptor, its INI
 * keys and its request callbacks.
 *
 * A module exports exactly one symbol, the entry function (see iridium.h's
 * IR_MODULE_DEFINE). The host calls it with its API table and ABI version;
 * it returns a pointer to a static, module-owned ir_module_desc. The entry
 * function must do nothing else: the host checks the descriptor's ABI version
 * and refuses the module, calling nothing more, when it does not fit.
 *
 * Every struct here starts with its own size. The host reads a field only
 * when struct_size covers it, so fields are only ever appended.
 */
#ifndef IRIDIUM_MODULE_H
#define IRIDIUM_MODULE_H

#include "abi.h"

/* Opaque handles. All are host-owned; a module never frees one itself,
 * but some calls end a handle's life: ir_timer_stop frees its timer,
 * ir_watch_stop its watch; a stream is gone once on_close returns, an
 * outbound connection once its on_close returns, a work handle once its
 * done callback returns. Metrics and series live as long as the process. */
typedef struct ir_module ir_module_t;     /* a loaded module */
typedef struct ir_instance ir_instance_t; /* one route's use of a module */
typedef struct ir_worker ir_worker_t;     /* one worker thread and its loop */
typedef struct ir_stream ir_stream_t;     /* one request/response exchange */
typedef struct ir_timer ir_timer_t;       /* a timer on a worker's loop */
/* 1.4 */
typedef struct ir_work ir_work_t;         /* a thread-pool job (work_start) */
typedef struct ir_watch ir_watch_t;       /* an fd watched on a worker's loop */
typedef struct ir_outbound ir_outbound_t; /* a TCP (or TLS) connection a module opened */
typedef struct ir_metric ir_metric_t;     /* a metric a module registered */
typedef struct ir_series ir_series_t;     /* one label-value combination of a metric */

/* Types of INI values. The host parses and validates them before any worker
 * starts; a module reads them back with ir_instance_get_*(). */
typedef enum ir_key_type {
  IR_KEY_STRING = 1,
  IR_KEY_INT = 2,      /* signed decimal integer */
  IR_KEY_BOOL = 3,     /* on/off, yes/no, true/false, 1/0 */
  IR_KEY_SIZE = 4,     /* bytes, with optional k/m/g suffix (powers of 1024) */
  IR_KEY_DURATION = 5, /* milliseconds; suffixes ms, s, m, h (bare = s) */
  IR_KEY_PATH = 6      /* a string; relative paths resolve against the INI's folder */
} ir_key_type;

/* One INI key a module accepts in its routes. Arrays of these end with an
 * entry whose name is NULL; the host steps through them by struct_size. */
typedef struct ir_config_key {
  uint32_t struct_size;      /* sizeof(ir_config_key) of the module's SDK */
  uint32_t type;             /* an ir_key_type */
  const char *name;          /* static, module-owned */
  const char *default_value; /* static text form, or NULL for none */
  uint32_t required;         /* nonzero: a route must set it */
  const char *help;          /* one line for error messages, may be NULL */
} ir_config_key;

/* Why a stream closed, given to on_close. */
typedef enum ir_close_reason {
  IR_CLOSE_DONE = 0,    /* the response was sent completely */
  IR_CLOSE_ABORTED = 1, /* the peer went away or reset, or the module called stream_reset */
  IR_CLOSE_ERROR = 2,   /* a protocol error, a module callback that returned an error
                         * (even if the 500 went out whole), or resp_end short of
                         * Content-Length */
  IR_CLOSE_TIMEOUT = 3, /* handler_timeout (504), or HTTP/1.1's connection timeouts */
  IR_CLOSE_SHUTDOWN = 4 /* the server stopped before the response ended */
} ir_close_reason;

/* A module's descriptor. Static and module-owned; the host keeps the pointer
 * while the module is loaded. Unset callbacks may be NULL. Threads: init,
 * fini, instance_create and instance_destroy run on the main thread before
 * workers start or after they stopped — and, for a module that sets
 * IR_MODULE_RELOADS, also while they serve, when a reload adds or changes
 * its routes; everything else runs on the worker that owns the object
 * passed in. A module first loaded by a reload gets init, instance_create
 * for its routes, then worker_init on each serving worker, as at start. */
typedef struct ir_module_desc {
  uint32_t struct_size; /* sizeof(ir_module_desc) in the SDK of abi_minor */
  uint16_t abi_major;   /* IR_ABI_MAJOR the module was built with */
  uint16_t abi_minor;   /* the minor it was built for: IR_ABI_TARGET_MINOR */
  const char *name;     /* short name, e.g. "hello" */
  const char *version;  /* the module's own release, e.g. "1.0.0" */

  const ir_config_key *keys; /* keys its routes accept; NULL for none */

  /* Once after loading. Non-zero return refuses to start the server.
   * `iridium -t` runs init and instance_create too (then instance_destroy
   * and fini at once), so a module checks its own resources there. */
  int (*init)(ir_module_t *m);
  /* Once before unloading. */
  void (*fini)(ir_module_t *m);

  /* Once per route that names this module. *instance_data is module-owned and
   * handed back to on_request. Non-zero return refuses to start. */
  int (*instance_create)(ir_instance_t *inst, void **instance_data);
  void (*instance_destroy)(void *instance_data);

  /* On each worker's thread, before it accepts / after it stopped.
   * worker_exit runs only for a worker whose worker_init returned 0. A
   * failing worker_init stops start-up with one line naming the module
   * (exit status 1); `iridium -t` runs worker_init and worker_exit on a
   * throwaway worker, so it fails the check too. */
  int (*worker_init)(ir_module_t *m, ir_worker_t *w);
  void (*worker_exit)(ir_module_t *m, ir_worker_t *w);

  /* The request head arrived (method, path, headers are readable). Answer now
   * or later. A negative return (also from on_body/on_body_end) makes the
   * host answer 500 when no response head was sent yet, or reset the stream
   * otherwise; on_close then says IR_CLOSE_ERROR. No response head within
   * handler_timeout ([server], or per [route]; default 60s) once the host
   * has the whole request: the host answers 504 and on_close says
   * IR_CLOSE_TIMEOUT. Upgrade requests are exempt, and a stream whose head
   * went out is never cut by it. */
  int (*on_request)(ir_stream_t *s, void *instance_data);
  /* A piece of the request body. data is borrowed for the call only. The
   * module calls ir_stream_consume() for the bytes it is done with (now or
   * later); unconsumed bytes hold back the peer (flow control). Without
   * on_body the host reads and drops the body (up to max_body_size), and an
   * HTTP/1.1 connection goes on after the answer. */
  int (*on_body)(ir_stream_t *s, const uint8_t *data, size_t len);
  /* The request body (and trailers, if any) ended. */
  int (*on_body_end)(ir_stream_t *s);
  /* A write that returned IR_EAGAIN or was partial may be tried again. */
  void (*on_writable)(ir_stream_t *s);
  /* Called exactly once per stream that reached on_request; reason is an
   * ir_close_reason. After it returns the stream handle is invalid and its
   * arena is freed. */
  void (*on_close)(ir_stream_t *s, int reason);

  /* ---- ABI 1.1 ---- */
  IR__SINCE_1_1(flags)
  uint64_t flags; /* IR_MODULE_* bits (64-bit: no tail padding for a later field to fall into) */

  /* ---- ABI 1.4: the drain notice ---- */
  /* The server started to drain (SIGTERM): w stops accepting, and whatever
   * is still open after ms_left milliseconds ([server] shutdown_timeout) is
   * closed with IR_CLOSE_SHUTDOWN. Once per worker whose worker_init
   * succeeded, on w's thread, before any of its streams hears
   * on_stream_drain. The module ends its own long-lived things here
   * (outbound connections, watches, timers) or leaves them to worker_exit. */
  IR__SINCE_1_4(on_worker_drain)
  void (*on_worker_drain)(ir_module_t *m, ir_worker_t *w, uint64_t ms_left);
  /* Once for each of the module's streams still open when the drain
   * starts (upgraded streams, and responses still being written such as
   * event streams; not one whose response ended or was reset, nor one that
   * starts later), on its worker: the module finishes it within ms_left
   * (a WebSocket sends close 1001, an event stream ends its response).
   * on_close follows as usual; IR_CLOSE_SHUTDOWN if it was still open at
   * the deadline. */
  IR__SINCE_1_4(on_stream_drain) void (*on_stream_drain)(ir_stream_t *s, uint64_t ms_left);
} ir_module_desc;

/* ir_module_desc.flags */
/* The module's routes take upgraded streams (WebSocket over HTTP/1.1
 * Upgrade and over HTTP/2 extended CONNECT, RFC 8441). Listeners serving
 * such a route advertise SETTINGS_ENABLE_CONNECT_PROTOCOL. */
#if IR_ABI_TARGET_MINOR >= 1
#define IR_MODULE_UPGRADES 0x1u
#else
enum { IR_MODULE_UPGRADES IR__SINCE_1_1(IR_MODULE_UPGRADES) = 0x1 };
#endif
/* The module takes routes that come, change and go while its workers
 * serve (a reload: SIGHUP, `iridium -s reload`): instance_create for a new
 * or changed route, then instance_destroy for the old one once the last
 * connection that could reach it has closed, both on the main thread. Its
 * per-worker state for a route is made when that worker first needs it,
 * not only in worker_init. A route a reload leaves as it was keeps its
 * instance either way; without this flag a reload that would add, change
 * or remove one of the module's routes is refused (and says so). */
#if IR_ABI_TARGET_MINOR >= 6
#define IR_MODULE_RELOADS 0x2u
#else
enum { IR_MODULE_RELOADS IR__SINCE_1_6(IR_MODULE_RELOADS) = 0x2 };
#endif

/* sizeof(ir_module_desc) as the SDK of IR_ABI_TARGET_MINOR declared it: the
 * descriptor's struct_size (IR_MODULE_DESC_HEADER), so that a host reads no
 * member newer than the module's minor. 1.0's ends with on_close, 1.1-1.3's
 * with flags. */
#if IR_ABI_TARGET_MINOR >= 4
#define IR_MODULE_DESC_SIZE sizeof(ir_module_desc)
#elif IR_ABI_TARGET_MINOR >= 1
#define IR_MODULE_DESC_SIZE                                                                        \
  (offsetof(ir_module_desc, flags) + sizeof(((ir_module_desc *)0)->flags))
#else
#define IR_MODULE_DESC_SIZE                                                                        \
  (offsetof(ir_module_desc, on_close) + sizeof(((ir_module_desc *)0)->on_close))
#endif

/* The entry function's type and exported name. */
struct ir_host_api;
typedef const ir_module_desc *(*ir_module_entry_fn)(const struct ir_host_api *host,
                                                    uint32_t host_abi);
#define IR_MODULE_ENTRY_SYMBOL "iridium_module_entry"

#endif /* IRIDIUM_MODULE_H */
