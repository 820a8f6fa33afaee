/* config.c — reads the INI file into an irh_config and checks it.
 *
 * Two passes. Reading (read_sections): inih parses "key = value" lines, but
 * through our own line reader (read_line), which counts lines, takes the
 * [section] headers itself and hands inih nothing but key lines. So every
 * key lands in the section it was written in, with its line number, and the
 * model keeps sections that have no keys and repeated headers as separate
 * entries — things inih's callback alone cannot tell us.
 *
 * Checking (check_config): [server] becomes typed fields (with the HTTP/2
 * settings and limits), [listen] addresses with their protocols and TLS
 * options, [certificate] files (which must be readable now, so a typo in a
 * path is a FILE:LINE error rather than a failure at the first handshake),
 * [module] paths and [route] entries are validated. Every problem is printed
 * as "FILE:LINE: message" and counted; irh_config_load reports all of them
 * and then gives up. The keys a route passes to its module are checked later
 * by module.c through irh_config_check_keys(), the same function used here
 * for the host's own key tables.
 *
 * Ownership: the irh_config owns every string and array reachable from it;
 * the typed entries (listens, modules, routes, certs) point into
 * c->sections, which is not resized once reading is done. A listener's
 * alpn[] and default tls_priority are static strings.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <uv.h>

#include "paths.h"

#define MAX_WORKERS 256
#define MAX_BACKLOG 65535
#define MAX_THREAD_POOL 1024          /* libuv's own bound (MAX_THREADPOOL_SIZE) */
#define MAX_INT31 INT64_C(2147483647) /* 2^31-1: HTTP/2 windows and stream counts */

/* GnuTLS's NORMAL ciphers, AES-128-GCM first (as Mozilla's recommended
 * configurations order them): as safe, and cheaper per byte than
 * NORMAL's first choice, AES-256-GCM. */
#define DEFAULT_TLS_PRIORITY                                                                     \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"            \
  "+CHACHA20-POLY1305:+AES-128-CCM:+AES-256-CCM:+AES-128-CBC:+AES-256-CBC:%SERVER_PRECEDENCE"
#define DEFAULT_PROTOCOLS_CLEAR "http/1.1, h2c"
#define DEFAULT_PROTOCOLS_TLS "h2, http/1.1"

/* ---- key tables ---------------------------------------------------------- */

#define KEY(type_, name_, default_, help_)                                                         \
  {                                                                                                \
    .struct_size = sizeof(ir_config_key), .type = (type_), .name = (name_),                        \
    .default_value = (default_), .help = (help_)                                                   \
  }
#define KEY_REQUIRED(type_, name_, help_)                                                          \
  {                                                                                                \
    .struct_size = sizeof(ir_config_key), .type = (type_), .name = (name_), .required = 1,         \
    .help = (help_)                                                                                \
  }
#define KEY_END                                                                                    \
  { .struct_size = sizeof(ir_config_key), .name = NULL }

static const ir_config_key server_keys[] = {
    KEY(IR_KEY_INT, "workers", "0", "worker threads; 0 means one per CPU"),
    KEY(IR_KEY_PATH, "modules_dir", NULL,
        "folder of module .so files; default PREFIX/lib/iridium/modules of the binary's install"),
    KEY(IR_KEY_STRING, "error_log", "stderr", "stderr, stdout, off or a file"),
    KEY(IR_KEY_STRING, "access_log", "off", "stderr, stdout, off or a file"),
    KEY(IR_KEY_STRING, "access_log_format", "iridium", "iridium, combined or json"),
    KEY(IR_KEY_STRING, "log_level", "info", "debug, info, warn or error"),
    KEY(IR_KEY_STRING, "pid_file", "off", "a file holding the server's pid while it runs, or off"),
    KEY(IR_KEY_STRING, "user", NULL,
        "started as root: the user to serve as once listeners, logs and keys are open"),
    KEY(IR_KEY_STRING, "group", NULL, "with user: the group to serve as; default the user's"),
    KEY(IR_KEY_INT, "max_connections", "10000",
        "open connections on all workers; past it a new one is closed at once"),
    KEY(IR_KEY_SIZE, "max_header_size", "32k", "request line and headers, bytes; past it 431"),
    KEY(IR_KEY_INT, "max_header_count", "100", "header fields per request; past it 431"),
    KEY(IR_KEY_SIZE, "max_uri_length", "8k", "request target, bytes; past it 414"),
    KEY(IR_KEY_SIZE, "max_body_size", "1m", "request body (not an upgraded stream); past it 413"),
    KEY(IR_KEY_INT, "keepalive_requests", "1000",
        "requests on one connection, then it closes (HTTP/2: GOAWAY)"),
    KEY(IR_KEY_DURATION, "header_timeout", "30s",
        "time to send a whole request head; then 408 and close"),
    KEY(IR_KEY_DURATION, "body_timeout", "60s",
        "time between two pieces of a request body; then 408 and close"),
    KEY(IR_KEY_DURATION, "keepalive_timeout", "75s",
        "an idle connection between requests; then close"),
    KEY(IR_KEY_DURATION, "write_timeout", "60s",
        "a client that takes no bytes for this long is closed"),
    KEY(IR_KEY_DURATION, "shutdown_timeout", "10s",
        "on SIGTERM, in-flight requests get this long; then their connections close"),
    KEY(IR_KEY_DURATION, "handler_timeout", "60s",
        "a module's time to send the response head once it has the request: then 504"),
    KEY(IR_KEY_SIZE, "max_queued_output", "1m", "bytes queued for one client before writers wait"),
    KEY(IR_KEY_INT, "thread_pool", "4",
        "threads of the pool that ir_work_submit and file reads share (1 to 1024)"),
    KEY(IR_KEY_INT, "h2_max_concurrent_streams", "128",
        "SETTINGS_MAX_CONCURRENT_STREAMS; one more is REFUSED_STREAM"),
    KEY(IR_KEY_SIZE, "h2_initial_window_size", "256k",
        "SETTINGS_INITIAL_WINDOW_SIZE: request body bytes in flight per stream"),
    KEY(IR_KEY_SIZE, "h2_max_frame_size", "16k", "SETTINGS_MAX_FRAME_SIZE, 16k to 16m-1"),
    KEY(IR_KEY_INT, "h2_max_continuations", "8",
        "CONTINUATION frames per header block; more is GOAWAY ENHANCE_YOUR_CALM"),
    KEY(IR_KEY_INT, "h2_reset_burst", "1000",
        "RST_STREAMs (sent by the client or caused by it) in a burst, then GOAWAY"),
    KEY(IR_KEY_INT, "h2_reset_rate", "33", "per second"),
    KEY(IR_KEY_INT, "h2_flood_limit", "200", "frames per second"),
    KEY(IR_KEY_DURATION, "h2_stream_idle_timeout", "30s",
        "a stream with no progress either way is reset (CANCEL)"),
    KEY(IR_KEY_DURATION, "h2_ping_timeout", "10s",
        "an idle connection's PING must be answered in this time, else close"),
    KEY(IR_KEY_INT, "h2_min_send_rate", "240",
        "bytes per second a stream waiting on the client's window must take; 0: off"),
    KEY(IR_KEY_DURATION, "h2_min_send_rate_grace", "5s", "waiting time before the rate counts"),
    KEY(IR_KEY_INT, "h2_max_file_bodies", "16", "file bodies one connection reads at once"),
    KEY(IR_KEY_SIZE, "h2_discard_max_bytes", "1m",
        "request body read and dropped after the response ended, then RST_STREAM"),
    KEY(IR_KEY_DURATION, "h2_discard_timeout", "5s",
        "how long a request may go on after its response ended, then RST_STREAM"),
    KEY_END};

/* The [server] numbers kept as uint64_t fields of irh_config, with their
 * allowed range. */
typedef struct server_number {
  const char *key;
  size_t offset;
  int64_t min, max;
} server_number;

#define NUMBER(key_, field_, min_, max_)                                                           \
  { key_, offsetof(irh_config, field_), min_, max_ }

static const server_number server_numbers[] = {
    NUMBER("max_connections", max_connections, 1, INT64_MAX),
    NUMBER("max_header_size", max_header_size, 1, INT64_MAX),
    NUMBER("max_header_count", max_header_count, 1, INT64_MAX),
    NUMBER("max_uri_length", max_uri_length, 1, INT64_MAX),
    NUMBER("max_body_size", max_body_size, 1, INT64_MAX),
    NUMBER("keepalive_requests", keepalive_requests, 1, INT64_MAX),
    NUMBER("header_timeout", header_timeout_ms, 1, INT64_MAX),
    NUMBER("body_timeout", body_timeout_ms, 1, INT64_MAX),
    NUMBER("keepalive_timeout", keepalive_timeout_ms, 1, INT64_MAX),
    NUMBER("write_timeout", write_timeout_ms, 1, INT64_MAX),
    NUMBER("shutdown_timeout", shutdown_timeout_ms, 1, INT64_MAX),
    NUMBER("handler_timeout", handler_timeout_ms, 1, INT64_MAX),
    NUMBER("max_queued_output", max_queued_output, 1, INT64_MAX),
    NUMBER("thread_pool", thread_pool, 1, MAX_THREAD_POOL),
    NUMBER("h2_max_concurrent_streams", h2_max_concurrent_streams, 1, MAX_INT31),
    NUMBER("h2_initial_window_size", h2_initial_window_size, 1, MAX_INT31),
    NUMBER("h2_max_frame_size", h2_max_frame_size, 16384, 16777215),
    NUMBER("h2_max_continuations", h2_max_continuations, 1, INT64_MAX),
    NUMBER("h2_reset_burst", h2_reset_burst, 1, INT64_MAX),
    NUMBER("h2_reset_rate", h2_reset_rate, 1, INT64_MAX),
    NUMBER("h2_flood_limit", h2_flood_limit, 1, INT64_MAX),
    NUMBER("h2_stream_idle_timeout", h2_stream_idle_timeout_ms, 1, INT64_MAX),
    NUMBER("h2_ping_timeout", h2_ping_timeout_ms, 1, INT64_MAX),
    NUMBER("h2_min_send_rate", h2_min_send_rate, 0, INT64_MAX),
    NUMBER("h2_min_send_rate_grace", h2_min_send_rate_grace_ms, 1, INT64_MAX),
    NUMBER("h2_max_file_bodies", h2_max_file_bodies, 1, INT64_MAX),
    NUMBER("h2_discard_max_bytes", h2_discard_max_bytes, 0, INT64_MAX),
    NUMBER("h2_discard_timeout", h2_discard_timeout_ms, 1, INT64_MAX),
};

/* protocols has no table default: it depends on tls (DEFAULT_PROTOCOLS_*). */
static const ir_config_key listen_keys[] = {
    KEY(IR_KEY_STRING, "protocols", NULL, "http/1.1, h2c and, with tls = on, h2"),
    KEY(IR_KEY_INT, "backlog", "511", "listen(2) backlog"),
    KEY(IR_KEY_BOOL, "tls", "off", "serve TLS with the [certificate] sections"),
    KEY(IR_KEY_STRING, "tls_priority", DEFAULT_TLS_PRIORITY, "GnuTLS priority string"), KEY_END};

static const ir_config_key certificate_keys[] = {
    KEY_REQUIRED(IR_KEY_PATH, "cert", "PEM certificate chain"),
    KEY_REQUIRED(IR_KEY_PATH, "key", "PEM private key"), KEY_END};

/* path's default (NAME.so) depends on the section, so it has none here. */
static const ir_config_key module_keys[] = {
    KEY(IR_KEY_STRING, "path", NULL, "the .so file, relative to modules_dir; default NAME.so"),
    KEY_END};

/* A route's own keys, beside its module's (module.c checks those). */
static const ir_config_key route_keys[] = {
    KEY_REQUIRED(IR_KEY_STRING, "module", "the [module] that answers the route's requests"),
    KEY(IR_KEY_STRING, "host", "*",
        "only requests for this host (Host or :authority, any case, port ignored); * for any"),
    KEY(IR_KEY_DURATION, "handler_timeout", NULL, "the route's own; default [server]'s"),
    KEY_END};

const ir_config_key *irh_config_keys_of(const char *kind) {
  static const struct {
    const char *kind;
    const ir_config_key *keys;
  } tables[] = {{"server", server_keys},
                {"listen", listen_keys},
                {"certificate", certificate_keys},
                {"module", module_keys},
                {"route", route_keys}};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
    if (strcmp(kind, tables[i].kind) == 0) return tables[i].keys;
  return NULL;
}

typedef struct protocol_word {
  const char *word;
  unsigned bit;
  const char *alpn; /* its ALPN id on TLS listeners, or NULL */
} protocol_word;

static const protocol_word protocol_words[] = {{"http/1.1", IRH_PROTO_HTTP1, "http/1.1"},
                                               {"h2c", IRH_PROTO_H2C, NULL},
                                               {"h2", IRH_PROTO_H2, "h2"}};

static const char *const level_words[] = {[IR_LOG_DEBUG] = "debug",
                                          [IR_LOG_INFO] = "info",
                                          [IR_LOG_WARN] = "warn",
                                          [IR_LOG_ERROR] = "error"};

/* ---- small helpers ------------------------------------------------------- */

static irh_config_sink report_sink; /* NULL: stderr; main thread */

void irh_config_set_sink(irh_config_sink sink) { report_sink = sink; }

/* "FILE:LINE: " (or "FILE: ") and kind, then the message, as one line. */
static void report(const irh_config *c, int line, const char *kind, const char *fmt, va_list ap) {
  if (report_sink) {
    char where[512], msg[1024];
    if (line > 0)
      snprintf(where, sizeof where, "%s:%d: %s", c->path, line, kind);
    else
      snprintf(where, sizeof where, "%s: %s", c->path, kind);
    vsnprintf(msg, sizeof msg, fmt, ap);
    report_sink(*kind != '\0', where, msg);
    return;
  }
  flockfile(stderr);
  if (line > 0)
    fprintf(stderr, "%s:%d: %s", c->path, line, kind);
  else
    fprintf(stderr, "%s: %s", c->path, kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  funlockfile(stderr);
}

int irh_config_error(irh_config *c, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(c, line, "", fmt, ap);
  va_end(ap);
  c->errors++;
  return -1;
}

void irh_config_warn(const irh_config *c, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(c, line, "warning: ", fmt, ap);
  va_end(ap);
}

static void report_oom(irh_config *c) { irh_config_error(c, 0, "out of memory"); }

/* "[route /hello]" or "[server]" into buf, for messages. */
static const char *section_label(const irh_section *s, char *buf, size_t size) {
  snprintf(buf, size, "[%s%s%s]", s->kind, s->arg ? " " : "", s->arg ? s->arg : "");
  return buf;
}

static char *join_path(const char *dir, const char *name) {
  size_t dlen = strlen(dir), nlen = strlen(name);
  int slash = dlen > 0 && dir[dlen - 1] != '/';
  char *out = malloc(dlen + (size_t)slash + nlen + 1);
  if (!out) return NULL;
  memcpy(out, dir, dlen);
  if (slash) out[dlen] = '/';
  memcpy(out + dlen + (size_t)slash, name, nlen + 1);
  return out;
}

/* The folder part of path: "a/b.ini" -> "a", "b.ini" -> ".", "/b.ini" -> "/".
 * Caller frees. */
static char *folder_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  size_t len = slash == path ? 1 : (size_t)(slash - path);
  char *dir = malloc(len + 1);
  if (!dir) return NULL;
  memcpy(dir, path, len);
  dir[len] = '\0';
  return dir;
}

char *irh_config_resolve(const irh_config *c, const char *path) {
  if (path[0] == '/' || strcmp(c->dir, ".") == 0) return strdup(path);
  return join_path(c->dir, path);
}

const irh_kv *irh_section_find(const irh_section *s, const char *key) {
  for (size_t i = 0; i < s->nkvs; i++)
    if (strcmp(s->kvs[i].key, key) == 0) return &s->kvs[i];
  return NULL;
}

static int count_kind(const irh_config *c, const char *kind) {
  int n = 0;
  for (size_t i = 0; i < c->nsections; i++) n += strcmp(c->sections[i].kind, kind) == 0;
  return n;
}

static int in_list(const char *const *list, const char *word) {
  for (; list && *list; list++)
    if (strcmp(*list, word) == 0) return 1;
  return 0;
}

/* ---- values -------------------------------------------------------------- */

/* Reads decimal digits at *p into *out (at most INT64_MAX), moving *p past
 * them. -1 when there is no digit or the number is too large. */
static int take_digits(const char **p, int64_t *out) {
  const char *s = *p;
  int64_t v = 0;
  if (!isdigit((unsigned char)*s)) return -1;
  for (; isdigit((unsigned char)*s); s++) {
    int d = *s - '0';
    if (v > (INT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *p = s;
  *out = v;
  return 0;
}

static int scale(int64_t v, int64_t unit, int64_t *out) {
  if (v > INT64_MAX / unit) return -1;
  *out = v * unit;
  return 0;
}

static int parse_int(const char *text, int64_t *out) {
  const char *digits = text[0] == '-' || text[0] == '+' ? text + 1 : text;
  if (!isdigit((unsigned char)*digits)) return -1; /* strtoll would skip spaces */
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno == ERANGE || *end != '\0') return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *text, int64_t *out) {
  static const char *const yes[] = {"on", "yes", "true", "1"};
  static const char *const no[] = {"off", "no", "false", "0"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(text, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(text, no[i]) == 0) return *out = 0, 0;
  }
  return -1;
}

/* 512, 64k, 1m, 2g, 16kb: powers of 1024, optional trailing b. */
static int parse_size(const char *text, int64_t *out) {
  const char *p = text;
  int64_t v, unit = 1;
  if (take_digits(&p, &v) != 0) return -1;
  switch (tolower((unsigned char)*p)) {
  case 'k': unit = INT64_C(1) << 10, p++; break;
  case 'm': unit = INT64_C(1) << 20, p++; break;
  case 'g': unit = INT64_C(1) << 30, p++; break;
  }
  if (tolower((unsigned char)*p) == 'b') p++;
  if (*p != '\0') return -1;
  return scale(v, unit, out);
}

/* 250ms, 30s, 5m, 1h; a bare number is seconds. Gives milliseconds. */
static int parse_duration(const char *text, int64_t *out) {
  static const struct {
    const char *suffix;
    int64_t ms;
  } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};
  const char *p = text;
  int64_t v;
  if (take_digits(&p, &v) != 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcasecmp(p, units[i].suffix) == 0) return scale(v, units[i].ms, out);
  return -1;
}

int irh_value_parse(int type, const char *text, int64_t *out) {
  int64_t v = 0;
  int rc;
  switch (type) {
  case IR_KEY_STRING:
  case IR_KEY_PATH: return IR_OK;
  case IR_KEY_INT: rc = parse_int(text, &v); break;
  case IR_KEY_BOOL: rc = parse_bool(text, &v); break;
  case IR_KEY_SIZE: rc = parse_size(text, &v); break;
  case IR_KEY_DURATION: rc = parse_duration(text, &v); break;
  default: return IR_EINVAL;
  }
  if (rc != 0) return IR_EINVAL;
  if (out) *out = v;
  return IR_OK;
}

static const char *type_expectation(uint32_t type) {
  switch (type) {
  case IR_KEY_INT: return "an integer";
  case IR_KEY_BOOL: return "on/off, yes/no, true/false or 1/0";
  case IR_KEY_SIZE: return "a size such as 512, 64k, 1m or 2g";
  case IR_KEY_DURATION: return "a duration such as 500ms, 30s, 5m or 1h";
  default: return "a known key type";
  }
}

/* ---- key tables: walking and checking ------------------------------------ */

/* A module may have been built against an older, shorter ir_config_key, so
 * tables are walked by each entry's struct_size and a field is read only
 * when that size covers it. */
#define KEY_HAS(k, field) ((k)->struct_size >= offsetof(ir_config_key, field) + sizeof((k)->field))

static int key_is_entry(const ir_config_key *k) { return k && KEY_HAS(k, name) && k->name; }

static const ir_config_key *key_next(const ir_config_key *k) {
  return (const ir_config_key *)(const void *)((const char *)k + k->struct_size);
}

static const ir_config_key *key_find(const ir_config_key *keys, const char *name) {
  for (const ir_config_key *k = keys; key_is_entry(k); k = key_next(k))
    if (strcmp(k->name, name) == 0) return k;
  return NULL;
}

static const char *key_default(const ir_config_key *k) {
  return KEY_HAS(k, default_value) ? k->default_value : NULL;
}

static int key_required(const ir_config_key *k) { return KEY_HAS(k, required) && k->required; }

static const char *key_help(const ir_config_key *k) { return KEY_HAS(k, help) ? k->help : NULL; }

/* Levenshtein distance, case-insensitive; SIZE_MAX for names too long to
 * be worth a hint. */
static size_t edit_distance(const char *a, const char *b) {
  enum { MAX = 64 };
  size_t la = strlen(a), lb = strlen(b), row[MAX + 1];
  if (la > MAX || lb > MAX) return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* Whether candidate is close enough to name to be suggested. */
static int close_enough(const char *name, const char *candidate, size_t *best) {
  size_t d = edit_distance(name, candidate);
  size_t limit = (strlen(candidate) + 2) / 3;
  if (limit > 3) limit = 3;
  if (d > limit || d >= *best) return 0;
  *best = d;
  return 1;
}

/* The known name nearest to name, among the table and the skip list. */
static const char *nearest_key(const char *name, const ir_config_key *keys,
                               const char *const *skip) {
  const char *hint = NULL;
  size_t best = SIZE_MAX;
  for (const ir_config_key *k = keys; key_is_entry(k); k = key_next(k))
    if (close_enough(name, k->name, &best)) hint = k->name;
  for (; skip && *skip; skip++)
    if (close_enough(name, *skip, &best)) hint = *skip;
  return hint;
}

static void report_unknown_key(irh_config *c, const irh_section *s, const irh_kv *kv,
                               const ir_config_key *keys, const char *owner,
                               const char *const *skip) {
  char label[256];
  const char *hint = nearest_key(kv->key, keys, skip);
  section_label(s, label, sizeof label);
  if (hint)
    irh_config_error(c, kv->line, "unknown key '%s' in %s (did you mean '%s'?)", kv->key, label,
                     hint);
  else if (owner)
    irh_config_error(c, kv->line, "unknown key '%s' in %s (%s has no such key)", kv->key, label,
                     owner);
  else
    irh_config_error(c, kv->line, "unknown key '%s' in %s", kv->key, label);
}

/* "[route /x] missing required key 'root'", then in parentheses the owner
 * and the key's help when there are any: " (module static: document root)". */
static void report_missing_key(irh_config *c, const irh_section *s, const ir_config_key *k,
                               const char *owner) {
  char label[256], note[256] = "";
  const char *help = key_help(k);
  if (owner && help)
    snprintf(note, sizeof note, " (%s: %s)", owner, help);
  else if (owner || help)
    snprintf(note, sizeof note, " (%s)", owner ? owner : help);
  irh_config_error(c, s->line, "%s missing required key '%s'%s",
                   section_label(s, label, sizeof label), k->name, note);
}

static int report_bad_value(irh_config *c, const irh_kv *kv, const char *expected) {
  return irh_config_error(c, kv->line, "bad value '%s' for key '%s' (expected %s)", kv->value,
                          kv->key, expected);
}

int irh_config_check_keys(irh_config *c, const irh_section *s, const ir_config_key *keys,
                          const char *owner, const char *const *skip) {
  int before = c->errors;
  for (size_t i = 0; i < s->nkvs; i++) {
    const irh_kv *kv = &s->kvs[i];
    if (in_list(skip, kv->key)) continue;
    const ir_config_key *k = key_find(keys, kv->key);
    if (!k)
      report_unknown_key(c, s, kv, keys, owner, skip);
    else if (irh_value_parse((int)k->type, kv->value, NULL) != IR_OK)
      report_bad_value(c, kv, type_expectation(k->type));
  }
  for (const ir_config_key *k = keys; key_is_entry(k); k = key_next(k))
    if (key_required(k) && !irh_section_find(s, k->name)) report_missing_key(c, s, k, owner);
  return c->errors - before;
}

/* The text of key in s (s may be NULL), else the table's default. *kv gets
 * the key when it was written, else NULL. */
static const char *key_text(const irh_section *s, const ir_config_key *table, const char *key,
                            const irh_kv **kv) {
  *kv = s ? irh_section_find(s, key) : NULL;
  if (*kv) return (*kv)->value;
  const ir_config_key *k = key_find(table, key);
  return k ? key_default(k) : NULL;
}

/* Reads a numeric key of table in the range [min, max]. -1 when the value is
 * bad: a parse error was already reported by check_keys, a range error is
 * reported here. */
static int key_number(irh_config *c, const irh_section *s, const ir_config_key *table,
                      const char *key, int64_t min, int64_t max, int64_t *out) {
  const irh_kv *kv;
  const char *text = key_text(s, table, key, &kv);
  const ir_config_key *k = key_find(table, key);
  if (!text || irh_value_parse((int)k->type, text, out) != IR_OK) return -1;
  if (*out >= min && *out <= max) return 0;
  char expected[64];
  if (max == INT64_MAX)
    snprintf(expected, sizeof expected, "at least %lld", (long long)min);
  else
    snprintf(expected, sizeof expected, "%lld to %lld", (long long)min, (long long)max);
  return kv ? report_bad_value(c, kv, expected) : -1;
}

/* ---- reading: inih plus our line reader ---------------------------------- */

enum { NO_SECTION = -1, SKIP_SECTION = -2 };

typedef struct reader {
  irh_config *c;
  FILE *f;
  char *raw; /* getline's buffer, owned */
  size_t rawcap;
  int line;           /* lines read so far: the line inih is working on */
  long current;       /* index in c->sections that keys go to, or NO_/SKIP_SECTION */
  int key_line;       /* key line handed to inih and not yet seen by take_key, or 0 */
  int first_unparsed; /* first key line inih could not parse, or 0 */
  int oom;
} reader;

static void report_syntax(reader *r, int line) { irh_config_error(r->c, line, "syntax error"); }

/* inih calls take_key for every line it understands as "key = value"; a key
 * line it did not call back for (no '=' or ':') was a syntax error. Checked
 * each time the next line is read, and once at the end. */
static void check_key_line_taken(reader *r) {
  if (r->key_line) {
    report_syntax(r, r->key_line);
    if (!r->first_unparsed) r->first_unparsed = r->key_line;
  }
  r->key_line = 0;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t len = strlen(s);
  while (len > 0 && isspace((unsigned char)s[len - 1])) s[--len] = '\0';
  return s;
}

static int known_kind(const char *kind) {
  static const char *const kinds[] = {"server", "listen", "module", "route", "certificate", NULL};
  return in_list(kinds, kind);
}

static int add_section(reader *r, const char *kind, const char *arg) {
  irh_config *c = r->c;
  irh_section *grown = realloc(c->sections, (c->nsections + 1) * sizeof *grown);
  if (!grown) return -1;
  c->sections = grown;
  irh_section *s = &grown[c->nsections];
  *s = (irh_section){.kind = strdup(kind), .arg = arg ? strdup(arg) : NULL, .line = r->line};
  c->nsections++; /* counted even when half-made so that free releases it */
  if (!s->kind || (arg && !s->arg)) return -1;
  return 0;
}

/* A "[kind arg]" line. The last ']' closes it, so "[listen [::1]:80]" works;
 * only a comment may follow. Keys after a header we cannot use are skipped,
 * so its problem is reported once rather than once per key. */
static void take_header(reader *r, char *text) {
  char *close = strrchr(text, ']');
  r->current = SKIP_SECTION;
  if (!close) {
    report_syntax(r, r->line);
    return;
  }
  char *after = trim(close + 1);
  if (*after && *after != ';' && *after != '#') /* reported, but the header is still taken */
    irh_config_error(r->c, r->line, "unexpected text '%s' after section header", after);
  *close = '\0';
  char *kind = trim(text + 1), *arg = kind;
  while (*arg && !isspace((unsigned char)*arg)) arg++;
  if (*arg) *arg++ = '\0';
  arg = trim(arg);
  if (!known_kind(kind)) {
    irh_config_error(r->c, r->line, "unknown section [%s%s%s]", kind, *arg ? " " : "", arg);
    return;
  }
  if (add_section(r, kind, *arg ? arg : NULL) != 0) {
    r->oom = 1;
    return;
  }
  r->current = (long)r->c->nsections - 1;
}

/* The text of a raw line without its line end, a UTF-8 BOM on line 1 and
 * surrounding blanks. Leading blanks go too, so inih never sees an indented
 * line and never takes one for a continuation of the previous value. */
static char *line_text(reader *r, size_t *rawlen) {
  char *s = r->raw;
  size_t len = strlen(s);
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = '\0';
  *rawlen = len;
  if (r->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
  return trim(s);
}

/* inih's reader: hands over key lines only; headers, comments, blank and
 * over-long lines become empty lines, so inih's line count stays ours. */
static char *read_line(char *str, int num, void *stream) {
  reader *r = stream;
  size_t rawlen;
  check_key_line_taken(r);
  if (getline(&r->raw, &r->rawcap, r->f) < 0) return NULL;
  r->line++;
  char *text = line_text(r, &rawlen);
  str[0] = '\0';
  if (rawlen > (size_t)num - 1) {
    irh_config_error(r->c, r->line, "line too long (max %d characters)", num - 1);
    if (text[0] == '[') r->current = SKIP_SECTION;
  } else if (text[0] == '[') {
    take_header(r, text);
  } else if (text[0] != '\0' && text[0] != ';' && text[0] != '#') {
    memcpy(str, text, strlen(text) + 1);
    r->key_line = r->line;
  }
  return str;
}

static int add_kv(irh_section *s, const char *key, const char *value, int line) {
  irh_kv *grown = realloc(s->kvs, (s->nkvs + 1) * sizeof *grown);
  if (!grown) return -1;
  s->kvs = grown;
  irh_kv *kv = &grown[s->nkvs];
  *kv = (irh_kv){.key = strdup(key), .value = strdup(value), .line = line};
  s->nkvs++; /* counted even when half-made so that free releases it */
  return kv->key && kv->value ? 0 : -1;
}

/* inih's handler. inih's section name is not used: it is truncated to 50
 * bytes and cannot tell two equal headers apart; r->current can. Always
 * returns 1: problems are reported here, not through inih's error line. */
static int take_key(void *user, const char *section, const char *name, const char *value) {
  reader *r = user;
  irh_config *c = r->c;
  r->key_line = 0;
  if (r->current == SKIP_SECTION) return 1;
  if (name[0] == '\0') {
    report_syntax(r, r->line);
    return 1;
  }
  if (r->current == NO_SECTION) {
    irh_config_error(c, r->line, "key '%s' is outside any section", name);
    return 1;
  }
  irh_section *s = &c->sections[r->current];
  const irh_kv *first = irh_section_find(s, name);
  if (first) {
    char label[256];
    irh_config_error(c, r->line, "duplicate key '%s' in %s (first at line %d)", name,
                     section_label(s, label, sizeof label), first->line);
    return 1;
  }
  if (add_kv(s, name, value, r->line) != 0) r->oom = 1;
  return 1;
}

/* Fills c->sections from f. -1 when reading could not finish (I/O error or
 * out of memory), so the sections are not worth checking. */
static int read_sections(irh_config *c, FILE *f) {
  reader r = {.c = c, .f = f, .current = NO_SECTION};
  int rc = ini_parse_stream(read_line, &r, take_key, &r);
  check_key_line_taken(&r);
  free(r.raw);
  if (ferror(f)) return irh_config_error(c, 0, "cannot read: %s", strerror(errno));
  if (r.oom || rc == -2) return report_oom(c), -1;
  /* inih returns the first line it could not parse; we have reported it. */
  if (rc > 0 && rc != r.first_unparsed) irh_config_error(c, rc, "syntax error");
  return 0;
}

/* ---- checking: [server] -------------------------------------------------- */

static const irh_section *find_server(irh_config *c) {
  const irh_section *server = NULL;
  for (size_t i = 0; i < c->nsections; i++) {
    const irh_section *s = &c->sections[i];
    if (strcmp(s->kind, "server") != 0) continue;
    if (server)
      irh_config_error(c, s->line, "duplicate [server] section (first at line %d)", server->line);
    else
      server = s;
  }
  return server;
}

static unsigned cpu_count(void) {
  unsigned n = uv_available_parallelism();
  if (n < 1) return 1;
  return n > MAX_WORKERS ? MAX_WORKERS : n;
}

static void apply_workers(irh_config *c, const irh_section *s) {
  int64_t n;
  if (key_number(c, s, server_keys, "workers", 0, MAX_WORKERS, &n) != 0) return;
  c->workers = n == 0 ? cpu_count() : (unsigned)n;
}

static void apply_numbers(irh_config *c, const irh_section *s) {
  for (size_t i = 0; i < sizeof server_numbers / sizeof server_numbers[0]; i++) {
    const server_number *sn = &server_numbers[i];
    int64_t v;
    if (key_number(c, s, server_keys, sn->key, sn->min, sn->max, &v) == 0)
      *(uint64_t *)(void *)((char *)c + sn->offset) = (uint64_t)v;
  }
}

static const char *const access_format_words[] = {[IRH_ACCESS_IRIDIUM] = "iridium",
                                                  [IRH_ACCESS_COMBINED] = "combined",
                                                  [IRH_ACCESS_JSON] = "json"};

/* A [server] key that takes one of words[first..last] (any case): its
 * index into *out, else the bad value reported. */
static void apply_word(irh_config *c, const irh_section *s, const char *key,
                       const char *const *words, int first, int last, const char *expected,
                       int *out) {
  const irh_kv *kv;
  const char *text = key_text(s, server_keys, key, &kv);
  for (int i = first; i <= last; i++) {
    if (strcasecmp(text, words[i]) == 0) {
      *out = i;
      return;
    }
  }
  report_bad_value(c, kv, expected);
}

/* A log target: stderr, stdout and off as they are, a path resolved. */
static char *log_target(const irh_config *c, const char *text) {
  if (strcmp(text, "stderr") == 0 || strcmp(text, "stdout") == 0 || strcmp(text, "off") == 0)
    return strdup(text);
  return irh_config_resolve(c, text);
}

/* The value of a path-like [server] key, refusing an empty one (which would
 * silently mean the INI's folder or an unnamed file). NULL when empty. */
static const char *path_text(irh_config *c, const irh_section *s, const char *key, int *line) {
  const irh_kv *kv;
  const char *text = key_text(s, server_keys, key, &kv);
  if (line) *line = kv ? kv->line : 0;
  if (text[0] != '\0') return text;
  report_bad_value(c, kv, "a path");
  return NULL;
}

static void apply_paths(irh_config *c, const irh_section *s) {
  const irh_kv *given = s ? irh_section_find(s, "modules_dir") : NULL;
  const char *modules_dir = given ? path_text(c, s, "modules_dir", NULL) : NULL;
  const char *error_log = path_text(c, s, "error_log", &c->error_log_line);
  const char *access_log = path_text(c, s, "access_log", &c->access_log_line);
  const char *pid_file = path_text(c, s, "pid_file", &c->pid_file_line);
  if ((given && !modules_dir) || !error_log || !access_log || !pid_file) return;
  if (strcmp(pid_file, "off") != 0 && !(c->pid_file = irh_config_resolve(c, pid_file)))
    report_oom(c);
  c->modules_dir = given ? irh_config_resolve(c, modules_dir) : irh_default_modules_dir();
  c->error_log = log_target(c, error_log);
  c->access_log = log_target(c, access_log);
  if (!c->modules_dir || !c->error_log || !c->access_log) report_oom(c);
}

/* user and group: names (or numbers) looked up when the server starts. */
static void apply_identity(irh_config *c, const irh_section *s) {
  const irh_kv *user = s ? irh_section_find(s, "user") : NULL;
  const irh_kv *group = s ? irh_section_find(s, "group") : NULL;
  if (user && user->value[0] == '\0') report_bad_value(c, user, "a user name");
  if (group && group->value[0] == '\0') report_bad_value(c, group, "a group name");
  if (group && !user) irh_config_error(c, group->line, "group needs user");
  c->user = user && user->value[0] ? user->value : NULL;
  c->group = group && group->value[0] ? group->value : NULL;
  c->user_line = user ? user->line : 0;
  c->group_line = group ? group->line : 0;
}

/* s is NULL when the file has no [server]: every default applies. */
static void apply_server(irh_config *c, const irh_section *s) {
  if (s && s->arg) irh_config_error(c, s->line, "[server] takes no argument (found '%s')", s->arg);
  if (s) irh_config_check_keys(c, s, server_keys, NULL, NULL);
  apply_workers(c, s);
  apply_numbers(c, s);
  apply_word(c, s, "log_level", level_words, IR_LOG_DEBUG, IR_LOG_ERROR,
             "debug, info, warn or error", &c->log_level);
  apply_word(c, s, "access_log_format", access_format_words, IRH_ACCESS_IRIDIUM, IRH_ACCESS_JSON,
             "iridium, combined or json", &c->access_log_format);
  apply_paths(c, s);
  apply_identity(c, s);
}

/* ---- checking: [listen ADDRESS:PORT] ------------------------------------- */

static int parse_port(const char *text, in_port_t *port) {
  int64_t v;
  if (take_digits(&text, &v) != 0 || *text != '\0' || v < 1 || v > 65535) return -1;
  *port = htons((in_port_t)v);
  return 0;
}

/* 1.2.3.4:PORT, *:PORT (all IPv4) or [v6]:PORT into l->addr. */
static int parse_listen_address(const char *text, irh_listen_cfg *l) {
  char host[INET6_ADDRSTRLEN];
  const char *host_start = text, *host_end, *port;
  int v6 = text[0] == '[';
  if (v6) {
    host_start = text + 1;
    host_end = strchr(text, ']');
    if (!host_end || host_end[1] != ':') return -1;
    port = host_end + 2;
  } else {
    host_end = strrchr(text, ':');
    if (!host_end) return -1;
    port = host_end + 1;
  }
  size_t hlen = (size_t)(host_end - host_start);
  if (hlen >= sizeof host) return -1;
  memcpy(host, host_start, hlen);
  host[hlen] = '\0';

  memset(&l->addr, 0, sizeof l->addr);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;
    a->sin6_family = AF_INET6;
    l->addrlen = sizeof *a;
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -1;
    return parse_port(port, &a->sin6_port);
  }
  struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;
  a->sin_family = AF_INET;
  l->addrlen = sizeof *a;
  if (strcmp(host, "*") == 0)
    a->sin_addr.s_addr = htonl(INADDR_ANY);
  else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
    return -1;
  return parse_port(port, &a->sin_port);
}

static const irh_listen_cfg *find_listen(const irh_config *c, const irh_listen_cfg *l) {
  for (size_t i = 0; i < c->nlistens; i++) {
    const irh_listen_cfg *other = &c->listens[i];
    if (other->addrlen == l->addrlen && memcmp(&other->addr, &l->addr, l->addrlen) == 0)
      return other;
  }
  return NULL;
}

static const protocol_word *protocol_find(const char *word, size_t len) {
  for (size_t i = 0; i < sizeof protocol_words / sizeof protocol_words[0]; i++)
    if (strlen(protocol_words[i].word) == len &&
        strncasecmp(protocol_words[i].word, word, len) == 0)
      return &protocol_words[i];
  return NULL;
}

/* protocols: words separated by commas and/or blanks, each once, in the
 * order of preference, which on a TLS listener becomes the ALPN order.
 * tls is 1, 0 or -1 when the tls value itself was bad (then the rules that
 * depend on it are not checked, to report one problem once). -1 when the
 * list is not usable. */
static int parse_protocols(irh_config *c, const irh_section *s, int tls, irh_listen_cfg *l) {
  static const char seps[] = ", \t";
  const irh_kv *kv = irh_section_find(s, "protocols");
  const char *p = kv ? kv->value : tls == 1 ? DEFAULT_PROTOCOLS_TLS : DEFAULT_PROTOCOLS_CLEAR;
  int line = kv ? kv->line : s->line;
  unsigned seen = 0;
  int bad = 0;
  l->protocols = 0;
  l->nalpn = 0;
  for (p += strspn(p, seps); *p; p += strspn(p, seps)) {
    size_t len = strcspn(p, seps);
    const protocol_word *w = protocol_find(p, len);
    if (!w)
      bad = irh_config_error(
          c, line, "unknown protocol '%.*s' in protocols (known: http/1.1, h2c, h2)", (int)len, p);
    else if (seen & w->bit)
      bad = irh_config_error(c, line, "protocol '%s' is listed twice in protocols", w->word);
    else if (w->bit == IRH_PROTO_H2 && tls == 0)
      bad = irh_config_error(c, line, "h2 needs tls = on; use h2c for cleartext");
    else if (w->bit == IRH_PROTO_H2C && tls == 1)
      bad = irh_config_error(c, line, "h2c is cleartext HTTP/2 only; use h2 with tls = on");
    if (w) seen |= w->bit;
    if (w && !bad) {
      l->protocols |= w->bit;
      if (tls == 1 && w->alpn && l->nalpn < IRH_MAX_ALPN) l->alpn[l->nalpn++] = w->alpn;
    }
    p += len;
  }
  if (!seen && !bad)
    bad = kv ? report_bad_value(c, kv, "a list of protocols from http/1.1, h2c, h2") : -1;
  return bad;
}

/* tls and tls_priority, which only a TLS listener may set. Returns tls: 1,
 * 0, or -1 when its value is bad (reported by check_keys). *ok becomes -1
 * when tls_priority is refused. */
static int listen_tls(irh_config *c, const irh_section *s, irh_listen_cfg *l, int *ok) {
  const irh_kv *kv = irh_section_find(s, "tls");
  const irh_kv *priority = irh_section_find(s, "tls_priority");
  int64_t on = 0;
  int tls = kv ? (irh_value_parse(IR_KEY_BOOL, kv->value, &on) == IR_OK ? on != 0 : -1) : 0;
  l->tls = tls == 1;
  l->tls_priority = priority ? priority->value : DEFAULT_TLS_PRIORITY;
  if (priority && tls == 0)
    *ok = irh_config_error(c, priority->line,
                           "tls_priority needs tls = on (this listener is cleartext)");
  else if (priority && priority->value[0] == '\0')
    *ok = report_bad_value(c, priority, "a GnuTLS priority string");
  return tls;
}

static void add_listen(irh_config *c, const irh_section *s) {
  irh_listen_cfg *l = &c->listens[c->nlistens];
  char label[256];
  int ok = 1, tls;
  int64_t backlog;
  if (!s->arg) {
    ok = irh_config_error(c, s->line, "[listen] needs an address, e.g. [listen 127.0.0.1:8080]");
  } else if (parse_listen_address(s->arg, l) != 0) {
    ok = irh_config_error(c, s->line,
                          "bad listen address '%s' (expected IPv4:PORT, [IPv6]:PORT or *:PORT "
                          "with a port from 1 to 65535)",
                          s->arg);
  } else {
    const irh_listen_cfg *first = find_listen(c, l);
    if (first)
      ok = irh_config_error(c, s->line, "duplicate listen address %s (first at line %d)", s->arg,
                            first->section->line);
  }
  if (irh_config_check_keys(c, s, listen_keys, NULL, NULL) > 0) ok = 0;
  tls = listen_tls(c, s, l, &ok);
  if (parse_protocols(c, s, tls, l) != 0) ok = 0;
  if (key_number(c, s, listen_keys, "backlog", 1, MAX_BACKLOG, &backlog) != 0) ok = 0;
  if (tls == 1 && count_kind(c, "certificate") == 0)
    ok = irh_config_error(c, s->line,
                          "%s has tls = on but there is no [certificate] section (add one with "
                          "cert and key)",
                          section_label(s, label, sizeof label));
  if (ok != 1 || tls < 0) return;
  l->section = s;
  l->backlog = (int)backlog;
  c->nlistens++;
}

/* ---- checking: [module NAME] --------------------------------------------- */

/* A [module] or [certificate] name. */
static int valid_name(const char *name) {
  if (!*name) return 0;
  for (; *name; name++)
    if (!isalnum((unsigned char)*name) && *name != '_' && *name != '-') return 0;
  return 1;
}

static const irh_module_cfg *find_module(const irh_config *c, const char *name) {
  for (size_t i = 0; i < c->nmodules; i++)
    if (strcmp(c->modules[i].name, name) == 0) return &c->modules[i];
  return NULL;
}

/* The .so path: path when absolute, else modules_dir/path. Caller frees. */
static char *module_path(const irh_config *c, const char *name, const char *path) {
  if (path) return path[0] == '/' ? strdup(path) : join_path(c->modules_dir, path);
  size_t len = strlen(name);
  char *file = malloc(len + sizeof ".so");
  if (!file) return NULL;
  memcpy(file, name, len);
  memcpy(file + len, ".so", sizeof ".so");
  char *full = join_path(c->modules_dir, file);
  free(file);
  return full;
}

static void add_module(irh_config *c, const irh_section *s) {
  const irh_module_cfg *first = NULL;
  const irh_kv *path = irh_section_find(s, "path");
  int ok = 1;
  if (!s->arg)
    ok = irh_config_error(c, s->line, "[module] needs a name, e.g. [module hello]");
  else if (!valid_name(s->arg))
    ok = irh_config_error(c, s->line, "bad module name '%s' (use letters, digits, '_' and '-')",
                          s->arg);
  else if ((first = find_module(c, s->arg)))
    ok = irh_config_error(c, s->line, "duplicate [module %s] (first at line %d)", s->arg,
                          first->section->line);
  if (irh_config_check_keys(c, s, module_keys, NULL, NULL) > 0) ok = 0;
  if (path && path->value[0] == '\0') ok = report_bad_value(c, path, "the module's .so file");
  if (ok != 1 || !c->modules_dir) return;
  irh_module_cfg *m = &c->modules[c->nmodules];
  m->path = module_path(c, s->arg, path ? path->value : NULL);
  if (!m->path) {
    report_oom(c);
    return;
  }
  m->section = s;
  m->name = s->arg;
  c->nmodules++;
}

/* ---- checking: [certificate NAME] ---------------------------------------- */

/* An earlier [certificate] section with s's name, whether or not it passed. */
static const irh_section *earlier_certificate(const irh_config *c, const irh_section *s) {
  for (const irh_section *o = c->sections; o < s; o++)
    if (strcmp(o->kind, "certificate") == 0 && o->arg && strcmp(o->arg, s->arg) == 0) return o;
  return NULL;
}

/* The file of key kv (cert or key) resolved into *out; 1 when it can be read
 * now. Root passes access() for any file, so a folder is refused by hand. */
static int certificate_file(irh_config *c, const irh_section *s, const irh_kv *kv, char **out) {
  char label[256];
  struct stat st;
  int err = 0;
  if (kv->value[0] == '\0') return report_bad_value(c, kv, "a path to a PEM file");
  *out = irh_config_resolve(c, kv->value);
  if (!*out) return report_oom(c), -1;
  if (access(*out, R_OK) != 0 || stat(*out, &st) != 0)
    err = errno;
  else if (S_ISDIR(st.st_mode))
    err = EISDIR;
  if (!err) return 1;
  return irh_config_error(c, kv->line, "%s cannot read %s '%s': %s",
                          section_label(s, label, sizeof label), kv->key, kv->value, strerror(err));
}

static void add_certificate(irh_config *c, const irh_section *s) {
  const irh_section *first = NULL;
  const irh_kv *cert = irh_section_find(s, "cert");
  const irh_kv *key = irh_section_find(s, "key");
  char *cert_path = NULL, *key_path = NULL;
  int ok = 1;
  if (!s->arg)
    ok = irh_config_error(c, s->line, "[certificate] needs a name, e.g. [certificate localhost]");
  else if (!valid_name(s->arg))
    ok = irh_config_error(c, s->line,
                          "bad certificate name '%s' (use letters, digits, '_' and '-')", s->arg);
  else if ((first = earlier_certificate(c, s)))
    ok = irh_config_error(c, s->line, "duplicate [certificate %s] (first at line %d)", s->arg,
                          first->line);
  if (irh_config_check_keys(c, s, certificate_keys, NULL, NULL) > 0) ok = 0;
  if (cert && certificate_file(c, s, cert, &cert_path) != 1) ok = 0;
  if (key && certificate_file(c, s, key, &key_path) != 1) ok = 0;
  if (ok != 1) {
    free(cert_path);
    free(key_path);
    return;
  }
  c->certs[c->ncerts++] =
      (irh_cert_cfg){.section = s, .name = s->arg, .cert = cert_path, .key = key_path};
}

/* ---- checking: [route PREFIX] -------------------------------------------- */

static int same_host(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcasecmp(a, b) == 0;
}

static const irh_route_cfg *find_route(const irh_config *c, const char *host, const char *prefix) {
  for (size_t i = 0; i < c->nroutes; i++) {
    const irh_route_cfg *r = &c->routes[i];
    if (strcmp(r->prefix, prefix) == 0 && same_host(r->host, host)) return r;
  }
  return NULL;
}

static int check_route_prefix(irh_config *c, const irh_section *s) {
  if (!s->arg) return irh_config_error(c, s->line, "[route] needs a path prefix, e.g. [route /]");
  if (s->arg[0] != '/')
    return irh_config_error(c, s->line, "bad route prefix '%s' (must start with '/')", s->arg);
  for (const char *p = s->arg; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return irh_config_error(c, s->line, "bad route prefix '%s' (no blanks or control bytes)",
                              s->arg);
  return 1;
}

static int check_route_module(irh_config *c, const irh_section *s, const irh_kv *module) {
  char label[256];
  if (!module)
    return irh_config_error(c, s->line, "%s missing required key 'module'",
                            section_label(s, label, sizeof label));
  if (!find_module(c, module->value))
    return irh_config_error(c, module->line,
                            "route %s: module '%s' is not loaded (add a [module %s] section)",
                            s->arg ? s->arg : "", module->value, module->value);
  return 1;
}

/* handler_timeout in a [route]: the route's own, over [server]'s. 1 with
 * *ms set (0 when the route has none), or -1 after reporting a bad value. */
static int route_handler_timeout(irh_config *c, const irh_section *s, uint64_t *ms) {
  const irh_kv *kv = irh_section_find(s, "handler_timeout");
  int64_t v = 0;
  *ms = 0;
  if (!kv) return 1;
  if (irh_value_parse(IR_KEY_DURATION, kv->value, &v) != IR_OK || v < 1)
    return report_bad_value(c, kv, "a duration of at least 1ms");
  *ms = (uint64_t)v;
  return 1;
}

static void add_route(irh_config *c, const irh_section *s) {
  const irh_kv *module = irh_section_find(s, "module");
  const irh_kv *host = irh_section_find(s, "host");
  uint64_t handler_timeout_ms;
  int ok = check_route_prefix(c, s);
  if (check_route_module(c, s, module) != 1) ok = 0;
  if (host && host->value[0] == '\0') ok = report_bad_value(c, host, "a host name or *");
  if (route_handler_timeout(c, s, &handler_timeout_ms) != 1) ok = 0;
  if (ok != 1) return;
  const char *host_name = host && strcmp(host->value, "*") != 0 ? host->value : NULL;
  const irh_route_cfg *first = find_route(c, host_name, s->arg);
  if (first) {
    irh_config_error(c, s->line, "duplicate route %s %s (first at line %d)",
                     host_name ? host_name : "*", s->arg, first->section->line);
    return;
  }
  c->routes[c->nroutes++] = (irh_route_cfg){.section = s,
                                            .prefix = s->arg,
                                            .host = host_name,
                                            .module = module->value,
                                            .handler_timeout_ms = handler_timeout_ms};
}

/* ---- checking: the whole file -------------------------------------------- */

/* Room for one typed entry per section, so none of the arrays ever grows. */
static int alloc_entries(irh_config *c) {
  size_t n = c->nsections ? c->nsections : 1;
  c->listens = calloc(n, sizeof *c->listens);
  c->modules = calloc(n, sizeof *c->modules);
  c->routes = calloc(n, sizeof *c->routes);
  c->certs = calloc(n, sizeof *c->certs);
  if (c->listens && c->modules && c->routes && c->certs) return 0;
  report_oom(c);
  return -1;
}

/* [server] first (modules_dir), then listens and modules, then routes (which
 * name modules that may be declared further down). */
static void check_config(irh_config *c) {
  if (alloc_entries(c) != 0) return;
  apply_server(c, find_server(c));
  for (size_t i = 0; i < c->nsections; i++) {
    const irh_section *s = &c->sections[i];
    if (strcmp(s->kind, "listen") == 0) add_listen(c, s);
    if (strcmp(s->kind, "module") == 0) add_module(c, s);
    if (strcmp(s->kind, "certificate") == 0) add_certificate(c, s);
  }
  if (count_kind(c, "listen") == 0) irh_config_error(c, 0, "no [listen] section");
  for (size_t i = 0; i < c->nsections; i++)
    if (strcmp(c->sections[i].kind, "route") == 0) add_route(c, &c->sections[i]);
}

/* ---- load and free ------------------------------------------------------- */

irh_config *irh_config_read(const char *path) {
  irh_config *c = calloc(1, sizeof *c);
  if (c) c->path = strdup(path);
  if (c && c->path) c->dir = folder_of(path);
  if (!c || !c->dir) {
    fprintf(stderr, "%s: out of memory\n", path);
    irh_config_free(c);
    return NULL;
  }
  FILE *f = fopen(path, "r");
  if (!f) {
    irh_config_error(c, 0, "cannot open: %s", strerror(errno));
    irh_config_free(c);
    return NULL;
  }
  int read_ok = read_sections(c, f) == 0;
  fclose(f);
  if (!read_ok) {
    irh_config_free(c);
    return NULL;
  }
  check_config(c);
  return c;
}

irh_config *irh_config_load(const char *path) {
  irh_config *c = irh_config_read(path);
  if (c && c->errors) {
    irh_config_free(c);
    return NULL;
  }
  return c;
}

static void free_section(irh_section *s) {
  for (size_t i = 0; i < s->nkvs; i++) {
    free(s->kvs[i].key);
    free(s->kvs[i].value);
  }
  free(s->kvs);
  free(s->kind);
  free(s->arg);
}

void irh_config_free(irh_config *c) {
  if (!c) return;
  for (size_t i = 0; i < c->nsections; i++) free_section(&c->sections[i]);
  for (size_t i = 0; i < c->nmodules; i++) free(c->modules[i].path);
  for (size_t i = 0; i < c->ncerts; i++) {
    free(c->certs[i].cert);
    free(c->certs[i].key);
  }
  free(c->sections);
  free(c->listens);
  free(c->modules);
  free(c->routes);
  free(c->certs);
  free(c->modules_dir);
  free(c->error_log);
  free(c->access_log);
  free(c->pid_file);
  free(c->dir);
  free(c->path);
  free(c);
}

int irh_config_module_line(const irh_config *c, const char *name) {
  for (size_t i = 0; i < c->nmodules; i++)
    if (strcmp(c->modules[i].name, name) == 0) return c->modules[i].section->line;
  return 0;
}
