/* stream_state.c — the stream's rule table; see stream_state.h.
 *
 * One row per event: the flags it needs, the flags that forbid it, those
 * among them that mean the stream is closed for it (IR_ECLOSED rather than
 * IR_ESTATE), and the flags it sets and clears.
 */
#include "stream_state.h"

#include <iridium/abi.h>

enum {
  DISPATCHED = IRH_STREAM_DISPATCHED,
  HEAD_SENT = IRH_STREAM_HEAD_SENT,
  RESP_ENDED = IRH_STREAM_RESP_ENDED,
  REQ_ENDED = IRH_STREAM_REQ_ENDED,
  RESET = IRH_STREAM_RESET,
  WANT_WRITE = IRH_STREAM_WANT_WRITE,
  FINISHED = IRH_STREAM_FINISHED,
  PEER_RESET = IRH_STREAM_PEER_RESET,
  FILE_PENDING = IRH_STREAM_FILE_PENDING,
  END_OWED = IRH_STREAM_END_OWED,
};

typedef struct rule {
  const char *name;
  unsigned need, forbid, closed, set, clear;
} rule;

static const rule rules[IRH_EV_COUNT] = {
    /* Once per stream, before the module has it or anything was sent. */
    [IRH_EV_DISPATCH] = {"dispatch", 0, DISPATCHED | HEAD_SENT | RESET | FINISHED, RESET | FINISHED,
                         DISPATCHED, 0},
    /* The module must see it from on_request on, and heads depend on it. */
    [IRH_EV_HEAD_REQUEST] = {"head_request", 0, DISPATCHED | HEAD_SENT | FINISHED, FINISHED,
                             IRH_STREAM_IS_HEAD, 0},
    [IRH_EV_SEND_HEAD] = {"send_head", 0, HEAD_SENT | RESET | FINISHED, RESET | FINISHED, HEAD_SENT,
                          0},
    [IRH_EV_SEND_HEAD_UPGRADE] = {"send_head_upgrade", 0, HEAD_SENT | RESET | FINISHED,
                                  RESET | FINISHED, HEAD_SENT | IRH_STREAM_UPGRADED, 0},
    /* Not while a file body is handed over: END_AFTER_FILE then, and this
     * once the file is done. */
    [IRH_EV_RESPONSE_END] = {"response_end", HEAD_SENT,
                             RESP_ENDED | FILE_PENDING | RESET | FINISHED, RESET | FINISHED,
                             RESP_ENDED, END_OWED},
    /* The peer may end its request after a reset: the protocol still reads. */
    [IRH_EV_REQUEST_COMPLETE] = {"request_complete", 0, REQ_ENDED | FINISHED, FINISHED, REQ_ENDED,
                                 0},
    /* Also after the response ended: the module may still abort the rest. */
    [IRH_EV_RESET_BY_MODULE] = {"reset_by_module", 0, RESET | FINISHED, RESET | FINISHED, RESET, 0},
    /* Also after the module reset it: the peer's word is what the log keeps. */
    [IRH_EV_RESET_BY_PEER] = {"reset_by_peer", 0, PEER_RESET | FINISHED, PEER_RESET | FINISHED,
                              RESET | PEER_RESET, 0},
    /* A protocol's own answer stands for the response: also after a reset
     * (the module's abort was not framed yet), never after a head. */
    [IRH_EV_ANSWERED] = {"answered", 0, HEAD_SENT | FINISHED, FINISHED,
                         HEAD_SENT | RESP_ENDED | IRH_STREAM_ANSWERED, 0},
    /* Only a stream no module has seen can change protocols. */
    [IRH_EV_REBIND] = {"rebind", 0, DISPATCHED | HEAD_SENT | RESET | FINISHED, RESET | FINISHED, 0,
                       0},
    [IRH_EV_WANT_WRITE] = {"want_write", HEAD_SENT, RESP_ENDED | RESET | FINISHED, RESET | FINISHED,
                           WANT_WRITE, 0},
    [IRH_EV_WRITABLE] = {"writable", WANT_WRITE, FINISHED, FINISHED, 0, WANT_WRITE},
    [IRH_EV_FINISH] = {"finish", 0, FINISHED, FINISHED, FINISHED, 0},
    [IRH_EV_SET_LENGTH] = {"set_length", 0, HEAD_SENT | RESET | FINISHED, RESET | FINISHED,
                           IRH_STREAM_HAS_CL, 0},
    [IRH_EV_CLEAR_LENGTH] = {"clear_length", 0, HEAD_SENT | FINISHED, FINISHED, 0,
                             IRH_STREAM_HAS_CL},
    /* One file body at a time, inside a response that is still open. */
    [IRH_EV_FILE_BEGIN] = {"file_begin", HEAD_SENT,
                           RESP_ENDED | END_OWED | FILE_PENDING | RESET | FINISHED,
                           RESET | FINISHED, FILE_PENDING, 0},
    /* Also after a reset: the file body's last job returns all the same. */
    [IRH_EV_FILE_DONE] = {"file_done", FILE_PENDING, FINISHED, FINISHED, 0, FILE_PENDING},
    [IRH_EV_END_AFTER_FILE] = {"end_after_file", HEAD_SENT | FILE_PENDING,
                               RESP_ENDED | END_OWED | RESET | FINISHED, RESET | FINISHED, END_OWED,
                               0},
};

int irh_stream_next(unsigned flags, irh_stream_event ev, unsigned *next) {
  if ((unsigned)ev >= IRH_EV_COUNT) return IR_EINVAL;
  const rule *r = &rules[ev];
  if (flags & r->closed) return IR_ECLOSED;
  if ((flags & r->forbid) || (flags & r->need) != r->need) return IR_ESTATE;
  *next = (flags | r->set) & ~r->clear;
  return IR_OK;
}

irh_stream_phase irh_stream_phase_of(unsigned flags) {
  if (flags & FINISHED) return IRH_PHASE_FINISHED;
  if (flags & RESET) return IRH_PHASE_RESET;
  if (flags & RESP_ENDED) return IRH_PHASE_ENDED;
  if (flags & IRH_STREAM_UPGRADED) return IRH_PHASE_TUNNEL;
  if (flags & HEAD_SENT) return IRH_PHASE_SENDING;
  if (flags & DISPATCHED) return IRH_PHASE_DISPATCHED;
  return IRH_PHASE_RECEIVING;
}

const char *irh_stream_event_name(irh_stream_event ev) {
  return (unsigned)ev < IRH_EV_COUNT ? rules[ev].name : "unknown";
}

const char *irh_stream_phase_name(irh_stream_phase p) {
  static const char *const names[] = {"receiving", "dispatched", "sending", "tunnel",
                                      "ended",     "reset",      "finished"};
  return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "unknown";
}
