/* listing.c — the HTML page `autoindex = on` answers for a directory
 * without an index file.
 *
 * It reads the directory (blocking: the caller runs it on the thread
 * pool), keeps what a client could fetch — regular files and directories,
 * including symlinks to them that stay inside the root — and leaves out
 * dotfiles, as nginx does. Names are sorted by byte order; a directory's
 * name ends with '/'. A name is HTML-escaped where it is shown and
 * percent-encoded where it is a link, so no file name can inject markup or
 * turn into a "javascript:" URL.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "static.h"

typedef struct item {
  char *name; /* malloc'd */
  size_t len;
  int is_dir;
  uint64_t size;
  int64_t mtime;
} item;

typedef struct buf {
  char *p;
  size_t len, cap;
  int failed;
} buf;

static char *buf_room(buf *b, size_t n) {
  if (b->failed) return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char *grown = realloc(b->p, cap);
    if (!grown) {
      b->failed = 1;
      return NULL;
    }
    b->p = grown;
    b->cap = cap;
  }
  return b->p + b->len;
}

static void buf_add(buf *b, const char *s, size_t n) {
  char *o = buf_room(b, n);
  if (!o) return;
  memcpy(o, s, n);
  b->len += n;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_escaped(buf *b, const char *s, size_t n) {
  char *o = buf_room(b, 6 * n);
  if (o) b->len += st_html_escape(o, s, n);
}

static void buf_encoded(buf *b, const char *s, size_t n) {
  char *o = buf_room(b, 3 * n);
  if (o) b->len += st_url_encode(o, s, n, 0);
}

size_t st_html_escape(char *out, const char *in, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    const char *rep = NULL;
    switch (in[i]) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default: out[o++] = in[i]; continue;
    }
    size_t n = strlen(rep);
    memcpy(out + o, rep, n);
    o += n;
  }
  return o;
}

static int item_order(const void *a, const void *b) {
  const item *x = a, *y = b;
  return strcmp(x->name, y->name);
}

/* What a directory entry is, as a client would find it: 1 with *st for a
 * regular file or directory, 0 to leave it out. Symlinks are followed the
 * way a request would be, under the root (rel is the directory). */
static int classify(const st_root *root, int dir_fd, const char *rel, size_t rel_len,
                    const struct dirent *d, struct stat *st) {
  if (d->d_type == DT_REG || d->d_type == DT_DIR) {
    if (fstatat(dir_fd, d->d_name, st, AT_SYMLINK_NOFOLLOW) != 0) return 0;
  } else if (d->d_type == DT_LNK || d->d_type == DT_UNKNOWN) {
    char path[PATH_MAX];
    int n =
        snprintf(path, sizeof path, "%.*s%s%s", (int)rel_len, rel, rel_len ? "/" : "", d->d_name);
    if (n < 0 || (size_t)n >= sizeof path) return 0;
    int fd = st_root_open(root, path, O_PATH | O_CLOEXEC, 0);
    if (fd < 0) return 0; /* dangling, or leading out of the root */
    int rc = fstat(fd, st);
    close(fd);
    if (rc != 0) return 0;
  } else {
    return 0;
  }
  return S_ISREG(st->st_mode) || S_ISDIR(st->st_mode);
}

static void free_items(item *items, size_t n) {
  for (size_t i = 0; i < n; i++) free(items[i].name);
  free(items);
}

/* Reads the directory into *items (malloc'd). 0 or -errno. */
static int read_items(const st_root *root, const char *rel, size_t rel_len, item **items,
                      size_t *count) {
  *items = NULL;
  *count = 0;
  int fd = st_root_open(root, rel_len ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int err = errno;
    close(fd);
    return -err;
  }
  size_t n = 0, cap = 0;
  item *list = NULL;
  int rc = 0;
  struct dirent *d;
  errno = 0;
  while ((d = readdir(dir)) != NULL) {
    struct stat st;
    if (d->d_name[0] == '.' || !classify(root, fd, rel, rel_len, d, &st)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      item *grown = realloc(list, cap * sizeof(*grown));
      if (!grown) {
        rc = -ENOMEM;
        break;
      }
      list = grown;
    }
    size_t len = strlen(d->d_name);
    char *name = strdup(d->d_name);
    if (!name) {
      rc = -ENOMEM;
      break;
    }
    list[n++] =
        (item){name, len, S_ISDIR(st.st_mode), (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec};
    errno = 0;
  }
  if (rc == 0 && errno != 0) rc = -errno;
  closedir(dir);
  if (rc != 0) {
    free_items(list, n);
    return rc;
  }
  if (n) qsort(list, n, sizeof(*list), item_order);
  *items = list;
  *count = n;
  return 0;
}

static void write_item(buf *b, const item *it) {
  buf_str(b, "<tr><td><a href=\"");
  buf_encoded(b, it->name, it->len);
  if (it->is_dir) buf_str(b, "/");
  buf_str(b, "\">");
  buf_escaped(b, it->name, it->len);
  if (it->is_dir) buf_str(b, "/");
  char date[ST_DATE_LEN + 1], size[32];
  st_http_date_format(date, it->mtime);
  if (it->is_dir)
    snprintf(size, sizeof size, "-");
  else
    snprintf(size, sizeof size, "%" PRIu64, it->size);
  buf_str(b, "</a></td><td>");
  buf_str(b, date);
  buf_str(b, "</td><td class=\"size\">");
  buf_str(b, size);
  buf_str(b, "</td></tr>\n");
}

int st_listing_build(const st_root *root, const char *rel, size_t rel_len, const char *title,
                     size_t title_len, int parent, char **html, size_t *html_len) {
  item *items;
  size_t n;
  int rc = read_items(root, rel, rel_len, &items, &n);
  if (rc != 0) return rc;
  buf b = {0};
  buf_str(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
  buf_escaped(&b, title, title_len);
  buf_str(&b, "</title>\n<style>body{font-family:sans-serif}td{padding:0 1em 0 0}"
              ".size{text-align:right}</style></head>\n<body><h1>Index of ");
  buf_escaped(&b, title, title_len);
  buf_str(&b, "</h1>\n<table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n");
  if (parent) buf_str(&b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
  for (size_t i = 0; i < n; i++) write_item(&b, &items[i]);
  buf_str(&b, "</table>\n</body></html>\n");
  buf_add(&b, "", 1); /* a NUL after the page, not counted */
  b.len--;
  free_items(items, n);
  if (b.failed) {
    free(b.p);
    return -ENOMEM;
  }
  *html = b.p;
  *html_len = b.len;
  return 0;
}
