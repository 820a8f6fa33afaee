/* jobs.c — the SDK example of thread-pool work you can cancel (sdk/README.md,
 * "Thread-pool work you can cancel").
 *
 *   mode = slow   ?ms=N: a job that sleeps N ms on the thread pool, bound
 *                 to the stream; the answer comes from its done. A client
 *                 that leaves first gets nothing, and done hears IR_ECLOSED.
 *   mode = batch  ?n=N&ms=M: a job of M ms, N more behind it that are
 *                 cancelled at once, then one more; the answer comes when
 *                 all N+2 are done. With [server] thread_pool = 1 the N are
 *                 still queued, so every cancel succeeds.
 *   mode = stats  what every done was told, and how often work ran.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iridium/iridium.h>

#define MAX_BATCH 64

enum { MODE_SLOW, MODE_BATCH, MODE_STATS };

/* Counted on every worker; read by mode = stats. */
static atomic_long done_ok, done_canceled, done_closed, work_ran, broken_rules;

/* One request's jobs: malloc'd, freed by the last done (done always comes,
 * exactly once per job work_start returned, even after the stream closed). */
typedef struct request {
  ir_stream_t *s; /* NULL once on_close ran: never touched after */
  unsigned pending;
  unsigned cancelled; /* work_cancel said IR_OK */
  unsigned ms;
} request;

typedef struct job {
  request *req;
  unsigned ms;
} job;

static const ir_config_key jobs_keys[] = {
    IR_KEY(IR_KEY_STRING, "mode", "slow", 0, "slow, batch or stats"),
    IR_KEY_END,
};

static int jobs_instance_create(ir_instance_t *inst, void **data) {
  ir_str m;
  ir_instance_get_str(inst, "mode", &m);
  int mode = m.len == 5 && !memcmp(m.ptr, "batch", 5)   ? MODE_BATCH
             : m.len == 5 && !memcmp(m.ptr, "stats", 5) ? MODE_STATS
                                                        : MODE_SLOW;
  *data = (void *)(uintptr_t)mode;
  return IR_OK;
}

/* A number from the query ("ms=250&n=8"), at most max; 0 when absent. */
static unsigned query_number(ir_stream_t *s, const char *key, unsigned max) {
  ir_str q = ir_req_query(s);
  size_t klen = strlen(key);
  for (size_t i = 0; i + klen < q.len; i++)
    if ((i == 0 || q.ptr[i - 1] == '&') && !memcmp(q.ptr + i, key, klen) && q.ptr[i + klen] == '=') {
      unsigned long n = 0;
      for (size_t k = i + klen + 1; k < q.len && q.ptr[k] >= '0' && q.ptr[k] <= '9'; k++)
        if ((n = n * 10 + (unsigned long)(q.ptr[k] - '0')) > max) return max;
      return (unsigned)n;
    }
  return 0;
}

/* On a pool thread: no SDK calls here. */
static void sleep_work(void *data) {
  job *j = data;
  struct timespec ts = {j->ms / 1000, (long)(j->ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  atomic_fetch_add(&work_ran, 1);
}

static void answer(request *r) {
  char text[96];
  int n = snprintf(text, sizeof text, "slept %u ms; %u cancelled\n", r->ms, r->cancelled);
  if (ir_respond_simple(r->s, 200, "text/plain", text, (size_t)n) != IR_OK) ir_stream_reset(r->s);
}

/* On the stream's worker, exactly once per job. */
static void job_done(void *data, int status) {
  job *j = data;
  request *r = j->req;
  free(j);
  if (status == IR_OK) atomic_fetch_add(&done_ok, 1);
  if (status == IR_ECANCELED) atomic_fetch_add(&done_canceled, 1);
  if (status == IR_ECLOSED) atomic_fetch_add(&done_closed, 1);
  /* IR_ECLOSED exactly when the stream closed first. */
  if ((status == IR_ECLOSED) != (r->s == NULL)) atomic_fetch_add(&broken_rules, 1);
  if (--r->pending) return;
  if (r->s) {
    ir_stream_set_data(r->s, NULL);
    answer(r);
  }
  free(r);
}

static ir_work_t *start_job(request *r, unsigned ms) {
  job *j = malloc(sizeof(*j));
  if (!j) return NULL;
  *j = (job){r, ms};
  ir_work_t *wk = ir_work_start(ir_stream_worker(r->s), r->s, sleep_work, job_done, j);
  if (!wk) {
    free(j);
    return NULL;
  }
  r->pending++;
  return wk;
}

static int answer_stats(ir_stream_t *s) {
  char text[160];
  int n = snprintf(text, sizeof text, "ok=%ld canceled=%ld closed=%ld ran=%ld broken=%ld\n",
                   atomic_load(&done_ok), atomic_load(&done_canceled), atomic_load(&done_closed),
                   atomic_load(&work_ran), atomic_load(&broken_rules));
  return ir_respond_simple(s, 200, "text/plain", text, (size_t)n);
}

static int jobs_on_request(ir_stream_t *s, void *instance_data) {
  int mode = (int)(uintptr_t)instance_data;
  if (mode == MODE_STATS) return answer_stats(s);
  request *r = calloc(1, sizeof(*r));
  if (!r) return IR_ENOMEM;
  r->s = s;
  r->ms = query_number(s, "ms", 10000);
  ir_stream_set_data(s, r);
  if (!start_job(r, r->ms)) goto failed;
  if (mode == MODE_BATCH) {
    unsigned n = query_number(s, "n", MAX_BATCH);
    for (unsigned i = 0; i < n; i++) {
      ir_work_t *wk = start_job(r, 0);
      if (wk && ir_work_cancel(wk) == IR_OK) r->cancelled++;
    }
    start_job(r, 0); /* behind the cancelled ones: runs as usual */
  }
  return IR_OK;
failed:
  ir_stream_set_data(s, NULL);
  free(r);
  return IR_ENOMEM;
}

static void jobs_on_close(ir_stream_t *s, int reason) {
  (void)reason;
  request *r = ir_stream_data(s);
  if (r) r->s = NULL; /* done still comes, and must not touch s */
}

static const ir_module_desc jobs_module = {
    IR_MODULE_DESC_HEADER,
    .name = "jobs",
    .version = "1.0.0",
    .keys = jobs_keys,
    .instance_create = jobs_instance_create,
    .on_request = jobs_on_request,
    .on_close = jobs_on_close,
};

IR_MODULE_DEFINE(jobs_module)
