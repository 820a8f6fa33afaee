#!/usr/bin/python3
"""The static module (static.so) serving files as real clients see it.

Files of 0 B, 1 B, 1 KiB, 64 KiB, 64 KiB + 1, 100 KiB and 10 MiB (random
bytes; files up to cache_max_bytes = 64 KiB are served from memory) and a
1 GiB sparse file (random blocks at its start, middle and end) are fetched with
curl over HTTP/1.1, h2c by prior knowledge, HTTP/2 over TLS (ALPN) and
HTTP/1.1 over TLS, and compared by sha256 (the 1 GiB one streamed into the
hash); the server's RSS stays under its idle RSS + 64 MiB while it sends
1 GiB. Also: HEAD, index files (a list), 301 for a directory without its
slash, the autoindex listing with an HTML-hostile file name, 405 + Allow,
Content-Type (charset for text) from a mime.types file and from the built-in
table, Cache-Control from the INI, precompressed variants chosen by
Accept-Encoding, and several large files on one HTTP/2 connection at once.

Also: a file changed, replaced, deleted or created is seen after
open_file_cache_ttl; a client that leaves in the middle of 1 GiB leaves no
descriptor open; a file that shrinks while it is sent ends that response
early (connection closed, or the stream reset) without a hang; h2load
traffic on a 100 KiB file all succeeds; over TLS, 16 interleaved 100 KiB
responses cost few read calls (file payloads joined into one preadv each).

[route /] instances share one root: the main one (autoindex, index list,
cache_control, mime_types), and by Host: plain.test with every key at its
default, fresh.test with open_file_cache_ttl = 200ms, nocache.test with
open_file_cache = 0.
"""

import email.utils
import gzip
import html
import html.parser
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import h2client as C  # noqa: E402
import static_common as S  # noqa: E402

MTIME = 1700000000  # 2023-11-14 22:13:20 GMT
# 64 KiB is cache_max_bytes' default: up to it a file is served from memory.
SIZES = {"empty.bin": 0, "one.bin": 1, "f1k.bin": 1024, "f64k.bin": 65536,
         "f64k1.bin": 65537, "f100k.bin": 100 * 1024, "f10m.bin": 10 * 1024 * 1024}
BIG = "big.bin"
BIG_SIZE = 1 << 30
HOSTILE_NAME = "<script>&\"'.txt"
CACHE_CONTROL = "public, max-age=60"
CUSTOM_TYPE = "application/x-iridium-test"
RSS_MARGIN_KIB = 64 * 1024

ROOT = None   # the served folder
TMP = None    # everything else of this module (mime file, curl output)
SRV = None
DIGEST = {}   # name -> sha256 hex
DATA = {}     # name -> bytes (the small ones)


def build_tree():
    for name, size in SIZES.items():
        data = os.urandom(size)
        S.write_file(os.path.join(ROOT, name), data)
        DIGEST[name] = H.sha256(data)
        if size <= 100 * 1024:
            DATA[name] = data
    # 1 GiB, sparse: a hole everywhere except three random blocks, so that a
    # wrong offset anywhere changes the digest.
    big = os.path.join(ROOT, BIG)
    with open(big, "wb") as f:
        f.truncate(BIG_SIZE)
        for off, n in ((0, 65536), (BIG_SIZE // 2 + 12345, 65536), (BIG_SIZE - 4096, 4096)):
            f.seek(off)
            f.write(os.urandom(n))
    DIGEST[BIG] = H.sha256_file(big)

    texts = {
        "index.html": b"<!doctype html><title>root index</title><p>root index\n",
        "docs/index.html": b"<!doctype html><title>docs</title><p>docs index\n",
        "alt/index.htm": b"<!doctype html><title>alt</title><p>alt index.htm\n",
        "types/a.txt": b"plain text\n",
        "types/page.html": b"<p>page</p>\n",
        "types/page.htm": b"<p>page htm</p>\n",
        "types/style.css": b"body { color: black }\n",
        "types/app.js": b"console.log(1);\n",
        "types/data.json": b"{\"a\": 1}\n",
        "types/pic.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 32,
        "types/pic.svg": b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
        "types/mod.wasm": b"\0asm\x01\0\0\0",
        "types/custom.irt": b"custom type\n",
        "listing/plain.txt": b"plain\n",
        "listing/" + HOSTILE_NAME: b"hostile name\n",
        "listing/a b.txt": b"with a blank\n",
        "listing/sub/inner.txt": b"inner\n",
    }
    for rel, data in texts.items():
        S.write_file(os.path.join(ROOT, rel), data)
        DATA[rel] = data

    # precompressed variants beside pre/text.txt
    ident = (b"precompressed identity text, " * 200)[:5000]
    variants = {"pre/text.txt": ident,
                "pre/text.txt.gz": gzip.compress(ident, mtime=0),
                "pre/text.txt.br": b"BR-VARIANT:" + os.urandom(300),
                "pre/text.txt.zst": b"ZSTD-VARIANT:" + os.urandom(200)}
    for rel, data in variants.items():
        S.write_file(os.path.join(ROOT, rel), data)
        DATA[rel] = data

    for dirpath, dirnames, filenames in os.walk(ROOT):
        for n in filenames + dirnames:
            S.set_mtime(os.path.join(dirpath, n), MTIME)


def write_mime_types():
    with open(os.path.join(H.REPO, "conf", "mime.types"), encoding="utf-8") as f:
        text = f.read()
    path = os.path.join(TMP, "mime.types")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n# added by test_static_files\n%s   irt\n" % CUSTOM_TYPE)
    return path


def setUpModule():
    global ROOT, TMP, SRV
    S.check_static_environment(need=("curl", "certtool"))
    TMP = tempfile.mkdtemp(prefix="iridium-static-files-")
    ROOT = os.path.join(TMP, "www")
    os.makedirs(ROOT)
    try:
        build_tree()
        env = None
        if H.is_sanitized():
            # ASan keeps freed memory in quarantine (256 MiB by default),
            # which would count as RSS in the 1 GiB test; a small one still
            # catches use-after-free of recent frees.
            env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                                    ":quarantine_size_mb=16").lstrip(":")}
        SRV = S.StaticServer(
            {"root": ROOT, "index": "index.html index.htm", "autoindex": "on",
             "cache_control": CACHE_CONTROL, "mime_types": write_mime_types()},
            routes=[("/", {"module": "static", "host": "plain.test", "root": ROOT}),
                    ("/", {"module": "static", "host": "fresh.test", "root": ROOT,
                           "open_file_cache_ttl": "200ms"}),
                    ("/", {"module": "static", "host": "nocache.test", "root": ROOT,
                           "open_file_cache": "0"})],
            server={"keepalive_timeout": "60s"}, env=env)
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


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def norm_type(v):
    return re.sub(r"\s+", "", v or "").lower()


class Case(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="c-", dir=TMP)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertTrue(SRV.alive(), "server process died during the test" + SRV.diagnostics())

    def fetch(self, variant, path, args=(), method=None, timeout=60.0):
        try:
            return S.fetch(SRV, variant, path, self.tmp, args=args, method=method,
                           timeout=timeout)
        except AssertionError as e:
            raise AssertionError("%s%s" % (e, SRV.diagnostics()))

    def get1(self, path, headers=(), method="GET", host=None):
        """One request over a raw HTTP/1.1 connection."""
        hs = list(headers)
        if host:
            hs.append(("Host", host))
        return H.http_request(SRV.port, method, path, headers=hs)

    def assert_common_headers(self, r, size, what, cache_control=CACHE_CONTROL):
        h = r.header
        self.assertEqual(h("content-length"), str(size), "%s: Content-Length" % what)
        self.assertEqual(h("accept-ranges"), "bytes", "%s: Accept-Ranges" % what)
        self.assertEqual(h("last-modified"), http_date(MTIME), "%s: Last-Modified" % what)
        etag = h("etag")
        self.assertIsNotNone(etag, "%s: no ETag" % what)
        self.assertRegex(etag, r'^"[\x21\x23-\x7e]*"$', "%s: ETag %r is not a strong "
                         "entity-tag (RFC 9110 8.8.3)" % (what, etag))
        self.assertEqual(h("cache-control"), cache_control, "%s: Cache-Control" % what)
        return etag


# --------------------------------------------------------------------------
# Sizes over every protocol


class Sizes(Case):
    def test_sizes_over_each_protocol(self):
        etags = {}
        for variant, (_, _, version) in S.VARIANTS.items():
            for name, size in SIZES.items():
                with self.subTest(variant=variant, file=name):
                    r = self.fetch(variant, "/" + name)
                    what = "%s over %s" % (name, variant)
                    self.assertEqual((r.status, r.version), (200, version), what)
                    self.assertEqual(len(r.body), size, what)
                    self.assertEqual(H.sha256(r.body), DIGEST[name], "%s: body differs" % what)
                    etag = self.assert_common_headers(r, size, what)
                    self.assertEqual(norm_type(r.header("content-type")),
                                     "application/octet-stream", what)
                    # One file, one ETag, whatever the protocol.
                    self.assertEqual(etags.setdefault(name, etag), etag,
                                     "%s: ETag differs between protocols" % what)
        self.assertEqual(len(set(etags.values())), len(etags),
                         "different files share an ETag: %r" % etags)


class Huge(Case):
    """1 GiB, streamed into sha256, with the server's RSS sampled."""

    def test_1gib_each_protocol_rss_bounded(self):
        # Warm every protocol path up, then take the idle RSS.
        for variant in S.VARIANTS:
            self.assertEqual(self.fetch(variant, "/f100k.bin").status, 200)
        time.sleep(0.2)
        idle = SRV.rss_kib()
        # All four, under ASan too: each takes a few seconds (the host reads
        # the file on its thread pool, or sendfile(2) for cleartext HTTP/1.1).
        variants = list(S.VARIANTS)
        peak = {"kib": idle}

        def sample():
            v = SRV.rss_kib()
            if v > peak["kib"]:
                peak["kib"] = v

        for variant in variants:
            with self.subTest(variant=variant):
                t0 = time.monotonic()
                try:
                    r, n, digest = S.fetch_stream_sha256(SRV, variant, "/" + BIG, self.tmp,
                                                         on_chunk=sample, timeout=240)
                except AssertionError as e:
                    self.fail("%s%s" % (e, SRV.diagnostics()))
                dt = time.monotonic() - t0
                print("\n1 GiB over %-12s %5.1fs  %6.0f MiB/s  peak RSS %d MiB (idle %d MiB)"
                      % (variant, dt, BIG_SIZE / dt / 2 ** 20, peak["kib"] // 1024, idle // 1024))
                self.assertEqual(r.status, 200, variant)
                self.assertEqual(r.header("content-length"), str(BIG_SIZE), variant)
                self.assertEqual(n, BIG_SIZE, "%s: got %d bytes" % (variant, n))
                self.assertEqual(digest, DIGEST[BIG], "%s: the 1 GiB body differs" % variant)
        self.assertLess(peak["kib"], idle + RSS_MARGIN_KIB,
                        "RSS went from %d KiB idle to %d KiB while sending 1 GiB (bound: idle "
                        "+ 64 MiB)" % (idle, peak["kib"]))

    def test_1gib_head(self):
        for variant in S.VARIANTS:
            with self.subTest(variant=variant):
                r = self.fetch(variant, "/" + BIG, method="HEAD")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("content-length"), str(BIG_SIZE))


class ManyOnOneConnection(Case):
    """Several large bodies interleaved on one HTTP/2 connection."""

    def run_streams(self, tls):
        port = SRV.tls_port if tls else SRV.port
        names = ["f10m.bin", "f100k.bin", "f10m.bin", "f1k.bin", "empty.bin", "f100k.bin",
                 "f10m.bin", "one.bin"]
        with C.LibClient(port, tls=tls, window=1 << 24) as c:
            sids = [c.request("GET", "/" + n) for n in names]
            sts = c.wait(sids, timeout=60)
            for n, st in zip(names, sts):
                self.assertTrue(st.ended and st.reset is None, "%s: %r" % (n, st))
                self.assertEqual(st.status, 200, n)
                self.assertEqual(len(st.data), SIZES[n], n)
                self.assertEqual(H.sha256(bytes(st.data)), DIGEST[n], "%s: body differs" % n)

    def test_h2c_eight_streams(self):
        self.run_streams(False)

    def test_h2_tls_eight_streams(self):
        self.run_streams(True)


# --------------------------------------------------------------------------
# HEAD


class Head(Case):
    def test_head_each_protocol(self):
        get = self.fetch("http1.1", "/f100k.bin")
        for variant in S.VARIANTS:
            with self.subTest(variant=variant):
                r = self.fetch(variant, "/f100k.bin", method="HEAD")
                self.assertEqual(r.status, 200)
                self.assert_common_headers(r, 100 * 1024, "HEAD over " + variant)
                for name in ("etag", "last-modified", "content-type"):
                    self.assertEqual(r.header(name), get.header(name), name)

    def test_head_http2_no_data(self):
        # HEAD over HTTP/2: the HEADERS frame ends the stream, no DATA.
        for tls in (False, True):
            with C.RawConn(SRV.tls_port if tls else SRV.port, tls=tls) as c:
                for path, size in (("/f100k.bin", 100 * 1024), ("/" + BIG, BIG_SIZE),
                                   ("/empty.bin", 0)):
                    st = c.wait_stream(c.send_request("HEAD", path))
                    what = "HEAD %s over %s" % (path, "TLS" if tls else "h2c")
                    self.assertEqual(st.status, 200, "%s: %r" % (what, st))
                    self.assertTrue(st.ended and st.reset is None, "%s: %r" % (what, st))
                    self.assertEqual(bytes(st.data), b"", what)
                    self.assertEqual(st.header("content-length"), str(size), what)
                    self.assertFalse([f for f in c.frames if f.sid == st.sid and f.type == C.DATA],
                                     "%s: DATA frames after a HEAD" % what)

    def test_head_then_get_same_tls_connection(self):
        s = C.client_tls_context(("http/1.1",)).wrap_socket(H.connect(SRV.tls_port),
                                                            server_hostname="localhost")
        try:
            s.sendall(H.build_request("HEAD", "/f100k.bin") + H.build_request("GET", "/one.bin"))
            rd = H.HTTPReader(s)
            r1 = rd.read_response("HEAD")
            r2 = rd.read_response("GET")
            self.assertEqual((r1.status, r1.header("content-length")), (200, str(100 * 1024)))
            self.assertEqual((r2.status, r2.body), (200, DATA["one.bin"]))
        finally:
            s.close()

    def test_head_then_get_same_connection(self):
        # No body bytes after a HEAD response: the next response parses.
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("HEAD", "/f1k.bin") + H.build_request("GET", "/one.bin")
                      + H.build_request("HEAD", "/empty.bin"))
            rd = H.HTTPReader(s)
            r1 = rd.read_response("HEAD")
            r2 = rd.read_response("GET")
            r3 = rd.read_response("HEAD")
            self.assertEqual((r1.status, r1.header("content-length")), (200, "1024"))
            self.assertEqual((r2.status, r2.body), (200, DATA["one.bin"]))
            self.assertEqual((r3.status, r3.header("content-length")), (200, "0"))
        finally:
            s.close()


# --------------------------------------------------------------------------
# Directories


class Directories(Case):
    def test_root_index(self):
        for variant in S.VARIANTS:
            with self.subTest(variant=variant):
                r = self.fetch(variant, "/")
                self.assertEqual((r.status, r.body), (200, DATA["index.html"]))
                self.assertEqual(norm_type(r.header("content-type")), "text/html;charset=utf-8")

    def test_subdir_index(self):
        r = self.get1("/docs/")
        self.assertEqual((r.status, r.body), (200, DATA["docs/index.html"]))

    def test_second_name_of_index_list(self):
        r = self.get1("/alt/")
        self.assertEqual((r.status, r.body), (200, DATA["alt/index.htm"]))

    def test_default_index_is_index_html_only(self):
        # plain.test: index = index.html (default), autoindex off.
        r = self.get1("/alt/", host="plain.test")
        self.assertEqual(r.status, 403, "alt/ has only index.htm: %r" % r)
        r = self.get1("/docs/", host="plain.test")
        self.assertEqual((r.status, r.body), (200, DATA["docs/index.html"]))

    def test_no_index_no_autoindex_is_403(self):
        r = self.get1("/listing/", host="plain.test")
        self.assertEqual(r.status, 403, repr(r))
        self.assertNotIn(b"plain.txt", r.body)

    def test_directory_without_slash_301(self):
        for path, target in (("/docs", "/docs/"), ("/listing/sub", "/listing/sub/"),
                             ("/alt", "/alt/")):
            r = self.get1(path)
            self.assertEqual(r.status, 301, "%s: %r" % (path, r))
            loc = r.header("location") or ""
            self.assertTrue(urllib.parse.urlsplit(loc).path == target,
                            "%s: Location %r, expected path %s" % (path, loc, target))
            r = self.get1(path, method="HEAD")
            self.assertEqual(r.status, 301, "HEAD %s: %r" % (path, r))
        for variant in ("h2c", "h2-tls"):
            r = self.fetch(variant, "/docs")
            self.assertEqual(r.status, 301, variant)
            self.assertEqual(urllib.parse.urlsplit(r.header("location") or "").path, "/docs/")

    def test_autoindex_listing(self):
        r = self.get1("/listing/")
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(norm_type(r.header("content-type")), "text/html;charset=utf-8")
        body = r.body.decode("utf-8")
        self.assertNotIn("<script>", body, "a file name reached the listing unescaped:\n" + body)
        self.assertIn("&lt;script&gt;&amp;", body, "the hostile name is not listed escaped:\n"
                      + body)
        for needle in ("plain.txt", "sub/"):
            self.assertIn(needle, body)
        # Every link resolves: the hostile name's href leads to its file.
        hrefs = [html.unescape(h) for h in re.findall(r'href\s*=\s*"([^"]*)"', body)]
        hrefs += [html.unescape(h) for h in re.findall(r"href\s*=\s*'([^']*)'", body)]
        names = {urllib.parse.unquote(urllib.parse.urlsplit(h).path.rsplit("/", 1)[-1]): h
                 for h in hrefs}
        for name in (HOSTILE_NAME, "a b.txt", "plain.txt"):
            self.assertIn(name, names, "no link to %r in the listing; hrefs: %r" % (name, hrefs))
            href = names[name]
            target = urllib.parse.urljoin("/listing/", href)
            # As a browser would send it: anything outside the URL set
            # percent-encoded.
            target = urllib.parse.quote(target, safe="/%:@!$&'()*+,;=-._~")
            got = self.get1(target)
            self.assertEqual((got.status, got.body), (200, DATA["listing/" + name]),
                             "%r (href %r)" % (target, href))

    def test_autoindex_parses_without_injected_markup(self):
        body = self.get1("/listing/").body.decode("utf-8")
        tags = []

        class P(html.parser.HTMLParser):
            def handle_starttag(self, tag, attrs):
                tags.append((tag, attrs))

        P().feed(body)
        self.assertNotIn("script", [t for t, _ in tags], body)
        links = [a for t, a in tags if t == "a"]
        self.assertTrue(links, "no <a> in the listing:\n" + body)
        for attrs in links:
            names = [n for n, _ in attrs]
            self.assertLessEqual(set(names), {"href", "class", "title", "id"},
                                 "a link with odd attributes %r: a name broke out of its "
                                 "attribute?" % attrs)
        # Exactly one link per entry named like the hostile file.
        hits = [a for a in links
                if urllib.parse.unquote(dict(a).get("href", "").rstrip("/").rsplit("/", 1)[-1])
                == HOSTILE_NAME]
        self.assertEqual(len(hits), 1, "links to %r: %r" % (HOSTILE_NAME, links))


# --------------------------------------------------------------------------
# Methods


class Methods(Case):
    def test_405_with_allow(self):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            with self.subTest(method=method):
                body = b"x" * 100 if method in ("POST", "PUT", "PATCH") else b""
                r = H.http_request(SRV.port, method, "/f1k.bin", body=body)
                self.assertEqual(r.status, 405, repr(r))
                allow = sorted(t.upper() for t in r.tokens("allow"))
                self.assertEqual(allow, ["GET", "HEAD"], "Allow: %r" % r.header_all("allow"))

    def test_405_keeps_connection_usable(self):
        s = H.connect(SRV.port)
        try:
            s.sendall(H.build_request("POST", "/one.bin", body=b"y" * 5000)
                      + H.build_request("GET", "/one.bin"))
            rd = H.HTTPReader(s)
            r = rd.read_response("POST")
            self.assertEqual(r.status, 405)
            if r.tokens("connection") != ["close"]:
                r2 = rd.read_response()
                self.assertEqual((r2.status, r2.body), (200, DATA["one.bin"]))
        finally:
            s.close()

    def test_405_over_http2(self):
        for variant in ("h2c", "h2-tls"):
            r = self.fetch(variant, "/f1k.bin", method="DELETE")
            self.assertEqual(r.status, 405, variant)
            self.assertEqual(sorted(t.strip().upper() for t in
                                    ",".join(r.header_all("allow")).split(",")),
                             ["GET", "HEAD"], variant)


# --------------------------------------------------------------------------
# Content-Type and Cache-Control


class Types(Case):
    FROM_FILE = {
        "/types/a.txt": "text/plain;charset=utf-8",
        "/types/page.html": "text/html;charset=utf-8",
        "/types/page.htm": "text/html;charset=utf-8",
        "/types/style.css": "text/css;charset=utf-8",
        "/types/app.js": "text/javascript;charset=utf-8",
        "/types/data.json": "application/json",
        "/types/pic.png": "image/png",
        "/types/pic.svg": "image/svg+xml",
        "/types/mod.wasm": "application/wasm",
        "/types/custom.irt": CUSTOM_TYPE,
    }

    def check(self, path, want, host=None):
        r = self.get1(path, host=host)
        self.assertEqual(r.status, 200, "%s: %r" % (path, r))
        got = norm_type(r.header("content-type"))
        if want in ("application/json", "image/svg+xml"):  # both take a charset parameter
            self.assertIn(got, (want, want + ";charset=utf-8"), path)
        else:
            self.assertEqual(got, want, "%s (host %s)" % (path, host))

    def test_types_from_mime_types_file(self):
        for path, want in self.FROM_FILE.items():
            with self.subTest(path=path):
                self.check(path, want)

    def test_builtin_table(self):
        for path, want in self.FROM_FILE.items():
            if path.endswith(".irt"):
                continue
            with self.subTest(path=path):
                self.check(path, want, host="plain.test")
        r = self.get1("/types/custom.irt", host="plain.test")
        self.assertEqual(r.status, 200)
        self.assertNotEqual(norm_type(r.header("content-type")), CUSTOM_TYPE,
                            "the built-in table knows the test's own type?")

    def test_cache_control(self):
        r = self.get1("/f1k.bin")
        self.assertEqual(r.header_all("cache-control"), [CACHE_CONTROL])
        r = self.get1("/f1k.bin", host="plain.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header_all("cache-control"), [],
                         "cache_control unset but the response has Cache-Control")


class BadSettings(unittest.TestCase):
    """A missing mime_types file or root stops the start (exit 1, the path
    named), and `iridium -t` (check the configuration only) finds it too."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-static-bad-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def ini(self, **keys):
        ini = H.Ini()
        ini.section("server")
        ini.kv("workers", "1")
        ini.kv("modules_dir", H.MODULES_DIR)
        ini.kv("error_log", "stderr")
        self.port = H.free_port()
        ini.section("listen %s:%d" % (H.HOST, self.port))
        ini.section("module static")
        ini.section("route /")
        ini.kv("module", "static")
        for k, v in keys.items():
            ini.kv(k, v)
        return ini.write(os.path.join(self.tmp, "t.ini"))

    def refused(self, args, needle):
        try:
            p = H.run_iridium(args, timeout=10)
        except Exception as e:  # noqa: BLE001 - it started instead of refusing
            self.fail("iridium %s did not exit: %s" % (" ".join(args), e))
        self.assertNotEqual(p.returncode, 0, "iridium %s accepted it:\n%s%s"
                            % (" ".join(args), p.stdout, p.stderr))
        self.assertIn(needle, p.stderr)
        self.assertTrue(H.port_refuses(self.port))

    def test_missing_mime_types_file_stops_start(self):
        path = self.ini(root=ROOT, mime_types="no-such-mime.types")
        self.refused(["-c", path], "no-such-mime.types")

    def test_missing_root_stops_start(self):
        path = self.ini(root=os.path.join(self.tmp, "no-such-root"))
        self.refused(["-c", path], "no-such-root")

    def test_config_check_finds_missing_mime_types_file(self):
        path = self.ini(root=ROOT, mime_types="no-such-mime.types")
        self.refused(["-t", "-c", path], "no-such-mime.types")

    def test_config_check_finds_missing_root(self):
        path = self.ini(root=os.path.join(self.tmp, "no-such-root"))
        self.refused(["-t", "-c", path], "no-such-root")


# --------------------------------------------------------------------------
# Precompressed variants


class Precompressed(Case):
    PATH = "/pre/text.txt"

    def get_ae(self, ae, extra=()):
        hs = list(extra)
        if ae is not None:
            hs.append(("Accept-Encoding", ae))
        return self.get1(self.PATH, headers=hs)

    def test_identity_varies(self):
        r = self.get_ae(None)
        self.assertEqual((r.status, r.body), (200, DATA["pre/text.txt"]))
        self.assertIsNone(r.header("content-encoding"))
        self.assertIn("accept-encoding", r.tokens("vary"),
                      "a file with variants served without Vary: Accept-Encoding")

    def test_no_variant_no_vary(self):
        # A text file (a type worth compressing) without .br/.zst/.gz beside
        # it is the same for every client.
        r = self.get1("/types/a.txt", headers=[("Accept-Encoding", "gzip, br")])
        self.assertEqual((r.status, r.body), (200, DATA["types/a.txt"]))
        self.assertIsNone(r.header("content-encoding"))
        self.assertIsNone(r.header("vary"), "Vary on a file without variants")

    def test_choice(self):
        ident = self.get_ae(None)
        table = [
            ("gzip", "gzip", ".gz"),
            ("gzip, deflate", "gzip", ".gz"),
            ("br", "br", ".br"),
            ("zstd", "zstd", ".zst"),
            ("gzip, br", "br", ".br"),
            ("gzip, zstd", "zstd", ".zst"),
            ("gzip, zstd, br", "br", ".br"),
            ("br;q=0, gzip", "gzip", ".gz"),
            ("br;q=0, zstd;q=0, gzip;q=0.5", "gzip", ".gz"),
            ("GZIP", "gzip", ".gz"),
            ("identity", None, ""),
            ("gzip;q=0", None, ""),
            ("deflate", None, ""),
        ]
        etags = {}
        for ae, enc, suffix in table:
            with self.subTest(accept_encoding=ae):
                r = self.get_ae(ae)
                want = DATA["pre/text.txt" + suffix]
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("content-encoding"), enc, "Accept-Encoding: %s" % ae)
                self.assertEqual(r.body, want, "Accept-Encoding: %s: wrong bytes" % ae)
                self.assertEqual(r.header("content-length"), str(len(want)))
                self.assertIn("accept-encoding", r.tokens("vary"))
                etags.setdefault(suffix, set()).add(r.header("etag"))
        for suffix, tags in etags.items():
            self.assertEqual(len(tags), 1, "%r: several ETags %r" % (suffix, tags))
        all_tags = [next(iter(t)) for t in etags.values()]
        self.assertEqual(len(set(all_tags)), len(all_tags),
                         "variants share an ETag: %r" % etags)
        self.assertEqual(etags[""], {ident.header("etag")})

    def test_range_applies_to_variant(self):
        gz = DATA["pre/text.txt.gz"]
        r = self.get_ae("gzip", [("Range", "bytes=10-19")])
        self.assertEqual(r.status, 206, repr(r))
        self.assertEqual(r.header("content-encoding"), "gzip")
        self.assertEqual(r.header("content-range"), "bytes 10-19/%d" % len(gz))
        self.assertEqual(r.body, gz[10:20])

    def test_head_variant_length(self):
        r = self.get1(self.PATH, headers=[("Accept-Encoding", "br")], method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-encoding"), "br")
        self.assertEqual(r.header("content-length"), str(len(DATA["pre/text.txt.br"])))

    def test_conditional_on_variant_etag(self):
        etag = self.get_ae("gzip").header("etag")
        r = self.get_ae("gzip", [("If-None-Match", etag)])
        self.assertEqual(r.status, 304)
        r = self.get_ae(None, [("If-None-Match", etag)])
        self.assertEqual(r.status, 200, "the gzip variant's ETag matched the identity body")

    def test_over_http2(self):
        for variant in ("h2c", "h2-tls"):
            r = self.fetch(variant, self.PATH, args=["-H", "Accept-Encoding: br, gzip"])
            self.assertEqual((r.status, r.header("content-encoding")), (200, "br"), variant)
            self.assertEqual(r.body, DATA["pre/text.txt.br"], variant)



# --------------------------------------------------------------------------
# The open-file cache sees changes; leaving clients and shrinking files


class Freshness(Case):
    """Host fresh.test: open_file_cache_ttl = 200ms."""

    def setUp(self):
        super().setUp()
        self.dir = os.path.join(ROOT, "fresh")
        os.makedirs(self.dir, exist_ok=True)

    def get(self, name):
        return self.get1("/fresh/" + name, host="fresh.test")

    def settle(self):
        time.sleep(0.6)  # three TTLs

    def test_modified_in_place(self):
        path = S.write_file(os.path.join(self.dir, "inplace.txt"), b"version one\n")
        S.set_mtime(path, MTIME)
        r1 = self.get("inplace.txt")
        self.assertEqual((r1.status, r1.body), (200, b"version one\n"))
        with open(path, "r+b") as f:
            f.write(b"version two, longer\n")
        S.set_mtime(path, MTIME + 10)
        self.settle()
        r2 = self.get("inplace.txt")
        self.assertEqual((r2.status, r2.body), (200, b"version two, longer\n"))
        self.assertEqual(r2.header("last-modified"), http_date(MTIME + 10))
        self.assertNotEqual(r1.header("etag"), r2.header("etag"))

    def test_replaced_by_rename(self):
        path = S.write_file(os.path.join(self.dir, "renamed.txt"), b"old\n")
        self.assertEqual(self.get("renamed.txt").body, b"old\n")
        tmp = S.write_file(os.path.join(self.dir, ".renamed.tmp"), b"new\n")
        os.replace(tmp, path)
        self.settle()
        self.assertEqual(self.get("renamed.txt").body, b"new\n")

    def test_deleted(self):
        path = S.write_file(os.path.join(self.dir, "deleted.txt"), b"soon gone\n")
        self.assertEqual(self.get("deleted.txt").status, 200)
        os.unlink(path)
        self.settle()
        r = self.get("deleted.txt")
        self.assertEqual(r.status, 404, repr(r))

    def test_created_after_404(self):
        self.assertEqual(self.get("later.txt").status, 404)
        S.write_file(os.path.join(self.dir, "later.txt"), b"here now\n")
        self.settle()
        r = self.get("later.txt")
        self.assertEqual((r.status, r.body), (200, b"here now\n"))

    def test_index_added_to_listed_directory(self):
        d = os.path.join(self.dir, "grows")
        os.makedirs(d, exist_ok=True)
        S.write_file(os.path.join(d, "a.txt"), b"a\n")
        r = self.get("grows/")
        self.assertEqual(r.status, 403)  # fresh.test: autoindex off, no index yet
        S.write_file(os.path.join(d, "index.html"), b"<p>now an index</p>\n")
        self.settle()
        r = self.get("grows/")
        self.assertEqual((r.status, r.body), (200, b"<p>now an index</p>\n"))


class LeavingClients(Case):
    """Host nocache.test (open_file_cache = 0), so that every descriptor the
    server holds for a request is gone once the request is."""

    def test_client_leaves_mid_download(self):
        for variant in S.VARIANTS:
            self.assertEqual(self.fetch(variant, "/f1k.bin",
                                        args=["-H", "Host: nocache.test"]).status, 200)
        time.sleep(0.3)
        idle = SRV.num_fds()
        for variant, (_, flags, _) in S.VARIANTS.items():
            with self.subTest(variant=variant):
                cmd = ["curl", "-sS", "-o", "-", "-H", "Host: nocache.test"] + flags + \
                    [S.url_of(SRV, variant, "/" + BIG)]
                p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
                got = 0
                deadline = time.monotonic() + H.scaled(30)
                try:
                    while got < 64 << 20 and time.monotonic() < deadline:
                        b = p.stdout.read(1 << 20)
                        if not b:
                            break
                        got += len(b)
                finally:
                    p.kill()
                    p.wait(10)
                    p.stdout.close()
                self.assertGreaterEqual(got, 64 << 20, "%s: only %d bytes came" % (variant, got))
                back = H.wait_for(lambda: SRV.num_fds() <= idle, H.scaled(5.0))
                self.assertTrue(back, "%s: the server holds %d descriptors, %d before the "
                                "download; the left request's file or socket is still open"
                                % (variant, SRV.num_fds(), idle))
                r = self.fetch(variant, "/one.bin")
                self.assertEqual((r.status, r.body), (200, DATA["one.bin"]))


class ShrinkingFile(Case):
    """A file truncated while it is being sent: the response ends early
    (HTTP/1.1: the connection closes short of Content-Length; HTTP/2: the
    stream is reset) within a bounded time, and the server carries on."""

    SIZE = 20 << 20
    CUT = 1 << 20

    def make(self, name):
        path = S.write_file(os.path.join(ROOT, "shrink", name), os.urandom(self.SIZE))
        return path

    def test_http11(self):
        path = self.make("h1.bin")
        s = H.connect(SRV.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        try:
            s.sendall(H.build_request("GET", "/shrink/h1.bin", headers=[("Host", "nocache.test")]))
            data = b""
            deadline = time.monotonic() + H.scaled(10)
            while len(data) < 512 * 1024 and time.monotonic() < deadline:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                data += s.recv(65536)
            os.truncate(path, self.CUT)
            rest, how = H.recv_until_close(s, H.scaled(10.0))
        finally:
            s.close()
        head, _, body = (data + rest).partition(b"\r\n\r\n")
        self.assertIn(b"200", head.split(b"\r\n")[0])
        self.assertIn(how, ("eof", "reset"), "the connection was still open 10 s after the file "
                      "shrank (%d body bytes)" % len(body))
        self.assertLess(len(body), self.SIZE, "a full body from a file that shrank?")
        print("\nHTTP/1.1: %d body bytes, then %s" % (len(body), how))
        r = self.get1("/one.bin")
        self.assertEqual((r.status, r.body), (200, DATA["one.bin"]))

    def test_http2(self):
        for tls in (False, True):
            name = "h2%s.bin" % ("tls" if tls else "c")
            path = self.make(name)
            port = SRV.tls_port if tls else SRV.port
            with C.RawConn(port, tls=tls, auto_window=False) as c:
                C.wait_settings_and_ack(c)
                sid = c.send_request("GET", "/shrink/" + name, authority="nocache.test")
                st = c.stream(sid)
                # The default windows (64 KiB) stop the server early.
                c.pump(lambda: len(st.data) >= 65535 or st.reset is not None, timeout=10)
                self.assertEqual(st.status, 200, "%s: %r" % (name, st))
                os.truncate(path, self.CUT)
                c.queue(C.window_update_frame(0, C.MAX_WINDOW - 65535))
                c.queue(C.window_update_frame(sid, C.MAX_WINDOW - 65535))
                c.pump(lambda: st.ended or st.reset is not None or c.closed, timeout=10)
                self.assertTrue(st.reset is not None or c.closed,
                                "%s: the stream neither was reset nor ended early; %r; %s"
                                % (name, st, c.summary()))
                self.assertLess(len(st.data), self.SIZE)
                print("\n%s: %d body bytes, then %s" % (
                    name, len(st.data), "RST_STREAM " + C.errname(st.reset)
                    if st.reset is not None else "connection " + str(c.closed)))
            r = self.fetch("h2-tls" if tls else "h2c", "/one.bin")
            self.assertEqual((r.status, r.body), (200, DATA["one.bin"]))


class Load(Case):
    def test_h2load(self):
        for proto, url, flags in (("h2c", "http://127.0.0.1:%d/f100k.bin" % SRV.port, []),
                                  ("h2", "https://127.0.0.1:%d/f100k.bin" % SRV.tls_port, []),
                                  ("http/1.1", "http://127.0.0.1:%d/f100k.bin" % SRV.port,
                                   ["--h1"])):
            p = H.run_cmd(["h2load", "-n", "2000", "-c", "8", "-m", "8"] + flags + [url],
                          timeout=H.scaled(120))
            text = (p.stdout + p.stderr).decode("latin-1")
            st = H.parse_h2load(text)
            self.assertIsNotNone(st, "no h2load summary:\n" + text[-2000:])
            self.assertEqual((st["succeeded"], st.get("2xx")), (2000, 2000),
                             "%s: %r\n%s" % (proto, st, text[-1500:]))
            m = re.search(r"traffic: .*?, ([\d.]+)\S* \((\d+)\) data", text)
            if m:
                self.assertEqual(int(m.group(2)), 2000 * 100 * 1024, "%s: data bytes" % proto)


def read_calls(pid):
    """Read system calls of the whole process so far (all its threads):
    read, readv, pread64 and preadv, on files, sockets and event fds."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("syscr:"):
                return int(line.split()[1])
    raise AssertionError("/proc/%d/io has no syscr" % pid)


class TlsFileReads(Case):
    """HTTP/2 over TLS reads file bodies on the thread pool, and interleaved
    streams put one 16 KiB DATA payload of each file after the other in the
    output: a read must take a large enough share of the queue (up to
    1 MiB) that each file's payloads join into one preadv, rather than one
    preadv per payload (7.5 read calls per 100 KiB response at -m 16 with
    256 KiB reads; 2.2 with 1 MiB reads)."""

    def test_read_calls_per_response(self):
        url = "https://127.0.0.1:%d/f100k.bin" % SRV.tls_port
        n = 160
        before = read_calls(SRV.pid)
        p = H.run_cmd(["h2load", "-n", str(n), "-c", "1", "-m", "16", url],
                      timeout=H.scaled(120))
        after = read_calls(SRV.pid)
        text = (p.stdout + p.stderr).decode("latin-1")
        st = H.parse_h2load(text)
        self.assertIsNotNone(st, "no h2load summary:\n" + text[-2000:])
        self.assertEqual(st.get("2xx"), n, "%r\n%s" % (st, text[-1500:]))
        per = (after - before) / n
        self.assertLess(per, 4.0, "%.2f read calls per 100 KiB response over HTTP/2 "
                        "with TLS" % per)


if __name__ == "__main__":
    unittest.main(verbosity=2)
