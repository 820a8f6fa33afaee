#!/usr/bin/python3
"""Conditional and range requests: the static module next to nginx.

nginx (Debian's /usr/sbin/nginx: one process, a temp config, `etag on`,
`if_modified_since before` so that a later date also counts as "not
modified", as RFC 9110 13.1.3 says) and Iridium serve the same folder. For
a table of requests (If-None-Match matching / not / * / a list / weak,
If-Modified-Since past / future / equal / not a date, If-Match matching /
not / * / weak, If-Unmodified-Since past / future, their precedence, Range
single / suffix / open / past the end / unsatisfiable / invalid / several,
If-Range with the date, a matching or other ETag, a weak one), each server
gets the request written with its own ETag and Last-Modified. Status,
Content-Range and Content-Length must be what RFC 9110 and the module's
contract say, and the same from both servers; the body of a 206 must be the
right slice. Where RFC 9110 leaves a choice, the table lists each allowed
answer. The cases where nginx answers otherwise (several ranges: nginx sends
multipart, the module the whole file by design; and a few where nginx
departs from RFC 9110) are in NGINX_DIFFERS with nginx's own answer, checked
against both servers and printed.

Iridium's answers over h2c must be the same as over HTTP/1.1.

nginx missing fails the test (bash .ci/dev deps installs it).
"""

import email.utils
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

MTIME = 1700000000
SIZE = 10000
TMP = ROOT = IRI = NGX = None
BODY = None

# A case: name, method, path, headers (templates: {etag} {weak} {lm} {past}
# {future} {lm_minus} are the server's own), the expected
# (status, Content-Range, Content-Length) per RFC 9110 and the contract (a
# list when RFC 9110 leaves a choice), and, where nginx answers otherwise on
# purpose or against RFC 9110, a dict NGINX_DIFFERS[name] = (what nginx
# answers, why). Content-Length is compared for 2xx answers only: the
# body of a 304 is empty and that of a 412 or 416 is each server's own page.
P = "/file.txt"
E = "/empty.txt"
CR = "bytes %d-%d/%d"
FULL = (200, None, SIZE)
NOT_MODIFIED = (304, None, None)
FAILED = (412, None, None)
UNSATISFIABLE = (416, "bytes */%d" % SIZE, None)


def part(first, last):
    return (206, CR % (first, last, SIZE), last - first + 1)


CASES = [
    ("plain GET", "GET", P, [], FULL),
    ("plain HEAD", "HEAD", P, [], FULL),
    ("If-None-Match: own ETag", "GET", P, [("If-None-Match", "{etag}")], NOT_MODIFIED),
    ("If-None-Match: own ETag, HEAD", "HEAD", P, [("If-None-Match", "{etag}")], NOT_MODIFIED),
    ("If-None-Match: other ETag", "GET", P, [("If-None-Match", '"nope"')], FULL),
    ("If-None-Match: *", "GET", P, [("If-None-Match", "*")], NOT_MODIFIED),
    ("If-None-Match: list with own", "GET", P, [("If-None-Match", '"a", {etag}, "b"')],
     NOT_MODIFIED),
    ("If-None-Match: list with weak other and own", "GET", P,
     [("If-None-Match", 'W/"nope", {etag}')], NOT_MODIFIED),
    ("If-None-Match: list without own", "GET", P, [("If-None-Match", '"a", "b"')], FULL),
    ("If-None-Match: weak own (weak comparison)", "GET", P, [("If-None-Match", "{weak}")],
     NOT_MODIFIED),
    ("If-Modified-Since: past", "GET", P, [("If-Modified-Since", "{past}")], FULL),
    ("If-Modified-Since: future", "GET", P, [("If-Modified-Since", "{future}")], NOT_MODIFIED),
    ("If-Modified-Since: equal", "GET", P, [("If-Modified-Since", "{lm}")], NOT_MODIFIED),
    ("If-Modified-Since: equal, HEAD", "HEAD", P, [("If-Modified-Since", "{lm}")], NOT_MODIFIED),
    ("If-Modified-Since: one second before", "GET", P, [("If-Modified-Since", "{lm_minus}")],
     FULL),
    ("If-Modified-Since: not a date", "GET", P, [("If-Modified-Since", "yesterday")], FULL),
    ("If-None-Match other + If-Modified-Since equal (INM wins)", "GET", P,
     [("If-None-Match", '"nope"'), ("If-Modified-Since", "{lm}")], FULL),
    ("If-None-Match own + If-Modified-Since past (INM wins)", "GET", P,
     [("If-None-Match", "{etag}"), ("If-Modified-Since", "{past}")], NOT_MODIFIED),
    ("If-Match: own ETag", "GET", P, [("If-Match", "{etag}")], FULL),
    ("If-Match: other ETag", "GET", P, [("If-Match", '"nope"')], FAILED),
    ("If-Match: *", "GET", P, [("If-Match", "*")], FULL),
    ("If-Match: list with own", "GET", P, [("If-Match", '"a", {etag}')], FULL),
    ("If-Match: weak own (strong comparison fails)", "GET", P, [("If-Match", "{weak}")], FAILED),
    ("If-Unmodified-Since: past", "GET", P, [("If-Unmodified-Since", "{past}")], FAILED),
    ("If-Unmodified-Since: future", "GET", P, [("If-Unmodified-Since", "{future}")], FULL),
    ("If-Unmodified-Since: equal", "GET", P, [("If-Unmodified-Since", "{lm}")], FULL),
    ("If-Match own + If-Unmodified-Since past (IM wins)", "GET", P,
     [("If-Match", "{etag}"), ("If-Unmodified-Since", "{past}")], FULL),
    ("If-Match other + If-None-Match other (412 first)", "GET", P,
     [("If-Match", '"nope"'), ("If-None-Match", '"nope"')], FAILED),
    ("Range: bytes=0-99", "GET", P, [("Range", "bytes=0-99")], part(0, 99)),
    ("Range: bytes=100-199", "GET", P, [("Range", "bytes=100-199")], part(100, 199)),
    ("Range: bytes=0-0", "GET", P, [("Range", "bytes=0-0")], part(0, 0)),
    ("Range: unit case-insensitive BYTES=0-9", "GET", P, [("Range", "BYTES=0-9")], part(0, 9)),
    ("Range: suffix bytes=-100", "GET", P, [("Range", "bytes=-100")], part(SIZE - 100, SIZE - 1)),
    ("Range: open bytes=9000-", "GET", P, [("Range", "bytes=9000-")], part(9000, SIZE - 1)),
    ("Range: last byte bytes=9999-9999", "GET", P, [("Range", "bytes=9999-9999")],
     part(9999, 9999)),
    ("Range: end past the size", "GET", P, [("Range", "bytes=9990-20000")], part(9990, SIZE - 1)),
    ("Range: suffix longer than the file", "GET", P, [("Range", "bytes=-20000")],
     part(0, SIZE - 1)),
    ("Range: HEAD bytes=0-99 (Range is for GET only)", "HEAD", P, [("Range", "bytes=0-99")],
     FULL),
    ("Range: unsatisfiable bytes=10000-", "GET", P, [("Range", "bytes=10000-")], UNSATISFIABLE),
    ("Range: unsatisfiable bytes=10000-10001", "GET", P, [("Range", "bytes=10000-10001")],
     UNSATISFIABLE),
    ("Range: unsatisfiable bytes=20000-30000", "GET", P, [("Range", "bytes=20000-30000")],
     UNSATISFIABLE),
    ("Range: zero suffix bytes=-0", "GET", P, [("Range", "bytes=-0")], UNSATISFIABLE),
    ("Range: last < first bytes=5-1", "GET", P, [("Range", "bytes=5-1")],
     [FULL, UNSATISFIABLE]),
    ("Range: invalid bytes=abc", "GET", P, [("Range", "bytes=abc")], FULL),
    ("Range: invalid bytes=", "GET", P, [("Range", "bytes=")], FULL),
    ("Range: blanks around = (invalid)", "GET", P, [("Range", "bytes = 0-9")], FULL),
    ("Range: other unit items=0-5", "GET", P, [("Range", "items=0-5")], FULL),
    ("Range: several bytes=0-9,20-29", "GET", P, [("Range", "bytes=0-9,20-29")], FULL),
    ("Range: several bytes=0-9, 5000-", "GET", P, [("Range", "bytes=0-9, 5000-")], FULL),
    ("If-Range: Last-Modified + Range", "GET", P,
     [("If-Range", "{lm}"), ("Range", "bytes=0-99")], part(0, 99)),
    ("If-Range: own ETag + Range", "GET", P,
     [("If-Range", "{etag}"), ("Range", "bytes=0-99")], part(0, 99)),
    ("If-Range: other ETag + Range", "GET", P,
     [("If-Range", '"nope"'), ("Range", "bytes=0-99")], FULL),
    ("If-Range: weak own ETag + Range", "GET", P,
     [("If-Range", "{weak}"), ("Range", "bytes=0-99")], FULL),
    ("If-Range: past date + Range", "GET", P,
     [("If-Range", "{past}"), ("Range", "bytes=0-99")], FULL),
    ("If-Range: a second before + Range", "GET", P,
     [("If-Range", "{lm_minus}"), ("Range", "bytes=0-9")], FULL),
    ("Range + If-None-Match own (304 first)", "GET", P,
     [("If-None-Match", "{etag}"), ("Range", "bytes=0-99")], NOT_MODIFIED),
    ("Range + If-Modified-Since equal (304 first)", "GET", P,
     [("If-Modified-Since", "{lm}"), ("Range", "bytes=0-9")], NOT_MODIFIED),
    ("Range + If-Match other (412 first)", "GET", P,
     [("If-Match", '"nope"'), ("Range", "bytes=0-99")], FAILED),
    ("Range + If-Unmodified-Since past (412 first)", "GET", P,
     [("If-Unmodified-Since", "{past}"), ("Range", "bytes=0-9")], FAILED),
    ("empty file", "GET", E, [], (200, None, 0)),
    ("empty file + Range bytes=0-0", "GET", E, [("Range", "bytes=0-0")],
     [(416, "bytes */0", None), (200, None, 0)]),
]

MULTIPART = "nginx answers several ranges with 206 multipart/byteranges; Iridium serves one " \
    "range at most and answers several with the whole file (the module's documented choice)"
NGINX_DIFFERS = {
    "If-None-Match own + If-Modified-Since past (INM wins)": (
        FULL, "nginx evaluates If-Modified-Since although If-None-Match is present; RFC 9110 "
        "13.1.3 says a recipient MUST ignore it then"),
    "If-Match own + If-Unmodified-Since past (IM wins)": (
        FAILED, "nginx evaluates If-Unmodified-Since although If-Match is present; RFC 9110 "
        "13.1.4 says a recipient MUST ignore it then"),
    "Range: invalid bytes=abc": (
        UNSATISFIABLE, "nginx answers a syntactically invalid byte range with 416; the "
        "contract ignores an invalid Range (RFC 9110 14.2 lets a server ignore Range)"),
    "Range: HEAD bytes=0-99 (Range is for GET only)": (
        part(0, 99), "nginx honours Range on HEAD; RFC 9110 14.2 defines range handling for "
        "GET only, and a server MUST ignore Range on other methods"),
    "Range: several bytes=0-9,20-29": ((206, None, None), MULTIPART),
    "Range: several bytes=0-9, 5000-": ((206, None, None), MULTIPART),
}


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def setUpModule():
    global TMP, ROOT, IRI, NGX, BODY
    S.check_static_environment(need=(S.NGINX_BIN,))
    TMP = tempfile.mkdtemp(prefix="iridium-static-nginx-")
    ROOT = os.path.join(TMP, "www")
    BODY = (b"0123456789abcdef" * (SIZE // 16 + 1))[:SIZE]
    S.write_file(os.path.join(ROOT, "file.txt"), BODY)
    S.write_file(os.path.join(ROOT, "empty.txt"), b"")
    for n in ("file.txt", "empty.txt"):
        S.set_mtime(os.path.join(ROOT, n), MTIME)
    try:
        NGX = S.Nginx(ROOT, http="    if_modified_since before;")
        NGX.start()
        IRI = S.StaticServer({"root": ROOT, "precompressed": "off"}, tls=False)
        IRI.__enter__()
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    try:
        if IRI is not None:
            IRI.__exit__(None, None, None)
    finally:
        if NGX is not None:
            NGX.stop()
            NGX.cleanup()
        if TMP:
            shutil.rmtree(TMP, ignore_errors=True)


class Answer:
    def __init__(self, status, content_range, content_length, body, etag=None, lm=None):
        self.status = status
        self.content_range = content_range
        self.content_length = int(content_length) if content_length is not None else None
        self.body = body
        self.etag = etag
        self.lm = lm

    def key(self):
        """(status, Content-Range, Content-Length); the length of a 2xx only."""
        return (self.status, self.content_range,
                self.content_length if 200 <= self.status < 300 else None)

    def __repr__(self):
        return "%s CR=%s CL=%s" % self.key()


def matches(answer, want, loose_length=False):
    """Whether answer.key() is want (or one of a list of wants). With
    loose_length, Content-Length is not compared (nginx's multipart)."""
    for w in (want if isinstance(want, list) else [want]):
        k = answer.key()
        if loose_length:
            k, w = k[:2], w[:2]
        if k == tuple(w):
            return True
    return False


def show(want):
    ws = want if isinstance(want, list) else [want]
    return " or ".join("%s CR=%s CL=%s" % w for w in ws)


def h1(port, method, path, headers):
    r = H.http_request(port, method, path, headers=headers)
    return Answer(r.status, r.header("content-range"), r.header("content-length"), r.body,
                  r.header("etag"), r.header("last-modified"))


def h2c(port, method, path, headers):
    with C.RawConn(port) as c:
        st = c.wait_stream(c.send_request(method, path, extra=[(n.lower(), v) for n, v in headers]),
                           timeout=10)
        if st.status is None:
            raise AssertionError("h2c %s %s: no response: %r" % (method, path, st))
        return Answer(st.status, st.header("content-range"), st.header("content-length"),
                      bytes(st.data), st.header("etag"), st.header("last-modified"))


def validators(port):
    a = h1(port, "GET", P, [])
    assert a.status == 200 and a.etag and a.lm, "GET %s: %r" % (P, a)
    strong = a.etag[2:] if a.etag.startswith("W/") else a.etag
    now = time.time()
    return {"etag": a.etag, "weak": "W/" + strong, "lm": a.lm,
            "lm_minus": http_date(email.utils.parsedate_to_datetime(a.lm).timestamp() - 1),
            "past": http_date(MTIME - 86400), "future": http_date(now + 86400)}


def fill(headers, v):
    return [(n, t.format(**v)) for n, t in headers]


class VersusNginx(unittest.TestCase):
    def test_validators(self):
        vi, vn = validators(IRI.port), validators(NGX.ports["main"])
        print("\nETag: iridium %s, nginx %s; Last-Modified: iridium %s, nginx %s"
              % (vi["etag"], vn["etag"], vi["lm"], vn["lm"]))
        self.assertEqual(vi["lm"], http_date(MTIME))
        self.assertEqual(vi["lm"], vn["lm"])
        self.assertFalse(vi["etag"].startswith("W/"), "Iridium's ETag is weak: " + vi["etag"])

    def check_body(self, case, a):
        name, method = case[0], case[1]
        if method == "HEAD" or a.status == 304:
            self.assertEqual(a.body, b"", "%s: a body with %d" % (name, a.status))
            return
        if a.status not in (200, 206):
            return  # an error page: each server's own
        full = BODY if case[2] == P else b""
        if a.status == 200:
            self.assertEqual(a.body, full, "%s: 200 body" % name)
        else:
            first, last = (int(x) for x in a.content_range.split()[1].split("/")[0].split("-"))
            self.assertEqual(a.body, full[first:last + 1], "%s: 206 body" % name)

    def test_table(self):
        vi, vn = validators(IRI.port), validators(NGX.ports["main"])
        failures, differences, rows = [], [], []
        for case in CASES:
            name, method, path, headers, want = case
            a_i = h1(IRI.port, method, path, fill(headers, vi))
            a_n = h1(NGX.ports["main"], method, path, fill(headers, vn))
            rows.append("%-58s iridium %-32s nginx %s" % (name, a_i, a_n))
            if not matches(a_i, want):
                failures.append("%s: Iridium answered %r; RFC 9110 and the contract say %s "
                                "(nginx answered %r)" % (name, a_i, show(want), a_n))
            else:
                try:
                    self.check_body(case, a_i)
                except AssertionError as e:
                    failures.append(str(e))
            if name in NGINX_DIFFERS:
                n_want, why = NGINX_DIFFERS[name]
                differences.append("%s: nginx %r, Iridium %r: %s" % (name, a_n, a_i, why))
                if not matches(a_n, n_want, loose_length=n_want[2] is None):
                    failures.append("%s: nginx answered %r, the table says nginx answers %s "
                                    "(%s); the table needs a look" % (name, a_n, show(n_want),
                                                                     why))
            elif a_n.key() != a_i.key() and not (isinstance(want, list) and matches(a_n, want)):
                failures.append("%s: Iridium %r but nginx %r (expected %s)"
                                % (name, a_i, a_n, show(want)))
        print("\n" + "\n".join(rows))
        if differences:
            print("\nDifferences from nginx, by design or RFC 9110:\n  " + "\n  ".join(differences))
        self.assertFalse(failures, "\n" + "\n".join(failures) + IRI.diagnostics())

    def test_h2c_same_as_http11(self):
        v = validators(IRI.port)
        failures = []
        for case in CASES:
            name, method, path, headers = case[:4]
            hs = fill(headers, v)
            a1 = h1(IRI.port, method, path, hs)
            a2 = h2c(IRI.port, method, path, hs)
            if (a1.key(), a1.body) != (a2.key(), a2.body):
                failures.append("%s: HTTP/1.1 %r (%d body bytes), h2c %r (%d body bytes)"
                                % (name, a1, len(a1.body), a2, len(a2.body)))
        self.assertFalse(failures, "\n".join(failures))


if __name__ == "__main__":
    unittest.main(verbosity=2)
