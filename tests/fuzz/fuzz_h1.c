/* fuzz_h1.c — libFuzzer target: HTTP/1.1 requests through a real
 * connection (listener, conn.c, h1.c, stream.c, the hello module).
 *
 * The input is what a client sends, cut into separate sends at every "@@@"
 * (fuzz_server.h), so the parser meets every boundary the fuzzer picks. The
 * listener speaks only http/1.1: h2c sniffing is fuzz_h2's business, and
 * fuzz_h2c_upgrade covers the Upgrade path.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Small limits, so that the fuzzer reaches them with short inputs. */
  fz_server_init("max_header_size = 2k\nmax_header_count = 16\nmax_uri_length = 256\n"
                 "max_body_size = 1k\nkeepalive_requests = 8\n",
                 "http/1.1");
  fz_exchange(NULL, 0, data, size);
  return 0;
}
