/* test_worker_date.c — the worker's Date cache gives the field's value
 * only (an IMF-fixdate, RFC 9110 5.6.7), which each protocol frames, and
 * formats it once per second rather than once per response. */
#define _GNU_SOURCE /* strptime, timegm */
#include <regex.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "worker.h"

static ir_worker_t w; /* only the date cache is used: zeroed is enough */

int main(void) {
  time_t before = time(NULL);
  size_t len = 0;
  const char *d = irh_worker_date(&w, &len);
  time_t after = time(NULL);
  CHECK(d && len == 29);
  CHECK(strlen(d) == len);
  regex_t re;
  CHECK(regcomp(&re,
                "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] "
                "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT$",
                REG_EXTENDED | REG_NOSUB) == 0);
  CHECK(regexec(&re, d, 0, NULL, 0) == 0);
  regfree(&re);

  /* It is the time now, in GMT. */
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  CHECK(strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm) != NULL);
  time_t t = timegm(&tm);
  CHECK(t >= before && t <= after);

  /* Within the same second the same bytes come back from the cache. */
  w.date[len - 1] = 'X'; /* marks the cached copy */
  w.date_sec = (uint64_t)time(NULL);
  size_t len2 = 0;
  const char *d2 = irh_worker_date(&w, &len2);
  CHECK(d2 == d && len2 == len && d2[len - 1] == 'X');
  /* A later second formats it again. */
  w.date_sec -= 1;
  d2 = irh_worker_date(&w, &len2);
  CHECK(len2 == 29 && d2[28] == 'T');
  return 0;
}
