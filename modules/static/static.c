/* static.c — mod_static: serves the files under a route's `root`.
 *
 * This file is the module's face to the host: the descriptor, the INI keys,
 * the per-route instance (root fd, index names, MIME table), the per-worker
 * caches, and the request flow:
 *
 *   on_request  method check -> path (path.c) -> entry: from this worker's
 *               cache (cache.c; rechecked after the TTL), else loaded
 *               without waiting for the disk (entry.c), else loaded on the
 *               thread pool and continued in job_done
 *   serve_entry error page | 301 to the directory's slash | index file |
 *               listing (built on the thread pool, listing.c) | 403
 *   serve_file  variant choice (encoding.c), preconditions and Range
 *               (http_cond.c), headers, then the body: small files from
 *               the entry's bytes with ir_resp_write, larger ones with
 *               ir_resp_send_file; on IR_EAGAIN on_writable continues
 *   on_close    drops the request's entry reference and detaches a job
 *               still on the pool, which then must not touch the stream
 *
 * Only this file calls the host; the others are plain C (see static.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <iridium/iridium.h>

#include "static.h"

#define MAX_INDEX_NAMES 16

/* One route that serves files (instance data, malloc'd; made and freed on
 * the main thread). */
typedef struct st_instance {
  size_t slot; /* in g_instances, and in each worker's caches */
  ir_module_t *module;
  st_conf conf;                 /* the root fd, index and mime are owned here */
  char *root_real;              /* realpath of the root, malloc'd */
  const char *root;             /* host-owned */
  const char *prefix;           /* host-owned */
  size_t prefix_len;            /* without a trailing '/': "" for "/" */
  char *index[MAX_INDEX_NAMES]; /* malloc'd */
  int autoindex;
  ir_str cache_control; /* host-owned; ptr NULL when unset */
  size_t cache_entries; /* 0: no cache */
  uint64_t ttl_ms;
  st_mime_table *mime;
} st_instance;

/* A worker's caches, one per instance slot (NULL where disabled or not
 * needed yet): made on the worker's first request for the route, since a
 * reload may add routes after worker_init; freed in worker_exit, or when
 * the instance goes (drop_caches). */
typedef struct st_worker_data {
  size_t n;
  st_cache *caches[];
} st_worker_data;

/* Work on the thread pool: loading an entry that needs the disk, or
 * reading a directory for a listing. malloc'd; freed in job_done. */
enum { JOB_LOAD = 1, JOB_LIST = 2 };
typedef struct st_job st_job;

/* Per-request state, in the stream's arena. */
typedef struct st_req {
  ir_stream_t *s;
  st_instance *in;
  st_entry *entry; /* a reference, dropped in on_close */
  st_job *job;     /* on the pool, or NULL */
  char *rel;       /* normalised relative path (arena) */
  size_t rel_len;
  int dir_hint;
  int is_head, is_get;
  /* the body being sent */
  int sending;
  const uint8_t *mem; /* from memory, or NULL: from fd */
  int fd;             /* borrowed from the entry */
  uint64_t off, left;
  char *owned; /* a malloc'd body (listing), freed in on_close */
} st_req;

struct st_job {
  st_req *req; /* NULL once the stream closed */
  st_instance *in;
  ir_worker_t *w;
  int kind;
  int rc;
  st_entry *entry; /* JOB_LOAD's result, one reference */
  char *html;      /* JOB_LIST's result, malloc'd */
  size_t html_len;
  char *title; /* JOB_LIST: points into data */
  size_t title_len;
  size_t rel_len;
  char data[]; /* rel, NUL, title */
};

static ir_module_t *g_module; /* set in init / instance_create; main thread */
static st_instance **g_instances;
static size_t g_ninstances;

static const ir_config_key st_keys[] = {
    IR_KEY(IR_KEY_PATH, "root", NULL, 1, "the directory served"),
    IR_KEY(IR_KEY_STRING, "index", "index.html", 0,
           "space-separated index file names tried in order for a directory"),
    IR_KEY(IR_KEY_BOOL, "autoindex", "off", 0, "HTML listing of directories without an index"),
    IR_KEY(IR_KEY_STRING, "cache_control", NULL, 0, "Cache-Control value, e.g. max-age=60"),
    IR_KEY(IR_KEY_PATH, "mime_types", NULL, 0, "a mime.types file; default: built-in table"),
    IR_KEY(IR_KEY_BOOL, "precompressed", "on", 0, "serve file.br / file.zst / file.gz"),
    IR_KEY(IR_KEY_INT, "open_file_cache", "1024", 0, "cache entries per worker (0: none)"),
    IR_KEY(IR_KEY_DURATION, "open_file_cache_ttl", "2s", 0, "recheck cached files after"),
    IR_KEY(IR_KEY_SIZE, "cache_max_bytes", "64k", 0, "files up to this size stay in memory"),
    IR_KEY_END,
};

static int serve_entry(st_req *req, st_entry *e);

/* ---- small helpers ---- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* no syscall: the vDSO */
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int str_eq(ir_str s, const char *lit) {
  return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static int header(st_req *req, const char *name, const char *value, size_t len) {
  return ir_resp_header_n(req->s, name, strlen(name), value, len);
}

/* A field whose bytes outlive the request (literals, the entry req holds
 * until on_close, the instance): the host keeps the pointers. */
static int header_kept(st_req *req, const char *name, const char *value, size_t len) {
  return ir_resp_header_ref(req->s, name, strlen(name), value, len);
}

/* A decimal field (Content-Length on every answer): no printf. */
static int header_u64(st_req *req, const char *name, uint64_t v) {
  char num[24];
  char *p = num + sizeof num;
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return header(req, name, p, (size_t)(num + sizeof num - p));
}

static st_cache *worker_cache(st_instance *in, ir_worker_t *w) {
  st_worker_data *wd = ir_worker_data(g_module, w);
  if (!wd || !in->cache_entries) return NULL;
  if (in->slot >= wd->n) {
    size_t n = in->slot + 1;
    st_worker_data *grown = realloc(wd, sizeof(*wd) + n * sizeof(wd->caches[0]));
    if (!grown) return NULL;
    memset(grown->caches + grown->n, 0, (n - grown->n) * sizeof(grown->caches[0]));
    grown->n = n;
    ir_worker_set_data(g_module, w, grown);
    wd = grown;
  }
  if (!wd->caches[in->slot]) wd->caches[in->slot] = st_cache_new(in->cache_entries);
  return wd->caches[in->slot];
}

/* An instance went (a reload changed or removed its route): each worker
 * frees its cache of that slot, on its own thread. */
typedef struct st_drop {
  ir_worker_t *w;
  size_t slot;
} st_drop;

static void drop_cache(void *arg) {
  st_drop *d = arg;
  st_worker_data *wd = ir_worker_data(g_module, d->w);
  if (wd && d->slot < wd->n) {
    st_cache_free(wd->caches[d->slot]);
    wd->caches[d->slot] = NULL;
  }
  free(d);
}

static void drop_caches(size_t slot) {
  for (unsigned i = 0; i < ir_worker_count(); i++) {
    st_drop *d = malloc(sizeof(*d));
    if (!d) continue; /* freed at worker_exit instead */
    *d = (st_drop){ir_worker_at(i), slot};
    if (!d->w || ir_worker_post(d->w, drop_cache, d) != IR_OK) free(d);
  }
}

/* Logs one line about this request, naming its path (escaped); status 0
 * for a line that is not about the answer. */
static void log_request(st_req *req, int level, int status, const char *why) {
  ir_str p = ir_req_path(req->s);
  char *esc = ir_stream_alloc(req->s, 4 * p.len + 1);
  if (esc) st_log_escape(esc, p.ptr, p.len);
  if (status)
    ir_log(g_module, req->s, level, "%d %s: %s", status, esc ? esc : "(path)", why);
  else
    ir_log(g_module, req->s, level, "%s: %s", esc ? esc : "(path)", why);
}

/* ---- sending a body ---- */

/* Sends what the stream takes of the body; ends the response when all of
 * it went. IR_OK (maybe waiting for on_writable) or an ir_error. */
static int pump(st_req *req) {
  while (req->left) {
    if (req->mem) {
      /* mem (a cached file, a listing, a literal) outlives the request:
       * the host may send it without a copy. */
      ssize_t n = ir_resp_write_ref(req->s, req->mem + req->off, (size_t)req->left);
      if (n == IR_EAGAIN || n == 0) return IR_OK;
      if (n < 0) return (int)n;
      req->off += (uint64_t)n;
      req->left -= (uint64_t)n;
    } else {
      /* The host may take the whole range at once; on_writable follows
       * when it cannot take it now. */
      int rc = ir_resp_send_file(req->s, req->fd, req->off, req->left);
      if (rc == IR_EAGAIN) return IR_OK;
      if (rc < 0) return rc;
      req->off += req->left;
      req->left = 0;
    }
  }
  req->sending = 0;
  return ir_resp_end(req->s);
}

/* Sends the head (status and headers set before) and len bytes of body
 * from mem, or from fd at off. HEAD and empty bodies end with the head. */
static int send_body(st_req *req, const uint8_t *mem, int fd, uint64_t off, uint64_t len) {
  if (req->is_head || len == 0) return ir_resp_send_head(req->s, IR_HEAD_END_STREAM);
  req->mem = mem;
  req->fd = fd;
  req->off = off;
  req->left = len;
  req->sending = 1;
  return pump(req);
}

/* A short text answer; headers particular to it were added by the caller. */
static int respond_text(st_req *req, int status, const char *text) {
  size_t len = strlen(text);
  int rc = ir_resp_status(req->s, status);
  if (rc == IR_OK) rc = header_kept(req, "content-type", "text/plain; charset=utf-8", 25);
  if (rc == IR_OK) rc = header_u64(req, "content-length", len);
  if (rc != IR_OK) return rc;
  return send_body(req, (const uint8_t *)text, -1, 0, len);
}

/* The answer for a failed lookup, logged once at the level it deserves. */
static int respond_errno(st_req *req, int err) {
  char buf[128];
  const char *why =
      err == ST_ENOTREG ? "not a regular file or directory" : strerror_r(err, buf, sizeof buf);
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ENAMETOOLONG:
    log_request(req, IR_LOG_INFO, 404, why);
    return respond_text(req, 404, "404 Not Found\n");
  case EACCES:
  case EPERM:
  case EXDEV: /* a symlink that leads out of the root */
  case ELOOP:
  case ST_ENOTREG:
    log_request(req, IR_LOG_WARN, 403, err == EXDEV ? "leads outside the root" : why);
    return respond_text(req, 403, "403 Forbidden\n");
  default:
    log_request(req, IR_LOG_ERROR, 500, why);
    return respond_text(req, 500, "500 Internal Server Error\n");
  }
}

/* ---- the thread pool ---- */

static void job_work(void *data) {
  st_job *job = data;
  if (job->kind == JOB_LOAD)
    job->rc = st_entry_load(&job->in->conf, job->data, job->rel_len, 0, &job->entry);
  else
    job->rc = st_listing_build(&job->in->conf.root, job->data, job->rel_len, job->title,
                               job->title_len, job->rel_len > 0, &job->html, &job->html_len);
}

/* Keeps a fresh entry in the worker's cache when it may be kept. */
static void remember(st_instance *in, st_cache *cache, st_entry *e) {
  if (!cache || !st_entry_cacheable(e)) return;
  e->expires_ms = now_ms() + in->ttl_ms;
  st_cache_put(cache, e);
}

static int respond_listing(st_req *req, char *html, size_t len) {
  req->owned = html; /* freed in on_close */
  int rc = ir_resp_status(req->s, 200);
  if (rc == IR_OK) rc = header_kept(req, "content-type", "text/html; charset=utf-8", 24);
  if (rc == IR_OK) rc = header_u64(req, "content-length", len);
  if (rc != IR_OK) return rc;
  return send_body(req, (const uint8_t *)html, -1, 0, len);
}

static void job_done(void *data, int status) {
  st_job *job = data;
  st_req *req = job->req;
  int rc = IR_OK;
  if (req) req->job = NULL;
  if (job->kind == JOB_LOAD) {
    st_entry *e = job->entry;
    if (e && status == IR_OK) remember(job->in, worker_cache(job->in, job->w), e);
    if (req && e)
      rc = serve_entry(req, e); /* takes the job's reference */
    else if (req)
      rc = respond_errno(req, -job->rc);
    else
      st_entry_unref(e);
  } else if (req) {
    rc = job->rc == 0 ? respond_listing(req, job->html, job->html_len)
                      : respond_errno(req, -job->rc);
  } else {
    free(job->html);
  }
  if (req && rc < 0) ir_stream_reset(req->s);
  free(job);
}

static int submit_job(st_req *req, int kind) {
  st_instance *in = req->in;
  size_t title_len = kind == JOB_LIST ? in->prefix_len + req->rel_len + 2 : 0;
  st_job *job = calloc(1, sizeof(*job) + req->rel_len + 1 + title_len + 1);
  if (!job) return IR_ENOMEM;
  job->req = req;
  job->in = in;
  job->w = ir_stream_worker(req->s);
  job->kind = kind;
  job->rel_len = req->rel_len;
  memcpy(job->data, req->rel, req->rel_len + 1);
  if (kind == JOB_LIST) { /* "Index of /prefix/rel/" */
    char *t = job->data + req->rel_len + 1;
    int n = snprintf(t, title_len + 1, "%.*s/%.*s%s", (int)in->prefix_len, in->prefix,
                     (int)req->rel_len, req->rel, req->rel_len ? "/" : "");
    job->title = t;
    job->title_len = (size_t)n;
  }
  if (kind == JOB_LOAD)
    log_request(req, IR_LOG_DEBUG, 0, "not in memory: looked up on the thread pool");
  int rc = ir_work_submit(job->w, job_work, job_done, job);
  if (rc != IR_OK) {
    free(job);
    return rc;
  }
  req->job = job;
  return IR_OK;
}

/* ---- answering ---- */

/* The request fields the file answer depends on; lists that came in more
 * than one field line are joined with ", ". */
typedef struct st_fields {
  ir_str accept_encoding, range, if_range;
  st_cond cond;
} st_fields;

static void field_add(st_req *req, ir_str *slot, ir_str v, int list) {
  if (!slot->ptr) {
    *slot = v;
    return;
  }
  if (!list) return; /* the first one counts */
  char *j = ir_stream_alloc(req->s, slot->len + 2 + v.len);
  if (!j) return;
  memcpy(j, slot->ptr, slot->len);
  memcpy(j + slot->len, ", ", 2);
  memcpy(j + slot->len + 2, v.ptr, v.len);
  *slot = (ir_str){j, slot->len + 2 + v.len};
}

static void collect_fields(st_req *req, st_fields *f) {
#define WANTED(name, field, list) {name, sizeof(name) - 1, offsetof(st_fields, field), list}
  static const struct {
    const char *name;
    size_t len;
    size_t off;
    int list;
  } wanted[] = {
      WANTED("accept-encoding", accept_encoding, 1),
      WANTED("range", range, 0),
      WANTED("if-range", if_range, 0),
      WANTED("if-match", cond.if_match, 1),
      WANTED("if-none-match", cond.if_none_match, 1),
      WANTED("if-modified-since", cond.if_modified_since, 0),
      WANTED("if-unmodified-since", cond.if_unmodified_since, 0),
  };
#undef WANTED
  memset(f, 0, sizeof(*f));
  f->cond.get_or_head = 1; /* other methods were answered 405 */
  size_t n = ir_req_header_count(req->s);
  for (size_t i = 0; i < n; i++) {
    ir_str name, value;
    if (ir_req_header_at(req->s, i, &name, &value) != IR_OK) continue;
    for (size_t k = 0; k < sizeof wanted / sizeof wanted[0]; k++) {
      if (name.len == wanted[k].len &&
          strncasecmp(name.ptr, wanted[k].name, name.len) == 0) {
        field_add(req, (ir_str *)((char *)f + wanted[k].off), value, wanted[k].list);
        break;
      }
    }
  }
}

/* Whether a precompressed variant of the file exists. */
static int has_variant(const st_entry *e) {
  return (e->available & ~(1u << ST_REP_IDENTITY)) != 0;
}

/* Validators and caching fields, shared by 200, 206 and 304. */
static int validator_headers(st_req *req, const st_entry *e, const st_rep *r) {
  st_instance *in = req->in;
  int rc = header_kept(req, "etag", r->etag, r->etag_len);
  if (rc == IR_OK) rc = header_kept(req, "last-modified", r->date, ST_DATE_LEN);
  if (rc == IR_OK && in->cache_control.ptr)
    rc = header_kept(req, "cache-control", in->cache_control.ptr, in->cache_control.len);
  /* The answer depends on Accept-Encoding when the file has a variant (as
   * nginx's gzip_static with gzip_vary): without one, every client gets
   * the same bytes. */
  if (rc == IR_OK && has_variant(e)) rc = header_kept(req, "vary", "Accept-Encoding", 15);
  return rc;
}

static int serve_file(st_req *req, const st_entry *e) {
  st_fields f;
  collect_fields(req, &f);
  int kind = ST_REP_IDENTITY;
  if (has_variant(e) && f.accept_encoding.ptr)
    kind = st_choose_rep(st_accept_encoding(f.accept_encoding), e->available);
  const st_rep *r = &e->reps[kind];
  ir_str etag = {r->etag, r->etag_len};

  int pre = st_preconditions(&f.cond, etag, r->last_modified);
  if (pre == ST_PRE_NOT_MODIFIED) {
    int rc = ir_resp_status(req->s, 304);
    if (rc == IR_OK) rc = validator_headers(req, e, r);
    return rc == IR_OK ? ir_resp_send_head(req->s, IR_HEAD_END_STREAM) : rc;
  }
  if (pre == ST_PRE_FAILED) return respond_text(req, 412, "412 Precondition Failed\n");

  uint64_t first = 0, last = r->size ? r->size - 1 : 0;
  int status = 200;
  if (req->is_get && f.range.ptr &&
      (!f.if_range.ptr || st_if_range_ok(f.if_range, etag, r->last_modified))) {
    int rr = st_range_parse(f.range, r->size, &first, &last);
    if (rr == ST_RANGE_PARTIAL) status = 206;
    if (rr == ST_RANGE_UNSATISFIABLE) {
      char cr[40];
      int n = snprintf(cr, sizeof cr, "bytes */%" PRIu64, r->size);
      int rc = header(req, "content-range", cr, (size_t)n);
      return rc == IR_OK ? respond_text(req, 416, "416 Range Not Satisfiable\n") : rc;
    }
  }
  uint64_t len = r->size ? last - first + 1 : 0;

  int rc = ir_resp_status(req->s, status);
  if (rc == IR_OK) rc = header_kept(req, "content-type", e->mime->value, e->mime->value_len);
  if (rc == IR_OK && kind != ST_REP_IDENTITY) {
    const char *coding = st_rep_coding(kind);
    rc = header_kept(req, "content-encoding", coding, strlen(coding));
  }
  if (rc == IR_OK) rc = validator_headers(req, e, r);
  if (rc == IR_OK) rc = header_kept(req, "accept-ranges", "bytes", 5);
  if (rc == IR_OK && status == 206) {
    char cr[72];
    int n = snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, r->size);
    rc = header(req, "content-range", cr, (size_t)n);
  }
  if (rc == IR_OK) rc = header_u64(req, "content-length", len);
  if (rc != IR_OK) return rc;
  return send_body(req, r->bytes, r->fd, first, len);
}

/* A directory named without its trailing slash: 301 to the canonical,
 * re-encoded path, so that relative links in its index resolve. */
static int redirect_to_slash(st_req *req) {
  st_instance *in = req->in;
  ir_str q = ir_req_query(req->s);
  size_t cap = in->prefix_len + 3 * req->rel_len + 3 + q.len + 1;
  char *loc = ir_stream_alloc(req->s, cap);
  if (!loc) return IR_ENOMEM;
  size_t n = 0;
  memcpy(loc, in->prefix, in->prefix_len);
  n += in->prefix_len;
  loc[n++] = '/';
  n += st_url_encode(loc + n, req->rel, req->rel_len, 1);
  if (req->rel_len) loc[n++] = '/';
  if (q.len) {
    loc[n++] = '?';
    memcpy(loc + n, q.ptr, q.len);
    n += q.len;
  }
  int rc = header(req, "location", loc, n);
  return rc == IR_OK ? respond_text(req, 301, "301 Moved Permanently\n") : rc;
}

/* Answers from an entry; takes over one reference on e. */
static int serve_entry(st_req *req, st_entry *e) {
  req->entry = e;
  switch (e->kind) {
  case ST_ENTRY_FILE:
    if (req->dir_hint) { /* "file/": a file is no directory */
      log_request(req, IR_LOG_INFO, 404, "not a directory");
      return respond_text(req, 404, "404 Not Found\n");
    }
    return serve_file(req, e);
  case ST_ENTRY_DIR:
    if (!req->dir_hint) return redirect_to_slash(req);
    if (e->index) return serve_file(req, e);
    if (req->in->autoindex) return submit_job(req, JOB_LIST);
    log_request(req, IR_LOG_WARN, 403, "directory without an index (autoindex is off)");
    return respond_text(req, 403, "403 Forbidden\n");
  default: return respond_errno(req, e->err);
  }
}

/* The entry for req->rel: cached and fresh, cached and unchanged after its
 * TTL, or loaded now; when loading would wait for the disk, the rest of
 * the request happens in job_done. */
static int lookup(st_req *req) {
  st_instance *in = req->in;
  st_cache *cache = worker_cache(in, ir_stream_worker(req->s));
  st_entry *e = NULL;
  if (cache) {
    e = st_cache_get(cache, req->rel, req->rel_len, st_hash(req->rel, req->rel_len));
    if (e && now_ms() >= e->expires_ms) {
      if (st_entry_unchanged(&in->conf, e)) {
        e->expires_ms = now_ms() + in->ttl_ms;
      } else {
        st_cache_remove(cache, e);
        e = NULL;
      }
    }
    if (e) {
      st_entry_ref(e);
      return serve_entry(req, e);
    }
  }
  int rc = st_entry_load(&in->conf, req->rel, req->rel_len, 1, &e);
  if (rc == -EAGAIN) return submit_job(req, JOB_LOAD);
  if (rc < 0) return IR_ENOMEM;
  remember(in, cache, e);
  return serve_entry(req, e);
}

static int st_on_request(ir_stream_t *s, void *instance_data) {
  st_instance *in = instance_data;
  st_req *req = ir_stream_alloc(s, sizeof(*req));
  if (!req) return IR_ENOMEM;
  memset(req, 0, sizeof(*req));
  req->s = s;
  req->in = in;
  req->fd = -1;
  ir_stream_set_data(s, req);

  ir_str method = ir_req_method(s);
  req->is_get = str_eq(method, "GET");
  req->is_head = str_eq(method, "HEAD");
  if (!req->is_get && !req->is_head) {
    int rc = header_kept(req, "allow", "GET, HEAD", 9);
    return rc == IR_OK ? respond_text(req, 405, "405 Method Not Allowed\n") : rc;
  }

  ir_str path = ir_req_path(s);
  if (path.len < in->prefix_len || memcmp(path.ptr, in->prefix, in->prefix_len) != 0) {
    log_request(req, IR_LOG_INFO, 404, "outside the route's prefix");
    return respond_text(req, 404, "404 Not Found\n");
  }
  const char *raw = path.ptr + in->prefix_len;
  size_t raw_len = path.len - in->prefix_len;
  req->rel = ir_stream_alloc(s, raw_len + 1);
  if (!req->rel) return IR_ENOMEM;
  int prc = st_path_normalise(raw, raw_len, req->rel, &req->rel_len, &req->dir_hint);
  if (prc != ST_PATH_OK) {
    log_request(req, IR_LOG_INFO, 400, st_path_strerror(prc));
    return respond_text(req, 400, "400 Bad Request\n");
  }
  return lookup(req);
}

static void st_on_writable(ir_stream_t *s) {
  st_req *req = ir_stream_data(s);
  if (!req || !req->sending) return;
  if (pump(req) < 0) ir_stream_reset(s);
}

static void st_on_close(ir_stream_t *s, int reason) {
  st_req *req = ir_stream_data(s);
  if (!req) return;
  if (req->job) req->job->req = NULL; /* job_done must not touch s */
  st_entry_unref(req->entry);
  free(req->owned);
}

/* ---- instances, workers, the module ---- */

static void instance_free(st_instance *in) {
  if (!in) return;
  if (in->conf.root.fd >= 0) close(in->conf.root.fd);
  free(in->root_real);
  for (size_t i = 0; i < MAX_INDEX_NAMES; i++) free(in->index[i]);
  st_mime_free(in->mime);
  free(in);
}

/* "index.html index.htm": names only, no '/', no "." or "..". */
static int parse_index(st_instance *in, ir_str list) {
  const char *p = list.ptr, *end = list.ptr + list.len;
  size_t n = 0;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *w = p;
    while (p < end && *p != ' ' && *p != '\t' && *p != ',') p++;
    size_t len = (size_t)(p - w);
    if (!len) continue;
    if (n == MAX_INDEX_NAMES || memchr(w, '/', len) || (len == 1 && w[0] == '.') ||
        (len == 2 && w[0] == '.' && w[1] == '.') || len > 255)
      return -1;
    in->index[n] = strndup(w, len);
    if (!in->index[n]) return -1;
    n++;
  }
  in->conf.index = (const char *const *)in->index;
  in->conf.nindex = n;
  return 0;
}

static int64_t get_int(ir_instance_t *inst, const char *key) {
  int64_t v = 0;
  ir_instance_get_int(inst, key, &v); /* every INT/BOOL/SIZE/DURATION key has a default */
  return v;
}

static int configure(ir_instance_t *inst, st_instance *in) {
  ir_module_t *m = in->module;
  ir_str v;
  if (ir_instance_get_str(inst, "root", &v) != IR_OK) {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: root is required", in->prefix);
    return IR_EINVAL;
  }
  in->root = v.ptr;
  in->conf.root.fd = open(v.ptr, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (in->conf.root.fd < 0) {
    ir_log(m, NULL, IR_LOG_ERROR, "route %s: root %s: %s", in->prefix, v.ptr, strerror(errno));
    return IR_EINVAL;
  }
  /* For absolute symlinks that point back inside the root (path.c). */
  in->root_real = realpath(v.ptr, NULL);
  if (in->root_real) {
    in->conf.root.real = in->root_real;
    in->conf.root.real_len = strlen(in->root_real);
  }
  if (ir_instance_get_str(inst, "index", &v) != IR_OK || parse_index(in, v) != 0) {
    ir_log(m, NULL, IR_LOG_ERROR,
           "route %s: index: expected up to %d file names (no '/', '.' or '..')", in->prefix,
           MAX_INDEX_NAMES);
    return IR_EINVAL;
  }
  if (ir_instance_get_str(inst, "mime_types", &v) == IR_OK) {
    char err[512];
    in->mime = st_mime_load(v.ptr, err, sizeof err);
    if (!in->mime) {
      ir_log(m, NULL, IR_LOG_ERROR, "route %s: %s", in->prefix, err);
      return IR_EINVAL;
    }
  } else if (!(in->mime = st_mime_builtin())) {
    return IR_ENOMEM;
  }
  in->conf.mime = in->mime;
  if (ir_instance_get_str(inst, "cache_control", &v) == IR_OK) in->cache_control = v;
  in->autoindex = get_int(inst, "autoindex") != 0;
  in->conf.precompressed = get_int(inst, "precompressed") != 0;
  int64_t entries = get_int(inst, "open_file_cache");
  int64_t ttl = get_int(inst, "open_file_cache_ttl");
  int64_t max_bytes = get_int(inst, "cache_max_bytes");
  if (entries < 0 || ttl < 0 || max_bytes < 0) {
    ir_log(m, NULL, IR_LOG_ERROR,
           "route %s: open_file_cache, open_file_cache_ttl and cache_max_bytes must not be "
           "negative",
           in->prefix);
    return IR_EINVAL;
  }
  in->cache_entries = (size_t)entries;
  in->ttl_ms = (uint64_t)ttl;
  in->conf.max_bytes = (uint64_t)max_bytes;
  return IR_OK;
}

static int st_instance_create(ir_instance_t *inst, void **data) {
  st_instance *in = calloc(1, sizeof(*in));
  if (!in) return IR_ENOMEM;
  in->conf.root.fd = -1;
  in->module = ir_instance_module(inst);
  if (!g_module) g_module = in->module;
  in->prefix = ir_instance_prefix(inst);
  in->prefix_len = strlen(in->prefix);
  if (in->prefix_len && in->prefix[in->prefix_len - 1] == '/') in->prefix_len--;
  int rc = configure(inst, in);
  st_instance **grown =
      rc == IR_OK ? realloc(g_instances, (g_ninstances + 1) * sizeof(*grown)) : NULL;
  if (rc == IR_OK && !grown) rc = IR_ENOMEM;
  if (rc != IR_OK) {
    instance_free(in);
    return rc;
  }
  g_instances = grown;
  in->slot = g_ninstances;
  g_instances[g_ninstances++] = in;
  *data = in;
  return IR_OK;
}

static void st_instance_destroy(void *data) {
  st_instance *in = data;
  if (!in) return;
  if (in->slot < g_ninstances && g_instances[in->slot] == in) g_instances[in->slot] = NULL;
  if (in->cache_entries) drop_caches(in->slot);
  instance_free(in);
  for (size_t i = 0; i < g_ninstances; i++)
    if (g_instances[i]) return;
  free(g_instances);
  g_instances = NULL;
  g_ninstances = 0;
}

static void worker_data_free(st_worker_data *wd) {
  if (!wd) return;
  for (size_t i = 0; i < wd->n; i++) st_cache_free(wd->caches[i]);
  free(wd);
}

static int st_worker_init(ir_module_t *m, ir_worker_t *w) {
  st_worker_data *wd = calloc(1, sizeof(*wd)); /* caches come with their first request */
  if (!wd) return IR_ENOMEM;
  ir_worker_set_data(m, w, wd);
  return IR_OK;
}

static void st_worker_exit(ir_module_t *m, ir_worker_t *w) {
  worker_data_free(ir_worker_data(m, w));
  ir_worker_set_data(m, w, NULL);
}

static int st_init(ir_module_t *m) {
  g_module = m;
  return IR_OK;
}

static const ir_module_desc static_module = {
    IR_MODULE_DESC_HEADER,
    .name = "static",
    .version = "1.0.0",
    .keys = st_keys,
    .init = st_init,
    .instance_create = st_instance_create,
    .instance_destroy = st_instance_destroy,
    .worker_init = st_worker_init,
    .worker_exit = st_worker_exit,
    .on_request = st_on_request,
    .on_writable = st_on_writable,
    .on_close = st_on_close,
    .flags = IR_MODULE_RELOADS, /* caches are made per route on first use */
};

IR_MODULE_DEFINE(static_module)
