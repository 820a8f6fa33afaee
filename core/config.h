/* config.h — the INI file as a typed configuration.
 *
 * config.c reads the file with inih, keeps every section and key with its
 * line number, turns [server] and [listen ...] into typed fields, checks the
 * structure (unknown sections and keys, bad values, missing keys, duplicate
 * routes) and reports each problem as "FILE:LINE: message" on stderr. The
 * keys of a route's module are checked later, by module.c, with the same
 * irh_config_check_keys() once the module has told its key table.
 *
 * Sections:
 *   [server]                 at most one; all keys optional
 *   [listen ADDRESS:PORT]    one per listening address; 127.0.0.1:8080,
 *                            [::1]:8080, *:8080 (all IPv4), [::]:8080
 *   [module NAME]            a module to load; key path (default NAME.so,
 *                            relative to modules_dir)
 *   [route PREFIX]           PREFIX starts with '/'; keys module (required),
 *                            host (default "*": any), handler_timeout (default
 *                            [server]'s), then the module's keys
 *   [certificate NAME]       cert and key (PEM paths, required) for TLS
 *
 * A [listen] has protocols (a list, in preference order): "http/1.1" and
 * "h2c" on cleartext listeners (default "http/1.1, h2c"), "h2" and
 * "http/1.1" with tls = on (default "h2, http/1.1", the ALPN order), and
 * tls_priority (a GnuTLS priority string with a modern default).
 */
#ifndef IRIDIUM_CORE_CONFIG_H
#define IRIDIUM_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <iridium/module.h>

/* Protocol bits of a listener. */
#define IRH_PROTO_HTTP1 0x1u /* "http/1.1" */
#define IRH_PROTO_H2C 0x2u   /* "h2c": cleartext HTTP/2, prior knowledge or Upgrade: h2c */
#define IRH_PROTO_H2 0x4u    /* "h2": HTTP/2 over TLS, chosen by ALPN */
#define IRH_MAX_ALPN 2

/* access_log_format: the lines log.h shows. */
typedef enum irh_access_format {
  IRH_ACCESS_IRIDIUM = 0, /* the default */
  IRH_ACCESS_COMBINED,
  IRH_ACCESS_JSON
} irh_access_format;

typedef struct irh_kv {
  char *key;   /* owned by the config */
  char *value; /* owned by the config */
  int line;
} irh_kv;

typedef struct irh_section {
  char *kind; /* "server", "listen", "module", "route", "certificate" */
  char *arg;  /* text after the kind ("127.0.0.1:8080", "/hello"), or NULL */
  int line;   /* line of the [header] */
  irh_kv *kvs;
  size_t nkvs;
} irh_section;

typedef struct irh_listen_cfg {
  const irh_section *section;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  unsigned protocols; /* IRH_PROTO_* bits */
  int backlog;
  int tls;                        /* tls = on */
  const char *tls_priority;       /* GnuTLS priority string (value or default) */
  const char *alpn[IRH_MAX_ALPN]; /* "h2" / "http/1.1" in the order of `protocols` */
  size_t nalpn;                   /* TLS listeners only */
} irh_listen_cfg;

/* [certificate NAME]: a certificate chain and its key. Every TLS listener
 * offers all of them; GnuTLS picks by SNI and the client's algorithms. */
typedef struct irh_cert_cfg {
  const irh_section *section;
  const char *name; /* the section's arg */
  char *cert;       /* resolved path of the PEM chain, owned */
  char *key;        /* resolved path of the PEM key, owned */
} irh_cert_cfg;

typedef struct irh_module_cfg {
  const irh_section *section;
  const char *name; /* the section's arg */
  char *path;       /* resolved path of the .so, owned */
} irh_module_cfg;

typedef struct irh_route_cfg {
  const irh_section *section;
  const char *prefix; /* the section's arg */
  const char *host;   /* value of host, or NULL for any host */
  const char *module; /* value of module */
  uint64_t handler_timeout_ms; /* the route's handler_timeout; 0: [server]'s */
} irh_route_cfg;

typedef struct irh_config {
  char *path; /* as given on the command line, owned */
  char *dir;  /* its folder, for relative paths, owned */

  irh_section *sections;
  size_t nsections;

  /* [server] */
  unsigned workers; /* >= 1; 0 in the file means one per CPU */
  char *modules_dir;
  char *error_log;  /* "stderr", "stdout", "off" or a path */
  char *access_log; /* likewise; default "off" */
  int error_log_line, access_log_line; /* where the file set them; 0: the default */
  int access_log_format;               /* an irh_access_format */
  char *pid_file;                      /* resolved path, or NULL (off) */
  const char *user, *group;            /* to serve as (daemon.c), or NULL */
  int pid_file_line, user_line, group_line;
  int log_level;    /* an ir_log_level */
  uint64_t max_connections;
  uint64_t max_header_size; /* request line + headers, bytes */
  uint64_t max_header_count;
  uint64_t max_uri_length;
  uint64_t max_body_size;
  uint64_t keepalive_requests; /* requests per connection before close */
  uint64_t header_timeout_ms;
  uint64_t body_timeout_ms;
  uint64_t keepalive_timeout_ms;
  uint64_t write_timeout_ms;
  uint64_t shutdown_timeout_ms;
  uint64_t handler_timeout_ms; /* response head due this long after the request: else 504 */
  uint64_t max_queued_output; /* bytes queued for one client before writers wait */
  uint64_t thread_pool;       /* libuv's thread pool (UV_THREADPOOL_SIZE), 1..1024 */

  /* [server] HTTP/2 settings and limits */
  uint64_t h2_max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
  uint64_t h2_initial_window_size;    /* SETTINGS_INITIAL_WINDOW_SIZE, <= 2^31-1 */
  uint64_t h2_max_frame_size;         /* SETTINGS_MAX_FRAME_SIZE, 16k..16m-1 */
  uint64_t h2_max_continuations;      /* CONTINUATION frames per header block */
  uint64_t h2_reset_burst;            /* RST_STREAM bucket (client-sent and caused) */
  uint64_t h2_reset_rate;             /* ... refilled per second */
  uint64_t h2_flood_limit;            /* SETTINGS/PING/empty DATA/PRIORITY per second */
  uint64_t h2_stream_idle_timeout_ms; /* a stream with no progress is reset */
  uint64_t h2_ping_timeout_ms;        /* an idle connection's PING must be answered */
  uint64_t h2_min_send_rate;          /* bytes/s a stream waiting on the client takes, 0: off */
  uint64_t h2_min_send_rate_grace_ms; /* ... counted after this much waiting */
  uint64_t h2_max_file_bodies;        /* file bodies one connection holds open at once */
  uint64_t h2_discard_max_bytes;      /* request body dropped after the response ended */
  uint64_t h2_discard_timeout_ms;     /* ... for at most this long */

  irh_listen_cfg *listens;
  size_t nlistens;
  irh_module_cfg *modules;
  size_t nmodules;
  irh_route_cfg *routes;
  size_t nroutes;
  irh_cert_cfg *certs;
  size_t ncerts;

  int errors; /* problems reported so far */
} irh_config;

/* Reads and checks path. Returns the config, or NULL after printing every
 * problem found (and "FILE: cannot open" style messages). Caller owns the
 * result and frees it with irh_config_free(). */
irh_config *irh_config_load(const char *path);
void irh_config_free(irh_config *c);

/* Like irh_config_load(), but hands the config back even when problems were
 * reported (c->errors > 0), so that later checks — module.c's route keys —
 * can report theirs in the same run. Only the [listen], [module] and [route]
 * sections that passed are in listens/modules/routes; other typed fields may
 * be unset when c->errors != 0, and such a config must not be started. NULL
 * only when the file cannot be read or memory runs out (after printing why).
 * Caller frees with irh_config_free(). */
irh_config *irh_config_read(const char *path);

/* The host's key table of a section kind ("server", "listen",
 * "certificate", "module", "route"; a route's module adds its own), ended
 * by name == NULL; NULL for another kind. Defaults are the text form; a
 * NULL default is one that depends on the section (said in help). */
const ir_config_key *irh_config_keys_of(const char *kind);

/* Prints "PATH:LINE: message" to stderr and counts it in c->errors. line 0
 * prints "PATH: message". Returns -1 so callers can `return irh_config_error(...)`. */
int irh_config_error(irh_config *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Where irh_config_error and irh_config_warn go instead of stderr, while
 * set (a reload: the error log). where is "PATH:LINE: " (with "warning: "
 * for a warning), msg the message. NULL: stderr again. Main thread. */
typedef void (*irh_config_sink)(int warning, const char *where, const char *msg);
void irh_config_set_sink(irh_config_sink sink);

/* Prints "PATH:LINE: warning: message" to stderr; not counted as an error
 * (the file still passes). */
void irh_config_warn(const irh_config *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks a section's keys against a key table (stride by struct_size, ended
 * by name == NULL): unknown keys (with the nearest known name as a hint),
 * values that do not parse as their type, missing required keys. Keys listed
 * in skip (NULL-terminated, may be NULL) are the caller's own and are not
 * checked. owner names the table in messages ("module hello"). Returns the
 * number of problems reported. */
int irh_config_check_keys(irh_config *c, const irh_section *s, const ir_config_key *keys,
                          const char *owner, const char *const *skip);

/* The line of c's [module NAME] section, or 0 when c has none. */
int irh_config_module_line(const irh_config *c, const char *name);

/* The value of key in s, or NULL. Borrowed from the config. */
const irh_kv *irh_section_find(const irh_section *s, const char *key);

/* Parses text as an ir_key_type. INT, BOOL (0/1), SIZE (bytes) and DURATION
 * (ms) give *out; STRING and PATH always parse. Returns IR_OK or IR_EINVAL. */
int irh_value_parse(int type, const char *text, int64_t *out);

/* A path relative to the INI's folder made usable from the current folder;
 * absolute paths are copied. Caller frees. NULL on allocation failure. */
char *irh_config_resolve(const irh_config *c, const char *path);

#endif /* IRIDIUM_CORE_CONFIG_H */
