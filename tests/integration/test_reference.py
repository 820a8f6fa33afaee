#!/usr/bin/python3
"""The configuration reference cannot drift from the code: conf/README.md's
key tables equal what `iridium --keys` prints from the host's key tables
(section, key, type, default, meaning), every route key of each shipped
module (`iridium --modules`) is named in that module's README, and
`iridium -T` prints an INI that loads as the same configuration (its own
dump again) with every key filled in. Also --help and --version."""

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

REFERENCE = os.path.join(H.REPO, "conf", "README.md")
MODULE_DOCS = {
    "hello": os.path.join(H.REPO, "sdk", "README.md"),
    "static": os.path.join(H.REPO, "modules", "static", "README.md"),
    "websocket": os.path.join(H.REPO, "modules", "websocket", "README.md"),
    "mqtt": os.path.join(H.REPO, "modules", "mqtt", "README.md"),
    "status": os.path.join(H.REPO, "modules", "status", "README.md"),
}


def host_keys():
    p = H.run_iridium(["--keys"])
    assert p.returncode == 0, p.stderr
    return [tuple(line.split("\t")) for line in p.stdout.splitlines()]


def reference_rows():
    """(section, key, type, default, meaning) from the page's tables."""
    rows, section = [], None
    with open(REFERENCE) as f:
        for line in f:
            m = re.match(r"^### \[(\w+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^\| `([a-z0-9_]+)` \| (\w+) \| (.*?) \| (.*) \|$", line.rstrip("\n"))
            if m and section:
                key, typ, default, meaning = m.groups()
                rows.append((section, key, typ, default.strip("`"), meaning))
    return rows


def shipped_modules_ini(tmp):
    ini = H.Ini()
    ini.section("server")
    ini.kv("modules_dir", H.MODULES_DIR)
    ini.kv("error_log", os.path.join(tmp, "error.log"))
    ini.kv("access_log", os.path.join(tmp, "access.log"))
    ini.kv("access_log_format", "json")
    ini.kv("workers", "3")
    ini.section("listen 127.0.0.1:%d" % H.free_port())
    ini.kv("protocols", "http/1.1, h2c")
    for m in MODULE_DOCS:
        ini.section("module %s" % m)
    ini.section("route /hello")
    ini.kv("module", "hello")
    ini.kv("greeting", "hi")
    ini.section("route /ws")
    ini.kv("module", "websocket")
    ini.kv("host", "Example.org")
    ini.kv("handler_timeout", "5s")
    ini.section("route /mqtt")
    ini.kv("module", "mqtt")
    ini.kv("broker", "127.0.0.1:1883")
    ini.section("route /status")
    ini.kv("module", "status")
    ini.section("route /")
    ini.kv("module", "static")
    ini.kv("root", ".")
    path = os.path.join(tmp, "ref.ini")
    ini.write(path)
    return path


class Reference(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-ref-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_page_equals_the_key_tables(self):
        want = []
        for section, key, typ, default, meaning in host_keys():
            self.assertTrue(meaning, "%s.%s has no meaning in the table" % (section, key))
            want.append((section, key, typ, default, meaning))
        got = reference_rows()
        missing = [r for r in want if r not in got]
        extra = [r for r in got if r not in want]
        self.assertEqual((missing, extra), ([], []),
                         "conf/README.md differs from `iridium --keys`: rows missing from the page "
                         "(first list) and rows the tables do not have (second)")
        self.assertEqual(got, want, "same rows, another order")
        self.assertEqual({r[0] for r in want},
                         {"server", "listen", "certificate", "module", "route"})

    def test_every_module_key_is_documented(self):
        p = H.run_iridium(["--modules", "-c", shipped_modules_ini(self.tmp)])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [l.split("\t") for l in p.stdout.splitlines()]
        mods = {l[1]: l for l in lines if l[0] == "module"}
        self.assertEqual(set(mods), set(MODULE_DOCS))
        for name, (_, _, version, abi, path) in mods.items():
            self.assertRegex(version, r"^\d+\.\d+\.\d+$")
            self.assertRegex(abi, r"^1\.\d+$")
            self.assertTrue(os.path.isabs(path) and os.path.exists(path), path)
        keys = [(l[1], l[2]) for l in lines if l[0] == "key"]
        self.assertTrue(len(keys) > 20, keys)
        for module, key in keys:
            with open(MODULE_DOCS[module]) as f:
                self.assertIn("`%s`" % key, f.read(),
                              "%s's key %s is not in %s" % (module, key, MODULE_DOCS[module]))

    def test_dump_loads_as_the_same_configuration(self):
        ini = shipped_modules_ini(self.tmp)
        first = H.run_iridium(["-T", "-c", ini])
        self.assertEqual(first.returncode, 0, first.stderr)
        dump = os.path.join(self.tmp, "sub", "dump.ini")
        os.makedirs(os.path.dirname(dump))
        with open(dump, "w") as f:
            f.write(first.stdout)
        again = H.run_iridium(["-T", "-c", dump])
        self.assertEqual(again.returncode, 0, again.stderr + first.stdout)
        body = lambda t: t.split("\n", 1)[1]  # noqa: E731 (the first line names the file)
        self.assertEqual(body(again.stdout), body(first.stdout))
        text = first.stdout
        for section, key, *_ in host_keys():
            if section == "server":
                self.assertRegex(text, r"(?m)^(; )?%s =" % key)  # commented: unset, no default
        self.assertIn("workers = 3\n", text)
        self.assertIn("access_log_format = json\n", text)
        self.assertIn("modules_dir = %s\n" % os.path.realpath(H.MODULES_DIR), text)
        self.assertIn("[route /ws]\nmodule = websocket\nhost = Example.org\n"
                      "handler_timeout = 5s\n", text)
        self.assertIn("[route /hello]\nmodule = hello\nhost = *\nhandler_timeout = 60s\n"
                      "greeting = hi\n", text)
        self.assertIn("root = %s\n" % os.path.realpath(self.tmp), text)
        self.assertIn("protocols = http/1.1, h2c\nbacklog = 511\ntls = off\n", text)

    def test_help_and_version(self):
        for flag in ("-h", "--help"):
            p = H.run_iridium([flag])
            self.assertEqual(p.returncode, 0)
            for word in ("--config", "--test", "--dump", "--modules", "--keys", "--version"):
                self.assertIn(word, p.stdout)
        v, long_v = H.run_iridium(["-v"]), H.run_iridium(["--version"])
        self.assertEqual(v.stdout, long_v.stdout)
        self.assertRegex(v.stdout, r"^iridium \d+\.\d+\.\d+ \(SDK ABI \d+\.\d+\)\n$")
        bad = H.run_iridium(["--no-such-flag"])
        self.assertEqual(bad.returncode, 2)
        self.assertIn("usage:", bad.stderr)


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
