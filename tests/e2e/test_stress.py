"""uniqd-stress against the real server: seed 000's two client tests as
presets, a mixed run whose log is checked line by line against the
summary, and that it reports connection errors rather than hanging."""
import glob
import http.server
import json
import os
import re
import socket
import threading
import unittest

from harness import SLOW, ServerTest, UNIQD_STRESS, run

RESULT = re.compile(r"^RESULT requests=(\d+) ok=(\d+) errors=(\d+) "
                    r"duplicates=(\d+) rps=([\d.]+) p50_ms=([\d.]+) "
                    r"p90_ms=([\d.]+) p99_ms=([\d.]+) max_ms=([\d.]+) "
                    r"log=(.+)$", re.M)


class StressTest(ServerTest):

    def stress(self, *args, check=0):
        p = run([UNIQD_STRESS, "--url", "http://127.0.0.1:%d" % self.s.port,
                 "--log-dir", self.tmp] + list(args), check=check,
                timeout=300)
        m = RESULT.search(p.stdout)
        self.assertIsNotNone(m, p.stdout)
        keys = ("requests", "ok", "errors", "duplicates")
        res = dict(zip(keys, map(int, m.groups()[:4])))
        res["log"] = m.group(10)
        res["stdout"] = p.stdout
        return res

    def read_log(self, path):
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0].split("\t")[:6],
                         ["id", "time", "status", "value", "shard",
                          "latency_us"])
        rows = [line.split("\t") for line in lines[1:]]
        for r in rows:
            self.assertGreaterEqual(len(r), 6, r)
            self.assertRegex(r[1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        return rows

    def setUp(self):
        super().setUp()
        self.s = self.server()
        self.s.wait_ready()

    def test_seed_presets(self):
        for preset, n in (("seed-concurrent", 100), ("seed-stress", 1600)):
            res = self.stress("--preset", preset)
            self.assertEqual((res["requests"], res["ok"], res["errors"],
                              res["duplicates"]), (n, n, 0, 0), res["stdout"])
            self.assertRegex(os.path.basename(res["log"]),
                             r"^stress_\d{8}-\d{6}(-\d+)?\.log$")
            rows = self.read_log(res["log"])
            self.assertEqual(sorted(int(r[0]) for r in rows),
                             list(range(1, n + 1)))
        self.assertRegex(res["stdout"], r"duplicates found: +0\n")

    def test_mixed_run_log_matches_summary(self):
        res = self.stress("--requests", "20000", "--threads", "8",
                          "--type", "mixed")
        self.assertEqual((res["ok"], res["duplicates"]), (20000, 0),
                         res["stdout"])
        # keep-alive: uniqd never closed a connection, 8 served it all
        self.assertRegex(res["stdout"], r"\nconnections: +8\n")
        rows = self.read_log(res["log"])
        self.assertEqual(len(rows), 20000)
        by_type = {"int": [], "float": []}
        for r in rows:
            self.assertEqual(r[2], "200")
            kind = r[4].split("_shard_")[0]
            by_type[kind].append(r[3])
            if kind == "float":
                self.assertRegex(r[3], r"^\d+\.\d{6}$")
            else:
                self.assertRegex(r[3], r"^\d+$")
        self.assertTrue(by_type["int"] and by_type["float"])
        for kind, vals in by_type.items():
            self.assertEqual(len(vals), len(set(vals)), kind)
        # and the server agrees: each value was issued and has been served
        for kind, vals in by_type.items():
            for v in vals[:20]:
                st, _, body = self.s.get("/pools/%s/values/%s" % (kind, v))
                self.assertEqual((st, body["issued"], body["served"]),
                                 (200, True, True))

    def test_dead_server_is_an_error_not_a_hang(self):
        port = self.s.port
        self.s.stop()
        p = run([UNIQD_STRESS, "--url", "http://127.0.0.1:%d" % port,
                 "--requests", "50", "--threads", "2", "--timeout", "2",
                 "--log-dir", self.tmp], timeout=60)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        m = RESULT.search(p.stdout)
        self.assertEqual(int(m.group(3)), 50)
        log = glob.glob(os.path.join(self.tmp, "stress_*.log"))
        self.assertEqual(len(log), 1)
        with open(log[0]) as f:
            self.assertIn("ECONNREFUSED", f.read())

    def test_duplicates_are_found(self):
        """Against a server that repeats itself (not uniqd: a few lines
        here), the client finds the duplicates, lists them, and exits 1."""
        class Repeating(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            n = 0

            def do_GET(self):
                Repeating.n += 1
                body = json.dumps({"number": Repeating.n % 7,
                                   "shard": "int_shard_0"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Repeating)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            p = run([UNIQD_STRESS, "--url",
                     "http://127.0.0.1:%d" % srv.server_address[1],
                     "--requests", "100", "--threads", "2", "--type", "int",
                     "--log-dir", self.tmp], timeout=60 * SLOW)
        finally:
            srv.shutdown()
            srv.server_close()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        m = RESULT.search(p.stdout)
        self.assertEqual((int(m.group(2)), int(m.group(4))), (100, 93),
                         p.stdout)
        self.assertRegex(p.stdout, r"int 3 received 1[45] times")

    def test_endpoint_urls(self):
        """The endpoint URL as wrk, ab and curl take it (issue 13: this
        used to go to /random/random and get 404s), a host name resolved,
        a type in the query, and a base URL as before: every request a
        value, and the log shows which pool each came from."""
        port = self.s.port
        for url, shard in (("http://127.0.0.1:%d/random" % port, "int_"),
                           ("http://localhost:%d/random/" % port, "int_"),
                           ("http://127.0.0.1:%d/random?type=float" % port,
                            "float_"),
                           ("http://%s:%d/random" % (socket.gethostname(),
                                                    port), "int_"),
                           ("http://127.0.0.1:%d" % port, "int_")):
            if url.startswith("http://" + socket.gethostname()):
                try:
                    ok = socket.gethostbyname(socket.gethostname()) \
                        .startswith("127.")
                except OSError:
                    ok = False
                if not ok:
                    continue  # the name is not this loopback's
            p = run([UNIQD_STRESS, "--url", url, "--requests", "50",
                     "--threads", "2", "--log-dir", self.tmp], check=0,
                    timeout=60)
            m = RESULT.search(p.stdout)
            self.assertEqual((int(m.group(1)), int(m.group(2))), (50, 50),
                             (url, p.stdout))
            rows = self.read_log(m.group(10))
            self.assertTrue(all(r[2] == "200" and r[4].startswith(shard)
                                for r in rows), (url, rows[:3]))

    def test_url_errors_are_clear(self):
        for url, says in (("https://127.0.0.1:8000/random",
                           "https is not supported"),
                          ("http://no-such-host.invalid/random",
                           "does not resolve"),
                          ("http://127.0.0.1:8000/random?count=3",
                           "type=int or type=float"),
                          ("http://127.0.0.1:0/random", "port"),
                          ("http://127.0.0.1:99999/random", "port"),
                          ("http:///random", "host"),
                          ("http://127.0.0.1/random#x", "fragment"),
                          ("ftp://127.0.0.1/", "http://")):
            p = run([UNIQD_STRESS, "--url", url])
            self.assertEqual(p.returncode, 2, url)
            self.assertIn(says, p.stderr, url)
        p = run([UNIQD_STRESS, "--url",
                 "http://127.0.0.1:8000/random?type=float", "--type", "int"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("give one", p.stderr)

    def test_usage_errors(self):
        for args in (["--requests", "0"], ["--type", "bogus"],
                     ["--threads", "x"], ["--url", "ftp://x"],
                     ["--preset", "nope"]):
            self.assertEqual(run([UNIQD_STRESS] + args).returncode, 2, args)
        self.assertEqual(run([UNIQD_STRESS, "--help"]).returncode, 0)


if __name__ == "__main__":
    unittest.main()
