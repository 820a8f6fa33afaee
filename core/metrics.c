/* metrics.c — the counters and gauges modules register (SDK 1.4 metric_*).
 *
 * One registry for the process, opened with the number of workers before
 * modules start (irh_metrics_open) and freed after they are gone.
 *
 * Shape: metrics form a list in registration order; each metric keeps its
 * series in creation order in a fixed array of IRH_METRIC_MAX_SERIES
 * pointers, and a hash table of the same size (chained) to find a series by
 * its label values. Both lists only grow, and each new element is
 * published with a release store after it is complete, so metric_list walks
 * them without a lock (and its callback may call anything). Registering
 * takes the registry's lock, making a series its metric's lock.
 *
 * Each series has one slot per worker, on its own cache line: only that
 * worker writes it (relaxed load + store, no read-modify-write), and
 * metric_list reads every slot with a relaxed load and sums them.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "module.h"
#include "worker.h"

typedef struct irh_metric_slot {
  _Alignas(64) _Atomic int64_t value; /* one worker's part; a cache line each */
} irh_metric_slot;

struct ir_series {
  ir_str *label_values;     /* nlabels copies, owned (one block with the bytes) */
  irh_metric_slot *slots;   /* nslots, owned */
  struct ir_series *bucket; /* next in the same hash bucket */
  uint64_t hash;
  uint32_t type; /* its metric's */
};

struct ir_metric {
  char *module; /* the registering module's name, owned */
  char *name;   /* owned */
  char *help;   /* owned */
  uint32_t type;
  char *label_names[IRH_METRIC_MAX_LABELS]; /* nlabels, owned */
  size_t nlabels;
  uv_mutex_t lock;                                  /* making series */
  struct ir_series **by_hash;                       /* IRH_METRIC_MAX_SERIES buckets, owned */
  struct ir_series *series[IRH_METRIC_MAX_SERIES]; /* creation order, owned */
  _Atomic size_t nseries;                           /* published count */
  int cap_logged;
  _Atomic(struct ir_metric *) next; /* registration order */
};

static struct {
  int open;
  unsigned nslots;
  uv_mutex_t lock;                   /* registering */
  _Atomic(struct ir_metric *) first; /* registration order */
  struct ir_metric *last;
} registry;

int irh_metrics_open(unsigned nworkers) {
  if (registry.open || nworkers == 0) return -1;
  if (uv_mutex_init(&registry.lock) != 0) return -1;
  registry.nslots = nworkers;
  atomic_store(&registry.first, NULL);
  registry.last = NULL;
  registry.open = 1;
  return 0;
}

static void series_free(struct ir_series *se) {
  free(se->label_values);
  free(se->slots);
  free(se);
}

void irh_metrics_close(void) {
  if (!registry.open) return;
  struct ir_metric *mt = atomic_load(&registry.first);
  while (mt) {
    struct ir_metric *next = atomic_load(&mt->next);
    for (size_t i = 0; i < atomic_load(&mt->nseries); i++) series_free(mt->series[i]);
    for (size_t i = 0; i < mt->nlabels; i++) free(mt->label_names[i]);
    free(mt->by_hash);
    free(mt->module);
    free(mt->name);
    free(mt->help);
    uv_mutex_destroy(&mt->lock);
    free(mt);
    mt = next;
  }
  uv_mutex_destroy(&registry.lock);
  registry.open = 0;
}

/* ---- registering ---- */

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names (colon), [a-zA-Z_][a-zA-Z0-9_]*
 * for label names; up to IRH_METRIC_MAX_NAME bytes. */
static int valid_name(const char *s, int colon) {
  if (!s || !*s) return 0;
  size_t n = strnlen(s, IRH_METRIC_MAX_NAME + 1);
  if (n > IRH_METRIC_MAX_NAME) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return 0;
  }
  return 1;
}

static struct ir_metric *find_metric(const char *name) {
  for (struct ir_metric *mt = atomic_load(&registry.first); mt; mt = atomic_load(&mt->next))
    if (strcmp(mt->name, name) == 0) return mt;
  return NULL;
}

/* Why a registration is refused, or NULL when it may go ahead. */
static const char *refusal(const char *name, uint32_t type, const char *help,
                           const char *const *label_names, size_t nlabels) {
  if (!valid_name(name, 1)) return "the name is not [a-zA-Z_:][a-zA-Z0-9_:]* (up to 200 bytes)";
  if (type != IR_METRIC_COUNTER && type != IR_METRIC_GAUGE) return "unknown type";
  if (!help || strchr(help, '\n') || strnlen(help, IRH_METRIC_MAX_HELP + 1) > IRH_METRIC_MAX_HELP)
    return "help must be one line (up to 1024 bytes)";
  if (nlabels > IRH_METRIC_MAX_LABELS) return "more than 8 labels";
  if (nlabels && !label_names) return "no label names";
  for (size_t i = 0; i < nlabels; i++) {
    if (!valid_name(label_names[i], 0)) return "a label name is not [a-zA-Z_][a-zA-Z0-9_]*";
    if (strncmp(label_names[i], "__", 2) == 0) return "label names starting with __ are reserved";
    for (size_t j = 0; j < i; j++)
      if (strcmp(label_names[i], label_names[j]) == 0) return "a label name is repeated";
  }
  if (find_metric(name)) return "the name is taken";
  return NULL;
}

static struct ir_series *series_new(struct ir_metric *mt, const ir_str *values, uint64_t hash);

static struct ir_metric *metric_new(ir_module_t *m, const char *name, uint32_t type,
                                    const char *help, const char *const *label_names,
                                    size_t nlabels) {
  struct ir_metric *mt = calloc(1, sizeof(*mt));
  if (!mt) return NULL;
  if (uv_mutex_init(&mt->lock) != 0) {
    free(mt);
    return NULL;
  }
  mt->type = type;
  mt->nlabels = nlabels;
  int ok = (mt->module = strdup(m->name)) && (mt->name = strdup(name)) &&
           (mt->help = strdup(help));
  for (size_t i = 0; ok && i < nlabels; i++) ok = (mt->label_names[i] = strdup(label_names[i])) != NULL;
  /* Without labels there is one series, made now so it is always listed. */
  if (ok && nlabels == 0) ok = series_new(mt, NULL, 0) != NULL;
  if (ok) return mt;
  for (size_t i = 0; i < nlabels; i++) free(mt->label_names[i]);
  uv_mutex_destroy(&mt->lock);
  free(mt->module);
  free(mt->name);
  free(mt->help);
  free(mt);
  return NULL;
}

ir_metric_t *irh_metric_register(ir_module_t *m, const char *name, uint32_t type,
                                 const char *help, const char *const *label_names,
                                 size_t nlabels) {
  if (!m) return NULL;
  if (!registry.open) {
    irh_log(IR_LOG_ERROR, 0, -1, m->name, "metric_register: no metrics in this process");
    return NULL;
  }
  uv_mutex_lock(&registry.lock);
  const char *why = refusal(name, type, help, label_names, nlabels);
  struct ir_metric *mt = why ? NULL : metric_new(m, name, type, help, label_names, nlabels);
  if (!why && !mt) why = "out of memory";
  if (mt) {
    if (registry.last)
      atomic_store_explicit(&registry.last->next, mt, memory_order_release);
    else
      atomic_store_explicit(&registry.first, mt, memory_order_release);
    registry.last = mt;
  }
  uv_mutex_unlock(&registry.lock);
  if (why)
    irh_log(IR_LOG_ERROR, 0, -1, m->name, "metric_register(\"%.*s\") refused: %s",
            name ? (int)strnlen(name, 64) : 6, name ? name : "(null)", why);
  return mt;
}

/* ---- series ---- */

/* FNV-1a over each value and its length, so ("ab","") and ("a","b") differ. */
static uint64_t values_hash(const ir_str *values, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < values[i].len; k++) h = (h ^ (uint8_t)values[i].ptr[k]) * 1099511628211ull;
    h = (h ^ values[i].len) * 1099511628211ull;
  }
  return h;
}

static int same_values(const struct ir_series *se, const ir_str *values, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (se->label_values[i].len != values[i].len ||
        (values[i].len && memcmp(se->label_values[i].ptr, values[i].ptr, values[i].len) != 0))
      return 0;
  return 1;
}

/* Makes and publishes a series (mt's lock held, or mt not yet shared).
 * NULL at the cap or out of memory. */
static struct ir_series *series_new(struct ir_metric *mt, const ir_str *values, uint64_t hash) {
  size_t count = atomic_load_explicit(&mt->nseries, memory_order_relaxed);
  if (count == IRH_METRIC_MAX_SERIES) return NULL;
  if (mt->nlabels && !mt->by_hash &&
      !(mt->by_hash = calloc(IRH_METRIC_MAX_SERIES, sizeof(*mt->by_hash))))
    return NULL;
  size_t bytes = 0;
  for (size_t i = 0; i < mt->nlabels; i++) bytes += values[i].len;
  struct ir_series *se = calloc(1, sizeof(*se));
  if (!se) return NULL;
  /* The value array and the value bytes (each NUL-terminated) in one block. */
  se->label_values = malloc(mt->nlabels * sizeof(ir_str) + bytes + mt->nlabels + 1);
  se->slots = aligned_alloc(_Alignof(irh_metric_slot), registry.nslots * sizeof(irh_metric_slot));
  if (!se->label_values || !se->slots) {
    series_free(se);
    return NULL;
  }
  char *text = (char *)(se->label_values + mt->nlabels);
  for (size_t i = 0; i < mt->nlabels; i++) {
    if (values[i].len) memcpy(text, values[i].ptr, values[i].len);
    text[values[i].len] = '\0';
    se->label_values[i] = (ir_str){text, values[i].len};
    text += values[i].len + 1;
  }
  for (unsigned i = 0; i < registry.nslots; i++) atomic_init(&se->slots[i].value, 0);
  se->hash = hash;
  se->type = mt->type;
  if (mt->by_hash) {
    size_t b = hash % IRH_METRIC_MAX_SERIES;
    se->bucket = mt->by_hash[b];
    mt->by_hash[b] = se;
  }
  mt->series[count] = se;
  atomic_store_explicit(&mt->nseries, count + 1, memory_order_release);
  return se;
}

ir_series_t *irh_metric_series(ir_metric_t *mt, const ir_str *label_values, size_t nvalues) {
  if (!mt || nvalues != mt->nlabels || (nvalues && !label_values)) return NULL;
  for (size_t i = 0; i < nvalues; i++)
    if (label_values[i].len > IRH_METRIC_MAX_VALUE || (label_values[i].len && !label_values[i].ptr))
      return NULL;
  if (nvalues == 0) return mt->series[0]; /* made at registration, never changes */
  uint64_t hash = values_hash(label_values, nvalues);
  uv_mutex_lock(&mt->lock);
  struct ir_series *se = mt->by_hash ? mt->by_hash[hash % IRH_METRIC_MAX_SERIES] : NULL;
  while (se && !(se->hash == hash && same_values(se, label_values, nvalues))) se = se->bucket;
  if (!se) se = series_new(mt, label_values, hash);
  int log_cap = !se && !mt->cap_logged &&
                atomic_load_explicit(&mt->nseries, memory_order_relaxed) == IRH_METRIC_MAX_SERIES;
  if (log_cap) mt->cap_logged = 1;
  uv_mutex_unlock(&mt->lock);
  if (log_cap)
    irh_log(IR_LOG_WARN, 0, -1, mt->module, "metric %s: %d series, no more are made", mt->name,
            IRH_METRIC_MAX_SERIES);
  return se;
}

/* ---- updates, on the worker that owns the slot ---- */

static _Atomic int64_t *slot_of(struct ir_worker *w, ir_series_t *se) {
  if (!w || !se || w->index >= registry.nslots) return NULL;
  return &se->slots[w->index].value;
}

void irh_metric_add(struct ir_worker *w, ir_series_t *se, int64_t delta) {
  _Atomic int64_t *v = slot_of(w, se);
  if (!v || (delta < 0 && se->type == IR_METRIC_COUNTER)) return; /* counters only go up */
  /* Single writer: a plain load and store; the wrap is the one of uint64. */
  uint64_t now = (uint64_t)atomic_load_explicit(v, memory_order_relaxed) + (uint64_t)delta;
  atomic_store_explicit(v, (int64_t)now, memory_order_relaxed);
}

void irh_metric_set(struct ir_worker *w, ir_series_t *se, int64_t value) {
  _Atomic int64_t *v = slot_of(w, se);
  if (v && se->type == IR_METRIC_GAUGE) atomic_store_explicit(v, value, memory_order_relaxed);
}

/* ---- listing ---- */

size_t irh_metric_list(ir_metric_visit_cb cb, void *data) {
  if (!cb || !registry.open) return 0;
  size_t count = 0;
  for (struct ir_metric *mt = atomic_load_explicit(&registry.first, memory_order_acquire); mt;
       mt = atomic_load_explicit(&mt->next, memory_order_acquire)) {
    size_t n = atomic_load_explicit(&mt->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
      const struct ir_series *se = mt->series[i];
      uint64_t sum = 0;
      for (unsigned k = 0; k < registry.nslots; k++)
        sum += (uint64_t)atomic_load_explicit(&se->slots[k].value, memory_order_relaxed);
      ir_metric_sample sample = {
          .struct_size = sizeof(sample),
          .type = mt->type,
          .module = mt->module,
          .name = mt->name,
          .help = mt->help,
          .label_names = (const char *const *)mt->label_names,
          .label_values = se->label_values,
          .nlabels = mt->nlabels,
          .value = (int64_t)sum,
      };
      cb(&sample, data);
      count++;
    }
  }
  return count;
}
