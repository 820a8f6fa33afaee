/* test_stream_states.c — the stream's rule table (core/stream_state.c).
 *
 * Every event is tried on every combination of the fourteen flags, and the
 * answer is compared with the rule as the protocols rely on it, written
 * here once more as a plain condition per event: what is legal, which
 * refusal an illegal event gets (IR_ECLOSED on a stream that is gone for
 * it, IR_ESTATE otherwise), and that a legal event changes exactly the
 * flags it names. Then whole lifetimes, as h1.c and h2.c drive them. */
#include <string.h>

#include <iridium/abi.h>

#include "check.h"
#include "stream_state.h"

#define NFLAGS 14
#define ALL_FLAGS ((1u << NFLAGS) - 1)

enum {
  D = IRH_STREAM_DISPATCHED,
  HS = IRH_STREAM_HEAD_SENT,
  RE = IRH_STREAM_RESP_ENDED,
  QE = IRH_STREAM_REQ_ENDED,
  R = IRH_STREAM_RESET,
  W = IRH_STREAM_WANT_WRITE,
  H = IRH_STREAM_IS_HEAD,
  F = IRH_STREAM_FINISHED,
  CL = IRH_STREAM_HAS_CL,
  U = IRH_STREAM_UPGRADED,
  PR = IRH_STREAM_PEER_RESET,
  A = IRH_STREAM_ANSWERED,
  FP = IRH_STREAM_FILE_PENDING,
  EO = IRH_STREAM_END_OWED,
};

/* The expected answer: the return code, and on IR_OK the new flags. */
typedef struct expect {
  int rc;
  unsigned flags;
} expect;

static expect ok(unsigned f) { return (expect){IR_OK, f}; }
static expect closed(void) { return (expect){IR_ECLOSED, 0}; }
static expect not_now(void) { return (expect){IR_ESTATE, 0}; }

static expect rule_for(unsigned f, irh_stream_event ev) {
  int gone = (f & (R | F)) != 0; /* reset or finished: closed to the module */
  switch (ev) {
  case IRH_EV_DISPATCH:
    if (gone) return closed();
    return (f & (D | HS)) ? not_now() : ok(f | D);
  case IRH_EV_HEAD_REQUEST:
    if (f & F) return closed();
    return (f & (D | HS)) ? not_now() : ok(f | H);
  case IRH_EV_SEND_HEAD:
    if (gone) return closed();
    return (f & HS) ? not_now() : ok(f | HS);
  case IRH_EV_SEND_HEAD_UPGRADE:
    if (gone) return closed();
    return (f & HS) ? not_now() : ok(f | HS | U);
  case IRH_EV_RESPONSE_END:
    if (gone) return closed();
    return !(f & HS) || (f & (RE | FP)) ? not_now() : ok((f | RE) & ~EO);
  case IRH_EV_REQUEST_COMPLETE:
    if (f & F) return closed();
    return (f & QE) ? not_now() : ok(f | QE);
  case IRH_EV_RESET_BY_MODULE: return gone ? closed() : ok(f | R);
  case IRH_EV_RESET_BY_PEER: return (f & (PR | F)) ? closed() : ok(f | R | PR);
  case IRH_EV_ANSWERED:
    if (f & F) return closed();
    return (f & HS) ? not_now() : ok(f | HS | RE | A);
  case IRH_EV_REBIND:
    if (gone) return closed();
    return (f & (D | HS)) ? not_now() : ok(f);
  case IRH_EV_WANT_WRITE:
    if (gone) return closed();
    return !(f & HS) || (f & RE) ? not_now() : ok(f | W);
  case IRH_EV_WRITABLE:
    if (f & F) return closed();
    return (f & W) ? ok(f & ~W) : not_now();
  case IRH_EV_FINISH: return (f & F) ? closed() : ok(f | F);
  case IRH_EV_SET_LENGTH:
    if (gone) return closed();
    return (f & HS) ? not_now() : ok(f | CL);
  case IRH_EV_CLEAR_LENGTH:
    if (f & F) return closed();
    return (f & HS) ? not_now() : ok(f & ~CL);
  case IRH_EV_FILE_BEGIN:
    if (gone) return closed();
    return !(f & HS) || (f & (RE | EO | FP)) ? not_now() : ok(f | FP);
  case IRH_EV_FILE_DONE:
    if (f & F) return closed();
    return (f & FP) ? ok(f & ~FP) : not_now();
  case IRH_EV_END_AFTER_FILE:
    if (gone) return closed();
    return (f & (HS | FP)) != (HS | FP) || (f & (RE | EO)) ? not_now() : ok(f | EO);
  default: CHECK(0); return not_now();
  }
}

static void test_every_transition(void) {
  unsigned legal = 0, illegal = 0;
  for (int ev = 0; ev < IRH_EV_COUNT; ev++) {
    unsigned legal_here = 0;
    for (unsigned f = 0; f <= ALL_FLAGS; f++) {
      expect e = rule_for(f, (irh_stream_event)ev);
      unsigned next = 0xdeadbeef;
      int rc = irh_stream_next(f, (irh_stream_event)ev, &next);
      if (rc != e.rc || (rc == IR_OK && next != e.flags))
        fprintf(stderr, "%s on 0x%03x: rc %d next 0x%x, expected rc %d next 0x%x\n",
                irh_stream_event_name((irh_stream_event)ev), f, rc, next, e.rc, e.flags);
      CHECK(rc == e.rc);
      if (rc == IR_OK) {
        CHECK(next == e.flags);
        legal++;
        legal_here++;
      } else {
        CHECK(next == 0xdeadbeef); /* a refusal leaves *next alone */
        illegal++;
      }
    }
    CHECK(legal_here > 0); /* every event is possible somewhere */
  }
  /* Nothing at all is legal once finished. */
  for (int ev = 0; ev < IRH_EV_COUNT; ev++) {
    unsigned next;
    CHECK(irh_stream_next(F, (irh_stream_event)ev, &next) == IR_ECLOSED);
    CHECK(irh_stream_next(ALL_FLAGS, (irh_stream_event)ev, &next) == IR_ECLOSED);
  }
  CHECK(legal > 0 && illegal > 0);
  CHECK(legal + illegal == (unsigned)IRH_EV_COUNT * (ALL_FLAGS + 1));
  /* an event out of range is refused, not read past the table */
  unsigned next = 7;
  CHECK(irh_stream_next(0, IRH_EV_COUNT, &next) == IR_EINVAL && next == 7);
  CHECK(irh_stream_next(0, (irh_stream_event)-1, &next) == IR_EINVAL && next == 7);
}

/* Applies a sequence of events from no flags; returns the flags. */
static unsigned run(const irh_stream_event *evs, size_t n) {
  unsigned f = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned next;
    int rc = irh_stream_next(f, evs[i], &next);
    if (rc != IR_OK)
      fprintf(stderr, "step %zu (%s) refused on 0x%x: %d\n", i, irh_stream_event_name(evs[i]), f,
              rc);
    CHECK(rc == IR_OK);
    f = next;
  }
  return f;
}

#define RUN(...)                                                                                   \
  run((const irh_stream_event[]){__VA_ARGS__},                                                     \
      sizeof((const irh_stream_event[]){__VA_ARGS__}) / sizeof(irh_stream_event))

static int refused(unsigned f, irh_stream_event ev, int rc) {
  unsigned next;
  return irh_stream_next(f, ev, &next) == rc;
}

static void test_lifetimes(void) {
  /* A GET answered at once, before its END_STREAM (h2 /hello). */
  unsigned f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_RESPONSE_END, IRH_EV_REQUEST_COMPLETE,
                   IRH_EV_FINISH);
  CHECK(f == (D | HS | RE | QE | F));
  /* A POST whose body is read first, with backpressure on the answer. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_REQUEST_COMPLETE, IRH_EV_SEND_HEAD, IRH_EV_WANT_WRITE,
          IRH_EV_WRITABLE, IRH_EV_WANT_WRITE, IRH_EV_WRITABLE, IRH_EV_RESPONSE_END);
  CHECK(f == (D | QE | HS | RE));
  CHECK(irh_stream_phase_of(f) == IRH_PHASE_ENDED);
  CHECK(refused(f, IRH_EV_WANT_WRITE, IR_ESTATE)); /* nothing more to write */
  CHECK(refused(f, IRH_EV_RESPONSE_END, IR_ESTATE));
  /* HEAD: marked before dispatch only. */
  f = RUN(IRH_EV_HEAD_REQUEST, IRH_EV_DISPATCH);
  CHECK(f == (H | D) && refused(f, IRH_EV_HEAD_REQUEST, IR_ESTATE));
  /* A WebSocket upgrade: 101, then the tunnel until the peer's side ends. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD_UPGRADE);
  CHECK(irh_stream_phase_of(f) == IRH_PHASE_TUNNEL);
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD_UPGRADE, IRH_EV_WANT_WRITE, IRH_EV_WRITABLE,
          IRH_EV_REQUEST_COMPLETE, IRH_EV_RESPONSE_END, IRH_EV_FINISH);
  CHECK(f == (D | HS | U | QE | RE | F));
  /* HTTP/1.1 fails a request the module is reading (413): answered once. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_ANSWERED);
  CHECK(f == (D | HS | RE | A));
  CHECK(refused(f, IRH_EV_SEND_HEAD, IR_ESTATE) && refused(f, IRH_EV_ANSWERED, IR_ESTATE));
  /* ... and before any module (400 on a bad head). */
  CHECK(RUN(IRH_EV_ANSWERED, IRH_EV_FINISH) == (HS | RE | A | F));
  /* An answer after the module's own head is not possible. */
  CHECK(refused(HS | D, IRH_EV_ANSWERED, IR_ESTATE));
  /* h2c: the HTTP/1.1 request, complete, moves to HTTP/2 and is dispatched. */
  f = RUN(IRH_EV_HEAD_REQUEST, IRH_EV_REQUEST_COMPLETE, IRH_EV_REBIND, IRH_EV_DISPATCH);
  CHECK(f == (H | QE | D));
  CHECK(refused(f, IRH_EV_REBIND, IR_ESTATE)); /* a module has seen it */
  /* The module resets after its end; the peer resets after the module. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_RESPONSE_END, IRH_EV_RESET_BY_MODULE,
          IRH_EV_RESET_BY_PEER);
  CHECK(f == (D | HS | RE | R | PR) && irh_stream_phase_of(f) == IRH_PHASE_RESET);
  CHECK(refused(f, IRH_EV_RESET_BY_PEER, IR_ECLOSED));
  CHECK(refused(f, IRH_EV_RESET_BY_MODULE, IR_ECLOSED));
  CHECK(refused(f, IRH_EV_SEND_HEAD, IR_ECLOSED));
  /* After the peer's reset the module can no longer write or end. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_RESET_BY_PEER);
  CHECK(refused(f, IRH_EV_RESPONSE_END, IR_ECLOSED) && refused(f, IRH_EV_WANT_WRITE, IR_ECLOSED));
  CHECK(RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_RESET_BY_PEER, IRH_EV_FINISH) ==
        (D | HS | R | PR | F));
  /* The request may still end after a reset: the protocol reads on. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_RESET_BY_MODULE, IRH_EV_REQUEST_COMPLETE);
  CHECK(f == (D | R | QE));
  /* A file body the module ends at once (mod_static): the end waits until
   * the file's last piece went to the protocol. */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SET_LENGTH, IRH_EV_SEND_HEAD, IRH_EV_FILE_BEGIN,
          IRH_EV_WANT_WRITE, IRH_EV_END_AFTER_FILE);
  CHECK(f == (D | CL | HS | FP | W | EO));
  CHECK(refused(f, IRH_EV_RESPONSE_END, IR_ESTATE) && refused(f, IRH_EV_FILE_BEGIN, IR_ESTATE));
  CHECK(refused(f, IRH_EV_END_AFTER_FILE, IR_ESTATE));
  CHECK(irh_stream_next(f, IRH_EV_FILE_DONE, &f) == IR_OK && f == (D | CL | HS | W | EO));
  CHECK(irh_stream_next(f, IRH_EV_RESPONSE_END, &f) == IR_OK && f == (D | CL | HS | W | RE));
  /* ... or writes on after it (on_writable once the file went out). */
  f = RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_FILE_BEGIN, IRH_EV_WANT_WRITE, IRH_EV_FILE_DONE,
          IRH_EV_WRITABLE, IRH_EV_FILE_BEGIN, IRH_EV_FILE_DONE, IRH_EV_RESPONSE_END);
  CHECK(f == (D | HS | RE));
  /* A file body needs an open response; a reset one still hears its end. */
  CHECK(refused(D, IRH_EV_FILE_BEGIN, IR_ESTATE) &&
        refused(D | HS | RE, IRH_EV_FILE_BEGIN, IR_ESTATE));
  CHECK(RUN(IRH_EV_DISPATCH, IRH_EV_SEND_HEAD, IRH_EV_FILE_BEGIN, IRH_EV_RESET_BY_MODULE,
            IRH_EV_FILE_DONE) == (D | HS | R));
  /* A host-made 500 drops the module's Content-Length; not after a head. */
  CHECK(RUN(IRH_EV_DISPATCH, IRH_EV_SET_LENGTH, IRH_EV_CLEAR_LENGTH) == D);
  CHECK(refused(D | HS, IRH_EV_SET_LENGTH, IR_ESTATE));
  /* Finishing twice is refused: on_close is called once. */
  CHECK(refused(RUN(IRH_EV_FINISH), IRH_EV_FINISH, IR_ECLOSED));
  /* Flags the table does not own pass through every transition. */
  unsigned next;
  CHECK(irh_stream_next(CL | D, IRH_EV_SEND_HEAD, &next) == IR_OK && next == (CL | D | HS));
}

static void test_phases_and_names(void) {
  CHECK(irh_stream_phase_of(0) == IRH_PHASE_RECEIVING);
  CHECK(irh_stream_phase_of(QE) == IRH_PHASE_RECEIVING);
  CHECK(irh_stream_phase_of(D) == IRH_PHASE_DISPATCHED);
  CHECK(irh_stream_phase_of(D | HS) == IRH_PHASE_SENDING);
  CHECK(irh_stream_phase_of(D | HS | U) == IRH_PHASE_TUNNEL);
  CHECK(irh_stream_phase_of(D | HS | RE) == IRH_PHASE_ENDED);
  CHECK(irh_stream_phase_of(D | HS | U | RE) == IRH_PHASE_ENDED);
  CHECK(irh_stream_phase_of(D | R) == IRH_PHASE_RESET);
  CHECK(irh_stream_phase_of(D | HS | RE | R) == IRH_PHASE_RESET);
  CHECK(irh_stream_phase_of(R | F) == IRH_PHASE_FINISHED);
  for (int ev = 0; ev < IRH_EV_COUNT; ev++) {
    const char *n = irh_stream_event_name((irh_stream_event)ev);
    CHECK(n && strcmp(n, "unknown") != 0);
    for (int k = 0; k < ev; k++) CHECK(strcmp(n, irh_stream_event_name((irh_stream_event)k)));
  }
  CHECK(strcmp(irh_stream_event_name(IRH_EV_COUNT), "unknown") == 0);
  CHECK(strcmp(irh_stream_phase_name(IRH_PHASE_TUNNEL), "tunnel") == 0);
  CHECK(strcmp(irh_stream_phase_name(IRH_PHASE_FINISHED), "finished") == 0);
  CHECK(strcmp(irh_stream_phase_name((irh_stream_phase)99), "unknown") == 0);
}

int main(void) {
  test_every_transition();
  test_lifetimes();
  test_phases_and_names();
  return 0;
}
