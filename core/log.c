/* log.c — the error log and the access log (formats in log.h).
 *
 * Error log: irh_logv formats one whole line on the stack and hands it to a
 * single write(2), so lines from several threads never interleave and no
 * lock is needed. The level and the file descriptors are atomics, set on the
 * main thread by irh_log_open before workers start; until then lines go to
 * stderr at level info.
 *
 * Access log: each worker appends lines to its own irh_access_buf and writes
 * the whole buffer with one write(2) per loop turn (irh_access_flush), or
 * earlier when the buffer would pass ACCESS_FLUSH_AT.
 *
 * Reopening (SIGUSR1, after logrotate moved the files): each file is opened
 * again by its path and dup3'd over the descriptor in use, so a worker's
 * write goes whole to the old file or whole to the new one and the number
 * it holds never names anything else.
 */
#define _GNU_SOURCE /* dup3 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

/* One error line at most; PIPE_BUF, so a line written to a pipe is atomic. */
#define LOG_LINE_MAX 4096
/* "2026-11-21T11:29:13.123Z" */
#define TIME_LEN 24
/* A worker's buffer is written out before it would pass this. */
#define ACCESS_FLUSH_AT (32 * 1024)
/* Bytes of a target kept in the access log (the rest becomes "..."), and of
 * the other text fields; this bounds a line to about 17 KiB. */
#define ACCESS_TARGET_MAX 4096
#define ACCESS_FIELD_MAX 128
#define ACCESS_HOST_MAX 256
#define ACCESS_REFERER_MAX 1024
#define ACCESS_AGENT_MAX 512

static atomic_int log_level = IR_LOG_INFO;
static atomic_int error_fd = STDERR_FILENO;
static atomic_int access_fd = -1;
static atomic_int access_format = IRH_ACCESS_IRIDIUM;
/* Whether we opened the fds above (and so close them), and the files' paths
 * for reopening. Main thread only. */
static int error_fd_owned, access_fd_owned;
static char *error_path, *access_path;

static const char *const level_names[] = {[IR_LOG_DEBUG] = "debug",
                                          [IR_LOG_INFO] = "info",
                                          [IR_LOG_WARN] = "warn",
                                          [IR_LOG_ERROR] = "error"};

/* ---- shared helpers ------------------------------------------------------ */

/* Writes all of data, retrying after EINTR and partial writes. Other errors
 * drop the rest: there is nowhere left to report them. */
static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= (size_t)n;
  }
}

/* The current UTC time as "2026-11-21T11:29:13.123Z" into buf (at least
 * TIME_LEN + 1 bytes). Returns TIME_LEN. */
static size_t format_time(char *buf) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, TIME_LEN + 1 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
  return TIME_LEN;
}

static const char *level_name(int level) {
  if (level < IR_LOG_DEBUG) return level_names[IR_LOG_DEBUG];
  if (level > IR_LOG_ERROR) return level_names[IR_LOG_ERROR];
  return level_names[level];
}

/* ---- opening and closing ------------------------------------------------- */

static void close_if_owned(int fd, int owned) {
  if (owned && fd >= 0) close(fd);
}

/* Opens a log target: stderr, stdout, off (fd -1) or a file, appended. */
static int open_target(const char *target, const char *what, int *fd, int *owned) {
  *owned = 0;
  if (strcmp(target, "stderr") == 0) return *fd = STDERR_FILENO, 0;
  if (strcmp(target, "stdout") == 0) return *fd = STDOUT_FILENO, 0;
  if (strcmp(target, "off") == 0) return *fd = -1, 0;
  *fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (*fd < 0) {
    fprintf(stderr, "iridium: cannot open %s '%s': %s\n", what, target, strerror(errno));
    return -1;
  }
  *owned = 1;
  return 0;
}

/* Both files are opened before either replaces the current one, so a
 * failure leaves the logs as they were. */
int irh_log_open(const struct irh_config *c) {
  int efd, efd_owned, afd, afd_owned;
  if (open_target(c->error_log, "error log", &efd, &efd_owned) != 0) return -1;
  if (open_target(c->access_log, "access log", &afd, &afd_owned) != 0) {
    close_if_owned(efd, efd_owned);
    return -1;
  }
  char *epath = efd_owned ? strdup(c->error_log) : NULL;
  char *apath = afd_owned ? strdup(c->access_log) : NULL;
  if ((efd_owned && !epath) || (afd_owned && !apath)) {
    fprintf(stderr, "iridium: out of memory opening the logs\n");
    free(epath), free(apath);
    close_if_owned(efd, efd_owned);
    close_if_owned(afd, afd_owned);
    return -1;
  }
  close_if_owned(atomic_exchange(&error_fd, efd), error_fd_owned);
  close_if_owned(atomic_exchange(&access_fd, afd), access_fd_owned);
  error_fd_owned = efd_owned;
  access_fd_owned = afd_owned;
  free(error_path), free(access_path);
  error_path = epath, access_path = apath;
  atomic_store(&access_format, c->access_log_format);
  atomic_store(&log_level, c->log_level);
  return 0;
}

/* Back to the start state: stderr at info, no access log. */
void irh_log_close(void) {
  close_if_owned(atomic_exchange(&error_fd, STDERR_FILENO), error_fd_owned);
  close_if_owned(atomic_exchange(&access_fd, -1), access_fd_owned);
  error_fd_owned = access_fd_owned = 0;
  free(error_path), free(access_path);
  error_path = access_path = NULL;
  atomic_store(&access_format, IRH_ACCESS_IRIDIUM);
  atomic_store(&log_level, IR_LOG_INFO);
}

/* Opens path again and puts it under fd. -1 (logged) when it cannot: fd
 * keeps the file it had. */
static int reopen_one(const char *path, int fd, const char *what) {
  if (!path || fd < 0) return 0;
  int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (nfd < 0 || dup3(nfd, fd, O_CLOEXEC) < 0) {
    int err = errno;
    if (nfd >= 0) close(nfd);
    irh_log_error("cannot reopen the %s '%s': %s (still writing to the file it had)", what, path,
                  strerror(err));
    return -1;
  }
  close(nfd);
  return 0;
}

int irh_log_chown(uid_t uid, gid_t gid) {
  int rc = 0;
  if (error_fd_owned && fchown(atomic_load(&error_fd), uid, gid) != 0) rc = -1;
  if (access_fd_owned && fchown(atomic_load(&access_fd), uid, gid) != 0) rc = -1;
  return rc;
}

int irh_log_reopen(void) {
  int rc = reopen_one(error_path, atomic_load(&error_fd), "error log");
  if (reopen_one(access_path, atomic_load(&access_fd), "access log") != 0) rc = -1;
  return rc;
}

/* Whether target (a resolved path) can be opened for appending, without
 * creating it: an existing file is opened and closed, a missing one needs
 * a folder we may write in. */
int irh_check_output_file(irh_config *c, const char *target, int line, const char *key) {
  if (!strcmp(target, "stderr") || !strcmp(target, "stdout") || !strcmp(target, "off")) return 0;
  struct stat st;
  if (stat(target, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return irh_config_error(c, line, "%s '%s' is a folder", key, target);
    int fd = open(target, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
      return irh_config_error(c, line, "%s '%s' cannot be opened: %s", key, target,
                              strerror(errno));
    close(fd);
    return 0;
  }
  if (errno != ENOENT)
    return irh_config_error(c, line, "%s '%s': %s", key, target, strerror(errno));
  const char *slash = strrchr(target, '/');
  char *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target)) : strdup(".");
  if (!dir) return irh_config_error(c, line, "out of memory");
  int rc = 0;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    rc = irh_config_error(c, line, "%s '%s': its folder '%s' does not exist", key, target, dir);
  else if (access(dir, W_OK | X_OK) != 0)
    rc = irh_config_error(c, line, "%s '%s' cannot be created in '%s': %s", key, target, dir,
                          strerror(errno));
  free(dir);
  return rc;
}

int irh_log_check(irh_config *c) {
  int rc = irh_check_output_file(c, c->error_log, c->error_log_line, "error_log");
  if (irh_check_output_file(c, c->access_log, c->access_log_line, "access_log") != 0) rc = -1;
  return rc;
}

/* ---- the error log ------------------------------------------------------- */

int irh_log_enabled(int level) {
  return level >= atomic_load_explicit(&log_level, memory_order_relaxed) &&
         atomic_load_explicit(&error_fd, memory_order_relaxed) >= 0;
}

/* A line being built in a fixed buffer of cap bytes. len stays below cap:
 * the byte vsnprintf keeps for its NUL is where the '\n' goes at the end. */
typedef struct line_buf {
  char *data;
  size_t len, cap;
  int truncated;
} line_buf;

static void add_vfmt(line_buf *b, const char *fmt, va_list ap) {
  size_t room = b->cap - b->len; /* >= 1: len never reaches cap */
  int n = vsnprintf(b->data + b->len, room, fmt, ap);
  if (n < 0) return;
  if ((size_t)n >= room) {
    b->len = b->cap - 1;
    b->truncated = 1;
  } else {
    b->len += (size_t)n;
  }
}

__attribute__((format(printf, 2, 3))) static void add_fmt(line_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_vfmt(b, fmt, ap);
  va_end(ap);
}

/* "conn=12 stream=1 module=hello: " — only the parts that are known. */
static void add_context(line_buf *b, uint64_t conn_id, int64_t stream_id, const char *module) {
  const char *sep = "";
  if (conn_id) add_fmt(b, "conn=%" PRIu64, conn_id), sep = " ";
  if (stream_id >= 0) add_fmt(b, "%sstream=%" PRId64, sep, stream_id), sep = " ";
  if (module) add_fmt(b, "%smodule=%s", sep, module), sep = " ";
  if (*sep) add_fmt(b, ": ");
}

/* One event is one line: line breaks and other control bytes inside the
 * message would let it forge lines, so they become spaces. */
static void blank_controls(char *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)p[i] < 0x20 && p[i] != '\t') p[i] = ' ';
}

void irh_logv(int level, uint64_t conn_id, int64_t stream_id, const char *module, const char *fmt,
              va_list ap) {
  if (!irh_log_enabled(level)) return;
  int saved_errno = errno; /* callers often log right before reading errno */
  char data[LOG_LINE_MAX];
  line_buf b = {.data = data, .cap = sizeof data};
  b.len = format_time(data);
  add_fmt(&b, " [%s] ", level_name(level));
  add_context(&b, conn_id, stream_id, module);
  size_t message = b.len;
  add_vfmt(&b, fmt, ap);
  blank_controls(data + message, b.len - message);
  if (b.truncated) memcpy(data + b.len - 3, "...", 3);
  data[b.len++] = '\n';
  write_all(atomic_load_explicit(&error_fd, memory_order_relaxed), data, b.len);
  errno = saved_errno;
}

void irh_log(int level, uint64_t conn_id, int64_t stream_id, const char *module, const char *fmt,
             ...) {
  va_list ap;
  va_start(ap, fmt);
  irh_logv(level, conn_id, stream_id, module, fmt, ap);
  va_end(ap);
}

/* ---- the access log ------------------------------------------------------ */

int irh_access_log_enabled(void) {
  return atomic_load_explicit(&access_fd, memory_order_relaxed) >= 0;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* An upper bound on the length of e's line in any format: each kept byte
 * of a text field may become 6 ("\u00HH"), plus "..." per field, the
 * numbers, the JSON names and the separators. */
static size_t access_line_bound(const irh_access_entry *e) {
  size_t protocol_len = e->protocol ? strlen(e->protocol) : 0;
  size_t module_len = e->module ? strlen(e->module) : 0;
  size_t text =
      min_size(e->peer_len, ACCESS_FIELD_MAX) + min_size(e->method_len, ACCESS_FIELD_MAX) +
      min_size(e->target_len, ACCESS_TARGET_MAX) + min_size(protocol_len, ACCESS_FIELD_MAX) +
      min_size(e->host_len, ACCESS_HOST_MAX) + min_size(e->referer_len, ACCESS_REFERER_MAX) +
      min_size(e->user_agent_len, ACCESS_AGENT_MAX) + min_size(module_len, ACCESS_FIELD_MAX);
  return TIME_LEN + 6 * text + 8 * 3 + 3 * 21 + 256;
}

/* Appends s (at most max bytes, then "...") with every byte that is not
 * printable ASCII, and '"' and '\', as \xHH. An empty field is "-". */
static char *put_escaped(char *p, const char *s, size_t len, size_t max) {
  static const char hex[] = "0123456789abcdef";
  if (len == 0) return *p++ = '-', p;
  for (size_t i = 0; i < min_size(len, max); i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
      *p++ = '\\', *p++ = 'x', *p++ = hex[ch >> 4], *p++ = hex[ch & 0xf];
    } else {
      *p++ = (char)ch;
    }
  }
  if (len > max) memcpy(p, "...", 3), p += 3;
  return p;
}

static char *put_quoted(char *p, const char *s, size_t len, size_t max) {
  *p++ = '"';
  p = put_escaped(p, s, len, max);
  *p++ = '"';
  return p;
}

/* A JSON string (at most max bytes, then "..."): '"' and '\' escaped, every
 * byte outside printable ASCII as \u00HH, so the line is ASCII whatever the
 * request held. An absent field is null. */
static char *put_json(char *p, const char *name, const char *s, size_t len, size_t max) {
  static const char hex[] = "0123456789abcdef";
  p += sprintf(p, ",\"%s\":", name);
  if (!s || len == 0) return memcpy(p, "null", 4), p + 4;
  *p++ = '"';
  for (size_t i = 0; i < min_size(len, max); i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') {
      *p++ = '\\', *p++ = (char)ch;
    } else if (ch < 0x20 || ch >= 0x7f) {
      memcpy(p, "\\u00", 4), p += 4;
      *p++ = hex[ch >> 4], *p++ = hex[ch & 0xf];
    } else {
      *p++ = (char)ch;
    }
  }
  if (len > max) memcpy(p, "...", 3), p += 3;
  *p++ = '"';
  return p;
}

static size_t cstr_len(const char *s) { return s ? strlen(s) : 0; }

/* "secs.usecs" of a duration. */
static char *put_duration(char *p, uint64_t ns) {
  uint64_t secs = ns / 1000000000u, usecs = ns % 1000000000u / 1000u;
  return p + sprintf(p, "%" PRIu64 ".%06" PRIu64, secs, usecs);
}

/* iridium: TIME PEER "METHOD TARGET" STATUS BYTES DURATION PROTOCOL "HOST"
 * "REFERER" "USER-AGENT" MODULE */
static char *format_iridium(char *p, const irh_access_entry *e) {
  const char *protocol = e->protocol ? e->protocol : "";
  p += format_time(p);
  *p++ = ' ';
  p = put_escaped(p, e->peer, e->peer_len, ACCESS_FIELD_MAX);
  *p++ = ' ', *p++ = '"';
  p = put_escaped(p, e->method, e->method_len, ACCESS_FIELD_MAX);
  *p++ = ' ';
  p = put_escaped(p, e->target, e->target_len, ACCESS_TARGET_MAX);
  *p++ = '"';
  p += sprintf(p, " %03d %" PRIu64 " ", e->status, e->body_bytes);
  p = put_duration(p, e->duration_ns);
  *p++ = ' ';
  p = put_escaped(p, protocol, strlen(protocol), ACCESS_FIELD_MAX);
  *p++ = ' ';
  p = put_quoted(p, e->host, e->host_len, ACCESS_HOST_MAX);
  *p++ = ' ';
  p = put_quoted(p, e->referer, e->referer_len, ACCESS_REFERER_MAX);
  *p++ = ' ';
  p = put_quoted(p, e->user_agent, e->user_agent_len, ACCESS_AGENT_MAX);
  *p++ = ' ';
  return put_escaped(p, e->module, cstr_len(e->module), ACCESS_FIELD_MAX);
}

/* combined (Apache's and nginx's): ADDRESS - - [DD/Mon/YYYY:HH:MM:SS +0000]
 * "METHOD TARGET PROTOCOL" STATUS BYTES "REFERER" "USER-AGENT"; the
 * address without its port, as $remote_addr. */
static char *format_combined(char *p, const irh_access_entry *e) {
  const char *addr = e->peer;
  size_t alen = e->peer_len;
  if (alen && addr[0] == '[') { /* "[::1]:5000" */
    const char *close = memchr(addr, ']', alen);
    if (close) alen = (size_t)(close - addr) - 1, addr++;
  } else if (alen) {
    const char *colon = memrchr(addr, ':', alen);
    if (colon) alen = (size_t)(colon - addr);
  }
  p = put_escaped(p, addr, alen, ACCESS_FIELD_MAX);
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  p += strftime(p, 40, " - - [%d/%b/%Y:%H:%M:%S +0000] \"", &tm);
  p = put_escaped(p, e->method, e->method_len, ACCESS_FIELD_MAX);
  *p++ = ' ';
  p = put_escaped(p, e->target, e->target_len, ACCESS_TARGET_MAX);
  *p++ = ' ';
  p = put_escaped(p, e->protocol, cstr_len(e->protocol), ACCESS_FIELD_MAX);
  p += sprintf(p, "\" %03d %" PRIu64 " ", e->status, e->body_bytes);
  p = put_quoted(p, e->referer, e->referer_len, ACCESS_REFERER_MAX);
  *p++ = ' ';
  return put_quoted(p, e->user_agent, e->user_agent_len, ACCESS_AGENT_MAX);
}

/* json: one object per line, the names as in log.h. */
static char *format_json(char *p, const irh_access_entry *e) {
  memcpy(p, "{\"time\":\"", 9), p += 9;
  p += format_time(p);
  *p++ = '"';
  p = put_json(p, "client", e->peer, e->peer_len, ACCESS_FIELD_MAX);
  p = put_json(p, "method", e->method, e->method_len, ACCESS_FIELD_MAX);
  p = put_json(p, "target", e->target, e->target_len, ACCESS_TARGET_MAX);
  p = put_json(p, "protocol", e->protocol, cstr_len(e->protocol), ACCESS_FIELD_MAX);
  p += sprintf(p, ",\"status\":%d,\"bytes\":%" PRIu64 ",\"duration\":", e->status, e->body_bytes);
  p = put_duration(p, e->duration_ns);
  p = put_json(p, "host", e->host, e->host_len, ACCESS_HOST_MAX);
  p = put_json(p, "referer", e->referer, e->referer_len, ACCESS_REFERER_MAX);
  p = put_json(p, "user_agent", e->user_agent, e->user_agent_len, ACCESS_AGENT_MAX);
  p = put_json(p, "module", e->module, cstr_len(e->module), ACCESS_FIELD_MAX);
  *p++ = '}';
  return p;
}

/* Writes e's line at p (room for access_line_bound(e) bytes); returns its
 * length. */
static size_t format_access_line(char *p, const irh_access_entry *e) {
  char *start = p;
  switch (atomic_load_explicit(&access_format, memory_order_relaxed)) {
  case IRH_ACCESS_COMBINED: p = format_combined(p, e); break;
  case IRH_ACCESS_JSON: p = format_json(p, e); break;
  default: p = format_iridium(p, e); break;
  }
  *p++ = '\n';
  return (size_t)(p - start);
}

/* Makes room for need more bytes. -1 when out of memory. */
static int access_reserve(irh_access_buf *b, size_t need) {
  if (b->cap - b->len >= need) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap - b->len < need) cap *= 2;
  char *grown = realloc(b->data, cap);
  if (!grown) return -1;
  b->data = grown;
  b->cap = cap;
  return 0;
}

void irh_access_log(irh_access_buf *b, const irh_access_entry *e) {
  if (!irh_access_log_enabled()) return;
  size_t need = access_line_bound(e);
  if (b->len > 0 && b->len + need > ACCESS_FLUSH_AT) irh_access_flush(b);
  if (access_reserve(b, need) != 0) return; /* out of memory: the line is lost */
  b->len += format_access_line(b->data + b->len, e);
}

void irh_access_flush(irh_access_buf *b) {
  int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);
  if (fd >= 0 && b->len > 0) write_all(fd, b->data, b->len);
  b->len = 0;
}

void irh_access_buf_free(irh_access_buf *b) {
  free(b->data);
  *b = (irh_access_buf){0};
}
