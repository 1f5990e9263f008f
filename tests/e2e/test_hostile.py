"""Hostile clients cannot keep others out (issue 13): connections that send
their head or body a byte at a time (slowloris) are closed at a deadline
for the whole head (header_timeout) or body (body_timeout), with a 408,
however often they send; one address holds at most per_ip_connections,
so a normal client from another is served at once beside more dribblers
than max_connections; many addresses of 127.0.0.0/8 at once each get
their share; libmicrohttpd's line per refused or aborted connection
becomes one summary line with counts; and a bad value of each new key
stops uniqd at start with a message naming it."""
import http.client
import os
import re
import socket
import threading
import time

from harness import SLOW, UNIQD, ServerTest, run

HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def small_cfg(**extra):
    cfg = {"pools": [{"name": "int", "kind": "int", "shards": 1,
                      "shard_size": 1000},
                     {"name": "orders", "kind": "sequence"}]}
    cfg.update(extra)
    return cfg


def connect(port, source="127.0.0.1"):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.bind((source, 0))
    c.connect(("127.0.0.1", port))
    return c


def get_healthz(port, source, timeout):
    """One GET /healthz from source on a new connection; returns the
    status line, or raises socket.timeout if no answer within timeout."""
    c = connect(port, source)
    try:
        c.settimeout(timeout)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"\r\n" not in got:
            chunk = c.recv(4096)
            if not chunk:
                break
            got += chunk
        return got.split(b"\r\n", 1)[0]
    finally:
        c.close()


def client_from(port, source):
    """A keep-alive http.client connection from address source."""
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10 * SLOW,
                                      source_address=(source, 0))


class Drip:
    """Connections that each send a request a byte every `every` seconds,
    on one thread; remembers when and how each ended (what it read: b""
    for a close without an answer)."""

    def __init__(self, conns, data=HEAD, every=0.1):
        self.conns = list(conns)
        self.data = data
        self.every = every
        self.t0 = time.time()
        self.ended = {}  # index -> (seconds after start, bytes read)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run)
        for c in self.conns:
            c.setblocking(False)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop_ev.is_set():
            for n, c in enumerate(self.conns):
                if n in self.ended:
                    continue
                try:
                    got = c.recv(4096)
                    self._end(n, got)
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    self._end(n, b"")
                    continue
                try:
                    c.send(self.data[i:i + 1] if i < len(self.data)
                           else b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    self._end(n, b"")
            i += 1
            self.stop_ev.wait(self.every)

    def _end(self, n, got):
        with self.lock:
            self.ended[n] = (time.time() - self.t0, got)

    def open_count(self):
        with self.lock:
            return len(self.conns) - len(self.ended)

    def wait_all_ended(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and self.open_count():
            time.sleep(0.05)
        return self.open_count() == 0

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        for c in self.conns:
            c.close()


class HostileTest(ServerTest):

    def assert_timed_out(self, ended, earliest, latest, what=b"head"):
        """Each of ended (Drip.ended values) got a 408 naming what, between
        earliest and latest seconds."""
        for t, got in ended:
            self.assertTrue(got.startswith(b"HTTP/1.1 408"), got[:80])
            self.assertIn(b'"request_timeout"', got)
            self.assertIn(b"request " + what, got)
            self.assertGreaterEqual(t, earliest, got[:80])
            self.assertLessEqual(t, latest, got[:80])

    def test_dribblers_from_one_address_leave_room_for_others(self):
        """60 dribblers from one address against max_connections 50: 20
        (per_ip_connections) get in, the rest are refused at once, a
        normal client from another address is served within a second
        meanwhile, the 20 are closed at the head deadline, and the log
        has one summary line, not one line per connection."""
        s = self.server(small_cfg(max_connections=50, per_ip_connections=20,
                                  header_timeout=2),
                        args=["--threads", "2"])
        d = Drip(connect(s.port) for _ in range(60))
        try:
            for _ in range(5):
                t = time.time()
                self.assertEqual(get_healthz(s.port, "127.0.0.2", 1.0 * SLOW),
                                 b"HTTP/1.1 200 OK")
                self.assertLess(time.time() - t, 1.0 * SLOW)
                time.sleep(0.2)
            with d.lock:
                refused = [v for v in d.ended.values() if v[1] == b""]
            self.assertEqual(len(refused), 40, d.ended)
            self.assertTrue(d.wait_all_ended(4 * SLOW), d.open_count())
            with d.lock:
                late = [v for v in d.ended.values() if v[1]]
            self.assertEqual(len(late), 20)
            self.assert_timed_out(late, 1.9, 2 + 2 * SLOW)
            # still serving, from the dribblers' own address too
            self.assertEqual(get_healthz(s.port, "127.0.0.1", 1.0 * SLOW),
                             b"HTTP/1.1 200 OK")
        finally:
            d.stop()
        s.stop()
        log = s.log()
        http_lines = [ln for ln in log.splitlines() if " http: " in ln]
        self.assertNotIn("reached connection limit", log)
        self.assertLessEqual(len(http_lines), 2, http_lines)
        m = re.search(r"http: in the last \d+ s: (.*)", log)
        self.assertTrue(m, log)
        self.assertIn("40 connections refused", m.group(1))
        self.assertIn("20 closed at the head deadline", m.group(1))

    def test_head_and_body_deadlines_keep_alive_included(self):
        """A head dribbled on a new connection, one dribbled after a
        first request on a keep-alive connection, and a body dribbled
        after its head are closed at their deadlines (2 s), with a 408; a
        connection that sends nothing and a keep-alive connection silent
        between requests are not (they are under idle_timeout, 8 s), and
        the dribbled order took no id."""
        s = self.server(small_cfg(header_timeout=2, body_timeout=2,
                                  idle_timeout=8))
        quiet = s.client()
        self.assertEqual(s.request("GET", "/healthz", conn=quiet)[0], 200)
        again = connect(s.port)
        again.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        again.settimeout(5 * SLOW)
        self.assertTrue(again.recv(4096).startswith(b"HTTP/1.1 200"))
        body = connect(s.port)
        body.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 100\r\n\r\n")
        silent = connect(s.port)
        t0 = time.time()
        heads = Drip([again, connect(s.port)])
        bodies = Drip([body], data=b"x" * 100)
        try:
            self.assertTrue(heads.wait_all_ended(4 * SLOW))
            self.assertTrue(bodies.wait_all_ended(4 * SLOW))
            self.assert_timed_out(heads.ended.values(), 1.9,
                                  2 + 2 * SLOW)
            self.assert_timed_out(bodies.ended.values(), 1.9,
                                  2 + 2 * SLOW, what=b"body")
            # silent for more than header_timeout: kept
            time.sleep(max(0, 3.5 - (time.time() - t0)))
            silent.setblocking(False)
            with self.assertRaises(BlockingIOError):
                silent.recv(1)
            st, _, _ = s.request("GET", "/healthz", conn=quiet)
            self.assertEqual(st, 200)
        finally:
            heads.stop()
            bodies.stop()
            silent.close()
            quiet.close()
        st, _, b = s.request("POST", "/orders")
        self.assertEqual(st, 200, b)
        self.assertTrue(b["id"].endswith("-00001"), b)

    def test_many_addresses_at_once(self):
        """40 addresses of 127.0.0.0/8, each with 2 dribblers: each
        address is still served beside its own dribblers, a 4th
        connection of one address is refused (per_ip_connections 3), and
        every dribbler is closed at the deadline."""
        s = self.server(small_cfg(max_connections=200, per_ip_connections=3,
                                  header_timeout=2),
                        args=["--threads", "2"])
        addrs = ["127.0.0.%d" % i for i in range(2, 42)]
        d = Drip(connect(s.port, a) for a in addrs for _ in range(2))
        try:
            for a in addrs:
                self.assertEqual(get_healthz(s.port, a, 1.0 * SLOW),
                                 b"HTTP/1.1 200 OK", a)
            # an address of its own, so that no connection closed just
            # before is still counted: 3 served, the 4th closed at once
            keep = [client_from(s.port, "127.0.0.99") for _ in range(3)]
            try:
                for c in keep:
                    self.assertEqual(s.request("GET", "/healthz",
                                               conn=c)[0], 200)
                fourth = connect(s.port, "127.0.0.99")
                fourth.settimeout(2 * SLOW)
                fourth.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    got = fourth.recv(4096)
                except ConnectionResetError:
                    got = b""
                fourth.close()
                self.assertEqual(got, b"")
            finally:
                for c in keep:
                    c.close()
            self.assertTrue(d.wait_all_ended(4 * SLOW), d.open_count())
            self.assert_timed_out(d.ended.values(), 1.9, 2 + 2 * SLOW)
        finally:
            d.stop()

    def test_bad_limits_are_refused_at_start(self):
        for key, bad in (("header_timeout", 0), ("header_timeout", 3601),
                         ("header_timeout", "ten"), ("body_timeout", 0),
                         ("body_timeout", 3601), ("body_timeout", 1.5),
                         ("per_ip_connections", -1),
                         ("per_ip_connections", 1000001),
                         ("per_ip_connections", True)):
            path = self.config(small_cfg(**{key: bad}), name=key + ".json")
            p = run([UNIQD, "--config", path, "--data-dir",
                     os.path.join(self.tmp, "d"), "--listen", "127.0.0.1:0"],
                    timeout=30)
            self.assertNotEqual(p.returncode, 0, (key, bad))
            self.assertIn(key, p.stderr, (key, bad))
            self.assertNotIn("listening", p.stderr, (key, bad))
