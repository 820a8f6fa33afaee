#!/usr/bin/python3
"""`iridium -t -c FILE` and `iridium -c FILE` on good and bad INI files:
problems are printed as FILE:LINE: message with exit status 1 (the line is
checked against the generated file), good files pass with 0, and `-v`
prints the release and SDK ABI versions. A port taken by another process,
a second Iridium included, is refused at its [listen] line."""

import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


def project_version():
    with open(os.path.join(H.REPO, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*iridium\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1)


def abi_version():
    with open(os.path.join(H.REPO, "sdk", "include", "iridium", "abi.h")) as f:
        t = f.read()
    return "%s.%s" % (re.search(r"#define IR_ABI_MAJOR (\d+)", t).group(1),
                      re.search(r"#define IR_ABI_MINOR (\d+)", t).group(1))


class Conf:
    """A generated INI in its own folder, remembering interesting lines."""

    def __init__(self, tmp, port=None):
        self.ini = H.Ini()
        self.tmp = tmp
        self.path = os.path.join(tmp, "test.ini")
        self.port = port or H.free_port()
        self.at = {}

    def server(self, **over):
        self.at["server"] = self.ini.section("server")
        keys = {"workers": "1", "modules_dir": H.MODULES_DIR,
                "error_log": os.path.join(self.tmp, "error.log"), "log_level": "info"}
        keys.update(over)
        for k, v in keys.items():
            if v is not None:
                self.at[k] = self.ini.kv(k, v)
        self.ini.blank()
        return self

    def listen(self, addr=None, protocols="http/1.1"):
        self.at["listen"] = self.ini.section("listen %s" % (addr or "127.0.0.1:%d" % self.port))
        if protocols is not None:
            self.at["protocols"] = self.ini.kv("protocols", protocols)
        self.ini.blank()
        return self

    def module(self, name="hello", path=None):
        self.at["module " + name] = self.ini.section("module %s" % name)
        if path is not None:
            self.at["module %s.path" % name] = self.ini.kv("path", path)
        self.ini.blank()
        return self

    def route(self, prefix="/hello", tag=None, **keys):
        self.at[tag or "route " + prefix] = self.ini.section("route %s" % prefix)
        for k, v in keys.items():
            self.at[(tag or prefix) + "." + k] = self.ini.kv(k, v)
        self.ini.blank()
        return self

    def good(self):
        return self.server().listen().module().route(module="hello", greeting="Hi")

    def write(self):
        self.ini.write(self.path)
        return self.path


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iridium-conf-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, conf, expect_rc, run_mode="-t"):
        path = conf.write()
        args = ["-t", "-c", path] if run_mode == "-t" else ["-c", path]
        p = H.run_iridium(args, timeout=10)
        if expect_rc is not None:
            self.assertEqual(p.returncode, expect_rc,
                             "iridium %s exited %d, expected %d\nstderr:\n%s\nfile:\n%s"
                             % (" ".join(args), p.returncode, expect_rc, p.stderr,
                                conf.ini.text()))
        self.assertNotIn("AddressSanitizer", p.stderr)
        self.assertNotIn("runtime error:", p.stderr)
        return p

    def assert_error_at(self, p, conf, line, *needles):
        prefix = "%s:%d:" % (conf.path, line)
        lines = [l for l in p.stderr.splitlines() if l.startswith(prefix)]
        self.assertTrue(lines, "no error line starting with %r in stderr:\n%s\nfile:\n%s"
                        % (prefix, p.stderr, self.numbered(conf)))
        for n in needles:
            self.assertTrue(any(n in l for l in lines), "%r not in the %s line(s): %r"
                            % (n, prefix, lines))

    @staticmethod
    def numbered(conf):
        return "".join("%3d| %s\n" % (i + 1, l) for i, l in enumerate(conf.ini.lines))

    # ---- good files ------------------------------------------------------

    def test_good_config_passes(self):
        p = self.check(Conf(self.tmp).good(), 0)
        self.assertNotRegex(p.stderr, r"test\.ini:\d+:", p.stderr)

    def test_good_config_all_server_keys(self):
        c = Conf(self.tmp).server(
            workers="2", access_log=os.path.join(self.tmp, "a.log"), max_connections="100",
            max_header_size="32k", max_header_count="100", max_uri_length="8k",
            max_body_size="1m", keepalive_requests="1000", header_timeout="30s",
            body_timeout="500ms", keepalive_timeout="2m", write_timeout="60",
            shutdown_timeout="1h", log_level="debug")
        c.listen().module().route(module="hello", greeting="Hello there")
        self.check(c, 0)

    def test_version(self):
        p = H.run_iridium(["-v"])
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout + p.stderr
        self.assertIn(project_version(), out)
        self.assertIn("SDK ABI %s" % abi_version(), out)

    # ---- unknown keys -----------------------------------------------------

    def test_typo_in_route_key(self):
        c = Conf(self.tmp).server().listen().module().route(module="hello", greting="x")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["/hello.greting"], "unknown key 'greting'",
                             "did you mean 'greeting'")

    def test_typo_in_server_key(self):
        c = Conf(self.tmp).server(wrokers="2", workers=None).listen().module() \
            .route(module="hello")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["wrokers"], "unknown key 'wrokers'",
                             "did you mean 'workers'")

    def test_typo_in_listen_key(self):
        c = Conf(self.tmp).server().listen(protocols=None)
        c.at["protocls"] = c.ini.kv("protocls", "http/1.1")
        c.module().route(module="hello")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["protocls"], "unknown key 'protocls'")

    def test_every_problem_reported(self):
        c = Conf(self.tmp).server(max_conections="5").listen().module() \
            .route(module="hello", greting="x")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["max_conections"], "unknown key 'max_conections'")
        self.assert_error_at(p, c, c.at["/hello.greting"], "unknown key 'greting'")

    def test_typo_refuses_to_start(self):
        c = Conf(self.tmp).server().listen().module().route(module="hello", greting="x")
        p = self.check(c, 1, run_mode="-c")
        self.assert_error_at(p, c, c.at["/hello.greting"], "unknown key 'greting'")
        self.assertTrue(H.port_refuses(c.port), "something listens on the port")

    # ---- bad values -----------------------------------------------------

    def bad_value(self, key, value):
        c = Conf(self.tmp).server(**{key: value}).listen().module().route(module="hello")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at[key], "bad value")

    def test_bad_value_workers(self):
        self.bad_value("workers", "two")

    def test_bad_value_size(self):
        self.bad_value("max_body_size", "12q")

    def test_bad_value_negative_size(self):
        self.bad_value("max_header_size", "-5")

    def test_bad_value_duration(self):
        self.bad_value("header_timeout", "5 parsecs")

    def test_bad_value_log_level(self):
        self.bad_value("log_level", "loud")

    def test_bad_value_count(self):
        self.bad_value("max_connections", "many")

    def test_handler_timeout_server_and_route(self):
        self.check(Conf(self.tmp).server(handler_timeout="30s").listen().module()
                   .route(module="hello", handler_timeout="500ms"), 0)
        for bad in ("soon", "0", "-1s"):
            c = Conf(self.tmp).server().listen().module().route(module="hello",
                                                                 handler_timeout=bad)
            p = self.check(c, 1)
            self.assert_error_at(p, c, c.at["/hello.handler_timeout"], "bad value")
        self.bad_value("handler_timeout", "0")

    def test_thread_pool_range(self):
        for bad in ("0", "2000", "-1"):
            c = Conf(self.tmp).server(thread_pool=bad).listen().module().route(module="hello")
            p = self.check(c, 1)
            self.assert_error_at(p, c, c.at["thread_pool"], "bad value", "1 to 1024")
        for good in ("1", "1024"):
            self.check(Conf(self.tmp).server(thread_pool=good).listen().module()
                       .route(module="hello"), 0)

    def test_bad_listen_port(self):
        c = Conf(self.tmp).server().listen(addr="127.0.0.1:99999").module().route(module="hello")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["listen"])

    def test_bad_protocol(self):
        c = Conf(self.tmp).server().listen(protocols="gopher").module().route(module="hello")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["protocols"])

    # ---- structure ------------------------------------------------------

    def test_missing_required_key(self):
        c = Conf(self.tmp).server().listen().module().route(greeting="no module given")
        p = self.check(c, 1)
        first = c.at["route /hello"]
        last = c.at["/hello.greeting"]
        hits = [l for l in p.stderr.splitlines() if "missing required key" in l]
        self.assertTrue(hits, "no 'missing required key' in:\n" + p.stderr)
        m = re.match(r"^%s:(\d+): " % re.escape(c.path), hits[0])
        self.assertTrue(m, "not FILE:LINE: %r" % hits[0])
        self.assertTrue(first <= int(m.group(1)) <= last,
                        "line %s is outside the [route] section (lines %d-%d)"
                        % (m.group(1), first, last))
        self.assertIn("module", hits[0])

    def test_unknown_section(self):
        c = Conf(self.tmp).good()
        c.at["sever"] = c.ini.section("sever")
        c.ini.kv("workers", "2")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["sever"], "unknown section")

    def test_duplicate_route(self):
        c = Conf(self.tmp).good()
        c.route("/hello", tag="second", module="hello", greeting="again")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["second"], "duplicate route")

    def test_module_file_not_found(self):
        c = Conf(self.tmp).server().listen().module("nosuchmod") \
            .route(module="nosuchmod")
        for mode in ("-t", "-c"):
            p = self.check(c, 1, run_mode=mode)
            self.assertIn("nosuchmod", p.stderr, "%s: the missing module is not named:\n%s"
                          % (mode, p.stderr))

    def test_log_in_missing_folder(self):
        """-t (and a start) refuse a log whose folder does not exist, at its
        line; nothing is created."""
        missing = os.path.join(self.tmp, "no-such-dir")
        c = Conf(self.tmp).server(error_log=os.path.join(missing, "error.log"),
                                  access_log=os.path.join(missing, "access.log")).listen() \
            .module().route(module="hello", greeting="Hi")
        for mode in ("-t", "-c"):
            p = self.check(c, 1, run_mode=mode)
            self.assert_error_at(p, c, c.at["error_log"], "error_log", "does not exist")
            self.assert_error_at(p, c, c.at["access_log"], "access_log", "does not exist")
            self.assertFalse(os.path.exists(missing))

    def test_log_that_is_a_folder(self):
        c = Conf(self.tmp).server(access_log=self.tmp).listen().module() \
            .route(module="hello", greeting="Hi")
        p = self.check(c, 1)
        self.assert_error_at(p, c, c.at["access_log"], "is a folder")

    def test_log_checked_not_created(self):
        log = os.path.join(self.tmp, "access.log")
        c = Conf(self.tmp).server(access_log=log, access_log_format="json").listen().module() \
            .route(module="hello", greeting="Hi")
        self.check(c, 0)
        self.assertFalse(os.path.exists(log), "-t created the access log")

    def test_bad_access_log_format(self):
        self.bad_value("access_log_format", "apache")

    def test_module_whose_descriptor_name_differs_warns(self):
        """[module greeter] path = hello.so: the .so says it is 'hello'. It
        loads (routes use the section's name), with a warning at the path's
        line, from -t and at start-up."""
        c = Conf(self.tmp).server().listen().module("greeter", path="hello.so") \
            .route(module="greeter", greeting="Hi")
        line = c.at["module greeter.path"]
        p = self.check(c, 0)
        self.assert_error_at(p, c, line, "warning:", "greeter", "'hello'")
        warned = [l for l in p.stderr.splitlines() if "warning:" in l]
        self.assertEqual(len(warned), 1, p.stderr)
        srv = H.Server(modules=["greeter"], module_paths={"greeter": "hello.so"},
                       routes=[("/hello", {"module": "greeter", "greeting": "Hi"})])
        with srv:
            self.assertEqual(H.http_request(srv.port, "GET", "/hello").status, 200)
            self.assertRegex(srv.stderr_text(), r"iridium\.ini:\d+: warning: \[module greeter\]"
                             r" .*hello\.so calls itself 'hello'")
        # the matching name stays silent
        p = self.check(Conf(self.tmp).server().listen().module("hello", path="hello.so")
                       .route(module="hello"), 0)
        self.assertNotIn("warning:", p.stderr)

    def test_route_names_unloaded_module(self):
        c = Conf(self.tmp).server().listen().module().route(module="hello") \
            .route("/x", module="notloaded")
        p = self.check(c, 1)
        self.assertIn("notloaded", p.stderr)

    def test_missing_config_file(self):
        path = os.path.join(self.tmp, "does-not-exist.ini")
        p = H.run_iridium(["-t", "-c", path])
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(path, p.stderr)

    def test_port_in_use(self):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(5)
            port = blocker.getsockname()[1]
            c = Conf(self.tmp, port=port).good()
            t0 = time.monotonic()
            p = self.check(c, 1, run_mode="-c")
            self.assertLess(time.monotonic() - t0, H.scaled(5))
            self.assert_error_at(p, c, c.at["listen"], "in use")
        finally:
            blocker.close()

    def test_port_of_another_iridium(self):
        # Both would set SO_REUSEPORT: the second must still refuse the
        # port rather than silently take part of its connections; `-t`
        # beside the running server still passes.
        with H.Server(server={"workers": "2"}) as first:
            c = Conf(self.tmp, port=first.port).good()
            p = self.check(c, 1, run_mode="-c")
            self.assert_error_at(p, c, c.at["listen"], "in use")
            self.check(c, 0, run_mode="-t")
            for _ in range(8):  # every connection still reaches the first server
                r = H.http_request(first.port, "GET", "/hello")
                self.assertEqual(r.status, 200, r)
            self.assertTrue(first.alive(), first.diagnostics())


if __name__ == "__main__":
    H.check_environment()
    unittest.main(verbosity=2)
