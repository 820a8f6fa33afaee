/* history.c — mod_status's last ST_HISTORY seconds: a timer on the first
 * worker takes one sample per second (the server's counters, the
 * process's CPU and RSS from /proc/self) into a ring that any worker's
 * /json copies under a lock. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "status.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static st_sample ring[ST_HISTORY];
static size_t next, count; /* under lock */
static ir_timer_t *sampler; /* the first worker's */

void st_process_now(uint64_t *cpu_ticks, uint64_t *rss_bytes) {
  *cpu_ticks = *rss_bytes = 0;
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (f) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after "(comm)": state is field 3; utime and stime are 14 and 15 */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
      *cpu_ticks = ut + st;
  }
  f = fopen("/proc/self/statm", "r");
  if (f) {
    unsigned long long size, resident;
    if (fscanf(f, "%llu %llu", &size, &resident) == 2)
      *rss_bytes = resident * (uint64_t)sysconf(_SC_PAGESIZE);
    fclose(f);
  }
}

static void take_sample(ir_timer_t *t, void *data) {
  (void)t, (void)data;
  ir_server_info info;
  if (ir_server_info_get(&info) != IR_OK) return;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  st_sample s = {
      .t_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u,
      .requests = info.requests_total,
      .bytes_in = info.bytes_in,
      .bytes_out = info.bytes_out,
      .connections = info.connections_open,
      .streams = info.streams_open,
  };
  st_process_now(&s.cpu_ticks, &s.rss_bytes);
  pthread_mutex_lock(&lock);
  ring[next] = s;
  next = (next + 1) % ST_HISTORY;
  if (count < ST_HISTORY) count++;
  pthread_mutex_unlock(&lock);
}

void st_history_start(ir_worker_t *w) {
  take_sample(NULL, NULL); /* the first point at once: rates start from it */
  sampler = ir_timer_start(w, 1000, 1000, take_sample, NULL);
}

void st_history_stop(void) {
  ir_timer_stop(sampler);
  sampler = NULL;
}

size_t st_history_copy(st_sample *out, size_t max) {
  pthread_mutex_lock(&lock);
  size_t n = count < max ? count : max;
  size_t start = (next + ST_HISTORY - n) % ST_HISTORY;
  for (size_t i = 0; i < n; i++) out[i] = ring[(start + i) % ST_HISTORY];
  pthread_mutex_unlock(&lock);
  return n;
}
