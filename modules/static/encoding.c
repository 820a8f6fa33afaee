/* encoding.c — which precompressed variant of a file to send.
 *
 * A file may have up to three variants beside it: file.br, file.zst and
 * file.gz. The client's Accept-Encoding says which codings it takes (a
 * coding with q=0 is refused; "*" stands for the codings it does not
 * name); among the variants that exist and are accepted the module prefers
 * br, then zstd, then gzip, whatever the q-values' order: the q-values only
 * say yes or no. Without Accept-Encoding the file itself is sent.
 */
#include <string.h>
#include <strings.h>

#include "static.h"

static const char *const file_suffixes[ST_NREPS] = {NULL, ".br", ".zst", ".gz"};
static const char *const codings[ST_NREPS] = {NULL, "br", "zstd", "gzip"};

const char *st_rep_file_suffix(int kind) {
  return kind > 0 && kind < ST_NREPS ? file_suffixes[kind] : NULL;
}

const char *st_rep_coding(int kind) { return kind > 0 && kind < ST_NREPS ? codings[kind] : NULL; }

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* A qvalue: 1 when above zero, 0 when zero, -1 when malformed. */
static int qvalue_positive(const char *p, const char *end) {
  if (p == end || (*p != '0' && *p != '1')) return -1;
  int positive = *p == '1';
  p++;
  if (p < end && *p == '.') {
    p++;
    for (int n = 0; p < end && *p >= '0' && *p <= '9'; p++, n++) {
      if (n == 3) return -1;
      if (*p != '0') {
        if (positive) return -1; /* above 1 */
        positive = 1;
      }
    }
  }
  return p == end ? positive : -1;
}

/* The ";q=" of a member's parameters (from ';' on): 1 when absent. */
static int member_positive(const char *p, const char *end) {
  int result = 1;
  while (p < end) {
    while (p < end && (is_ows(*p) || *p == ';')) p++;
    const char *name = p;
    while (p < end && *p != '=' && *p != ';' && !is_ows(*p)) p++;
    size_t nlen = (size_t)(p - name);
    while (p < end && is_ows(*p)) p++;
    if (p == end || *p != '=') {
      if (nlen) return -1;
      continue;
    }
    p++;
    while (p < end && is_ows(*p)) p++;
    const char *val = p;
    while (p < end && *p != ';' && !is_ows(*p)) p++;
    if (nlen == 1 && (*name == 'q' || *name == 'Q')) result = qvalue_positive(val, p);
  }
  return result;
}

/* The rep kind a coding name stands for; 0 for "*", -1 for others. */
static int coding_kind(const char *p, size_t n) {
  if (n == 1 && *p == '*') return 0;
  if (n == 2 && strncasecmp(p, "br", 2) == 0) return ST_REP_BR;
  if (n == 4 && strncasecmp(p, "zstd", 4) == 0) return ST_REP_ZSTD;
  if (n == 4 && strncasecmp(p, "gzip", 4) == 0) return ST_REP_GZIP;
  if (n == 6 && strncasecmp(p, "x-gzip", 6) == 0) return ST_REP_GZIP;
  return -1;
}

unsigned st_accept_encoding(ir_str value) {
  int q[ST_NREPS] = {-1, -1, -1, -1}; /* [0] is "*"; -1 = not named */
  const char *p = value.ptr, *end = value.ptr + value.len;
  while (p < end) {
    while (p < end && (is_ows(*p) || *p == ',')) p++;
    const char *member = p;
    while (p < end && *p != ',') p++;
    const char *mend = p;
    const char *name_end = member;
    while (name_end < mend && *name_end != ';' && !is_ows(*name_end)) name_end++;
    if (name_end == member) continue;
    int kind = coding_kind(member, (size_t)(name_end - member));
    if (kind < 0) continue;
    const char *params = memchr(name_end, ';', (size_t)(mend - name_end));
    int positive = params ? member_positive(params, mend) : 1;
    if (positive < 0) continue; /* a malformed member says nothing */
    q[kind] = positive;
  }
  unsigned accepted = 0;
  for (int k = ST_REP_BR; k < ST_NREPS; k++)
    if (q[k] == 1 || (q[k] < 0 && q[0] == 1)) accepted |= 1u << k;
  return accepted;
}

int st_choose_rep(unsigned accepted, unsigned available) {
  for (int k = ST_REP_BR; k < ST_NREPS; k++)
    if (accepted & available & (1u << k)) return k;
  return ST_REP_IDENTITY;
}
