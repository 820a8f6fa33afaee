/* fuzz_static_path.c — libFuzzer target: the static module's request-path
 * handling (modules/static/path.c): decoding and normalising, then URL
 * encoding and log escaping of the result, with the invariants a traversal
 * check relies on asserted (a crash is a finding).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "static.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *raw = (const char *)data;
  char *out = malloc(size + 1); /* the documented room: raw_len + 1 */
  size_t out_len = 0;
  int dir_hint = 0;
  int rc = st_path_normalise(raw, size, out, &out_len, &dir_hint);
  if (st_path_strerror(rc) == NULL) abort();
  if (rc == ST_PATH_OK) {
    /* What the module opens under its root: relative, no "..", no NUL. */
    if (out_len > size || out[out_len] != '\0' || memchr(out, '\0', out_len)) abort();
    if (out_len && out[0] == '/') abort();
    for (size_t i = 0; i < out_len; i++) {
      int seg_start = i == 0 || out[i - 1] == '/';
      int seg_end = i + 2 == out_len || (i + 2 < out_len && out[i + 2] == '/');
      if (seg_start && out[i] == '.' && i + 1 < out_len && out[i + 1] == '.' && seg_end) abort();
    }
    char *enc = malloc(3 * out_len + 1);
    st_url_encode(enc, out, out_len, 1);
    free(enc);
  }
  char *esc = malloc(4 * size + 1);
  size_t esc_len = st_log_escape(esc, raw, size);
  if (esc[esc_len] != '\0') abort();
  free(esc);
  free(out);
  return 0;
}
