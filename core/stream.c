/* stream.c — the protocol-neutral request/response object; see stream.h.
 *
 * The first half drives a stream from the protocol's side (dispatch, body,
 * writable, finish); the second half is what modules call through the SDK:
 * each call checks the stream's state, keeps response headers in the arena,
 * and leaves the framing to the protocol's ops.
 */
#include "stream.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conn.h"
#include "generation.h"
#include "log.h"
#include "module.h"
#include "process.h"
#include "router.h"
#include "worker.h"

/* The worker's settle pass reached the stream: its protocol settles it. */
static void run_settle(irh_deferred *d) {
  ir_stream_t *s = irh_container_of(d, ir_stream_t, settle);
  s->ops->settle(s);
}

static void on_handler_timeout(irh_deadline *d);

ir_stream_t *irh_stream_new(irh_conn *c, const irh_stream_ops *ops, int64_t id) {
  irh_slab *slab = &c->worker->stream_slab;
  if (!slab->obj_size) irh_slab_init(slab, sizeof(ir_stream_t), 64); /* the worker's first */
  ir_stream_t *s = irh_slab_alloc_dirty(slab);
  if (!s) return NULL;
  memset(s, 0, offsetof(ir_stream_t, arena_inline)); /* the arena's buffer needs no clearing */
  s->conn = c;
  s->worker = c->worker;
  s->ops = ops;
  s->id = id;
  s->content_length = -1;
  s->resp_content_length = -1;
  s->status = 200;
  s->host_reason = IRH_REASON_PROTOCOL;
  s->start_ns = irh_access_log_enabled() ? uv_hrtime() : 0; /* only the access log reads it */
  s->start_ms = uv_now(&c->worker->loop);
  irh_count_add(&s->worker->counts.streams_open, 1);
  irh_arena_init_inline(&s->arena, s->arena_inline, sizeof s->arena_inline);
  irh_deferred_init(&s->settle, run_settle);
  irh_deadline_init(&s->head_due, on_handler_timeout);
  irh_list_init(&s->jobs);
  return s;
}

/* Applies ev through the rule table (stream_state.c): IR_OK and the new
 * flags, or the table's refusal with the flags unchanged. */
static int stream_step(ir_stream_t *s, irh_stream_event ev) {
  unsigned next;
  int rc = irh_stream_next(s->flags, ev, &next);
  if (rc == IR_OK) s->flags = next;
  return rc;
}

static const ir_module_desc *stream_desc(const ir_stream_t *s) {
  return s->instance ? &s->instance->module->desc : NULL;
}

const char *irh_stream_module_name(const ir_stream_t *s) {
  return s->instance ? s->instance->module->name : NULL;
}

/* A module callback failed: answer 500 if nothing was sent, else abort.
 * Either way on_close says IR_CLOSE_ERROR (module.h), even when the 500
 * went out completely. */
static void abandon_response(ir_stream_t *s);

static void handler_failed(ir_stream_t *s, const char *callback, int rc) {
  irh_log(IR_LOG_ERROR, s->conn->id, s->id, irh_stream_module_name(s), "%s failed: %s", callback,
          irh_host_api()->strerror(rc));
  abandon_response(s);
}

/* The module's response cannot go out as it is: a 500 instead when no
 * head went yet, else a reset; on_close says IR_CLOSE_ERROR. */
static void abandon_response(ir_stream_t *s) {
  s->host_reason = IR_CLOSE_ERROR;
  if (s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_RESET)) return;
  if (!(s->flags & IRH_STREAM_HEAD_SENT)) {
    s->nresp = 0;
    s->ntrailers = 0;
    s->resp_content_length = -1;
    stream_step(s, IRH_EV_CLEAR_LENGTH); /* allowed: no head yet */
    irh_stream_respond_status(s, 500);
  } else {
    irh_stream_reset(s);
  }
}

/* ---- handler_timeout ---- */

static uint64_t handler_timeout_ms(const ir_stream_t *s) {
  uint64_t route = s->instance->route->handler_timeout_ms;
  return route ? route : s->conn->limits->handler_timeout_ms;
}

/* The module has the whole request (on_request, and the body's end) and
 * owes its response head: handler_timeout runs from here. Not for an
 * upgrade, whose module keeps the stream as long as it likes, nor while the
 * request still comes in (body_timeout and max_body_size bound that). */
static void await_head(ir_stream_t *s) {
  if (!(s->flags & IRH_STREAM_DISPATCHED) || !(s->flags & IRH_STREAM_REQ_ENDED) ||
      (s->flags & (IRH_STREAM_HEAD_SENT | IRH_STREAM_RESET | IRH_STREAM_FINISHED)) ||
      s->upgrade.len || irh_deadline_pending(&s->head_due))
    return;
  irh_worker_deadline(s->worker, &s->head_due, handler_timeout_ms(s));
}

/* No head within handler_timeout: 504, and on_close says IR_CLOSE_TIMEOUT. */
static void on_handler_timeout(irh_deadline *d) {
  ir_stream_t *s = irh_container_of(d, ir_stream_t, head_due);
  if (s->flags & (IRH_STREAM_HEAD_SENT | IRH_STREAM_RESET | IRH_STREAM_FINISHED)) return;
  irh_log(IR_LOG_WARN, s->conn->id, s->id, irh_stream_module_name(s),
          "no response head within handler_timeout (%llu ms): 504",
          (unsigned long long)handler_timeout_ms(s));
  s->host_reason = IR_CLOSE_TIMEOUT;
  s->nresp = 0; /* what the module set for its own answer does not go with the 504 */
  s->ntrailers = 0;
  s->resp_content_length = -1;
  stream_step(s, IRH_EV_CLEAR_LENGTH); /* allowed: no head yet */
  irh_stream_respond_status(s, 504);
}

void irh_stream_dispatch(ir_stream_t *s) {
  const irh_router *router = s->conn->gen->router;
  s->instance =
      irh_router_match(router, s->authority.ptr, s->authority.len, s->path.ptr, s->path.len);
  const ir_module_desc *d = stream_desc(s);
  if (!d || !d->on_request) {
    irh_stream_respond_status(s, 404);
    return;
  }
  if (s->upgrade.len && !(d->flags & IR_MODULE_UPGRADES)) {
    /* HTTP/1.1 Upgrade is only an offer: serve the request as it is. An
     * HTTP/2 extended CONNECT cannot be served any other way. */
    s->upgrade = (ir_str){"", 0};
    if (irh_stream_method_is(s, "CONNECT")) {
      irh_stream_respond_status(s, 501);
      return;
    }
  }
  if (stream_step(s, IRH_EV_DISPATCH) != IR_OK) return;
  int rc = d->on_request(s, s->instance->data);
  if (rc < 0) handler_failed(s, "on_request", rc);
  await_head(s); /* a request that ended before it was dispatched (h2c's stream 1) */
}

static int module_wants_body(const ir_stream_t *s) {
  const ir_module_desc *d = stream_desc(s);
  return d && d->on_body && (s->flags & IRH_STREAM_DISPATCHED) &&
         !(s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_RESET | IRH_STREAM_FINISHED));
}

int irh_stream_drops_body(const ir_stream_t *s) {
  const ir_module_desc *d = stream_desc(s);
  return !(s->flags & IRH_STREAM_DISPATCHED) || !d->on_body;
}

void irh_stream_body(ir_stream_t *s, const uint8_t *data, size_t len) {
  s->body_received += len;
  if (!module_wants_body(s)) { /* nobody reads it: consumed at once */
    s->ops->consume(s, len);
    return;
  }
  s->unconsumed += len;
  int rc = stream_desc(s)->on_body(s, data, len);
  if (rc < 0) handler_failed(s, "on_body", rc);
}

void irh_stream_body_end(ir_stream_t *s) {
  if (stream_step(s, IRH_EV_REQUEST_COMPLETE) != IR_OK) return; /* once */
  const ir_module_desc *d = stream_desc(s);
  if (!d || !(s->flags & IRH_STREAM_DISPATCHED)) return;
  if (s->flags & (IRH_STREAM_RESET | IRH_STREAM_FINISHED)) return;
  int rc = d->on_body_end ? d->on_body_end(s) : IR_OK;
  if (rc < 0) handler_failed(s, "on_body_end", rc);
  await_head(s);
}

void irh_stream_writable(ir_stream_t *s) {
  if (s->flags & IRH_STREAM_FILE_PENDING) return;       /* the host's file body goes on by itself */
  if (stream_step(s, IRH_EV_WRITABLE) != IR_OK) return; /* none owed */
  const ir_module_desc *d = stream_desc(s);
  if (!d || !d->on_writable || (s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_RESET))) return;
  d->on_writable(s);
}

void irh_stream_drain_notice(ir_stream_t *s) {
  const ir_module_desc *d = stream_desc(s);
  if (!d || !IRH_DESC_HAS(d, on_stream_drain)) return;
  if (!(s->flags & IRH_STREAM_DISPATCHED) ||
      (s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_RESET | IRH_STREAM_FINISHED)))
    return; /* not the module's yet, or its response is done */
  d->on_stream_drain(s, irh_worker_drain_ms_left(s->worker));
}

static int header_is(const irh_header *h, const char *name, size_t len) {
  return h->name.len == len && strncasecmp(h->name.ptr, name, len) == 0;
}

/* Host (when no :authority came), Referer and User-Agent, in one pass. */
static void access_headers(const ir_stream_t *s, irh_access_entry *e) {
  for (size_t i = 0; i < s->nheaders; i++) {
    const irh_header *h = &s->headers[i];
    if (!e->host && header_is(h, "host", 4))
      e->host = h->value.ptr, e->host_len = h->value.len;
    else if (!e->referer && header_is(h, "referer", 7))
      e->referer = h->value.ptr, e->referer_len = h->value.len;
    else if (!e->user_agent && header_is(h, "user-agent", 10))
      e->user_agent = h->value.ptr, e->user_agent_len = h->value.len;
  }
}

/* The status a finished request had: the one sent, else 0 (none was due)
 * or 499 (the client went away first). */
static int finished_status(const ir_stream_t *s, int reason) {
  if (s->flags & IRH_STREAM_HEAD_SENT) return s->status;
  return reason == IR_CLOSE_DONE ? 0 : 499;
}

static void count_request(ir_stream_t *s, int status) {
  irh_worker_counts *n = &s->worker->counts;
  irh_count_add(&n->requests, 1);
  if (status >= 100 && status < 600) irh_count_add(&n->by_class[status / 100 - 1], 1);
}

static void stream_access_log(ir_stream_t *s, int status) {
  if (!irh_access_log_enabled()) return;
  irh_access_entry e = {
      .host = s->authority.len ? s->authority.ptr : NULL,
      .host_len = s->authority.len,
      .module = irh_stream_module_name(s),
      .peer = s->conn->peer,
      .peer_len = s->conn->peer_len,
      .method = s->method.ptr,
      .method_len = s->method.len,
      .target = s->target.ptr,
      .target_len = s->target.len,
      .protocol = s->protocol.ptr ? s->protocol.ptr : "-",
      .status = status,
      .body_bytes = s->body_sent,
      .duration_ns = uv_hrtime() - s->start_ns,
  };
  access_headers(s, &e);
  irh_access_log(&s->worker->access, &e);
}

void irh_stream_finish(ir_stream_t *s, int reason) {
  if (stream_step(s, IRH_EV_FINISH) != IR_OK) return; /* finished already */
  irh_deferred_cancel(&s->settle);
  irh_deadline_cancel(&s->head_due);
  if (s->host_reason != IRH_REASON_PROTOCOL) reason = s->host_reason;
  const ir_module_desc *d = stream_desc(s);
  if ((s->flags & IRH_STREAM_DISPATCHED) && d->on_close) d->on_close(s, reason);
  if (!irh_list_empty(&s->jobs)) irh_work_owner_closed(&s->jobs); /* their done: IR_ECLOSED */
  if (s->method.len) {
    int status = finished_status(s, reason);
    count_request(s, status);
    stream_access_log(s, status);
  }
  if (s->file) { /* the file body's queued ranges outlive the stream */
    irh_stream_file *f = s->file;
    s->file = NULL;
    f->detach(f);
  }
  irh_arena_free(&s->arena);
  irh_count_sub(&s->worker->counts.streams_open, 1);
  irh_slab_free(&s->worker->stream_slab, s);
}

ir_work_t *irh_stream_work_start(ir_worker_t *w, ir_stream_t *s, void (*work)(void *),
                                 void (*done)(void *, int), void *data) {
  if (s && (s->worker != w || (s->flags & IRH_STREAM_FINISHED))) return NULL;
  return irh_work_start(w, s ? &s->jobs : NULL, s ? s->conn->gen : NULL, work, done, data);
}

void irh_stream_schedule_settle(ir_stream_t *s) {
  if (s->flags & IRH_STREAM_FINISHED) return;
  irh_worker_defer_settle(s->worker, &s->settle);
}

int irh_stream_respond_status(ir_stream_t *s, int status) {
  if (s->flags & IRH_STREAM_HEAD_SENT) return IR_ESTATE;
  char body[96];
  int n = snprintf(body, sizeof body, "%d %s\n", status, irh_status_reason(status));
  char len[24];
  int ln = snprintf(len, sizeof len, "%d", n);
  s->status = status;
  int rc = irh_stream_resp_header(s, "content-type", 12, "text/plain; charset=utf-8", 25);
  if (rc == IR_OK) rc = irh_stream_resp_header(s, "content-length", 14, len, (size_t)ln);
  if (rc == IR_OK) rc = irh_stream_resp_send_head(s, 0);
  if (rc == IR_OK) {
    ssize_t w = irh_stream_resp_write(s, body, (size_t)n);
    rc = w < 0 ? (int)w : IR_OK;
  }
  if (rc == IR_OK) rc = irh_stream_resp_end(s);
  return rc;
}

/* ---- calls modules make (through host_api.c) ---- */

static int stream_closed(const ir_stream_t *s) {
  return (s->flags & (IRH_STREAM_RESET | IRH_STREAM_FINISHED)) != 0;
}

/* The module ended its response (framed, or owed after a file body). */
static int resp_ended(const ir_stream_t *s) {
  return (s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_END_OWED)) != 0;
}

int irh_stream_resp_status(ir_stream_t *s, int status) {
  if (stream_closed(s)) return IR_ECLOSED;
  if (s->flags & IRH_STREAM_HEAD_SENT) return IR_ESTATE;
  if (status < 100 || status > 999) return IR_EINVAL;
  /* 101 accepts an upgrade the client asked for; other 1xx are not final. */
  if (status < 200 && (status != 101 || !s->upgrade.len)) return IR_EINVAL;
  s->status = status;
  return IR_OK;
}

/* A lower-case copy of a field name in the arena, checked in the same
 * pass: IR_EINVAL unless a non-empty token, IR_ENOMEM. */
static int copy_name(ir_stream_t *s, const char *n, size_t nl, const char **out) {
  if (nl == 0) return IR_EINVAL;
  char *d = irh_arena_strndup(&s->arena, n, nl);
  if (!d) return IR_ENOMEM;
  for (size_t i = 0; i < nl; i++) {
    unsigned char ch = (unsigned char)d[i];
    if (!irh_token_chars[ch]) return IR_EINVAL;
    if (irh_token_chars[ch] == IRH_TOKEN_UPPER) d[i] = (char)(ch + ('a' - 'A'));
  }
  *out = d;
  return IR_OK;
}

/* Appends a field. The name is kept (a lower-case string that outlives the
 * stream: not copied) or checked and copied lower-case (IR_EINVAL when it
 * is no token); the value is copied unless value_kept (it outlives the
 * stream). */
static int add_field(ir_stream_t *s, irh_header **arr, size_t *n, size_t *cap, const char *kept,
                     const char *name, size_t nl, const char *value, size_t vl, int value_kept) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    irh_header *grown = irh_arena_alloc_uninit(&s->arena, ncap * sizeof(*grown));
    if (!grown) return IR_ENOMEM;
    if (*n) memcpy(grown, *arr, *n * sizeof(*grown));
    *arr = grown;
    *cap = ncap;
  }
  const char *ln = kept;
  if (!ln) {
    int rc = copy_name(s, name, nl, &ln);
    if (rc != IR_OK) return rc;
  }
  const char *cv = value_kept ? value : irh_arena_strndup(&s->arena, value, vl);
  if (!cv) return IR_ENOMEM;
  (*arr)[(*n)++] = (irh_header){{ln, nl}, {cv, vl}};
  return IR_OK;
}

int irh_stream_add_req_header(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl) {
  return add_field(s, &s->headers, &s->nheaders, &s->headers_cap, NULL, n, nl, v, vl, 0);
}

int irh_stream_add_req_header_kept(ir_stream_t *s, ir_str name, ir_str value, unsigned kept) {
  const char *known = kept & IRH_KEPT_NAME ? name.ptr : NULL;
  return add_field(s, &s->headers, &s->nheaders, &s->headers_cap, known, name.ptr, name.len,
                   value.ptr, value.len, kept & IRH_KEPT_VALUE);
}

int irh_stream_method_is(const ir_stream_t *s, const char *m) {
  return irh_method_is(s->method, m);
}

int irh_stream_split_target(ir_stream_t *s) {
  irh_target_parts parts;
  int status = irh_split_target(s->method, s->target, &parts);
  if (status) return status;
  s->path = parts.path;
  if (parts.query.ptr) s->query = parts.query;
  if (parts.authority.ptr) s->authority = parts.authority; /* else :authority or Host */
  return 0;
}

/* resp_header and resp_header_ref: kept says the module keeps name and
 * value alive until on_close, so they are referenced, not copied. */
static int resp_field(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl,
                      int kept) {
  if (stream_closed(s)) return IR_ECLOSED;
  if (s->flags & IRH_STREAM_HEAD_SENT) return IR_ESTATE;
  if (!irh_field_value_valid(v, vl) || irh_is_hop_by_hop(n, nl)) return IR_EINVAL;
  if (kept && !irh_is_lower_token(n, nl)) return IR_EINVAL; /* else add_field checks the copy */
  if (irh_name_is(n, nl, "content-length")) {
    int64_t cl;
    if (!irh_parse_content_length(v, vl, &cl)) return IR_EINVAL;
    s->resp_content_length = cl;
    stream_step(s, IRH_EV_SET_LENGTH); /* allowed: checked above */
    return IR_OK; /* the protocol writes it (or not, for 204/304) */
  }
  return add_field(s, &s->resp_headers, &s->nresp, &s->resp_cap, kept ? n : NULL, n, nl, v, vl,
                   kept);
}

int irh_stream_resp_header(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl) {
  return resp_field(s, n, nl, v, vl, 0);
}

int irh_stream_resp_header_ref(ir_stream_t *s, const char *n, size_t nl, const char *v,
                               size_t vl) {
  return resp_field(s, n, nl, v, vl, 1);
}

int irh_stream_resp_send_head(ir_stream_t *s, uint32_t flags) {
  int end = (flags & IR_HEAD_END_STREAM) != 0;
  int rc = stream_step(s, s->status == 101 ? IRH_EV_SEND_HEAD_UPGRADE : IRH_EV_SEND_HEAD);
  if (rc != IR_OK) return rc;
  rc = s->ops->send_head(s, end);
  if (rc != IR_OK) return rc;
  irh_deadline_cancel(&s->head_due); /* a head went: handler_timeout is done with */
  if (end) {
    stream_step(s, IRH_EV_RESPONSE_END); /* allowed: the head just went */
    irh_stream_schedule_settle(s);
  }
  return IR_OK;
}

/* resp_write and resp_write_ref: kept says data stays valid until the
 * stream finishes (on_close). */
static ssize_t resp_write(ir_stream_t *s, const void *data, size_t len, int kept) {
  if (stream_closed(s)) return IR_ECLOSED;
  if (resp_ended(s)) return IR_ESTATE;
  if (s->flags & IRH_STREAM_FILE_PENDING) { /* after the file body */
    stream_step(s, IRH_EV_WANT_WRITE);
    return IR_EAGAIN;
  }
  if (!(s->flags & IRH_STREAM_HEAD_SENT)) {
    int rc = irh_stream_resp_send_head(s, 0);
    if (rc != IR_OK) return rc;
  }
  if (len == 0 || (s->flags & IRH_STREAM_IS_HEAD)) return (ssize_t)len; /* HEAD: no body */
  if ((s->flags & IRH_STREAM_HAS_CL) && s->body_sent + len > (uint64_t)s->resp_content_length)
    return IR_EINVAL; /* more than the Content-Length the module declared */
  ssize_t n = kept && s->ops->write_ref ? s->ops->write_ref(s, data, len)
                                        : s->ops->write(s, data, len);
  if (n == IR_EAGAIN || (n >= 0 && (size_t)n < len)) stream_step(s, IRH_EV_WANT_WRITE);
  if (n > 0) s->body_sent += (uint64_t)n;
  return n;
}

ssize_t irh_stream_resp_write(ir_stream_t *s, const void *data, size_t len) {
  return resp_write(s, data, len, 0);
}

ssize_t irh_stream_resp_write_ref(ir_stream_t *s, const void *data, size_t len) {
  return resp_write(s, data, len, 1);
}

int irh_stream_resp_trailer(ir_stream_t *s, const char *n, size_t nl, const char *v, size_t vl) {
  if (stream_closed(s)) return IR_ECLOSED;
  if (resp_ended(s)) return IR_ESTATE;
  if ((s->flags & IRH_STREAM_HAS_CL) || !s->ops->can_trailer(s)) return IR_ESTATE;
  if (!irh_field_value_valid(v, vl) || irh_is_hop_by_hop(n, nl) ||
      irh_name_is(n, nl, "content-length") || irh_name_is(n, nl, "upgrade"))
    return IR_EINVAL;
  return add_field(s, &s->trailers, &s->ntrailers, &s->trailer_cap, NULL, n, nl, v, vl, 0);
}

int irh_stream_write_completes(const ir_stream_t *s, size_t len) {
  return (s->flags & IRH_STREAM_HAS_CL) && len &&
         s->body_sent + len == (uint64_t)s->resp_content_length;
}

int irh_stream_ends_short(const ir_stream_t *s) {
  return (s->flags & IRH_STREAM_HAS_CL) &&
         !(s->flags & (IRH_STREAM_IS_HEAD | IRH_STREAM_UPGRADED)) &&
         !irh_status_has_no_body(s->status) && s->body_sent < (uint64_t)s->resp_content_length;
}

int irh_stream_resp_end(ir_stream_t *s) {
  if (stream_closed(s)) return IR_ECLOSED;
  if (resp_ended(s)) return IR_ESTATE;
  int rc = IR_OK;
  if (irh_stream_ends_short(s)) {
    /* No correct response can reach the client. Before the head: the
     * host's 500. After it the response ends all the same and the protocol
     * ends it as broken (HTTP/1.1: the connection closes once written;
     * HTTP/2: RST_STREAM INTERNAL_ERROR). */
    int head = (s->flags & IRH_STREAM_HEAD_SENT) != 0;
    irh_log(IR_LOG_ERROR, s->conn->id, s->id, irh_stream_module_name(s),
            "resp_end after %llu of %lld declared body bytes: IR_EINVAL, %s",
            (unsigned long long)s->body_sent, (long long)s->resp_content_length,
            head ? "response cut" : "answered 500");
    s->host_reason = IR_CLOSE_ERROR;
    if (!head) {
      abandon_response(s);
      return IR_EINVAL;
    }
    rc = IR_EINVAL;
  }
  if (!(s->flags & IRH_STREAM_HEAD_SENT)) return irh_stream_resp_send_head(s, IR_HEAD_END_STREAM);
  if (s->flags & IRH_STREAM_FILE_PENDING) {
    int step = stream_step(s, IRH_EV_END_AFTER_FILE);
    return rc != IR_OK ? rc : step;
  }
  int end = s->ops->end(s);
  stream_step(s, IRH_EV_RESPONSE_END); /* allowed: checked above, head sent */
  irh_stream_schedule_settle(s);
  return rc != IR_OK ? rc : end;
}

int irh_stream_consume(ir_stream_t *s, size_t n) {
  if (s->flags & IRH_STREAM_FINISHED) return IR_ECLOSED;
  if (n > s->unconsumed) return IR_EINVAL;
  s->unconsumed -= n;
  s->ops->consume(s, n);
  return IR_OK;
}

int irh_stream_reset(ir_stream_t *s) {
  int rc = stream_step(s, IRH_EV_RESET_BY_MODULE);
  if (rc == IR_OK) irh_stream_schedule_settle(s);
  return rc;
}

int irh_stream_mark_head_request(ir_stream_t *s) { return stream_step(s, IRH_EV_HEAD_REQUEST); }

int irh_stream_answered(ir_stream_t *s, int status) {
  int rc = stream_step(s, IRH_EV_ANSWERED);
  if (rc == IR_OK) s->status = status; /* what the access log shows */
  return rc;
}

int irh_stream_rebind(ir_stream_t *s, const irh_stream_ops *ops, void *proto, int64_t id) {
  int rc = stream_step(s, IRH_EV_REBIND);
  if (rc != IR_OK) return rc;
  s->ops = ops;
  s->proto = proto;
  s->id = id;
  return IR_OK;
}

int irh_stream_reset_by_peer(ir_stream_t *s) { return stream_step(s, IRH_EV_RESET_BY_PEER); }

int irh_stream_want_write(ir_stream_t *s) { return stream_step(s, IRH_EV_WANT_WRITE); }

int irh_stream_bind(ir_stream_t *s, void *proto) {
  if (s->flags & (IRH_STREAM_DISPATCHED | IRH_STREAM_FINISHED)) return IR_ESTATE;
  s->proto = proto;
  return IR_OK;
}

int irh_stream_file_begin(ir_stream_t *s) { return stream_step(s, IRH_EV_FILE_BEGIN); }

void irh_stream_file_done(ir_stream_t *s) {
  if (stream_step(s, IRH_EV_FILE_DONE) != IR_OK || !(s->flags & IRH_STREAM_END_OWED)) return;
  if (s->flags & IRH_STREAM_RESET) return; /* the settle pass frames the reset instead */
  s->ops->end(s);
  stream_step(s, IRH_EV_RESPONSE_END); /* allowed: the head went, the file is done */
  irh_stream_schedule_settle(s);
}

int irh_stream_req_header(ir_stream_t *s, const char *name, size_t len, ir_str *value) {
  for (size_t i = 0; i < s->nheaders; i++) {
    const irh_header *h = &s->headers[i];
    if (h->name.len == len && strncasecmp(h->name.ptr, name, len) == 0) {
      *value = h->value;
      return IR_OK;
    }
  }
  return IR_ENOTFOUND;
}
