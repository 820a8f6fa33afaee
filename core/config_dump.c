/* config_dump.c — `iridium --keys`, `iridium --modules` and `iridium -T`
 * (see config_dump.h). Everything here reads a configuration that loaded
 * without errors; nothing is changed. */
#include "config_dump.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iridium/abi.h>

static const char *type_name(uint32_t type) {
  switch (type) {
  case IR_KEY_STRING: return "string";
  case IR_KEY_INT: return "int";
  case IR_KEY_BOOL: return "bool";
  case IR_KEY_SIZE: return "size";
  case IR_KEY_DURATION: return "duration";
  case IR_KEY_PATH: return "path";
  default: return "?";
  }
}

/* path made absolute (canonical when it exists) in buf. */
static const char *absolute(const char *path, char buf[2 * PATH_MAX + 2]) {
  char cwd[PATH_MAX];
  if (realpath(path, buf)) return buf;
  if (path[0] == '/' || !getcwd(cwd, sizeof cwd)) return path;
  snprintf(buf, 2 * PATH_MAX + 2, "%s/%s", cwd, path);
  return buf;
}

static void print_key(FILE *out, const ir_config_key *k) {
  const char *def = k->required ? "(required)" : k->default_value ? k->default_value : "-";
  fprintf(out, "%s\t%s\t%s\t%s\n", k->name, type_name(k->type), def, k->help ? k->help : "");
}

void irh_print_host_keys(FILE *out) {
  static const char *const kinds[] = {"server", "listen", "certificate", "module", "route"};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    for (const ir_config_key *k = irh_config_keys_of(kinds[i]); k->name; k++) {
      fprintf(out, "%s\t", kinds[i]);
      print_key(out, k);
    }
}

void irh_print_modules(const irh_modules *m, FILE *out) {
  for (size_t i = 0; i < m->nmodules; i++) {
    const ir_module_t *mod = &m->modules[i];
    char buf[2 * PATH_MAX + 2];
    fprintf(out, "module\t%s\t%s\t%u.%u\t%s\n", mod->name,
            mod->desc.version ? mod->desc.version : "-", mod->desc.abi_major, mod->desc.abi_minor,
            absolute(mod->path, buf));
    for (size_t k = 0; k < mod->nkeys; k++) {
      fprintf(out, "key\t%s\t", mod->name);
      print_key(out, &mod->keys[k]);
    }
  }
}

/* ---- -T ------------------------------------------------------------------ */

/* "key = path" with path absolute (canonical when it exists), so the dump
 * means the same files wherever it is saved. */
static void print_path(FILE *out, const char *key, const char *path) {
  char buf[2 * PATH_MAX + 2];
  fprintf(out, "%s = %s\n", key, absolute(path, buf));
}

static void print_log(FILE *out, const char *key, const char *target) {
  if (!strcmp(target, "stderr") || !strcmp(target, "stdout") || !strcmp(target, "off"))
    fprintf(out, "%s = %s\n", key, target);
  else
    print_path(out, key, target);
}

/* The text of key in section s: as given, else the table's default. */
static const char *given_or_default(const irh_section *s, const ir_config_key *k) {
  const irh_kv *kv = s ? irh_section_find(s, k->name) : NULL;
  return kv ? kv->value : k->default_value;
}

/* Prints "key = value"; a path resolved against the INI's folder. */
static void print_value(FILE *out, const irh_config *c, const ir_config_key *k, const char *v) {
  if (!v) { /* unset, and no default: shown, commented out */
    fprintf(out, "; %s =\n", k->name);
    return;
  }
  char *resolved = k->type == IR_KEY_PATH && v[0] ? irh_config_resolve(c, v) : NULL;
  if (resolved)
    print_path(out, k->name, resolved);
  else
    fprintf(out, "%s = %s\n", k->name, v);
  free(resolved);
}

static const irh_section *server_section(const irh_config *c) {
  for (size_t i = 0; i < c->nsections; i++)
    if (strcmp(c->sections[i].kind, "server") == 0) return &c->sections[i];
  return NULL;
}

static void print_server(FILE *out, const irh_config *c) {
  const irh_section *s = server_section(c);
  fprintf(out, "[server]\n");
  for (const ir_config_key *k = irh_config_keys_of("server"); k->name; k++) {
    if (strcmp(k->name, "workers") == 0)
      fprintf(out, "workers = %u\n", c->workers); /* 0 means one per CPU: the count it made */
    else if (strcmp(k->name, "modules_dir") == 0)
      print_path(out, "modules_dir", c->modules_dir);
    else if (strcmp(k->name, "error_log") == 0)
      print_log(out, "error_log", c->error_log);
    else if (strcmp(k->name, "access_log") == 0)
      print_log(out, "access_log", c->access_log);
    else
      print_value(out, c, k, given_or_default(s, k));
  }
}

/* protocols: as given, else what the listener took (its default
 * depends on tls). */
static void print_protocols(FILE *out, const irh_listen_cfg *l) {
  const irh_kv *kv = irh_section_find(l->section, "protocols");
  if (kv) {
    fprintf(out, "protocols = %s\n", kv->value);
    return;
  }
  const char *sep = "";
  fprintf(out, "protocols = ");
  if (l->tls) {
    for (size_t i = 0; i < l->nalpn; i++, sep = ", ") fprintf(out, "%s%s", sep, l->alpn[i]);
  } else {
    if (l->protocols & IRH_PROTO_HTTP1) fprintf(out, "%shttp/1.1", sep), sep = ", ";
    if (l->protocols & IRH_PROTO_H2C) fprintf(out, "%sh2c", sep);
  }
  fprintf(out, "\n");
}

/* irh_modules_load keeps them in route order. */
static const ir_instance_t *instance_of(const irh_config *c, const irh_modules *m,
                                        const irh_route_cfg *r) {
  size_t i = (size_t)(r - c->routes);
  return i < m->ninstances ? m->instances[i] : NULL;
}

static void print_route(FILE *out, const irh_config *c, const irh_modules *m,
                        const irh_route_cfg *r) {
  fprintf(out, "[route %s]\n", r->section->arg);
  fprintf(out, "module = %s\nhost = %s\n", r->module, r->host ? r->host : "*");
  const irh_kv *t = irh_section_find(r->section, "handler_timeout");
  if (t) {
    fprintf(out, "handler_timeout = %s\n", t->value);
  } else { /* [server]'s */
    for (const ir_config_key *k = irh_config_keys_of("server"); k->name; k++)
      if (strcmp(k->name, "handler_timeout") == 0)
        fprintf(out, "handler_timeout = %s\n", given_or_default(server_section(c), k));
  }
  const ir_instance_t *inst = instance_of(c, m, r);
  for (size_t i = 0; inst && i < inst->nvalues; i++) {
    const irh_key_value *v = &inst->values[i];
    if (v->text && v->key.type == IR_KEY_PATH && v->text[0])
      print_path(out, v->key.name, v->text); /* resolved against the INI's folder already */
    else if (v->text)
      fprintf(out, "%s = %s\n", v->key.name, v->text);
  }
}

void irh_print_effective(const irh_config *c, const irh_modules *m, FILE *out) {
  fprintf(out,
          "; %s as iridium %s reads it (SDK ABI %d.%d): every key, defaults filled in,\n"
          "; relative paths resolved\n",
          c->path, IRIDIUM_VERSION, IR_ABI_MAJOR, IR_ABI_MINOR);
  print_server(out, c);
  for (size_t i = 0; i < c->nlistens; i++) {
    const irh_listen_cfg *l = &c->listens[i];
    fprintf(out, "\n[listen %s]\n", l->section->arg);
    print_protocols(out, l);
    for (const ir_config_key *k = irh_config_keys_of("listen"); k->name; k++)
      if (strcmp(k->name, "protocols") != 0 && (l->tls || strcmp(k->name, "tls_priority") != 0))
        print_value(out, c, k, given_or_default(l->section, k));
  }
  for (size_t i = 0; i < c->ncerts; i++) {
    fprintf(out, "\n[certificate %s]\n", c->certs[i].name);
    print_path(out, "cert", c->certs[i].cert);
    print_path(out, "key", c->certs[i].key);
  }
  for (size_t i = 0; i < c->nmodules; i++) {
    fprintf(out, "\n[module %s]\n", c->modules[i].name);
    print_path(out, "path", c->modules[i].path);
  }
  for (size_t i = 0; i < c->nroutes; i++) {
    fprintf(out, "\n");
    print_route(out, c, m, &c->routes[i]);
  }
}
