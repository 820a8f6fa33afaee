/* log.h — the error log and the access log.
 *
 * Error log: one line per event, written with a single write(2) so lines from
 * several threads never interleave:
 *   2026-11-21T11:29:13.123Z [warn] conn=12 stream=1 module=hello: message
 * (conn=, stream= and module= appear only when known.)
 *
 * Access log: one line per finished request, collected in a per-worker
 * buffer and written once per loop turn (or when the buffer is large), in
 * the access_log_format of [server]:
 *   iridium (default):
 *   2026-11-21T11:29:13.123Z 127.0.0.1:53312 "GET /hello?x=1" 200 18 0.000123 HTTP/1.1
 *       "localhost:8080" "-" "curl/7.88.1" hello
 *     end time (UTC), client, "method target", status, body bytes sent,
 *     duration in seconds, protocol, "host", "referer", "user-agent",
 *     module (- when none: a host-made answer);
 *   combined (Apache's and nginx's, for log analysers):
 *   127.0.0.1 - - [21/Nov/2026:11:29:13 +0000] "GET /hello?x=1 HTTP/1.1" 200 18 "-" "curl/7.88.1"
 *   json (one object per line; absent fields are null):
 *   {"time":"2026-11-21T11:29:13.123Z","client":"127.0.0.1:53312","method":"GET",
 *    "target":"/hello?x=1","protocol":"HTTP/1.1","status":200,"bytes":18,
 *    "duration":0.000123,"host":"localhost:8080","referer":null,
 *    "user_agent":"curl/7.88.1","module":"hello"}
 * Bytes outside printable ASCII, '"' and '\' are written as \xHH (JSON:
 * \u00HH, and \" \\) so a request cannot forge lines; an absent text
 * field is "-". Text fields are cut (then "...") at 4096 bytes for the
 * target, 1024 the referer, 512 the user agent, 256 the host, 128 others.
 */
#ifndef IRIDIUM_CORE_LOG_H
#define IRIDIUM_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <iridium/abi.h>

struct irh_config;

/* Opens the files named by error_log and access_log ("stderr", "stdout",
 * "off" or a path, opened O_APPEND) and sets the level. Main thread, before
 * workers start. On failure prints a message naming the file and returns -1. */
int irh_log_open(const struct irh_config *c);
void irh_log_close(void);

/* SIGUSR1: opens the log files again by their paths (after a rotation
 * moved them) in place of the ones in use; stderr and stdout stay. Main
 * thread, any time. -1 when one could not be reopened (logged; it keeps
 * the file it had). */
int irh_log_reopen(void);

/* Whether every log file of c can be opened for appending (an existing
 * file is opened, a missing one needs a writable folder; nothing is
 * created): each problem reported as "INI:LINE: ..." and counted. 0 or -1. */
int irh_log_check(struct irh_config *c);
/* The same check for any file the server writes (the pid file too);
 * target "stderr", "stdout" and "off" pass. key names it in messages. */
int irh_check_output_file(struct irh_config *c, const char *target, int line, const char *key);

/* Gives the log files opened to uid:gid (before the server drops root, so
 * that it may reopen them as that user). -1 when one could not be. */
int irh_log_chown(uid_t uid, gid_t gid);

/* Whether a line of this level would be written. Any thread. */
int irh_log_enabled(int level);

/* Any thread. conn_id 0 and stream_id < 0 mean "none"; module may be NULL. */
void irh_logv(int level, uint64_t conn_id, int64_t stream_id, const char *module, const char *fmt,
              va_list ap);
void irh_log(int level, uint64_t conn_id, int64_t stream_id, const char *module, const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));

/* Shorthands for host code with no connection. */
#define irh_log_error(...) irh_log(IR_LOG_ERROR, 0, -1, NULL, __VA_ARGS__)
#define irh_log_warn(...) irh_log(IR_LOG_WARN, 0, -1, NULL, __VA_ARGS__)
#define irh_log_info(...) irh_log(IR_LOG_INFO, 0, -1, NULL, __VA_ARGS__)
#define irh_log_debug(...) irh_log(IR_LOG_DEBUG, 0, -1, NULL, __VA_ARGS__)

/* One finished request, as the protocol layer knows it. Strings borrowed. */
typedef struct irh_access_entry {
  const char *peer;
  size_t peer_len;
  const char *method;
  size_t method_len;
  const char *target; /* path and query as received */
  size_t target_len;
  const char *protocol; /* "HTTP/1.1" */
  const char *host;     /* :authority, else Host; NULL when neither came */
  size_t host_len;
  const char *referer;
  size_t referer_len;
  const char *user_agent;
  size_t user_agent_len;
  const char *module; /* the route's module (NUL-terminated), NULL for a host answer */
  int status;
  uint64_t body_bytes;
  uint64_t duration_ns;
} irh_access_entry;

/* A worker's access-log buffer. Owned by the worker; one thread only. */
typedef struct irh_access_buf {
  char *data;
  size_t len;
  size_t cap;
} irh_access_buf;

/* Whether the access log is on at all. */
int irh_access_log_enabled(void);
/* Appends e's line; flushes first when the buffer is nearly full. */
void irh_access_log(irh_access_buf *b, const irh_access_entry *e);
/* Writes what is buffered with one write(2). */
void irh_access_flush(irh_access_buf *b);
void irh_access_buf_free(irh_access_buf *b);

#endif /* IRIDIUM_CORE_LOG_H */
