"""Cluster mode end to end: uniqd nodes (`--etcd URLS --node NAME`) on a real
three-member etcd (cluster.py) hand out values of the same int and float
pools, never one twice across nodes, through node crashes, etcd leader
loss, quorum loss and a node frozen past its session's TTL; the refusals
that protect that; and standalone mode unchanged.

Witnesses: every value the clients received (exact text, across all the
nodes), and etcd's own record: the blocks under /uniqd/pool/<name>/block/
must tile [0, counter) with no overlap, each reserved by a node of ours.

Needs /usr/bin/etcd (or UNIQ_ETCD): without it the module is skipped,
unless UNIQ_REQUIRE_ETCD=1, which makes that a failure.
"""
import collections
import decimal
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from cluster import (ClusterNode, EtcdCluster, EtcdError, etcd_available,
                     run_exit, ETCD)
from harness import (SANITIZER_MARKS, SLOW, Server, UNIQD, json_numbers_text,
                     uniqctl, write_config)

REQUIRE = os.environ.get("UNIQ_REQUIRE_ETCD") == "1"
TTL = 10                # cluster.h CLUSTER_TTL: a session's lease
NODES = ("alpha", "beta", "gamma")
INT_MAX = 999999999

# Small shards, so that refills and reservations run all the time.
CONFIG = {"pools": [
    {"name": "int", "kind": "int", "min": 0, "max": INT_MAX,
     "shards": 2, "shard_size": 2000},
    {"name": "float", "kind": "float", "min": 0, "max": 1000,
     "decimals": 6, "shards": 2, "shard_size": 2000},
]}

# What a load thread asks: (method, path, pool, key of the values).
OPS = (
    ("GET", "/random?type=int", "int", "number"),
    ("GET", "/random?type=int&count=50", "int", "numbers"),
    ("GET", "/random?type=float", "float", "number"),
    ("GET", "/random?type=float&count=50", "float", "numbers"),
    ("POST", "/pools/float/next?count=50", "float", "values"),
    ("POST", "/pools/int/next?count=20", "int", "values"),
)

# The 503s a cluster node may answer for want of stock or of etcd.
WAIT_ERRORS = ("refilling", "cluster_unavailable", "cluster_down",
               "unavailable")


def canon(pool, text):
    """One value's identity: ints as int, floats as an exact decimal (the
    two routes could print them differently; the value is what counts)."""
    if pool == "int":
        return int(text)
    return decimal.Decimal(text).normalize()


class Load:
    """Keep-alive clients on nodes, until stopped; keeps every value
    received (per pool), and per (phase, node) how each request ended:
    "200", "503 <error>", "conn" (no answer), or "bad" (anything else,
    which fails the test)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {"int": [], "float": []}
        self.stats = collections.defaultdict(collections.Counter)
        self.bad = []
        self.phase = "start"
        self.stop_ev = threading.Event()
        self.threads = []
        self.node_stop = {}

    def start(self, node, n=2, counts=None):
        """n threads on node; they run until stop() or stop_node(node)."""
        ev = self.node_stop.setdefault(node.name, threading.Event())
        ev.clear()
        for k in range(n):
            t = threading.Thread(target=self._run,
                                 args=(node, ev, len(self.threads) + k),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def stop_node(self, node):
        self.node_stop[node.name].set()
        time.sleep(0.3 * SLOW)   # let its threads see it

    def stop(self):
        self.stop_ev.set()
        for ev in self.node_stop.values():
            ev.set()
        for t in self.threads:
            t.join(60 * SLOW)
        alive = [t for t in self.threads if t.is_alive()]
        self.threads = []
        if alive:
            raise AssertionError("%d load threads still run" % len(alive))

    def count(self, phase, node, what="200"):
        return self.stats[(phase, node)][what]

    def _note(self, node, what, detail=None):
        with self.lock:
            self.stats[(self.phase, node.name)][what] += 1
            if what == "bad" and len(self.bad) < 20:
                self.bad.append((self.phase, node.name, detail))

    def _run(self, node, ev, seed):
        rnd = random.Random(seed)
        conn = None
        while not ev.is_set() and not self.stop_ev.is_set():
            method, path, pool, key = rnd.choice(OPS)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", node.port, timeout=10 * SLOW)
                conn.request(method, path)
                r = conn.getresponse()
                raw = r.read().decode(errors="replace")
                headers = {k.lower(): v for k, v in r.getheaders()}
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                self._note(node, "conn")
                time.sleep(0.05)
                continue
            if r.status == 200:
                vals = [canon(pool, t) for t in json_numbers_text(raw, key)]
                with self.lock:
                    self.values[pool].extend(vals)
                    self.stats[(self.phase, node.name)]["200"] += 1
                continue
            err = None
            try:
                err = json.loads(raw).get("error")
            except (ValueError, AttributeError):
                pass
            if r.status == 503 and err in WAIT_ERRORS:
                if "retry-after" not in headers:
                    self._note(node, "bad", "503 %s without Retry-After"
                               % err)
                self._note(node, "503 " + err)
                time.sleep(0.01)
                continue
            self._note(node, "bad", "%s %s: %s" % (method, path, raw[:200]))
            time.sleep(0.01)
        if conn is not None:
            conn.close()

    def duplicates(self):
        out = {}
        for pool, vals in self.values.items():
            c = collections.Counter(vals)
            dup = [v for v, n in c.items() if n > 1]
            if dup:
                out[pool] = (len(dup), sorted(dup)[:5])
        return out


def raw_request(port, method, path):
    """One request on a new connection: (status, raw body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * SLOW)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


class ClusterTest(unittest.TestCase):
    """A test with its own etcd of three members, and nodes started with
    self.node(); everything stopped (by pid) and removed at the end."""

    @classmethod
    def setUpClass(cls):
        if not etcd_available():
            if REQUIRE:
                raise AssertionError("UNIQ_REQUIRE_ETCD=1 but no etcd at %s"
                                     % ETCD)
            raise unittest.SkipTest("no etcd at %s (set UNIQ_ETCD, or "
                                    "UNIQ_REQUIRE_ETCD=1 to fail)" % ETCD)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="uniqd-cluster-")
        self.config = write_config(os.path.join(self.tmp, "config.json"),
                                   CONFIG)
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.mkdir(self.etcd.tmp)
        self.nodes = []
        self.load = None
        self.t0 = time.time()
        self.etcd.start()

    def tearDown(self):
        errors = []
        if self.load is not None:
            try:
                self.load.stop()
            except AssertionError as e:
                errors.append(str(e))
        # Members killed by the test come back, so nodes can end their
        # sessions on a clean stop.
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
        failed = outcome is not None and not getattr(outcome, "success",
                                                     True)
        self.etcd.stop_all()
        if failed or errors:
            self._print_logs()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.note("%.1f s" % (time.time() - self.t0))
        if errors:
            self.fail("\n".join(errors))

    def _print_logs(self):
        import sys
        for n in self.nodes:
            print("--- node %s (%s)\n%s" % (n.name, n.log_path,
                                           n.log()[-2500:]), file=sys.stderr)
        print(self.etcd.logs_tail(800), file=sys.stderr)

    # -- helpers ------------------------------------------------------------

    def note(self, text):
        """A line for the log of the run (measures)."""
        import sys
        print("  [%s] %s" % (self._testMethodName, text), file=sys.stderr)
        sys.stderr.flush()

    def node(self, name, config=None, start=True, data_dir=None):
        d = data_dir or os.path.join(self.tmp, "node-" + name)
        n = ClusterNode(self.etcd, name, d, config or self.config,
                        log_dir=self.tmp)
        self.nodes.append(n)
        if start:
            try:
                n.start(timeout=30)
            except AssertionError:
                # exited (its log is in the error): nothing to stop
                if n.proc is not None and n.proc.poll() is not None:
                    n._log.close()
                    n.proc = None
                raise
        return n

    def three_nodes(self):
        nodes = [self.node(name) for name in NODES]
        for n in nodes:
            n.wait_ready(timeout=30)
        return nodes

    def run_load(self, nodes, seconds, phase, per_node=2):
        """Starts a load (if none) on nodes, for seconds (times SLOW) in
        phase."""
        if self.load is None:
            self.load = Load()
        self.load.phase = phase
        for n in nodes:
            self.load.start(n, per_node)
        time.sleep(seconds * SLOW)

    def set_phase(self, phase, seconds=0):
        self.load.phase = phase
        if seconds:
            time.sleep(seconds * SLOW)

    def end_load(self):
        self.load.stop()
        self.assertEqual(self.load.bad, [], "answers outside the contract")
        conn = {k: v["conn"] for k, v in self.load.stats.items()
                if v["conn"]}
        self.assertEqual(conn, {}, "requests to a live node got no answer")
        dup = self.load.duplicates()
        if dup:
            self.fail("values handed out twice: " + "; ".join(
                "%s: %d values, e.g. %s" % (p, n, [str(v) for v in ex])
                for p, (n, ex) in sorted(dup.items())))
        total = collections.Counter()
        for c in self.load.stats.values():
            total.update(c)
        self.note("values: int %d, float %d; answers %r" %
                  (len(self.load.values["int"]),
                   len(self.load.values["float"]), dict(total)))

    def check_blocks(self, pool, names=NODES, received=None):
        """etcd's blocks of pool tile [0, counter) without overlap, each of
        a node in names; returns (counter, blocks by node)."""
        kvs = self.etcd.get_kvs("/uniqd/pool/%s/" % pool)
        counter = None
        blocks = []
        for kv in kvs:
            rest = kv["key"][len("/uniqd/pool/%s/" % pool):]
            if rest == "counter":
                counter = int(kv["value"])
            elif rest.startswith("block/"):
                b = json.loads(kv["value"])
                first, count = int(b["first"]), int(b["count"])
                self.assertEqual(rest[len("block/"):], "%020d" % first,
                                 "block key and first differ: %r" % kv)
                self.assertGreater(count, 0, kv)
                self.assertIn(b["node"], names, kv)
                self.assertIn("ms", b, kv)
                blocks.append((first, count, b["node"]))
        self.assertIsNotNone(counter, "no /uniqd/pool/%s/counter in %r" %
                             (pool, [k["key"] for k in kvs][:10]))
        blocks.sort()
        at = 0
        for first, count, node in blocks:
            self.assertEqual(first, at, "%s: blocks do not tile: a gap or "
                             "an overlap at %d (block %d+%d of %s)" %
                             (pool, at, first, count, node))
            at = first + count
        self.assertEqual(at, counter, "%s: blocks end at %d, counter %d" %
                         (pool, at, counter))
        if received is not None:
            self.assertLessEqual(received, counter,
                                 "%s: more values than indices reserved"
                                 % pool)
        by = collections.Counter()
        for _, count, node in blocks:
            by[node] += count
        return counter, by

    def verify(self, nodes):
        """uniqctl --etcd verify on each node's data directory (they may
        still serve): the blocks tile each counter, the node's ledger
        matches its blocks."""
        for n in nodes:
            p = uniqctl(n.data_dir, "verify", "--etcd", self.etcd.endpoints(),
                        "--node", n.name, config=self.config, timeout=60)
            self.assertEqual(p.returncode, 0, "uniqctl verify of %s:\n%s%s"
                             % (n.name, p.stdout[-3000:], p.stderr[-3000:]))

    def counter(self, pool="int"):
        v = self.etcd.get("/uniqd/pool/%s/counter" % pool)
        return int(v) if v is not None else 0

    def refused(self, name, data_dir, config=None, timeout=20):
        """Runs a node that must be refused at start: returns its output;
        fails if it exits 0 or still runs after timeout (times SLOW)."""
        cmd = [UNIQD, "--data-dir", data_dir, "--listen", "127.0.0.1:0",
               "--config", config or self.config,
               "--etcd", self.etcd.endpoints(), "--node", name]
        t0 = time.time()
        try:
            rc, out = run_exit(cmd, timeout=timeout)
            self.note("refused node %s: exit %d after %.1f s: %s" %
                      (name, rc, time.time() - t0,
                       out.strip().splitlines()[-1][:160] if out.strip()
                       else ""))
        except subprocess.TimeoutExpired:
            self.fail("%s was not refused: still running after %.0f s" %
                      (cmd, timeout * SLOW))
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, out, out[-4000:])
        self.assertNotEqual(rc, 0, "%s was not refused:\n%s" % (cmd, out))
        self.assertGreater(rc, 0, "killed by a signal (%d):\n%s" % (rc, out))
        self.assertNotIn("unrecognized option", out,
                         "refused for want of cluster mode, not for the "
                         "reason tested")
        return out

    def draws_ok(self, node, timeout):
        """Waits (bounded, times SLOW) until node answers a draw 200;
        returns the seconds it took."""
        t0 = time.time()
        deadline = t0 + timeout * SLOW
        last = None
        while time.time() < deadline:
            try:
                st, _, body = node.get("/random?type=int")
                if st == 200:
                    return time.time() - t0
                last = (st, body)
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.1)
        self.fail("%s: no draw after %.0f s: %r" % (node.name,
                                                     timeout * SLOW, last))


class TestEtcdHelper(ClusterTest):
    """cluster.py itself, without uniqd: a leader, a new one when it is
    killed, no write without quorum, and writes again once restarted."""

    def test_helper(self):
        e = self.etcd
        self.assertEqual(len(e.endpoints().split(",")), 3)
        self.assertTrue(all(u.startswith("http://127.0.0.1:")
                            for u in e.endpoints().split(",")))
        e.put("/t/a", "1")
        e.put("/t/b", "2")
        e.put("/u", "3")
        self.assertEqual(e.get_prefix("/t/"), {"/t/a": "1", "/t/b": "2"})
        old = e.leader()
        self.assertIsNotNone(old)
        e.kill(old)
        new = e.wait_healthy(10)
        self.assertNotEqual(new, old)
        e.put("/t/c", "3")
        e.restart(old)
        self.assertEqual(e.get("/t/c"), "3")
        lead = e.leader()
        other = [i for i in range(3) if i != lead][0]
        e.kill(lead)
        e.kill(other)
        t0 = time.time()
        with self.assertRaises(EtcdError):
            e.put("/t/d", "4", timeout=2)
        self.assertLess(time.time() - t0, 5)
        e.restart(lead, wait=False)
        e.restart(other, wait=False)
        e.wait_healthy(20)
        e.put("/t/d", "5", timeout=5)
        self.assertEqual(e.get("/t/d"), "5")


class TestClusterNodes(ClusterTest):

    def test_a_three_nodes_one_promise(self):
        """Load on three nodes at once: no value twice; etcd's blocks tile
        [0, counter), each of one of the three nodes."""
        nodes = self.three_nodes()
        sess = {kv["key"] for kv in self.etcd.get_kvs("/uniqd/node/")}
        self.assertEqual(sess, {"/uniqd/node/" + n for n in NODES})
        self.run_load(nodes, 6, "load")
        self.end_load()
        for n in nodes:
            self.assertGreater(self.load.count("load", n.name), 50,
                               "%s served too little: %r" %
                               (n.name, dict(self.load.stats)))
        for pool in ("int", "float"):
            counter, by = self.check_blocks(
                pool, received=len(self.load.values[pool]))
            self.assertEqual(set(by), set(NODES),
                             "%s: not every node reserved: %r" % (pool, by))
        self.verify(nodes)
        # each node's stock is of its own blocks: values still unique after
        # one more draw per node
        for n in nodes:
            v = n.draw("int", timeout=5)["number"]
            self.assertNotIn(v, self.load.values["int"])

    def test_b_kill9_node_restart_same_name(self):
        """kill -9 of a node under load, restarted on its data directory
        with its name (its old session may live until its TTL ends): no
        value twice over the whole run."""
        nodes = self.three_nodes()
        self.run_load(nodes, 3, "before")
        victim = nodes[1]
        self.load.stop_node(victim)
        victim.kill9()
        self.set_phase("down", 2)
        t0 = time.time()
        _, attempts = victim.start_retry(within=TTL + 8)
        took = time.time() - t0
        victim.wait_ready(timeout=20)
        self.load.start(victim, 2)
        self.set_phase("after", 4)
        self.end_load()
        for n in nodes:
            self.assertGreater(self.load.count("after", n.name), 20,
                               "%s: %r" % (n.name, dict(self.load.stats)))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))
        self.verify(nodes)
        self.note("restart of %s took %.1f s, %d attempt(s)" %
              (victim.name, took, attempts))

    def test_c_etcd_leader_killed(self):
        """kill -9 of etcd's leader under load: the nodes carry on, from
        their stock and from new blocks after the election; the member
        comes back; no value twice."""
        nodes = self.three_nodes()
        self.run_load(nodes, 2, "before")
        lead = self.etcd.leader()
        self.etcd.kill(lead)
        self.set_phase("election")
        new = self.etcd.wait_healthy(10)
        self.assertNotEqual(new, lead)
        c0 = self.counter("int")
        self.set_phase("after", 5)
        c1 = self.counter("int")
        self.assertGreater(c1, c0, "no new block reserved after the "
                           "election")
        self.etcd.restart(lead)
        self.set_phase("rejoined", 3)
        self.end_load()
        for n in nodes:
            for phase in ("after", "rejoined"):
                self.assertGreater(self.load.count(phase, n.name), 20,
                                   "%s in %s: %r" % (n.name, phase,
                                                     dict(self.load.stats)))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))
        self.verify(nodes)

    def test_d_quorum_lost(self):
        """Two of three members killed under load: draws answer from stock,
        then 503 with Retry-After and a JSON error, never a value twice;
        once the members are back, draws succeed again in bounded time."""
        nodes = self.three_nodes()
        self.run_load(nodes, 2, "before")
        lead = self.etcd.leader()
        other = [i for i in range(3) if i != lead][0]
        self.etcd.kill(lead)
        self.etcd.kill(other)
        self.set_phase("lost")
        t0 = time.time()
        deadline = t0 + 25 * SLOW
        first_503 = {}
        while time.time() < deadline and len(first_503) < len(nodes):
            for n in nodes:
                if n.name not in first_503 and any(
                        k.startswith("503") and v
                        for k, v in self.load.stats[("lost", n.name)].items()):
                    first_503[n.name] = time.time() - t0
            time.sleep(0.1)
        self.assertEqual(set(first_503), set(NODES),
                         "nodes still serving %.0f s after quorum loss "
                         "(their stock should run out): %r" %
                         (25 * SLOW, dict(self.load.stats)))
        served_in_loss = {n.name: self.load.count("lost", n.name)
                          for n in nodes}
        for n in nodes:
            self.assertGreater(served_in_loss[n.name], 0,
                               "%s served nothing from its stock once etcd "
                               "lost its quorum: %r" %
                               (n.name, dict(self.load.stats)))
        self.set_phase("lost-503", 2)
        t1 = time.time()
        self.etcd.restart(lead, wait=False)
        self.etcd.restart(other, wait=False)
        self.set_phase("back")
        self.etcd.wait_healthy(20)
        for n in nodes:
            self.draws_ok(n, 30)
        recovered = time.time() - t1
        self.set_phase("back-ok", 3)
        self.end_load()
        for n in nodes:
            self.assertGreater(self.load.count("back-ok", n.name), 20,
                               "%s: %r" % (n.name, dict(self.load.stats)))
            errs = {k for k in self.load.stats[("lost-503", n.name)]
                    if k.startswith("503")}
            self.assertTrue(errs, "%s: no 503 once out of stock: %r" %
                            (n.name, dict(self.load.stats)))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))
        self.verify(nodes)
        self.note("quorum lost: first 503 after %s s; served meanwhile "
                  "%r; draws again %.1f s after the restart of the members" %
              ({k: round(v, 1) for k, v in first_503.items()},
               served_in_loss, recovered))

    def test_e_refusals(self):
        """A node whose pool "int" has another range than the cluster's is
        refused; so is a second process with a live node's name; so is a
        configuration with a pool kind cluster mode does not take."""
        a = self.node("alpha")
        a.wait_ready(timeout=30)
        other = json.loads(json.dumps(CONFIG))
        other["pools"][0]["max"] = INT_MAX + 1
        cfg = write_config(os.path.join(self.tmp, "other.json"), other)
        out = self.refused("beta", os.path.join(self.tmp, "node-beta"), cfg)
        self.assertIn('"int"', out, out)
        range_out = out
        out = self.refused("alpha", os.path.join(self.tmp, "node-alpha2"))
        self.assertIn("alpha", out, out)
        # and with its name on its own data directory, while it lives: the
        # directory's lock refuses it, and the live session stays
        key = "/uniqd/node/alpha"
        rev = [kv["create_revision"] for kv in self.etcd.get_kvs(key)
               if kv["key"] == key]
        out = self.refused("alpha", a.data_dir)
        self.assertTrue(out.strip(), "refused without a word")
        rev2 = [kv["create_revision"] for kv in self.etcd.get_kvs(key)
                if kv["key"] == key]
        self.assertEqual(rev2, rev, "a second process on alpha's data "
                         "directory ended alpha's live session")
        # (sequence pools are served in cluster mode: test_cluster_orders)
        for pool in ({"name": "codes", "kind": "code",
                      "pattern": "##-##", "alphabet": "ABCD",
                      "shards": 1, "shard_size": 4},):
            conf = json.loads(json.dumps(CONFIG))
            conf["pools"].append(pool)
            cfg = write_config(os.path.join(self.tmp, pool["name"] + ".json"),
                               conf)
            out = self.refused("delta", os.path.join(self.tmp, "node-d-" +
                                                     pool["name"]), cfg)
            # which pool, and that cluster mode is why (not a bad config)
            self.assertIn('"%s"' % pool["name"], out, out)
            self.assertIn(pool["kind"], out, out)
            self.assertIn("cluster", out.lower(), out)
        # alpha still serves, and its session is its own
        a.draw("int", timeout=5)
        sess = self.etcd.get_kvs("/uniqd/node/")
        self.assertEqual([kv["key"] for kv in sess], ["/uniqd/node/alpha"])
        # the pool's key is its secret (docs/API.md): not for a log
        key = json.loads(self.etcd.get("/uniqd/pool/int")).get("key")
        self.assertTrue(key, "no key in the definition of pool int")
        self.assertNotIn(str(key).lower(), range_out.lower(),
                         "the refusal of another range logs pool int's "
                         "secret key (the cluster's definition, whole)")

    def test_f_sigstop_past_ttl(self):
        """A node frozen (SIGSTOP) past its session's TTL, then thawed:
        it makes a new session and carries on, no value twice against the
        nodes that served meanwhile."""
        nodes = self.three_nodes()
        frozen = nodes[2]
        key = "/uniqd/node/" + frozen.name
        rev0 = [kv for kv in self.etcd.get_kvs(key) if kv["key"] == key]
        self.assertTrue(rev0, "no session key %s" % key)
        rev0 = rev0[0]["create_revision"]
        self.run_load(nodes, 2, "before")
        self.load.stop_node(frozen)
        os.kill(frozen.proc.pid, signal.SIGSTOP)
        try:
            self.set_phase("frozen")
            time.sleep(TTL + 3)     # the TTL is etcd's: not scaled
            gone = self.etcd.get(key) is None
        finally:
            os.kill(frozen.proc.pid, signal.SIGCONT)
        self.assertTrue(gone, "the session of a node frozen %d s outlived "
                        "its %d s TTL" % (TTL + 3, TTL))
        self.set_phase("thawed")
        self.load.start(frozen, 2)
        deadline = time.time() + 15 * SLOW
        rev1 = None
        while time.time() < deadline:
            kv = [k for k in self.etcd.get_kvs(key) if k["key"] == key]
            if kv and kv[0]["create_revision"] != rev0:
                rev1 = kv[0]["create_revision"]
                break
            time.sleep(0.1)
        self.assertIsNotNone(rev1, "%s made no new session in %.0f s" %
                             (frozen.name, 15 * SLOW))
        self.set_phase("after", 4)
        self.end_load()
        for n in nodes:
            self.assertGreater(self.load.count("after", n.name), 20,
                               "%s: %r" % (n.name, dict(self.load.stats)))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))
        self.verify(nodes)

    def test_h_name_on_a_fresh_data_dir(self):
        """A node's name started again on a fresh data directory (its disk
        lost; the name defaults to the host name) after a kill -9 must not
        hand out again what the old process handed out. To make the old
        process's last block surely served, it first drains its stock while
        etcd has no quorum (so it can reserve nothing newer)."""
        nodes = self.three_nodes()
        self.run_load(nodes, 2, "before")
        victim = nodes[0]
        lead = self.etcd.leader()
        other = [i for i in range(3) if i != lead][0]
        self.etcd.kill(lead)
        self.etcd.kill(other)
        self.set_phase("lost")
        deadline = time.time() + 25 * SLOW
        while time.time() < deadline and not any(
                k.startswith("503") and v
                for k, v in self.load.stats[("lost", victim.name)].items()):
            time.sleep(0.1)
        self.load.stop_node(victim)
        victim.kill9()
        self.etcd.restart(lead, wait=False)
        self.etcd.restart(other, wait=False)
        self.etcd.wait_healthy(20)
        self.set_phase("down")
        fresh = ClusterNode(self.etcd, victim.name,
                            os.path.join(self.tmp, "node-fresh"),
                            self.config, log_dir=self.tmp)
        self.nodes.append(fresh)
        fresh.start_retry(within=TTL + 8)
        fresh.wait_ready(timeout=20)
        self.load.start(fresh, 2)
        self.set_phase("after", 3)
        self.end_load()
        self.assertGreater(self.load.count("after", fresh.name), 20,
                           "%r" % dict(self.load.stats))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))

    def test_i_name_taken_while_frozen(self):
        """A node frozen past its TTL whose name another process (on
        another data directory) took meanwhile: thawed, it may serve its
        stock, answer 503 or exit, but nothing either of them serves comes
        twice, and it reserves nothing in a session it lost."""
        nodes = self.three_nodes()
        old = nodes[0]
        self.run_load(nodes, 2, "before")
        self.load.stop_node(old)
        os.kill(old.proc.pid, signal.SIGSTOP)
        try:
            self.set_phase("frozen")
            time.sleep(TTL + 3)     # the TTL is etcd's: not scaled
            new = ClusterNode(self.etcd, old.name,
                              os.path.join(self.tmp, "node-new"),
                              self.config, log_dir=self.tmp)
            self.nodes.append(new)
            new.start_retry(within=TTL + 8)
            new.wait_ready(timeout=20)
            self.load.start(new, 2)
        finally:
            os.kill(old.proc.pid, signal.SIGCONT)
        thawed_ms = time.time() * 1000
        self.set_phase("thawed")
        # the thawed process, by hand: any of 200, 503, no answer
        deadline = time.time() + 4 * SLOW
        answers = collections.Counter()
        while time.time() < deadline:
            method, path, pool, key = random.choice(OPS)
            try:
                st, raw = raw_request(old.port, method, path)
            except (OSError, http.client.HTTPException):
                answers["conn"] += 1
                time.sleep(0.1)
                continue
            answers[st] += 1
            if st == 200:
                vals = [canon(pool, t) for t in json_numbers_text(raw, key)]
                with self.load.lock:
                    self.load.values[pool].extend(vals)
            else:
                self.assertEqual(st, 503, raw[:300])
                time.sleep(0.01)
        self.end_load()
        self.note("the thawed process answered %r" % dict(answers))
        self.assertGreater(self.load.count("thawed", new.name), 20,
                           "%r" % dict(self.load.stats))
        self.check_blocks("int", received=len(self.load.values["int"]))
        self.check_blocks("float", received=len(self.load.values["float"]))
        # blocks of the name since the thaw: the new process's only
        with open(os.path.join(old.data_dir, "cluster.id")) as f:
            old_id = f.read().strip()
        with open(os.path.join(new.data_dir, "cluster.id")) as f:
            new_id = f.read().strip()
        self.assertNotEqual(old_id, new_id)
        for pool in ("int", "float"):
            late = [json.loads(kv["value"]) for kv in
                    self.etcd.get_kvs("/uniqd/pool/%s/block/" % pool)]
            late = [b for b in late if b["node"] == old.name and
                    int(b["ms"]) >= thawed_ms]
            self.assertTrue(late, "%s: no block of the new process" % pool)
            for b in late:
                self.assertEqual(b.get("dir"), new_id,
                                 "%s: the thawed process reserved a block "
                                 "in a session it lost: %r" % (pool, b))
        rc = old.stop(check=False)
        log = old.log()
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, log, log[-4000:])
        self.assertGreaterEqual(rc, 0, "the thawed process died of signal "
                                "%d:\n%s" % (-rc, log[-3000:]))
        self.note("the thawed process exited %d" % rc)

    def test_g_opt_in(self):
        """Without --etcd uniqd is the standalone server it was; a data
        directory made standalone is refused by a cluster node."""
        d = os.path.join(self.tmp, "standalone")
        s = Server(d, config=self.config, log_dir=self.tmp)
        s.start()
        try:
            st, _, body = s.get("/random?type=int")
            self.assertEqual(st, 200, body)
            self.assertIn("number", body)
            self.assertEqual(self.etcd.get_prefix("/uniqd/"), {},
                             "a standalone server wrote to etcd")
        finally:
            s.stop()
        out = self.refused("alpha", d)
        self.assertIn("cluster", out.lower(), out)


if __name__ == "__main__":
    unittest.main()
