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

static ir_module_t *find_module(irh_modules *m, const char *name) {
  for (size_t i = 0; i < m->nmodules; i++)
    if (m->modules[i].handle && strcmp(m->modules[i].name, name) == 0) return &m->modules[i];
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

static int make_instance(irh_config *c, irh_modules *m, const irh_route_cfg *r,
                         ir_instance_t *inst) {
  inst->route = r;
  inst->module = find_module(m, r->module);
  if (!inst->module) return -1; /* reported by config.c or load_module */
  ir_module_t *mod = inst->module;
  char owner[96];
  snprintf(owner, sizeof owner, "module %s", mod->name);
  if (irh_config_check_keys(c, r->section, mod->keys, owner, route_own_keys()) > 0) return -1;
  inst->values = calloc(mod->nkeys ? mod->nkeys : 1, sizeof(*inst->values));
  if (!inst->values) return irh_config_error(c, r->section->line, "out of memory");
  inst->nvalues = mod->nkeys;
  for (size_t i = 0; i < mod->nkeys; i++) {
    irh_key_value *v = &inst->values[i];
    v->key = mod->keys[i];
    const irh_kv *kv = irh_section_find(r->section, v->key.name);
    const char *text = kv ? kv->value : v->key.default_value;
    if (!text) continue;
    v->text = v->key.type == IR_KEY_PATH ? irh_config_resolve(c, text) : strdup(text);
    if (!v->text) return irh_config_error(c, r->section->line, "out of memory");
    if (irh_value_parse((int)v->key.type, v->text, &v->number) != IR_OK)
      return irh_config_error(c, kv ? kv->line : r->section->line,
                              "bad default '%s' for key '%s' of module %s", text, v->key.name,
                              mod->name);
  }
  return 0;
}

irh_modules *irh_modules_load(irh_config *c) {
  irh_modules *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->modules = calloc(c->nmodules ? c->nmodules : 1, sizeof(*m->modules));
  m->instances = calloc(c->nroutes ? c->nroutes : 1, sizeof(*m->instances));
  if (!m->modules || !m->instances) {
    irh_modules_free(m);
    return NULL;
  }
  m->nmodules = c->nmodules;
  for (size_t i = 0; i < c->nmodules; i++) load_module(c, &c->modules[i], &m->modules[i]);
  m->ninstances = c->nroutes;
  for (size_t i = 0; i < c->nroutes; i++) make_instance(c, m, &c->routes[i], &m->instances[i]);
  if (c->errors) {
    irh_modules_free(m);
    return NULL;
  }
  return m;
}

int irh_modules_start(irh_modules *m, irh_config *c) {
  for (size_t i = 0; i < m->nmodules; i++) {
    ir_module_t *mod = &m->modules[i];
    if (mod->desc.init && mod->desc.init(mod) != 0)
      return irh_config_error(c, c->modules[i].section->line, "[module %s] init failed", mod->name);
    mod->initialized = 1;
  }
  for (size_t i = 0; i < m->ninstances; i++) {
    ir_instance_t *inst = &m->instances[i];
    const ir_module_desc *d = &inst->module->desc;
    if (d->instance_create && d->instance_create(inst, &inst->data) != 0)
      return irh_config_error(c, inst->route->section->line,
                              "[route %s] module %s refused the route (its log line says why)",
                              inst->route->prefix, inst->module->name);
    inst->created = 1;
  }
  return 0;
}

int irh_modules_worker_init(irh_modules *m, ir_worker_t *w, size_t *ready) {
  for (*ready = 0; *ready < m->nmodules; ++*ready) {
    ir_module_t *mod = &m->modules[*ready];
    if (mod->desc.worker_init && mod->desc.worker_init(mod, w) != 0) return -1;
  }
  return 0;
}

void irh_modules_worker_exit(irh_modules *m, ir_worker_t *w, size_t ready) {
  for (size_t i = ready < m->nmodules ? ready : m->nmodules; i-- > 0;)
    if (m->modules[i].desc.worker_exit) m->modules[i].desc.worker_exit(&m->modules[i], w);
}

void irh_modules_worker_drain(irh_modules *m, ir_worker_t *w, size_t ready, uint64_t ms_left) {
  for (size_t i = 0; i < ready && i < m->nmodules; i++) {
    ir_module_t *mod = &m->modules[i];
    if (IRH_DESC_HAS(&mod->desc, on_worker_drain)) mod->desc.on_worker_drain(mod, w, ms_left);
  }
}

void irh_modules_free(irh_modules *m) {
  if (!m) return;
  for (size_t i = 0; i < m->ninstances; i++) {
    ir_instance_t *inst = &m->instances[i];
    if (inst->created && inst->module->desc.instance_destroy)
      inst->module->desc.instance_destroy(inst->data);
    for (size_t k = 0; k < inst->nvalues; k++) free(inst->values[k].text);
    free(inst->values);
  }
  for (size_t i = m->nmodules; i-- > 0;) {
    ir_module_t *mod = &m->modules[i];
    if (mod->initialized && mod->desc.fini) mod->desc.fini(mod);
    if (mod->handle) dlclose(mod->handle);
    free(mod->keys);
    free(mod->name);
    free(mod->path);
  }
  irh_services_clear();
  free(m->instances);
  free(m->modules);
  free(m);
}
