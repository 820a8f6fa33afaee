/* path.c — from the request's raw path to a safe relative path, and the one
 * way the module opens anything under its root.
 *
 * st_path_normalise percent-decodes exactly once and refuses what a hostile
 * client uses to leave the root or to confuse a later layer: malformed
 * escapes, NUL, backslashes, an encoded '/', ".." above the root. What is
 * left is a relative path without "." , ".." or empty segments. st_openat
 * then opens it with openat2(RESOLVE_BENEATH), so that the kernel, not
 * string checks, keeps symlinks from leading outside the root; st_root_open
 * adds a careful second way for absolute symlinks that stay inside it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static.h"

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Ends the segment that starts at out[seg] (after its '/' separator, if
 * any) and runs to out[*len]: drops it when empty or ".", pops the one
 * before it for "..". */
static int end_segment(char *out, size_t *len, size_t seg) {
  size_t n = *len - seg;
  size_t before = seg ? seg - 1 : 0; /* where the segment's separator starts */
  if (n == 0 || (n == 1 && out[seg] == '.')) {
    *len = before;
    return ST_PATH_OK;
  }
  if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
    if (before == 0) return ST_PATH_ABOVE_ROOT;
    const char *slash = memrchr(out, '/', before);
    *len = slash ? (size_t)(slash - out) : 0;
  }
  return ST_PATH_OK;
}

static int is_dot_segment(const char *s, size_t n) {
  return n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

int st_path_normalise(const char *raw, size_t raw_len, char *out, size_t *out_len, int *dir_hint) {
  *out_len = 0;
  *dir_hint = 0;
  out[0] = '\0';
  if (raw_len == 0) return ST_PATH_OK; /* the root, named without its slash */
  if (raw[0] != '/') return ST_PATH_NOT_ABSOLUTE;
  size_t len = 0, seg = 0;
  int last_dot = 0; /* the last decoded segment was empty, "." or ".." */
  for (size_t i = 1; i <= raw_len; i++) {
    if (i == raw_len || raw[i] == '/') {
      last_dot = is_dot_segment(out + seg, len - seg);
      int rc = end_segment(out, &len, seg);
      if (rc != ST_PATH_OK) return rc;
      if (i == raw_len) break;
      if (len) out[len++] = '/';
      seg = len;
      continue;
    }
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw_len) return ST_PATH_BAD_ESCAPE;
      int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) return ST_PATH_BAD_ESCAPE;
      c = (char)(hi << 4 | lo);
      i += 2;
      if (c == '/') return ST_PATH_ENCODED_SLASH;
    }
    if (c == '\0') return ST_PATH_NUL;
    if (c == '\\') return ST_PATH_BACKSLASH;
    out[len++] = c;
  }
  out[len] = '\0';
  *out_len = len;
  *dir_hint = last_dot;
  return ST_PATH_OK;
}

const char *st_path_strerror(int err) {
  switch (err) {
  case ST_PATH_OK: return "ok";
  case ST_PATH_NOT_ABSOLUTE: return "path does not start with '/'";
  case ST_PATH_BAD_ESCAPE: return "malformed percent-escape";
  case ST_PATH_NUL: return "encoded NUL byte";
  case ST_PATH_BACKSLASH: return "backslash";
  case ST_PATH_ENCODED_SLASH: return "encoded slash (%2F)";
  case ST_PATH_ABOVE_ROOT: return "'..' above the root";
  default: return "bad path";
  }
}

int st_openat(int dirfd, const char *path, int flags, int cached_only) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(unsigned)flags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  if (cached_only) how.resolve |= RESOLVE_CACHED;
  long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  return fd < 0 ? -errno : (int)fd;
}

/* RESOLVE_BENEATH refuses every absolute symlink, even one that points
 * back into the root (/srv/www/a -> /srv/www/b). Such a path is resolved
 * a second time the ordinary way, with O_PATH, which opens nothing (no
 * device or FIFO is touched); the real path of what it found, read from
 * /proc/self/fd, must lie inside the root's real path. The file is then
 * opened beneath the root by that real path, which has no symlinks left,
 * and must be the very inode the first lookup found: a symlink swapped in
 * between the two lookups cannot lead out. Every failure is EXDEV but a
 * missing name, which st_root_open looks at once more. */
static int open_absolute_inside(const st_root *r, const char *path, int flags, int cached_only) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_NO_MAGICLINKS | (cached_only ? RESOLVE_CACHED : 0);
  int pfd = (int)syscall(SYS_openat2, r->fd, path, &how, sizeof how);
  if (pfd < 0) {
    int err = errno;
    if ((cached_only && err == EAGAIN) || err == ENOENT || err == ENOTDIR)
      return -err; /* a missing name: st_root_open decides between 404 and 403 */
    return -EXDEV;
  }
  char link[40], real[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
  ssize_t n = readlink(link, real, sizeof real - 1);
  int fd = -EXDEV;
  size_t rl = r->real_len;
  if (n > 0) {
    real[n] = '\0';
    const char *rel = NULL;
    if (rl == 1 && real[0] == '/') /* the root is "/" */
      rel = n > 1 ? real + 1 : ".";
    else if ((size_t)n == rl && memcmp(real, r->real, rl) == 0)
      rel = ".";
    else if ((size_t)n > rl && memcmp(real, r->real, rl) == 0 && real[rl] == '/')
      rel = real + rl + 1;
    if (rel) fd = st_openat(r->fd, rel, flags, cached_only);
  }
  struct stat a, b;
  if (fd >= 0 &&
      (fstat(pfd, &a) != 0 || fstat(fd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
    close(fd);
    fd = -EXDEV;
  }
  close(pfd);
  if (fd < 0 && fd != -EAGAIN) fd = -EXDEV;
  return fd;
}

/* How many folders up st_root_open looks for one that exists. */
#define MISSING_LOOKUPS 16

int st_root_open(const st_root *r, const char *path, int flags, int cached_only) {
  int fd = st_openat(r->fd, path, flags, cached_only);
  if (fd != -EXDEV || !r->real) return fd;
  fd = open_absolute_inside(r, path, flags, cached_only);
  if (fd != -ENOENT && fd != -ENOTDIR) return fd;
  /* The name is missing behind an absolute symlink. It is "not found"
   * (and an index or variant lookup goes on) only when the nearest folder
   * on its way that exists is inside the root; else it is outside: EXDEV,
   * so that nothing tells which names exist out there. */
  int missing = -fd;
  char dir[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof dir) return -EXDEV;
  memcpy(dir, path, len + 1);
  for (int i = 0; i < MISSING_LOOKUPS; i++) {
    char *slash = strrchr(dir, '/');
    if (!slash) return -missing; /* the folder is the root itself */
    *slash = '\0';
    int d = st_openat(r->fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, cached_only);
    if (d == -EXDEV)
      d = open_absolute_inside(r, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, cached_only);
    if (d >= 0) {
      close(d);
      return -missing;
    }
    if (d == -EAGAIN) return d;
    if (d != -ENOENT && d != -ENOTDIR) return -EXDEV;
  }
  return -EXDEV;
}

static int is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

size_t st_url_encode(char *out, const char *in, size_t len, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  return o;
}

size_t st_log_escape(char *out, const char *in, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
  return o;
}
