/* filesend.h — file bodies handed over with ir_resp_send_file: sendfile(2)
 * for plaintext HTTP/1.1, thread-pool reads for everything else. */
#ifndef IRIDIUM_CORE_FILESEND_H
#define IRIDIUM_CORE_FILESEND_H

#include <stdint.h>

#include <iridium/module.h>

struct irh_conn;
typedef struct irh_file_seg irh_file_seg;

/* The SDK call (host_api.c forwards to it). */
int irh_stream_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len);
/* Whether a file segment is still being sent. */
int irh_filesend_active(const ir_stream_t *s);
/* Whether irh_stream_writable would do nothing now: the stream's file body
 * waits for a slot or for the peer's room (ops->send_room). */
int irh_filesend_blocked(const ir_stream_t *s);
/* Whether the stream's file body waits for one of the connection's
 * h2_max_file_bodies slots. */
int irh_filesend_waits_for_slot(const ir_stream_t *s);
/* The protocol can take more: continue a thread-pool segment. */
void irh_filesend_writable(ir_stream_t *s);
/* The stream closes: drop the segment (a job in flight keeps the fd). */
void irh_filesend_release(ir_stream_t *s);
/* From the connection's flush when its queue is empty: sendfile the
 * segment of c->file_stream. 0 = nothing more now, 1 = the socket is full
 * (call irh_filesend_nudge), -1 = error. */
int irh_filesend_flush(struct irh_conn *c);
/* Queues a small piece through the write path to learn when the socket
 * drains. */
int irh_filesend_nudge(struct irh_conn *c);

#endif /* IRIDIUM_CORE_FILESEND_H */
