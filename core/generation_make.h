/* generation_make.h — opening, starting, retiring and freeing a
 * configuration's generation (generation.h): what start-up and reload.c
 * do with an INI. */
#ifndef IRIDIUM_CORE_GENERATION_MAKE_H
#define IRIDIUM_CORE_GENERATION_MAKE_H

#include "config.h"
#include "generation.h"
#include "process.h"

enum {
  IRH_GEN_EXCLUSIVE = 1, /* refuse a new address another socket listens on */
  IRH_GEN_BORROW = 2     /* c stays the caller's (`iridium -t`): not freed with it */
};

/* Opens c's generation (c is then owned by it, also on failure, unless
 * IRH_GEN_BORROW): the
 * modules c names that are not loaded yet are loaded, the TLS contexts
 * made (keys read), the sockets opened. prev is the serving one (NULL at
 * start): its sockets for the addresses c keeps are shared (dup) and the
 * modules it loaded stay as they are. NULL after reporting through irh_config_error,
 * with what it loaded undone. Main thread; at start as root, before the
 * privilege drop. */
irh_generation *irh_generation_open(irh_server *srv, irh_config *c, const irh_generation *prev,
                                    unsigned flags);
/* Then starts it: init for the modules new with it, an instance per route
 * (prev's unchanged routes keep theirs), the router. -1 after reporting;
 * the caller frees g with undo = 1. */
int irh_generation_start(irh_server *srv, irh_generation *g, const irh_generation *prev);
/* Closes its listening sockets: the workers stopped accepting for it. */
void irh_generation_retire(irh_generation *g);
/* Frees it (refs 0): instances released, sockets closed, and, when it
 * never served (undo = 1), the modules it loaded unloaded. Main thread. */
void irh_generation_free(irh_server *srv, irh_generation *g, int undo);

#endif /* IRIDIUM_CORE_GENERATION_MAKE_H */
