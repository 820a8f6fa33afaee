/* static.h — the static-file module's internal interfaces, shared by its
 * files. Only static.c talks to the host (iridium.h); every other file is
 * plain C and POSIX, so that the unit tests (tests/unit/test_static_*.c)
 * build them without a host.
 *
 *   path.c      raw request path -> safe relative path; openat2 under the root
 *   mime.c      file name extension -> Content-Type
 *   http_cond.c ETag / HTTP-date formatting and parsing, preconditions, Range
 *   encoding.c  Accept-Encoding -> which precompressed variant to send
 *   entry.c     what the module knows about one path (opened, stat'ed,
 *               variants, small bytes) and how it rechecks it
 *   cache.c     the per-worker map of entries: bounded, least recently used
 *   listing.c   the HTML directory listing
 *   static.c    the descriptor, the INI keys and the request flow
 */
#ifndef IRIDIUM_MOD_STATIC_H
#define IRIDIUM_MOD_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <iridium/abi.h>

/* ---- path.c ---- */

/* Why a path was refused (all answered with 400). */
enum st_path_error {
  ST_PATH_OK = 0,
  ST_PATH_NOT_ABSOLUTE = -1,  /* does not start with '/' */
  ST_PATH_BAD_ESCAPE = -2,    /* '%' not followed by two hex digits */
  ST_PATH_NUL = -3,           /* a decoded NUL byte */
  ST_PATH_BACKSLASH = -4,     /* '\' raw or encoded */
  ST_PATH_ENCODED_SLASH = -5, /* %2F */
  ST_PATH_ABOVE_ROOT = -6     /* ".." past the root */
};

/* Decodes raw (the request path below the route prefix: "" or "/...")
 * once into out (room for raw_len + 1 bytes, caller-owned) and normalises
 * it: "." and empty segments dropped, ".." pops one. *out_len receives the
 * relative path's length (no leading '/', "" for the root, NUL-terminated);
 * *dir_hint is set when the last raw segment was empty, "." or "..", i.e.
 * the client named a directory. Returns ST_PATH_OK or an st_path_error. */
int st_path_normalise(const char *raw, size_t raw_len, char *out, size_t *out_len, int *dir_hint);
const char *st_path_strerror(int err);

/* openat2(dirfd, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, and
 * RESOLVE_CACHED when cached_only). Returns the fd or -errno (-EAGAIN when
 * cached_only and the lookup would need the disk). */
int st_openat(int dirfd, const char *path, int flags, int cached_only);

/* A served directory. */
typedef struct st_root {
  int fd;           /* O_PATH | O_DIRECTORY */
  const char *real; /* its canonical path (realpath), or NULL */
  size_t real_len;
} st_root;

/* Opens path (relative) under the root: st_openat, and when that fails with
 * EXDEV because an absolute symlink was met, a second way that accepts an
 * absolute symlink whose target is inside the root (see path.c). Anything
 * that leads out of the root gives -EXDEV. */
int st_root_open(const st_root *r, const char *path, int flags, int cached_only);

/* Percent-encodes in for a URL path: everything but ALPHA / DIGIT / "-._~"
 * and, when keep_slash, '/'. out needs 3 * len bytes; returns its length. */
size_t st_url_encode(char *out, const char *in, size_t len, int keep_slash);

/* Copies in for a log line, with bytes outside printable ASCII and '\'
 * written as \xHH. out needs 4 * len + 1 bytes; NUL-terminated. */
size_t st_log_escape(char *out, const char *in, size_t len);

/* ---- mime.c ---- */

typedef struct st_mime {
  const char *value; /* the Content-Type value, "; charset=utf-8" added where due */
  size_t value_len;
  unsigned compressible; /* not an already-compressed format: precompressed variants apply */
} st_mime;

typedef struct st_mime_table st_mime_table; /* malloc'd, owned by the instance */

/* The built-in table. NULL when out of memory. */
st_mime_table *st_mime_builtin(void);
/* Reads a mime.types file ("type ext ext ...", '#' comments). On failure
 * returns NULL and writes a message naming the file (and line) into err. */
st_mime_table *st_mime_load(const char *file, char *err, size_t err_len);
void st_mime_free(st_mime_table *t);
/* The type for a file name (only its last extension counts, any case);
 * application/octet-stream when unknown. Never NULL. */
const st_mime *st_mime_lookup(const st_mime_table *t, const char *name, size_t len);
/* Whether a media type gets "; charset=utf-8" / is worth compressing. */
int st_mime_wants_charset(const char *type, size_t len);
int st_mime_is_compressible(const char *type, size_t len);

/* ---- http_cond.c ---- */

#define ST_ETAG_MAX 24 /* '"', 11 digits, "-zst", '"' and NUL fit */
#define ST_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* A strong ETag from size, mtime (ns) and inode, mixed into 64 bits and
 * written as 11 base64url digits: "\"digits[-suffix]\"". Short, because
 * HTTP/2 sends it as a literal on every response. out needs ST_ETAG_MAX
 * bytes. Returns the length. */
size_t st_etag_format(char *out, uint64_t size, uint64_t mtime_ns, uint64_t ino,
                      const char *suffix);
/* IMF-fixdate; out needs ST_DATE_LEN + 1 bytes (NUL-terminated). */
size_t st_http_date_format(char *out, int64_t t);
/* Any of the three HTTP-date forms (RFC 9110 §5.6.7). 0 and *t on success,
 * -1 when s is not one. */
int st_http_date_parse(const char *s, size_t len, int64_t *t);

/* Whether a list of entity tags (If-Match, If-None-Match) names etag, or is
 * "*". weak: weak comparison (W/ ignored); else strong (a W/ tag never matches). */
int st_etag_list_match(ir_str list, ir_str etag, int weak);

/* The request fields of RFC 9110 §13.2.2's steps; ptr NULL when absent. */
typedef struct st_cond {
  ir_str if_match, if_unmodified_since, if_none_match, if_modified_since;
  int get_or_head;
} st_cond;

enum st_precondition { ST_PRE_PASS = 0, ST_PRE_NOT_MODIFIED = 304, ST_PRE_FAILED = 412 };

/* Evaluates the preconditions in §13.2.2's order for a representation with
 * this ETag and Last-Modified (seconds). Returns an st_precondition. */
int st_preconditions(const st_cond *c, ir_str etag, int64_t last_modified);

enum st_range_result { ST_RANGE_IGNORE = 0, ST_RANGE_PARTIAL = 206, ST_RANGE_UNSATISFIABLE = 416 };

/* A Range field for a representation of size bytes. One byte range gives
 * ST_RANGE_PARTIAL with [*first, *last]; a range past the end gives
 * ST_RANGE_UNSATISFIABLE; anything else (other units, bad syntax, several
 * ranges: the whole file is sent) gives ST_RANGE_IGNORE. */
int st_range_parse(ir_str value, uint64_t size, uint64_t *first, uint64_t *last);

/* If-Range: 1 when the range may be honoured (a strong ETag equal to etag,
 * or a date equal to last_modified), 0 when the whole file must be sent. */
int st_if_range_ok(ir_str value, ir_str etag, int64_t last_modified);

/* ---- encoding.c ---- */

/* Representations of one file: the file itself, then its variants in the
 * order of preference. */
enum st_rep_kind {
  ST_REP_IDENTITY = 0,
  ST_REP_BR = 1,
  ST_REP_ZSTD = 2,
  ST_REP_GZIP = 3,
  ST_NREPS = 4
};

/* For a variant kind: the file name suffix (".br"), the Content-Encoding
 * ("br") and the ETag suffix ("br"). NULL for ST_REP_IDENTITY. */
const char *st_rep_file_suffix(int kind);
const char *st_rep_coding(int kind);

/* The set (bit 1 << kind) of variant codings an Accept-Encoding value
 * accepts with q > 0. */
unsigned st_accept_encoding(ir_str value);
/* The preferred kind among available (bit 1 << kind) that accepted allows;
 * ST_REP_IDENTITY when none. */
int st_choose_rep(unsigned accepted, unsigned available);

/* ---- entry.c ---- */

/* One representation on disk. */
typedef struct st_rep {
  int present;
  int fd;         /* O_RDONLY, or -1 when bytes holds the whole file */
  uint8_t *bytes; /* malloc'd copy of a small file, or NULL */
  uint64_t size;
  int64_t mtime_sec;
  long mtime_nsec;
  uint64_t ino, dev;
  int64_t last_modified; /* = mtime_sec */
  char etag[ST_ETAG_MAX];
  size_t etag_len;
  char date[ST_DATE_LEN + 1]; /* Last-Modified, IMF-fixdate */
} st_rep;

enum st_entry_kind { ST_ENTRY_FILE = 1, ST_ENTRY_DIR = 2, ST_ENTRY_ERROR = 3 };

/* Not an errno: the path names something other than a regular file or a
 * directory (fifo, socket, device). */
#define ST_ENOTREG 100000

typedef struct st_entry {
  /* the cache's links (cache.c) */
  struct st_entry *hnext, *lru_prev, *lru_next;
  int cached;
  uint64_t expires_ms; /* monotonic */
  int refs;            /* the cache's + each request's; freed at 0 */

  uint64_t hash;
  char *key; /* the relative path, malloc'd, NUL-terminated */
  size_t key_len;

  int kind;
  int err; /* ST_ENTRY_ERROR: an errno or ST_ENOTREG */
  /* ST_ENTRY_DIR: the directory itself, and its index file (if any) */
  uint64_t dir_ino, dir_dev;
  int64_t dir_mtime_sec;
  long dir_mtime_nsec;
  const char *index; /* the index name that was found (instance-owned), or NULL */

  /* ST_ENTRY_FILE, or a DIR with an index: the file and its variants */
  const st_mime *mime;
  int variants_checked; /* precompressed applies to the type: variants were looked for */
  unsigned available;   /* bit 1 << kind for each present rep */
  st_rep reps[ST_NREPS];
} st_entry;

/* What entry.c needs from the instance's settings. */
typedef struct st_conf {
  st_root root;
  const char *const *index;
  size_t nindex;
  int precompressed;
  uint64_t max_bytes; /* files up to this keep their bytes */
  const st_mime_table *mime;
} st_conf;

/* Longest relative path the module looks up; longer ones are ENAMETOOLONG. */
#define ST_REL_MAX 3800

/* Looks rel (from st_path_normalise) up under the root and builds an entry
 * with one reference for the caller. With nowait, every step that could
 * wait for the disk is tried without waiting (RESOLVE_CACHED, RWF_NOWAIT)
 * and -EAGAIN is returned when one would: run it again without nowait on a
 * thread. Returns 0 (the entry may be of kind ST_ENTRY_ERROR), -EAGAIN or
 * -ENOMEM. Any thread. */
int st_entry_load(const st_conf *c, const char *rel, size_t rel_len, int nowait, st_entry **out);
/* Whether the files behind e still look the same (fstatat of the path, the
 * index and the variants: inode, size and mtime). 1 = unchanged. */
int st_entry_unchanged(const st_conf *c, const st_entry *e);
/* Whether e may live in the cache: files, directories and "not found". */
int st_entry_cacheable(const st_entry *e);
void st_entry_ref(st_entry *e);
void st_entry_unref(st_entry *e);
uint64_t st_hash(const char *key, size_t len);

/* ---- cache.c ---- */

typedef struct st_cache st_cache; /* one per (instance, worker); malloc'd */

st_cache *st_cache_new(size_t capacity);
/* Drops the cache's references; entries still used by requests live on. */
void st_cache_free(st_cache *c);
/* The entry for key (without taking a reference), made most recent; NULL. */
st_entry *st_cache_get(st_cache *c, const char *key, size_t len, uint64_t hash);
/* Adds e (taking a reference), replacing an entry with the same key and
 * evicting the least recently used one past the capacity. */
void st_cache_put(st_cache *c, st_entry *e);
/* Removes e (dropping the cache's reference). */
void st_cache_remove(st_cache *c, st_entry *e);
size_t st_cache_count(const st_cache *c);

/* ---- listing.c ---- */

/* Writes in with & < > " ' as entities. out needs 6 * len bytes. */
size_t st_html_escape(char *out, const char *in, size_t len);
/* Reads the directory rel under the root (blocking: call it on a thread)
 * and builds the HTML listing titled "Index of <title>": names sorted by
 * byte order, directories with a trailing '/', dotfiles and anything that
 * is neither a regular file nor a directory (or that leaves the root)
 * left out, a "../" link when parent. *html is malloc'd, the caller's,
 * and NUL-terminated after *html_len bytes.
 * Returns 0 or -errno. */
int st_listing_build(const st_root *root, const char *rel, size_t rel_len, const char *title,
                     size_t title_len, int parent, char **html, size_t *html_len);

#endif /* IRIDIUM_MOD_STATIC_H */
