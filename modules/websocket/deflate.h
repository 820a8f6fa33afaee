/* deflate.h — permessage-deflate (RFC 7692): the extension offer's
 * negotiation and the per-session zlib streams, with a bound on what one
 * message may inflate to.
 *
 * Memory. Without context takeover (the default: we answer both
 * no_context_takeover parameters whatever the offer) a session holds no
 * zlib state while idle: our deflate is one stream per worker thread and
 * window size, reset after each message, and the inflate of a message
 * (2^client_bits + about 7 KiB) lives only while that message arrives.
 * With context takeover each session keeps its own: inflate as above,
 * deflate 2^(server_bits + 2) + 2^(mem_level + 9) with mem_level =
 * server_bits - 7 (256 KiB at 15 bits, 4 KiB at 9), both made on the
 * first compressed message each way. */
#ifndef WS_DEFLATE_H
#define WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

/* What was agreed for one session. */
typedef struct ws_pmd_params {
  int enabled;
  int server_no_context_takeover;
  int client_no_context_takeover;
  int server_bits; /* our deflate window: 9..15 */
  int client_bits; /* the client's window, which our inflate needs: 8..15 */
} ws_pmd_params;

/* Picks the first permessage-deflate offer in a Sec-WebSocket-Extensions
 * value (one field, or several joined with ", ") that we can honour, with
 * our deflate window at most max_bits (9..15); context_takeover 0 adds
 * both no_context_takeover parameters (RFC 7692 7.1.1). Fills *out and writes the
 * response value into resp (NUL-terminated). Returns 1 when accepted, 0
 * when nothing fits (no extension), -1 for a value that does not parse
 * (the handshake fails with 400). */
int ws_pmd_negotiate(const char *offer, size_t len, int max_bits, int context_takeover,
                     ws_pmd_params *out, char *resp, size_t resp_size);

/* Results of the streaming calls. */
enum { WS_PMD_OK = 0, WS_PMD_TOO_BIG = -1, WS_PMD_BAD = -2, WS_PMD_NOMEM = -3 };

typedef struct ws_pmd {
  ws_pmd_params p;
  z_stream in;
  z_stream out;
  uint8_t in_ready;
  uint8_t out_ready;
} ws_pmd;

/* Grows *buf (realloc) to at least need bytes, doubling from 256; *cap
 * is its size. 0, or -1 out of memory (*buf unchanged). */
int ws_grow(uint8_t **buf, size_t *cap, size_t need);

void ws_pmd_init(ws_pmd *z, const ws_pmd_params *p);
void ws_pmd_free(ws_pmd *z);
/* Frees the calling thread's shared deflate streams (worker exit). */
void ws_pmd_thread_free(void);

/* Inflates one piece of a compressed message, appending to *buf (realloc'd,
 * *len bytes used of *cap), never past limit bytes: WS_PMD_TOO_BIG when the
 * message would. last: the message ends with this piece (the RFC's
 * 00 00 ff ff tail is added). */
int ws_pmd_inflate(ws_pmd *z, const uint8_t *in, size_t n, int last, uint8_t **buf, size_t *len,
                   size_t *cap, size_t limit);

/* Compresses a whole message into *buf (realloc'd as needed), *len bytes:
 * the frame payload to send with RSV1. */
int ws_pmd_deflate(ws_pmd *z, const uint8_t *in, size_t n, uint8_t **buf, size_t *len,
                   size_t *cap);

#endif /* WS_DEFLATE_H */
