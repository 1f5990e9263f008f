"""The crash matrix (issue 6, item 1): kill -9 at many moments of every kind
of work, restart on the same data directory, and check with the clients'
own records and `uniqctl verify` that nothing was handed out twice and
nothing committed was lost.

Kinds, one test each; every kill is followed by `uniqctl verify` (server
stopped) and a restart on the same data directory, and each kind ends with
a clean stop (exit 0, no sanitizer report) and a last verify:

  random    GET /random (int and float, count 1 and 5) from keep-alive
            clients in threads; every value received is recorded: none
            twice across all kills and restarts, and a sample of them is
            audited (issued and served)
  refill    the same with shards of 2000 and 5000 values and counts up to
            100, so that the fillers and takers run all the time
  init      `uniqctl init` of shards of 600k values, uniqctl (not a
            server) killed at progress targets, run again, run to the end
            (every shard full), then served and drawn from; every other
            round with a server serving the data directory beside the
            killed uniqctl, which must go on serving
  job       POST /pools/codes/jobs of 300k to 600k codes, the server killed
            right after the 202 ("posted"), at fractions of the job, when
            its file is complete ("finish": around the rename and the
            commit of "done"), and right after a restart ("resume": while
            the file is checked against the ledger); the job is never lost
            and ends with exactly count distinct codes, each in the ledger
            as the job's, none drawn by the /pools/codes/next clients that
            run all along
  codegen   `uniqctl codes generate` of 600k codes killed at progress
            targets, run again to another --out (every other run beside a
            server drawing from the pool): no code in two files, nor in
            a file and a draw (a killed run's codes are the complete lines
            of its .part, and the ledger has them as uniqctl's)
  leases    12 threads borrowing and returning over 32 numbers; after each
            restart every lease acknowledged (201) and not acknowledged
            returned is out, to its holder; no number is lent to a second
            client while a first holds it; no return acknowledged is
            still out; a borrow or return cut by the kill is settled by
            the server's list
  orders    threads POSTing /orders (and /pools/orders/next?count=3): no id
            acknowledged twice, ids after a restart above every id
            acknowledged before (same day), and a sample of them audited
  mixed     all of the server's work at once on one data directory (draws
            from int, float and codes with small shards, orders, leases, a
            new code job in every life), with all the checks above

Moments: "boot" (uniqd killed before it listens: the first kill of
`random` is one, on the fresh directory), "start" (within 50 ms of
listening, clients just started), "early", "mid", "late" (times, or for
init, jobs and codes generate, fractions of the work done), "stopping"
(SIGTERM, then kill -9 within 30 ms: in the middle of the clean stop),
and for jobs "posted", "finish" and "resume". Delays are scaled by
UNIQ_TEST_SLOW, and the number of kills is divided by its square root
(half under sanitizers). A client connection cut before the server was
signalled is an error too.

Replay: every moment and delay comes from one seed, printed at the start;
UNIQ_CRASH_SEED=N replays the schedule (thread timing is not replayable),
UNIQ_CRASH_SCALE=F multiplies the number of kills (a soak), and one kind
alone runs with `python3 -m unittest test_crash.CrashTest.test_6_leases`.
Each kill is logged ("crash 12.3 s: seed 6001 leases kill #4 at mid
(0.541 s)"). At the end a table of what was tried goes to stderr, and to
the file that UNIQ_CRASH_REPORT names, if set.
"""
import collections
import http.client
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import (SANITIZER_MARKS, SLOW, UNIQCTL, Server, ServerTest,
                     _die_with_parent, json_numbers_text, raw_get, uniqctl)

SEED = int(os.environ.get("UNIQ_CRASH_SEED", "6001"))
SCALE = float(os.environ.get("UNIQ_CRASH_SCALE", "1"))

# What a kill -9 does to a client in the middle of a request.
CUT = (OSError, http.client.HTTPException)


class Cut(Exception):
    """A client's connection was cut: ends the client; Clients checks that
    it was not before the server was sent a signal."""

    def __init__(self, e):
        super().__init__("%s: %s" % (type(e).__name__, e))
        self.at = time.time()


class Stopping(Exception):
    """The server answered 503 shutting_down: it was sent SIGTERM. For a
    client that ends the run like a cut connection (raised as a Cut), and
    like a cut it is an error if it came before the signal."""


def stopping(st, body):
    """True for a stopping server's answer; body is the JSON (a dict) or
    its raw text."""
    if st != 503:
        return False
    if isinstance(body, dict):
        return body.get("error") == "shutting_down"
    return '"shutting_down"' in body


# Seconds (before scaling by SLOW) from the moment of reference: the spawn
# for "boot", else the "listening" line, clients started at once.
WINDOWS = {"boot": (0.0, 0.04), "start": (0.0, 0.05), "early": (0.05, 0.3),
           "mid": (0.3, 0.9), "late": (0.9, 1.8),
           "stopping": (0.2, 0.8), "posted": (0.0, 0.005),
           "resume": (0.0, 0.03)}
# Fractions of the work done, for init, jobs and codes generate.
FRACTIONS = {"early": (0.02, 0.25), "mid": (0.35, 0.65),
             "late": (0.75, 0.95), "finish": (1.0, 1.0)}
SERVER_MOMENTS = ["boot", "start", "early", "mid", "late", "stopping"]

CODE_RE = re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}$")
ORDER_RE = re.compile(r"^(\d{8})-(\d{8})$")
CODE_LEN = 12   # "#####-#####\n"


def kills(n):
    """The number of kills for a kind: n on a plain build."""
    return max(2, int(round(n * SCALE / SLOW ** 0.5)))


def plan(rng, n, moments, first=None):
    """n moments spread evenly over the kinds of moment, in random order
    (first, if given, first)."""
    order = [moments[i % len(moments)] for i in range(n)]
    rng.shuffle(order)
    if first in order:
        order.remove(first)
        order.insert(0, first)
    return order


T0 = time.time()


def log(msg):
    sys.stderr.write("crash %6.1f s: %s\n" % (time.time() - T0, msg))
    sys.stderr.flush()


# ---- the report ------------------------------------------------------------

class Row:
    """What one kind tried and found."""

    def __init__(self, kind, unit):
        self.kind = kind
        self.unit = unit
        self.kills = 0
        self.missed = 0      # kill targets the work finished before
        self.unborn = 0      # verifies of a data dir no uniqd started on
        self.restarts = 0
        self.checked = 0
        self.dups = 0
        self.lost = 0
        self.other = 0
        self.moments = collections.Counter()
        self.problems = []
        self.t0 = time.time()
        self.secs = 0.0
        self.note = ""

    def problem(self, what, msg):
        setattr(self, what, getattr(self, what) + 1)
        self.problems.append("[%s] %s" % (what, msg))
        log("PROBLEM (%s) %s: %s" % (self.kind, what, msg[:2000]))


ROWS = []


def table():
    head = ("kind", "kills", "restarts", "checked", "dups", "lost", "other",
            "time")
    lines = []
    total = Row("total", "")
    for r in ROWS:
        lines.append((r.kind, str(r.kills), str(r.restarts),
                      "%d %s" % (r.checked, r.unit), str(r.dups),
                      str(r.lost), str(r.other), "%.1f s" % r.secs))
        for k in ("kills", "restarts", "dups", "lost", "other", "secs"):
            setattr(total, k, getattr(total, k) + getattr(r, k))
    lines.append(("total", str(total.kills), str(total.restarts), "",
                  str(total.dups), str(total.lost), str(total.other),
                  "%.1f s" % total.secs))
    widths = [max(len(x[i]) for x in [head] + lines) for i in range(8)]

    def fmt(row):
        return "  ".join(c.ljust(w) if i in (0, 3) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    out = ["crash matrix: seed %d, UNIQ_TEST_SLOW=%g, scale %g, sanitize %s"
           % (SEED, SLOW, SCALE, os.environ.get("UNIQ_SANITIZE", "none")),
           fmt(head), fmt(["-" * w for w in widths])]
    out += [fmt(x) for x in lines[:-1]]
    out.append(fmt(["-" * w for w in widths]))
    out.append(fmt(lines[-1]))
    out.append("")
    for r in ROWS:
        m = ", ".join("%s %d" % (k, v) for k, v in sorted(r.moments.items()))
        out.append("%-8s moments: %s%s%s%s" % (
            r.kind, m, "; %d finished before the kill" % r.missed
            if r.missed else "",
            "; %d verify of a data directory whose creation was killed "
            "(tolerated: see CrashTest.verify)" % r.unborn
            if r.unborn else "",
            "; " + r.note if r.note else ""))
    out.append("dups: values/ids/codes received twice or numbers lent to "
               "two holders; lost: committed leases, jobs or codes missing "
               "after a restart; other: anything else wrong (verify, a "
               "return acknowledged but still out, an id going back, a bad "
               "answer)")
    for r in ROWS:
        for p in r.problems[:20]:
            out.append("%s: %s" % (r.kind, p[:600]))
    return "\n".join(out) + "\n"


def setUpModule():
    log("seed %d (UNIQ_CRASH_SEED=%d replays the schedule), "
        "UNIQ_TEST_SLOW=%g, scale %g" % (SEED, SEED, SLOW, SCALE))


def tearDownModule():
    if not ROWS:
        return
    text = table()
    sys.stderr.write("\n" + text)
    sys.stderr.flush()
    path = os.environ.get("UNIQ_CRASH_REPORT")
    if path:
        with open(path, "w") as f:
            f.write(text)


# ---- processes ----------------------------------------------------------

class CrashServer(Server):
    """A Server that can be killed before it listens: spawn(), then
    wait_listening() (start() does both)."""

    def spawn(self):
        fd, self.log_path = tempfile.mkstemp(prefix="uniqd-log-",
                                             suffix=".txt", dir=self.log_dir)
        self._log = os.fdopen(fd, "w")
        self.port = None
        self.proc = subprocess.Popen(self.command(), stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=_die_with_parent)
        return self

    def wait_listening(self, timeout=20):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise AssertionError("uniqd exited with %s:\n%s" %
                                     (self.proc.returncode, self.log()))
            time.sleep(0.005)
        raise AssertionError("uniqd did not start:\n" + self.log())

    def start(self, timeout=20):
        return self.spawn().wait_listening(timeout)


class Tool:
    """A uniqctl run to be killed: stderr read by a thread (init's progress
    lines "init:  41% ...")."""

    def __init__(self, args):
        self.t0 = time.time()
        self.proc = subprocess.Popen([UNIQCTL] + args,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)
        self.lines = []
        self.pct = 0
        self.pct_at = 0.0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"init: +(\d+)%", line)
            if m:
                self.pct = int(m.group(1))
                self.pct_at = time.time() - self.t0

    def running(self):
        return self.proc.poll() is None

    def kill(self, row, ctx):
        """kill -9 (by pid); True if it was killed, False if it had
        finished (a sanitizer report or a failure is a problem)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait()
        self.reader.join(30 * SLOW)
        self.proc.stderr.close()
        out = "".join(self.lines)
        for mark in SANITIZER_MARKS:
            if mark in out:
                row.problem("other", "%s: sanitizer report from uniqctl:\n%s"
                            % (ctx, out[-6000:]))
                raise AssertionError(row.problems[-1])
        if rc not in (0, -signal.SIGKILL):
            row.problem("other", "%s: uniqctl exited %s before the kill:\n%s"
                        % (ctx, rc, out[-3000:]))
            raise AssertionError(row.problems[-1])
        return rc == -signal.SIGKILL


class Clients:
    """n client threads running fn(i, stop); errors (other than the cut
    connection a kill makes, which fn handles) are collected."""

    def __init__(self, n, fn):
        self.stop = threading.Event()
        self.errors = []
        self.cuts = []
        self.threads = [threading.Thread(target=self._run, args=(fn, i))
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def _run(self, fn, i):
        try:
            fn(i, self.stop)
        except Cut as e:
            self.cuts.append((e.at, i, str(e)))
        except BaseException as e:  # noqa: B902 - report anything
            self.errors.append("client %d: %s: %s" % (i, type(e).__name__,
                                                      str(e)[:500]))

    def finish(self, stop=True, signalled=None):
        """Stops and joins the clients; returns the errors, counting as
        one a connection cut before `signalled` (the time the server was
        sent SIGTERM or SIGKILL; None: it never was)."""
        if stop:
            self.stop.set()
        for t in self.threads:
            t.join(60 * SLOW)
            if t.is_alive():
                self.errors.append("a client thread hung")
        for at, i, e in self.cuts:
            if signalled is None or at < signalled:
                self.errors.append("client %d: connection cut by a live "
                                   "server (%.3f s before any signal): %s" %
                                   (i, (signalled or time.time()) - at, e))
        return self.errors


def lines_of(text):
    if text == "":
        return []
    return text[:-1].split("\n") if text.endswith("\n") else \
        text.split("\n") + ["<no final newline>"]


def dup_count(values):
    c = collections.Counter(values)
    d = [(v, n) for v, n in c.items() if n > 1]
    return sum(n - 1 for _, n in d), [v for v, _ in d[:5]]


# ---- the tests ------------------------------------------------------------

class CrashTest(ServerTest):

    # ---- helpers --------------------------------------------------------

    def setUp(self):
        super().setUp()
        self.row = None

    def begin(self, kind, unit):
        self.row = Row(kind, unit)
        ROWS.append(self.row)
        self.rng = random.Random("%d-%s" % (SEED, kind))
        return self.row

    def end(self):
        """Fails the test on any problem the row holds."""
        r = self.row
        r.secs = time.time() - r.t0
        log("%s: %d kills, %d restarts, %d %s checked, %d dups, %d lost, "
            "%d other, %.1f s" % (r.kind, r.kills, r.restarts, r.checked,
                                  r.unit, r.dups, r.lost, r.other, r.secs))
        self.assertEqual(r.problems, [], "seed %d, kind %s" % (SEED, r.kind))

    def run(self, result=None):
        # the row's time is also right when a test ends by an exception
        try:
            return super().run(result)
        finally:
            row = getattr(self, "row", None)
            if row is not None and not row.secs:
                row.secs = time.time() - row.t0

    def ctx(self, k, moment, how):
        self.row.moments[moment] += 1
        c = "seed %d %s kill #%d at %s (%s)" % (SEED, self.row.kind, k + 1,
                                                moment, how)
        log(c)
        return c

    def crash_server(self, cfg_path, data, row, ctx, wait=True):
        s = CrashServer(data, config=cfg_path, log_dir=self.tmp)
        self._servers.append(s)
        s.spawn()
        if wait:
            try:
                s.wait_listening()
            except AssertionError as e:
                row.problem("other", "%s: uniqd did not (re)start on its "
                            "data directory: %s" % (ctx, str(e)[-3000:]))
                raise
        return s

    def kill_server(self, s, row, ctx):
        if s.proc.poll() is not None:
            row.problem("other", "%s: uniqd exited by itself (%s) before the "
                        "kill:\n%s" % (ctx, s.proc.returncode,
                                       s.log()[-3000:]))
            s.stop(check=False)
            raise AssertionError(row.problems[-1])
        try:
            s.signalled = getattr(s, "signalled", None) or time.time()
            s.kill9()
        except AssertionError as e:
            row.problem("other", "%s: %s" % (ctx, str(e)[-3000:]))
            raise
        row.kills += 1

    def serve_then_kill(self, s, m, d, k, row, ctx):
        """Lets s work for d seconds, then kill -9. At "stopping", SIGTERM
        first and kill -9 up to 30 ms later, in the middle of the clean
        stop (requests finishing, unsent values going back to their
        shards, the committer draining); a stop that ends first is
        checked as a clean stop and counted as missed."""
        time.sleep(d)
        if m == "stopping":
            d2 = random.Random("%d-%s-%d-stop" % (SEED, row.kind, k)) \
                .uniform(0, 0.03) * SLOW
            log("%s: SIGTERM, kill -9 %.3f s later" % (ctx, d2))
            if s.proc.poll() is None:
                s.signalled = time.time()
                s.proc.send_signal(signal.SIGTERM)
            time.sleep(d2)
            if s.proc.poll() is not None:
                try:
                    s.stop()
                except AssertionError as e:
                    row.problem("other", "%s: clean stop: %s" %
                                (ctx, str(e)[-3000:]))
                    raise
                row.missed += 1
                return
        self.kill_server(s, row, ctx)

    def verify(self, data, cfg_path, row, ctx, unborn_ok=False):
        """uniqctl verify must exit 0. With unborn_ok (no uniqd or uniqctl
        init has yet finished creating the pools on data), these kills are
        tolerated and counted: before the ledger file exists, or while it
        is still 0 bytes (between its open(2) and LMDB's header write):
        "no such file"; before the ledger's first commit ("not a uniqd
        ledger": an LMDB file with nothing in it); between the pools'
        creations (one transaction each: "not in the ledger yet"); before
        a new shard's first commit ("is not shard N of pool P"). Verify
        opens read-only and cannot finish the creation; the next start or
        init does, and the verify after it must be clean. (A 0-byte shard
        file holds nothing: verify passes over it.)"""
        p = uniqctl(data, "verify", config=cfg_path)
        if unborn_ok and p.returncode == 1 and (
                "is not in the ledger yet" in p.stderr or
                "not a uniqd ledger" in p.stderr or
                re.search(r"cannot open the ledger \S+: no such file",
                          p.stderr) or
                re.search(r"shards/\S+\.mdb is not shard \d+ of pool",
                          p.stderr)):
            row.unborn += 1
            log("%s: verify before any start completed: %s" %
                (ctx, p.stderr.strip()))
            return p.stdout
        if p.returncode != 0 or "verify: ok" not in p.stdout:
            what = "dups" if "twice" in p.stdout else "other"
            row.problem(what, "%s: uniqctl verify exited %s:\n%s%s" %
                        (ctx, p.returncode, p.stdout[-3000:],
                         p.stderr[-2000:]))
            raise AssertionError(row.problems[-1])
        return p.stdout

    def check_clients(self, clients, row, ctx, s=None):
        """Stops clients; with s, the server they talked to, which was
        signalled (killed, or stopped) before: a cut before is an error."""
        for e in clients.finish(signalled=getattr(s, "signalled", None)
                                if s else time.time()):
            row.problem("other", "%s: %s" % (ctx, e))

    # ---- /random: serving, and refill under way ------------------------

    def drawer(self, s, outs, seed, counts, limit):
        def fn(i, stop):
            rnd = random.Random("%s-%d" % (seed, i))
            out = outs[i]
            conn = s.client()
            try:
                n = 0
                while n < limit and not stop.is_set():
                    t = rnd.choice(("int", "float"))
                    c = rnd.choice(counts)
                    path = "/random?type=%s" % t + \
                        ("&count=%d" % c if c > 1 else "")
                    try:
                        st, raw = raw_get(s.port, path, conn=conn)
                    except CUT as e:
                        raise Cut(e)
                    if st == 200:
                        out[t].extend(json_numbers_text(
                            raw, "numbers" if c > 1 else "number"))
                        n += 1
                    elif st == 503 and '"refilling"' in raw:
                        out["503"] = out.get("503", 0) + 1
                        time.sleep(0.002)
                    elif stopping(st, raw):
                        raise Cut(Stopping(path))
                    else:
                        raise AssertionError("%s -> %s %s" %
                                             (path, st, raw[:300]))
            finally:
                conn.close()
        return fn

    def random_matrix(self, kind, cfg, nkills, nclients, counts, first=None):
        row = self.begin(kind, "values")
        path = self.config(cfg, kind + ".json")
        moments = plan(self.rng, nkills, SERVER_MOMENTS, first)
        delays = [self.rng.uniform(*WINDOWS[m]) * SLOW for m in moments]
        outs = []
        born = False    # a uniqd has listened on the data directory
        for k, (m, d) in enumerate(zip(moments, delays)):
            ctx = self.ctx(k, m, "%.3f s" % d)
            s = self.crash_server(path, self.data, row, ctx, m != "boot")
            born = born or m != "boot"
            if k:
                row.restarts += 1
            if m == "boot":
                self.serve_then_kill(s, m, d, k, row, ctx)
            else:
                mine = [{"int": [], "float": []} for _ in range(nclients)]
                outs += mine
                cl = Clients(nclients, self.drawer(s, mine, "%d-%s-%d" %
                                                   (SEED, kind, k), counts,
                                                   50000))
                self.serve_then_kill(s, m, d, k, row, ctx)
                self.check_clients(cl, row, ctx, s)
            self.verify(self.data, path, row, ctx, unborn_ok=not born)
        # a last server: it draws, is looked up, and stops cleanly
        ctx = "seed %d %s: last restart" % (SEED, kind)
        s = self.crash_server(path, self.data, row, ctx)
        row.restarts += 1
        s.wait_ready()
        mine = [{"int": [], "float": []} for _ in range(nclients)]
        outs += mine
        cl = Clients(nclients, self.drawer(s, mine, "%d-%s-last" %
                                           (SEED, kind), counts, 300))
        for e in cl.finish(stop=False):
            row.problem("other", "%s: %s" % (ctx, e))
        conn = s.client()
        for pool in ("int", "float"):
            vals = [v for o in outs for v in o[pool]]
            row.checked += len(vals)
            d, ex = dup_count(vals)
            if d:
                row.problem("dups", "pool %s: %d values received twice, "
                            "e.g. %s" % (pool, d, ex))
            sample = random.Random(SEED).sample(vals, min(20, len(vals)))
            for v in sample:
                st, _, a = s.get("/pools/%s/values/%s" % (pool, v),
                                 conn=conn)
                if st != 200 or not a.get("issued") or \
                        a.get("served") is not True:
                    row.problem("other", "%s: %s %s was received but its "
                                "audit says %s %r" % (ctx, pool, v, st, a))
        conn.close()
        s.stop()
        self.verify(self.data, path, row, ctx)
        self.assertGreater(row.checked, 1000)
        row.note = "%d answers 503 refilling (retried)" % sum(
            o.get("503", 0) for o in outs)
        self.end()

    def test_1_random(self):
        cfg = {"pools": [{"name": "int", "kind": "int", "shards": 2,
                          "shard_size": 50000},
                         {"name": "float", "kind": "float", "shards": 2,
                          "shard_size": 50000}]}
        # the first kill is at boot on the fresh data directory
        self.random_matrix("random", cfg, kills(12), 4, (1, 1, 5),
                           first="boot")

    def test_2_refill(self):
        cfg = {"pools": [{"name": "int", "kind": "int", "min": 0,
                          "max": 10 ** 12, "shards": 4, "shard_size": 2000},
                         {"name": "float", "kind": "float", "min": -1000,
                          "max": 1000, "decimals": 6, "shards": 2,
                          "shard_size": 5000}]}
        self.random_matrix("refill", cfg, kills(12), 4, (1, 10, 100))

    # ---- uniqctl init -----------------------------------------------------

    def test_3_init(self):
        row = self.begin("init", "values")
        cfg = {"pools": [{"name": "int", "kind": "int", "shards": 2,
                          "shard_size": 600000},
                         {"name": "float", "kind": "float", "shards": 1,
                          "shard_size": 300000}]}
        path = self.config(cfg, "init.json")
        n = kills(6)
        # Rounds of two kills on one data directory: the first run killed
        # at start, early or mid, the second (which has what is left to
        # do, and counts its progress in that) early, mid or late.
        nr = (n + 1) // 2
        firsts = plan(self.rng, nr, ["start", "early", "mid"])
        seconds = plan(self.rng, n - nr, ["late", "mid", "early"])
        moments = []
        for r in range(nr):
            moments += [firsts[r]] + seconds[r:r + 1]
        targets = [self.rng.uniform(*WINDOWS["start"]) * SLOW
                   if m == "start" else self.rng.uniform(*FRACTIONS[m])
                   for m in moments]
        rounds = [list(range(i, min(i + 2, n))) for i in range(0, n, 2)]
        for r, ks in enumerate(rounds):
            data = os.path.join(self.tmp, "init-%d" % r)
            outs = []
            # every other round, a server serves the data directory while
            # uniqctl init is killed beside it (LMDB serializes writers
            # across processes: the kill may land holding the write lock)
            beside = r % 2 == 1
            if beside:
                ctx = "seed %d init round %d: server beside" % (SEED, r + 1)
                s = self.crash_server(path, data, row, ctx)
                outs += [{"int": [], "float": []} for _ in range(2)]
                cl = Clients(2, self.drawer(s, outs[-2:], "%d-init-b%d" %
                                            (SEED, r), (10,), 10 ** 6))
            for k in ks:
                m, t = moments[k], targets[k]
                ctx = self.ctx(k, m, ("%.3f s" % t if m == "start" else
                                      "%.3f s" % (t * 0.5 * SLOW) if beside
                                      else "%.0f%%" % (100 * t)) +
                               (", server beside" if beside else ""))
                if k != ks[0]:
                    row.restarts += 1
                tool = Tool(["--data-dir", data, "--config", path, "init"])
                deadline = time.time() + 120 * SLOW
                while tool.running() and time.time() < deadline:
                    el = time.time() - tool.t0
                    if m == "start":
                        if el >= t:
                            break
                    elif beside:
                        # the server's filler does part of the work, and
                        # init's total shrinks: a fraction of 0.5 s
                        if el >= t * 0.5 * SLOW:
                            break
                    elif tool.pct >= 100 * t or (
                            tool.pct >= 5 and
                            el >= tool.pct_at * 100 * t / tool.pct):
                        break   # there, or there by the last line's pace
                    time.sleep(0.001)
                if tool.kill(row, ctx):
                    row.kills += 1
                else:
                    row.missed += 1
                    log("%s: init finished first (%s)" %
                        (ctx, "".join(tool.lines[-2:]).strip()))
                if os.path.exists(os.path.join(data, "ledger.mdb")):
                    self.verify(data, path, row, ctx,
                                unborn_ok=k == ks[0] and not beside)
                if beside:
                    outs.append(self.still_serving(s, row, ctx))
            if beside:
                self.check_clients(cl, row, ctx)
                s.stop()
            # run again to the end: every shard full, nothing held twice
            ctx = "seed %d init round %d: run to the end" % (SEED, r + 1)
            row.restarts += 1
            p = uniqctl(data, "init", config=path)
            if p.returncode != 0:
                row.problem("other", "%s: uniqctl init exited %s: %s" %
                            (ctx, p.returncode, p.stderr[-2000:]))
                continue
            st = uniqctl(data, "status", config=path).stdout
            for shard, want in (("int_shard_0", 600000),
                                ("int_shard_1", 600000),
                                ("float_shard_0", 300000)):
                # (beside a server, more: a clean stop puts its hopper
                # back, and its filler ran beside init)
                m = re.search(r"%s: (\d+) ready" % shard, st)
                if not m or int(m.group(1)) < want or \
                        (int(m.group(1)) != want and not beside):
                    row.problem("other", "%s: %s not full after init:\n%s"
                                % (ctx, shard, st))
            self.verify(data, path, row, ctx)
            # serve what init filled
            s = self.crash_server(path, data, row, ctx)
            s.wait_ready()
            outs += [{"int": [], "float": []} for _ in range(4)]
            cl = Clients(4, self.drawer(s, outs[-4:], "%d-init-%d" %
                                        (SEED, r), (10,), 400))
            for e in cl.finish(stop=False):
                row.problem("other", "%s: %s" % (ctx, e))
            for pool in ("int", "float"):
                vals = [v for o in outs for v in o[pool]]
                row.checked += len(vals)
                d, ex = dup_count(vals)
                if d:
                    row.problem("dups", "%s: pool %s: %d values received "
                                "twice, e.g. %s" % (ctx, pool, d, ex))
            s.stop()
            self.verify(data, path, row, ctx)
        self.end()

    def still_serving(self, s, row, ctx, codes=False, n=30):
        """After a uniqctl beside s was killed: s still draws (n requests
        of 10 from int and float, or of codes, within 30 s), and /pools
        answers. Returns what it drew."""
        got = {"int": [], "float": [], "codes": []}
        conn = s.client()
        deadline = time.time() + 30 * SLOW
        done = 0
        try:
            while done < n and time.time() < deadline:
                t = "codes" if codes else ("int", "float")[done % 2]
                if codes:
                    st, _, b = s.request("POST", "/pools/codes/next?count=10",
                                         conn=conn)
                    raw = str(b)
                else:
                    st, raw = raw_get(s.port, "/random?type=%s&count=10" % t,
                                      conn=conn)
                if st == 200:
                    got[t].extend(b["values"] if codes else
                                  json_numbers_text(raw, "numbers"))
                    done += 1
                elif st == 503 and "refilling" in raw:
                    time.sleep(0.01)
                else:
                    row.problem("other", "%s: beside: %s %s" %
                                (ctx, st, raw[:300]))
                    return got
            if done < n:
                row.problem("other", "%s: the server beside drew %d of %d "
                            "in 30 s after uniqctl was killed (stuck?)" %
                            (ctx, done, n))
            st, _, _ = s.get("/pools", conn=conn)
            if st != 200:
                row.problem("other", "%s: GET /pools -> %s" % (ctx, st))
        except CUT as e:
            row.problem("other", "%s: the server beside is gone after "
                        "uniqctl was killed: %r\n%s" % (ctx, e,
                                                        s.log()[-3000:]))
        finally:
            conn.close()
        return got

    # ---- code jobs in the server ------------------------------------------

    def code_drawer(self, s, drawn, limit):
        def fn(i, stop):
            conn = s.client()
            try:
                n = 0
                while n < limit and not stop.is_set():
                    try:
                        st, _, b = s.request("POST", "/pools/codes/next?"
                                             "count=20", conn=conn)
                    except CUT as e:
                        raise Cut(e)
                    if st == 200:
                        drawn.extend(b["values"])   # atomic under the GIL
                        n += 1
                    elif st == 503 and b.get("error") == "refilling":
                        time.sleep(0.002)
                    elif stopping(st, b):
                        raise Cut(Stopping("/next"))
                    else:
                        raise AssertionError("/next -> %s %r" % (st, b))
            finally:
                conn.close()
        return fn

    def test_4_code_job(self):
        row = self.begin("job", "codes")
        cfg = {"pools": [{"name": "codes", "kind": "code",
                          "pattern": "#####-#####", "shards": 1,
                          "shard_size": 2000}]}
        path = self.config(cfg, "job.json")
        n = kills(10)
        njobs = (n + 1) // 2
        jobs = []   # [count, prefix, [(moment, target)], jid]
        left = n
        for j in range(njobs):
            a = self.rng.choice(["posted", "early", "mid"])
            b = self.rng.choice(["resume", "late", "finish"] +
                                (["mid"] if a != "mid" else []))
            ms = [a, b][:min(2, left)]
            left -= len(ms)
            jobs.append([self.rng.randrange(300000, 600001),
                         self.rng.choice(["", "A", "7Q", "ZK", ""]),
                         [(m, self.rng.uniform(*WINDOWS[m]) * SLOW
                           if m in ("posted", "resume") else
                           self.rng.uniform(*FRACTIONS[m])) for m in ms],
                         None])
        drawn = []
        redeem = Redeemer(row, drawn)
        k = 0
        ctx = "seed %d job: first start" % SEED
        s = self.crash_server(path, self.data, row, ctx)
        cl = Clients(3, redeem.with_drawers(s, self.code_drawer(s, drawn,
                                                                5000)))
        jobdir = os.path.join(self.data, "jobs")

        def progress(job):
            jid, count = job[3], job[0]
            if os.path.exists(os.path.join(jobdir, jid + ".csv")):
                return 1.0
            try:
                return os.path.getsize(os.path.join(
                    jobdir, jid + ".csv.part")) / CODE_LEN / count
            except OSError:
                return 0.0

        def check_records(ctx):
            for job in jobs:
                if job[3] is None:
                    continue
                st, _, b = s.get("/jobs/" + job[3])
                if st != 200:
                    row.problem("lost", "%s: job %s (acknowledged 202) is "
                                "gone: %s %r" % (ctx, job[3], st, b))
                elif (b["count"], b["prefix"]) != (job[0], job[1]) or \
                        b["status"] not in ("queued", "running", "done"):
                    row.problem("lost", "%s: job %s after the restart: %r"
                                % (ctx, job[3], b))

        for job in jobs:
            count, prefix = job[0], job[1]
            st, h, b = s.request("POST", "/pools/codes/jobs",
                                 body={"count": count, "prefix": prefix})
            self.assertEqual(st, 202, b)
            job[3] = b["job"]
            log("job %s: %d codes under %r" % (job[3], count, prefix))
            for x, (m, t) in enumerate(job[2]):
                ctx = self.ctx(k, m, "%.3f s" % t if m in ("posted", "resume")
                               else "%.0f%% of job %s" % (100 * t, job[3]))
                if m in ("posted", "resume"):
                    time.sleep(t)
                else:
                    deadline = time.time() + 60 * SLOW
                    while progress(job) < t and time.time() < deadline:
                        time.sleep(0.0005)
                if progress(job) >= 1.0 and m != "finish":
                    row.missed += 1
                self.kill_server(s, row, ctx)
                self.check_clients(cl, row, ctx, s)
                k += 1
                self.verify(self.data, path, row, ctx)
                s = self.crash_server(path, self.data, row, ctx)
                row.restarts += 1
                if x + 1 == len(job[2]) or job[2][x + 1][0] != "resume":
                    # (before a kill at "resume", after the next restart)
                    check_records(ctx)
                    redeem.check_after_restart(s, ctx)
                cl = Clients(3, redeem.with_drawers(
                    s, self.code_drawer(s, drawn, 5000)))
            self.wait_job(s, job[3], row)
        # every job: exactly count distinct codes, none elsewhere
        ctx = "seed %d job: the end" % SEED
        check_records(ctx)
        seen = {}
        for job in jobs:
            count, prefix, jid = job[0], job[1], job[3]
            st, _, text = s.get("/jobs/%s/codes.csv" % jid)
            if st != 200:
                row.problem("lost", "%s: job %s has no file: %s %s" %
                            (ctx, jid, st, text))
                continue
            codes = lines_of(text)
            row.checked += len(codes)
            bad = [c for c in codes if not CODE_RE.match(c) or
                   not c.startswith(prefix)]
            if bad:
                row.problem("other", "%s: job %s: %d lines off the pattern "
                            "or prefix, e.g. %r" % (ctx, jid, len(bad),
                                                    bad[:3]))
            d, ex = dup_count(codes)
            if d:
                row.problem("dups", "%s: job %s: %d codes twice in its file,"
                            " e.g. %s" % (ctx, jid, d, ex))
            if len(set(codes)) < count:
                row.problem("lost", "%s: job %s: %d distinct codes of %d" %
                            (ctx, jid, len(set(codes)), count))
            elif len(codes) != count:
                row.problem("other", "%s: job %s: %d lines for %d codes" %
                            (ctx, jid, len(codes), count))
            for c in set(codes):
                if c in seen:
                    row.problem("dups", "%s: code %s in job %s and %s" %
                                (ctx, c, jid, seen[c]))
                seen[c] = "job " + jid
            # the ledger knows them as the job's: no other stream can
            # issue them again
            conn = s.client()
            for c in random.Random(SEED).sample(codes, min(30, len(codes))):
                st, _, a = s.get("/pools/codes/values/" + c, conn=conn)
                if st != 200 or a.get("issued") is not True or \
                        a.get("job") != jid:
                    row.problem("lost", "%s: %s is in job %s's file but "
                                "its audit says %s %r" % (ctx, c, jid, st, a))
            conn.close()
        self.check_clients(cl, row, ctx)
        d, ex = dup_count(drawn)
        if d:
            row.problem("dups", "%s: %d codes drawn twice by /next, e.g. %s"
                        % (ctx, d, ex))
        both = [c for c in set(drawn) if c in seen]
        if both:
            row.problem("dups", "%s: %d codes drawn by /next are in a job's "
                        "file, e.g. %s in %s" % (ctx, len(both), both[0],
                                                 seen[both[0]]))
        row.checked += len(drawn)
        redeem.check_after_restart(s, ctx)
        row.note = "%d jobs, %d codes drawn by /next beside them, %d of " \
            "them redeemed (%d redeemed again after restarts: 409)" % (
                len(jobs), len(drawn), len(redeem.done), redeem.again)
        s.stop()
        self.verify(self.data, path, row, ctx)
        self.end()

    def wait_job(self, s, jid, row):
        deadline = time.time() + 120 * SLOW
        while time.time() < deadline:
            st, _, b = s.get("/jobs/" + jid)
            if st == 200 and b["status"] in ("done", "failed"):
                if b["status"] != "done" or b["done"] != b["count"]:
                    row.problem("lost", "seed %d: job %s ended %r" %
                                (SEED, jid, b))
                return b
            time.sleep(0.01)
        row.problem("other", "seed %d: job %s not finished: %r" %
                    (SEED, jid, b))
        return b

    # ---- uniqctl codes generate -------------------------------------------

    def test_5_codes_generate(self):
        row = self.begin("codegen", "codes")
        cfg = {"pools": [{"name": "codes", "kind": "code",
                          "pattern": "#####-#####", "shards": 1,
                          "shard_size": 1000}]}
        path = self.config(cfg, "codegen.json")
        n = kills(8)
        moments = plan(self.rng, n, ["start", "early", "mid", "late"])
        runs = [(m, self.rng.uniform(*WINDOWS["start"]) * SLOW
                 if m == "start" else self.rng.uniform(*FRACTIONS[m]),
                 self.rng.choice(["", "", "K", "7Q"])) for m in moments]
        count = 600000
        drawn = []     # by /next of the servers beside and after
        seen = {}      # code -> the file it is in
        samples = []
        born = False   # a run has got past creating the pool
        for k, (m, t, prefix) in enumerate(runs):
            ctx = self.ctx(k, m, ("%.3f s" % t if m == "start" else
                                  "%.0f%%" % (100 * t)) +
                           ", prefix %r" % prefix)
            if k:
                row.restarts += 1
            out = os.path.join(self.tmp, "run-%d.csv" % k)
            args = ["--data-dir", self.data, "--config", path, "codes",
                    "generate", "--pool", "codes", "--count", str(count),
                    "--out", out] + (["--prefix", prefix] if prefix else [])
            # every other run, beside a server drawing from the same pool
            beside = k % 2 == 1
            if beside:
                s = self.crash_server(path, self.data, row, ctx)
                born = True
                cl = Clients(2, self.code_drawer(s, drawn, 10 ** 5))
            tool = Tool(args)
            deadline = time.time() + 120 * SLOW
            while tool.running() and time.time() < deadline:
                if m == "start":
                    if time.time() - tool.t0 >= t:
                        break
                else:
                    try:
                        size = os.path.getsize(out + ".part")
                    except OSError:
                        size = 0
                    if size >= t * count * CODE_LEN:
                        break
                time.sleep(0.0005)
            if tool.kill(row, ctx):
                row.kills += 1
            else:
                row.missed += 1
            if beside:
                drawn += self.still_serving(s, row, ctx, codes=True)["codes"]
                self.check_clients(cl, row, ctx)
                s.stop()
            name = out
            if not os.path.exists(out):
                name = out + ".part"
            text = ""
            if os.path.exists(name):
                with open(name) as f:
                    text = f.read()
            # complete lines only: a torn last line was never a code
            codes = text[:text.rfind("\n") + 1].split("\n")[:-1] \
                if "\n" in text else []
            row.checked += len(codes)
            bad = [c for c in codes if not CODE_RE.match(c) or
                   not c.startswith(prefix)]
            if bad:
                row.problem("other", "%s: %d lines of %s off the pattern, "
                            "e.g. %r" % (ctx, len(bad), name, bad[:3]))
            d, ex = dup_count(codes)
            if d:
                row.problem("dups", "%s: %d codes twice in %s, e.g. %s" %
                            (ctx, d, name, ex))
            again = [c for c in set(codes) if c in seen]
            if again:
                row.problem("dups", "%s: %d codes of %s were already in "
                            "an earlier file, e.g. %s in %s" %
                            (ctx, len(again), name, again[0],
                             seen[again[0]]))
            for c in codes:
                seen.setdefault(c, os.path.basename(name))
            if codes:
                samples += [codes[0], codes[-1]] + random.Random(SEED).sample(
                    codes, min(10, len(codes)))
            if os.path.exists(os.path.join(self.data, "ledger.mdb")):
                self.verify(self.data, path, row, ctx, unborn_ok=not born)
            born = born or m != "start"
        # a last run, complete, to another file
        ctx = "seed %d codegen: the last run" % SEED
        row.restarts += 1
        out = os.path.join(self.tmp, "last.csv")
        last_count = 300000
        p = uniqctl(self.data, "codes", "generate", "--pool", "codes",
                    "--count", str(last_count), "--out", out, config=path)
        if p.returncode != 0:
            row.problem("other", "%s: exited %s: %s" % (ctx, p.returncode,
                                                        p.stderr[-2000:]))
        else:
            with open(out) as f:
                codes = lines_of(f.read())
            row.checked += len(codes)
            if len(set(codes)) != last_count or len(codes) != last_count:
                row.problem("lost", "%s: %d lines, %d distinct, of %d" %
                            (ctx, len(codes), len(set(codes)), last_count))
            again = [c for c in set(codes) if c in seen]
            if again:
                row.problem("dups", "%s: %d codes of the last run were in "
                            "an earlier file, e.g. %s in %s" %
                            (ctx, len(again), again[0], seen[again[0]]))
            for c in codes:
                seen.setdefault(c, "last.csv")
        self.verify(self.data, path, row, ctx)
        # a server on the data: the killed runs' codes are issued, and its
        # draws are in no file
        s = self.crash_server(path, self.data, row, ctx)
        conn = s.client()
        for c in samples:
            st, _, a = s.get("/pools/codes/values/" + c, conn=conn)
            if st != 200 or a.get("issued") is not True or \
                    a.get("job") != "uniqctl":
                row.problem("lost", "%s: %s is in a file of uniqctl but its "
                            "audit says %s %r" % (ctx, c, st, a))
        want = len(drawn) + 5000
        for _ in range(1000):
            if len(drawn) >= want:
                break
            st, _, b = s.request("POST", "/pools/codes/next?count=500",
                                 conn=conn)
            if st == 200:
                drawn += b["values"]
            elif st == 503 and b.get("error") == "refilling":
                time.sleep(0.01)
            else:
                row.problem("other", "%s: /next -> %s %r" % (ctx, st, b))
                break
        conn.close()
        row.checked += len(drawn)
        again = [c for c in set(drawn) if c in seen]
        if again or len(set(drawn)) != len(drawn):
            row.problem("dups", "%s: /next drew %d codes of the files "
                        "(e.g. %s), %d twice" % (ctx, len(again),
                                                 again[:1], len(drawn) -
                                                 len(set(drawn))))
        s.stop()
        self.verify(self.data, path, row, ctx)
        self.end()

    # ---- leases -------------------------------------------------------------

    def test_6_leases(self):
        row = self.begin("leases", "leases")
        # 12 clients holding up to 4 each of 32 numbers: all_out happens,
        # and a number returned is soon lent again
        cfg = {"pools": [{"name": "users", "kind": "lease", "start": 1,
                          "count": 32, "ttl": 3600}]}
        path = self.config(cfg, "leases.json")
        nclients = 12
        w = LeaseWorld(nclients, row)
        n = kills(12)
        moments = plan(self.rng, n, SERVER_MOMENTS)
        delays = [self.rng.uniform(*WINDOWS[m]) * SLOW for m in moments]
        born = False
        for k, (m, d) in enumerate(zip(moments, delays)):
            ctx = self.ctx(k, m, "%.3f s" % d)
            s = self.crash_server(path, self.data, row, ctx, m != "boot")
            born = born or m != "boot"
            if k:
                row.restarts += 1
            if m == "boot":
                self.serve_then_kill(s, m, d, k, row, ctx)
            else:
                if k:
                    w.check_after_restart(s, ctx)
                cl = Clients(nclients, w.client_fn(s, "%d-leases-%d" %
                                                   (SEED, k), 20000))
                self.serve_then_kill(s, m, d, k, row, ctx)
                self.check_clients(cl, row, ctx, s)
            self.verify(self.data, path, row, ctx, unborn_ok=not born)
        ctx = "seed %d leases: last restart" % SEED
        s = self.crash_server(path, self.data, row, ctx)
        row.restarts += 1
        w.check_after_restart(s, ctx)
        cl = Clients(nclients, w.client_fn(s, "%d-leases-last" % SEED, 300))
        for e in cl.finish(stop=False):
            row.problem("other", "%s: %s" % (ctx, e))
        # a clean restart keeps them too; then every one goes back
        s.stop()
        s = self.crash_server(path, self.data, row, ctx)
        row.restarts += 1
        w.check_after_restart(s, ctx + ", after a clean stop")
        w.return_all(s, ctx)
        st, _, b = s.get("/pools/users/leases")
        if b.get("out") != 0:
            row.problem("other", "%s: every lease returned (acknowledged),"
                        " yet %r" % (ctx, b))
        s.stop()
        self.verify(self.data, path, row, ctx)
        row.note = "%d borrows and %d returns acknowledged, %d all_out" % (
            w.borrows, w.returns, w.all_out)
        self.end()

    # ---- order ids --------------------------------------------------

    def test_7_orders(self):
        row = self.begin("orders", "ids")
        cfg = {"pools": [{"name": "orders", "kind": "sequence", "tz": "UTC",
                          "digits": 8}]}
        path = self.config(cfg, "orders.json")
        nclients = 6
        book = OrderBook(row)
        n = kills(12)
        moments = plan(self.rng, n, SERVER_MOMENTS)
        delays = [self.rng.uniform(*WINDOWS[m]) * SLOW for m in moments]
        born = False
        for k, (m, d) in enumerate(zip(moments, delays)):
            ctx = self.ctx(k, m, "%.3f s" % d)
            s = self.crash_server(path, self.data, row, ctx, m != "boot")
            born = born or m != "boot"
            if k:
                row.restarts += 1
            if m == "boot":
                self.serve_then_kill(s, m, d, k, row, ctx)
            else:
                outs = [[] for _ in range(nclients)]
                outs.append(book.replay(s, ctx))
                cl = Clients(nclients, book.client_fn(s, outs, "%d-orders-%d"
                                                      % (SEED, k), 20000))
                self.serve_then_kill(s, m, d, k, row, ctx)
                self.check_clients(cl, row, ctx, s)
                book.close_life(outs, ctx)
            self.verify(self.data, path, row, ctx, unborn_ok=not born)
        for last in ("last restart", "after a clean stop"):
            ctx = "seed %d orders: %s" % (SEED, last)
            s = self.crash_server(path, self.data, row, ctx)
            row.restarts += 1
            outs = [[] for _ in range(nclients)]
            outs.append(book.replay(s, ctx))
            cl = Clients(nclients, book.client_fn(s, outs, "%d-orders-%s" %
                                                  (SEED, last), 200))
            for e in cl.finish(stop=False):
                row.problem("other", "%s: %s" % (ctx, e))
            book.close_life(outs, ctx)
            if last == "after a clean stop":
                book.audit(s, ctx)
            s.stop()
        book.check_dups()
        row.note = "%d ids with an Idempotency-Key, %d retries after " \
            "restarts (%d of requests a kill cut, committed)" % (
                len(book.keyed), book.replays, len(book.recovered))
        self.verify(self.data, path, row, ctx)
        self.end()

    # ---- everything at once -----------------------------------------------

    def test_8_mixed(self):
        """Every kind of server work at once on one data directory: draws
        from int, float and codes (small shards: refill all along), order
        ids, lease churn, and a code job, all through one ledger and its
        committer; kill -9 at the usual moments; every check above."""
        row = self.begin("mixed", "items")
        cfg = {"pools": [{"name": "int", "kind": "int", "shards": 2,
                          "shard_size": 5000},
                         {"name": "float", "kind": "float", "shards": 1,
                          "shard_size": 5000},
                         {"name": "codes", "kind": "code",
                          "pattern": "#####-#####", "shards": 1,
                          "shard_size": 2000},
                         {"name": "orders", "kind": "sequence", "tz": "UTC",
                          "digits": 8},
                         {"name": "users", "kind": "lease", "start": 1,
                          "count": 30, "ttl": 3600}]}
        path = self.config(cfg, "mixed.json")
        n = kills(10)
        moments = plan(self.rng, n, SERVER_MOMENTS)
        delays = [self.rng.uniform(*WINDOWS[m]) * SLOW for m in moments]
        job_sizes = [self.rng.randrange(100000, 300001) for _ in moments]
        book = OrderBook(row)
        world = LeaseWorld(6, row)
        draws = []      # {"int": [...], "float": [...]} per client and life
        codes = []      # drawn by /next
        jobs = []       # (jid, count, prefix)

        def start_clients(s, k):
            outs = [[] for _ in range(2)]
            mine = [{"int": [], "float": []} for _ in range(2)]
            draws.extend(mine)
            parts = [(2, self.drawer(s, mine, "%d-mixed-%s" % (SEED, k),
                                     (1, 10), 20000)),
                     (2, book.client_fn(s, outs, "%d-mixed-o%s" % (SEED, k),
                                        20000)),
                     (6, world.client_fn(s, "%d-mixed-l%s" % (SEED, k),
                                         20000)),
                     (1, self.code_drawer(s, codes, 5000))]

            def fn(i, stop):
                for count, f in parts:
                    if i < count:
                        return f(i, stop)
                    i -= count
            return Clients(sum(c for c, _ in parts), fn), outs

        def check_jobs(s, ctx):
            for jid, count, prefix in jobs:
                st, _, b = s.get("/jobs/" + jid)
                if st != 200:
                    row.problem("lost", "%s: job %s (acknowledged 202) is "
                                "gone: %s %r" % (ctx, jid, st, b))
                elif b["count"] != count or b["status"] == "failed":
                    row.problem("lost", "%s: job %s after the restart: %r"
                                % (ctx, jid, b))

        born = False
        for k, (m, d) in enumerate(zip(moments, delays)):
            ctx = self.ctx(k, m, "%.3f s" % d)
            s = self.crash_server(path, self.data, row, ctx, m != "boot")
            if k:
                row.restarts += 1
            if m == "boot":
                self.serve_then_kill(s, m, d, k, row, ctx)
            else:
                if born:
                    world.check_after_restart(s, ctx)
                    check_jobs(s, ctx)
                born = True
                replayed = book.replay(s, ctx)
                cl, outs = start_clients(s, k)
                outs.append(replayed)
                prefix = self.rng_for(k).choice(["", "M", "Q9"])
                st, _, b = s.request("POST", "/pools/codes/jobs",
                                     body={"count": job_sizes[k],
                                           "prefix": prefix})
                if st == 202:
                    jobs.append((b["job"], job_sizes[k], prefix))
                else:
                    row.problem("other", "%s: POST job -> %s %r" %
                                (ctx, st, b))
                self.serve_then_kill(s, m, d, k, row, ctx)
                self.check_clients(cl, row, ctx, s)
                book.close_life(outs, ctx)
            self.verify(self.data, path, row, ctx, unborn_ok=not born)
        ctx = "seed %d mixed: last restart" % SEED
        s = self.crash_server(path, self.data, row, ctx)
        row.restarts += 1
        if born:
            world.check_after_restart(s, ctx)
            check_jobs(s, ctx)
        seen = {}
        for jid, count, prefix in jobs:
            self.wait_job(s, jid, row)
            st, _, text = s.get("/jobs/%s/codes.csv" % jid)
            got = lines_of(text) if st == 200 else []
            row.checked += len(got)
            if len(got) != count or len(set(got)) != count or \
                    any(not c.startswith(prefix) for c in got):
                row.problem("lost", "%s: job %s: %d lines, %d distinct, "
                            "of %d under %r" % (ctx, jid, len(got),
                                                len(set(got)), count, prefix))
            for c in set(got):
                if c in seen:
                    row.problem("dups", "%s: code %s in job %s and %s" %
                                (ctx, c, jid, seen[c]))
                seen[c] = "job " + jid
        world.return_all(s, ctx)
        s.stop()
        # the clients' records
        for pool in ("int", "float"):
            vals = [v for o in draws for v in o[pool]]
            row.checked += len(vals)
            dd, ex = dup_count(vals)
            if dd:
                row.problem("dups", "pool %s: %d values received twice, "
                            "e.g. %s" % (pool, dd, ex))
        row.checked += len(codes)
        dd, ex = dup_count(codes)
        both = [c for c in set(codes) if c in seen]
        if dd or both:
            row.problem("dups", "/next codes: %d twice (e.g. %s), %d in a "
                        "job's file (e.g. %s)" % (dd, ex, len(both),
                                                  both[:1]))
        book.check_dups()
        row.note = ("%d values, %d ids, %d codes (%d jobs), %d leases "
                    "checked; %d borrows and %d returns acknowledged" % (
                        sum(len(o["int"]) + len(o["float"]) for o in draws),
                        sum(len(x) for x in book.lives),
                        len(codes) + len(seen), len(jobs), world.checked,
                        world.borrows, world.returns))
        self.verify(self.data, path, row, ctx)
        self.end()

    def rng_for(self, k):
        return random.Random("%d-%s-%d" % (SEED, self.row.kind, k))


class Redeemer:
    """Redeems codes drawn by /next, one client, each code once: 200 the
    first time. After a restart, a sample of the codes redeemed
    (acknowledged) must answer 409 already_redeemed: a redemption lost in
    a crash would let a code be redeemed twice."""

    def __init__(self, row, drawn):
        self.row = row
        self.drawn = drawn
        self.next = 0
        self.lock = threading.Lock()
        self.done = []
        self.again = 0

    def with_drawers(self, s, drawer):
        """A client fn: clients 0 and 1 draw, client 2 redeems."""
        def fn(i, stop):
            if i < 2:
                return drawer(i, stop)
            conn = s.client()
            try:
                for _ in range(20000):
                    if stop.is_set():
                        return
                    with self.lock:
                        if self.next >= len(self.drawn):
                            code = None
                        else:
                            code = self.drawn[self.next]
                            self.next += 1
                    if code is None:
                        time.sleep(0.002)
                        continue
                    try:
                        st, _, b = s.request(
                            "POST", "/pools/codes/values/%s/redeem" % code,
                            conn=conn)
                    except CUT as e:
                        raise Cut(e)
                    if st == 200:
                        self.done.append(code)
                    elif stopping(st, b):
                        raise Cut(Stopping("redeem"))   # not redeemed
                    elif st == 409 and b.get("error") == "already_redeemed":
                        self.row.problem("dups", "%s, drawn by /next and "
                                         "never redeemed, was already "
                                         "redeemed: %r" % (code, b))
                    else:
                        self.row.problem("lost", "redeem of %s, drawn by "
                                         "/next -> %s %r" % (code, st, b))
            finally:
                conn.close()
        return fn

    def check_after_restart(self, s, ctx):
        rnd = random.Random("%d-%s" % (SEED, ctx))
        conn = s.client()
        try:
            for code in rnd.sample(self.done, min(40, len(self.done))):
                st, _, b = s.request("POST", "/pools/codes/values/%s/redeem"
                                     % code, conn=conn)
                self.again += 1
                if st != 409 or b.get("error") != "already_redeemed":
                    self.row.problem("dups", "%s: %s was redeemed "
                                     "(acknowledged) before the restart; "
                                     "again -> %s %r" % (ctx, code, st, b))
        finally:
            conn.close()


class OrderBook:
    """The order ids the clients were given, per server life: none twice,
    and each life's ids above every id acknowledged before (same day)."""

    def __init__(self, row):
        self.row = row
        self.lives = []
        self.top = {}       # day -> the highest number acknowledged before
        self.keyed = {}     # Idempotency-Key -> the id acknowledged
        self.cut_keys = []  # keys whose request a kill cut
        self.recovered = []  # ids first seen on a retry of a cut key
        self.replays = 0

    def client_fn(self, s, outs, seed, limit):
        """Clients POSTing /orders (a third with an Idempotency-Key of
        their own) and /pools/orders/next?count=3."""
        def fn(i, stop):
            rnd = random.Random("%s-%d" % (seed, i))
            conn = s.client()
            try:
                for n in range(limit):
                    if stop.is_set():
                        return
                    r = rnd.random()
                    many = r < 0.2
                    key = re.sub(r"\W", "_", "%s-%d-%d" % (seed, i, n)) \
                        if r > 0.7 else None
                    try:
                        if many:
                            st, _, b = s.request(
                                "POST", "/pools/orders/next?count=3",
                                conn=conn)
                        else:
                            st, _, b = s.request(
                                "POST", "/orders", conn=conn,
                                headers={"Idempotency-Key": key}
                                if key else None)
                    except CUT as e:
                        if key:
                            self.cut_keys.append(key)
                        raise Cut(e)
                    if stopping(st, b):
                        if key:
                            self.cut_keys.append(key)  # retried after
                        raise Cut(Stopping("orders"))
                    if st != 200:
                        raise AssertionError("orders -> %s %r" % (st, b))
                    outs[i].extend(b["values"] if many else [b["id"]])
                    if key:
                        self.keyed[key] = b["id"]
            finally:
                conn.close()
        return fn

    def replay(self, s, ctx):
        """After a restart: a sample of the keys acknowledged gets the same
        id again (Idempotent-Replay), and every key a kill cut gets one id,
        committed before the kill (a replay) or new; returns the new ids
        (of this life)."""
        row = self.row
        rnd = random.Random("%d-%s" % (SEED, ctx))
        keys = sorted(self.keyed)
        new = []
        conn = s.client()
        try:
            for key in rnd.sample(keys, min(40, len(keys))):
                st, h, b = s.request("POST", "/orders", conn=conn,
                                     headers={"Idempotency-Key": key})
                self.replays += 1
                if st != 200 or b.get("id") != self.keyed[key] or \
                        h.get("idempotent-replay") != "true":
                    row.problem("lost", "%s: Idempotency-Key %s had %s "
                                "acknowledged; a retry after the restart "
                                "got %s %r %r" % (ctx, key, self.keyed[key],
                                                  st, b, h))
            for key in self.cut_keys:
                st, h, b = s.request("POST", "/orders", conn=conn,
                                     headers={"Idempotency-Key": key})
                self.replays += 1
                if st != 200:
                    row.problem("other", "%s: retry of cut key %s -> %s %r"
                                % (ctx, key, st, b))
                    continue
                self.keyed[key] = b["id"]
                if h.get("idempotent-replay") == "true":
                    self.recovered.append(b["id"])
                else:
                    new.append(b["id"])
            self.cut_keys = []
        finally:
            conn.close()
        return new

    def close_life(self, outs, ctx):
        row, top = self.row, self.top
        ids = [x for o in outs for x in o]
        row.checked += len(ids)
        below = []
        for x in ids:
            mm = ORDER_RE.match(x)
            if not mm:
                row.problem("other", "%s: bad id %r" % (ctx, x))
                continue
            day, num = mm.group(1), int(mm.group(2))
            if day in top and num <= top[day]:
                below.append(x)
        if below:
            row.problem("other", "%s: %d ids at or below %s, the highest "
                        "acknowledged before the restart, e.g. %s" %
                        (ctx, len(below), max(top.items()),
                         sorted(below)[:3]))
        for x in ids:
            mm = ORDER_RE.match(x)
            if mm:
                top[mm.group(1)] = max(top.get(mm.group(1), 0),
                                       int(mm.group(2)))
        self.lives.append(ids)

    def audit(self, s, ctx):
        """Every id acknowledged is in the ledger (a sample)."""
        allids = [x for ids in self.lives for x in ids]
        conn = s.client()
        for x in random.Random(SEED).sample(allids, min(200, len(allids))):
            st, _, a = s.get("/pools/orders/values/" + x, conn=conn)
            if st != 200 or a.get("issued") is not True:
                self.row.problem("lost", "%s: id %s was acknowledged, its "
                                 "audit says %s %r" % (ctx, x, st, a))
        conn.close()

    def check_dups(self):
        allids = [x for ids in self.lives for x in ids] + self.recovered
        d, ex = dup_count(allids)
        if d:
            self.row.problem("dups", "%d ids acknowledged twice, e.g. %s" %
                             (d, ex))


class LeaseWorld:
    """What the lease clients were told, as the truth to hold the server to.

    owner[n] = [client, "held"] once a borrow of n was acknowledged (201),
    [client, "returning"] while its return is on the wire. A 201 for a
    number another client holds ("held") is a number lent twice. After a
    restart every "held" number must be out to its holder; a return or
    borrow cut by the kill is settled by what the server lists."""

    def __init__(self, n, row):
        self.n = n
        self.row = row
        self.lock = threading.Lock()
        self.owner = {}
        self.held = [set() for _ in range(n)]
        self.returned = [set() for _ in range(n)]   # acknowledged returns
        self.pending = [None] * n     # the op a kill cut: ("borrow",) etc.
        self.borrows = 0
        self.returns = 0
        self.all_out = 0
        self.checked = 0

    @staticmethod
    def name(i):
        return "c%d" % i

    def client_fn(self, s, seed, limit):
        def fn(i, stop):
            rnd = random.Random("%s-%d" % (seed, i))
            name = self.name(i)
            conn = s.client()
            try:
                for _ in range(limit):
                    if stop.is_set():
                        return
                    with self.lock:
                        held = sorted(self.held[i])
                    if held and (len(held) >= 4 or rnd.random() < 0.45):
                        if not self.give_back(s, conn, i, rnd.choice(held)):
                            return
                    elif not self.borrow(s, conn, i, name):
                        return
            finally:
                conn.close()
        return fn

    def borrow(self, s, conn, i, name):
        self.pending[i] = ("borrow",)
        try:
            st, _, b = s.request("POST", "/pools/users/leases",
                                 body={"holder": name}, conn=conn)
        except CUT as e:
            raise Cut(e)
        self.pending[i] = None
        if st == 503 and b.get("error") == "all_out":
            with self.lock:
                self.all_out += 1
            time.sleep(0.005)
            return True
        if stopping(st, b):
            raise Cut(Stopping("borrow"))
        if st != 201 or b.get("holder") != name:
            raise AssertionError("borrow -> %s %r" % (st, b))
        n = b["number"]
        with self.lock:
            self.borrows += 1
            prev = self.owner.get(n)
            if prev is not None:
                j, state = prev
                if state == "held" or j == i:
                    self.row.problem("dups", "number %d lent to %s while %s "
                                     "held it (borrow acknowledged, no "
                                     "return sent)" % (n, name,
                                                       self.name(j)))
                # j's return is on the wire: it was committed first
                self.held[j].discard(n)
            self.owner[n] = [i, "held"]
            self.held[i].add(n)
            self.returned[i].discard(n)
        return True

    def give_back(self, s, conn, i, n):
        with self.lock:
            if self.owner.get(n) != [i, "held"]:
                return True
            self.owner[n] = [i, "returning"]
        self.pending[i] = ("return", n)
        try:
            st, _, b = s.request("DELETE", "/pools/users/leases/%d?holder=%s"
                                 % (n, self.name(i)), conn=conn)
        except CUT as e:
            raise Cut(e)
        self.pending[i] = None
        if stopping(st, b):
            # refused before anything changed: still held
            with self.lock:
                if self.owner.get(n) == [i, "returning"]:
                    self.owner[n] = [i, "held"]
            raise Cut(Stopping("return of %d" % n))
        with self.lock:
            if self.owner.get(n) == [i, "returning"]:
                del self.owner[n]
            self.held[i].discard(n)
            if st == 200:
                self.returns += 1
                self.returned[i].add(n)
            else:
                self.row.problem("lost", "return of %d by %s (its borrow "
                                 "acknowledged) -> %s %r" %
                                 (n, self.name(i), st, b))
        return True

    def check_after_restart(self, s, ctx):
        """Holds the server's list of leases to what was acknowledged."""
        row = self.row
        st, _, b = s.get("/pools/users/leases")
        if st != 200:
            row.problem("other", "%s: GET leases -> %s %r" % (ctx, st, b))
            return
        out = {}
        for x in b["leases"]:
            if x["number"] in out:
                row.problem("dups", "%s: number %d listed twice" %
                            (ctx, x["number"]))
            out[x["number"]] = x["holder"]
        if b["out"] != len(out):
            row.problem("other", "%s: out %d but %d listed" %
                        (ctx, b["out"], len(out)))
        # returns cut by the kill: committed or not, the list says
        for i, p in enumerate(self.pending):
            if p and p[0] == "return":
                n = p[1]
                if self.owner.get(n) == [i, "returning"]:
                    if out.get(n) == self.name(i):
                        self.owner[n] = [i, "held"]
                    else:
                        del self.owner[n]
                        self.held[i].discard(n)
        # every acknowledged lease is out, to its holder
        for n, (i, state) in sorted(self.owner.items()):
            row.checked += 1
            self.checked += 1
            if state != "held":
                row.problem("other", "%s: number %d still %s" %
                            (ctx, n, state))
            if out.get(n) != self.name(i):
                row.problem("lost", "%s: lease of %d to %s acknowledged "
                            "(201), never returned, but after the restart "
                            "it is %s" % (ctx, n, self.name(i),
                                          "out to %s" % out[n] if n in out
                                          else "not out"))
                del self.owner[n]
                self.held[i].discard(n)
        # anything else out: a borrow cut by the kill, or wrong
        for n, h in sorted(out.items()):
            o = self.owner.get(n)
            if o and self.name(o[0]) == h:
                continue
            m = re.match(r"^c(\d+)$", h)
            i = int(m.group(1)) if m and int(m.group(1)) < self.n else None
            if i is not None and self.pending[i] == ("borrow",) and not o:
                self.owner[n] = [i, "held"]     # committed, answer lost
                self.held[i].add(n)
                self.returned[i].discard(n)
                self.pending[i] = ("adopted", n)
            elif i is not None and n in self.returned[i]:
                row.problem("other", "%s: %d is out to %s, whose return of "
                            "it was acknowledged" % (ctx, n, h))
            else:
                row.problem("other", "%s: %d is out to %r, a lease never "
                            "acknowledged nor cut by the kill" % (ctx, n, h))
        self.pending = [None] * self.n

    def return_all(self, s, ctx):
        conn = s.client()
        try:
            for n, (i, state) in sorted(self.owner.items()):
                st, _, b = s.request("DELETE", "/pools/users/leases/%d?"
                                     "holder=%s" % (n, self.name(i)),
                                     conn=conn)
                if st != 200:
                    self.row.problem("lost", "%s: return of %d by %s -> "
                                     "%s %r" % (ctx, n, self.name(i), st, b))
                else:
                    self.returns += 1
            self.owner.clear()
            for h in self.held:
                h.clear()
        finally:
            conn.close()


if __name__ == "__main__":
    unittest.main()
