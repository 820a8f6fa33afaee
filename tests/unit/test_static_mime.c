/* test_static_mime.c — unit tests for modules/static/mime.c: the built-in
 * table, charset and compressibility rules, reading a mime.types file
 * (comments, later lines win, a malformed line named by number, a missing
 * file), and the shipped conf/mime.types. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "static.h"

static const char *type_of(const st_mime_table *t, const char *name) {
  return st_mime_lookup(t, name, strlen(name))->value;
}

static void test_builtin(void) {
  st_mime_table *t = st_mime_builtin();
  CHECK(t != NULL);
  CHECK(strcmp(type_of(t, "index.html"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "a/b/INDEX.HTM"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "app.js"), "text/javascript; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "data.json"), "application/json; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "logo.svg"), "image/svg+xml; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "photo.JPG"), "image/jpeg") == 0);
  CHECK(strcmp(type_of(t, "font.woff2"), "font/woff2") == 0);
  CHECK(strcmp(type_of(t, "mod.wasm"), "application/wasm") == 0);
  CHECK(strcmp(type_of(t, "archive.tar.gz"), "application/gzip") == 0);
  CHECK(strcmp(type_of(t, "README"), "application/octet-stream") == 0);
  CHECK(strcmp(type_of(t, "dir.d/README"), "application/octet-stream") == 0);
  CHECK(strcmp(type_of(t, "trailing."), "application/octet-stream") == 0);
  CHECK(strcmp(type_of(t, ".bashrc"), "application/octet-stream") == 0);
  CHECK(strcmp(type_of(t, "x.unknownext"), "application/octet-stream") == 0);

  CHECK(st_mime_lookup(t, "a.css", 5)->compressible);
  CHECK(st_mime_lookup(t, "a.svg", 5)->compressible);
  CHECK(st_mime_lookup(t, "a.bin", 5)->compressible);
  CHECK(!st_mime_lookup(t, "a.png", 5)->compressible);
  CHECK(!st_mime_lookup(t, "a.gz", 4)->compressible);
  CHECK(!st_mime_lookup(t, "a.mp4", 5)->compressible);
  CHECK(!st_mime_lookup(t, "a.woff2", 7)->compressible);
  CHECK(!st_mime_lookup(t, "a.docx", 6)->compressible);
  st_mime_free(t);

  CHECK(st_mime_wants_charset("text/plain", 10));
  CHECK(st_mime_wants_charset("application/javascript", 22));
  CHECK(!st_mime_wants_charset("application/xml", 15));
  CHECK(!st_mime_wants_charset("image/png", 9));
  /* no table at all: the default */
  CHECK(strcmp(st_mime_lookup(NULL, "a.html", 6)->value, "application/octet-stream") == 0);
}

static char *write_temp(const char *text) {
  char *path = strdup("/tmp/test_static_mime_XXXXXX");
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  close(fd);
  return path;
}

static void test_file(void) {
  char err[256];
  char *path = write_temp("# comment\n"
                          "\n"
                          "text/html   html htm   # trailing comment\n"
                          "application/x-thing\tthing THING2\r\n"
                          "application/vnd.only-type\n"
                          "text/plain html\n" /* later wins */
                          "   image/png png\n");
  st_mime_table *t = st_mime_load(path, err, sizeof err);
  CHECK(t != NULL);
  CHECK(strcmp(type_of(t, "a.html"), "text/plain; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "a.htm"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "a.thing"), "application/x-thing") == 0);
  CHECK(strcmp(type_of(t, "a.thing2"), "application/x-thing") == 0);
  CHECK(strcmp(type_of(t, "a.png"), "image/png") == 0);
  CHECK(strcmp(type_of(t, "a.css"), "application/octet-stream") == 0); /* not built in */
  st_mime_free(t);
  unlink(path);
  free(path);

  path = write_temp("text/html html\nnot-a-type foo\n");
  CHECK(st_mime_load(path, err, sizeof err) == NULL);
  CHECK(strstr(err, ":2:") != NULL && strstr(err, path) != NULL);
  unlink(path);
  free(path);

  path = write_temp("types {\n  text/html html;\n}\n"); /* nginx's format */
  CHECK(st_mime_load(path, err, sizeof err) == NULL);
  CHECK(strstr(err, ":1:") != NULL);
  unlink(path);
  free(path);

  CHECK(st_mime_load("/nonexistent/mime.types", err, sizeof err) == NULL);
  CHECK(strstr(err, "/nonexistent/mime.types") != NULL &&
        strstr(err, "No such file or directory") != NULL);

  path = write_temp("");
  t = st_mime_load(path, err, sizeof err);
  CHECK(t != NULL && strcmp(type_of(t, "a.html"), "application/octet-stream") == 0);
  st_mime_free(t);
  unlink(path);
  free(path);
}

static void test_shipped(void) {
  char err[256];
  st_mime_table *t = st_mime_load(IRIDIUM_SOURCE_DIR "/conf/mime.types", err, sizeof err);
  if (!t) fprintf(stderr, "%s\n", err);
  CHECK(t != NULL);
  CHECK(strcmp(type_of(t, "index.html"), "text/html; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "style.css"), "text/css; charset=utf-8") == 0);
  CHECK(strcmp(type_of(t, "favicon.svg"), "image/svg+xml; charset=utf-8") == 0);
  st_mime_free(t);
}

int main(void) {
  test_builtin();
  test_file();
  test_shipped();
  puts("test_static_mime: all passed");
  return 0;
}
