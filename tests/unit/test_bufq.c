/* test_bufq.c — the output queue (core/bufq.c): memory blocks (append,
 * reserve/commit, peek, consume, read, splice, move at block boundaries),
 * file blocks alone and mixed with memory, splitting a file block between
 * queues, and each file range's release called exactly once, whether its
 * bytes were consumed or freed. A model (one byte array per queue, with
 * each byte's kind, file offset and owning range) checks every operation
 * of long random runs; a real file backs the file blocks so that what a
 * writer would send from them can be compared byte for byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bufq.h"
#include "check.h"
#include "recycler.h"

#define FILE_SIZE (1u << 20)
#define MAX_RANGES 20000
#define MODEL_MAX (4u << 20)
/* What the random runs let a queue grow to: big enough for many blocks of
 * each kind, small enough that the model's copies stay quick. */
#define RANDOM_CAP (256u << 10)

static int test_fd = -1;

static uint8_t file_byte(uint64_t off) { return (uint8_t)(off * 131 + (off >> 9)); }

/* One appended file range: how often it was released, and how many of its
 * bytes the model still holds anywhere (it must be 0 at release). */
typedef struct range {
  int released;
  size_t live;
} range;
static range ranges[MAX_RANGES];
static size_t nranges;

static void on_release(void *user) {
  range *r = user;
  CHECK(r->released == 0); /* exactly once */
  CHECK(r->live == 0);     /* never while a byte of it is queued */
  r->released++;
}

/* ---- the model ---- */

typedef struct model {
  uint8_t *val;  /* the bytes a writer would send */
  uint8_t *file; /* 1: from a file block */
  uint64_t *off; /* the file offset of a file byte */
  uint32_t *rid; /* its range */
  size_t len;
} model;

static void model_init(model *m) {
  m->val = malloc(MODEL_MAX);
  m->file = malloc(MODEL_MAX);
  m->off = malloc(MODEL_MAX * sizeof *m->off);
  m->rid = malloc(MODEL_MAX * sizeof *m->rid);
  CHECK(m->val && m->file && m->off && m->rid);
  m->len = 0;
}

static void model_free(model *m) {
  free(m->val);
  free(m->file);
  free(m->off);
  free(m->rid);
}

static void model_push_mem(model *m, const uint8_t *p, size_t n) {
  CHECK(m->len + n <= MODEL_MAX);
  memcpy(m->val + m->len, p, n);
  memset(m->file + m->len, 0, n);
  m->len += n;
}

static void model_push_file(model *m, uint64_t off, size_t n, uint32_t id) {
  CHECK(m->len + n <= MODEL_MAX);
  for (size_t i = 0; i < n; i++) {
    m->val[m->len + i] = file_byte(off + i);
    m->file[m->len + i] = 1;
    m->off[m->len + i] = off + i;
    m->rid[m->len + i] = id;
  }
  ranges[id].live += n;
  m->len += n;
}

/* Moves the first n bytes of src to the end of dst (dst NULL: dropped). */
static void model_take(model *src, model *dst, size_t n) {
  CHECK(n <= src->len);
  if (dst) {
    CHECK(dst->len + n <= MODEL_MAX);
    memcpy(dst->val + dst->len, src->val, n);
    memcpy(dst->file + dst->len, src->file, n);
    memcpy(dst->off + dst->len, src->off, n * sizeof *src->off);
    memcpy(dst->rid + dst->len, src->rid, n * sizeof *src->rid);
    dst->len += n;
  } else {
    for (size_t i = 0; i < n; i++)
      if (src->file[i]) ranges[src->rid[i]].live--;
  }
  memmove(src->val, src->val + n, src->len - n);
  memmove(src->file, src->file + n, src->len - n);
  memmove(src->off, src->off + n, (src->len - n) * sizeof *src->off);
  memmove(src->rid, src->rid + n, (src->len - n) * sizeof *src->rid);
  src->len -= n;
}

static size_t model_leading_mem(const model *m) {
  size_t i = 0;
  while (i < m->len && !m->file[i]) i++;
  return i;
}

/* ---- checks of a queue against its model ---- */

static void check_front(const irh_bufq *q, const model *m) {
  CHECK(q->len == m->len);
  uv_buf_t iov[4096];
  size_t bytes;
  unsigned n = irh_bufq_peek(q, iov, 4096, &bytes);
  size_t mem = model_leading_mem(m);
  CHECK(bytes == mem); /* 4096 iovecs cover every test's memory run */
  size_t at = 0;
  for (unsigned i = 0; i < n; i++) {
    CHECK(iov[i].len > 0);
    CHECK(memcmp(iov[i].base, m->val + at, iov[i].len) == 0);
    at += iov[i].len;
  }
  irh_bufq_file_range r;
  int has = irh_bufq_front_file(q, &r);
  CHECK(has == (mem == 0 && m->len > 0));
  if (has) {
    CHECK(r.fd == test_fd && r.len > 0 && r.len <= m->len);
    for (size_t i = 0; i < r.len; i++) { /* one range, contiguous in the file */
      CHECK(m->file[i] && m->off[i] == r.offset + i);
      CHECK(m->rid[i] == m->rid[0]);
    }
  }
}

/* Sends everything as a writer would (memory from peek, files with pread),
 * in pieces of at most chunk bytes, comparing with the model. */
static void drain(irh_bufq *q, model *m, size_t chunk) {
  static uint8_t buf[1 << 16];
  while (q->len) {
    check_front(q, m);
    irh_bufq_file_range r;
    size_t n;
    if (irh_bufq_front_file(q, &r)) {
      n = r.len < chunk ? r.len : chunk;
      if (n > sizeof buf) n = sizeof buf;
      CHECK(pread(r.fd, buf, n, (off_t)r.offset) == (ssize_t)n);
    } else {
      uv_buf_t iov[64];
      size_t bytes;
      unsigned k = irh_bufq_peek(q, iov, 64, &bytes);
      CHECK(k > 0 && bytes > 0);
      n = iov[0].len < chunk ? iov[0].len : chunk;
      if (n > sizeof buf) n = sizeof buf;
      memcpy(buf, iov[0].base, n);
    }
    CHECK(memcmp(buf, m->val, n) == 0);
    model_take(m, NULL, n); /* before the queue: on_release checks it */
    irh_bufq_consume(q, n);
  }
  CHECK(m->len == 0 && q->head == NULL && q->tail == NULL);
}

/* ---- a deterministic random source ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static size_t below(size_t n) { return n ? (size_t)(next_rand() % n) : 0; }

static uint32_t new_range(void) {
  CHECK(nranges < MAX_RANGES);
  ranges[nranges] = (range){0, 0};
  return (uint32_t)nranges++;
}

static void add_file(irh_bufq *q, model *m, uint64_t off, size_t n) {
  uint32_t id = new_range();
  CHECK(irh_bufq_append_file(q, test_fd, off, n, on_release, &ranges[id]) == 0);
  model_push_file(m, off, n, id);
  if (n == 0) CHECK(ranges[id].released == 1); /* nothing queued: released at once */
}

static void add_mem(irh_bufq *q, model *m, size_t n) {
  static uint8_t src[40000];
  CHECK(n <= sizeof src);
  for (size_t i = 0; i < n; i++) src[i] = (uint8_t)next_rand();
  CHECK(irh_bufq_append(q, src, n) == 0);
  model_push_mem(m, src, n);
}

static void check_all_released(void) {
  for (size_t i = 0; i < nranges; i++) {
    CHECK(ranges[i].released == 1);
    CHECK(ranges[i].live == 0);
  }
  nranges = 0;
}

/* ---- memory blocks ---- */

static void test_memory(void) {
  irh_bufq q = {0}, d = {0};
  model m, md;
  model_init(&m);
  model_init(&md);

  /* Many small appends share blocks: few iovecs. */
  for (int i = 0; i < 10000; i++) add_mem(&q, &m, 7);
  check_front(&q, &m);
  uv_buf_t iov[64];
  size_t bytes;
  unsigned n = irh_bufq_peek(&q, iov, 64, &bytes);
  CHECK(n <= 6 && bytes == 70000); /* a 4 KiB block, then 16 KiB ones */
  /* peek honours max */
  CHECK(irh_bufq_peek(&q, iov, 1, &bytes) == 1 && bytes == iov[0].len && bytes < 70000);

  /* reserve + commit, used < reserved, and a reserve larger than a block */
  char *p = irh_bufq_reserve(&q, 100);
  CHECK(p);
  memset(p, 'r', 60);
  irh_bufq_commit(&q, 60);
  model_push_mem(&m, (const uint8_t *)p, 60);
  p = irh_bufq_reserve(&q, 30000);
  CHECK(p);
  for (int i = 0; i < 30000; i++) p[i] = (char)i;
  irh_bufq_commit(&q, 30000);
  model_push_mem(&m, (const uint8_t *)p, 30000);
  check_front(&q, &m);

  /* consume exactly to each block boundary, then one byte into the next */
  while (q.len) {
    n = irh_bufq_peek(&q, iov, 1, &bytes);
    CHECK(n == 1);
    model_take(&m, NULL, bytes);
    irh_bufq_consume(&q, bytes);
    check_front(&q, &m);
    if (q.len) {
      model_take(&m, NULL, 1);
      irh_bufq_consume(&q, 1);
      check_front(&q, &m);
    }
  }
  CHECK(q.head == NULL && q.tail == NULL); /* an idle queue holds no memory */

  /* read across blocks */
  for (int i = 0; i < 5; i++) add_mem(&q, &m, 20000);
  uint8_t out[50000];
  CHECK(irh_bufq_read(&q, out, 50000) == 50000);
  CHECK(memcmp(out, m.val, 50000) == 0);
  model_take(&m, NULL, 50000);
  check_front(&q, &m);
  CHECK(irh_bufq_read(&q, out, sizeof out) == 50000);
  model_take(&m, NULL, 50000);
  CHECK(q.len == 0 && q.head == NULL);

  /* a reserve left unfilled, then a bigger one: the empty block is skipped */
  CHECK(irh_bufq_reserve(&q, 10));
  irh_bufq_commit(&q, 0);
  CHECK(irh_bufq_reserve(&q, 20000));
  irh_bufq_commit(&q, 0);
  add_mem(&q, &m, 100);
  check_front(&q, &m);
  CHECK(irh_bufq_read(&q, out, 100) == 100 && memcmp(out, m.val, 100) == 0);
  model_take(&m, NULL, 100);
  irh_bufq_free(&q);

  /* splice: whole large blocks move, small and partial ones are copied */
  add_mem(&q, &m, 100);
  add_mem(&q, &m, 30000); /* its own block */
  add_mem(&q, &m, 16000);
  check_front(&q, &m);
  size_t sizes[] = {50, 50, 30000, 1, 15999, 0, 16000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && q.len; i++) {
    size_t k = sizes[i] < q.len ? sizes[i] : q.len;
    CHECK(irh_bufq_splice(&d, &q, k) == 0);
    model_take(&m, &md, k);
    check_front(&q, &m);
    check_front(&d, &md);
  }
  /* move */
  add_mem(&q, &m, 5000);
  irh_bufq_move(&d, &q);
  model_take(&m, &md, m.len);
  CHECK(q.len == 0 && q.head == NULL && q.tail == NULL);
  check_front(&d, &md);
  irh_bufq_move(&d, &q); /* an empty source changes nothing */
  check_front(&d, &md);
  drain(&d, &md, 3333);
  irh_bufq_free(&q);
  irh_bufq_free(&d);
  model_free(&m);
  model_free(&md);
}

/* ---- file blocks ---- */

static void test_file_alone(void) {
  irh_bufq q = {0};
  model m;
  model_init(&m);
  add_file(&q, &m, 1000, 50000);
  check_front(&q, &m);
  uv_buf_t iov[4];
  size_t bytes = 99;
  CHECK(irh_bufq_peek(&q, iov, 4, &bytes) == 0 && bytes == 0); /* no memory to hand out */
  uint8_t out[16];
  CHECK(irh_bufq_read(&q, out, sizeof out) == 0); /* read stops at the file */
  CHECK(q.len == 50000);
  irh_bufq_file_range r;
  CHECK(irh_bufq_front_file(&q, &r) && r.offset == 1000 && r.len == 50000);
  /* partial consumes (what sendfile took) move the offset */
  model_take(&m, NULL, 1);
  irh_bufq_consume(&q, 1);
  CHECK(irh_bufq_front_file(&q, &r) && r.offset == 1001 && r.len == 49999);
  CHECK(ranges[0].released == 0);
  drain(&q, &m, 7000);
  CHECK(ranges[0].released == 1); /* the last byte consumed released it */

  /* freed before it was sent: released by free */
  add_file(&q, &m, 0, 10);
  model_take(&m, NULL, 3);
  irh_bufq_consume(&q, 3);
  CHECK(ranges[1].released == 0);
  model_take(&m, NULL, m.len);
  irh_bufq_free(&q);
  CHECK(ranges[1].released == 1 && q.len == 0 && q.head == NULL);

  /* an empty range is released at once and queues nothing */
  add_file(&q, &m, 5, 0);
  CHECK(q.len == 0 && q.head == NULL);
  /* a NULL release is allowed */
  CHECK(irh_bufq_append_file(&q, test_fd, 0, 4, NULL, NULL) == 0);
  irh_bufq_free(&q);
  check_all_released();
  model_free(&m);
}

static void test_file_mixed(void) {
  irh_bufq q = {0};
  model m;
  model_init(&m);
  add_mem(&q, &m, 300); /* a head, as a protocol writes it */
  add_file(&q, &m, 4096, 100000);
  add_mem(&q, &m, 5); /* "\r\n0\r\n" after a chunked file body */
  add_file(&q, &m, 0, 10);
  add_file(&q, &m, 10, 10); /* adjacent ranges stay two blocks: two releases */
  add_mem(&q, &m, 20000);
  check_front(&q, &m);
  /* appends after a file block never go into it */
  char *p = irh_bufq_reserve(&q, 1);
  CHECK(p);
  *p = 'x';
  irh_bufq_commit(&q, 1);
  model_push_mem(&m, (const uint8_t *)p, 1);
  /* read and peek stop at the file */
  uint8_t out[1000];
  CHECK(irh_bufq_read(&q, out, sizeof out) == 300 && memcmp(out, m.val, 300) == 0);
  model_take(&m, NULL, 300);
  check_front(&q, &m);
  /* consume across a file block's end into the memory after it */
  model_take(&m, NULL, 100002);
  irh_bufq_consume(&q, 100002);
  CHECK(ranges[0].released == 1);
  check_front(&q, &m);
  drain(&q, &m, 4);
  check_all_released();
  model_free(&m);
}

static void test_file_split(void) {
  irh_bufq a = {0}, b = {0}, c = {0};
  model ma, mb, mc;
  model_init(&ma);
  model_init(&mb);
  model_init(&mc);
  add_mem(&a, &ma, 10);
  add_file(&a, &ma, 0, 90000);
  /* a splice ending inside the file block splits it; so do later ones */
  CHECK(irh_bufq_splice(&b, &a, 10 + 20000) == 0);
  model_take(&ma, &mb, 10 + 20000);
  CHECK(irh_bufq_splice(&c, &a, 30000) == 0);
  model_take(&ma, &mc, 30000);
  check_front(&a, &ma);
  check_front(&b, &mb);
  check_front(&c, &mc);
  irh_bufq_file_range r;
  CHECK(irh_bufq_front_file(&a, &r) && r.offset == 50000 && r.len == 40000);
  CHECK(irh_bufq_front_file(&c, &r) && r.offset == 20000 && r.len == 30000);
  /* the pieces go in any order; only the last one releases */
  drain(&b, &mb, 1 << 20);
  CHECK(ranges[0].released == 0);
  drain(&a, &ma, 12345);
  CHECK(ranges[0].released == 0);
  model_take(&mc, NULL, 29999);
  irh_bufq_consume(&c, 29999);
  CHECK(ranges[0].released == 0);
  model_take(&mc, NULL, 1);
  irh_bufq_free(&c); /* the last byte, freed rather than sent */
  CHECK(ranges[0].released == 1);

  /* a split piece freed with its queue while the rest is still queued */
  add_file(&a, &ma, 100, 1000);
  CHECK(irh_bufq_splice(&b, &a, 1) == 0);
  model_take(&ma, &mb, 1);
  model_take(&mb, NULL, mb.len);
  irh_bufq_free(&b);
  CHECK(ranges[1].released == 0);
  irh_bufq_move(&c, &a); /* move keeps the piece whole */
  model_take(&ma, &mc, ma.len);
  check_front(&c, &mc);
  drain(&c, &mc, 999);
  check_all_released();
  irh_bufq_free(&a);
  model_free(&ma);
  model_free(&mb);
  model_free(&mc);
}

/* Long random runs over two queues: every operation, at random sizes, with
 * the model checked after each. */
static void test_random(void) {
  irh_bufq q[2] = {{0}, {0}};
  model m[2];
  model_init(&m[0]);
  model_init(&m[1]);
  for (int round = 0; round < 20; round++) {
    for (int op = 0; op < 400; op++) {
      int i = (int)below(2);
      irh_bufq *x = &q[i], *y = &q[1 - i];
      model *mx = &m[i], *my = &m[1 - i];
      switch (below(9)) {
      case 0:
      case 1:
        if (mx->len < RANDOM_CAP) add_mem(x, mx, below(3) ? below(200) : below(40000));
        break;
      case 2:
        if (mx->len < RANDOM_CAP && nranges < MAX_RANGES) {
          uint64_t off = below(FILE_SIZE / 2);
          add_file(x, mx, off, below(3) ? below(100) : below(RANDOM_CAP / 2));
        }
        break;
      case 3: {
        size_t k = below(mx->len + 1);
        model_take(mx, NULL, k);
        irh_bufq_consume(x, k);
        break;
      }
      case 4:
      case 5:
        if (my->len < RANDOM_CAP) {
          size_t k = below(3) ? below(mx->len + 1) : mx->len;
          CHECK(irh_bufq_splice(y, x, k) == 0);
          model_take(mx, my, k);
        }
        break;
      case 6: {
        static uint8_t out[50000];
        size_t want = below(sizeof out);
        size_t mem = model_leading_mem(mx);
        size_t got = irh_bufq_read(x, out, want);
        CHECK(got == (want < mem ? want : mem));
        CHECK(memcmp(out, mx->val, got) == 0);
        model_take(mx, NULL, got);
        break;
      }
      case 7:
        if (mx->len + my->len <= 2 * RANDOM_CAP && below(4) == 0) {
          irh_bufq_move(y, x);
          model_take(mx, my, mx->len);
        }
        break;
      case 8: {
        size_t n = 1 + below(5000);
        char *p = irh_bufq_reserve(x, n);
        CHECK(p);
        size_t used = below(n + 1);
        for (size_t k = 0; k < used; k++) p[k] = (char)next_rand();
        irh_bufq_commit(x, used);
        model_push_mem(mx, (const uint8_t *)p, used);
        break;
      }
      }
      check_front(x, mx);
      check_front(y, my);
    }
    if (round % 2) { /* sent to the end */
      drain(&q[0], &m[0], 1 + below(70000));
      drain(&q[1], &m[1], 1 + below(70000));
    } else { /* dropped with the connection */
      model_take(&m[0], NULL, m[0].len);
      model_take(&m[1], NULL, m[1].len);
      irh_bufq_free(&q[0]);
      irh_bufq_free(&q[1]);
    }
    check_all_released();
  }
  model_free(&m[0]);
  model_free(&m[1]);
}

/* Large counts: 20,000 file ranges and 200,000 small appends interleaved in
 * one queue, spliced in pieces to another, then freed. */
static void test_large_counts(void) {
  irh_bufq a = {0}, b = {0};
  model ma, mb;
  model_init(&ma);
  model_init(&mb);
  for (int i = 0; i < MAX_RANGES; i++) {
    add_file(&a, &ma, (uint64_t)i * 17, 1 + (size_t)(i % 50));
    for (int k = 0; k < 10; k++) add_mem(&a, &ma, 1);
  }
  check_front(&a, &ma);
  while (a.len) {
    size_t k = 1 + below(700);
    if (k > a.len) k = a.len;
    CHECK(irh_bufq_splice(&b, &a, k) == 0);
    model_take(&ma, &mb, k);
  }
  check_front(&b, &mb);
  size_t half = mb.len / 2;
  model_take(&mb, NULL, half);
  irh_bufq_consume(&b, half);
  check_front(&b, &mb);
  model_take(&mb, NULL, mb.len);
  irh_bufq_free(&b);
  irh_bufq_free(&a);
  check_all_released();
  model_free(&ma);
  model_free(&mb);
}

int main(void) {
  char path[] = "/tmp/iridium-test-bufq-XXXXXX";
  test_fd = mkstemp(path);
  CHECK(test_fd >= 0);
  unlink(path);
  static uint8_t content[FILE_SIZE];
  for (uint64_t i = 0; i < FILE_SIZE; i++) content[i] = file_byte(i);
  CHECK(write(test_fd, content, sizeof content) == (ssize_t)sizeof content);

  test_memory();
  test_file_alone();
  test_file_mixed();
  test_file_split();
  test_random();
  test_large_counts();
  close(test_fd);
  irh_recycler_release();
  return 0;
}
