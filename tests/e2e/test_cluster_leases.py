"""Lease pools in cluster mode end to end (issue 12): three uniqd nodes on
a real three-member etcd (cluster.py) lend the numbers of one pool of 32,
never one to two holders at once across nodes; every node lists the
cluster's leases; a lease's ttl expires cluster-wide; a node killed -9
leaves its leases out; with etcd's quorum lost a borrow answers 503
cluster_unavailable at once; a node frozen past its session's TTL lends
again only after a new session, and never a number out to someone else;
a node stopped (SIGTERM) with borrows and returns in flight answers each
it took (every lease answered is in etcd) and exits cleanly.

Witness: the clients' own record of who holds what (a borrow answered
while another client holds that number unreturned is a failure), and
/checked, GET /pools/users/leases and etcd's keys.

Needs /usr/bin/etcd (or UNIQ_ETCD): without it the module is skipped,
unless UNIQ_REQUIRE_ETCD=1, which makes that a failure.
"""
import http.client
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import unittest

from harness import SLOW, write_config

from cluster import ClusterNode, EtcdCluster, etcd_available, ETCD

REQUIRE = os.environ.get("UNIQ_REQUIRE_ETCD") == "1"
TTL = 10                # cluster.h CLUSTER_TTL: a session's lease
NODES = ("alpha", "beta", "gamma")
N = 32
CONFIG = {"pools": [{"name": "users", "kind": "lease", "start": 0,
                     "count": N, "ttl": 600, "check_ttl": 0}]}


class Holders:
    """Who holds which number, as the clients saw their answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.held = {}
        self.errors = []

    def lent(self, number, holder, node):
        with self.lock:
            if number in self.held:
                self.errors.append("%d lent to %s by %s while %s holds it"
                                   % (number, holder, node,
                                      self.held[number]))
            self.held[number] = holder

    def returning(self, number, holder):
        with self.lock:
            if self.held.get(number) == holder:
                del self.held[number]


class ClusterLeaseTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not etcd_available():
            if REQUIRE:
                raise AssertionError("UNIQ_REQUIRE_ETCD=1 but no etcd at %s"
                                     % ETCD)
            raise unittest.SkipTest("no etcd at %s" % ETCD)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="uniqd-cleases-")
        self.config = write_config(os.path.join(self.tmp, "config.json"),
                                   CONFIG)
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.mkdir(self.etcd.tmp)
        self.nodes = []
        self.etcd.start()
        for name in NODES:
            n = ClusterNode(self.etcd, name,
                            os.path.join(self.tmp, "node-" + name),
                            self.config, log_dir=self.tmp)
            self.nodes.append(n)
            n.start(timeout=30)

    def tearDown(self):
        errors = []
        for m in self.etcd.members:
            if not m.alive():
                try:
                    self.etcd.restart(m.i, wait=False)
                except AssertionError as e:
                    errors.append(str(e))
        for n in self.nodes:
            if n.proc is not None:
                try:
                    if n.proc.poll() is None:
                        os.kill(n.proc.pid, signal.SIGCONT)
                    n.stop()
                except AssertionError as e:
                    errors.append("%s: %s" % (n.name, e))
        outcome = getattr(self, "_outcome", None)
        if (outcome is not None and not getattr(outcome, "success", True)) \
                or errors:
            import sys
            for n in self.nodes:
                print("--- node %s\n%s" % (n.name, n.log()[-2500:]),
                      file=sys.stderr)
        self.etcd.stop_all()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            self.fail("\n".join(errors))

    # -- helpers ------------------------------------------------------------

    def borrow(self, node, holder, ttl=None, conn=None):
        body = {"holder": holder}
        if ttl is not None:
            body["ttl"] = ttl
        return node.request("POST", "/pools/users/leases", body=body,
                            conn=conn)

    def give_back(self, node, number, holder, conn=None):
        return node.request("DELETE", "/pools/users/leases/%d?holder=%s" %
                            (number, holder), conn=conn)

    def checked(self, node):
        st, _, body = node.get("/checked")
        self.assertEqual(st, 200, body)
        return sorted(int(x) for x in body["checked_out_numbers"])

    def fill(self, node, holder, ttl=0, n=N):
        got = []
        for _ in range(n):
            st, _, body = self.borrow(node, holder, ttl)
            self.assertEqual(st, 201, body)
            got.append(body["number"])
        return got

    # -- tests --------------------------------------------------------------

    def test_a_concurrent_one_holder(self):
        """12 threads borrow and return through all three nodes at once:
        no number is ever lent to a second holder while the first has it;
        then the leases held are the same on every node."""
        h = Holders()
        stop = time.time() + 6 * SLOW
        counts = {"lent": 0, "all_out": 0, "down": 0}
        keep = {}
        clock = threading.Lock()

        def worker(i):
            node = self.nodes[i % 3]
            holder = "t%d" % i
            conn = node.client()
            mine = []
            try:
                while time.time() < stop:
                    st, _, body = self.borrow(node, holder, 600, conn)
                    if st == 201:
                        h.lent(body["number"], holder, node.name)
                        with clock:
                            counts["lent"] += 1
                        mine.append(body["number"])
                    elif st == 503 and body["error"] == "all_out":
                        with clock:
                            counts["all_out"] += 1
                    else:
                        h.errors.append("borrow: %s %s" % (st, body))
                        return
                    if len(mine) > 2 or (mine and st != 201):
                        x = mine.pop(0)
                        h.returning(x, holder)
                        st, _, body = self.give_back(node, x, holder, conn)
                        if st != 200:
                            h.errors.append("return %d: %s %s" %
                                            (x, st, body))
                            return
                keep[holder] = mine
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(h.errors, [])
        self.assertGreater(counts["lent"], 50, counts)
        held = sorted(x for v in keep.values() for x in v)
        for n in self.nodes:
            self.assertEqual(self.checked(n), held, n.name)
            st, _, body = n.get("/pools/users/leases")
            self.assertEqual(st, 200, body)
            self.assertEqual(body["out"], len(held))
            self.assertEqual(sorted((x["number"], x["holder"])
                                    for x in body["leases"]),
                             sorted((x, k) for k, v in keep.items()
                                    for x in v))
            st, _, body = n.get("/pools/users")
            self.assertEqual((body["issued"], body["cluster"]),
                             (len(held), True), body)
        keys = self.etcd.get_prefix("/uniqd/lease/users/")
        self.assertEqual(sorted(int(k.rsplit("/", 1)[1]) for k in keys),
                         held)
        print("  [concurrent] %s" % counts)

    def test_b_ttl_expires_cluster_wide(self):
        """A lease borrowed on alpha with ttl 2 expires, and beta lends
        that number then."""
        a, b = self.nodes[0], self.nodes[1]
        self.fill(a, "long", 0, N - 1)
        st, _, body = self.borrow(a, "short", 2)
        self.assertEqual(st, 201, body)
        x, t0 = body["number"], time.time()
        st, h, body = self.borrow(b, "b")
        self.assertEqual((st, body["error"]), (503, "all_out"), body)
        self.assertEqual(h.get("retry-after"), "1")
        while time.time() - t0 < 15 * SLOW:
            st, _, body = self.borrow(b, "b")
            if st == 201:
                break
            self.assertEqual(body["error"], "all_out", body)
            time.sleep(0.2)
        self.assertEqual(st, 201, body)
        self.assertEqual(body["number"], x)
        self.assertGreaterEqual(time.time() - t0, 1.9)
        print("  [ttl] a ttl of 2 s: lent again after %.1f s" %
              (time.time() - t0))

    def test_c_kill9_leaves_leases_out(self):
        """gamma's answered leases are still out after its kill -9."""
        a, c = self.nodes[0], self.nodes[2]
        got = self.fill(c, "g", 0, 5)
        c.kill9()
        self.assertEqual(self.checked(a), sorted(got))
        rest = self.fill(a, "a", 0, N - 5)
        self.assertEqual(set(rest) & set(got), set())
        st, _, body = self.borrow(a, "a")
        self.assertEqual((st, body["error"]), (503, "all_out"), body)

    def test_d_quorum_lost(self):
        """Two of three etcd members killed: a borrow answers 503
        cluster_unavailable with Retry-After within about 3 s; with the
        quorum back, borrows work again."""
        a = self.nodes[0]
        lead = self.etcd.leader()
        others = [i for i in range(3) if i != lead]
        self.etcd.kill(lead)
        self.etcd.kill(others[0])
        for i in range(4):
            t0 = time.time()
            st, h, body = self.borrow(a, "q")
            took = time.time() - t0
            self.assertEqual((st, body.get("error")),
                             (503, "cluster_unavailable"), body)
            self.assertEqual(h.get("retry-after"), "1")
            self.assertLess(took, 3.5 * SLOW, "answered after %.1f s" % took)
        st, _, body = a.get("/checked")
        self.assertEqual((st, body["error"]), (503, "cluster_unavailable"))
        st, _, body = a.get("/pools/users")
        self.assertEqual((st, body["issued"]), (200, None), body)
        self.etcd.restart(lead, wait=False)
        self.etcd.restart(others[0], wait=False)
        self.etcd.wait_healthy()
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            st, _, body = self.borrow(a, "q")
            if st == 201:
                break
            time.sleep(0.3)
        self.assertEqual(st, 201, body)

    def test_e_sigstop_past_ttl(self):
        """alpha frozen 13 s (its session's TTL is 10 s) while beta lends
        every number: thawed, alpha lends none of them, and lends again
        (a number beta gave back) only once it made a new session."""
        a, b = self.nodes[0], self.nodes[1]
        sess = self.etcd.get_kvs("/uniqd/node/alpha")[0]["create_revision"]
        os.kill(a.proc.pid, signal.SIGSTOP)
        t0 = time.time()
        got = self.fill(b, "b", 0, N)
        time.sleep(max(0.0, 13 - (time.time() - t0)))
        self.assertEqual(self.etcd.get_kvs("/uniqd/node/alpha"), [],
                         "alpha's session outlived its TTL")
        os.kill(a.proc.pid, signal.SIGCONT)
        st, _, body = self.borrow(a, "a")
        self.assertEqual(st, 503, body)
        self.assertIn(body["error"], ("all_out", "cluster_unavailable"))
        st, _, body = self.give_back(b, got[7], "b")
        self.assertEqual(st, 200, body)
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            st, _, body = self.borrow(a, "a")
            if st == 201:
                break
            self.assertIn(body["error"], ("all_out", "cluster_unavailable"))
            time.sleep(0.2)
        self.assertEqual((st, body.get("number")), (201, got[7]), body)
        kv = self.etcd.get_kvs("/uniqd/node/alpha")
        self.assertTrue(kv and kv[0]["create_revision"] > sess, kv)
        lease = json.loads(self.etcd.get("/uniqd/lease/users/%020d" %
                                         got[7]))
        self.assertEqual((lease["holder"], lease["node"]), ("a", "alpha"))

    def test_f_sigterm_in_flight(self):
        """16 clients borrow and return on alpha (whose ask threads do
        several at once) while it gets SIGTERM: it exits 0; every lease
        it answered 201 and that was not answered returned is in etcd,
        and etcd has nothing it did not answer or might have (answers
        lost with the connection)."""
        a = self.nodes[0]
        h = Holders()
        lock = threading.Lock()
        held, maybe = {}, set()   # number -> holder; answers not seen
        counts = {"lent": 0, "returned": 0, "shutting_down": 0,
                  "all_out": 0, "closed": 0}
        stop = threading.Event()

        def worker(i):
            holder = "s%d" % i
            conn = a.client(timeout=10)
            mine = []
            try:
                while not stop.is_set():
                    if len(mine) < 2:
                        try:
                            st, _, body = self.borrow(a, holder, 600, conn)
                        except (OSError, http.client.HTTPException):
                            with lock:
                                counts["closed"] += 1
                                maybe.add(("borrow", holder))
                            return
                        if st == 201:
                            h.lent(body["number"], holder, a.name)
                            mine.append(body["number"])
                            with lock:
                                held[body["number"]] = holder
                                counts["lent"] += 1
                            continue
                    else:
                        x = mine.pop(0)
                        h.returning(x, holder)
                        try:
                            st, _, body = self.give_back(a, x, holder, conn)
                        except (OSError, http.client.HTTPException):
                            with lock:
                                counts["closed"] += 1
                                maybe.add(x)
                            return
                        if st == 200:
                            with lock:
                                # Another client may have borrowed x
                                # between our 200 and this line: then
                                # held[x] is already theirs.
                                if held.get(x) == holder:
                                    del held[x]
                                counts["returned"] += 1
                            continue
                        with lock:
                            maybe.add(x)   # not returned, still held
                    err = body.get("error") if isinstance(body, dict) \
                        else body
                    if st == 503 and err in ("shutting_down", "all_out"):
                        with lock:
                            counts[err] += 1
                        if err == "shutting_down":
                            return
                        time.sleep(0.05)
                        continue
                    h.errors.append("%s %s" % (st, body))
                    return
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(16)]
        for t in threads:
            t.start()
        time.sleep(1.5 * SLOW)
        rc = a.stop()
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(rc, 0)
        self.assertEqual(h.errors, [])
        self.assertGreater(counts["lent"], 10, counts)
        keys = {int(k.rsplit("/", 1)[1])
                for k in self.etcd.get_prefix("/uniqd/lease/users/")}
        # the guarantee: a lease answered (and not returned) is in etcd
        for x, holder in held.items():
            if x not in maybe:
                self.assertIn(x, keys, "%d answered to %s, not in etcd" %
                              (x, holder))
        # and nothing else, but for borrows whose answer was lost
        extra = keys - set(held) - {x for x in maybe if isinstance(x, int)}
        lost = sum(1 for x in maybe if isinstance(x, tuple))
        self.assertLessEqual(len(extra), lost, (sorted(extra), counts))
        print("  [sigterm] %s" % counts)


if __name__ == "__main__":
    unittest.main()
