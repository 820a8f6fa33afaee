/* entry.c — what the module knows about one path under a root: whether it
 * is a file, a directory (and which index file it serves) or an error,
 * and for a file its representations: the file itself and its
 * precompressed variants, each opened and stat'ed, with its ETag and
 * Last-Modified already formatted, and its bytes in memory when small.
 *
 * An entry is built by st_entry_load, which can run in two modes. On the
 * loop it must never wait for the disk: every lookup uses RESOLVE_CACHED
 * and small files are read with RWF_NOWAIT, and the first step that would
 * block gives up with -EAGAIN. The caller then runs the same function on
 * the thread pool, where waiting is fine. Entries are reference counted
 * (the cache holds one reference, each request that uses one another) and
 * are only touched by one thread at a time: the pool thread that built one
 * hands it over to the loop in the work's done callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "static.h"

/* Opens the path for reading: O_NONBLOCK so that a FIFO cannot hold the
 * thread (it is refused once fstat shows what it is). */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* Variant suffixes inside the ETag: "...-br". */
static const char *const etag_suffixes[ST_NREPS] = {NULL, "br", "zst", "gz"};

uint64_t st_hash(const char *key, size_t len) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
  return h;
}

static void rep_clear(st_rep *r) {
  if (r->fd >= 0) close(r->fd);
  free(r->bytes);
  memset(r, 0, sizeof(*r));
  r->fd = -1;
}

static void entry_free(st_entry *e) {
  for (int k = 0; k < ST_NREPS; k++) rep_clear(&e->reps[k]);
  free(e->key);
  free(e);
}

void st_entry_ref(st_entry *e) { e->refs++; }

void st_entry_unref(st_entry *e) {
  if (e && --e->refs == 0) entry_free(e);
}

static st_entry *entry_new(const char *rel, size_t len) {
  st_entry *e = calloc(1, sizeof(*e));
  if (!e) return NULL;
  e->key = malloc(len + 1);
  if (!e->key) {
    free(e);
    return NULL;
  }
  memcpy(e->key, rel, len);
  e->key[len] = '\0';
  e->key_len = len;
  e->hash = st_hash(rel, len);
  e->refs = 1;
  for (int k = 0; k < ST_NREPS; k++) e->reps[k].fd = -1;
  return e;
}

/* Makes e an error entry (dropping any representation it had). */
static void entry_fail(st_entry *e, int err) {
  for (int k = 0; k < ST_NREPS; k++) rep_clear(&e->reps[k]);
  e->kind = ST_ENTRY_ERROR;
  e->err = err == ENXIO || err == ENODEV ? ST_ENOTREG : err; /* a socket or a device */
  e->available = 0;
  e->index = NULL;
}

/* Reads size bytes from the start of fd. -EAGAIN when nowait and the data
 * is not in the page cache; -ENODATA when the file turned out shorter. */
static int read_all(int fd, uint8_t *buf, uint64_t size, int nowait) {
  uint64_t done = 0;
  while (done < size) {
    struct iovec iov = {buf + done, (size_t)(size - done)};
    ssize_t n = preadv2(fd, &iov, 1, (off_t)done, nowait ? RWF_NOWAIT : 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (nowait && (errno == EAGAIN || errno == EOPNOTSUPP)) return -EAGAIN;
      return -errno;
    }
    if (n == 0) return -ENODATA;
    done += (uint64_t)n;
  }
  return 0;
}

/* Fills r from the open regular file fd (taken over: kept or closed).
 * Returns 0, -EAGAIN, -ENOMEM or -errno of a failed read. */
static int rep_fill(st_rep *r, int fd, const struct stat *st, int kind, const st_conf *c,
                    int nowait) {
  r->present = 1;
  r->size = (uint64_t)st->st_size;
  r->mtime_sec = (int64_t)st->st_mtim.tv_sec;
  r->mtime_nsec = st->st_mtim.tv_nsec;
  r->ino = (uint64_t)st->st_ino;
  r->dev = (uint64_t)st->st_dev;
  r->last_modified = r->mtime_sec;
  uint64_t mtime_ns = (uint64_t)r->mtime_sec * 1000000000u + (uint64_t)r->mtime_nsec;
  r->etag_len = st_etag_format(r->etag, r->size, mtime_ns, r->ino, etag_suffixes[kind]);
  st_http_date_format(r->date, r->last_modified);
  if (r->size <= c->max_bytes) {
    r->bytes = malloc(r->size ? (size_t)r->size : 1);
    if (!r->bytes) {
      close(fd);
      return -ENOMEM;
    }
    int rc = read_all(fd, r->bytes, r->size, nowait);
    if (rc == 0) { /* the bytes are all a response needs */
      close(fd);
      return 0;
    }
    free(r->bytes);
    r->bytes = NULL;
    if (rc != -ENODATA) { /* a file that shrank is sent from its fd (and reset if short) */
      close(fd);
      return rc;
    }
  }
  /* The fd goes to ir_resp_send_file: blocking reads there. */
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  r->fd = fd;
  return 0;
}

/* Opens path under the root and fstat's it. 0 with *fd, or -errno. */
static int open_stat(const st_conf *c, const char *path, int nowait, int *fd, struct stat *st) {
  int f = st_root_open(&c->root, path, OPEN_FLAGS, nowait);
  if (f < 0) return f;
  if (fstat(f, st) != 0) {
    int err = errno;
    close(f);
    return -err;
  }
  *fd = f;
  return 0;
}

/* The file (fd, st: taken over) at path (a buffer with room for a ".zst"
 * after path_len) and its variants. */
static int load_file(const st_conf *c, st_entry *e, char *path, size_t path_len, int fd,
                     const struct stat *st, int nowait) {
  int rc = rep_fill(&e->reps[0], fd, st, ST_REP_IDENTITY, c, nowait);
  if (rc != 0) return rc;
  e->available = 1u << ST_REP_IDENTITY;
  e->mime = st_mime_lookup(c->mime, path, path_len);
  if (!c->precompressed || !e->mime->compressible) return 0;
  e->variants_checked = 1;
  for (int k = ST_REP_BR; k < ST_NREPS; k++) {
    strcpy(path + path_len, st_rep_file_suffix(k));
    struct stat vst;
    int vfd = -1;
    rc = open_stat(c, path, nowait, &vfd, &vst);
    if (rc == -EAGAIN && nowait) break;
    if (rc < 0) { /* absent, unreadable or leading out of the root: not a variant */
      rc = 0;
      continue;
    }
    if (!S_ISREG(vst.st_mode)) {
      close(vfd);
      continue;
    }
    rc = rep_fill(&e->reps[k], vfd, &vst, k, c, nowait);
    if (rc == -EAGAIN || rc == -ENOMEM) break;
    if (rc < 0) {
      rep_clear(&e->reps[k]);
      rc = 0;
      continue;
    }
    e->available |= 1u << k;
  }
  path[path_len] = '\0';
  return rc;
}

/* A directory's index: the first name of the list that is a regular file.
 * path holds the directory (path_len bytes, "" for the root). */
static int load_index(const st_conf *c, st_entry *e, char *path, size_t path_len, int nowait) {
  for (size_t i = 0; i < c->nindex; i++) {
    size_t n = strlen(c->index[i]);
    size_t at = path_len ? path_len + 1 : 0;
    if (at + n + 8 > PATH_MAX) continue;
    if (path_len) path[path_len] = '/';
    memcpy(path + at, c->index[i], n + 1);
    struct stat st;
    int fd = -1;
    int rc = open_stat(c, path, nowait, &fd, &st);
    if (rc == -ENOENT || rc == -ENOTDIR) continue;
    if (rc < 0) return rc; /* unreadable index: refused, not listed instead */
    if (!S_ISREG(st.st_mode)) {
      close(fd);
      continue;
    }
    e->index = c->index[i];
    return load_file(c, e, path, at + n, fd, &st, nowait);
  }
  return 0;
}

int st_entry_load(const st_conf *c, const char *rel, size_t rel_len, int nowait, st_entry **out) {
  *out = NULL;
  st_entry *e = entry_new(rel, rel_len);
  if (!e) return -ENOMEM;
  if (rel_len > ST_REL_MAX) {
    entry_fail(e, ENAMETOOLONG);
    *out = e;
    return 0;
  }
  char path[PATH_MAX];
  memcpy(path, rel_len ? rel : ".", rel_len ? rel_len + 1 : 2);
  struct stat st;
  int fd = -1;
  int rc = open_stat(c, path, nowait, &fd, &st);
  if (rc == 0 && S_ISREG(st.st_mode)) {
    e->kind = ST_ENTRY_FILE;
    rc = load_file(c, e, path, rel_len, fd, &st, nowait);
  } else if (rc == 0 && S_ISDIR(st.st_mode)) {
    close(fd);
    e->kind = ST_ENTRY_DIR;
    e->dir_ino = (uint64_t)st.st_ino;
    e->dir_dev = (uint64_t)st.st_dev;
    e->dir_mtime_sec = (int64_t)st.st_mtim.tv_sec;
    e->dir_mtime_nsec = st.st_mtim.tv_nsec;
    rc = load_index(c, e, path, rel_len, nowait);
  } else if (rc == 0) {
    close(fd);
    rc = -ST_ENOTREG;
  }
  if ((rc == -EAGAIN && nowait) || rc == -ENOMEM) {
    entry_free(e);
    return rc;
  }
  if (rc < 0) entry_fail(e, -rc);
  *out = e;
  return 0;
}

/* fstatat shows the same regular file as r: inode, size and mtime. */
static int same_file(const st_conf *c, const char *path, const st_rep *r) {
  struct stat st;
  if (fstatat(c->root.fd, path, &st, 0) != 0 || !S_ISREG(st.st_mode)) return 0;
  return (uint64_t)st.st_ino == r->ino && (uint64_t)st.st_dev == r->dev &&
         (uint64_t)st.st_size == r->size && (int64_t)st.st_mtim.tv_sec == r->mtime_sec &&
         st.st_mtim.tv_nsec == r->mtime_nsec;
}

/* The file at path (path_len bytes in a buffer with room for a suffix)
 * and its variants look as they did. */
static int file_unchanged(const st_conf *c, const st_entry *e, char *path, size_t path_len) {
  if (!same_file(c, path, &e->reps[0])) return 0;
  if (!e->variants_checked) return 1;
  for (int k = ST_REP_BR; k < ST_NREPS; k++) {
    strcpy(path + path_len, st_rep_file_suffix(k));
    struct stat st;
    int same = e->reps[k].present ? same_file(c, path, &e->reps[k])
                                  : fstatat(c->root.fd, path, &st, 0) != 0;
    if (!same) return 0;
  }
  path[path_len] = '\0';
  return 1;
}

int st_entry_unchanged(const st_conf *c, const st_entry *e) {
  char path[PATH_MAX];
  if (e->key_len > ST_REL_MAX) return e->kind == ST_ENTRY_ERROR;
  memcpy(path, e->key_len ? e->key : ".", e->key_len ? e->key_len + 1 : 2);
  struct stat st;
  switch (e->kind) {
  case ST_ENTRY_FILE: return file_unchanged(c, e, path, e->key_len);
  case ST_ENTRY_DIR: {
    /* Adding or removing an index name changes the directory's mtime. */
    if (fstatat(c->root.fd, path, &st, 0) != 0 || !S_ISDIR(st.st_mode) ||
        (uint64_t)st.st_ino != e->dir_ino || (uint64_t)st.st_dev != e->dir_dev ||
        (int64_t)st.st_mtim.tv_sec != e->dir_mtime_sec || st.st_mtim.tv_nsec != e->dir_mtime_nsec)
      return 0;
    if (!e->index) return 1;
    size_t n = strlen(e->index);
    size_t at = e->key_len ? e->key_len + 1 : 0;
    if (e->key_len) path[e->key_len] = '/';
    memcpy(path + at, e->index, n + 1);
    return file_unchanged(c, e, path, at + n);
  }
  default: return fstatat(c->root.fd, path, &st, 0) != 0 && (errno == ENOENT || errno == ENOTDIR);
  }
}

int st_entry_cacheable(const st_entry *e) {
  return e->kind != ST_ENTRY_ERROR || e->err == ENOENT || e->err == ENOTDIR;
}
