/* fuzz_static_http.c — libFuzzer target: the static module's conditional
 * and Range request parsing (modules/static/http_cond.c, encoding.c).
 *
 * The input's lines are the request fields, in this order: If-Match,
 * If-Unmodified-Since, If-None-Match, If-Modified-Since, Range, If-Range,
 * Accept-Encoding. Each is copied into a buffer of exactly its length, as
 * ir_str values are not NUL-terminated, so a read past a field's end is an
 * ASan report. The results are checked against what the module relies on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "static.h"

enum { F_IF_MATCH, F_IF_UNMODIFIED, F_IF_NONE_MATCH, F_IF_MODIFIED, F_RANGE, F_IF_RANGE, F_AE, NF };

#define MAX_DATE 253402300799LL /* Fri, 31 Dec 9999 23:59:59 GMT */

/* A field as the stream API hands it: ptr NULL when absent. */
static ir_str field(const char *p, size_t len) {
  char *copy = malloc(len ? len : 1);
  memcpy(copy, p, len);
  return (ir_str){copy, len};
}

/* Any date the parser accepts (within what IMF-fixdate can write) must
 * come back the same through the formatter. */
static void check_date(ir_str v) {
  int64_t t;
  if (!v.ptr || st_http_date_parse(v.ptr, v.len, &t) != 0 || t < 0 || t > MAX_DATE) return;
  char buf[ST_DATE_LEN + 1];
  int64_t again;
  if (st_http_date_format(buf, t) != ST_DATE_LEN || st_http_date_parse(buf, ST_DATE_LEN, &again) ||
      again != t)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ir_str f[NF] = {{0}};
  const char *p = (const char *)data, *end = p + size;
  for (int i = 0; i < NF && p < end; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    f[i] = field(p, len);
    p += len + (nl != NULL);
  }
  const uint64_t file_size = size * 7; /* varies with the input, 0 included */
  const int64_t mtime = 784111777;     /* Sun, 06 Nov 1994 08:49:37 GMT */
  char etag_buf[ST_ETAG_MAX];
  size_t etag_len = st_etag_format(etag_buf, file_size, (uint64_t)mtime * 1000000000u, 42, NULL);
  ir_str etag = {etag_buf, etag_len};

  check_date(f[F_IF_UNMODIFIED]);
  check_date(f[F_IF_MODIFIED]);
  st_cond c = {f[F_IF_MATCH], f[F_IF_UNMODIFIED], f[F_IF_NONE_MATCH], f[F_IF_MODIFIED], size % 2};
  int pre = st_preconditions(&c, etag, mtime);
  if (pre != ST_PRE_PASS && pre != ST_PRE_NOT_MODIFIED && pre != ST_PRE_FAILED) abort();
  if (f[F_IF_MATCH].ptr) {
    st_etag_list_match(f[F_IF_MATCH], etag, 0);
    st_etag_list_match(f[F_IF_MATCH], etag, 1);
  }
  if (f[F_RANGE].ptr) {
    uint64_t first = 0, last = 0;
    int r = st_range_parse(f[F_RANGE], file_size, &first, &last);
    if (r == ST_RANGE_PARTIAL && (first > last || last >= file_size)) abort();
    if (r != ST_RANGE_PARTIAL && r != ST_RANGE_IGNORE && r != ST_RANGE_UNSATISFIABLE) abort();
  }
  if (f[F_IF_RANGE].ptr) st_if_range_ok(f[F_IF_RANGE], etag, mtime);
  if (f[F_AE].ptr) {
    unsigned accepted = st_accept_encoding(f[F_AE]);
    int kind = st_choose_rep(accepted, (1u << ST_NREPS) - 2);
    if (kind < 0 || kind >= ST_NREPS || (kind != ST_REP_IDENTITY && !(accepted & (1u << kind))))
      abort();
  }
  for (int i = 0; i < NF; i++) free((void *)f[i].ptr);
  return 0;
}
