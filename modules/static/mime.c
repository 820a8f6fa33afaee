/* mime.c — file name extension to Content-Type.
 *
 * A table is a sorted array of (extension, type) pairs searched with
 * bsearch; each distinct type is stored once with its full header value
 * ("; charset=utf-8" appended for text types) and whether compressing it is
 * worth it (precompressed variants are only looked for when it is). The
 * built-in table and one read from a mime.types file are built the same
 * way; a later line's extension replaces an earlier one's.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "static.h"

#define EXT_MAX 32 /* longer extensions are never looked up */

typedef struct st_mime_ext {
  char *ext;    /* lower case, malloc'd */
  size_t type;  /* index into types */
  size_t order; /* position in the source: later wins */
} st_mime_ext;

struct st_mime_table {
  st_mime_ext *exts;
  size_t nexts, cap_exts;
  st_mime *types; /* value is malloc'd */
  size_t ntypes, cap_types;
};

static const st_mime default_mime = {"application/octet-stream", 24, 1};

/* The built-in table: common types of a web site. */
static const char *const builtin[][2] = {
    {"text/html", "html htm shtml"},
    {"text/css", "css"},
    {"text/javascript", "js mjs cjs"},
    {"text/plain", "txt text log conf ini"},
    {"text/markdown", "md markdown"},
    {"text/csv", "csv"},
    {"text/xml", "xml xsl"},
    {"text/calendar", "ics"},
    {"text/vtt", "vtt"},
    {"application/json", "json map"},
    {"application/ld+json", "jsonld"},
    {"application/manifest+json", "webmanifest"},
    {"application/xhtml+xml", "xhtml"},
    {"application/atom+xml", "atom"},
    {"application/rss+xml", "rss"},
    {"application/wasm", "wasm"},
    {"application/pdf", "pdf"},
    {"application/zip", "zip"},
    {"application/gzip", "gz tgz"},
    {"application/x-bzip2", "bz2"},
    {"application/x-xz", "xz"},
    {"application/zstd", "zst"},
    {"application/x-brotli", "br"},
    {"application/x-tar", "tar"},
    {"application/x-7z-compressed", "7z"},
    {"application/vnd.rar", "rar"},
    {"application/octet-stream", "bin exe dll iso img dmg deb rpm"},
    {"application/rtf", "rtf"},
    {"application/msword", "doc"},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
    {"application/vnd.ms-excel", "xls"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"application/vnd.ms-powerpoint", "ppt"},
    {"application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"},
    {"application/vnd.oasis.opendocument.text", "odt"},
    {"application/epub+zip", "epub"},
    {"application/yaml", "yaml yml"},
    {"application/toml", "toml"},
    {"image/png", "png"},
    {"image/jpeg", "jpg jpeg jpe"},
    {"image/gif", "gif"},
    {"image/webp", "webp"},
    {"image/avif", "avif"},
    {"image/svg+xml", "svg svgz"},
    {"image/x-icon", "ico"},
    {"image/bmp", "bmp"},
    {"image/tiff", "tif tiff"},
    {"font/woff", "woff"},
    {"font/woff2", "woff2"},
    {"font/ttf", "ttf"},
    {"font/otf", "otf"},
    {"application/vnd.ms-fontobject", "eot"},
    {"audio/mpeg", "mp3"},
    {"audio/ogg", "ogg oga opus"},
    {"audio/wav", "wav"},
    {"audio/flac", "flac"},
    {"audio/aac", "aac"},
    {"audio/mp4", "m4a"},
    {"video/mp4", "mp4 m4v"},
    {"video/webm", "webm"},
    {"video/ogg", "ogv"},
    {"video/quicktime", "mov"},
    {"video/x-matroska", "mkv"},
    {"video/mp2t", "ts"},
    {"application/vnd.apple.mpegurl", "m3u8"},
    {"application/dash+xml", "mpd"},
};

static int type_is(const char *t, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len == n && strncasecmp(t, lit, n) == 0;
}

static int has_prefix(const char *t, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len >= n && strncasecmp(t, lit, n) == 0;
}

static int has_suffix(const char *t, size_t len, const char *lit) {
  size_t n = strlen(lit);
  return len >= n && strncasecmp(t + len - n, lit, n) == 0;
}

int st_mime_wants_charset(const char *t, size_t len) {
  return has_prefix(t, len, "text/") || type_is(t, len, "application/javascript") ||
         type_is(t, len, "application/json") || type_is(t, len, "image/svg+xml");
}

/* Formats that are compressed already gain nothing from a .br/.zst/.gz
 * beside them; everything else (text, JSON, SVG, fonts, unknown binary
 * data) may have variants. */
int st_mime_is_compressible(const char *t, size_t len) {
  static const char *const compressed[] = {
      "application/zip",      "application/gzip",
      "application/x-gzip",   "application/zstd",
      "application/x-bzip2",  "application/x-xz",
      "application/x-brotli", "application/x-7z-compressed",
      "application/vnd.rar",  "application/x-rar-compressed",
      "application/epub+zip", "font/woff",
      "font/woff2",
  };
  for (size_t i = 0; i < sizeof compressed / sizeof compressed[0]; i++)
    if (type_is(t, len, compressed[i])) return 0;
  if (has_prefix(t, len, "image/"))
    return type_is(t, len, "image/svg+xml") || type_is(t, len, "image/x-icon") ||
           type_is(t, len, "image/vnd.microsoft.icon") || type_is(t, len, "image/bmp") ||
           type_is(t, len, "image/tiff");
  if (has_prefix(t, len, "audio/") || has_prefix(t, len, "video/")) return 0;
  if (has_suffix(t, len, "+zip") || has_suffix(t, len, "document") ||
      has_suffix(t, len, ".sheet") || has_suffix(t, len, ".presentation"))
    return 0; /* office formats are zip files */
  return 1;
}

static st_mime_table *table_new(void) { return calloc(1, sizeof(st_mime_table)); }

void st_mime_free(st_mime_table *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nexts; i++) free(t->exts[i].ext);
  for (size_t i = 0; i < t->ntypes; i++) free((char *)t->types[i].value);
  free(t->exts);
  free(t->types);
  free(t);
}

/* The index of type in t->types, added when new; -1 when out of memory. */
static long table_type(st_mime_table *t, const char *type, size_t len) {
  for (size_t i = t->ntypes; i-- > 0;)
    if (strncmp(t->types[i].value, type, len) == 0 &&
        (t->types[i].value[len] == '\0' || t->types[i].value[len] == ';'))
      return (long)i;
  if (t->ntypes == t->cap_types) {
    size_t cap = t->cap_types ? 2 * t->cap_types : 32;
    st_mime *grown = realloc(t->types, cap * sizeof(*grown));
    if (!grown) return -1;
    t->types = grown;
    t->cap_types = cap;
  }
  int charset = st_mime_wants_charset(type, len);
  size_t vlen = len + (charset ? 15 : 0);
  char *value = malloc(vlen + 1);
  if (!value) return -1;
  memcpy(value, type, len);
  if (charset) memcpy(value + len, "; charset=utf-8", 15);
  value[vlen] = '\0';
  t->types[t->ntypes] = (st_mime){value, vlen, (unsigned)st_mime_is_compressible(type, len)};
  return (long)t->ntypes++;
}

static int table_add(st_mime_table *t, size_t type, const char *ext, size_t len) {
  if (len == 0 || len > EXT_MAX) return 0; /* never looked up */
  if (t->nexts == t->cap_exts) {
    size_t cap = t->cap_exts ? 2 * t->cap_exts : 64;
    st_mime_ext *grown = realloc(t->exts, cap * sizeof(*grown));
    if (!grown) return -1;
    t->exts = grown;
    t->cap_exts = cap;
  }
  char *e = malloc(len + 1);
  if (!e) return -1;
  for (size_t i = 0; i < len; i++) e[i] = (char)tolower((unsigned char)ext[i]);
  e[len] = '\0';
  t->exts[t->nexts] = (st_mime_ext){e, type, t->nexts};
  t->nexts++;
  return 0;
}

static int ext_order(const void *a, const void *b) {
  const st_mime_ext *x = a, *y = b;
  int c = strcmp(x->ext, y->ext);
  if (c) return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts by extension and keeps the last entry of each. */
static void table_finish(st_mime_table *t) {
  if (t->nexts == 0) return;
  qsort(t->exts, t->nexts, sizeof(t->exts[0]), ext_order);
  size_t o = 0;
  for (size_t i = 0; i < t->nexts; i++) {
    if (i + 1 < t->nexts && strcmp(t->exts[i].ext, t->exts[i + 1].ext) == 0) {
      free(t->exts[i].ext);
      continue;
    }
    t->exts[o++] = t->exts[i];
  }
  t->nexts = o;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Adds the blank-separated extensions of list to type. */
static int add_exts(st_mime_table *t, size_t type, const char *p, const char *end) {
  while (p < end) {
    while (p < end && is_blank(*p)) p++;
    const char *w = p;
    while (p < end && !is_blank(*p)) p++;
    if (p > w && table_add(t, type, w, (size_t)(p - w)) != 0) return -1;
  }
  return 0;
}

st_mime_table *st_mime_builtin(void) {
  st_mime_table *t = table_new();
  if (!t) return NULL;
  for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
    long type = table_type(t, builtin[i][0], strlen(builtin[i][0]));
    const char *exts = builtin[i][1];
    if (type < 0 || add_exts(t, (size_t)type, exts, exts + strlen(exts)) != 0) {
      st_mime_free(t);
      return NULL;
    }
  }
  table_finish(t);
  return t;
}

/* A media type: token "/" token. */
static int valid_type(const char *p, size_t len) {
  const char *slash = memchr(p, '/', len);
  if (!slash || slash == p || slash == p + len - 1) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '/' ? p + i != slash : !(isalnum(c) || strchr("!#$&-^_.+", c))) return 0;
  }
  return 1;
}

/* One line of a mime.types file: 0, -1 (out of memory) or 1 (malformed). */
static int parse_line(st_mime_table *t, char *line, size_t len) {
  char *hash = memchr(line, '#', len);
  if (hash) len = (size_t)(hash - line);
  const char *p = line, *end = line + len;
  while (p < end && is_blank(*p)) p++;
  if (p == end) return 0;
  const char *type = p;
  while (p < end && !is_blank(*p)) p++;
  size_t type_len = (size_t)(p - type);
  if (!valid_type(type, type_len)) return 1;
  long idx = table_type(t, type, type_len);
  if (idx < 0) return -1;
  return add_exts(t, (size_t)idx, p, end);
}

st_mime_table *st_mime_load(const char *file, char *err, size_t err_len) {
  FILE *f = fopen(file, "re");
  if (!f) {
    snprintf(err, err_len, "mime_types %s: %s", file, strerror(errno));
    return NULL;
  }
  st_mime_table *t = table_new();
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  ssize_t n;
  int rc = t ? 0 : -1;
  while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
    lineno++;
    rc = parse_line(t, line, (size_t)n);
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, err_len, "mime_types %s: %s", file, strerror(errno ? errno : EIO));
    rc = 2;
  } else if (rc == 1) {
    snprintf(err, err_len, "mime_types %s:%zu: not a media type (\"type ext ext ...\")", file,
             lineno);
  } else if (rc < 0) {
    snprintf(err, err_len, "mime_types %s: out of memory", file);
  }
  free(line);
  fclose(f);
  if (rc != 0) {
    st_mime_free(t);
    return NULL;
  }
  table_finish(t);
  return t;
}

static int ext_compare(const void *key, const void *elem) {
  return strcmp(key, ((const st_mime_ext *)elem)->ext);
}

const st_mime *st_mime_lookup(const st_mime_table *t, const char *name, size_t len) {
  const char *slash = memrchr(name, '/', len);
  if (slash) {
    len -= (size_t)(slash + 1 - name);
    name = slash + 1;
  }
  const char *dot = memrchr(name, '.', len);
  if (!dot || !t || t->nexts == 0) return &default_mime;
  size_t elen = len - (size_t)(dot + 1 - name);
  if (elen == 0 || elen > EXT_MAX) return &default_mime;
  char ext[EXT_MAX + 1];
  for (size_t i = 0; i < elen; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
  ext[elen] = '\0';
  const st_mime_ext *e = bsearch(ext, t->exts, t->nexts, sizeof(t->exts[0]), ext_compare);
  return e ? &t->types[e->type] : &default_mime;
}
