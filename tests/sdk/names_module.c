/* names_module.c — a test module for host.h's rule on names and strings:
 * every field name it uses comes from the request (slices of the query,
 * which are not NUL-terminated), so only the pointer + length (_n) forms
 * of the wrappers can take them. For tests/sdk/test_names.py.
 *
 *   GET /n?get=A&set=B&ref=C&trailer=D
 *     looks up request header A (ir_req_header_n), then answers with its
 *     value as response header B (ir_resp_header_n), as response header C
 *     kept by reference into the request (ir_resp_header_ref_n) and as
 *     trailer D (ir_resp_trailer_n); the body is each call's return code
 *     and the value found: "get=0 set=0 ref=0 trailer=0 value=...\n".
 * A missing parameter is an empty name, which each call refuses with its
 * own code: that is in the body too.
 *   GET /n/strerror?from=-14&to=0
 *     one "CODE=ir_strerror(CODE)" line per code, from..to.
 *   GET /n/workers
 *     "count=N at_last=1 beyond=0 null_post=-1": ir_worker_count,
 *     whether ir_worker_at gives a worker for N-1 and for N (it must
 *     not), and what ir_worker_post answers for a NULL callback.
 */
#include <stdio.h>
#include <string.h>

#include <iridium/iridium.h>

/* The value of key in the query "a=1&b=2", as a slice of the query. */
static ir_str query_param(ir_str q, const char *key) {
  size_t klen = strlen(key);
  const char *p = q.ptr, *end = q.ptr + q.len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=')
      return (ir_str){p + klen + 1, (size_t)(stop - p) - klen - 1};
    p = stop + 1;
  }
  return (ir_str){"", 0};
}

/* A small signed decimal from a slice (0 when it is not one). */
static int slice_int(ir_str v) {
  int sign = v.len && v.ptr[0] == '-' ? -1 : 1, n = 0;
  for (size_t i = sign < 0; i < v.len && i < 4; i++) {
    if (v.ptr[i] < '0' || v.ptr[i] > '9') return 0;
    n = n * 10 + (v.ptr[i] - '0');
  }
  return sign * n;
}

static int answer_strerror(ir_stream_t *s, ir_str q) {
  int lo = slice_int(query_param(q, "from")), hi = slice_int(query_param(q, "to"));
  char body[2048];
  size_t len = 0;
  for (int code = lo; code <= hi && len + 64 < sizeof body; code++)
    len += (size_t)snprintf(body + len, 64, "%d=%s\n", code, ir_strerror(code));
  return ir_respond_simple(s, 200, "text/plain", body, len);
}

static int names_on_request(ir_stream_t *s, void *instance_data) {
  (void)instance_data;
  ir_str q = ir_req_query(s), path = ir_req_path(s);
  if (path.len >= 9 && memcmp(path.ptr + path.len - 9, "/strerror", 9) == 0)
    return answer_strerror(s, q);
  if (path.len >= 8 && memcmp(path.ptr + path.len - 8, "/workers", 8) == 0) {
    unsigned n = ir_worker_count();
    char body[96];
    int len = snprintf(body, sizeof body, "count=%u at_last=%d beyond=%d null_post=%d\n", n,
                       n && ir_worker_at(n - 1) != NULL, ir_worker_at(n) != NULL,
                       ir_worker_post(ir_stream_worker(s), NULL, NULL));
    return ir_respond_simple(s, 200, "text/plain", body, (size_t)len);
  }
  ir_str get = query_param(q, "get"), set = query_param(q, "set");
  ir_str ref = query_param(q, "ref"), trailer = query_param(q, "trailer");
  ir_str value = {"", 0};
  int get_rc = ir_req_header_n(s, get.ptr, get.len, &value);
  int set_rc = ir_resp_header_n(s, set.ptr, set.len, value.ptr, value.len);
  /* The request's memory lives until on_close: a valid reference. */
  int ref_rc = ir_resp_header_ref_n(s, ref.ptr, ref.len, value.ptr, value.len);
  int trailer_rc = ir_resp_trailer_n(s, trailer.ptr, trailer.len, value.ptr, value.len);
  char body[512];
  int len = snprintf(body, sizeof body, "get=%d set=%d ref=%d trailer=%d value=%.*s\n", get_rc,
                     set_rc, ref_rc, trailer_rc, (int)value.len, value.ptr);
  if (len < 0 || (size_t)len >= sizeof body) return IR_ETOOBIG;
  ssize_t w = ir_resp_write(s, body, (size_t)len);
  if (w != len) return w < 0 ? (int)w : IR_EAGAIN;
  return ir_resp_end(s);
}

static const ir_module_desc names_module = {
    IR_MODULE_DESC_HEADER,
    .name = "names",
    .version = "1.0.0",
    .on_request = names_on_request,
};
IR_MODULE_DEFINE(names_module)
