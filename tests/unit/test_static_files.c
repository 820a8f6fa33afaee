/* test_static_files.c — unit tests for modules/static/entry.c, cache.c and
 * listing.c against a real directory tree made in /tmp: what an entry
 * holds for files, variants, directories, symlinks in and out of the root
 * and special files; when a recheck sees a change; the cache's bound,
 * LRU order and reference counts; and the directory listing's order,
 * filtering and escaping. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "static.h"

static char base[64];  /* the temporary folder */
static char root[128]; /* base/root: what is served */
static st_conf conf;
static char *root_real; /* realpath(root) */
static st_mime_table *mime;
static const char *const index_names[] = {"index.htm", "index.html"};

static void put(const char *rel, const char *data, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, data, len) == (ssize_t)len);
  close(fd);
}

static void put_str(const char *rel, const char *data) { put(rel, data, strlen(data)); }

static void in_root(const char *rel, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", root, rel);
}

static void setup(void) {
  strcpy(base, "/tmp/test_static_files_XXXXXX");
  CHECK(mkdtemp(base) != NULL);
  snprintf(root, sizeof root, "%s/root", base);
  CHECK(mkdir(root, 0755) == 0);
  char path[512], outside[512];
  snprintf(outside, sizeof outside, "%s/outside.txt", base);
  int fd = open(outside, O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0 && write(fd, "secret\n", 7) == 7);
  close(fd);

  put_str("small.txt", "hello\n");
  static char big[200000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
  put("big.bin", big, sizeof big);
  put_str("style.css", "body { color: red }\n");
  put_str("style.css.gz", "GZ");
  put_str("style.css.br", "BR");
  put_str("image.png", "PNG");
  put_str("image.png.gz", "GZ");
  put_str(".hidden", "h");
  put_str("a b.txt", "space");
  put_str("<b>&\"x'.txt", "markup");
  put_str("empty.txt", "");
  in_root("dir", path, sizeof path);
  CHECK(mkdir(path, 0755) == 0);
  put_str("dir/index.html", "<h1>dir</h1>\n");
  in_root("empty", path, sizeof path);
  CHECK(mkdir(path, 0755) == 0);
  in_root("link-in", path, sizeof path);
  CHECK(symlink("small.txt", path) == 0);
  in_root("dir/link-up-in", path, sizeof path);
  CHECK(symlink("../small.txt", path) == 0);
  in_root("link-out", path, sizeof path);
  CHECK(symlink("../outside.txt", path) == 0);
  in_root("link-abs", path, sizeof path);
  CHECK(symlink(outside, path) == 0);
  char target[512];
  snprintf(target, sizeof target, "%s/small.txt", root);
  in_root("link-abs-in", path, sizeof path); /* absolute, but inside the root */
  CHECK(symlink(target, path) == 0);
  snprintf(target, sizeof target, "%s/dir", root);
  in_root("dirlink-abs-in", path, sizeof path);
  CHECK(symlink(target, path) == 0);
  in_root("rootlink-abs", path, sizeof path);
  CHECK(symlink(root, path) == 0);
  snprintf(target, sizeof target, "%sx", root); /* a sibling: the root's name is its prefix */
  CHECK(mkdir(target, 0755) == 0);
  snprintf(target, sizeof target, "%sx/f.txt", root);
  fd = open(target, O_WRONLY | O_CREAT, 0644);
  CHECK(fd >= 0 && write(fd, "sibling\n", 8) == 8);
  close(fd);
  in_root("link-abs-sibling", path, sizeof path);
  CHECK(symlink(target, path) == 0);
  snprintf(target, sizeof target, "%s/root/../outside.txt", base);
  in_root("link-abs-dotdot", path, sizeof path);
  CHECK(symlink(target, path) == 0);
  in_root("absdir-out", path, sizeof path); /* the folder above the root */
  CHECK(symlink(base, path) == 0);
  in_root("dangling", path, sizeof path);
  CHECK(symlink("nowhere", path) == 0);
  in_root("pipe", path, sizeof path);
  CHECK(mkfifo(path, 0644) == 0);

  conf.root.fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  CHECK(conf.root.fd >= 0);
  root_real = realpath(root, NULL);
  CHECK(root_real != NULL);
  conf.root.real = root_real;
  conf.root.real_len = strlen(root_real);
  conf.index = index_names;
  conf.nindex = 2;
  conf.precompressed = 1;
  conf.max_bytes = 65536;
  mime = st_mime_builtin();
  conf.mime = mime;
}

static st_entry *load(const char *rel) {
  st_entry *e = NULL;
  CHECK(st_entry_load(&conf, rel, strlen(rel), 0, &e) == 0 && e != NULL);
  CHECK(e->refs == 1 && strcmp(e->key, rel) == 0);
  return e;
}

static int load_err(const char *rel) {
  st_entry *e = load(rel);
  int err = e->kind == ST_ENTRY_ERROR ? e->err : 0;
  st_entry_unref(e);
  return err;
}

static void test_files(void) {
  st_entry *e = load("small.txt");
  CHECK(e->kind == ST_ENTRY_FILE && !e->index);
  CHECK(e->reps[0].present && e->reps[0].size == 6 && e->reps[0].fd < 0);
  CHECK(e->reps[0].bytes && memcmp(e->reps[0].bytes, "hello\n", 6) == 0);
  CHECK(e->reps[0].etag[0] == '"' && e->reps[0].etag[e->reps[0].etag_len - 1] == '"');
  CHECK(e->reps[0].etag_len == 13); /* '"', 11 digits, '"' */
  CHECK(strlen(e->reps[0].date) == ST_DATE_LEN);
  CHECK(strcmp(e->mime->value, "text/plain; charset=utf-8") == 0);
  CHECK(e->variants_checked && e->available == 1u);
  CHECK(st_entry_cacheable(e));
  /* the page cache is warm now: loading without waiting works, or asks for
   * the thread pool, never anything else */
  st_entry *again = NULL;
  int rc = st_entry_load(&conf, "small.txt", 9, 1, &again);
  CHECK(rc == 0 || rc == -EAGAIN);
  if (rc == 0) {
    CHECK(again->kind == ST_ENTRY_FILE && strcmp(again->reps[0].etag, e->reps[0].etag) == 0);
    st_entry_unref(again);
  }
  st_entry_unref(e);

  e = load("big.bin");
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 200000);
  CHECK(e->reps[0].fd >= 0 && !e->reps[0].bytes);
  CHECK((fcntl(e->reps[0].fd, F_GETFL) & O_NONBLOCK) == 0);
  st_entry_unref(e);

  e = load("empty.txt");
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 0 && e->reps[0].bytes);
  st_entry_unref(e);

  e = load("style.css");
  CHECK(e->variants_checked);
  CHECK(e->available == (1u | 1u << ST_REP_BR | 1u << ST_REP_GZIP));
  CHECK(e->reps[ST_REP_BR].size == 2 && memcmp(e->reps[ST_REP_BR].bytes, "BR", 2) == 0);
  CHECK(strstr(e->reps[ST_REP_BR].etag, "-br\"") != NULL);
  CHECK(strstr(e->reps[ST_REP_GZIP].etag, "-gz\"") != NULL);
  CHECK(strcmp(e->reps[ST_REP_BR].etag, e->reps[0].etag) != 0);
  CHECK(!e->reps[ST_REP_ZSTD].present);
  CHECK(strcmp(e->mime->value, "text/css; charset=utf-8") == 0);
  st_entry_unref(e);

  e = load("image.png"); /* compressed already: no variants looked for */
  CHECK(!e->variants_checked && e->available == 1u);
  st_entry_unref(e);

  conf.precompressed = 0;
  e = load("style.css");
  CHECK(!e->variants_checked && e->available == 1u);
  st_entry_unref(e);
  conf.precompressed = 1;

  e = load("link-in");
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 6);
  st_entry_unref(e);
  e = load("dir/link-up-in"); /* ".." that stays inside the root */
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 6);
  st_entry_unref(e);

  e = load("link-abs-in"); /* absolute symlinks that stay inside work */
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 6);
  st_entry_unref(e);
  e = load("dirlink-abs-in/index.html");
  CHECK(e->kind == ST_ENTRY_FILE && e->reps[0].size == 13);
  st_entry_unref(e);
  e = load("dirlink-abs-in");
  CHECK(e->kind == ST_ENTRY_DIR && e->index);
  st_entry_unref(e);
  e = load("rootlink-abs/small.txt");
  CHECK(e->kind == ST_ENTRY_FILE);
  st_entry_unref(e);
  CHECK(load_err("dirlink-abs-in/missing.html") == ENOENT); /* missing, inside */
  CHECK(load_err("dirlink-abs-in/a/b/c/missing.html") == ENOENT);
  CHECK(load_err("absdir-out/outside.txt") == EXDEV);
  CHECK(load_err("absdir-out/missing.txt") == EXDEV); /* says nothing about outside names */
  CHECK(load_err("absdir-out/a/b/missing.txt") == EXDEV);
  CHECK(load_err("absdir-out/root/small.txt") == 0); /* out and back in: the same file */
  CHECK(load_err("link-abs-sibling") == EXDEV);
  CHECK(load_err("link-abs-dotdot") == EXDEV);
  conf.root.real = NULL; /* without the root's real path: only RESOLVE_BENEATH */
  CHECK(load_err("link-abs-in") == EXDEV);
  conf.root.real = root_real;

  CHECK(load_err("link-out") == EXDEV);
  CHECK(load_err("link-abs") == EXDEV);
  CHECK(load_err("dangling") == ENOENT);
  CHECK(load_err("missing.txt") == ENOENT);
  CHECK(load_err("small.txt/x") == ENOTDIR);
  CHECK(load_err("pipe") == ST_ENOTREG);
  char longname[ST_REL_MAX + 10];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  CHECK(load_err(longname) == ENAMETOOLONG);

  e = load("link-out");
  CHECK(!st_entry_cacheable(e));
  st_entry_unref(e);
  e = load("missing.txt");
  CHECK(st_entry_cacheable(e)); /* "not found" is cached briefly */
  st_entry_unref(e);
}

static void test_dirs(void) {
  st_entry *e = load("dir");
  CHECK(e->kind == ST_ENTRY_DIR && e->index && strcmp(e->index, "index.html") == 0);
  CHECK(e->reps[0].present && e->reps[0].size == 13);
  CHECK(strcmp(e->mime->value, "text/html; charset=utf-8") == 0);
  st_entry_unref(e);

  e = load("");
  CHECK(e->kind == ST_ENTRY_DIR && !e->index && strcmp(e->key, "") == 0);
  st_entry_unref(e);

  e = load("empty");
  CHECK(e->kind == ST_ENTRY_DIR && !e->index);
  CHECK(st_entry_unchanged(&conf, e));
  /* an index that appears changes the directory: the recheck sees it */
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  put_str("empty/index.htm", "first");
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);
  e = load("empty");
  CHECK(e->index && strcmp(e->index, "index.htm") == 0); /* the list's order */
  CHECK(st_entry_unchanged(&conf, e));
  st_entry_unref(e);

  /* an index name that is a directory is skipped */
  char path[512];
  in_root("empty/sub", path, sizeof path);
  CHECK(mkdir(path, 0755) == 0);
  in_root("empty/sub/index.htm", path, sizeof path);
  CHECK(mkdir(path, 0755) == 0);
  put_str("empty/sub/index.html", "second");
  e = load("empty/sub");
  CHECK(e->index && strcmp(e->index, "index.html") == 0);
  st_entry_unref(e);
}

static void test_recheck(void) {
  st_entry *e = load("small.txt");
  CHECK(st_entry_unchanged(&conf, e));
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  put_str("small.txt", "HELLO\n"); /* same size, new mtime */
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);

  e = load("style.css");
  CHECK(st_entry_unchanged(&conf, e));
  put_str("style.css.zst", "ZS"); /* a variant that appears */
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);
  e = load("style.css");
  CHECK(e->available & (1u << ST_REP_ZSTD));
  CHECK(st_entry_unchanged(&conf, e));
  char path[512];
  in_root("style.css.zst", path, sizeof path);
  CHECK(unlink(path) == 0); /* and disappears */
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);

  e = load("new.txt");
  CHECK(e->kind == ST_ENTRY_ERROR && st_entry_unchanged(&conf, e));
  put_str("new.txt", "now");
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);

  /* replaced by rename: another inode */
  e = load("new.txt");
  put_str("new.tmp", "now");
  char from[512], to[512];
  in_root("new.tmp", from, sizeof from);
  in_root("new.txt", to, sizeof to);
  CHECK(rename(from, to) == 0);
  CHECK(!st_entry_unchanged(&conf, e));
  st_entry_unref(e);
}

static void test_cache(void) {
  st_cache *c = st_cache_new(2);
  CHECK(c != NULL);
  st_entry *a = load("small.txt"), *b = load("big.bin"), *d = load("dir");
  st_cache_put(c, a);
  st_cache_put(c, b);
  CHECK(a->refs == 2 && b->refs == 2 && st_cache_count(c) == 2);
  CHECK(st_cache_get(c, "small.txt", 9, st_hash("small.txt", 9)) == a); /* a is recent now */
  CHECK(st_cache_get(c, "nope", 4, st_hash("nope", 4)) == NULL);
  st_cache_put(c, d); /* evicts b, the least recently used */
  CHECK(st_cache_count(c) == 2 && b->refs == 1 && !b->cached);
  CHECK(st_cache_get(c, "big.bin", 7, st_hash("big.bin", 7)) == NULL);
  CHECK(st_cache_get(c, "dir", 3, st_hash("dir", 3)) == d);

  /* the same key again replaces the old entry */
  st_entry *a2 = load("small.txt");
  st_cache_put(c, a2);
  CHECK(st_cache_count(c) == 2 && a->refs == 1 && a2->refs == 2);
  CHECK(st_cache_get(c, "small.txt", 9, st_hash("small.txt", 9)) == a2);

  /* a request's reference outlives removal */
  st_entry_ref(d); /* a request's: load + cache + request */
  st_cache_remove(c, d);
  CHECK(d->refs == 2 && st_cache_count(c) == 1 && !d->cached);
  st_entry_unref(d);
  CHECK(d->kind == ST_ENTRY_DIR); /* still valid: the load's reference */

  st_cache_free(c);
  CHECK(a2->refs == 1);
  st_entry_unref(a);
  st_entry_unref(a2);
  st_entry_unref(b);
  st_entry_unref(d);

  /* a large cache: many entries, all found */
  c = st_cache_new(5000);
  for (int i = 0; i < 6000; i++) {
    char key[32];
    snprintf(key, sizeof key, "missing-%d", i);
    st_entry *e = load(key);
    st_cache_put(c, e);
    st_entry_unref(e);
  }
  CHECK(st_cache_count(c) == 5000);
  CHECK(st_cache_get(c, "missing-999", 11, st_hash("missing-999", 11)) == NULL);
  CHECK(st_cache_get(c, "missing-1000", 12, st_hash("missing-1000", 12)) != NULL);
  CHECK(st_cache_get(c, "missing-5999", 12, st_hash("missing-5999", 12)) != NULL);
  st_cache_free(c);
}

static void test_listing(void) {
  char esc[64];
  size_t n = st_html_escape(esc, "<a href='x'>&\"", 14);
  CHECK(n == strlen("&lt;a href=&#39;x&#39;&gt;&amp;&quot;"));
  CHECK(memcmp(esc, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;", n) == 0);

  char *html = NULL;
  size_t len = 0;
  CHECK(st_listing_build(&conf.root, "", 0, "/<root>/", 8, 0, &html, &len) == 0);
  CHECK(html && len == strlen(html));
  CHECK(strstr(html, "<title>Index of /&lt;root&gt;/</title>") != NULL);
  CHECK(strstr(html, "href=\"../\"") == NULL); /* the root has no parent link */
  CHECK(strstr(html, ">dir/</a>") != NULL && strstr(html, "href=\"dir/\"") != NULL);
  CHECK(strstr(html, "href=\"a%20b.txt\">a b.txt</a>") != NULL);
  CHECK(strstr(html, "href=\"%3Cb%3E%26%22x%27.txt\">&lt;b&gt;&amp;&quot;x&#39;.txt</a>"));
  CHECK(strstr(html, "link-in") != NULL); /* a symlink inside the root */
  CHECK(strstr(html, ">link-abs-in<") != NULL && strstr(html, ">dirlink-abs-in/<") != NULL);
  CHECK(strstr(html, "link-abs-sibling") == NULL && strstr(html, "link-abs-dotdot") == NULL);
  CHECK(strstr(html, ".hidden") == NULL);  /* dotfiles are left out */
  CHECK(strstr(html, "link-out") == NULL); /* leads out of the root */
  CHECK(strstr(html, ">link-abs<") == NULL);
  CHECK(strstr(html, "dangling") == NULL);
  CHECK(strstr(html, "pipe") == NULL); /* not a file */
  /* sorted by byte order */
  const char *order[] = {">&lt;b&gt;",  ">a b.txt<", ">big.bin<",   ">dir/<",     ">empty/<",
                         ">image.png<", ">link-in<", ">small.txt<", ">style.css<"};
  const char *prev = html;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    const char *at = strstr(html, order[i]);
    CHECK(at != NULL && at > prev);
    prev = at;
  }
  free(html);

  CHECK(st_listing_build(&conf.root, "dir", 3, "/dir/", 5, 1, &html, &len) == 0);
  CHECK(strstr(html, "href=\"../\"") != NULL && strstr(html, ">index.html<") != NULL);
  CHECK(strstr(html, ">link-up-in<") != NULL);
  free(html);

  CHECK(st_listing_build(&conf.root, "nope", 4, "/nope/", 6, 1, &html, &len) == -ENOENT);
  CHECK(st_listing_build(&conf.root, "small.txt", 9, "/x/", 3, 1, &html, &len) == -ENOTDIR);
}

static void cleanup(void) {
  st_mime_free(mime);
  close(conf.root.fd);
  free(root_real);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  CHECK(system(cmd) == 0);
}

int main(void) {
  setup();
  test_files();
  test_dirs();
  test_recheck();
  test_cache();
  test_listing();
  cleanup();
  puts("test_static_files: all passed");
  return 0;
}
