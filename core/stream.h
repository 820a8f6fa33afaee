/* stream.h — the protocol-neutral request/response object modules see.
 *
 * A protocol (h1.c now, h2.c later) creates a stream per request, fills the
 * request fields, and drives it: dispatch (router + the module's
 * on_request), body pieces, body end, writable, finish. Modules act on it
 * through host_api.c, which lands in the irh_stream_* calls below; those
 * check the state and call the protocol's ops to frame bytes.
 *
 * Re-entrancy rule: a module call never finishes a stream synchronously.
 * resp_end and reset only mark the stream and queue it on the worker; the
 * worker calls ops->settle() outside any module callback. So a module may
 * touch its stream until on_close, and on_close is called exactly once.
 */
#ifndef IRIDIUM_CORE_STREAM_H
#define IRIDIUM_CORE_STREAM_H

#include <stdint.h>
#include <sys/types.h>

#include <iridium/iridium.h>

#include "arena.h"
#include "bufq.h"       /* irh_bufq_release_fn, for file bodies */
#include "http_rules.h" /* the callers of the rules moved out of here */
#include "list.h"
#include "stream_state.h" /* the IRH_STREAM_* flags and their rules */
#include "worker.h"

struct irh_conn;
struct ir_instance;

#define IRH_STREAM_INLINE_ARENA 1536
#define IRH_REASON_PROTOCOL (-1) /* host_reason unset: the protocol's reason stands */

typedef struct irh_header {
  ir_str name; /* lower-case for requests */
  ir_str value;
} irh_header;

/* What a protocol does for the stream layer. */
typedef struct irh_stream_ops {
  /* Frames status + headers (+ END_STREAM when end_stream). */
  int (*send_head)(ir_stream_t *s, int end_stream);
  /* Frames body bytes; returns bytes taken, or IR_EAGAIN when full. */
  ssize_t (*write)(ir_stream_t *s, const void *data, size_t len);
  /* The same for bytes that stay valid until the stream finishes: the
   * protocol may keep the pointer instead of a copy. NULL: write is used. */
  ssize_t (*write_ref)(ir_stream_t *s, const void *data, size_t len);
  /* Frames the end of the response (last chunk, trailers). */
  int (*end)(ir_stream_t *s);
  /* The module is done with n request body bytes. */
  void (*consume)(ir_stream_t *s, size_t n);
  /* Re-evaluates the stream after a module ended or reset it; may finish it. */
  void (*settle)(ir_stream_t *s);
  /* Whether trailers can still be sent on this response. */
  int (*can_trailer)(ir_stream_t *s);
  /* Queues len bytes of the file fd from offset as body, unread: a file
   * block in the protocol's queue (irh_conn_write_file, or HTTP/2's stream
   * queue), which the connection writes. IR_OK: the protocol owns the range
   * and calls release(user) once, when it was written or dropped (at once
   * for a response without a body). An error: nothing was queued and
   * release is not called. Never "again": a file block holds no memory. */
  int (*write_file)(ir_stream_t *s, int fd, uint64_t offset, size_t len,
                    irh_bufq_release_fn release, void *user);
  /* Whether a new file body may start now: one of the connection's
   * file-body slots (h2_max_file_bodies) is free and the peer has room for
   * the body. IR_OK takes the slot, which file_end gives back; IR_EAGAIN:
   * irh_stream_writable follows once one may. NULL for both: no bound. */
  int (*file_begin)(ir_stream_t *s);
  void (*file_end)(ir_stream_t *s);
} irh_stream_ops;

/* What a stream holds for a file body (filesend.c): told when the stream
 * finishes, so that it lets go of the stream (a file range may still be
 * queued in the connection). */
typedef struct irh_stream_file {
  void (*detach)(struct irh_stream_file *f);
} irh_stream_file;

struct ir_stream {
  struct irh_conn *conn;
  struct ir_worker *worker;
  const irh_stream_ops *ops;
  int64_t id; /* HTTP/2 stream id; request number on HTTP/1.1 */
  irh_arena arena;
  struct ir_instance *instance; /* the route's module instance, or NULL */
  void *data;                   /* module-owned */
  void *proto;                  /* the protocol's per-stream state (HTTP/2), in the arena */
  irh_stream_file *file;        /* the file body being sent (filesend.c), or NULL */
  irh_deferred settle;          /* in the worker's settle queue: runs ops->settle */
  irh_deadline head_due;        /* handler_timeout: the module owes its response head */
  irh_link jobs;                /* ir_work_t bound to the stream (work_start), not done yet */
  unsigned flags;
  int host_reason; /* the ir_close_reason on_close gets whatever the protocol says (a
                      handler error: IR_CLOSE_ERROR), or IRH_REASON_PROTOCOL */

  /* request: all memory in the arena */
  ir_str method, target, path, query, authority, scheme, protocol;
  irh_header *headers;
  size_t nheaders, headers_cap;
  ir_str upgrade; /* protocol asked for (Upgrade / :protocol), lower-case; see req_upgrade */
  int64_t content_length; /* -1 unknown */
  uint64_t body_received;
  uint64_t unconsumed;

  /* response */
  int status;
  irh_header *resp_headers;
  size_t nresp, resp_cap;
  irh_header *trailers;
  size_t ntrailers, trailer_cap;
  int64_t resp_content_length; /* -1 when the module did not set one */
  uint64_t body_sent;
  uint64_t start_ns;
  uint64_t start_ms; /* loop time when the request began (worker_connections) */

  /* The arena's first buffer: most requests need no more. */
  _Alignas(16) unsigned char arena_inline[IRH_STREAM_INLINE_ARENA];
};

/* Makes a stream on c (from the worker's slab). NULL when out of memory. */
ir_stream_t *irh_stream_new(struct irh_conn *c, const irh_stream_ops *ops, int64_t id);

/* Routes the request and calls the module's on_request; answers 404 when no
 * route matches and 500 when the module fails before sending a head. */
void irh_stream_dispatch(ir_stream_t *s);
/* Hands a body piece to the module (or consumes it if nobody wants it). */
void irh_stream_body(ir_stream_t *s, const uint8_t *data, size_t len);
/* The request is complete: marks it (once) and calls on_body_end. */
void irh_stream_body_end(ir_stream_t *s);
/* The protocol can take more output: calls on_writable if one is owed. */
void irh_stream_writable(ir_stream_t *s);
/* The worker started to drain: the module's on_stream_drain, if it has
 * one and the stream is still its own (dispatched, its response neither
 * ended nor reset). The protocol calls it once per stream, from its
 * on_shutdown. A module may end or reset the stream in it (settled later,
 * as always) or write to it, which may close the connection. */
void irh_stream_drain_notice(ir_stream_t *s);
/* Ends the stream: on_close (once, if dispatched), access log, free. */
void irh_stream_finish(ir_stream_t *s, int reason);

/* Adds a request header (copied into the arena; the name lower-cased). */
int irh_stream_add_req_header(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl);
/* The same for a protocol whose strings may outlive the stream (HTTP/2's
 * static table): what kept names is referenced, not copied; a kept name
 * is lower-case already. */
enum { IRH_KEPT_NAME = 1u << 0, IRH_KEPT_VALUE = 1u << 1 };
int irh_stream_add_req_header_kept(ir_stream_t *s, ir_str name, ir_str value, unsigned kept);
/* Splits s->target (irh_split_target) into s->path and s->query;
 * absolute-form ("http://host/p") also sets s->authority, else it is left
 * as the protocol set it. Returns 0, or the status to answer. */
int irh_stream_split_target(ir_stream_t *s);

/* ---- named transitions: what a protocol calls instead of writing
 * s->flags, s->status, s->ops, s->proto or s->id (see stream_state.h for
 * when each is allowed). Each returns IR_OK, or IR_ECLOSED / IR_ESTATE
 * when the stream's state does not allow it (then nothing changed).
 * Loop thread of the stream's worker. ---- */

/* The request is a HEAD: body bytes of the response are dropped. Before
 * dispatch. */
int irh_stream_mark_head_request(ir_stream_t *s);
/* The protocol answered the request itself with status (an error it found,
 * such as HTTP/1.1's 400 or 413, framed by the protocol): the stream's
 * response counts as sent and ended with that status, for the access log,
 * and no module call can send another. Not after a head was sent. */
int irh_stream_answered(ir_stream_t *s, int status);
/* The stream moves to another protocol (an HTTP/1.1 request that became
 * HTTP/2 stream 1 through h2c): new ops, per-stream state (proto, in the
 * stream's arena or owned by the new protocol) and id. Only before
 * dispatch, so no module ever saw the old binding. */
int irh_stream_rebind(ir_stream_t *s, const irh_stream_ops *ops, void *proto, int64_t id);
/* The peer aborted the stream (HTTP/2 RST_STREAM): no more module output
 * is taken; the protocol finishes it (irh_stream_finish). */
int irh_stream_reset_by_peer(ir_stream_t *s);
/* Output for this stream was refused for now (the protocol or the file
 * body is full): on_writable is owed, delivered by irh_stream_writable. */
int irh_stream_want_write(ir_stream_t *s);
/* The protocol's per-stream state (HTTP/2's, in the stream's arena), set
 * once after irh_stream_new; before dispatch. */
int irh_stream_bind(ir_stream_t *s, void *proto);
/* A file body starts (filesend.c): until irh_stream_file_done, body writes
 * answer "again" and the module's resp_end waits for the file. */
int irh_stream_file_begin(ir_stream_t *s);
/* The file body's last piece went to the protocol: a resp_end that waited
 * for it is framed now. Not from inside a module call or a queue's
 * release callback (it calls the protocol's ops). */
void irh_stream_file_done(ir_stream_t *s);
/* A host-made response (404, 500, ...) with a short text body. */
int irh_stream_respond_status(ir_stream_t *s, int status);

/* Queues ops->settle for this loop turn (used by resp_end and reset). */
void irh_stream_schedule_settle(ir_stream_t *s);

/* The SDK's stream and response calls (host_api.c forwards to these). */
int irh_stream_resp_status(ir_stream_t *s, int status);
int irh_stream_resp_header(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl);
int irh_stream_resp_header_ref(ir_stream_t *s, const char *n, size_t nl, const char *v,
                               size_t vl);
int irh_stream_resp_send_head(ir_stream_t *s, uint32_t flags);
ssize_t irh_stream_resp_write(ir_stream_t *s, const void *data, size_t len);
ssize_t irh_stream_resp_write_ref(ir_stream_t *s, const void *data, size_t len);
int irh_stream_resp_trailer(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl);
int irh_stream_resp_end(ir_stream_t *s);
int irh_stream_consume(ir_stream_t *s, size_t n);
int irh_stream_reset(ir_stream_t *s);
int irh_stream_req_header(ir_stream_t *s, const char *name, size_t len, ir_str *value);
/* The name of the module whose route has s, or NULL (none yet, or a host answer). */
const char *irh_stream_module_name(const ir_stream_t *s);

/* Whether nobody reads the request body: no module has the stream (a host
 * answer such as 404) or its module has no on_body. What still comes is
 * consumed as it arrives (irh_stream_body), so a protocol may go on reading
 * it after the response, up to max_body_size. */
int irh_stream_drops_body(const ir_stream_t *s);

/* Whether len more body bytes complete the Content-Length the module
 * declared. A protocol takes such a write whole, whatever its queue bound:
 * the body is in the module's memory already and nothing follows it, so
 * ir_respond_simple of any size completes (host.h). */
int irh_stream_write_completes(const ir_stream_t *s, size_t len);

/* Whether the response body falls short of the Content-Length its module
 * declared (not for HEAD, 1xx/204/304 or an upgrade). resp_end refuses such
 * an end with IR_EINVAL, and the protocol's end() frames it as broken. */
int irh_stream_ends_short(const ir_stream_t *s);

/* work_start: a job bound to s when s is not NULL (s's worker must be w,
 * and s not finished), cancelled if not started when s finishes, and its
 * done then told IR_ECLOSED (host.h). */
ir_work_t *irh_stream_work_start(struct ir_worker *w, ir_stream_t *s, void (*work)(void *),
                                 void (*done)(void *, int), void *data);

/* Whether the request method is exactly m (irh_method_is). */
int irh_stream_method_is(const ir_stream_t *s, const char *m);

#endif /* IRIDIUM_CORE_STREAM_H */
