"""Order ids (sequence pools, seed 003) in cluster mode end to end: uniqd
nodes (`--etcd URLS --node NAME`) on a real three-member etcd (cluster.py)
hand out ids of one pool "orders" from one counter in etcd: no id twice
across nodes, every counter of the day once, and each client connection's
ids strictly increasing; through a kill -9 of a node under load (ids after
it are above all before, and the ids the node answered are still in its
ledger); and with etcd's quorum lost, POST /orders answers 503
cluster_unavailable with Retry-After at once (bounded), gives no id, and
orders again once the quorum is back; and a node whose clock steps back
(libfaketime): started 2 days in the past, or stepped 2 days back while
it runs, its ids carry the cluster's day (etcd's), never its clock's, and
continue above the other node's; its random draws and lease borrows work
(a lease's expires_at is of the node's clock: see LEASE_CLOCK).

Needs /usr/bin/etcd (or UNIQ_ETCD): without it the module is skipped,
unless UNIQ_REQUIRE_ETCD=1, which makes that a failure.
"""
import calendar
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from cluster import ClusterNode, EtcdCluster, etcd_available, ETCD
from harness import SLOW, write_config

REQUIRE = os.environ.get("UNIQ_REQUIRE_ETCD") == "1"
ID_RE = re.compile(r"^(\d{8})-(\d{5})$")
CONFIG = {"pools": [
    {"name": "orders", "kind": "sequence", "digits": 5, "tz": "UTC"},
    {"name": "int", "kind": "int", "min": 0, "max": 999999999,
     "shards": 1, "shard_size": 1000},
    {"name": "users", "kind": "lease", "start": 0, "count": 3, "ttl": 0,
     "check_ttl": 0},
]}
# libfaketime (Debian's libfaketime 0.9.10): LD_PRELOADed into a node, it
# shifts CLOCK_REALTIME (and time(), gettimeofday) only: with
# FAKETIME_DONT_FAKE_MONOTONIC=1, CLOCK_MONOTONIC (the session's fence,
# the committer's ticks) is the real one. FAKETIME="-2d": two days back
# from the start; FAKETIME_TIMESTAMP_FILE (with FAKETIME unset, which
# would take priority) is read again every FAKETIME_CACHE_DURATION
# seconds, so writing "-2d" into it steps the running node's clock back.
FAKETIME_LIB = os.environ.get(
    "UNIQ_FAKETIME_LIB",
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
TWO_DAYS = 2 * 86400
# LEASE_CLOCK: a lease's borrowed_at and expires_at are the lending
# node's clock (pools/clease.c), its end etcd's lease TTL (relative). So
# a node 2 days back answers a borrow of ttl 600 with an expires_at 2
# days in the past; every node lists it so (GET /pools/users/leases),
# yet no node lends the number again until it is returned or etcd ends
# it: correctness does not depend on the clock, the expires_at shown
# does. Checked: the other node lists it and does not lend it.


def day_of(t):
    """YYYYMMDD (an int) of epoch seconds t, in UTC."""
    return int(time.strftime("%Y%m%d", time.gmtime(t)))


def epoch_of(rfc3339):
    """Epoch seconds of "2026-11-29T10:11:12.345Z"."""
    t = time.strptime(rfc3339[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) + int(rfc3339[20:23]) / 1000.0


def log_clock(text):
    """Epoch seconds of the last line of a node's log (its clock)."""
    lines = [x for x in text.splitlines() if re.match(r"^\d{4}-", x)]
    return epoch_of(lines[-1][:24])


def parse_id(text):
    m = ID_RE.match(text)
    if not m:
        raise AssertionError("not an order id: %r" % (text,))
    return int(m.group(1)), int(m.group(2))


class Load:
    """Threads that order on nodes, each on its own keep-alive connection,
    alternating POST /orders and POST /pools/orders/next?count=3, until
    stopped. Each keeps its ids in order (per connection); a connection
    that breaks (its node killed) ends its thread."""

    def __init__(self, nodes, per_node=2):
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.conns = []          # [(node name, [ids in answer order])]
        self.errors = []
        self.threads = []
        for n in nodes:
            for _ in range(per_node):
                ids = []
                self.conns.append((n.name, ids))
                t = threading.Thread(target=self.run, args=(n, ids))
                self.threads.append(t)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, node, ids):
        c = http.client.HTTPConnection("127.0.0.1", node.port,
                                       timeout=30 * SLOW)
        i = 0
        try:
            while not self.stopping.is_set():
                path = "/orders" if i % 2 == 0 else \
                    "/pools/orders/next?count=3"
                i += 1
                c.request("POST", path)
                r = c.getresponse()
                body = json.loads(r.read())
                if r.status == 503 and \
                        body.get("error") == "cluster_unavailable":
                    time.sleep(0.05)
                    continue
                if r.status != 200:
                    with self.lock:
                        self.errors.append((node.name, path, r.status,
                                            body))
                    return
                got = [body["id"]] if "id" in body else body["values"]
                with self.lock:
                    ids.extend(parse_id(x) for x in got)
        except (OSError, http.client.HTTPException):
            pass  # the node was killed
        finally:
            c.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60 * SLOW)

    def all_ids(self):
        with self.lock:
            return [x for _, ids in self.conns for x in ids]

    def count(self):
        with self.lock:
            return sum(len(ids) for _, ids in self.conns)


class ClusterOrdersTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not etcd_available():
            if REQUIRE:
                raise AssertionError("UNIQ_REQUIRE_ETCD=1 but no etcd at %s"
                                     % ETCD)
            raise unittest.SkipTest("no etcd at %s (set UNIQ_ETCD, or "
                                    "UNIQ_REQUIRE_ETCD=1 to fail)" % ETCD)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="uniqd-corders-")
        self.config = write_config(os.path.join(self.tmp, "config.json"),
                                   CONFIG)
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.mkdir(self.etcd.tmp)
        self.nodes = []
        self.loads = []
        self.etcd.start()

    def tearDown(self):
        errors = []
        for load in self.loads:
            load.stop()
        for m in self.etcd.members:
            if not m.alive():
                self.etcd.restart(m.i, wait=False)
        for n in self.nodes:
            if n.proc is not None:
                try:
                    n.stop()
                except AssertionError as e:
                    errors.append(str(e))
        self.etcd.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            self.fail("\n".join(errors))

    def node(self, name, env=None):
        n = ClusterNode(self.etcd, name, os.path.join(self.tmp, name),
                        config=self.config, log_dir=self.tmp, env=env)
        n.start_retry()
        self.nodes.append(n)
        return n

    def load(self, nodes, per_node=2):
        load = Load(nodes, per_node).start()
        self.loads.append(load)
        return load

    def wait_count(self, load, n, timeout=30):
        deadline = time.time() + timeout * SLOW
        while load.count() < n:
            if time.time() > deadline:
                self.fail("only %d ids in %d s" % (load.count(), timeout))
            time.sleep(0.05)

    def check_ids(self, load):
        self.assertEqual(load.errors, [])
        ids = load.all_ids()
        self.assertEqual(len(ids), len(set(ids)), "an id twice")
        # All on one day here: each counter of the day once.
        days = {d for d, _ in ids}
        self.assertEqual(len(days), 1, days)
        for name, conn in load.conns:
            for a, b in zip(conn, conn[1:]):
                self.assertLess(a, b, "ids of one connection to %s out "
                                "of order" % name)
        return ids

    def post_order(self, node, timeout=30):
        return node.request("POST", "/orders")

    def test_nodes_and_a_crash(self):
        a, b, c = self.node("a"), self.node("b"), self.node("c")
        load = self.load([a, b, c])
        self.wait_count(load, 600)
        # A node killed under load, then restarted on its data.
        b.kill9()
        self.wait_count(load, load.count() + 200)
        b.start_retry()
        load.stop()
        before = self.check_ids(load)
        top = max(before)
        b_ids = [x for name, ids in load.conns if name == "b" for x in ids]
        self.assertTrue(b_ids)

        # The ledger of each node holds the ids it answered; a node says
        # honestly that it did not issue another's.
        day, n = b_ids[-1]
        st, _, body = b.get("/pools/orders/values/%08d-%05d" % (day, n))
        self.assertEqual(st, 200, body)
        self.assertIs(body["issued"], True)
        self.assertEqual(body["node"], "b")
        st, _, body = a.get("/pools/orders/values/%08d-%05d" % (day, n))
        self.assertEqual(st, 200, body)
        self.assertIs(body["issued"], False)
        self.assertIs(body["by_this_node"], False)
        self.assertIn("note", body)

        after = self.load([a, b, c], per_node=1)
        self.wait_count(after, 150)
        after.stop()
        ids = self.check_ids(after)
        self.assertGreater(min(ids), top, "an id after the crash is not "
                           "above every id before it")
        self.assertFalse(set(ids) & set(before))

        # etcd's counter is the last id, and GET /pools says so.
        counter = json.loads(self.etcd.get("/uniqd/seq/orders"))
        self.assertEqual((counter["day"], counter["n"]), max(ids))
        self.assertIn(counter["node"], ("a", "b", "c"))
        st, _, body = c.get("/pools/orders")
        self.assertEqual(st, 200, body)
        self.assertIs(body["cluster"], True)
        self.assertEqual(body["day"], "%08d" % counter["day"])
        self.assertLessEqual(body["issued"], counter["n"])
        self.assertGreater(body["issued"], 0)

    def test_quorum_lost(self):
        a, b = self.node("a"), self.node("b")
        seen = []
        for n in (a, b, a):
            st, _, body = self.post_order(n)
            self.assertEqual(st, 200, body)
            seen.append(parse_id(body["id"]))
        lead = self.etcd.leader()
        others = [m.i for m in self.etcd.members if m.i != lead]
        for i in others:
            self.etcd.kill(i)
        # 503 at once, never an id, as long as the quorum is gone.
        for n in (a, b, a, b, a):
            t0 = time.time()
            st, h, body = self.post_order(n)
            took = time.time() - t0
            self.assertEqual(st, 503, body)
            self.assertEqual(body["error"], "cluster_unavailable")
            self.assertEqual(h.get("retry-after"), "1")
            self.assertLess(took, 3.5 * SLOW, "a 503 took %.1f s" % took)
        for i in others:
            self.etcd.restart(i, wait=False)
        self.etcd.wait_healthy()
        for n in (a, b):
            deadline = time.time() + 30 * SLOW
            while True:
                st, _, body = self.post_order(n)
                if st == 200:
                    break
                self.assertEqual(body["error"], "cluster_unavailable")
                self.assertLess(time.time(), deadline, "no order after "
                                "the quorum came back")
                time.sleep(0.2)
            got = parse_id(body["id"])
            self.assertGreater(got, max(seen))
            seen.append(got)

    # -- a node whose clock steps back ------------------------------------

    def faketime(self, extra, shift):
        """The environment that runs a node under libfaketime with extra;
        first proves, with a Python under the same environment, that it
        shifts the wall clock by shift seconds (back) and leaves
        CLOCK_MONOTONIC alone. Skips without libfaketime, and under a
        sanitizer (whose runtime must come first in LD_PRELOAD)."""
        if not os.path.exists(FAKETIME_LIB):
            self.skipTest("no libfaketime at %s" % FAKETIME_LIB)
        if os.environ.get("UNIQ_SANITIZE", "none") not in ("", "none"):
            self.skipTest("libfaketime under a sanitizer")
        env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_DONT_FAKE_MONOTONIC":
               "1"}
        env.update(extra)
        e = dict(os.environ)
        e.pop("FAKETIME", None)
        e.update(env)
        probe = subprocess.run(
            [sys.executable, "-c", "import time; "
             "print(time.time(), time.monotonic())"],
            capture_output=True, text=True, env=e, timeout=30 * SLOW)
        real, mono = time.time(), time.monotonic()
        fake, fmono = (float(x) for x in probe.stdout.split())
        self.assertAlmostEqual(real - fake, shift, delta=30,
                               msg="libfaketime: wall clock not shifted")
        self.assertAlmostEqual(mono, fmono, delta=5,
                               msg="libfaketime: CLOCK_MONOTONIC shifted")
        return env

    def orders(self, node, n=6, batch=3):
        """n POST /orders and n POST /pools/orders/next?count=batch on one
        connection: the ids in answer order, checked increasing."""
        conn = node.client()
        ids = []
        try:
            for k in range(2 * n):
                path = "/orders" if k % 2 == 0 else \
                    "/pools/orders/next?count=%d" % batch
                st, _, body = node.request("POST", path, conn=conn)
                self.assertEqual(st, 200, (node.name, path, body))
                got = [body["id"]] if "id" in body else body["values"]
                ids += [parse_id(x) for x in got]
        finally:
            conn.close()
        for x, y in zip(ids, ids[1:]):
            self.assertLess(x, y, "ids of %s out of order" % node.name)
        return ids

    def issued_at(self, node, i):
        """Epoch seconds of the issued_at node gives id i (its clock)."""
        st, _, body = node.get("/pools/orders/values/%08d-%05d" % i)
        self.assertEqual(st, 200, body)
        self.assertIs(body["issued"], True, body)
        self.assertEqual(body["node"], node.name, body)
        return epoch_of(body["issued_at"])

    def draws_and_leases(self, plain, skewed, shift):
        """skewed's (clock shift s back) random draws and lease borrows
        work and do not collide with plain's; a lease's borrowed_at and
        expires_at are of skewed's clock (LEASE_CLOCK)."""
        vals = {}
        for n in (plain, skewed):
            for _ in range(5):
                st, _, body = n.get("/random?type=int")
                self.assertEqual(st, 200, (n.name, body))
                self.assertNotIn(body["number"], vals)
                vals[body["number"]] = n.name
            st, _, body = n.request("POST", "/pools/int/next?count=100")
            self.assertEqual(st, 200, (n.name, body))
            for v in body["values"]:
                self.assertNotIn(v, vals, "value %s twice" % v)
                vals[v] = n.name
        # A lease of ttl 600 on the skewed node.
        st, _, lb = skewed.request("POST", "/pools/users/leases",
                                   {"holder": "skewed", "ttl": 600})
        self.assertEqual(st, 201, lb)
        num = lb["number"]
        borrowed, expires = (epoch_of(lb["borrowed_at"]),
                             epoch_of(lb["expires_at"]))
        self.assertAlmostEqual(expires - borrowed, 600, delta=1)
        # LEASE_CLOCK: borrowed_at is of the node's clock, shift s back.
        self.assertAlmostEqual(time.time() - borrowed, shift, delta=30)
        sys.stderr.write("LEASE_CLOCK: lease %d borrowed on %s: borrowed_at "
                         "%s, expires_at %s (real now %s): expires_at is %.0f"
                         " s in the past by the real clock\n" %
                         (num, skewed.name, lb["borrowed_at"],
                          lb["expires_at"], time.strftime(
                              "%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          time.time() - expires))
        # The other node (its clock right) sees it out and lends the other
        # numbers only, whatever the lease's expires_at says.
        st, _, body = plain.get("/pools/users/leases")
        self.assertEqual(st, 200, body)
        listed = {x["number"]: x for x in body["leases"]}
        sys.stderr.write("LEASE_CLOCK: %s lists %r\n" % (plain.name,
                                                          listed.get(num)))
        got = []
        for _ in range(3):
            st, _, body = plain.request("POST", "/pools/users/leases",
                                        {"holder": "plain", "ttl": 0})
            if st == 503:
                self.assertEqual(body["error"], "all_out", body)
                break
            self.assertEqual(st, 201, body)
            got.append(body["number"])
        self.assertNotIn(num, got, "number %d, lent by %s (ttl 600, "
                         "expires_at %s), lent again by %s" %
                         (num, skewed.name, lb["expires_at"], plain.name))
        self.assertEqual(len(got), 2, got)
        self.assertIn(num, listed, "%s does not list %d, out to %s" %
                      (plain.name, num, skewed.name))
        # Returns, and a borrow of ttl 0 (no expiry) on the skewed node.
        st, _, body = skewed.request("DELETE", "/pools/users/leases/%d"
                                     "?holder=skewed" % num)
        self.assertEqual(st, 200, body)
        for x in got:
            st, _, body = plain.request("DELETE", "/pools/users/leases/%d"
                                        "?holder=plain" % x)
            self.assertEqual(st, 200, body)
        st, _, body = skewed.request("POST", "/pools/users/leases",
                                     {"holder": "skewed", "ttl": 0})
        self.assertEqual(st, 201, body)
        self.assertIsNone(body["expires_at"])
        st, _, b2 = skewed.request("DELETE", "/pools/users/leases/%d"
                                   "?holder=skewed" % body["number"])
        self.assertEqual(st, 200, b2)

    def test_clock_back_at_start(self):
        """B started with its clock 2 days back: its ids carry the
        cluster's day and continue above A's."""
        env = self.faketime({"FAKETIME": "-2d"}, TWO_DAYS)
        t_start = time.time()
        a = self.node("a")
        ids_a = self.orders(a)
        cday = ids_a[0][0]
        self.assertIn(cday, (day_of(t_start), day_of(time.time())))
        b = self.node("b", env)
        # The node itself sees its clock 2 days back (its log's times).
        self.assertAlmostEqual(time.time() - log_clock(b.log()), TWO_DAYS,
                               delta=30)
        b_day = day_of(time.time() - TWO_DAYS)
        self.assertNotEqual(b_day, cday)
        ids_b = self.orders(b)
        for i in ids_b:
            self.assertEqual(i[0], cday, "an id of B on its clock's day "
                             "%d, not the cluster's %d" % (b_day, cday))
        self.assertGreater(min(ids_b), max(ids_a))
        # B's ledger: its ids, issued_at of its clock.
        self.assertAlmostEqual(time.time() - self.issued_at(b, ids_b[-1]),
                               TWO_DAYS, delta=30)
        st, _, body = b.get("/pools/orders")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["day"], "%08d" % cday)
        # A again: above B's; etcd's counter the last.
        ids_a2 = self.orders(a, n=3)
        self.assertGreater(min(ids_a2), max(ids_b))
        counter = json.loads(self.etcd.get("/uniqd/seq/orders"))
        self.assertEqual((counter["day"], counter["n"]), max(ids_a2))
        ids = ids_a + ids_b + ids_a2
        self.assertEqual(len(ids), len(set(ids)))
        self.draws_and_leases(a, b, TWO_DAYS)

    def test_clock_steps_back_running(self):
        """C's clock stepped 2 days back while it runs (libfaketime's
        timestamp file): its ids stay on the cluster's day, above every
        id before, and A's continue above C's."""
        rc = os.path.join(self.tmp, "faketime.rc")
        with open(rc, "w") as f:
            f.write("+0\n")
        env = self.faketime({"FAKETIME_TIMESTAMP_FILE": rc,
                             "FAKETIME_CACHE_DURATION": "1"}, 0)
        a = self.node("a")
        c = self.node("c", env)
        ids = self.orders(a, n=3) + self.orders(c, n=3)
        cday = ids[0][0]
        self.assertEqual({i[0] for i in ids}, {cday})
        self.assertLess(abs(time.time() - self.issued_at(c, ids[-1])), 30)
        # The step: 2 days back, read again within a second.
        with open(rc, "w") as f:
            f.write("-2d\n")
        deadline = time.time() + 10 * SLOW
        while True:
            time.sleep(1.2)
            after = self.orders(c, n=1, batch=1)
            skew = time.time() - self.issued_at(c, after[-1])
            if abs(skew - TWO_DAYS) < 30 or time.time() > deadline:
                break
        self.assertAlmostEqual(skew, TWO_DAYS, delta=30,
                               msg="the node's clock did not step back")
        after += self.orders(c)
        for i in after:
            self.assertEqual(i[0], cday, "an id of C after its clock "
                             "stepped back is on day %d, not the "
                             "cluster's %d" % (i[0], cday))
        self.assertGreater(min(after), max(ids))
        a_after = self.orders(a, n=3)
        self.assertGreater(min(a_after), max(after))
        every = ids + after + a_after
        self.assertEqual(len(every), len(set(every)))
        st, _, body = c.get("/pools/orders")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["day"], "%08d" % cday)
        self.draws_and_leases(a, c, TWO_DAYS)


if __name__ == "__main__":
    unittest.main()
