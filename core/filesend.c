/* filesend.c — file bodies (ir_resp_send_file): the module hands over a
 * file range; the host sends it without stalling the loop on disk.
 *
 * The range goes to the protocol as file blocks (ops->write_file), and the
 * connection writes them (conn.c): sendfile(2) in cleartext, reads on the
 * thread pool with TLS. What is left here is the SDK call, the bound on
 * file bodies per connection (ops->file_begin / file_end, counted by the
 * protocol) and the read-ahead:
 *
 * In cleartext, sendfile runs on the loop, so a window of SENDFILE_WINDOW
 * bytes is handed over only once a thread-pool job ran readahead(2) on it
 * and its pages are resident. At most two windows wait in the queues; the
 * next is read ahead when one of them has been written. Meanwhile the
 * stream is FILE_PENDING (stream.c): writes answer "again", and a resp_end
 * waits for the last window. With TLS the connection's reads run off the
 * loop anyway, and the whole range is handed over at once.
 *
 * A body lives apart from the stream (malloc'd) as long as the stream, a
 * queued window or a read-ahead job needs it: the stream detaches when it
 * finishes, and whichever comes last frees the body and closes its fd. Its
 * slot is given back once the file is all written, or when the stream
 * finishes, whichever comes first.
 */
#define _GNU_SOURCE /* readahead(2) */
#include "filesend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "stream.h"
#include "worker.h"

#define SENDFILE_WINDOW (1u << 20) /* bytes made resident before they are handed over */
#define WINDOWS_QUEUED 2           /* handed over and not yet written, at most */

typedef struct irh_file_body {
  irh_stream_file base; /* what s->file points at */
  ir_stream_t *s;       /* NULL once the stream finished */
  int fd;               /* dup of the module's, owned; -1 once closed */
  uint64_t off, left;   /* the part not handed over yet */
  uint64_t ra_off;      /* the window being read ahead ... */
  size_t ra_len;        /* ... (job_work reads these two) */
  unsigned queued;      /* windows handed over and not yet released */
  unsigned job : 1;     /* a readahead job is in flight */
  unsigned slot : 1;    /* holds one of the connection's file-body slots */
} irh_file_body;

/* Gives the slot back while the stream is there to tell its protocol. */
static void give_slot(irh_file_body *b) {
  if (!b->slot || !b->s) return;
  b->slot = 0;
  if (b->s->ops->file_end) b->s->ops->file_end(b->s);
}

/* Closes the fd once nothing needs it and frees a detached body. */
static void body_settle(irh_file_body *b) {
  if (b->left || b->queued || b->job) return;
  if (b->fd >= 0) close(b->fd);
  b->fd = -1;
  give_slot(b);
  if (!b->s) free(b);
}

static void detach(irh_stream_file *f) {
  irh_file_body *b = (irh_file_body *)f;
  give_slot(b); /* ranges still queued in the connection hold only their fd */
  b->s = NULL;
  b->left = 0; /* nothing more is handed over */
  body_settle(b);
}

static int start_readahead(irh_file_body *b);

/* A window was written, or dropped (release callback of its file block):
 * it runs inside a queue operation, so it touches no queue; the next
 * window is read ahead and handed over from the job's return. */
static void window_released(void *user) {
  irh_file_body *b = user;
  b->queued--;
  if (b->s && b->left && b->queued < WINDOWS_QUEUED && start_readahead(b) != 0) {
    b->left = 0;
    irh_stream_reset(b->s); /* only marks it and queues the settle pass */
  }
  body_settle(b);
}

/* Hands len bytes from b->off to the protocol. 0, or -1 when it refused
 * them (the connection is closing or out of memory). */
static int hand_over(irh_file_body *b, uint64_t len) {
  ir_stream_t *s = b->s;
  uint64_t off = b->off;
  b->off += len; /* before the call: a body-less response releases at once */
  b->left -= len;
  b->queued++;
  if (s->ops->write_file(s, b->fd, off, (size_t)len, window_released, b) == IR_OK) return 0;
  b->queued--;
  b->left = 0;
  return -1;
}

/* ---- the read-ahead job ---- */

static void job_work(void *d) {
  irh_file_body *b = d;
  (void)readahead(b->fd, (off_t)b->ra_off, b->ra_len); /* failing is harmless: sendfile reads */
}

static void job_done(void *d, int status) {
  irh_file_body *b = d;
  ir_stream_t *s = b->s;
  b->job = 0;
  if (!s || !b->left) {
    body_settle(b);
    return;
  }
  if (status != IR_OK || hand_over(b, b->ra_len) != 0) {
    irh_stream_reset(s);
  } else if (b->left == 0) {
    irh_stream_file_done(s); /* a resp_end that waited is framed now */
  } else if (b->queued < WINDOWS_QUEUED && start_readahead(b) != 0) {
    b->left = 0;
    irh_stream_reset(s);
  }
  body_settle(b);
}

static int start_readahead(irh_file_body *b) {
  if (b->job || !b->left) return 0;
  b->ra_off = b->off;
  b->ra_len = b->left < SENDFILE_WINDOW ? (size_t)b->left : SENDFILE_WINDOW;
  if (irh_work_submit(b->s->worker, job_work, job_done, b) != IR_OK) return -1;
  b->job = 1;
  return 0;
}

/* ---- the SDK call ---- */

/* Whether [offset, offset + len) lies inside the file (non-regular files
 * are not checked). */
static int range_in_file(int fd, uint64_t offset, uint64_t len) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return !S_ISREG(st.st_mode) || offset + len <= (uint64_t)st.st_size;
}

int irh_stream_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len) {
  if (s->flags & (IRH_STREAM_RESET | IRH_STREAM_FINISHED)) return IR_ECLOSED;
  if (s->flags & (IRH_STREAM_RESP_ENDED | IRH_STREAM_END_OWED)) return IR_ESTATE;
  if (fd < 0) return IR_EINVAL;
  if (!(s->flags & IRH_STREAM_HEAD_SENT)) {
    int rc = irh_stream_resp_send_head(s, 0);
    if (rc != IR_OK) return rc;
  }
  if (len == 0 || (s->flags & IRH_STREAM_IS_HEAD)) return IR_OK;
  if ((s->flags & IRH_STREAM_HAS_CL) && s->body_sent + len > (uint64_t)s->resp_content_length)
    return IR_EINVAL;
  /* An earlier segment is still being handed over, or no slot is free:
   * on_writable follows when one may go on. */
  if ((s->flags & IRH_STREAM_FILE_PENDING) ||
      (s->ops->file_begin && s->ops->file_begin(s) != IR_OK)) {
    irh_stream_want_write(s);
    return IR_EAGAIN;
  }
  irh_file_body *b = calloc(1, sizeof(*b));
  int dup = b ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (dup < 0) {
    free(b);
    if (s->ops->file_end) s->ops->file_end(s);
    return b ? IR_EIO : IR_ENOMEM;
  }
  *b = (irh_file_body){.base = {detach}, .s = s, .fd = dup, .off = offset, .left = len, .slot = 1};
  if (s->file) s->file->detach(s->file); /* the previous segment's ranges may still be queued */
  s->file = &b->base;
  s->body_sent += len;
  irh_stream_want_write(s); /* on_writable once the file is out */
  if (!range_in_file(dup, offset, len)) {
    irh_log(IR_LOG_ERROR, s->conn->id, s->id, NULL, "file body: the file is shorter than promised");
    b->left = 0;
    body_settle(b);
    irh_stream_reset(s);
    return IR_OK;
  }
  if (!irh_conn_sends_files(s->conn)) { /* read off the loop by the connection */
    if (hand_over(b, len) != 0) irh_stream_reset(s);
    body_settle(b);
    return IR_OK;
  }
  irh_stream_file_begin(s); /* allowed: the head went, no file pending */
  if (start_readahead(b) != 0) {
    b->left = 0;
    irh_stream_file_done(s);
    irh_stream_reset(s);
    body_settle(b);
  }
  return IR_OK;
}
