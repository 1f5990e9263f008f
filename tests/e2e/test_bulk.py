"""Bulk draws that outrun the stock (issue 14): a draw that finds its pool
refilling waits, suspended, up to draw_wait_ms for the takers to push
values before it answers 503 refilling. Small shards drained by
concurrent count=N draws all get 200 with every value distinct (and with
draw_wait_ms 0, 503s appear as before); a draw that cannot be served
(every shard's LMDB write lock held by this process, so no take can
commit) gets 503 after about draw_wait_ms; SIGTERM answers the draws
that wait."""
import ctypes
import ctypes.util
import os
import signal
import threading
import time
import unittest

from harness import SLOW, UNIQD, ServerTest, parallel, run

MDB_NOSUBDIR = 0x4000


class ShardLocks:
    """Holds the write lock of LMDB environments from this process (an
    open write transaction, through liblmdb with ctypes): the server's
    takes and appends on them block until release()."""

    def __init__(self, paths):
        name = ctypes.util.find_library("lmdb") or "liblmdb.so.0"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as e:
            raise unittest.SkipTest("no liblmdb to hold a lock with: %s" % e)
        self.lib.mdb_strerror.restype = ctypes.c_char_p
        self.held = []
        try:
            for p in paths:
                env, txn = ctypes.c_void_p(), ctypes.c_void_p()
                self._ok(self.lib.mdb_env_create(ctypes.byref(env)))
                self._ok(self.lib.mdb_env_open(env, p.encode(), MDB_NOSUBDIR,
                                               0o600))
                self._ok(self.lib.mdb_txn_begin(env, None, 0,
                                                ctypes.byref(txn)))
                self.held.append((env, txn))
        except BaseException:
            self.release()
            raise

    def _ok(self, rc):
        if rc:
            raise AssertionError("lmdb: %s" % self.lib.mdb_strerror(rc))

    def release(self):
        for env, txn in self.held:
            self.lib.mdb_txn_abort(txn)
            self.lib.mdb_env_close(env)
        self.held = []


class BulkTest(ServerTest):
    def pool_config(self, shard_size, wait_ms):
        return {"threads": 2, "draw_wait_ms": wait_ms,
                "pools": [{"name": "int", "kind": "int", "shards": 2,
                           "shard_size": shard_size}]}

    def drain(self, s, threads, draws, count):
        """threads keep-alive clients, each drawing count values draws
        times; returns ([values], [statuses], [503 headers])."""
        def one(_):
            conn = s.client()
            got, sts, hdrs = [], [], []
            try:
                for _ in range(draws):
                    st, h, body = s.get("/random?count=%d" % count,
                                        conn=conn)
                    sts.append(st)
                    if st == 200:
                        self.assertEqual(len(body["numbers"]), count)
                        got.extend(body["numbers"])
                    else:
                        self.assertEqual((st, body["error"]),
                                         (503, "refilling"), body)
                        hdrs.append(h)
            finally:
                conn.close()
            return got, sts, hdrs
        res = parallel(threads, one)
        return ([v for r in res for v in r[0]], [x for r in res for x in r[1]],
                [x for r in res for x in r[2]])

    def wait_full(self, s, shard_size):
        """Until both shards and both hoppers are full (at rest)."""
        s.wait_ready(pools=("int",), minimum=4 * shard_size)

    def test_concurrent_bulk_draws_all_served_distinct(self):
        # 2 shards of 2000 (hoppers of 2000) and 8 clients drawing 500 at
        # a time: 96,000 values, twelve times the first stock.
        s = self.server(self.pool_config(2000, min(int(5000 * SLOW),
                                                   10000)))
        self.wait_full(s, 2000)
        vals, sts, _ = self.drain(s, 8, 24, 500)
        self.assertEqual(sts.count(200), len(sts), "some draws got 503")
        self.assertEqual(len(vals), 8 * 24 * 500)
        self.assertEqual(len(set(vals)), len(vals), "a value came twice")

    def test_draw_wait_ms_is_range_checked(self):
        for bad in (10001, -1, "x"):
            path = self.config(self.pool_config(1000, bad), "bad.json")
            p = run([UNIQD, "--config", path, "--data-dir", self.data,
                     "--listen", "127.0.0.1:0"], timeout=20)
            out = p.stdout + p.stderr
            self.assertEqual(p.returncode, 1, out)
            self.assertIn("draw_wait_ms", out)
            self.assertNotIn("listening", out)
        path = self.config(self.pool_config(1000, 10001), "bad.json")
        out = run([UNIQD, "--config", path, "--data-dir", self.data]).stderr
        self.assertIn("draw_wait_ms must be from 0 to 10000", out)

    def test_without_wait_503s_appear(self):
        # draw_wait_ms 0 answers at once, as before: a count of a whole
        # hopper finds one short often.
        s = self.server(self.pool_config(1000, 0))
        self.wait_full(s, 1000)
        vals, sts, hdrs = self.drain(s, 8, 40, 1000)
        self.assertGreater(len(hdrs), 0, "no 503 without a wait")
        for h in hdrs:
            self.assertEqual(h.get("retry-after"), "1")
        self.assertEqual(len(set(vals)), len(vals), "a value came twice")
        self.assertEqual(len(vals), sts.count(200) * 1000)

    def locked(self, s):
        return ShardLocks([os.path.join(self.data, "shards",
                                        "int_shard_%d.mdb" % i)
                           for i in range(2)])

    def test_draw_that_cannot_be_served_gets_503_after_the_wait(self):
        wait = 400
        s = self.server(self.pool_config(1000, wait))
        self.wait_full(s, 1000)
        locks = self.locked(s)
        try:
            conn = s.client()
            for _ in range(2):  # both hoppers; no take can refill them
                st, _, body = s.get("/random?count=1000", conn=conn)
                self.assertEqual(st, 200, body)
            for _ in range(2):
                t0 = time.monotonic()
                st, h, body = s.get("/random?count=1000", conn=conn)
                took = time.monotonic() - t0
                self.assertEqual((st, body["error"]), (503, "refilling"))
                self.assertEqual(h.get("retry-after"), "1")
                self.assertGreaterEqual(took, wait / 1000 * 0.9,
                                        "answered before draw_wait_ms")
                self.assertLess(took, wait / 1000 + 2 * SLOW,
                                "waited far past draw_wait_ms")
            conn.close()
        finally:
            locks.release()
        # Once takes commit again, the draw is served.
        st, _, body = s.get("/random?count=1000")
        self.assertEqual(st, 200, body)

    def test_sigterm_answers_the_waiting_draws(self):
        s = self.server(self.pool_config(1000, 10000))
        self.wait_full(s, 1000)
        locks = self.locked(s)
        answers = []
        try:
            conn = s.client()
            for _ in range(2):
                st, _, body = s.get("/random?count=1000", conn=conn)
                self.assertEqual(st, 200, body)
            conn.close()

            def wait_one(i):
                t0 = time.monotonic()
                st, _, body = s.get("/random?count=%d" % (500 + i))
                answers.append((st, body.get("error"),
                                time.monotonic() - t0))
            ts = [threading.Thread(target=wait_one, args=(i,))
                  for i in range(4)]
            for t in ts:
                t.start()
            time.sleep(0.5 * SLOW)
            self.assertEqual(answers, [], "a draw did not wait")
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGTERM)
            for t in ts:
                t.join(5 * SLOW)
            took = time.monotonic() - t0
            self.assertEqual(len(answers), 4, "waiting draws unanswered")
            for st, err, _ in answers:
                self.assertEqual((st, err), (503, "refilling"))
            self.assertLess(took, 5 * SLOW)
        finally:
            locks.release()
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
