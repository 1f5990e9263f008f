"""The one promise, end to end: no value twice from a pool, across threads,
shards, restarts and kill -9, with the clients' own records and
`uniqctl verify` as witnesses; plus exhaustion and the start-up refusals
that protect the promise."""
import os
import random
import signal
import threading
import time
import unittest

from harness import (SLOW, ServerTest, json_numbers_text, parallel, raw_get,
                     run, uniqctl, UNIQD)


class Collector:
    """Values received by clients, as exact text, per pool."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {}

    def add(self, pool, texts):
        with self.lock:
            self.values.setdefault(pool, []).extend(texts)

    def assert_unique(self, test):
        for pool, vals in self.values.items():
            dupes = len(vals) - len(set(vals))
            test.assertEqual(dupes, 0, "%s: %d values received twice" %
                             (pool, dupes))

    def count(self):
        return sum(len(v) for v in self.values.values())


def load(server, collector, n, types=("int", "float"), counts=(1,),
         stop=None, errors_ok=False, seed=0):
    """One keep-alive client drawing n times; records every value."""
    rnd = random.Random(seed)
    conn = server.client()
    got = 0
    try:
        while got < n and not (stop and stop.is_set()):
            t = rnd.choice(types)
            c = rnd.choice(counts)
            path = "/random?type=%s" % t + ("&count=%d" % c if c > 1 else "")
            try:
                st, raw = raw_get(server.port, path, conn=conn)
            except (OSError, ConnectionError):
                if errors_ok:
                    return got
                raise
            if st == 200:
                vals = json_numbers_text(raw, "numbers" if c > 1 else "number")
                collector.add(t, vals)
                got += 1
            elif st == 503 and '"refilling"' in raw:
                time.sleep(0.005)
            else:
                raise AssertionError("%s -> %s %s" % (path, st, raw))
    finally:
        conn.close()
    return got


class UniqueTest(ServerTest):

    def verify_clean(self, config=None):
        p = uniqctl(self.data, "verify", config=config)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("ok: no value is held twice", p.stdout)
        return p.stdout

    def test_concurrent_clients_never_share_a_value(self):
        s = self.server()
        s.wait_ready()
        col = Collector()
        parallel(16, lambda i: load(s, col, 400, counts=(1, 1, 1, 7),
                                    seed=i))
        col.assert_unique(self)
        self.assertGreater(col.count(), 16 * 400)
        self.verify_clean()

    def test_small_shards_refill_under_load(self):
        # Shards of 64 values refill constantly while 8 clients draw: the
        # refill path, not just the hoppers, is under test.
        cfg = {"pools": [{"name": "int", "kind": "int", "min": 0,
                          "max": 10**9, "shards": 3, "shard_size": 64},
                         {"name": "float", "kind": "float", "min": -5,
                          "max": 5, "decimals": 4, "shards": 2,
                          "shard_size": 64}]}
        s = self.server(cfg)
        s.wait_ready()
        col = Collector()
        parallel(8, lambda i: load(s, col, 500, seed=100 + i))
        col.assert_unique(self)
        for v in col.values["float"]:
            self.assertTrue(-5 <= float(v) < 5, v)
            self.assertRegex(v, r"^-?\d\.\d{4}$")
        s.stop()
        self.verify_clean(self.config(cfg))

    def test_restart_continues_without_repeating(self):
        col = Collector()
        for round_ in range(3):
            s = self.server()
            s.wait_ready()
            parallel(4, lambda i: load(s, col, 300, seed=round_ * 10 + i))
            s.stop()
        col.assert_unique(self)
        self.assertEqual(col.count(), 3 * 4 * 300)
        self.verify_clean()

    def test_clean_stop_burns_nothing(self):
        # A small pool, so that every value can be accounted for: after a
        # clean stop, what was not sent is back in the shards.
        cfg = self.config({"pools": [{"name": "int", "kind": "int", "min": 1,
                                      "max": 300, "shards": 2,
                                      "shard_size": 40}]})
        s = self.server(cfg)
        s.wait_ready(pools=("int",))
        sent = [s.draw()["number"] for _ in range(25)]
        s.stop()
        status = uniqctl(self.data, "status", config=cfg, check=0).stdout
        issued = int(status.split("issued ")[1].split(",")[0])
        ready = sum(int(line.split(": ")[1].split()[0])
                    for line in status.splitlines() if "_shard_" in line)
        self.assertEqual(issued - ready, len(sent), status)
        for v in sent:
            out = uniqctl(self.data, "lookup", "int", str(v), config=cfg,
                          check=0).stdout
            self.assertIn('"served":true', out)
        # after a restart the values put back are served, never a sent one
        s = self.server(cfg)
        s.wait_ready(pools=("int",))
        more = [s.draw()["number"] for _ in range(25)]
        self.assertFalse(set(sent) & set(more))

    def test_kill9_under_load_then_restart(self):
        col = Collector()
        for round_ in range(3):
            s = self.server()
            s.wait_ready()
            stop = threading.Event()
            threads = [threading.Thread(target=load, args=(s, col, 10**9),
                                        kwargs=dict(stop=stop, errors_ok=True,
                                                    counts=(1, 3),
                                                    seed=round_ * 10 + i))
                       for i in range(8)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.3, 1.2) * SLOW)
            s.kill9()
            stop.set()
            for t in threads:
                t.join()
        # after the crashes: verify on the stopped data directory, then a
        # last server that must not repeat anything the clients saw
        self.verify_clean()
        s = self.server()
        s.wait_ready()
        parallel(4, lambda i: load(s, col, 300, seed=99 + i))
        col.assert_unique(self)
        self.assertGreater(col.count(), 1000)
        self.verify_clean()

    def test_kill9_during_refill(self):
        # Shards of 5000 with 4 per pool: the server is busy filling when it
        # is killed, at several moments.
        cfg = {"pools": [{"name": "int", "kind": "int", "shards": 4,
                          "shard_size": 5000},
                         {"name": "float", "kind": "float", "shards": 4,
                          "shard_size": 5000}]}
        col = Collector()
        for delay in (0.01, 0.05, 0.1, 0.2, 0.4):
            s = self.server(cfg)
            threads = [threading.Thread(target=load, args=(s, col, 10**9),
                                        kwargs=dict(stop=threading.Event(),
                                                    errors_ok=True, seed=i))
                       for i in range(2)]
            stop = threading.Event()
            for t in threads:
                t._kwargs["stop"] = stop
                t.start()
            time.sleep(delay * SLOW)
            s.kill9()
            stop.set()
            for t in threads:
                t.join()
        self.verify_clean(self.config(cfg))
        s = self.server(cfg)
        s.wait_ready()
        parallel(4, lambda i: load(s, col, 200, seed=50 + i))
        col.assert_unique(self)

    def test_exhaustion(self):
        cfg = {"pools": [{"name": "int", "kind": "int", "min": 1, "max": 300,
                          "shards": 2, "shard_size": 50}]}
        s = self.server(cfg)
        s.wait_ready(pools=("int",))
        col = Collector()

        def drain(i):
            conn = s.client()
            try:
                return drain_on(conn)
            finally:
                conn.close()

        def drain_on(conn):
            deadline = time.time() + 60 * SLOW
            while time.time() < deadline:
                st, h, body = s.get("/random", conn=conn)
                if st == 200:
                    col.add("int", [str(body["number"])])
                elif body.get("error") == "exhausted":
                    self.assertNotIn("retry-after", h)
                    return
                else:
                    self.assertEqual((st, body["error"]), (503, "refilling"))
                    self.assertEqual(h.get("retry-after"), "1")
                    time.sleep(0.005)
            raise AssertionError("never exhausted")

        parallel(6, drain)
        got = sorted(int(v) for v in col.values["int"])
        self.assertEqual(got, list(range(1, 301)))
        st, _, body = s.get("/random")
        self.assertEqual((st, body["error"]), (503, "exhausted"))
        pool = s.get("/pools/int")[2]
        self.assertEqual((pool["issued"], pool["remaining"], pool["ready"]),
                         (300, 0, 0))
        s.stop()
        s = self.server(cfg)
        time.sleep(0.3)
        st, _, body = s.get("/random")
        self.assertEqual((st, body["error"]), (503, "exhausted"))

    def test_uniqctl_beside_a_serving_server(self):
        cfg = {"pools": [{"name": "int", "kind": "int", "shards": 2,
                          "shard_size": 20000},
                         {"name": "float", "kind": "float", "shards": 2,
                          "shard_size": 20000}]}
        path = self.config(cfg)
        s = self.server(path)
        s.wait_ready()
        col = Collector()
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(s, col, 10**9),
                                    kwargs=dict(stop=stop, seed=i))
                   for i in range(4)]
        for t in threads:
            t.start()
        try:
            for _ in range(3):
                uniqctl(self.data, "init", config=path, check=0)
                out = self.verify_clean(path)
                self.assertIn("pool int:", out)
        finally:
            stop.set()
            for t in threads:
                t.join()
        col.assert_unique(self)
        self.assertGreater(col.count(), 100)

    # ---- refusals that protect the promise -----------------------------

    def test_changed_range_is_refused(self):
        s = self.server({"pools": [{"name": "int", "kind": "int", "min": 0,
                                    "max": 1000}]})
        s.wait_ready(pools=("int",))
        s.stop()
        bad = self.config({"pools": [{"name": "int", "kind": "int", "min": 0,
                                      "max": 2000}]}, "bad.json")
        p = run([UNIQD, "--data-dir", self.data, "--config", bad,
                 "--listen", "127.0.0.1:0"], timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("could repeat values", p.stderr)

    def test_second_server_on_one_data_dir_is_refused(self):
        s = self.server()
        p = run([UNIQD, "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("in use by another uniqd (pid %d)" % s.proc.pid, p.stderr)

    def test_foreign_data_dir_is_refused_and_untouched(self):
        os.makedirs(self.data)
        with open(os.path.join(self.data, "notes.txt"), "w") as f:
            f.write("mine")
        p = run([UNIQD, "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not a uniqd data directory", p.stderr)
        self.assertEqual(os.listdir(self.data), ["notes.txt"])

    def test_foreign_ledger_file_is_refused(self):
        os.makedirs(self.data)
        with open(os.path.join(self.data, "ledger.mdb"), "wb") as f:
            f.write(b"\0" * 8192)
        p = run([UNIQD, "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                timeout=30)
        self.assertNotEqual(p.returncode, 0)
        with open(os.path.join(self.data, "ledger.mdb"), "rb") as f:
            self.assertEqual(f.read(), b"\0" * 8192)

    def test_shard_from_another_data_dir_is_refused(self):
        other = os.path.join(self.tmp, "other")
        s = self.server(data_dir=other)
        s.wait_ready()
        s.stop()
        s = self.server()
        s.wait_ready()
        s.stop()
        os.replace(os.path.join(other, "shards", "int_shard_0.mdb"),
                   os.path.join(self.data, "shards", "int_shard_0.mdb"))
        os.remove(os.path.join(self.data, "shards", "int_shard_0.mdb-lock"))
        p = run([UNIQD, "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refusing to touch it", p.stderr)

    def test_listen_beyond_loopback_needs_a_token(self):
        p = run([UNIQD, "--data-dir", self.data, "--listen", "0.0.0.0:0"],
                timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("without an admin token", p.stderr)
        self.assertFalse(os.path.exists(self.data))

    def test_sigint_stops_cleanly(self):
        s = self.server()
        s.wait_ready()
        self.assertEqual(s.stop(signal.SIGINT), 0)
        self.assertIn("stopped cleanly", s.log())


if __name__ == "__main__":
    unittest.main()
