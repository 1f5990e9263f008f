"""What operators use around the server, end to end: GET /metrics (parsed as
the Prometheus text format; its counters follow the requests served), the
access log (route patterns, no values or tokens, one line per request),
the complete --help, `meson install` with the hardened systemd unit (checked
by systemd-analyze, and its system-call filter against every call uniqd
makes under strace), and uniqd-stress --plot."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from harness import (SLOW, UNIQD, UNIQD_STRESS, Server, ServerTest,
                     listening_port, run, send_head)

TOKEN = "tok-3f9a1c77e2b54d0e"
BUILD_ROOT = os.environ.get("UNIQ_BUILD_ROOT", "build")
SANITIZED = os.environ.get("UNIQ_SANITIZE", "none") not in ("", "none")

# Prometheus text format 0.0.4, as much as uniqd writes.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r'^(%s)(?:\{(%s(?:,%s)*)?\})? (-?[0-9.eE+-]+|\+Inf|NaN)$'
                    % (NAME, PAIR, PAIR))
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, checking the format: every sample
    under a HELP and a TYPE of its family, counters and buckets not
    negative, histogram buckets cumulative and ending at +Inf = _count."""
    helps, types, samples = set(), {}, {}
    assert text.endswith("\n"), "the exposition ends with a newline"
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, "TYPE twice for " + name
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) \
            if re.sub(r"_(bucket|sum|count)$", "", name) in types else name
        assert family in types and family in helps, \
            "sample %s has no HELP/TYPE" % name
        key = (name, frozenset(LABEL.findall(labels)))
        assert key not in samples, "sample twice: %r" % line
        v = float(value)
        if types[family] in ("counter", "histogram"):
            assert v >= 0, line
        samples[key] = v
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        buckets = sorted(((float(dict(k[1])["le"]), v)
                          for k, v in samples.items()
                          if k[0] == fam + "_bucket"))
        assert buckets and buckets[-1][0] == float("inf"), fam
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), "buckets not cumulative: %r" % counts
        assert samples[(fam + "_count", frozenset())] == counts[-1]
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def ops_config(token=None):
    cfg = {"pools": [
        {"name": "int", "kind": "int", "shards": 2, "shard_size": 2000},
        {"name": "codes", "kind": "code", "pattern": "###-###",
         "alphabet": "ABCDEFGH", "shards": 1, "shard_size": 500},
        {"name": "orders", "kind": "sequence"},
        {"name": "users", "kind": "lease", "start": 100, "count": 50,
         "ttl": 600}]}
    if token:
        cfg["admin_token"] = token
    return cfg


class Counted:
    """Requests to one server, counted (each is one more request the
    server answers and counts)."""

    def __init__(self, server):
        self.s = server
        self.n = 0

    def req(self, method, path, body=None, headers=None):
        self.n += 1
        return self.s.request(method, path, body=body, headers=headers)

    def metrics(self):
        st, h, body = self.req("GET", "/metrics")
        assert st == 200, (st, body)
        assert h["content-type"].startswith("text/plain; version=0.0.4"), h
        return parse_metrics(body)


class MetricsTest(ServerTest):

    def test_metrics_parse_and_counters_move(self):
        s = self.server(self.config(ops_config(TOKEN)))
        s.wait_ready(pools=("int", "codes"))
        c = Counted(s)
        auth = {"Authorization": "Bearer " + TOKEN}
        m0 = c.metrics()
        self.assertEqual(metric(m0, "uniqd_pool_capacity", pool="codes"),
                         8 ** 6)
        self.assertEqual(metric(m0, "uniqd_pool_capacity", pool="users"), 50)
        shards = [k for k in m0 if k[0] == "uniqd_shard_ready"
                  and dict(k[1])["pool"] == "int"]
        self.assertEqual(len(shards), 2, "one series per shard of int")
        self.assertGreater(metric(m0, "uniqd_ledger_bytes"), 0)
        n0 = c.n

        ok = 0
        while ok < 7:
            st, _, body = c.req("GET", "/random")
            self.assertIn(st, (200, 503), body)
            ok += st == 200
        random_503 = c.n - n0 - ok
        for _ in range(3):
            self.assertEqual(c.req("GET", "/no/such/route")[0], 404)
        self.assertEqual(c.req("GET", "/random?type=nope")[0], 400)
        next_ok = 0
        while next_ok < 2:
            st, _, body = c.req("POST", "/pools/int/next?count=5")
            self.assertIn(st, (200, 503), body)
            next_ok += st == 200
        for _ in range(2):
            self.assertEqual(c.req("POST", "/pools/users/leases")[0], 201)
        for _ in range(3):
            self.assertEqual(c.req("POST", "/orders")[0], 200)
        st, _, job = c.req("POST", "/pools/codes/jobs",
                           {"count": 300, "prefix": "AB"}, headers=auth)
        self.assertEqual(st, 202, job)
        deadline = time.time() + 60 * SLOW
        while True:
            st, _, j = c.req("GET", "/jobs/" + job["job"])
            if j["status"] == "done" or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(j["status"], "done", j)

        m1 = c.metrics()

        def delta(name, **labels):
            return metric(m1, name, **labels) - metric(m0, name, **labels)

        self.assertEqual(delta("uniqd_http_requests_total",
                               route="GET /random", status="200"), 7)
        self.assertEqual(delta("uniqd_http_requests_total",
                               route="GET /random", status="400"), 1)
        self.assertEqual(delta("uniqd_http_requests_total",
                               route="GET /random", status="503"),
                         random_503)
        self.assertEqual(delta("uniqd_http_requests_total", route="other",
                               status="404"), 3)
        self.assertEqual(delta("uniqd_http_requests_total",
                               route="POST /pools/*/leases", status="201"),
                         2)
        self.assertEqual(delta("uniqd_http_requests_total",
                               route="POST /pools/*/jobs", status="202"), 1)
        # m0's own request is counted once it was answered, so it shows in
        # m1; m1's own is not in m1 yet.
        self.assertEqual(delta("uniqd_http_requests_total",
                               route="GET /metrics", status="200"), 1)
        # Counted between the two renders: m0 itself and every request
        # since, but m1.
        self.assertEqual(delta("uniqd_http_request_seconds_count"),
                         c.n - n0)
        self.assertGreater(delta("uniqd_http_request_seconds_sum"), 0)
        self.assertEqual(delta("uniqd_values_served_total", pool="int"),
                         7 + 2 * 5)
        self.assertEqual(delta("uniqd_values_served_total", pool="users"), 2)
        self.assertEqual(delta("uniqd_values_served_total", pool="orders"),
                         3)
        self.assertEqual(metric(m1, "uniqd_leases_out", pool="users"), 2)
        self.assertEqual(metric(m1, "uniqd_pool_issued", pool="orders"), 3)
        self.assertEqual(metric(m1, "uniqd_jobs", status="done"), 1)
        self.assertGreaterEqual(delta("uniqd_pool_issued", pool="codes"), 300)
        self.assertGreaterEqual(delta("uniqd_commit_operations_total"), 5)

        # Counters never go backwards.
        m2 = c.metrics()
        for k, v in m1.items():
            if k[0].endswith("_total") or k[0].endswith("_bucket"):
                self.assertGreaterEqual(m2.get(k, 0), v, k)

    def test_refills_counter_grows(self):
        """Drawing more than the int pool held ready can only be served
        by refills, and uniqd_refills_total must count them."""
        s = self.server(self.config(ops_config()))
        s.wait_ready(pools=("int",), minimum=4000)
        c = Counted(s)
        # r0 first: what the fillers add after it counts above r0, and
        # the stock read next holds it
        r0 = metric(c.metrics(), "uniqd_refills_total", pool="int")
        ready = s.wait_ready(pools=("int",), minimum=4000)["int"]
        drawn = 0
        deadline = time.time() + 60 * SLOW
        while drawn <= ready["ready"]:
            self.assertLess(time.time(), deadline, "draws did not go on")
            st, _, body = c.req("POST", "/pools/int/next?count=%d" %
                                ready["max_count"])
            if st == 503:
                self.assertEqual(body["error"], "refilling", body)
                time.sleep(0.01)
                continue
            self.assertEqual(st, 200, body)
            drawn += len(body["values"])
        # a filler counts its refill just after the append that served
        # the last draws: look until it has
        while True:
            r1 = metric(c.metrics(), "uniqd_refills_total", pool="int")
            if r1 > r0 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertGreater(r1, r0, "%d values drawn, %d were ready" %
                           (drawn, ready["ready"]))

    def test_http_answers_are_counted_and_logged(self):
        """The answers http.c gives by itself, before any route (413,
        414, 431), are counted under "other" and logged like the rest."""
        s = self.server(self.config(ops_config()), args=["--access-log"])
        c = Counted(s)
        m0 = c.metrics()
        st, _, body = send_head(s.port, "POST", "/pools/users/leases",
                                {"Host": "x", "Content-Length": "70000",
                                 "Content-Type": "application/json"})
        self.assertEqual((st, body["error"]), (413, "body_too_large"))
        st, _, body = c.req("GET", "/healthz",
                            headers={"X-Pad-%d" % i: "v" * 900
                                     for i in range(10)})
        self.assertEqual((st, body["error"]), (431, "headers_too_large"))
        st, _, body = c.req("GET", "/pools?x=" + "a" * 5000)
        self.assertEqual((st, body["error"]), (414, "uri_too_long"))
        m1 = c.metrics()
        for status in ("413", "414", "431"):
            self.assertEqual(
                metric(m1, "uniqd_http_requests_total", route="other",
                       status=status) -
                metric(m0, "uniqd_http_requests_total", route="other",
                       status=status), 1, status)
        self.assertEqual(metric(m1, "uniqd_http_requests_total",
                                route="other", status="other"), 0)
        # m0, the three and nothing else went through the histogram.
        self.assertEqual(metric(m1, "uniqd_http_request_seconds_count") -
                         metric(m0, "uniqd_http_request_seconds_count"), 4)
        s.stop()
        lines = access_lines(s.log())
        for l in lines:
            self.assertRegex(l, ACCESS)
        got = [ACCESS.match(l).group(1, 2, 3) for l in lines]
        self.assertIn(("POST", "-", "413"), got)
        self.assertIn(("GET", "-", "431"), got)
        self.assertIn(("GET", "-", "414"), got)
        self.assertNotIn("a" * 100, s.log(), "the query reached the log")

    def test_metrics_rejects_parameters_and_methods(self):
        s = self.server(self.config(ops_config()))
        st, _, body = s.get("/metrics?x=1")
        self.assertEqual((st, body["error"]), (400, "unknown_parameter"))
        st, h, body = s.request("POST", "/metrics")
        self.assertEqual((st, body["error"]), (405, "method_not_allowed"))
        self.assertEqual(h["allow"], "GET")


def access_lines(log):
    return [l for l in log.splitlines() if " uniqd access: " in l]


ACCESS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z uniqd access: "
                    r"127\.0\.0\.1 (GET|POST|HEAD|DELETE|PUT) (\S+) (\d{3}) "
                    r"\d+\.\d{3} ms$")


class AccessLogTest(ServerTest):

    def exercise(self, s):
        """Requests whose paths and bodies hold values and the token;
        returns (number of requests, the values seen)."""
        auth = {"Authorization": "Bearer " + TOKEN}
        seen = []
        v = str(s.draw("int")["number"])
        seen.append(v)
        st, _, body = s.get("/pools/int/values/" + v)
        self.assertEqual(st, 200, body)
        st, _, body = s.request("POST", "/pools/codes/next?count=2")
        self.assertEqual(st, 200, body)
        seen += body["values"]
        st, _, body = s.request("POST", "/pools/codes/values/%s/redeem"
                                % body["values"][0])
        self.assertEqual(st, 200, body)
        st, _, body = s.request("POST", "/orders")
        self.assertEqual(st, 200, body)
        seen.append(body["id"])
        st, _, body = s.request("POST", "/pools/users/leases",
                                {"holder": "holder-secret-9"})
        self.assertEqual(st, 201, body)
        seen.append("holder-secret-9")
        st, _, _ = s.request("GET", "/jobs", headers=auth)
        self.assertEqual(st, 200)
        st, _, _ = s.request("POST", "/pools/codes/jobs", {"count": 1},
                             headers={"Authorization": "Bearer wrong-" +
                                      TOKEN})
        self.assertEqual(st, 401)
        return seen

    def test_routes_mode_logs_patterns_never_values_or_tokens(self):
        s = self.server(self.config(ops_config(TOKEN)),
                        args=["--access-log"])
        s.wait_ready(pools=("int", "codes"))
        log_before = len(access_lines(s.log()))
        seen = self.exercise(s)
        s.stop()
        log = s.log()
        lines = access_lines(log)[log_before:]
        for l in lines:
            self.assertRegex(l, ACCESS)
        routes = [ACCESS.match(l).group(2) for l in lines]
        self.assertIn("/pools/*/values/*", routes)
        self.assertIn("/pools/*/values/*/redeem", routes)
        self.assertEqual(routes.count("/jobs"), 1)
        self.assertEqual(routes.count("/pools/*/jobs"), 1)
        self.assertIn("401", [ACCESS.match(l).group(3) for l in lines])
        for v in seen:
            self.assertNotIn(v, log, "a value reached the log")
        self.assertNotIn(TOKEN, log, "the token reached the log")

    def test_paths_mode_logs_paths_one_line_each(self):
        s = self.server(self.config(ops_config()),
                        args=["--access-log=paths"])
        s.wait_ready(pools=("int",))
        v = str(s.draw("int")["number"])
        s.get("/pools/int/values/" + v)
        # A path that tries to forge a log line.
        st, _, _ = s.get("/x%0A2026-01-01T00:00:00.000Z%20uniqd%20error:"
                         "%20forged")
        self.assertEqual(st, 404)
        s.stop()
        log = s.log()
        lines = access_lines(log)
        self.assertTrue(any("/pools/int/values/" + v in l
                            for l in lines), lines)
        self.assertNotIn("uniqd error: forged", log)
        self.assertTrue(any("/x?2026-01-01T00:00:00.000Z?uniqd?error:?forged"
                            in l for l in lines), lines)
        for l in lines:
            self.assertRegex(l, ACCESS)

    def test_quiet_keeps_the_access_log(self):
        # --quiet drops "listening on": the harness finds the port (0,
        # any free one) from the socket uniqd listens on.
        s = self.server(self.config(ops_config()),
                        args=["--access-log", "--quiet"])
        self.assertEqual(s.get("/healthz")[0], 200)
        s.stop()
        text = s.log()
        self.assertNotIn(" uniqd info: ", text)
        self.assertTrue(any(ACCESS.match(l) and " /healthz 200 " in l
                            for l in access_lines(text)), text)

    def test_no_access_log_unless_asked(self):
        s = self.server(self.config(ops_config()))
        s.wait_ready(pools=("int",))
        s.draw("int")
        s.get("/nothing")
        s.stop()
        self.assertEqual(access_lines(s.log()), [])
        self.assertIn(" uniqd info: listening on", s.log())

    def test_bad_access_log_mode_is_refused(self):
        p = run([UNIQD, "--access-log=everything", "--data-dir",
                 os.path.join(self.tmp, "d")], check=2)
        self.assertIn('--access-log takes "routes" or "paths"', p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "d")))


class AdminTokenTest(ServerTest):
    """The admin token from UNIQD_ADMIN_TOKEN is held to the config
    file's rules (8 to 256 characters), grants the admin routes under any
    case of "Bearer", and is what lets uniqd listen beyond loopback."""

    # A documentation address (RFC 5737): no machine has it, so that
    # uniqd, let past the token check, fails to bind it and listens on
    # nothing beyond what the test controls.
    FAR = "198.51.100.7:0"

    def uniqd(self, *args, token=None, data="d"):
        env = {"UNIQD_ADMIN_TOKEN": token} if token is not None else None
        cmd = [UNIQD, "--data-dir", os.path.join(self.tmp, data),
               "--config", self.config(ops_config())] + list(args)
        return run(cmd, env=env, timeout=60)

    def test_env_token_is_checked_like_the_config_files(self):
        for bad in ("short", "1234567", "x" * 257):
            p = self.uniqd("--listen", "127.0.0.1:0", token=bad)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("UNIQD_ADMIN_TOKEN must be a string of 8 to 256 "
                          "characters", p.stderr)
            self.assertNotIn(bad, p.stderr, "the token reached the log")
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "d")))
        # The same rule, the same words, for the file's.
        cfg = ops_config("1234567")
        p = run([UNIQD, "--data-dir", os.path.join(self.tmp, "d"),
                 "--config", self.config(cfg, "short.json")], timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn('"admin_token" must be a string of 8 to 256 '
                      'characters', p.stderr)

    def test_env_token_grants_admin_routes_any_case_of_bearer(self):
        env_token = "e" * 8  # the shortest allowed
        s = self.server(self.config(ops_config(TOKEN)),
                        env={"UNIQD_ADMIN_TOKEN": env_token})
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual(st, 201, body)
        for auth in (None, "Bearer " + TOKEN, "Bearer " + env_token[:-1],
                     "Bearer" + env_token, "Bearer\t" + env_token,
                     "Bearerx " + env_token, "Basic " + env_token,
                     env_token):
            hdrs = {"Authorization": auth} if auth else {}
            st, h, body = s.request("POST", "/pools/users/reset",
                                    headers=hdrs)
            self.assertEqual((st, body["error"]), (401, "unauthorized"),
                             auth)
            self.assertEqual(h.get("www-authenticate"), "Bearer")
        self.assertEqual(s.get("/pools/users")[2]["issued"], 1,
                         "a refused reset changed nothing")
        for scheme in ("Bearer ", "bearer ", "BEARER ", "bEaReR   "):
            st, _, body = s.request("POST", "/pools/users/reset",
                                    headers={"Authorization":
                                             scheme + env_token})
            self.assertEqual(st, 200, (scheme, body))

    def test_beyond_loopback_needs_a_token(self):
        p = self.uniqd("--listen", self.FAR)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("refusing to listen on 198.51.100.7 without an admin "
                      "token", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "d")))
        # With the token from the environment the refusal is gone: uniqd
        # goes on to bind the address, which fails here (if this machine
        # did have it, uniqd would listen: then stop it).
        cmd = [UNIQD, "--data-dir", os.path.join(self.tmp, "t"), "--config",
               self.config(ops_config()), "--listen", self.FAR]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ,
                                         UNIQD_ADMIN_TOKEN=TOKEN))
        try:
            deadline = time.time() + 30 * SLOW
            while proc.poll() is None and time.time() < deadline:
                if listening_port(proc.pid):
                    proc.send_signal(signal.SIGTERM)
                    break
                time.sleep(0.05)
            _, err = proc.communicate(timeout=30 * SLOW)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertNotIn("refusing to listen", err)
        self.assertRegex(err, r"cannot listen on 198\.51\.100\.7:0|"
                              r"listening on 198\.51\.100\.7:")
        self.assertNotIn(TOKEN, err)


class HelpTest(unittest.TestCase):

    def test_help_is_complete(self):
        p = run([UNIQD, "--help"], check=0)
        for opt in ("--config", "--listen", "--data-dir", "--threads",
                    "--access-log", "--quiet", "--version",
                    "UNIQD_ADMIN_TOKEN", "RANGE_START", "SIGTERM"):
            self.assertIn(opt, p.stdout)
        for route in ("/random", "/pools", "/next", "/values/", "/capacity",
                      "/redeem", "/jobs", "codes.csv", "/orders", "/leases",
                      "/renew", "/reset", "/check", "/checked", "/return",
                      "/healthz", "/metrics", "GET /"):
            self.assertIn(route, p.stdout)
        p = run([UNIQD_STRESS, "--help"], check=0)
        self.assertIn("--plot FILE.png", p.stdout)


def expand_filter(group, memo):
    """The system calls of a systemd syscall-filter group, nested groups
    expanded."""
    if group in memo:
        return memo[group]
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        names |= expand_filter(item, memo) if item.startswith("@") \
            else {item}
    memo[group] = names
    return names


def unit_text(root):
    paths = glob.glob(os.path.join(root, "**/systemd/system/uniqd.service"),
                      recursive=True)
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return paths[0], f.read()


def unit_values(text, key):
    return [l.split("=", 1)[1] for l in text.splitlines()
            if l.startswith(key + "=")]


class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.root = os.path.join(os.path.realpath(BUILD_ROOT),
                                "install-test")
        shutil.rmtree(cls.root, ignore_errors=True)
        p = subprocess.run(["meson", "install", "-C", BUILD_ROOT,
                            "--no-rebuild", "--destdir", cls.root],
                           capture_output=True, text=True, timeout=300)
        if p.returncode:
            raise AssertionError("meson install failed:\n" + p.stdout +
                                 p.stderr)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def installed(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def test_binaries_unit_user_and_docs_are_installed(self):
        path, text = unit_text(self.root)
        exec_start = unit_values(text, "ExecStart")
        self.assertEqual(len(exec_start), 1)
        binary = exec_start[0].split()[0]
        for name in ("uniqd", "uniqctl", "uniqd-stress"):
            exe = os.path.join(os.path.dirname(self.installed(binary)), name)
            self.assertTrue(os.access(exe, os.X_OK), exe)
            p = run([exe, "--version"], check=0)
            self.assertIn(name + " ", p.stdout)
        self.assertEqual(os.path.basename(binary), "uniqd")
        for key, want in (("User", "uniqd"), ("StateDirectory", "uniqd"),
                          ("ProtectSystem", "strict"),
                          ("NoNewPrivileges", "yes"),
                          ("CapabilityBoundingSet", "")):
            self.assertEqual(unit_values(text, key), [want], key)
        self.assertIn("--data-dir /var/lib/uniqd", exec_start[0])
        sysusers = glob.glob(os.path.join(self.root,
                                          "**/sysusers.d/uniqd.conf"),
                             recursive=True)
        self.assertEqual(len(sysusers), 1)
        with open(sysusers[0]) as f:
            self.assertRegex(f.read(), r"(?m)^u uniqd - ")
        docs = [l.split("file:", 1)[1] for l in
                unit_values(text, "Documentation")]
        self.assertTrue(docs and all(os.path.exists(self.installed(d))
                                     for d in docs), docs)
        # Nothing of the tests is installed.
        self.assertEqual(glob.glob(os.path.join(self.root, "**/uniq-corrupt"),
                                   recursive=True), [])

    @unittest.skipUnless(shutil.which("systemd-analyze"), "no systemd-analyze")
    def test_unit_verifies_and_is_hardened(self):
        path, text = unit_text(self.root)
        binary = unit_values(text, "ExecStart")[0].split()[0]
        local = os.path.join(self.root, "uniqd-check.service")
        with open(local, "w") as f:
            f.write(text.replace(binary, self.installed(binary)))
        p = run(["systemd-analyze", "verify", local])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("uniqd-check.service:", p.stderr)
        p = run(["systemd-analyze", "security", "--offline=yes", local])
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
        self.assertTrue(m, p.stdout[-2000:])
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout[-4000:])

    @unittest.skipIf(SANITIZED, "sanitizer runtimes make calls of their own")
    @unittest.skipUnless(shutil.which("strace") and
                         shutil.which("systemd-analyze"),
                         "needs strace and systemd-analyze")
    def test_syscall_filter_allows_every_call_uniqd_makes(self):
        _, text = unit_text(self.root)
        memo = {}
        allowed, denied = set(), set()
        for v in unit_values(text, "SystemCallFilter"):
            neg = v.startswith("~")
            names = set()
            for item in v.lstrip("~").split():
                names |= expand_filter(item, memo) if item.startswith("@") \
                    else {item}
            if neg:
                denied |= names
            else:
                allowed |= names
        allowed -= denied
        self.assertIn("setpriority", allowed)
        families = set(unit_values(text, "RestrictAddressFamilies")[0].split())

        tmp = os.path.join(self.root, "strace-run")
        os.makedirs(tmp)
        trace = os.path.join(tmp, "trace")
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump(ops_config(), f)
        s = Server(os.path.join(tmp, "data"), config=cfg,
                   args=["--access-log"], log_dir=tmp)
        base = s.command
        s.command = lambda: ["strace", "-f", "-qq", "-o", trace] + base()
        s.start(timeout=60)
        try:
            s.wait_ready(pools=("int", "codes"), timeout=60)
            s.draw("int")
            st, _, body = s.request("POST", "/pools/codes/next?count=3")
            self.assertEqual(st, 200, body)
            s.request("POST", "/pools/codes/values/%s/redeem" %
                      body["values"][0])
            s.request("POST", "/orders")
            st, _, lease = s.request("POST", "/pools/users/leases")
            s.request("DELETE", "/pools/users/leases/%d" % lease["number"])
            st, _, job = s.request("POST", "/pools/codes/jobs",
                                   {"count": 100, "prefix": "A"})
            self.assertEqual(st, 202, job)
            deadline = time.time() + 60
            while s.get("/jobs/" + job["job"])[2]["status"] != "done":
                self.assertLess(time.time(), deadline, "job not done")
                time.sleep(0.1)
            st, _, csv = s.get("/jobs/%s/codes.csv" % job["job"])
            self.assertEqual(st, 200)
            for path in ("/metrics", "/", "/pools", "/healthz", "/nothing"):
                s.get(path)
        finally:
            # SIGTERM goes to uniqd (strace's child), not to strace.
            children = []
            for task in glob.glob("/proc/%d/task/*/children" % s.proc.pid):
                with open(task) as f:
                    children += [int(x) for x in f.read().split()]
            for pid in children:
                os.kill(pid, signal.SIGTERM)
            if not children:
                s.proc.terminate()
            self.assertEqual(s.proc.wait(60 * SLOW), 0, s.log()[-3000:])
            s._log.close()
            s.proc = None
            self.assertIn("stopped cleanly", s.log())
        used, bad_maps, bad_sockets = set(), [], []
        call = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")
        with open(trace) as f:
            for line in f:
                m = call.match(line)
                if not m:
                    continue
                used.add(m.group(1))
                if (re.search(r"\b(mmap|mprotect)\(", line) and
                        "PROT_WRITE" in line and "PROT_EXEC" in line):
                    bad_maps.append(line)
                sm = re.search(r"\bsocket\((AF_[A-Z0-9]+)", line)
                if sm and sm.group(1) not in families:
                    bad_sockets.append(line)
        self.assertTrue({"epoll_wait", "epoll_pwait"} & used, sorted(used))
        self.assertGreater(len(used), 20, "the trace caught the calls")
        self.assertEqual(sorted(used - allowed), [],
                         "calls the unit's SystemCallFilter refuses")
        self.assertEqual(bad_maps, [], "MemoryDenyWriteExecute would refuse")
        self.assertEqual(bad_sockets, [],
                         "RestrictAddressFamilies would refuse")


@unittest.skipUnless(shutil.which("gnuplot"), "gnuplot is not installed")
class PlotTest(ServerTest):

    def test_plot_draws_a_png(self):
        s = self.server(self.config(ops_config()))
        s.wait_ready(pools=("int",))
        png = os.path.join(self.tmp, "run.png")
        # gnuplot through a wrapper that notes the script it is given.
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        with open(os.path.join(bindir, "gnuplot"), "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s/gnuplot-args\n'
                    'exec %s "$@"\n' % (self.tmp, shutil.which("gnuplot")))
        os.chmod(os.path.join(bindir, "gnuplot"), 0o755)
        p = run([UNIQD_STRESS, "--url", "http://127.0.0.1:%d" % s.port,
                 "--requests", "3000", "--threads", "3", "--plot", png,
                 "--log-dir", self.tmp, "--quiet"], check=None,
                env={"PATH": bindir + os.pathsep + os.environ["PATH"],
                     "TMPDIR": self.tmp})
        self.assertIn(p.returncode, (0, 3), p.stderr)  # 3: some 503
        self.assertIn("duplicates=0", p.stdout)
        with open(png, "rb") as f:
            data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreater(len(data), 10000)
        # Its own temporary directory (the one gnuplot was given the
        # script in; not any other run's) is gone.
        with open(os.path.join(self.tmp, "gnuplot-args")) as f:
            script = f.read().split("\n")[0]
        self.assertTrue(script.endswith("/plot.gp"), script)
        self.assertTrue(script.startswith(os.path.join(self.tmp,
                                                       "uniqd-plot-")),
                        "TMPDIR is honoured: %s" % script)
        self.assertFalse(os.path.exists(os.path.dirname(script)),
                         "the plot's temporary files are removed")
        self.assertEqual(glob.glob(os.path.join(self.tmp, "uniqd-plot-*")),
                         [])

    def test_plot_without_gnuplot_fails_before_sending(self):
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        png = os.path.join(self.tmp, "run.png")
        p = run([UNIQD_STRESS, "--url", "http://127.0.0.1:9", "--plot", png,
                 "--log-dir", self.tmp], env={"PATH": bindir})
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("--plot needs gnuplot", p.stderr)
        self.assertEqual(glob.glob(os.path.join(self.tmp, "stress_*.log")), [])
        self.assertFalse(os.path.exists(png))

    def test_plot_bad_path(self):
        p = run([UNIQD_STRESS, "--plot", ""], check=2)
        self.assertIn("--plot must be a non-empty path", p.stderr)
        png = os.path.join(self.tmp, "no-such-dir", "run.png")
        s = self.server(self.config(ops_config()))
        s.wait_ready(pools=("int",))
        p = run([UNIQD_STRESS, "--url", "http://127.0.0.1:%d" % s.port,
                 "--requests", "100", "--plot", png, "--log-dir", self.tmp,
                 "--quiet"])
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("--plot:", p.stderr)


if __name__ == "__main__":
    unittest.main()
