"""A real etcd cluster for the cluster-mode e2e tests (test_cluster.py), and
uniqd nodes on top of harness.Server. Standard library only.

EtcdCluster starts n etcd members on free 127.0.0.1 ports, each with its
own data directory under one temporary directory, elections made fast for
tests, logs to files beside them. Every member is started so that it dies
with the test runner (harness._die_with_parent), and is stopped by its pid
only. etcd is reached through its JSON gateway (/v3/...): keys and values
are base64 there, and decoded here.

    etcd = EtcdCluster(3).start()
    node = ClusterNode(etcd, "a", data_dir, config).start()
    ... etcd.kill(etcd.leader()); etcd.restart(i); etcd.stop_all()
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import SLOW, Server, _die_with_parent

ETCD = os.environ.get("UNIQ_ETCD", "/usr/bin/etcd")


def etcd_available():
    return os.access(ETCD, os.X_OK)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound, then closed: another
    process could take one in between, which start() reports)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def b64(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.b64encode(text).decode()


def unb64(text):
    return base64.b64decode(text or "").decode(errors="replace")


def prefix_end(prefix):
    """etcd's range_end for every key that starts with prefix."""
    b = bytearray(prefix.encode())
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


class EtcdError(Exception):
    """A gateway request that failed: no answer in time, a refused
    connection, or an error answer."""


class Member:
    def __init__(self, cluster, i, client_port, peer_port):
        self.cluster = cluster
        self.i = i
        self.name = "m%d" % i
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = os.path.join(cluster.tmp, self.name + ".etcd")
        self.proc = None
        self.log_path = None
        self._log = None
        self.starts = 0

    def client_url(self):
        return "http://127.0.0.1:%d" % self.client_port

    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def command(self, state):
        return [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url(),
                "--advertise-client-urls", self.client_url(),
                "--listen-peer-urls", self.peer_url(),
                "--initial-advertise-peer-urls", self.peer_url(),
                "--initial-cluster", self.cluster.initial_cluster(),
                "--initial-cluster-state", state,
                "--initial-cluster-token", self.cluster.token,
                "--heartbeat-interval", "50", "--election-timeout", "500",
                "--logger", "zap", "--log-outputs", "stderr"]

    def start(self, state):
        self.starts += 1
        self.log_path = os.path.join(self.cluster.tmp, "%s-%d.log" %
                                     (self.name, self.starts))
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command(state), stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        self.proc = None
        self._log.close()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        if not self.log_path:
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()


class EtcdCluster:
    """n etcd members on 127.0.0.1; see the module's docstring."""

    def __init__(self, n=3, tmp=None):
        self.own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="uniqd-etcd-")
        ports = free_ports(2 * n)
        self.token = "uniqd-test-%d-%d" % (os.getpid(), ports[0])
        self.members = [Member(self, i, ports[2 * i], ports[2 * i + 1])
                        for i in range(n)]

    # -- processes ---------------------------------------------------------

    def initial_cluster(self):
        return ",".join("%s=%s" % (m.name, m.peer_url())
                        for m in self.members)

    def start(self, timeout=30):
        """Starts every member and waits (bounded) until each answers and
        a leader exists. Returns self."""
        for m in self.members:
            m.start("new")
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop_all()
            raise
        return self

    def wait_healthy(self, timeout=30, members=None):
        """Waits until every live member (or those in members) answers its
        status and names a leader; returns the leader's index."""
        deadline = time.time() + timeout * SLOW
        idx = members if members is not None else [
            m.i for m in self.members if m.alive()]
        last = None
        while time.time() < deadline:
            for i in idx:
                m = self.members[i]
                if m.proc is not None and m.proc.poll() is not None:
                    raise AssertionError("etcd %s exited %s:\n%s" %
                                         (m.name, m.proc.returncode,
                                          m.log()[-3000:]))
            try:
                leaders = set()
                for i in idx:
                    st = self.status(i, timeout=1)
                    leaders.add(st.get("leader", "0"))
                if len(leaders) == 1 and "0" not in leaders:
                    lead = self.leader()
                    if lead is not None:
                        return lead
                last = leaders
            except EtcdError as e:
                last = e
            time.sleep(0.05)
        raise AssertionError("etcd not healthy after %.0f s (%s); logs:\n%s"
                             % (timeout * SLOW, last, self.logs_tail()))

    def endpoints(self):
        return ",".join(m.client_url() for m in self.members)

    def kill(self, i):
        """SIGKILL member i by its pid, and waits for it."""
        return self.members[i].stop(signal.SIGKILL)

    def restart(self, i, wait=True, timeout=30):
        """Starts member i again on its data directory (state existing);
        with wait, until it answers and knows the leader (only when the
        cluster has a quorum with it)."""
        m = self.members[i]
        if m.alive():
            raise AssertionError("etcd %s still runs" % m.name)
        m.start("existing")
        if wait:
            deadline = time.time() + timeout * SLOW
            while True:
                if not m.alive():
                    raise AssertionError("etcd %s exited:\n%s" %
                                         (m.name, m.log()[-3000:]))
                try:
                    if self.status(i, timeout=1).get("leader", "0") != "0":
                        return
                except EtcdError:
                    pass
                if time.time() > deadline:
                    raise AssertionError("etcd %s did not rejoin:\n%s" %
                                         (m.name, m.log()[-3000:]))
                time.sleep(0.05)

    def stop_all(self):
        """Stops every member (SIGTERM, then SIGKILL), by pid."""
        for m in self.members:
            m.stop()

    def cleanup(self):
        self.stop_all()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def logs_tail(self, n=1500):
        return "\n".join("--- %s\n%s" % (m.name, m.log()[-n:])
                         for m in self.members)

    # -- the JSON gateway --------------------------------------------------

    def call(self, i, path, body, timeout=3):
        """POSTs body (a dict) to member i's gateway path; returns the JSON
        answer. EtcdError when it cannot be reached, times out, or answers
        an error."""
        m = self.members[i]
        c = http.client.HTTPConnection("127.0.0.1", m.client_port,
                                       timeout=timeout)
        try:
            c.request("POST", path, body=json.dumps(body),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException) as e:
            raise EtcdError("%s %s: %s" % (m.name, path, e))
        finally:
            c.close()
        try:
            obj = json.loads(data)
        except ValueError:
            raise EtcdError("%s %s: %s %r" % (m.name, path, r.status,
                                              data[:200]))
        if r.status != 200 or "error" in obj or "code" in obj and \
                obj.get("code"):
            raise EtcdError("%s %s: %s %r" % (m.name, path, r.status, obj))
        return obj

    def any_call(self, path, body, timeout=3):
        """call() on the first live member that answers."""
        err = None
        for m in self.members:
            if not m.alive():
                continue
            try:
                return self.call(m.i, path, body, timeout)
            except EtcdError as e:
                err = e
        raise err or EtcdError("no live etcd member")

    def status(self, i, timeout=2):
        return self.call(i, "/v3/maintenance/status", {}, timeout)

    def leader(self):
        """The index of the leader member, or None when the live members
        know of none (or it is not one of ours)."""
        ids = {}
        lead = None
        for m in self.members:
            if not m.alive():
                continue
            try:
                st = self.status(m.i, timeout=1)
            except EtcdError:
                continue
            ids[st["header"]["member_id"]] = m.i
            if st.get("leader", "0") != "0":
                lead = st["leader"]
        return ids.get(lead) if lead else None

    def put(self, key, value, timeout=3):
        return self.any_call("/v3/kv/put", {"key": b64(key),
                                            "value": b64(value)}, timeout)

    def get(self, key, timeout=3):
        """The value of key (decoded), or None."""
        r = self.any_call("/v3/kv/range", {"key": b64(key)}, timeout)
        kvs = r.get("kvs") or []
        return unb64(kvs[0].get("value")) if kvs else None

    def get_kvs(self, prefix, timeout=5):
        """Every key that starts with prefix, read at one revision, as
        dicts: key and value (decoded), create_revision, mod_revision,
        lease (ints; 0 when absent)."""
        r = self.any_call("/v3/kv/range",
                          {"key": b64(prefix),
                           "range_end": b64(prefix_end(prefix))}, timeout)
        return [{"key": unb64(kv["key"]), "value": unb64(kv.get("value")),
                 "create_revision": int(kv.get("create_revision", 0)),
                 "mod_revision": int(kv.get("mod_revision", 0)),
                 "lease": int(kv.get("lease", 0))}
                for kv in r.get("kvs") or []]

    def get_prefix(self, prefix, timeout=5):
        """{key: value} (decoded) of every key that starts with prefix."""
        r = self.any_call("/v3/kv/range",
                          {"key": b64(prefix),
                           "range_end": b64(prefix_end(prefix))}, timeout)
        return {unb64(kv["key"]): unb64(kv.get("value"))
                for kv in r.get("kvs") or []}


class ClusterNode(Server):
    """A uniqd node of the cluster etcd, named name: harness.Server with
    --etcd and --node."""

    def __init__(self, etcd, name, data_dir, config=None, args=(),
                 env=None, log_dir=None):
        self.etcd = etcd
        self.name = name
        super().__init__(data_dir, config=config,
                         args=["--etcd", etcd.endpoints(), "--node", name]
                         + list(args), env=env, log_dir=log_dir)

    def start_retry(self, within=20, timeout=20):
        """start(), again while the node exits at once (its old session may
        still live in etcd until its TTL ends), for up to within seconds
        (times SLOW). Returns (self, attempts)."""
        deadline = time.time() + within * SLOW
        attempts = 0
        while True:
            attempts += 1
            try:
                self.start(timeout=timeout)
                return self, attempts
            except AssertionError:
                if self.proc is not None and self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                if self._log:
                    self._log.close()
                self.proc = None
                if time.time() > deadline:
                    raise
                time.sleep(0.5)


def run_exit(cmd, timeout=30, env=None):
    """Runs cmd to its end; returns (exit status, stdout + stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=e,
                       timeout=timeout * SLOW, stdin=subprocess.DEVNULL,
                       preexec_fn=_die_with_parent)
    return p.returncode, p.stdout + p.stderr
