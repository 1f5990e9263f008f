"""Limits on what a client can make the server hold, end to end: the size
of a request's path, query and headers (JSON 414/431, nothing changed), a
head beyond libmicrohttpd's own buffer, the connection limit, idle
connections closed after idle_timeout while an active client is served
throughout, and the cap on queued code jobs."""
import http.client
import os
import socket
import threading
import time
import unittest

from harness import SLOW, ServerTest, run, uniqctl


def small_cfg(**extra):
    cfg = {"pools": [{"name": "int", "kind": "int", "shards": 1,
                      "shard_size": 1000},
                     {"name": "orders", "kind": "sequence"}]}
    cfg.update(extra)
    return cfg


def raw_request(port, data, timeout=10):
    """Sends raw bytes; returns what came back until the server closed the
    connection or a full response head arrived (b"" if closed at once)."""
    with socket.create_connection(("127.0.0.1", port),
                                  timeout=timeout * SLOW) as c:
        c.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        return got


class LimitsTest(ServerTest):

    def test_path_query_and_headers_are_bounded(self):
        s = self.server(small_cfg())
        st, _, b = s.request("POST", "/orders?x=" + "a" * 5000)
        self.assertEqual((st, b["error"]), (414, "uri_too_long"), b)
        st, _, b = s.get("/" + "p" * 3000)
        self.assertEqual((st, b["error"]), (414, "uri_too_long"), b)
        st, _, b = s.request("POST", "/orders",
                             headers={"X-Pad-%d" % i: "v" * 900
                                      for i in range(10)})
        self.assertEqual((st, b["error"]), (431, "headers_too_large"), b)
        # nothing was consumed by the refused requests
        st, _, b = s.request("POST", "/orders")
        self.assertEqual(st, 200, b)
        self.assertTrue(b["id"].endswith("-00001"), b)

    def test_limits_are_exact(self):
        """Exactly at each limit the request goes on to its route (which
        answers for what it says); one byte more gets 414 or 431."""
        s = self.server(small_cfg())

        def query(n, *params):
            """A query of n bytes: the params, then x=aaa... to fill."""
            q = "&".join(params + ("x=",))
            return q + "a" * (n - len(q))

        for params in ((), ("type=int",), ("a", "b=1")):
            q = query(4096, *params)
            self.assertEqual(len(q), 4096)
            st, _, b = s.get("/random?" + q)
            self.assertEqual((st, b["error"]), (400, "unknown_parameter"),
                             (params, b))
            st, _, b = s.get("/random?" + query(4097, *params))
            self.assertEqual((st, b["error"]), (414, "uri_too_long"),
                             (params, b))
        # a query counts decoded: %61 is one byte
        st, _, b = s.get("/random?x=" + "%61" * 4094)
        self.assertEqual((st, b["error"]), (400, "unknown_parameter"), b)
        st, _, b = s.get("/random?x=" + "%61" * 4095)
        self.assertEqual((st, b["error"]), (414, "uri_too_long"), b)
        # the path: 2048 bytes go on to the routes (none matches)
        st, _, b = s.get("/" + "p" * 2047)
        self.assertEqual((st, b["error"]), (404, "not_found"), b)
        st, _, b = s.get("/" + "p" * 2048)
        self.assertEqual((st, b["error"]), (414, "uri_too_long"), b)

        # the headers: each counts its name, its value and 2; here Host
        # (4 + 9 + 2) and X-Pad (5 + n + 2), 8192 bytes in all
        def head(n):
            return (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"X-Pad: " + b"v" * n + b"\r\n\r\n")

        got = raw_request(s.port, head(8192 - 15 - 7))
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
        got = raw_request(s.port, head(8192 - 15 - 7 + 1))
        self.assertTrue(got.startswith(b"HTTP/1.1 431"), got[:200])

    def test_head_beyond_the_buffer_is_refused_and_the_server_goes_on(self):
        s = self.server(small_cfg())
        head = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                b"y" * 40000 + b"\r\n\r\n")
        got = raw_request(s.port, head)
        self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 431") or
                        got.startswith(b"HTTP/1.1 414"), got[:100])
        self.assertEqual(s.get("/healthz")[0], 200)

    def test_connection_limit(self):
        """Beyond max_connections a connection waits in the listen queue,
        unanswered, until a slot frees; then it is served."""
        s = self.server(small_cfg(max_connections=8), args=["--threads", "1"])
        idle = [socket.create_connection(("127.0.0.1", s.port))
                for _ in range(8)]
        extra = socket.create_connection(("127.0.0.1", s.port))
        try:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(1.0)
            with self.assertRaises(socket.timeout):
                extra.recv(1)
            for c in idle:
                c.close()
            extra.settimeout(10 * SLOW)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = extra.recv(4096)
                self.assertTrue(chunk, "closed without an answer")
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:80])
        finally:
            for c in idle:
                c.close()
            extra.close()

    def test_idle_clients_are_closed_and_never_starve_an_active_one(self):
        s = self.server(small_cfg(idle_timeout=2))
        s.wait_ready(pools=("int",))
        idle = [socket.create_connection(("127.0.0.1", s.port))
                for _ in range(200)]
        # slowloris: heads sent a byte at a time
        drip = [socket.create_connection(("127.0.0.1", s.port))
                for _ in range(20)]
        stop = threading.Event()

        def dripper():
            head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            i = 0
            while not stop.is_set():
                for c in drip:
                    try:
                        c.send(head[i:i + 1] if i < len(head) else b"a")
                    except OSError:
                        pass
                i += 1
                stop.wait(0.2)

        t = threading.Thread(target=dripper)
        t.start()
        try:
            conn = s.client()
            ok = 0
            start = time.time()
            while time.time() - start < 3.5 * SLOW:
                st, _, b = s.request("GET", "/random", conn=conn)
                self.assertIn(st, (200, 503), b)
                ok += st == 200
            conn.close()
            self.assertGreater(ok, 100, "the active client was starved")
            # the idle ones were closed by the server after 2 s
            closed = 0
            for c in idle:
                c.settimeout(5 * SLOW)
                try:
                    closed += c.recv(1) == b""
                except (ConnectionResetError, socket.timeout):
                    closed += 0
            self.assertEqual(closed, len(idle))
        finally:
            stop.set()
            t.join()
            for c in idle + drip:
                c.close()

    def test_queued_jobs_are_capped(self):
        cfg = {"sync": False, "pools": [
            {"name": "codes", "kind": "code", "pattern": "#####-#####",
             "shards": 1, "shard_size": 1000}]}
        s = self.server(cfg)
        # a long job in front, then small ones queued behind it
        st, _, b = s.request("POST", "/pools/codes/jobs",
                             {"count": 1000000000})
        self.assertEqual(st, 202, b)
        conn = s.client()
        codes = []
        for i in range(1000):
            st, _, b = s.request("POST", "/pools/codes/jobs", {"count": 1},
                                 conn=conn)
            codes.append(st)
            if st != 202:
                break
        conn.close()
        self.assertEqual(codes.count(202), 999, codes[-3:])
        st, h, b = s.request("POST", "/pools/codes/jobs", {"count": 1})
        self.assertEqual((st, b["error"]), (503, "too_many_jobs"), b)
        self.assertEqual(h.get("retry-after"), "10")
        st, _, b = s.get("/jobs")
        self.assertEqual(b["jobs"][0]["job"], "1000", b["jobs"][0])



class DiskFullTest(ServerTest):
    """A full disk under the data directory (a small tmpfs, filled up by
    a file of ours): requests get 503, nothing committed is lost, and once
    there is room again the server goes on by itself."""

    def setUp(self):
        super().setUp()
        os.makedirs(self.data)
        p = run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs",
                 self.data])
        if p.returncode:
            self.skipTest("cannot mount a tmpfs: " + p.stderr.strip())
        self.mounted = True

    def tearDown(self):
        for srv in self._servers:
            if srv.proc is not None:
                srv.stop(check=False)
        run(["umount", "-l", self.data])
        super().tearDown()

    def fill(self):
        """Fills the tmpfs but for a few pages; returns the file's path."""
        path = os.path.join(self.data, "filler")
        st = os.statvfs(self.data)
        with open(path, "wb") as f:
            left = st.f_bavail * st.f_frsize - 16 * 1024
            chunk = b"\0" * (1 << 20)
            while left > 0:
                n = min(left, len(chunk))
                try:
                    f.write(chunk[:n])
                    f.flush()
                except OSError:
                    break
                left -= n
        return path

    def test_full_disk_answers_503_and_loses_nothing(self):
        # draw_wait_ms 0: a draw answers 503 at once instead of waiting
        # out its 200 ms for values a full disk cannot bring.
        cfg = {"draw_wait_ms": 0,
               "pools": [{"name": "int", "kind": "int", "shards": 1,
                          "shard_size": 5000},
                         {"name": "orders", "kind": "sequence"},
                         {"name": "users", "kind": "lease", "start": 1,
                          "count": 100000, "ttl": 0}]}
        s = self.server(cfg)
        s.wait_ready(pools=("int",))
        filler = self.fill()
        seen, ids, leases = set(), [], []
        statuses = {}
        conn = s.client()
        for i in range(3000):
            for method, path in (("GET", "/random?count=5"),
                                 ("POST", "/orders"),
                                 ("POST", "/pools/users/leases")):
                st, _, b = s.request(method, path, conn=conn)
                statuses[(path, st)] = statuses.get((path, st), 0) + 1
                self.assertIn(st, (200, 201, 503), (path, b))
                if st == 503:
                    self.assertIn(b["error"], ("refilling", "unavailable"),
                                  (path, b))
                elif path.startswith("/random"):
                    self.assertFalse(seen & set(b["numbers"]))
                    seen |= set(b["numbers"])
                elif path == "/orders":
                    ids.append(b["id"])
                else:
                    leases.append(b["number"])
        conn.close()
        for path in ("/random?count=5", "/orders", "/pools/users/leases"):
            self.assertIn((path, 503), statuses,
                          "the disk never filled: %r" % statuses)
        os.unlink(filler)
        # room again: every kind of request succeeds, without a restart
        deadline = time.time() + 30 * SLOW
        for method, path in (("GET", "/random"), ("POST", "/orders"),
                             ("POST", "/pools/users/leases")):
            while True:
                st, _, b = s.request(method, path)
                if st in (200, 201):
                    break
                self.assertLess(time.time(), deadline, (path, st, b))
                time.sleep(0.1)
            if path == "/orders":
                ids.append(b["id"])
            elif path == "/random":
                self.assertNotIn(b["number"], seen)
            else:
                leases.append(b["number"])
        self.assertEqual(len(ids), len(set(ids)), "an id twice")
        self.assertEqual(len(leases), len(set(leases)), "a number lent twice")
        # nothing acknowledged was lost: after a restart, every lease is
        # still out and the next id follows the last one
        s.stop()
        s = self.server(cfg)
        out = {l["number"] for l in s.get("/pools/users/leases")[2]["leases"]}
        self.assertEqual(out, set(leases))
        st, _, b = s.request("POST", "/orders")
        self.assertGreater(b["id"], max(ids))
        s.stop()
        uniqctl(self.data, "verify", config=self.config(cfg, "v.json"),
                check=0)



class MapGrowthTest(ServerTest):
    """LMDB maps of 1 MiB to start with ("map_mb": 1): they fill within
    seconds and must grow while the server runs, in the server and in a
    uniqctl beside it, without a value twice or a lost job."""

    def test_maps_grow_while_serving(self):
        cfg = {"map_mb": 1, "pools": [
            {"name": "int", "kind": "int", "shards": 1,
             "shard_size": 60000},
            {"name": "codes", "kind": "code", "pattern": "#####-#####",
             "shards": 1, "shard_size": 1000},
            {"name": "orders", "kind": "sequence"}]}
        path = self.config(cfg)
        s = self.server(path)
        seen = set()
        conn = s.client()
        deadline = time.time() + 60 * SLOW
        while len(seen) < 150000:
            self.assertLess(time.time(), deadline, "draws did not go on")
            st, _, b = s.request("GET", "/random?count=1000", conn=conn)
            if st == 503:
                self.assertEqual(b["error"], "refilling", b)
                time.sleep(0.01)
                continue
            self.assertEqual(st, 200, b)
            got = set(b["numbers"])
            self.assertFalse(got & seen, "a value twice")
            seen |= got
        conn.close()
        # a uniqctl beside it grows the ledger's map in its own process:
        # the server adopts the new size at its next transaction
        out = os.path.join(self.tmp, "cli.txt")
        uniqctl(self.data, "codes", "generate", "--pool", "codes",
                "--count", "300000", "--prefix", "CLI", "--out", out,
                config=path, check=0)
        for _ in range(5):
            st, _, b = s.request("POST", "/orders")
            self.assertEqual(st, 200, b)
        st, _, job = s.request("POST", "/pools/codes/jobs",
                               {"count": 400000, "prefix": "MAP"})
        self.assertEqual(st, 202, job)
        deadline = time.time() + 120 * SLOW
        while True:
            st, _, j = s.get("/jobs/" + job["job"])
            if j["status"] != "running" and j["status"] != "queued":
                break
            self.assertLess(time.time(), deadline, j)
            time.sleep(0.1)
        self.assertEqual((j["status"], j["done"]), ("done", 400000), j)
        for _ in range(20):
            st, _, b = s.request("POST", "/orders")
            self.assertEqual(st, 200, b)
        log = s.log()
        self.assertRegex(log, r"int_shard_0\.mdb: map full at 1 MiB; "
                              r"grown to 2 MiB")
        self.assertRegex(log, r"ledger\.mdb: map full at \d+ MiB; "
                              r"grown to \d+ MiB")
        self.assertRegex(log, r"ledger\.mdb: map grown by another process "
                              r"to \d+ MiB; adopted")
        s.stop()
        uniqctl(self.data, "verify", config=path, check=0)
        st = os.stat(os.path.join(self.data, "ledger.mdb"))
        self.assertGreater(st.st_size, 1 << 20)


if __name__ == "__main__":
    unittest.main()
