"""End-to-end test harness: starts the real uniqd binary on a temporary data
directory and a free port on 127.0.0.1, talks real HTTP to it, and runs the
real uniqctl and uniqd-stress. Standard library only.

The binaries come from the environment (meson sets them): UNIQD, UNIQCTL,
UNIQD_STRESS, UNIQ_CORRUPT. A server that logs a sanitizer report, or does
not exit 0 on SIGTERM (LeakSanitizer exits non-zero on a leak), fails the
test that stops it.
"""
import ctypes
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

UNIQD = os.environ.get("UNIQD", "build/server/uniqd")
UNIQCTL = os.environ.get("UNIQCTL", "build/tools/uniqctl")
UNIQD_STRESS = os.environ.get("UNIQD_STRESS", "build/stress/uniqd-stress")
UNIQ_CORRUPT = os.environ.get("UNIQ_CORRUPT", "build/tests/uniq-corrupt")

# Sanitizer reports make a run fail even where the exit status would not.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer",
                   "ERROR: ThreadSanitizer")

# Slow builds (sanitizers) get more time for everything.
SLOW = float(os.environ.get("UNIQ_TEST_SLOW", "1"))

os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
os.environ.setdefault("TSAN_OPTIONS", "halt_on_error=0")


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """In the child before exec: SIGTERM when the test runner dies, so that
    a runner killed by a timeout leaves no server behind."""
    _libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def write_config(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


class Server:
    """One uniqd process. Use start(), then request()/client(), then stop()."""

    def __init__(self, data_dir, config=None, args=(), env=None, log_dir=None):
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.config = config
        self.args = list(args)
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None
        self.log_path = None
        self._log = None

    def command(self):
        cmd = [UNIQD, "--data-dir", self.data_dir, "--listen", "127.0.0.1:0"]
        if self.config:
            cmd += ["--config", self.config]
        return cmd + self.args

    def start(self, timeout=20):
        """Starts uniqd on port 0 and learns the port it got: from its
        "listening on" line, or with --quiet (which drops that line) from
        the socket it listens on."""
        fd, self.log_path = tempfile.mkstemp(prefix="uniqd-log-",
                                             suffix=".txt", dir=self.log_dir)
        self._log = os.fdopen(fd, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=_die_with_parent)
        quiet = "--quiet" in self.args
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                return self
            port = listening_port(self.proc.pid) if quiet else None
            if port:
                self.port = port
                return self
            if self.proc.poll() is not None:
                raise AssertionError("uniqd exited with %s:\n%s" %
                                     (self.proc.returncode, self.log()))
            time.sleep(0.02)
        self.proc.kill()
        raise AssertionError("uniqd did not start:\n" + self.log())

    def log(self):
        if not self.log_path:
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def client(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout * SLOW)

    def request(self, method, path, body=None, headers=None, conn=None):
        """Returns (status, headers dict (lower-case names), parsed JSON or
        text). Uses conn if given (keep-alive), else a new connection."""
        own = conn is None
        c = conn or self.client()
        try:
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                hdrs.setdefault("Content-Type", "application/json")
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            rh = {k.lower(): v for k, v in r.getheaders()}
            ctype = rh.get("content-type", "")
            if ctype.startswith("application/json") and data:
                try:
                    return r.status, rh, json.loads(data)
                except ValueError:
                    raise AssertionError("bad JSON from %s %s: %r" %
                                         (method, path, data[:200]))
            return r.status, rh, data.decode(errors="replace")
        finally:
            if own:
                c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def wait_ready(self, pools=("int", "float"), minimum=1, timeout=30):
        """Waits until each of the pools has at least minimum values ready
        (in its shards and hoppers together)."""
        deadline = time.time() + timeout * SLOW
        last = None
        while time.time() < deadline:
            st, _, body = self.get("/pools")
            if st == 200:
                by = {p["name"]: p for p in body["pools"]}
                last = by
                if all(p in by and by[p]["ready"] >= minimum for p in pools):
                    return by
            time.sleep(0.05)
        raise AssertionError("pools not ready: %r" % (last,))

    def draw(self, pool_type="int", conn=None, timeout=2):
        """One /random value, retrying 503 refilling for up to timeout
        seconds (times SLOW)."""
        deadline = time.time() + timeout * SLOW
        while True:
            st, h, body = self.get("/random?type=" + pool_type, conn=conn)
            if st == 200:
                return body
            if st != 503 or body.get("error") != "refilling":
                raise AssertionError("GET /random: %s %r" % (st, body))
            if time.time() > deadline:
                raise AssertionError("still refilling after %.1f s" %
                                     (timeout * SLOW))
            time.sleep(0.01)

    def get_until(self, path, done=lambda st: st != 503, timeout=10,
                  conn=None):
        """GETs path until done(status) (by default: until it is not a
        503), for up to timeout seconds (times SLOW); returns the last
        (status, raw body text), as raw_get."""
        deadline = time.time() + timeout * SLOW
        while True:
            st, raw = raw_get(self.port, path, conn=conn)
            if done(st) or time.time() > deadline:
                return st, raw
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=30, check=True):
        """Stops the server; with check, requires a clean exit (status 0,
        no sanitizer report)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("uniqd did not stop on %s:\n%s" %
                                 (sig, self.log()[-3000:]))
        self._log.close()
        log = self.log()
        self.proc = None
        if check:
            for mark in SANITIZER_MARKS:
                if mark in log:
                    raise AssertionError("sanitizer report:\n" + log[-6000:])
            if sig != signal.SIGKILL and rc != 0:
                raise AssertionError("uniqd exited %s:\n%s" % (rc, log[-3000:]))
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL, check=True)


def listening_port(pid):
    """The TCP port process pid listens on (from /proc), or None."""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            # local address, state 0A (LISTEN), inode
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                return int(cols[1].rsplit(":", 1)[1], 16)
    return None


def send_head(port, method, path, headers):
    """Sends a request's head only, no body whatever its Content-Length
    says, and reads the answer: for answers given before the body (413),
    which a client still sending its body could miss (the server closes
    the connection after such an answer, and a client writing into it may
    get a reset first). Returns (status, headers (lower-case names),
    parsed JSON or text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        data = r.read()
        rh = {k.lower(): v for k, v in r.getheaders()}
        if rh.get("content-type", "").startswith("application/json"):
            return r.status, rh, json.loads(data)
        return r.status, rh, data.decode(errors="replace")
    finally:
        c.close()


def json_numbers_text(raw, key):
    """The exact text of the numbers under key in a JSON body, without going
    through float: {"number": 1.500000} must compare as "1.500000"."""
    m = re.search(r'"%s"\s*:\s*(\[[^\]]*\]|[-0-9.eE+]+)' % re.escape(key), raw)
    if not m:
        raise AssertionError("no %s in %r" % (key, raw[:200]))
    t = m.group(1)
    if t.startswith("["):
        return [x.strip() for x in t[1:-1].split(",") if x.strip()]
    return [t]


def raw_get(port, path, conn=None, method="GET"):
    """GET returning (status, raw body text): for exact number text."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30 * SLOW)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        if conn is None:
            c.close()


def run(cmd, timeout=120, check=None, env=None):
    """Runs a command; returns CompletedProcess with text output. Fails the
    test on a sanitizer report in its output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout * SLOW, env=e)
    for mark in SANITIZER_MARKS:
        if mark in p.stdout or mark in p.stderr:
            raise AssertionError("sanitizer report from %s:\n%s" %
                                 (cmd, p.stderr[-6000:]))
    if check is not None and p.returncode != check:
        raise AssertionError("%s exited %s (wanted %s)\nstdout:\n%s\nstderr:\n%s"
                             % (cmd, p.returncode, check, p.stdout[-3000:],
                                p.stderr[-3000:]))
    return p


def uniqctl(data_dir, *args, config=None, check=None, timeout=300):
    cmd = [UNIQCTL, "--data-dir", data_dir]
    if config:
        cmd += ["--config", config]
    return run(cmd + list(args), check=check, timeout=timeout)


class ServerTest(unittest.TestCase):
    """A test case with a fresh temporary directory; servers started with
    self.server() are stopped (and checked) at the end of the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="uniqd-e2e-")
        self.data = os.path.join(self.tmp, "data")
        self._servers = []

    def tearDown(self):
        errors = []
        for s in self._servers:
            if s.proc is not None:
                try:
                    s.stop()
                except AssertionError as e:
                    errors.append(str(e))
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            self.fail("\n".join(errors))

    def server(self, config=None, args=(), data_dir=None, start=True, env=None):
        if isinstance(config, dict):
            config = write_config(os.path.join(self.tmp, "config-%d.json" %
                                               len(self._servers)), config)
        s = Server(data_dir or self.data, config=config, args=args, env=env,
                   log_dir=self.tmp)
        self._servers.append(s)
        if start:
            s.start()
        return s

    def config(self, obj, name="config.json"):
        return write_config(os.path.join(self.tmp, name), obj)


def parallel(n, fn):
    """Runs fn(i) on n threads; re-raises the first exception."""
    errors = []
    results = [None] * n

    def body(i):
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: B902 - report anything
            errors.append(e)

    ts = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return results
