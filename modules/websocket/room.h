/* room.h — broadcast rooms: every message a member sends reaches every
 * member of the room on every worker, exactly once and in the sender's
 * order, each member behind a bounded send queue. */
#ifndef WS_ROOM_H
#define WS_ROOM_H

#include <pthread.h>

#include "session.h"

enum { WS_SLOW_CLOSE = 0, WS_SLOW_DROP_OLDEST = 1 };

struct ws_member {
  ws_member *prev, *next;
  ws_session *ws;
  uint32_t room;
  uint8_t policy; /* WS_SLOW_* */
  uint8_t joined;
  uint64_t limit; /* bytes queued toward it */
};

/* The id of the room named name, made on first use. Main thread (route
 * set-up). -1 out of memory. */
int ws_room_id(const char *name);
size_t ws_room_count(void);
void ws_rooms_free(void);
/* Held while the main thread sets up rooms and their links, and while a
 * worker copies them (ws_rooms_grow). */
extern pthread_mutex_t ws_rooms_lock;
/* The worker's table up to every room there is (a reload may have added
 * some since worker_init), each with its room_topic copied
 * (ws_backbone_subscribe subscribes them). Worker's thread. -1 out of
 * memory. */
int ws_rooms_grow(ws_worker *ww);
/* Frees the worker's table (worker_exit, after the backbone's). */
void ws_rooms_worker_free(ws_worker *ww);

void ws_room_join(ws_worker *ww, ws_member *m);
void ws_room_leave(ws_worker *ww, ws_member *m);
/* Sends a message to the room (the sender included); through the broker
 * when the room has a room_topic. */
void ws_room_publish(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg, size_t len);
/* Hands a message to ww's own members of room only. */
void ws_room_deliver_local(ws_worker *ww, uint32_t room, unsigned type, const uint8_t *msg,
                           size_t len);

/* The worker thread's own ws_worker (room deliveries posted from other
 * workers find theirs through it). */
void ws_room_set_thread_worker(ws_worker *ww);

#endif /* WS_ROOM_H */
