/* fuzz_h2c_upgrade.c — libFuzzer target: HTTP/1.1's Upgrade: h2c path
 * (h1.c's 101 and HTTP2-Settings decoding, h2.c's irh_h2_start_upgrade) on
 * a real connection.
 *
 * The server is sent an upgrade request up to the HTTP2-Settings value; the
 * input continues it: the value (base64url settings, or anything), the rest
 * of the head, a body, then the client's preface and frames, cut into
 * separate sends at every "@@@" (fuzz_server.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_server.h"

static const uint8_t head[] = "GET / HTTP/1.1\r\n"
                              "Host: fuzz\r\n"
                              "Connection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\n"
                              "HTTP2-Settings: ";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_server_init("h2_max_concurrent_streams = 8\nmax_header_size = 2k\nmax_body_size = 1k\n",
                 "http/1.1, h2c");
  fz_exchange(head, sizeof head - 1, data, size);
  return 0;
}
