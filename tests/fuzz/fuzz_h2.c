/* fuzz_h2.c — libFuzzer target: a whole HTTP/2 server session (h2.c over
 * nghttp2, stream.c, the hello module) on a real cleartext connection.
 *
 * The server is sent the client preface first, then the input: frames from
 * the fuzzer, cut into separate sends at every "@@@" (fuzz_server.h).
 * Stream and frame limits are small so that short inputs reach them.
 *
 * The listener speaks "http/1.1, h2c" (the default), so the preface also
 * goes through negotiate.c's sniffing. IRIDIUM_FUZZ_PROTOCOLS in the environment
 * sets another list: the ctest test fuzz_h2_h2c_only replays
 * regressions/fuzz_h2_h2c_only with "h2c", a listener that starts HTTP/2 at
 * once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_server.h"

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_server_init("h2_max_concurrent_streams = 8\nh2_initial_window_size = 1k\n"
                 "max_header_size = 2k\nmax_body_size = 1k\n",
                 getenv("IRIDIUM_FUZZ_PROTOCOLS") ? getenv("IRIDIUM_FUZZ_PROTOCOLS")
                                                  : "http/1.1, h2c");
  fz_exchange(preface, sizeof preface - 1, data, size);
  return 0;
}
