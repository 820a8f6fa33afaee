#!/usr/bin/python3
"""test_names.py — host.h's rule on names and strings, through
tests/sdk/names_module.c: a request header looked up, and response header,
header-by-reference and trailer names set, all by names the client chose
(slices of the query, never NUL-terminated), so only the pointer + length
wrappers (ir_req_header_n, ir_resp_header_n, ir_resp_header_ref_n,
ir_resp_trailer_n) can take them. Checked over HTTP/1.1 (chunked trailers)
and HTTP/2 (h2c, python3-h2: a trailing HEADERS frame), with names that
differ on every request; refused names come back as their codes;
ir_strerror names every ir_error, the 1.4 ones included; and
ir_worker_count / ir_worker_at's range under [server] workers = 2.

Environment: IRIDIUM_BIN and IRIDIUM_NAMES_MODULE (the built names.so).
"""

import os
import random
import string
import sys
import unittest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402

NAMES_SO = os.environ.get("IRIDIUM_NAMES_MODULE") or os.path.join(
    H.REPO, "build", "tests", "sdk", "modules", "names.so")
IR_EINVAL, IR_ENOTFOUND = -1, -6
SRV = None


def setUpModule():
    global SRV
    if not os.access(H.IRIDIUM_BIN, os.X_OK) or not os.path.isfile(NAMES_SO):
        print("sdk_names setup: IRIDIUM_BIN=%s or IRIDIUM_NAMES_MODULE=%s missing"
              % (H.IRIDIUM_BIN, NAMES_SO), file=sys.stderr)
        sys.exit(1)
    SRV = C.H2Server(server={"workers": 2}, modules=["names"],
                     module_paths={"names": os.path.abspath(NAMES_SO)},
                     routes=[("/n", {"module": "names"})])
    SRV.__enter__()


def tearDownModule():
    if SRV is not None:
        SRV.__exit__(None, None, None)


def fields(body):
    """'get=0 set=0 ... value=v\\n' -> dict (value is the rest of the line)."""
    head, _, value = body.decode().rstrip("\n").partition(" value=")
    out = {k: int(v) for k, v in (kv.split("=") for kv in head.split())}
    out["value"] = value
    return out


def random_name(rng, prefix):
    return prefix + "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 12)))


class Names(unittest.TestCase):
    def cases(self):
        """(query, request headers, wanted header/ref/trailer names, value),
        every name fresh; the looked-up header has a longer twin, so a name
        read past its length would find the wrong one or none."""
        rng = random.Random(9)
        for i in range(6):
            get, out, ref, tr = (random_name(rng, p) for p in ("x-in-", "x-out-", "x-ref-", "x-tr-"))
            value = "v%d-%s" % (i, random_name(rng, ""))
            headers = [(get + "-twin", "wrong"), (get.upper(), value)]
            query = "get=%s&set=%s&ref=%s&trailer=%s" % (get, out, ref, tr)
            yield query, headers, (out, ref, tr), value

    def check(self, got, names, value, header, trailers, how):
        self.assertEqual(got, {"get": 0, "set": 0, "ref": 0, "trailer": 0, "value": value}, how)
        out, ref, tr = names
        self.assertEqual(header(out), value, how)
        self.assertEqual(header(ref), value, how)
        self.assertEqual(dict(trailers).get(tr), value, "%s: trailers %r" % (how, trailers))

    def test_names_from_the_request_h1(self):
        for query, headers, names, value in self.cases():
            r = H.http_request(SRV.port, "GET", "/n?" + query, headers)
            self.assertEqual(r.status, 200, r)
            self.check(fields(r.body), names, value, r.header, r.trailers, "h1 " + query)

    def test_names_from_the_request_h2(self):
        with C.LibClient(SRV.port) as c:
            cases = list(self.cases())
            sids = [c.request("GET", "/n?" + q, [(n.lower(), v) for n, v in h])
                    for q, h, _, _ in cases]
            sts = c.wait(sids, timeout=H.scaled(10))
        self.assertIsNone(c.error, c.error)
        for st, (query, _, names, value) in zip(sts, cases):
            self.assertEqual(st.status, 200, st)
            self.check(fields(bytes(st.data)), names, value, st.header, st.trailers or [],
                       "h2 " + query)

    def test_refused_names_get_their_codes(self):
        # absent header; an empty name; an upper-case name kept by reference;
        # a hop-by-hop trailer: each call refuses alone, the answer still goes.
        query = "get=x-absent&set=&ref=X-Upper&trailer=transfer-encoding"
        r = H.http_request(SRV.port, "GET", "/n?" + query)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(fields(r.body), {"get": IR_ENOTFOUND, "set": IR_EINVAL,
                                          "ref": IR_EINVAL, "trailer": IR_EINVAL, "value": ""})
        self.assertEqual(r.trailers, [])

    def test_strerror_names_every_code(self):
        r = H.http_request(SRV.port, "GET", "/n/strerror?from=-14&to=0")
        self.assertEqual(r.status, 200, r)
        lines = dict(l.split("=", 1) for l in r.body.decode().splitlines())
        self.assertEqual(len(lines), 15, lines)
        for code, text in lines.items():
            self.assertNotEqual(text, "unknown error", "ir_strerror(%s)" % code)
        self.assertEqual(lines["-12"], "cancelled")
        r = H.http_request(SRV.port, "GET", "/n/strerror?from=-15&to=-15")
        self.assertEqual(r.body, b"-15=unknown error\n")

    def test_worker_count_and_range(self):
        # [server] workers = 2: two workers, and none at index 2; a post
        # without a callback is refused (IR_EINVAL), not queued to crash.
        r = H.http_request(SRV.port, "GET", "/n/workers")
        self.assertEqual((r.status, r.body), (200, b"count=2 at_last=1 beyond=0 null_post=-1\n"),
                         r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
