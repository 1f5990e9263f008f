"""Order ids (sequence pools, seed 003) in cluster mode end to end: uniqd
nodes (`--etcd URLS --node NAME`) on a real three-member etcd (cluster.py)
hand out ids of one pool "orders" from one counter in etcd: no id twice
across nodes, every counter of the day once, and each client connection's
ids strictly increasing; through a kill -9 of a node under load (ids after
it are above all before, and the ids the node answered are still in its
ledger); and with etcd's quorum lost, POST /orders answers 503
cluster_unavailable with Retry-After at once (bounded), gives no id, and
orders again once the quorum is back.

Needs /usr/bin/etcd (or UNIQ_ETCD): without it the module is skipped,
unless UNIQ_REQUIRE_ETCD=1, which makes that a failure.
"""
import http.client
import json
import os
import re
import shutil
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
]}


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

    def node(self, name):
        n = ClusterNode(self.etcd, name, os.path.join(self.tmp, name),
                        config=self.config, log_dir=self.tmp)
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


if __name__ == "__main__":
    unittest.main()
