/* filesend.c — file bodies (ir_resp_send_file): the module hands over a
 * file range; the host sends it without stalling the loop on disk.
 *
 * Plaintext HTTP/1.1 with a known length: sendfile(2) from the connection's
 * flush, one window at a time; before each window a thread-pool job runs
 * readahead(2) so the pages are resident and sendfile does not wait on the
 * disk in the loop. Everything else (TLS, HTTP/2, chunked framing): a
 * thread-pool job preads a chunk, which goes out through the protocol's
 * normal write path (nghttp2's no-copy DATA frames; GnuTLS records).
 *
 * A stream that closes while a job is in flight leaves the job the file
 * descriptor to close; the job's completion then only cleans up.
 *
 * Resource bounds: a connection holds at most h2_max_file_bodies file
 * bodies (each one fd and at most one read buffer); a stream whose peer
 * has no room for it (HTTP/2 window 0, ops->send_room) neither takes a new
 * file body nor reads ahead. Both answer "again" as ir_resp_send_file
 * allows, and the protocol calls irh_stream_writable when room comes
 * (irh_filesend_blocked tells it when that would do nothing).
 */
#define _GNU_SOURCE /* readahead(2) */
#include "filesend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "stream.h"
#include "worker.h"

#define READ_CHUNK (256u * 1024u)  /* one thread-pool read, at most */
#define READ_MIN 16384u            /* ... and at least (one TLS record) */
#define SENDFILE_WINDOW (1u << 20) /* bytes made resident before sendfile */

struct irh_file_seg {
  int fd; /* dup of the module's, owned (or the in-flight job's) */
  uint64_t off, left;
  uint64_t warm_end;        /* sendfile: pages up to here were read ahead */
  int sendfile;             /* sent by the connection with sendfile(2) */
  struct irh_file_job *job; /* in flight, or NULL */
  char *buf;                /* pread data not yet taken by the protocol; owned */
  size_t buf_len, buf_off;
  unsigned counted : 1; /* holds one of the connection's file-body slots */
  unsigned waiting : 1; /* send_file said "again" for want of a slot or room */
};

typedef struct irh_file_job {
  ir_stream_t *s; /* NULL once the stream closed */
  int fd;
  uint64_t off;
  size_t len;
  char *buf; /* pread target (NULL for readahead); owned */
  ssize_t result;
} irh_file_job;

/* Room the peer has for this stream's body; INT64_MAX without a limit. */
static int64_t send_room(ir_stream_t *s) {
  return s->ops->send_room ? s->ops->send_room(s) : INT64_MAX;
}

/* Whether a new file body may start: a free slot and room to send. */
static int may_start(ir_stream_t *s) {
  return s->conn->file_bodies < s->conn->limits->h2_max_file_bodies && send_room(s) > 0;
}

static void seg_close(ir_stream_t *s) {
  irh_file_seg *f = s->file;
  if (f->counted) { /* a slot is free: streams waiting for one may go on */
    f->counted = 0;
    s->conn->file_bodies--;
    irh_conn_want_flush(s->conn);
  }
  if (f->fd >= 0) close(f->fd);
  free(f->buf);
  f->fd = -1;
  f->buf = NULL;
  f->buf_len = f->buf_off = 0;
  f->left = 0;
}

/* The segment is done (or failed): the module's on_writable may follow. */
static void seg_finish(ir_stream_t *s, int ok) {
  seg_close(s);
  s->conn->file_stream = s->conn->file_stream == s ? NULL : s->conn->file_stream;
  if (!ok) {
    irh_log(IR_LOG_ERROR, s->conn->id, s->id, NULL, "file body: the file is shorter than promised");
    irh_stream_reset(s);
    return;
  }
  irh_stream_schedule_settle(s); /* a response ended meanwhile can finish now */
  irh_stream_writable(s);        /* WANT_WRITE was set when the segment was taken */
}

/* ---- the thread-pool jobs ---- */

static void job_work(void *d) {
  irh_file_job *j = d;
  if (j->buf) {
    size_t got = 0;
    while (got < j->len) {
      ssize_t n = pread(j->fd, j->buf + got, j->len - got, (off_t)(j->off + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    j->result = (ssize_t)got;
  } else {
    j->result = readahead(j->fd, (off_t)j->off, j->len) == 0 ? (ssize_t)j->len : -1;
  }
}

static void pump(ir_stream_t *s);

static void job_done(void *d, int status) {
  irh_file_job *j = d;
  ir_stream_t *s = j->s;
  if (!s) { /* the stream closed meanwhile: the job owns the fd now */
    close(j->fd);
    free(j->buf);
    free(j);
    return;
  }
  irh_file_seg *f = s->file;
  f->job = NULL;
  if (j->buf) {
    if (j->result <= 0 || status != IR_OK) {
      free(j->buf);
      free(j);
      seg_finish(s, 0);
      return;
    }
    f->buf = j->buf;
    f->buf_len = (size_t)j->result;
    f->buf_off = 0;
    f->off += (uint64_t)j->result;
  } else {
    f->warm_end = j->off + j->len; /* readahead failing is harmless */
  }
  free(j);
  if (f->sendfile)
    irh_conn_want_flush(s->conn);
  else
    pump(s);
}

static int submit(ir_stream_t *s, int read_data, size_t len) {
  irh_file_seg *f = s->file;
  irh_file_job *j = calloc(1, sizeof(*j));
  if (!j) return -1;
  j->s = s;
  j->fd = f->fd;
  j->off = read_data ? f->off : f->warm_end;
  j->len = len;
  if (read_data && !(j->buf = malloc(len))) {
    free(j);
    return -1;
  }
  if (irh_work_submit(s->worker, job_work, job_done, j) != IR_OK) {
    free(j->buf);
    free(j);
    return -1;
  }
  f->job = j;
  return 0;
}

/* ---- thread-pool reads through the protocol's write path ---- */

/* The next read: no more than the connection's queue has room for (a read
 * buffer is memory the connection holds on top of its queue, so a client
 * that stops reading holds about max_queued_output, not that plus a whole
 * chunk), but at least one TLS record's worth so the file keeps moving. */
static size_t read_size(const ir_stream_t *s) {
  const irh_conn *c = s->conn;
  size_t queued = irh_conn_out_bytes(c);
  size_t len = queued < c->max_queued ? c->max_queued - queued : 0;
  if (len > READ_CHUNK) len = READ_CHUNK;
  if (len < READ_MIN) len = READ_MIN;
  return s->file->left < len ? (size_t)s->file->left : len;
}

static void pump(ir_stream_t *s) {
  irh_file_seg *f = s->file;
  while (!f->job && !(s->flags & (IRH_STREAM_RESET | IRH_STREAM_FINISHED))) {
    if (f->buf_off < f->buf_len) {
      ssize_t n = s->ops->write(s, f->buf + f->buf_off, f->buf_len - f->buf_off);
      if (n == IR_EAGAIN) return; /* the protocol calls irh_stream_writable later */
      if (n < 0) {
        seg_finish(s, 0);
        return;
      }
      f->buf_off += (size_t)n;
      f->left -= (uint64_t)n;
      if (f->buf_off < f->buf_len) return;
      free(f->buf);
      f->buf = NULL;
      f->buf_len = f->buf_off = 0;
    }
    if (f->left == 0) {
      seg_finish(s, 1);
      return;
    }
    /* Read no more than the peer can take soon: nothing while it has no
     * room (the protocol calls back when it has), and a small read for a
     * small window rather than a full chunk that would sit in memory; never
     * more than the connection's queue has room for (read_size). */
    int64_t room = send_room(s);
    if (room <= 0) return;
    size_t len = read_size(s);
    if ((uint64_t)room < len) len = (uint64_t)room < READ_MIN ? READ_MIN : (size_t)room;
    if (len > f->left) len = (size_t)f->left;
    if (submit(s, 1, len) != 0) seg_finish(s, 0);
    return;
  }
}

/* ---- sendfile from the connection's flush ---- */

int irh_filesend_flush(irh_conn *c) {
  ir_stream_t *s = c->file_stream;
  irh_file_seg *f = s->file;
  uv_os_fd_t sock;
  if (uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) return -1;
  while (f->left) {
    if (f->job) return 0; /* readahead in flight */
    if (f->off >= f->warm_end) {
      uint64_t window = f->left < SENDFILE_WINDOW ? f->left : SENDFILE_WINDOW;
      f->warm_end = f->off;
      return submit(s, 0, (size_t)window) == 0 ? 0 : -1;
    }
    size_t chunk = (size_t)(f->warm_end - f->off);
    if (chunk > f->left) chunk = (size_t)f->left;
    off_t off = (off_t)f->off;
    ssize_t n = sendfile(sock, f->fd, &off, chunk);
    if (n > 0) {
      f->off += (uint64_t)n;
      f->left -= (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 1; /* the socket is full */
    if (n == 0) {                           /* shorter than promised */
      seg_finish(s, 0);
      return 0;
    }
    return -1;
  }
  seg_finish(s, 1);
  return 0;
}

/* The socket was full: send the next piece through the normal write path
 * (its completion tells when the socket drained), from pages that the
 * readahead made resident. */
int irh_filesend_nudge(irh_conn *c) {
  ir_stream_t *s = c->file_stream;
  irh_file_seg *f = s->file;
  size_t len = (size_t)(f->warm_end - f->off);
  if (len > 16384) len = 16384;
  if (len > f->left) len = (size_t)f->left;
  char *p = irh_bufq_reserve(&c->wire, len);
  if (!p) return -1;
  ssize_t n = pread(f->fd, p, len, (off_t)f->off);
  if (n <= 0) return -1;
  irh_bufq_commit(&c->wire, (size_t)n);
  f->off += (uint64_t)n;
  f->left -= (uint64_t)n;
  return 0;
}

/* ---- the SDK call and the stream's end ---- */

int irh_stream_resp_send_file(ir_stream_t *s, int fd, uint64_t offset, uint64_t len) {
  if (s->flags & (IRH_STREAM_RESET | IRH_STREAM_FINISHED)) return IR_ECLOSED;
  if (s->flags & IRH_STREAM_RESP_ENDED) return IR_ESTATE;
  if (fd < 0) return IR_EINVAL;
  if (!(s->flags & IRH_STREAM_HEAD_SENT)) {
    int rc = irh_stream_resp_send_head(s, 0);
    if (rc != IR_OK) return rc;
  }
  if (len == 0 || (s->flags & IRH_STREAM_IS_HEAD)) return IR_OK;
  if ((s->flags & IRH_STREAM_HAS_CL) && s->body_sent + len > (uint64_t)s->resp_content_length)
    return IR_EINVAL;
  if (s->file && (s->file->fd >= 0 || s->file->job)) {
    s->flags |= IRH_STREAM_WANT_WRITE;
    return IR_EAGAIN;
  }
  if (!s->file && !(s->file = irh_arena_alloc(&s->arena, sizeof(*s->file)))) return IR_ENOMEM;
  irh_file_seg *f = s->file;
  f->job = NULL;
  f->fd = -1;
  if (!may_start(s)) { /* on_writable follows when a slot or room comes */
    f->waiting = 1;
    s->flags |= IRH_STREAM_WANT_WRITE;
    return IR_EAGAIN;
  }
  f->waiting = 0;
  f->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (f->fd < 0) return IR_EIO;
  f->counted = 1;
  s->conn->file_bodies++;
  f->off = offset;
  f->left = len;
  f->warm_end = offset;
  f->sendfile = s->ops->can_sendfile && s->ops->can_sendfile(s);
  s->body_sent += len;
  s->flags |= IRH_STREAM_WANT_WRITE; /* on_writable once the file is out */
  if (f->sendfile) {
    s->conn->file_stream = s;
    irh_conn_want_flush(s->conn);
  } else {
    pump(s);
  }
  return IR_OK;
}

int irh_filesend_active(const ir_stream_t *s) {
  return s->file && (s->file->fd >= 0 || s->file->job);
}

int irh_filesend_blocked(const ir_stream_t *s) {
  const irh_file_seg *f = s->file;
  ir_stream_t *ms = (ir_stream_t *)s; /* the ops take a mutable stream */
  if (!f) return 0;
  if (f->fd < 0 && !f->job) return f->waiting && !may_start(ms);
  return !f->sendfile && !f->job && f->buf_off >= f->buf_len && send_room(ms) <= 0;
}

int irh_filesend_waits_for_slot(const ir_stream_t *s) {
  const irh_file_seg *f = s->file;
  return f && f->waiting && f->fd < 0 && !f->job &&
         s->conn->file_bodies >= s->conn->limits->h2_max_file_bodies;
}

void irh_filesend_writable(ir_stream_t *s) {
  if (!s->file->sendfile) pump(s);
}

void irh_filesend_release(ir_stream_t *s) {
  irh_file_seg *f = s->file;
  if (!f) return;
  if (s->conn->file_stream == s) s->conn->file_stream = NULL;
  if (f->job) { /* the job closes the fd when it returns */
    f->job->s = NULL;
    f->fd = -1;
    f->job = NULL;
  }
  seg_close(s);
}
