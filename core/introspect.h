/* introspect.h — SDK 1.5's server_info and worker_connections (introspect.c). */
#ifndef IRIDIUM_CORE_INTROSPECT_H
#define IRIDIUM_CORE_INTROSPECT_H

#include <iridium/iridium.h>

/* server_info: the workers' counters summed. Any thread. */
int irh_server_info(ir_server_info *out);

/* worker_connections: w's open connections and their streams. w's thread. */
size_t irh_worker_connections(ir_worker_t *w, ir_conn_visit_cb cb, void *data);

#endif /* IRIDIUM_CORE_INTROSPECT_H */
