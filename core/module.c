/* module.c — loading modules, the ABI handshake and route instances; see
 * module.h for the rules this file enforces. */
#include "module.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "services.h"

/* The smallest descriptor and key entry the host can make sense of. */
#define DESC_MIN_SIZE (offsetof(ir_module_desc, version) + sizeof(const char *))
#define KEY_MIN_SIZE (offsetof(ir_config_key, required) + sizeof(uint32_t))

/* The loaded module of that name and path, or NULL. */
static ir_module_t *find_loaded(irh_modules *m, const char *name, const char *path) {
  for (size_t i = 0; i < m->nmodules; i++)
    if (m->modules[i].handle && strcmp(m->modules[i].name, name) == 0 &&
        strcmp(m->modules[i].path, path) == 0)
      return &m->modules[i];
  return NULL;
}

/* c's module of that name (the route's), as map[] has it, or NULL. */
static ir_module_t *module_named(const irh_config *c, ir_module_t **map, const char *name) {
  for (size_t i = 0; i < c->nmodules; i++)
    if (map[i] && strcmp(c->modules[i].name, name) == 0) return map[i];
  return NULL;
}

/* Copies the module's key table into host-sized entries, ended by a NULL
 * name, stepping through the module's array by its own struct_size. */
static int copy_keys(irh_config *c, const irh_module_cfg *mc, ir_module_t *mod) {
  const ir_config_key *k = mod->desc.keys;
  size_t n = 0;
  for (const char *p = (const char *)k; k && ((const ir_config_key *)p)->name;
       p += ((const ir_config_key *)p)->struct_size) {
    if (((const ir_config_key *)p)->struct_size < KEY_MIN_SIZE)
      return irh_config_error(c, mc->section->line, "[module %s] key table entry %zu is malformed",
                              mc->name, n);
    n++;
  }
  mod->keys = calloc(n + 1, sizeof(*mod->keys));
  if (!mod->keys) return irh_config_error(c, mc->section->line, "out of memory");
  const char *p = (const char *)k;
  for (size_t i = 0; i < n; i++) {
    const ir_config_key *src = (const ir_config_key *)p;
    size_t copy =
        src->struct_size < sizeof(ir_config_key) ? src->struct_size : sizeof(ir_config_key);
    memcpy(&mod->keys[i], src, copy);
    mod->keys[i].struct_size = sizeof(ir_config_key);
    if (mod->keys[i].type < IR_KEY_STRING || mod->keys[i].type > IR_KEY_PATH)
      return irh_config_error(c, mc->section->line, "[module %s] key '%s' has unknown type %u",
                              mc->name, mod->keys[i].name, mod->keys[i].type);
    p += src->struct_size;
  }
  mod->keys[n].struct_size = sizeof(ir_config_key);
  mod->nkeys = n;
  return 0;
}

/* [module NAME] loaded a .so that calls itself something else (a path
 * that points at the wrong file, or a copy renamed on purpose): allowed,
 * since routes name the section, but said at the path's line. */
static void warn_if_renamed(const irh_config *c, const irh_module_cfg *mc, const ir_module_t *mod) {
  const char *own = mod->desc.name;
  if (own && strcmp(own, mc->name) == 0) return;
  const irh_kv *path = irh_section_find(mc->section, "path");
  irh_config_warn(c, path ? path->line : mc->section->line,
                  "[module %s] %s calls itself '%s'; routes use the section's name '%s'", mc->name,
                  mod->path, own ? own : "(no name)", mc->name);
}

/* dlopen + entry + ABI check. On refusal the module is closed again and
 * nothing but its entry function has run. */
static int load_module(irh_config *c, const irh_module_cfg *mc, ir_module_t *mod) {
  int line = mc->section->line;
  mod->name = strdup(mc->name);
  mod->path = strdup(mc->path);
  if (!mod->name || !mod->path) return irh_config_error(c, line, "out of memory");
  void *h = dlopen(mod->path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return irh_config_error(c, line, "[module %s] cannot load: %s", mc->name, dlerror());
  ir_module_entry_fn entry = (ir_module_entry_fn)dlsym(h, IR_MODULE_ENTRY_SYMBOL);
  if (!entry) {
    dlclose(h);
    return irh_config_error(c, line, "[module %s] %s is not an Iridium module (no %s symbol)",
                            mc->name, mod->path, IR_MODULE_ENTRY_SYMBOL);
  }
  const ir_module_desc *d = entry(irh_host_api(), IR_ABI_VERSION);
  if (!d || d->struct_size < DESC_MIN_SIZE) {
    dlclose(h);
    return irh_config_error(c, line, "[module %s] %s returned no usable descriptor", mc->name,
                            mod->path);
  }
  if (d->abi_major != IR_ABI_MAJOR || d->abi_minor > IR_ABI_MINOR) {
    unsigned major = d->abi_major, minor = d->abi_minor; /* d dies with dlclose */
    dlclose(h);
    return irh_config_error(c, line,
                            "cannot load module '%s' from %s: built for SDK ABI %u.%u, host has "
                            "ABI %u.%u (expected major %u, minor <= %u)",
                            mc->name, mod->path, major, minor, IR_ABI_MAJOR, IR_ABI_MINOR,
                            IR_ABI_MAJOR, IR_ABI_MINOR);
  }
  size_t copy = d->struct_size < sizeof(mod->desc) ? d->struct_size : sizeof(mod->desc);
  memcpy(&mod->desc, d, copy);
  mod->handle = h;
  warn_if_renamed(c, mc, mod);
  return copy_keys(c, mc, mod);
}

/* The names in config.c's table of a route's own keys, which the module's
 * check skips. Main thread (config loading). */
static const char *const *route_own_keys(void) {
  static const char *names[8];
  if (!names[0]) {
    size_t n = 0;
    for (const ir_config_key *k = irh_config_keys_of("route"); k->name && n + 1 < 8; k++)
      names[n++] = k->name;
  }
  return names;
}

static void instance_free(ir_instance_t *inst) {
  if (!inst) return;
  if (inst->created && inst->module->desc.instance_destroy)
    inst->module->desc.instance_destroy(inst->data);
  for (size_t k = 0; k < inst->nvalues; k++) free(inst->values[k].text);
  free(inst->values);
  free((char *)inst->own.prefix);
  free((char *)inst->own.host);
  free((char *)inst->own.module);
  free(inst);
}

void irh_instance_release(ir_instance_t *inst) {
  if (inst && atomic_fetch_sub(&inst->holders, 1) == 1) instance_free(inst);
}

/* The route's own copy of its settings, so the instance outlives the
 * config that made it (a reload keeps unchanged routes' instances). */
static int copy_route(ir_instance_t *inst, const irh_route_cfg *r) {
  inst->own = *r;
  inst->own.section = NULL; /* the config's; it may go first */
  inst->own.prefix = strdup(r->prefix);
  inst->own.host = r->host ? strdup(r->host) : NULL;
  inst->own.module = strdup(r->module);
  inst->route = &inst->own;
  return inst->own.prefix && inst->own.module && (!r->host || inst->own.host) ? 0 : -1;
}

/* A new instance for r with its checked key values (not created yet), or
 * NULL after reporting. */
static ir_instance_t *prepare_instance(irh_config *c, ir_module_t *mod, const irh_route_cfg *r) {
  char owner[96];
  snprintf(owner, sizeof owner, "module %s", mod->name);
  if (irh_config_check_keys(c, r->section, mod->keys, owner, route_own_keys()) > 0) return NULL;
  ir_instance_t *inst = calloc(1, sizeof(*inst));
  if (!inst || copy_route(inst, r) != 0 ||
      !(inst->values = calloc(mod->nkeys ? mod->nkeys : 1, sizeof(*inst->values)))) {
    irh_config_error(c, r->section->line, "out of memory");
    instance_free(inst);
    return NULL;
  }
  inst->module = mod;
  atomic_init(&inst->holders, 1);
  inst->nvalues = mod->nkeys;
  for (size_t i = 0; i < mod->nkeys; i++) {
    irh_key_value *v = &inst->values[i];
    v->key = mod->keys[i];
    const irh_kv *kv = irh_section_find(r->section, v->key.name);
    const char *text = kv ? kv->value : v->key.default_value;
    if (!text) continue;
    v->text = v->key.type == IR_KEY_PATH ? irh_config_resolve(c, text) : strdup(text);
    if (!v->text) {
      irh_config_error(c, r->section->line, "out of memory");
      instance_free(inst);
      return NULL;
    }
    if (irh_value_parse((int)v->key.type, v->text, &v->number) != IR_OK) {
      irh_config_error(c, kv ? kv->line : r->section->line,
                       "bad default '%s' for key '%s' of module %s", text, v->key.name, mod->name);
      instance_free(inst);
      return NULL;
    }
  }
  return inst;
}

static int same_text(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

/* Whether a (made earlier) serves the route b (just prepared) would. */
static int same_instance(const ir_instance_t *a, const ir_instance_t *b) {
  if (a->module != b->module || strcmp(a->route->prefix, b->route->prefix) != 0 ||
      !same_text(a->route->host, b->route->host) ||
      a->route->handler_timeout_ms != b->route->handler_timeout_ms || a->nvalues != b->nvalues)
    return 0;
  for (size_t i = 0; i < a->nvalues; i++)
    if (!same_text(a->values[i].text, b->values[i].text)) return 0;
  return 1;
}

static int create_instance(irh_config *c, ir_instance_t *inst, int line) {
  const ir_module_desc *d = &inst->module->desc;
  if (d->instance_create && d->instance_create(inst, &inst->data) != 0)
    return irh_config_error(c, line,
                            "[route %s] module %s refused the route (its log line says why)",
                            inst->route->prefix, inst->module->name);
  inst->created = 1;
  return 0;
}

static void release_all(ir_instance_t **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    irh_instance_release(list[i]);
    list[i] = NULL;
  }
}

/* The module declares that its instances may come and go while it serves. */
static int reloads(const ir_module_t *mod) { return (mod->desc.flags & IR_MODULE_RELOADS) != 0; }

/* An old module without IR_MODULE_RELOADS keeps exactly its routes: each of
 * prev's must be among out[] (reused). */
static int check_kept(irh_config *c, ir_instance_t *const *prev, size_t nprev,
                      ir_instance_t **out) {
  int bad = 0;
  for (size_t i = 0; i < nprev; i++) {
    const ir_instance_t *old = prev[i];
    if (reloads(old->module)) continue;
    size_t k = 0;
    while (k < c->nroutes && out[k] != old) k++;
    if (k < c->nroutes) continue;
    irh_config_error(c, irh_config_module_line(c, old->module->name),
                     "[route %s] is gone or changed, but module %s (built without "
                     "IR_MODULE_RELOADS) keeps its routes until a restart",
                     old->route->prefix, old->module->name);
    bad = 1;
  }
  return bad ? -1 : 0;
}

int irh_instances_make(irh_modules *m, irh_config *c, ir_module_t **map, size_t first_new,
                       ir_instance_t *const *prev, size_t nprev, ir_instance_t **out) {
  int bad = 0;
  for (size_t i = 0; i < c->nroutes; i++) {
    out[i] = NULL;
    const irh_route_cfg *r = &c->routes[i];
    ir_module_t *mod = module_named(c, map, r->module);
    if (!mod) { /* reported by config.c or the module's load */
      bad = 1;
      continue;
    }
    ir_instance_t *inst = prepare_instance(c, mod, r);
    if (!inst) {
      bad = 1;
      continue;
    }
    for (size_t k = 0; k < nprev; k++)
      if (same_instance(prev[k], inst)) {
        instance_free(inst);
        inst = prev[k];
        atomic_fetch_add(&inst->holders, 1);
        break;
      }
    out[i] = inst;
  }
  if (!bad && prev && check_kept(c, prev, nprev, out) != 0) bad = 1;
  /* Only now, with every route checked, does any module hear of one. */
  for (size_t i = 0; !bad && i < c->nroutes; i++) {
    ir_instance_t *inst = out[i];
    if (inst->created) continue; /* kept */
    if (prev && !reloads(inst->module) && (size_t)(inst->module - m->modules) < first_new) {
      irh_config_error(c, c->routes[i].section->line,
                       "[route %s] module %s (built without IR_MODULE_RELOADS) takes new or "
                       "changed routes only at a restart",
                       inst->route->prefix, inst->module->name);
      bad = 1;
      break;
    }
    if (create_instance(c, inst, c->routes[i].section->line) != 0) bad = 1;
  }
  if (!bad) return 0;
  release_all(out, c->nroutes);
  return -1;
}

irh_modules *irh_modules_new(void) {
  irh_modules *m = calloc(1, sizeof(*m));
  if (m && !(m->modules = calloc(IRH_MAX_MODULES, sizeof(*m->modules)))) {
    free(m);
    return NULL;
  }
  return m;
}

int irh_modules_load_for(irh_modules *m, irh_config *c, ir_module_t **map) {
  int bad = 0;
  for (size_t i = 0; i < c->nmodules; i++) {
    const irh_module_cfg *mc = &c->modules[i];
    map[i] = find_loaded(m, mc->name, mc->path);
    if (map[i]) continue;
    if (m->nmodules == IRH_MAX_MODULES) {
      irh_config_error(c, mc->section->line,
                       "[module %s]: %d modules loaded since start, the most a server holds; "
                       "restart it",
                       mc->name, IRH_MAX_MODULES);
      bad = 1;
      continue;
    }
    ir_module_t *mod = &m->modules[m->nmodules++];
    if (load_module(c, mc, mod) != 0 || !mod->handle)
      bad = 1;
    else
      map[i] = mod;
  }
  return bad ? -1 : 0;
}

int irh_modules_init_from(irh_modules *m, irh_config *c, size_t first) {
  for (size_t i = first; i < m->nmodules; i++) {
    ir_module_t *mod = &m->modules[i];
    if (mod->desc.init && mod->desc.init(mod) != 0)
      return irh_config_error(c, irh_config_module_line(c, mod->name), "[module %s] init failed",
                              mod->name);
    mod->initialized = 1;
  }
  return 0;
}

static void module_unload(ir_module_t *mod) {
  if (mod->initialized && mod->desc.fini) mod->desc.fini(mod);
  irh_services_drop(mod);
  if (mod->handle) dlclose(mod->handle);
  free(mod->keys);
  free(mod->name);
  free(mod->path);
  memset(mod, 0, sizeof(*mod));
}

void irh_modules_unload_from(irh_modules *m, size_t first) {
  for (size_t i = m->nmodules; i-- > first;) module_unload(&m->modules[i]);
  if (first < m->nmodules) m->nmodules = first;
}

irh_modules *irh_modules_load(irh_config *c) {
  irh_modules *m = irh_modules_new();
  ir_module_t **map = m ? calloc(c->nmodules ? c->nmodules : 1, sizeof(*map)) : NULL;
  if (!map) {
    irh_modules_free(m);
    return NULL;
  }
  irh_modules_load_for(m, c, map);
  m->instances = calloc(c->nroutes ? c->nroutes : 1, sizeof(*m->instances));
  if (!m->instances) irh_config_error(c, 0, "out of memory");
  for (size_t i = 0; m->instances && i < c->nroutes; i++) {
    const irh_route_cfg *r = &c->routes[i];
    ir_module_t *mod = module_named(c, map, r->module);
    if (mod) m->instances[i] = prepare_instance(c, mod, r);
  }
  m->ninstances = c->nroutes;
  free(map);
  if (c->errors) {
    irh_modules_free(m);
    return NULL;
  }
  return m;
}

int irh_modules_worker_init(irh_modules *m, ir_worker_t *w, size_t *ready, size_t upto) {
  for (; *ready < upto && *ready < m->nmodules; ++*ready) {
    ir_module_t *mod = &m->modules[*ready];
    if (mod->desc.worker_init && mod->desc.worker_init(mod, w) != 0) return -1;
  }
  return 0;
}

void irh_modules_worker_exit(irh_modules *m, ir_worker_t *w, size_t *ready, size_t from) {
  for (size_t i = *ready < m->nmodules ? *ready : m->nmodules; i-- > from;)
    if (m->modules[i].desc.worker_exit) m->modules[i].desc.worker_exit(&m->modules[i], w);
  if (*ready > from) *ready = from;
}

void irh_modules_worker_drain(irh_modules *m, ir_worker_t *w, size_t ready, uint64_t ms_left) {
  for (size_t i = 0; i < ready && i < m->nmodules; i++) {
    ir_module_t *mod = &m->modules[i];
    if (IRH_DESC_HAS(&mod->desc, on_worker_drain)) mod->desc.on_worker_drain(mod, w, ms_left);
  }
}

void irh_modules_free(irh_modules *m) {
  if (!m) return;
  if (m->instances) release_all(m->instances, m->ninstances);
  free(m->instances);
  if (m->modules) irh_modules_unload_from(m, 0);
  irh_services_clear();
  free(m->modules);
  free(m);
}
