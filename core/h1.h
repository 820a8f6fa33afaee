/* h1.h — HTTP/1.1 on a connection, parsed with llhttp.
 *
 * One request is active at a time. When a request's message is complete
 * while its response is still being produced, the parser pauses and the
 * unparsed bytes (pipelined requests) wait in `pending`; reading from the
 * socket stops until the response ends, so responses leave in request order
 * and a client cannot make the server buffer without bound. The same pause
 * holds back a body the module has not consumed.
 */
#ifndef IRIDIUM_CORE_H1_H
#define IRIDIUM_CORE_H1_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include <iridium/module.h>

struct irh_conn;

typedef struct irh_h1_field {
  uint32_t name_off, name_len, value_off, value_len;
} irh_h1_field;

typedef struct irh_h1 {
  llhttp_t parser;
  ir_stream_t *stream; /* the request being served, or NULL */
  char *pending;       /* unparsed bytes saved while paused; owned */
  size_t pending_len;
  char *head_buf; /* target + header bytes of the current request; owned */
  size_t head_len, head_cap;
  uint32_t target_len;
  irh_h1_field *fields; /* owned */
  size_t nfields, fields_cap;
  uint64_t exec_count;               /* llhttp_execute calls so far */
  uint64_t value_exec;               /* the call that last gave a value piece ... */
  size_t value_field;                /* ... and for which field (1-based) */
  const char *exec_start, *exec_end; /* the bytes of the current llhttp_execute call */
  const char *lf_from;       /* line breaks after the current field's name: counted from here ... */
  uint32_t value_lf;         /* ... plus those of earlier reads */
  uint32_t chunk_ext_len;    /* chunk-extension bytes on the current chunk line */
  uint8_t crlf_left;         /* bytes of the CRLF after chunk data still unchecked */
  unsigned value_at_end : 1; /* the last value piece ended where its execute call's bytes did */
  unsigned tail_fold : 1;    /* the bytes parsed so far end in LF then only SP/HT */
  uint64_t requests;
  int error_status;         /* status a callback chose for the error it raised */
  unsigned paused : 1;      /* llhttp is paused; resume before parsing */
  unsigned keep_alive : 1;  /* the current exchange allows another */
  unsigned chunked_out : 1; /* the current response is chunked */
  unsigned close_out : 1;   /* the current response is close-delimited */
  unsigned saw_bytes : 1;   /* some bytes of a request arrived */
  unsigned h2c_upgrade : 1; /* answered 101 to h2c: HTTP/2 takes over after this request */
  unsigned tunnel : 1;      /* accepted an Upgrade: bytes now flow raw to the stream */
  uint8_t *h2c_settings;    /* decoded HTTP2-Settings (in the stream's arena) */
  size_t h2c_settings_len;
} irh_h1;

/* Sets up HTTP/1.1 on a freshly accepted connection (or after ALPN); its
 * events then arrive through irh_h1_proto (conn.h). */
void irh_h1_init(struct irh_conn *c);

#endif /* IRIDIUM_CORE_H1_H */
