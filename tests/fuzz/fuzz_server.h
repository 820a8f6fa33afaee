/* fuzz_server.h — an in-process Iridium server for the protocol fuzz
 * targets (fuzz_h1, fuzz_h2, fuzz_h2c_upgrade).
 *
 * fz_server_init() does what server.c does before a worker thread starts
 * (config, modules, listener, router, one worker), but runs the worker's
 * loop on the fuzzer's own thread, so that each input is served to the end
 * before the next one starts. fz_exchange() opens a real loopback TCP
 * connection that the real listener accepts, sends the input in pieces and
 * turns the loop after each one, then closes the connection and waits until
 * the server freed it: conn.c, h1.c, h2.c and stream.c run as in the server.
 * fz_exchange_2() does the same and keeps what the server sent, for tests
 * that check the answers (tests/unit/test_h1_parser.c). fz_accept() and
 * fz_turn() give a test the bare connection instead.
 */
#ifndef IRIDIUM_FUZZ_SERVER_H
#define IRIDIUM_FUZZ_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct irh_conn;

/* Where an input is cut into separate sends: the marker itself is dropped.
 * A text marker keeps the hand-written seeds readable. */
#define FZ_SPLIT "@@@"

/* Starts the server once per process with extra [server] lines (may be "")
 * and the listener's protocols ("http/1.1, h2c"). Aborts on failure: a
 * target without its server would only report false "no crash". */
void fz_server_init(const char *server_keys, const char *protocols);

/* One connection: sends prefix (may be NULL) in one piece, then data cut at
 * every FZ_SPLIT, then half-closes, then resets the connection. Returns when
 * the server has freed the connection. */
void fz_exchange(const uint8_t *prefix, size_t prefix_len, const uint8_t *data, size_t size);

/* For tests that drive a connection's write path themselves
 * (tests/unit/test_conn_write.c): a client socket (blocking, owned by the
 * caller) whose connection the listener accepted, and that connection. */
struct irh_conn *fz_accept(int *client_fd);
/* One loop turn that waits for nothing and reads nothing from any client. */
void fz_turn(void);
/* Whether the connection most recently accepted is still open (not yet
 * freed by the worker). */
int fz_conn_alive(void);
/* What the server sent on one connection. */
typedef struct fz_reply {
  char *bytes; /* all of it, NUL-terminated; malloc'd, the caller frees */
  size_t len;
  int closed; /* the server ended its side before the client's EOF */
} fz_reply;

/* fz_exchange that keeps the server's bytes in *reply. After the last
 * piece the loop turns until the server has written everything and, if it
 * closes, half-closed the connection; only then does the client send its
 * EOF, so reply->closed tells a kept connection from a closed one. */
void fz_exchange_2(const uint8_t *prefix, size_t prefix_len, const uint8_t *data, size_t size,
                   fz_reply *reply);

#endif /* IRIDIUM_FUZZ_SERVER_H */
