#!/usr/bin/python3
"""The static module never serves a byte from outside its root.

A table of hostile request paths (dot-dot in every encoding, NUL, backslash,
encoded slashes, malformed escapes, overlong UTF-8, double encoding, a long
../ chain, symlinks to /etc, to a secret beside the root and to a sibling
folder whose name starts like the root's) is sent as-is over HTTP/1.1 (a raw
socket), over h2c and HTTP/2 over TLS (hand-built HEADERS, :path untouched)
and with `curl --path-as-is`. Each must be answered with its status from the
module's contract (400 for a malformed or escaping path, 403 for a symlink
leading outside or a non-regular file, 404 for a name that is simply not
there) and no response may hold the random marker of the secret files or
/etc/passwd's "root:x:0:0". A FIFO in the root is refused without hanging.
Files reached inside the root through symlinks, dot segments that stay
inside, and percent-decoding done exactly once still work.

    TMP/www/      the root
    TMP/secret/   secret.txt (marker), outside the root
    TMP/www2/     secret.txt (marker), a sibling named like the root + "2"

Absolute symlinks are resolved too: one that stays inside the root works,
one that leads out (directly, through "..", through the sibling whose name
starts with the root's, or through another symlink) is refused.
"""

import os
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

MARKER = "IRIDIUM-SECRET-" + os.urandom(12).hex()
PASSWD = b"root:x:0:0"
TMP = ROOT = SRV = None
INSIDE = b"inside the root\n"
FILE = b"dir/file.txt inside the root\n"
PCT = b"a file literally named %41.txt\n"

BAD, FORBIDDEN, MISSING = {400}, {403}, {404}

# (path as sent, acceptable statuses, why)
HOSTILE = [
    ("/../etc/passwd", BAD, "dot-dot above the root"),
    ("/%2e%2e/etc/passwd", BAD, "encoded dot-dot"),
    ("/%2E%2E/etc/passwd", BAD, "encoded dot-dot, upper case"),
    ("/%2e%2e%2fetc%2fpasswd", BAD, "encoded dot-dot and slashes"),
    ("/..%2fetc%2fpasswd", BAD, "encoded slash"),
    ("/..%2fetc", BAD, "encoded slash after dot-dot"),
    ("/a/../../etc/passwd", BAD, "dot-dot below a folder, then above the root"),
    ("/%00", BAD, "decoded NUL"),
    ("/a%00.txt", BAD, "decoded NUL inside a name"),
    ("/inside.txt%00.html", BAD, "NUL truncation trick on a real file"),
    ("/..%00/etc/passwd", BAD, "NUL after dot-dot"),
    ("/..\\etc\\passwd", BAD, "raw backslashes"),
    ("/%5c..%5cetc%5cpasswd", BAD, "encoded backslashes"),
    ("/..%5c..%5csecret/secret.txt", BAD, "encoded backslash after dot-dot"),
    ("/%2e%2e%5c%2e%2e%5csecret/secret.txt", BAD, "encoded dot-dot and backslash"),
    ("/./../etc/passwd", BAD, "dot then dot-dot"),
    ("/%252e%252e/etc/passwd", MISSING, "double-encoded: decoded once it is a name '%2e%2e'"),
    ("/..%252f..%252fsecret/secret.txt", MISSING,
     "double-encoded slash: a plain name once decoded"),
    ("/.%2e/.%2e/etc/passwd", BAD, "half-encoded dot-dot"),
    ("/%2e./%2e./secret/secret.txt", BAD, "half-encoded dot-dot, other half"),
    ("/%c0%ae%c0%ae/etc/passwd", BAD | MISSING, "overlong UTF-8 dots are no dots"),
    ("/%e0%80%ae%e0%80%ae/etc/passwd", BAD | MISSING, "3-byte overlong UTF-8 dots"),
    ("/symlink_out/passwd", FORBIDDEN, "a symlink in the root to /etc"),
    ("/symlink_out/", FORBIDDEN, "the symlinked folder itself"),
    ("/symlink_out", FORBIDDEN, "the symlink without its slash (no 301 that reveals it)"),
    ("/link_file", FORBIDDEN, "a symlink to /etc/passwd"),
    ("/link_secret", FORBIDDEN, "a symlink to ../secret/secret.txt"),
    ("/link_sibling/secret.txt", FORBIDDEN, "a symlink to ../www2 (the root's name is its prefix)"),
    ("/dir_link_up/secret/secret.txt", FORBIDDEN, "a symlink to the root's parent"),
    ("/dir/link_up2/secret/secret.txt", FORBIDDEN, "a relative symlink ../.. deeper down"),
    ("/link_dev_null", FORBIDDEN, "a symlink to /dev/null"),
    ("/abs_escape", FORBIDDEN, "an absolute symlink ROOT/../secret/secret.txt"),
    ("/abs_sibling", FORBIDDEN, "an absolute symlink to TMP/www2/secret.txt (root's name + 2)"),
    ("/abs_sibling_dir/secret.txt", FORBIDDEN, "an absolute symlink to the folder TMP/www2"),
    ("/abs_parent/secret/secret.txt", FORBIDDEN, "an absolute symlink to the root's parent"),
    ("/abs_chain", FORBIDDEN, "an absolute symlink to ROOT/link_file (-> /etc/passwd)"),
    ("/abs_dir/link_up2/secret/secret.txt", FORBIDDEN,
     "an absolute symlink to ROOT/dir, then its relative ../.. symlink"),
    ("/abs_dangling", FORBIDDEN | MISSING, "an absolute symlink to a missing file in the root"),
    ("/fifo", FORBIDDEN, "a FIFO (a non-regular file; opening it may block)"),
    ("/%2fetc%2fpasswd", BAD, "an encoded absolute path"),
    ("//etc/passwd", MISSING | BAD, "an empty first segment"),
    ("/dir/..%2f..%2fsecret", BAD, "encoded slashes below a folder"),
    ("/dir/../../secret/secret.txt", BAD, "dot-dot twice from a folder"),
    ("/dir/%2e%2e/%2e%2e/secret/secret.txt", BAD, "encoded dot-dot twice from a folder"),
    ("/../www2/secret.txt", BAD, "the sibling through dot-dot"),
    ("/..", BAD, "dot-dot alone"),
    ("/%2e%2e", BAD, "encoded dot-dot alone"),
    ("/%", BAD, "a lone percent"),
    ("/%zz", BAD, "a malformed escape"),
    ("/%2", BAD, "a truncated escape"),
    ("/inside.txt%", BAD, "a percent at the end of a real name"),
    ("/%u002e%u002e/etc/passwd", BAD, "IIS %u escapes are malformed %xx"),
    ("/" + "../" * 300 + "etc/passwd", BAD, "a 300-deep ../ chain"),
    ("/" + "%2e%2e/" * 200 + "etc/passwd", BAD, "a 200-deep encoded chain"),
    ("/dir/" + "a/../" * 100 + "../../secret/secret.txt", BAD, "long in-root detour, then out"),
    ("/..;/etc/passwd", MISSING, "'..;' is a name, not dot-dot"),
    ("/etc/passwd", MISSING, "an absolute-looking path is under the root"),
    ("/secret/secret.txt", MISSING, "the secret's path relative to TMP"),
]


def build_tree():
    S.write_file(os.path.join(ROOT, "index.html"), b"<p>index</p>\n")
    S.write_file(os.path.join(ROOT, "inside.txt"), INSIDE)
    S.write_file(os.path.join(ROOT, "dir", "file.txt"), FILE)
    S.write_file(os.path.join(ROOT, "a", "x.txt"), b"x\n")
    S.write_file(os.path.join(ROOT, "a b.txt"), b"blank\n")
    S.write_file(os.path.join(ROOT, "%41.txt"), PCT)
    for d in ("secret", "www2"):
        S.write_file(os.path.join(TMP, d, "secret.txt"), (MARKER + "\n").encode())
    links = {
        "symlink_out": "/etc",
        "link_file": "/etc/passwd",
        "link_secret": "../secret/secret.txt",
        "link_sibling": "../www2",
        "dir_link_up": "..",
        "dir/link_up2": "../..",
        "link_dev_null": "/dev/null",
        "link_inside": "inside.txt",
        "linkdir_inside": "dir",
        "link_abs_inside": os.path.join(ROOT, "inside.txt"),
        "dir/link_back": "../inside.txt",
        "abs_escape": ROOT + "/../secret/secret.txt",
        "abs_sibling": ROOT + "2/secret.txt",
        "abs_sibling_dir": ROOT + "2",
        "abs_parent": TMP,
        "abs_chain": os.path.join(ROOT, "link_file"),
        "abs_dir": os.path.join(ROOT, "dir"),
        "abs_dangling": os.path.join(ROOT, "no-such-file"),
    }
    for name, target in links.items():
        os.symlink(target, os.path.join(ROOT, name))
    os.mkfifo(os.path.join(ROOT, "fifo"))


def setUpModule():
    global TMP, ROOT, SRV
    S.check_static_environment(need=("curl", "certtool"))
    TMP = tempfile.mkdtemp(prefix="iridium-static-trav-")
    ROOT = os.path.join(TMP, "www")
    os.makedirs(ROOT)
    try:
        build_tree()
        SRV = S.StaticServer({"root": ROOT, "autoindex": "on"})
        SRV.__enter__()
    except BaseException:
        shutil.rmtree(TMP, ignore_errors=True)
        raise


def tearDownModule():
    try:
        if SRV is not None:
            SRV.__exit__(None, None, None)
    finally:
        if TMP:
            shutil.rmtree(TMP, ignore_errors=True)


def leaks(data):
    """What of the secrets a response holds (empty when none)."""
    found = []
    if MARKER.encode() in data:
        found.append("the secret marker")
    if PASSWD in data:
        found.append("/etc/passwd content")
    return found


def show(path):
    return path if len(path) < 80 else path[:60] + "...(%d bytes)" % len(path)


class Traversal(unittest.TestCase):
    def tearDown(self):
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def check(self, how, path, want, why, status, raw):
        bad = leaks(raw)
        self.assertFalse(bad, "%s %s (%s): the response holds %s:\n%r"
                         % (how, show(path), why, " and ".join(bad), raw[:600]))
        self.assertIn(status, want, "%s %s (%s): status %s, expected %s"
                      % (how, show(path), why, status, sorted(want)))

    def test_http11_raw(self):
        failures = []
        for path, want, why in HOSTILE:
            s = H.connect(SRV.port)
            try:
                s.sendall(H.build_request("GET", path, headers=[("Connection", "close")]))
                data, how = H.recv_until_close(s, H.scaled(5.0))
            finally:
                s.close()
            rs = H.parse_responses(data) if data else []
            status = rs[0].status if rs else "nothing (%s)" % how
            try:
                self.check("HTTP/1.1 GET", path, want, why, status, data)
            except AssertionError as e:
                failures.append(str(e))
        self.assertFalse(failures, "\n".join(failures) + SRV.diagnostics())

    def test_http11_absolute_form(self):
        failures = []
        for path, want, why in HOSTILE:
            target = "http://127.0.0.1:%d%s" % (SRV.port, path)
            s = H.connect(SRV.port)
            try:
                s.sendall(H.build_request("GET", target, headers=[("Connection", "close")]))
                data, how = H.recv_until_close(s, H.scaled(5.0))
            finally:
                s.close()
            rs = H.parse_responses(data) if data else []
            status = rs[0].status if rs else "nothing (%s)" % how
            try:
                self.check("HTTP/1.1 absolute-form", path, want, why, status, data)
            except AssertionError as e:
                failures.append(str(e))
        self.assertFalse(failures, "\n".join(failures))

    def run_h2(self, tls):
        how = "HTTP/2%s :path" % (" over TLS" if tls else " (h2c)")
        failures = []
        port = SRV.tls_port if tls else SRV.port
        # A few paths per connection, so a connection error shows which.
        for i in range(0, len(HOSTILE), 8):
            batch = HOSTILE[i:i + 8]
            with C.RawConn(port, tls=tls) as c:
                C.wait_settings_and_ack(c)
                sids = [(c.send_request("GET", p), p, w, y) for p, w, y in batch]
                c.pump(lambda: all(c.streams[s].ended or c.streams[s].reset is not None
                                   for s, _, _, _ in sids), timeout=10)
                for sid, path, want, why in sids:
                    st = c.streams[sid]
                    raw = repr(st.header_blocks).encode() + bytes(st.data)
                    if st.status is None:
                        failures.append("%s %s (%s): no response (%r; %s)"
                                        % (how, show(path), why, st, c.summary()))
                        continue
                    try:
                        self.check(how, path, want, why, st.status, raw)
                    except AssertionError as e:
                        failures.append(str(e))
        self.assertFalse(failures, "\n".join(failures))

    def test_h2c_raw(self):
        self.run_h2(False)

    def test_h2_tls_raw(self):
        self.run_h2(True)

    def test_curl_path_as_is(self):
        tmp = tempfile.mkdtemp(prefix="c-", dir=TMP)
        failures = []
        try:
            for variant in ("http1.1", "h2-tls"):
                for path, want, why in HOSTILE:
                    r = S.fetch(SRV, variant, path, tmp, args=["--path-as-is"])
                    raw = repr(r.headers).encode() + r.body
                    try:
                        self.check("curl --path-as-is over %s" % variant, path, want, why,
                                   r.status, raw)
                    except AssertionError as e:
                        failures.append(str(e))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertFalse(failures, "\n".join(failures))

    def test_head_of_hostile_paths(self):
        # HEAD takes the same checks (and has no body to leak, but headers).
        failures = []
        for path, want, why in HOSTILE:
            s = H.connect(SRV.port)
            try:
                s.sendall(H.build_request("HEAD", path, headers=[("Connection", "close")]))
                data, how = H.recv_until_close(s, H.scaled(5.0))
            finally:
                s.close()
            rs = H.parse_responses(data, methods=["HEAD"]) if data else []
            status = rs[0].status if rs else "nothing (%s)" % how
            try:
                self.check("HTTP/1.1 HEAD", path, want, why, status, data)
            except AssertionError as e:
                failures.append(str(e))
        self.assertFalse(failures, "\n".join(failures))

    def test_fifo_does_not_block_the_worker(self):
        # The FIFO request comes first on its connection; fresh requests on
        # other connections must still be served promptly (the server has two
        # workers, so ask several times).
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("GET", "/fifo"))
            r = H.HTTPReader(s, timeout=5).read_response()
            self.assertEqual(r.status, 403)
        finally:
            s.close()
        for _ in range(4):
            r = H.http_request(SRV.port, "GET", "/inside.txt", timeout=5)
            self.assertEqual((r.status, r.body), (200, INSIDE))

    def test_listing_of_root_shows_no_outside_content(self):
        r = H.http_request(SRV.port, "GET", "/")
        # index.html is there: the index, not a listing.
        self.assertEqual(r.status, 200)
        self.assertFalse(leaks(r.body))
        r = H.http_request(SRV.port, "GET", "/symlink_out/")
        self.assertEqual(r.status, 403, "a listing through a symlink to /etc: %r" % r)
        self.assertNotIn(b"passwd", r.body)


class StillServes(unittest.TestCase):
    """What is inside the root stays reachable."""

    OK = [
        ("/inside.txt", INSIDE, "a plain file"),
        ("/link_inside", INSIDE, "a relative symlink to a file in the root"),
        ("/link_abs_inside", INSIDE, "an absolute symlink to a file in the root"),
        ("/linkdir_inside/file.txt", FILE, "through a symlinked folder inside the root"),
        ("/abs_dir/file.txt", FILE, "through an absolute symlink to a folder in the root"),
        ("/abs_dir/link_back", INSIDE, "absolute folder symlink, then a relative one"),
        ("/dir/link_back", INSIDE, "a symlink ../inside.txt that stays inside"),
        ("/dir/file.txt", FILE, "a file in a folder"),
        ("/dir/./file.txt", FILE, "a dot segment"),
        ("/dir/../inside.txt", INSIDE, "dot-dot that stays inside the root"),
        ("/dir/%2e%2e/inside.txt", INSIDE, "encoded dot-dot that stays inside the root"),
        ("/inside%2etxt", INSIDE, "an encoded dot in a name"),
        ("/%69nside.txt", INSIDE, "an encoded letter"),
        ("/a%20b.txt", b"blank\n", "an encoded blank"),
        ("/%2541.txt", PCT, "decoded once: the file named %41.txt"),
        ("/inside.txt?/../../etc/passwd", INSIDE, "dot-dot in the query is not the path"),
    ]

    def test_inside_paths(self):
        failures = []
        for path, body, why in self.OK:
            for proto in ("HTTP/1.1", "h2c"):
                if proto == "HTTP/1.1":
                    r = H.http_request(SRV.port, "GET", path)
                    got = (r.status, r.body)
                else:
                    with C.RawConn(SRV.port) as c:
                        st = c.get(path)
                        got = (st.status, bytes(st.data))
                if got != (200, body):
                    failures.append("%s %s (%s): got %s %r, expected 200 %r"
                                    % (proto, path, why, got[0], got[1][:80], body))
        self.assertFalse(failures, "\n".join(failures))

    def test_not_double_decoded(self):
        r = H.http_request(SRV.port, "GET", "/%41.txt")
        self.assertEqual(r.status, 404, "/%%41.txt is A.txt, which does not exist: "
                         "decoded twice? %r" % r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
