/* stream_state.h — a stream's state and the rules for changing it.
 *
 * A stream's state is a set of flags (below). Only stream.c changes them,
 * and only through irh_stream_next(): given the flags and an event, it
 * says whether the event is allowed now and what the flags become. It is a
 * pure function of its arguments, so the whole rule table is tested without
 * a connection (tests/unit/test_stream_states.c). The named transitions a
 * protocol calls are in stream.h.
 *
 * The request side and the response side move on their own: REQ_ENDED may
 * come before or after the response's head and end. irh_stream_phase_of()
 * names the response side's phase, for logs and tests.
 */
#ifndef IRIDIUM_CORE_STREAM_STATE_H
#define IRIDIUM_CORE_STREAM_STATE_H

enum {
  IRH_STREAM_DISPATCHED = 1u << 0, /* on_request was called: on_close is owed */
  IRH_STREAM_HEAD_SENT = 1u << 1,
  IRH_STREAM_RESP_ENDED = 1u << 2,
  IRH_STREAM_REQ_ENDED = 1u << 3,
  IRH_STREAM_RESET = 1u << 4,      /* aborted: by the module, or by the peer (PEER_RESET) */
  IRH_STREAM_WANT_WRITE = 1u << 5, /* a write said "again": on_writable owed */
  IRH_STREAM_IS_HEAD = 1u << 6,    /* HEAD request: body bytes are dropped */
  IRH_STREAM_FINISHED = 1u << 7,
  IRH_STREAM_HAS_CL = 1u << 8,        /* the module set Content-Length */
  IRH_STREAM_UPGRADED = 1u << 9,      /* accepted with 101: a full-duplex byte stream */
  IRH_STREAM_PEER_RESET = 1u << 10,   /* the peer aborted it (RST_STREAM) */
  IRH_STREAM_ANSWERED = 1u << 11,     /* the protocol answered it (an error of its own) */
  IRH_STREAM_FILE_PENDING = 1u << 12, /* a file body is still being handed to the protocol */
  IRH_STREAM_END_OWED = 1u << 13      /* the module ended the response during a file body */
};

/* What happens to a stream. The values index a table: append only. */
typedef enum irh_stream_event {
  IRH_EV_DISPATCH = 0,      /* the module's on_request is about to be called */
  IRH_EV_HEAD_REQUEST,      /* the request is a HEAD (before dispatch) */
  IRH_EV_SEND_HEAD,         /* the response head goes out */
  IRH_EV_SEND_HEAD_UPGRADE, /* ... as a 101 that turns the stream into a tunnel */
  IRH_EV_RESPONSE_END,      /* the response is complete */
  IRH_EV_REQUEST_COMPLETE,  /* the request's body ended */
  IRH_EV_RESET_BY_MODULE,   /* the module aborts the stream */
  IRH_EV_RESET_BY_PEER,     /* the peer aborted it */
  IRH_EV_ANSWERED,          /* the protocol answered it itself (h1's 400/413/...) */
  IRH_EV_REBIND,            /* it moves to another protocol (h2c upgrade) */
  IRH_EV_WANT_WRITE,        /* a write was refused for now: on_writable owed */
  IRH_EV_WRITABLE,          /* on_writable is being delivered */
  IRH_EV_FINISH,            /* on_close, access log, free */
  IRH_EV_SET_LENGTH,        /* the module declared the response's Content-Length */
  IRH_EV_CLEAR_LENGTH,      /* ... which a host-made answer (500) drops again */
  IRH_EV_FILE_BEGIN,        /* a file body starts (read ahead, handed over in pieces) */
  IRH_EV_FILE_DONE,         /* its last piece was handed to the protocol */
  IRH_EV_END_AFTER_FILE,    /* the module ended the response while a file body was pending */
  IRH_EV_COUNT
} irh_stream_event;

/* The response side's phase, from the flags. */
typedef enum irh_stream_phase {
  IRH_PHASE_RECEIVING = 0, /* not dispatched, nothing sent */
  IRH_PHASE_DISPATCHED,    /* the module has it; no head yet */
  IRH_PHASE_SENDING,       /* head sent, body going */
  IRH_PHASE_TUNNEL,        /* upgraded (101), not ended */
  IRH_PHASE_ENDED,         /* response complete; maybe still reading the request */
  IRH_PHASE_RESET,         /* aborted, not finished yet */
  IRH_PHASE_FINISHED
} irh_stream_phase;

/* Whether ev is allowed on a stream whose flags are flags: IR_OK and the
 * new flags in *next; or IR_ECLOSED (the stream is reset or finished, as
 * far as ev is concerned) or IR_ESTATE (not now: too early, or done
 * already), and *next is left alone. Any thread. */
int irh_stream_next(unsigned flags, irh_stream_event ev, unsigned *next);

irh_stream_phase irh_stream_phase_of(unsigned flags);
/* The event's or phase's name ("send_head", "sending"), for logs. */
const char *irh_stream_event_name(irh_stream_event ev);
const char *irh_stream_phase_name(irh_stream_phase p);

#endif /* IRIDIUM_CORE_STREAM_STATE_H */
