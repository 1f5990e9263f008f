"""One-time codes (seed 002) end to end, against the real binaries: draws
from code pools through POST /pools/{name}/next, exact capacity under
prefixes, bad prefixes that generate nothing, bulk jobs (202, progress, the
CSV checked line by line, 409 not_enough, FIFO per pool, admission under
concurrency), a restart (SIGTERM and kill -9) in the middle of a job,
kill -9 in the middle of `uniqctl codes generate` and a second run,
uniqctl beside the server, a tiny pool drained completely through every
kind of stream (each of its 256 codes exactly once), redeem once (also from
16 threads at a time), admin tokens, and configuration errors.

Small pools make exact checks possible: "##-##" over "ABCD" holds 256
codes, so the set of issued codes can be read back completely with the
audit lookup and compared with every count the server gives."""
import itertools
import os
import pty
import re
import select
import signal
import subprocess
import threading
import time
import unittest

from harness import (SLOW, UNIQCTL, UNIQD, ServerTest, parallel, run,
                     uniqctl)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DEFAULT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
TOKEN = "test-admin-token-0123"
AUTH = {"Authorization": "Bearer " + TOKEN}

# Codes per ledger transaction of a job (pools/codegen.h CODEGEN_CHUNK): the
# first commit of a job shows as done >= this.
CHUNK = 65536


def code_re(pattern, alphabet=DEFAULT_ALPHABET):
    cls = "[" + re.escape(alphabet) + "]"
    return re.compile("^" + "".join(cls if c == "#" else re.escape(c)
                                    for c in pattern) + "$")


TINY_RE = code_re("##-##", "ABCD")
BIG_RE = code_re("#####-#####")


def tiny_pool(name="tiny", shard_size=4):
    return {"name": name, "kind": "code", "pattern": "##-##",
            "alphabet": "ABCD", "shards": 1, "shard_size": shard_size}


def big_pool(name="big", shard_size=1000):
    return {"name": name, "kind": "code", "pattern": "#####-#####",
            "shards": 1, "shard_size": shard_size}


def cfg(*pools, token=None):
    c = {"pools": list(pools)}
    if token:
        c["admin_token"] = token
    return c


def all_tiny_codes():
    return ["%s%s-%s%s" % t for t in itertools.product("ABCD", repeat=4)]


def lines_of(text):
    """The lines of a CSV body or file, requiring a final newline."""
    if text == "":
        return []
    assert text.endswith("\n"), "no final newline: %r" % text[-40:]
    assert "\r" not in text, "CR in the export"
    return text[:-1].split("\n")


class CodesTest(ServerTest):

    # ---- helpers ------------------------------------------------------

    def next_codes(self, s, pool, count, conn=None, until_exhausted=False):
        """count codes of pool through /next (retrying 503 refilling);
        with until_exhausted, as many as there are, one request of count
        at a time, until 503 exhausted."""
        got = []
        tries = 0
        most = self.pool_info(s, pool)["max_count"]
        count = min(count, most) if until_exhausted else count
        while until_exhausted or len(got) < count:
            n = count if until_exhausted else min(count - len(got), most)
            st, h, body = s.request("POST", "/pools/%s/next?count=%d" %
                                    (pool, n), conn=conn)
            if st == 200:
                self.assertEqual(len(body["values"]), n, body)
                got += body["values"]
                tries = 0
                continue
            if st == 503 and body["error"] == "exhausted" and \
                    until_exhausted:
                if n == 1:
                    return got
                count = 1   # fewer than n left: finish one at a time
                continue
            self.assertEqual((st, body["error"]), (503, "refilling"),
                             "/next of %s" % pool)
            tries += 1
            self.assertLess(tries, 500, "still refilling")
            time.sleep(0.01)
        return got

    def capacity(self, s, pool, prefix):
        st, _, body = s.get("/pools/%s/capacity?prefix=%s" % (pool, prefix))
        self.assertEqual(st, 200, body)
        return body

    def issued(self, s, pool, prefix=""):
        return self.capacity(s, pool, prefix)["issued"]

    def pool_info(self, s, pool):
        st, _, body = s.get("/pools/" + pool)
        self.assertEqual(st, 200, body)
        return body

    def settle(self, s, pool):
        """Waits until the pool is at rest: its refill threads have
        nothing left to do ("refilling": false) on two looks in a row
        with the same issued and ready, so that deltas around a job are
        exact. Returns issued."""
        last = None
        deadline = time.time() + 60 * SLOW
        while time.time() < deadline:
            info = self.pool_info(s, pool)
            now = (info["refilling"], info["issued"], info["ready"])
            if not info["refilling"] and now == last:
                return info["issued"]
            last = now
            time.sleep(0.05 * SLOW)
        self.fail("pool %s never came to rest: %r" % (pool, last))

    def post_job(self, s, pool, count, prefix=None, headers=None, want=202):
        body = {"count": count}
        if prefix is not None:
            body["prefix"] = prefix
        st, h, b = s.request("POST", "/pools/%s/jobs" % pool, body=body,
                             headers=headers)
        self.assertEqual(st, want, b)
        if want != 202:
            return b
        self.assertEqual(set(b), {"job", "status"})
        self.assertEqual(b["status"], "queued")
        self.assertIsInstance(b["job"], str)
        self.assertEqual(h.get("location"), "/jobs/" + b["job"])
        return b["job"]

    def job(self, s, jid):
        st, _, b = s.get("/jobs/" + jid)
        self.assertEqual(st, 200, b)
        return b

    def wait_job(self, s, jid, timeout=60):
        deadline = time.time() + timeout * SLOW
        while time.time() < deadline:
            j = self.job(s, jid)
            if j["status"] in ("done", "failed"):
                return j
            time.sleep(0.02)
        self.fail("job %s not finished: %r" % (jid, j))

    def job_csv(self, s, jid, headers=None):
        st, h, text = s.get("/jobs/%s/codes.csv" % jid, headers=headers)
        self.assertEqual(st, 200, text)
        self.assertTrue(h["content-type"].startswith("text/csv"), h)
        self.assertIn("attachment", h.get("content-disposition", ""))
        return lines_of(text)

    def check_codes(self, codes, count, regex, prefix=""):
        """count distinct codes, each of the pattern, under prefix."""
        self.assertEqual(len(codes), count)
        bad = [c for c in codes if not regex.match(c) or
               not c.startswith(prefix)]
        self.assertEqual(bad[:5], [], "codes off the pattern or prefix")
        uniq = set(codes)
        self.assertEqual(len(uniq), count, "a code repeated")
        return uniq

    def done_job(self, s, jid, pool, count, prefix, regex, headers=None):
        """Waits for a job, checks its record and its CSV line by line;
        returns the CSV's codes as a set."""
        j = self.wait_job(s, jid)
        self.assertEqual((j["job"], j["pool"], j["prefix"], j["count"],
                          j["done"], j["status"]),
                         (jid, pool, prefix, count, count, "done"), j)
        self.assertRegex(j["created_at"], RFC3339)
        self.assertRegex(j["finished_at"], RFC3339)
        self.assertLessEqual(j["created_at"], j["finished_at"])
        self.assertEqual(j["download"], "/jobs/%s/codes.csv" % jid)
        return self.check_codes(self.job_csv(s, jid, headers), count, regex,
                                prefix)

    def lookup(self, s, pool, code, conn=None):
        st, _, body = s.get("/pools/%s/values/%s" % (pool, code), conn=conn)
        self.assertEqual(st, 200, body)
        return body

    def issued_set_tiny(self, s, pool="tiny"):
        """Every issued code of a tiny pool, read with the audit lookup."""
        conn = s.client()
        try:
            return {c for c in all_tiny_codes()
                    if self.lookup(s, pool, c, conn)["issued"]}
        finally:
            conn.close()

    def at_one_instant(self, s, read, pool="tiny"):
        """(issued set, read()) as of one instant, without trusting
        that the pool is at rest (settle) or stays so. Issued stays
        issued: when an audit before read() and one after it find the
        same set, that set held all through read()."""
        before = self.issued_set_tiny(s, pool)
        for _ in range(5):
            got = read()
            after = self.issued_set_tiny(s, pool)
            self.assertLessEqual(before, after)
            if after == before:
                return after, got
            before = after
        self.fail("the refill of %s never stopped issuing" % pool)

    def assert_tiny_counts(self, s, issued, pool="tiny"):
        """Capacity of every prefix (with and without the literal) agrees
        with the set of issued codes (issued, and what the refill issued
        since)."""
        prefixes = [""]
        for n in (1, 2, 3):
            for t in itertools.product("ABCD", repeat=n):
                p = "".join(t)
                if n >= 2:
                    p = p[:2] + "-" + p[2:]
                prefixes.append(p)
        prefixes += ["".join(t) for t in itertools.product("ABCD", repeat=2)]

        def read():
            conn = s.client()
            try:
                counts = []
                for p in prefixes:
                    st, _, c = s.get("/pools/%s/capacity?prefix=%s" %
                                     (pool, p), conn=conn)
                    self.assertEqual(st, 200, (p, c))
                    counts.append(c)
                return counts
            finally:
                conn.close()

        now, counts = self.at_one_instant(s, read, pool)
        self.assertLessEqual(issued, now)
        for p, c in zip(prefixes, counts):
            slots = len(p.replace("-", ""))
            comb = 4 ** (4 - slots)
            n = sum(1 for x in now if x.startswith(p))
            self.assertEqual((c["prefix"], c["combinations"],
                              c["issued"], c["remaining"]),
                             (p, comb, n, comb - n), "prefix %r" % p)

    def verify(self, config_path=None):
        p = uniqctl(self.data, "verify", config=config_path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("verify: ok", p.stdout)

    # ---- item 2: draws -----------------------------------------------

    def test_next_shapes(self):
        s = self.server(cfg(tiny_pool(shard_size=8), big_pool()))
        st, h, body = s.request("POST", "/pools/big/next?count=50")
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(set(body), {"values", "pool", "shard"})
        self.assertEqual((body["pool"], body["shard"]), ("big", "big_shard_0"))
        for v in body["values"]:
            self.assertIsInstance(v, str)
            self.assertRegex(v, BIG_RE)
        self.assertEqual(len(set(body["values"])), 50)
        st, _, one = s.request("POST", "/pools/big/next")
        self.assertEqual((st, len(one["values"])), (200, 1))
        self.assertNotIn(one["values"][0], body["values"])
        # the listing
        p = self.pool_info(s, "big")
        self.assertEqual((p["kind"], p["pattern"], p["alphabet"],
                          p["capacity"]),
                         ("code", "#####-#####", DEFAULT_ALPHABET, 36 ** 10))
        self.assertEqual(p["remaining"], p["capacity"] - p["issued"])
        t = self.pool_info(s, "tiny")
        self.assertEqual((t["capacity"], t["alphabet"], t["max_count"]),
                         (256, "ABCD", 8))
        # counts beyond max_count and other bad draws
        for q in ("count=9", "count=0", "count=x", "n=1"):
            st, _, b = s.request("POST", "/pools/tiny/next?" + q)
            self.assertEqual(st, 400, (q, b))
        st, _, b = s.get("/random?type=tiny")
        self.assertEqual((st, b["error"]), (400, "bad_parameter"))
        # many draws from many threads: all distinct, all of the pattern
        got = parallel(8, lambda i: self.next_codes(s, "big", 2000))
        allc = [c for g in got for c in g] + body["values"] + one["values"]
        self.check_codes(allc, 16051, BIG_RE)
        # the tiny pool by hand: every draw is in the issued set
        tiny = self.next_codes(s, "tiny", 40)
        self.check_codes(tiny, 40, TINY_RE)
        self.assertLessEqual(set(tiny), self.issued_set_tiny(s))

    def test_default_config_has_codes_pool(self):
        s = self.server()
        p = self.pool_info(s, "codes")
        self.assertEqual((p["kind"], p["pattern"], p["alphabet"],
                          p["capacity"]),
                         ("code", "#####-#####", DEFAULT_ALPHABET, 36 ** 10))
        vals = self.next_codes(s, "codes", 100)
        self.check_codes(vals, 100, BIG_RE)
        c = self.capacity(s, "codes", "AB")
        self.assertEqual(c["combinations"], 36 ** 8)

    # ---- item 1 (briefly): configuration errors ------------------------

    def test_config_errors(self):
        cases = [
            ({"pattern": "##-##", "alphabet": ""}, "alphabet"),
            ({"pattern": "##-##", "alphabet": "ABCA"}, "repeats"),
            ({"pattern": "AB-CD"}, "no '#'"),
            ({"pattern": "#" * 13}, "64 bits"),
        ]
        for i, (extra, word) in enumerate(cases):
            pool = {"name": "c", "kind": "code"}
            pool.update(extra)
            path = self.config(cfg(pool), "bad-%d.json" % i)
            p = run([UNIQD, "--config", path, "--data-dir",
                     os.path.join(self.tmp, "d%d" % i), "--listen",
                     "127.0.0.1:0"], timeout=20)
            out = p.stdout + p.stderr
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn(word, out, extra)
            self.assertNotIn("listening", out)
        # 12 slots over 36 symbols still fit in 64 bits
        path = self.config(cfg({"name": "c", "kind": "code",
                                "pattern": "#" * 12, "shards": 1,
                                "shard_size": 10}), "ok.json")
        s = self.server(path)
        self.assertEqual(self.pool_info(s, "c")["capacity"], 36 ** 12)

    # ---- items 3 and 4: prefixes and capacity --------------------------

    def test_capacity_exact_tiny(self):
        s = self.server(cfg(tiny_pool()))
        drawn = self.next_codes(s, "tiny", 30)
        self.settle(s, "tiny")
        issued = self.issued_set_tiny(s)
        self.assertLessEqual(set(drawn), issued)
        # what is issued but not drawn sits in the shard and its hopper
        self.assertLessEqual(len(issued - set(drawn)), 8)
        now, info = self.at_one_instant(s, lambda: self.pool_info(s, "tiny"))
        self.assertEqual(info["issued"], len(now))
        self.assert_tiny_counts(s, issued)
        # after jobs under prefixes, still exact
        j1 = self.post_job(s, "tiny", 7, "B")
        c1 = self.done_job(s, j1, "tiny", 7, "B", TINY_RE)
        rem = self.capacity(s, "tiny", "CA-")["remaining"]
        c2 = set()
        if rem:
            j2 = self.post_job(s, "tiny", rem, "CA-")
            c2 = self.done_job(s, j2, "tiny", rem, "CA-", TINY_RE)
        self.assertFalse((c1 | c2) & set(drawn))
        issued2 = self.issued_set_tiny(s)
        self.assertEqual(issued2, issued | c1 | c2)
        self.assertEqual(len(issued2), len(issued) + 7 + rem)
        self.assert_tiny_counts(s, issued2)

    def test_capacity_of_prefixes(self):
        s = self.server(cfg(big_pool()))
        for p, comb in (("", 36 ** 10), ("A", 36 ** 9), ("AB", 36 ** 8),
                        ("AAAAA", 36 ** 5), ("AAAAA-", 36 ** 5),
                        ("AAAAA-A", 36 ** 4), ("Z9Z9Z-Z9Z9", 36)):
            c = self.capacity(s, "big", p)
            self.assertEqual((c["pool"], c["prefix"], c["combinations"]),
                             ("big", p, comb))
            self.assertEqual(c["remaining"], comb - c["issued"])
        # the shard's first refill may still be issuing: compare at rest
        settled = self.settle(s, "big")
        self.assertEqual(self.capacity(s, "big", "")["issued"], settled)
        # capacity with no prefix at all is the whole pool
        st, _, c = s.get("/pools/big/capacity")
        self.assertEqual((st, c["combinations"]), (200, 36 ** 10))
        # not for other kinds, unknown pools, unknown parameters
        s2 = self.server(cfg(big_pool(), {"name": "int", "kind": "int",
                                          "shards": 1, "shard_size": 10}),
                         data_dir=os.path.join(self.tmp, "d2"))
        st, _, b = s2.get("/pools/int/capacity")
        self.assertEqual((st, b["error"]), (400, "wrong_kind"))
        st, _, b = s2.get("/pools/nope/capacity")
        self.assertEqual((st, b["error"]), (404, "unknown_pool"))
        st, _, b = s2.get("/pools/big/capacity?prefix=A&x=1")
        self.assertEqual((st, b["error"]), (400, "unknown_parameter"))
        # a 3-symbol prefix: an exact delta around a job
        before = self.settle(s, "big")
        b_abc = self.issued(s, "big", "ABC")
        b_ab = self.issued(s, "big", "AB")
        jid = self.post_job(s, "big", 1000, "ABC")
        self.done_job(s, jid, "big", 1000, "ABC", BIG_RE)
        self.assertEqual(self.issued(s, "big", "ABC"), b_abc + 1000)
        self.assertEqual(self.issued(s, "big", "AB"), b_ab + 1000)
        self.assertEqual(self.issued(s, "big", ""), before + 1000)
        self.assertEqual(self.pool_info(s, "big")["issued"], before + 1000)

    def test_bad_prefix_generates_nothing(self):
        path = self.config(cfg(big_pool(), tiny_pool()))
        s = self.server(path)
        self.settle(s, "big")
        self.settle(s, "tiny")
        before = {p: self.pool_info(s, p)["issued"] for p in ("big", "tiny")}
        bad = {"big": ["AAAAAA", "aaa", "AB#", "-", "AAAAA-AAAAA",
                       "AAAAA-AAAAAA", "AAAAA-AAAAA-", "AAAA A", "\u00c9"],
               "tiny": ["ABC", "AB-CD", "ABCD", "AE", "a", "A-", "AB--",
                        "AB-CDA"]}
        for pool, prefixes in bad.items():
            for p in prefixes:
                q = p.replace(" ", "%20").replace("#", "%23")
                q = q.replace("\u00c9", "%C3%89")
                st, _, b = s.get("/pools/%s/capacity?prefix=%s" % (pool, q))
                self.assertEqual((st, b["error"]), (400, "bad_prefix"),
                                 (pool, p))
                self.assertTrue(b["message"])
                b = self.post_job(s, pool, 1, p, want=400)
                self.assertEqual(b["error"], "bad_prefix", (pool, p))
                out = os.path.join(self.tmp, "bad.csv")
                r = uniqctl(self.data, "codes", "generate", "--pool", pool,
                            "--count", "1", "--prefix", p, "--out", out,
                            config=path)
                self.assertNotEqual(r.returncode, 0, (pool, p))
                self.assertFalse(os.path.exists(out))
                self.assertFalse(os.path.exists(out + ".part"))
        b = self.post_job(s, "big", 1, 7, want=400)
        self.assertEqual(b["error"], "bad_prefix")
        # nothing was generated, no job was recorded
        for pool in ("big", "tiny"):
            self.assertEqual(self.pool_info(s, pool)["issued"], before[pool])
        st, _, b = s.get("/jobs/1")
        self.assertEqual(st, 404, b)
        # the longest valid prefix still works: it leaves one slot
        rem = self.capacity(s, "tiny", "AB-C")["remaining"]
        if rem:
            jid = self.post_job(s, "tiny", rem, "AB-C")
            c = self.done_job(s, jid, "tiny", rem, "AB-C", TINY_RE)
            self.assertLessEqual(c, {"AB-CA", "AB-CB", "AB-CC", "AB-CD"})
        self.assertEqual(self.capacity(s, "tiny", "AB-C")["issued"], 4)

    # ---- item 5: jobs ---------------------------------------------------

    def test_job_end_to_end(self):
        path = self.config(cfg(big_pool()))
        s = self.server(path)
        drawn = set(self.next_codes(s, "big", 3000))
        before = self.settle(s, "big")
        b_pfx = self.issued(s, "big", "K7")
        count = CHUNK + 37855          # two transactions
        jid = self.post_job(s, "big", count, "K7")
        codes = self.done_job(s, jid, "big", count, "K7", BIG_RE)
        self.assertFalse(codes & drawn, "a job code was drawn by /next")
        # exact counts: the job and nothing else
        self.assertEqual(self.issued(s, "big", "K7"), b_pfx + count)
        self.assertEqual(self.issued(s, "big", ""), before + count)
        # the CSV again: the same codes
        self.assertEqual(set(self.job_csv(s, jid)), codes)
        self.verify(path)
        # a job without a prefix, and more draws: all disjoint
        jid2 = self.post_job(s, "big", 20000)
        codes2 = self.done_job(s, jid2, "big", 20000, "", BIG_RE)
        drawn2 = set(self.next_codes(s, "big", 3000))
        self.assertFalse(codes2 & codes)
        self.assertFalse((codes | codes2) & (drawn | drawn2))
        # the audit names the job
        for c in list(codes)[:20] + list(codes2)[:20]:
            a = self.lookup(s, "big", c)
            self.assertTrue(a["issued"], a)
            self.assertEqual(a["job"], jid if c in codes else jid2)
            self.assertRegex(a["issued_at"], RFC3339)
        # the export was renamed from its temporary name
        jobs_dir = os.path.join(self.data, "jobs")
        self.assertFalse([f for f in os.listdir(jobs_dir)
                          if f.endswith(".part")])

    def test_job_bad_requests(self):
        s = self.server(cfg(big_pool(), {"name": "int", "kind": "int",
                                          "shards": 1, "shard_size": 10}))
        before = self.settle(s, "big")
        for body, err in (("{}", "bad_parameter"),
                          ('{"count": 0}', "bad_parameter"),
                          ('{"count": -5}', "bad_parameter"),
                          ('{"count": 1.5}', "bad_parameter"),
                          ('{"count": 1000000001}', "bad_parameter"),
                          ('{"count": "5"}', "bad_parameter"),
                          ('{"count": 5, "x": 1}', "unknown_parameter"),
                          ('{"count": 5, "prefix": null}', "bad_prefix"),
                          ("count=5", "bad_json"), ("[5]", "bad_json")):
            st, _, b = s.request("POST", "/pools/big/jobs", body=body,
                                 headers={"Content-Type": "application/json"})
            self.assertEqual((st, b["error"]), (400, err), body)
        st, _, b = s.request("POST", "/pools/int/jobs", body={"count": 1})
        self.assertEqual((st, b["error"]), (400, "wrong_kind"))
        st, _, b = s.request("POST", "/pools/nope/jobs", body={"count": 1})
        self.assertEqual((st, b["error"]), (404, "unknown_pool"))
        st, _, b = s.request("POST", "/pools/big/jobs?count=3",
                             body={"count": 1})
        self.assertEqual((st, b["error"]), (400, "unknown_parameter"))
        self.assertEqual(self.pool_info(s, "big")["issued"], before)
        # unknown jobs
        for path in ("/jobs/1", "/jobs/999999", "/jobs/abc", "/jobs/0",
                     "/jobs/-1", "/jobs/1/codes.csv", "/jobs/77/codes.csv"):
            st, _, b = s.get(path)
            self.assertEqual((st, b["error"]), (404, "not_found"), path)

    def test_not_enough_409(self):
        s = self.server(cfg(tiny_pool()))
        self.settle(s, "tiny")
        for prefix in ("A", "DD-", ""):
            c = self.capacity(s, "tiny", prefix)
            rem = c["remaining"]
            self.assertGreater(rem, 0)
            b = self.post_job(s, "tiny", rem + 1, prefix, want=409)
            self.assertEqual(b["error"], "not_enough")
            self.assertEqual(self.capacity(s, "tiny", prefix), c,
                             "a 409 changed the counts")
            jid = self.post_job(s, "tiny", rem, prefix)
            self.done_job(s, jid, "tiny", rem, prefix, TINY_RE)
            c = self.capacity(s, "tiny", prefix)
            self.assertEqual(c["remaining"], 0)
            b = self.post_job(s, "tiny", 1, prefix, want=409)
            self.assertEqual(b["error"], "not_enough")
        self.assertEqual(self.pool_info(s, "tiny")["remaining"], 0)

    def test_job_admission_is_atomic(self):
        """Jobs posted at the same instant must not be promised more codes
        than remain: at most one of 8 jobs for half the remaining codes is
        accepted, and every accepted job completes."""
        s = self.server(cfg(tiny_pool()))
        self.settle(s, "tiny")
        accepted = []
        for prefix in ("A", "B", "C", "D"):
            rem = self.capacity(s, "tiny", prefix)["remaining"]
            want = rem // 2 + 1
            barrier = threading.Barrier(8)

            def post(i):
                conn = s.client()
                try:
                    barrier.wait()
                    st, _, b = s.request("POST", "/pools/tiny/jobs",
                                         body={"count": want,
                                               "prefix": prefix},
                                         conn=conn)
                    return st, b
                finally:
                    conn.close()

            res = parallel(8, post)
            ok = [b["job"] for st, b in res if st == 202]
            self.assertTrue(all(st in (202, 409) for st, _ in res), res)
            accepted += [(prefix, want, rem, j) for j in ok]
        for prefix, want, rem, jid in accepted:
            j = self.wait_job(s, jid)
            self.assertEqual(j["status"], "done",
                             "prefix %r: %d remained, jobs of %d accepted: "
                             "%d; job %s: %r" %
                             (prefix, rem, want,
                              sum(1 for a in accepted if a[0] == prefix),
                              jid, j))
        for prefix in ("A", "B", "C", "D"):
            n = sum(1 for a in accepted if a[0] == prefix)
            self.assertLessEqual(n, 1, "prefix %r: %d jobs accepted for "
                                 "more than half the codes each" %
                                 (prefix, n))

    def test_jobs_run_one_at_a_time_fifo(self):
        s = self.server(cfg(big_pool(), tiny_pool("other")))
        j1 = self.post_job(s, "big", 1500000, "F")
        j2 = self.post_job(s, "big", 1000, "G")
        self.assertLess(int(j1), int(j2))
        # another pool's worker does not wait for big's
        j3 = self.post_job(s, "other", 5, "A")
        self.done_job(s, j3, "other", 5, "A", TINY_RE)
        self.assertNotEqual(self.job(s, j1)["status"], "done",
                            "the other pool's job waited for big's")
        seen_queued = 0
        csv_409 = False
        deadline = time.time() + 60 * SLOW
        while time.time() < deadline:
            # job 2 first: if it has started, job 1 must have ended
            b = self.job(s, j2)
            a = self.job(s, j1)
            if b["status"] != "queued":
                self.assertEqual(a["status"], "done",
                                 "job %s ran before job %s ended: %r %r" %
                                 (j2, j1, a, b))
                break
            self.assertEqual((b["done"], b["finished_at"], b["download"]),
                             (0, None, None), b)
            if a["status"] == "done":
                break
            self.assertIn(a["status"], ("queued", "running"), a)
            seen_queued += 1
            if not csv_409:
                for jid in (j1, j2):
                    st, _, e = s.get("/jobs/%s/codes.csv" % jid)
                    self.assertEqual((st, e["error"]), (409, "not_done"),
                                     jid)
                csv_409 = True
        self.assertGreater(seen_queued, 0, "job 1 ended before a look")
        self.assertTrue(csv_409)
        a = self.wait_job(s, j1)
        b = self.wait_job(s, j2)
        self.assertEqual((a["status"], b["status"]), ("done", "done"))
        self.assertLessEqual(a["finished_at"], b["finished_at"])
        c2 = self.done_job(s, j2, "big", 1000, "G", BIG_RE)
        c1 = self.done_job(s, j1, "big", 1500000, "F", BIG_RE)
        self.assertFalse(c1 & c2)

    def restart_mid_job(self, sig, tear=False):
        path = self.config(cfg(big_pool(shard_size=200)))
        s = self.server(path)
        drawn = set(self.next_codes(s, "big", 2000))
        before = self.settle(s, "big")
        b_pfx = self.issued(s, "big", "R2D")
        count = 3000000
        jid = self.post_job(s, "big", count, "R2D")
        jid2 = self.post_job(s, "big", 1000, "Q1")   # queued behind it
        deadline = time.time() + 60 * SLOW
        while True:
            j = self.job(s, jid)
            if j["done"] >= CHUNK or j["status"] in ("done", "failed"):
                break
            self.assertLess(time.time(), deadline, j)
            time.sleep(0.005)
        self.assertEqual(j["status"], "running", j)
        self.assertLess(j["done"], count, "the job ended before the stop")
        # progress moves a large transaction at a time
        self.assertEqual(j["done"] % CHUNK, 0, j)
        self.assertEqual(self.job(s, jid2)["status"], "queued")
        part = os.path.join(self.data, "jobs", jid + ".csv.part")
        final = os.path.join(self.data, "jobs", jid + ".csv")
        self.assertTrue(os.path.exists(part))
        self.assertFalse(os.path.exists(final))
        while tear and os.path.getsize(part) < 12 * CHUNK:
            self.assertLess(time.time(), deadline, "no lines written")
            time.sleep(0.005)
        if sig == signal.SIGKILL:
            s.kill9()
        else:
            s.stop()
        self.assertFalse(os.path.exists(final), "renamed before complete")
        torn = 0
        if tear:
            # What a power cut can leave: a block of zeros inside the
            # file and a torn line at its end.
            with open(part, "r+b") as f:
                size = f.seek(0, os.SEEK_END)
                self.assertGreater(size, 24 * 1000)
                f.seek(size // 2)
                f.write(b"\0" * 4000)
                f.seek(0, os.SEEK_END)
                f.write(b"ZZZZZ-")
            torn = size // 2 // 12
        s = self.server(path)
        j = self.job(s, jid)
        self.assertIn(j["status"], ("running", "done"), j)
        drawn |= set(self.next_codes(s, "big", 2000))
        codes = self.done_job(s, jid, "big", count, "R2D", BIG_RE)
        self.assertFalse(codes & drawn, "a job code was drawn by /next")
        if tear:
            self.assertIn("lines differ from the ledger", s.log())
            lines = self.job_csv(s, jid)
            for c in lines[torn - 5:torn + 340:7]:
                a = self.lookup(s, "big", c)
                self.assertEqual((a["issued"], a.get("job")), (True, jid), a)
        self.assertFalse(os.path.exists(part))
        # the queued job ran after the restart too
        codes2 = self.done_job(s, jid2, "big", 1000, "Q1", BIG_RE)
        self.assertFalse(codes2 & (codes | drawn))
        # the prefix holds the job's codes and at most what the root
        # stream drew under it (a 3-symbol prefix: almost surely none)
        after = self.pool_info(s, "big")["issued"]
        extra = self.issued(s, "big", "R2D") - b_pfx - count
        self.assertGreaterEqual(extra, 0)
        self.assertLessEqual(extra, after - before - count)
        self.verify(path)
        return codes

    def test_restart_after_job_without_prefix(self):
        """A job with no prefix draws from the root stream (the one that
        feeds the shards); the server and uniqctl must still open the
        data directory afterwards."""
        path = self.config(cfg(tiny_pool(), big_pool()))
        s = self.server(path)
        jid = self.post_job(s, "big", 1000)      # no prefix: the default
        codes = self.done_job(s, jid, "big", 1000, "", BIG_RE)
        s.stop()
        problems = []
        # (bytes: its error message may not be text)
        r = subprocess.run([UNIQCTL, "--data-dir", self.data, "--config",
                            path, "status"], capture_output=True,
                           timeout=60 * SLOW)
        if r.returncode != 0:
            problems.append("uniqctl status exits %d: %r" %
                            (r.returncode, r.stdout + r.stderr))
        try:
            s = self.server(path)
        except AssertionError as e:
            problems.append("uniqd does not start again: %s" %
                            str(e)[-300:])
            self._servers.pop()._log.close()   # it has exited
        if problems:
            self.fail("after a job without prefix, the data directory "
                      "cannot be opened:\n" + "\n".join(problems))
        self.assertEqual(self.job(s, jid)["status"], "done")
        self.assertEqual(set(self.job_csv(s, jid)), codes)
        self.assertFalse(set(self.next_codes(s, "big", 2000)) & codes)
        self.verify(path)

    def test_restart_mid_job_sigterm(self):
        self.restart_mid_job(signal.SIGTERM)

    def test_restart_mid_job_kill9(self):
        self.restart_mid_job(signal.SIGKILL)

    def test_restart_mid_job_torn_file(self):
        self.restart_mid_job(signal.SIGKILL, tear=True)

    # ---- item 3: streams meet; a tiny pool drained completely ----------

    def test_tiny_pool_drained_through_every_stream(self):
        path = self.config(cfg(tiny_pool()))
        s = self.server(path)
        got = {}

        def take(codes, source):
            for c in codes:
                self.assertNotIn(c, got, "%s came from %s and %s" %
                                 (c, got.get(c), source))
                got[c] = source

        take(self.next_codes(s, "tiny", 12), "next")   # the root stream
        for prefix, leave in (("AB-", 0), ("A", 2), ("B", 3), ("DC-B", 0),
                              ("D", 5)):
            self.settle(s, "tiny")
            rem = self.capacity(s, "tiny", prefix)["remaining"]
            if rem - leave <= 0:
                continue
            jid = self.post_job(s, "tiny", rem - leave, prefix)
            take(self.done_job(s, jid, "tiny", rem - leave, prefix, TINY_RE),
                 "job " + prefix)
        # uniqctl beside the server, under a prefix of its own
        out = os.path.join(self.tmp, "c.csv")
        rem = self.capacity(s, "tiny", "C")["remaining"]
        r = uniqctl(self.data, "codes", "generate", "--pool", "tiny",
                    "--count", str(rem - 4), "--prefix", "C", "--out", out,
                    config=path, check=0)
        with open(out) as f:
            cli = lines_of(f.read())
        take(self.check_codes(cli, rem - 4, TINY_RE, "C"), "uniqctl C")
        take(self.next_codes(s, "tiny", 4), "next")
        # exact counts with all those streams
        self.settle(s, "tiny")
        issued = self.issued_set_tiny(s)
        self.assertLessEqual(set(got), issued)
        self.assert_tiny_counts(s, issued)
        # uniqctl on the root stream (once the refill that the draws
        # started is over: it draws from the root stream too)
        self.settle(s, "tiny")
        r = uniqctl(self.data, "codes", "generate", "--pool", "tiny",
                    "--count", "3", "--out", out + "2", config=path, check=0)
        with open(out + "2") as f:
            take(lines_of(f.read()), "uniqctl root")
        self.assertIn("3 codes", r.stderr)
        # a job on the root stream for all the rest; the shard via /next
        rem = self.capacity(s, "tiny", "")["remaining"]
        jid = self.post_job(s, "tiny", rem, "")
        take(self.done_job(s, jid, "tiny", rem, "", TINY_RE), "job root")
        take(self.next_codes(s, "tiny", 4, until_exhausted=True), "next")
        self.assertEqual(sorted(got), all_tiny_codes(),
                         "not every code exactly once")
        self.assertEqual(self.pool_info(s, "tiny")["remaining"], 0)
        self.assert_tiny_counts(s, set(all_tiny_codes()))
        b = self.post_job(s, "tiny", 1, "", want=409)
        self.assertEqual(b["error"], "not_enough")
        r = uniqctl(self.data, "codes", "generate", "--pool", "tiny",
                    "--count", "1", "--out", out + "3", config=path)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nothing was generated", r.stderr)
        self.assertFalse(os.path.exists(out + "3"))
        st, _, b = s.request("POST", "/pools/tiny/next")
        self.assertEqual((st, b["error"]), (503, "exhausted"))

    def test_streams_meet_under_load(self):
        """/next from 4 threads (the root stream, through 2 shards) while
        jobs under prefixes and on the root run, and uniqctl beside them,
        in a pool of 46656 codes where streams do meet: every code at
        most once, every job exactly its count."""
        path = self.config(cfg({"name": "mid", "kind": "code",
                                "pattern": "###", "shards": 2,
                                "shard_size": 100}))
        s = self.server(path)
        mid_re = code_re("###")
        stop = threading.Event()
        drawn = [[] for _ in range(4)]
        errors = []

        def drawer(i):
            conn = s.client()
            try:
                while not stop.is_set() and len(drawn[i]) < 2000:
                    st, _, b = s.request("POST", "/pools/mid/next?count=50",
                                         conn=conn)
                    if st == 200:
                        drawn[i] += b["values"]
                    elif st == 503 and b["error"] == "refilling":
                        time.sleep(0.005)
                    else:
                        raise AssertionError("/next: %s %r" % (st, b))
            except BaseException as e:  # noqa: B902 - report anything
                errors.append(e)
            finally:
                conn.close()

        ts = [threading.Thread(target=drawer, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        try:
            jobs = [(self.post_job(s, "mid", 400, "A"), 400, "A")]
            # (uniqctl before the jobs without prefix: see
            # test_restart_after_job_without_prefix)
            out = os.path.join(self.tmp, "mid.csv")
            uniqctl(self.data, "codes", "generate", "--pool", "mid",
                    "--count", "300", "--prefix", "C", "--out", out,
                    config=path, check=0)
            uniqctl(self.data, "codes", "generate", "--pool", "mid",
                    "--count", "2000", "--out", out + "2", config=path,
                    check=0)
            # Jobs under a prefix before those without: a job queued
            # behind a root job would have to reserve the whole of its
            # prefix against it (codejob_admit), and Z9 has only 36.
            jobs += [(self.post_job(s, "mid", n, p), n, p)
                     for p, n in (("Z9", 10), ("B", 300), ("", 8000),
                                  ("", 2000))]
            got = {}
            for jid, n, p in jobs:
                for c in self.done_job(s, jid, "mid", n, p, mid_re):
                    self.assertNotIn(c, got)
                    got[c] = "job " + jid
        finally:
            stop.set()
            for t in ts:
                t.join()
        if errors:
            raise errors[0]
        with open(out) as f:
            cli = self.check_codes(lines_of(f.read()), 300, mid_re, "C")
        with open(out + "2") as f:
            cli |= self.check_codes(lines_of(f.read()), 2000, mid_re)
        for source, codes in [("uniqctl", cli)] + [
                ("next %d" % i, d) for i, d in enumerate(drawn)]:
            for c in codes:
                self.assertNotIn(c, got, "%s from %s and %s" %
                                 (c, got.get(c), source))
                got[c] = source
        self.assertGreater(sum(len(d) for d in drawn), 0)
        # counts: what we hold, plus at most what the shards hold
        issued = self.settle(s, "mid")
        self.assertGreaterEqual(issued - len(got), 0)
        self.assertLessEqual(issued - len(got), 2 * 2 * 100)
        for p in ("A", "B", "Z9", "C"):
            n = self.issued(s, "mid", p)
            mine = sum(1 for c in got if c.startswith(p))
            self.assertGreaterEqual(n, mine, p)
            self.assertLessEqual(n - mine, issued - len(got), p)
        self.verify(path)

    # ---- item 7: uniqctl codes generate --------------------------------

    def test_uniqctl_kill9_then_second_run(self):
        path = self.config(cfg(big_pool(shard_size=100)))
        out1 = os.path.join(self.tmp, "first.csv")
        proc = subprocess.Popen([UNIQCTL, "--data-dir", self.data,
                                 "--config", path, "codes", "generate",
                                 "--pool", "big", "--count", "3000000",
                                 "--out", out1],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60 * SLOW
            while time.time() < deadline and proc.poll() is None:
                try:
                    if os.path.getsize(out1 + ".part") >= 12:
                        break
                except OSError:
                    pass
                time.sleep(0.002)
            self.assertIsNone(proc.poll(), "uniqctl ended before the kill")
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
        self.assertFalse(os.path.exists(out1), "renamed before complete")
        with open(out1 + ".part") as f:
            text = f.read()
        # complete lines were committed; a torn last line is dropped
        first = text[:text.rindex("\n") + 1].split("\n")[:-1]
        self.assertGreater(len(first), 0)
        self.assertLess(len(first), 3000000)
        first_set = self.check_codes(first, len(first), BIG_RE)
        out2 = os.path.join(self.tmp, "second.csv")
        r = uniqctl(self.data, "codes", "generate", "--pool", "big",
                    "--count", "400000", "--out", out2, config=path,
                    check=0)
        # not a terminal: plain progress lines, no carriage returns
        self.assertRegex(r.stderr, r"codes: +100% ")
        self.assertNotIn("\r", r.stderr)
        with open(out2) as f:
            second = self.check_codes(lines_of(f.read()), 400000, BIG_RE)
        self.assertFalse(first_set & second, "the second run repeated a "
                         "code of the first")
        # a server on the same data: the first run's lines are issued, and
        # nothing it draws was in either file
        s = self.server(path)
        conn = s.client()
        for c in first[:30] + first[-30:]:
            a = self.lookup(s, "big", c, conn)
            self.assertEqual((a["issued"], a.get("job")), (True, "uniqctl"),
                             a)
        conn.close()
        drawn = set(self.next_codes(s, "big", 3000))
        self.assertFalse(drawn & (first_set | second))
        self.assertGreaterEqual(self.issued(s, "big"),
                                len(first) + 400000 + 3000)
        self.verify(path)

    def test_uniqctl_beside_server_and_fast_capacity(self):
        path = self.config(cfg(big_pool()))
        s = self.server(path)
        drawn = set(self.next_codes(s, "big", 2000))
        before = self.settle(s, "big")
        b_b = self.issued(s, "big", "B")
        b_bq = self.issued(s, "big", "BQ")
        out = os.path.join(self.tmp, "b.csv")
        count = 2000000
        r = uniqctl(self.data, "codes", "generate", "--pool", "big",
                    "--count", str(count), "--prefix", "B", "--out", out,
                    config=path, check=0)
        self.assertIn("%d codes in %s" % (count, out), r.stderr)
        with open(out) as f:
            codes = self.check_codes(lines_of(f.read()), count, BIG_RE, "B")
        self.assertFalse(codes & drawn)
        # capacity is exact with millions issued under the prefix (its
        # speed is a benchmark figure, stress/bench.sh codes, not a test)
        for p, exact in (("B", b_b + count), ("", before + count)):
            c = self.capacity(s, "big", p)
            self.assertEqual(c["issued"], exact, p)
        c = self.capacity(s, "big", "BQ")
        self.assertEqual(c["issued"], b_bq + sum(1 for x in codes
                                                 if x.startswith("BQ")))
        # the server goes on, disjoint from uniqctl's file
        drawn2 = set(self.next_codes(s, "big", 3000))
        jid = self.post_job(s, "big", 5000, "B")
        job = self.done_job(s, jid, "big", 5000, "B", BIG_RE)
        self.assertFalse((drawn2 | job) & codes)
        self.assertFalse(job & (drawn | drawn2))
        # a code from the file can be redeemed once
        c = next(iter(codes))
        st, _, b = s.request("POST", "/pools/big/values/%s/redeem" % c)
        self.assertEqual(st, 200, b)
        self.verify(path)

    def test_uniqctl_progress_bar_on_a_terminal(self):
        path = self.config(cfg(big_pool(shard_size=10)))
        master, slave = pty.openpty()
        out = os.path.join(self.tmp, "tty.csv")
        proc = subprocess.Popen([UNIQCTL, "--data-dir", self.data,
                                 "--config", path, "codes", "generate",
                                 "--pool", "big", "--count", "500000",
                                 "--out", out],
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        data = b""
        deadline = time.time() + 120 * SLOW
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            elif proc.poll() is not None:
                break
        os.close(master)
        self.assertEqual(proc.wait(30), 0, data)
        text = data.decode(errors="replace")
        self.assertIn("\r", text)
        self.assertRegex(text, r"\[#+\.*\]")
        self.assertIn("100%", text)
        with open(out) as f:
            self.check_codes(lines_of(f.read()), 500000, BIG_RE)

    def test_uniqctl_errors(self):
        path = self.config(cfg(tiny_pool(), {"name": "int", "kind": "int",
                                             "shards": 1, "shard_size": 10}))
        out = os.path.join(self.tmp, "x.csv")
        for args in (["--pool", "nope", "--count", "1"],
                     ["--pool", "int", "--count", "1"],
                     ["--pool", "tiny", "--count", "0"],
                     ["--pool", "tiny", "--count", "300"],
                     ["--pool", "tiny", "--count", "65", "--prefix", "A"],
                     ["--pool", "tiny", "--count", "2", "--prefix", "AB-CD"]):
            r = uniqctl(self.data, "codes", "generate", *args, "--out", out,
                        config=path)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertTrue(r.stderr.strip(), args)
            self.assertFalse(os.path.exists(out), args)
            self.assertFalse(os.path.exists(out + ".part"), args)
        r = uniqctl(self.data, "codes", "generate", "--pool", "tiny",
                    "--count", "64", "--prefix", "A", "--out", out,
                    config=path, check=0)
        with open(out) as f:
            self.assertEqual(sorted(lines_of(f.read())),
                             [c for c in all_tiny_codes() if c[0] == "A"])

    # ---- item 6: redeem -----------------------------------------------

    def test_redeem_once(self):
        path = self.config(cfg(tiny_pool(), {"name": "int", "kind": "int",
                                             "shards": 1, "shard_size": 10}))
        s = self.server(path)
        code = self.next_codes(s, "tiny", 1)[0]
        url = "/pools/tiny/values/%s/redeem" % code
        st, h, b = s.request("POST", url)
        self.assertEqual(st, 200, b)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual((b["pool"], b["code"]), ("tiny", code))
        self.assertRegex(b["redeemed_at"], RFC3339)
        when = b["redeemed_at"]
        st, _, b2 = s.request("POST", url)
        self.assertEqual((st, b2["error"]), (409, "already_redeemed"))
        self.assertIn(when, b2["message"])
        a = self.lookup(s, "tiny", code)
        self.assertEqual((a["issued"], a["redeemed"], a.get("redeemed_at")),
                         (True, True, when), a)
        # a code never issued: 404, and it stays unissued (once the
        # refill that the draw started is over: it might issue that code)
        self.settle(s, "tiny")
        issued = self.issued_set_tiny(s)
        never = sorted(set(all_tiny_codes()) - issued)[0]
        before = self.capacity(s, "tiny", "")
        st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" % never)
        self.assertEqual((st, b["error"]), (404, "not_issued"), b)
        self.assertFalse(self.lookup(s, "tiny", never)["issued"])
        self.assertEqual(self.capacity(s, "tiny", ""), before)
        # malformed codes, other kinds, unknown pools
        for bad in ("AB-C", "ab-cd", "AB_CD", "AE-AA", "ABCDE", "AB-CDA",
                    "A%20-CD"):
            st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" % bad)
            self.assertEqual((st, b["error"]), (400, "bad_value"), bad)
        st, _, b = s.request("POST", "/pools/int/values/5/redeem")
        self.assertEqual((st, b["error"]), (400, "wrong_kind"))
        st, _, b = s.request("POST", "/pools/nope/values/AB-CD/redeem")
        self.assertEqual((st, b["error"]), (404, "unknown_pool"))
        st, h, b = s.request("GET", url)
        self.assertEqual(st, 405, b)
        # a code of a job redeems too; an unredeemed code says so
        jid = self.post_job(s, "tiny", 2, "B")
        jc = sorted(self.done_job(s, jid, "tiny", 2, "B", TINY_RE))
        self.assertFalse(self.lookup(s, "tiny", jc[0])["redeemed"])
        st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" % jc[0])
        self.assertEqual(st, 200, b)
        # durable across a restart, kill -9 included
        s.kill9()
        s = self.server(path)
        for c in (code, jc[0]):
            st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" % c)
            self.assertEqual((st, b["error"]), (409, "already_redeemed"), c)
        self.assertEqual(self.lookup(s, "tiny", code)["redeemed_at"], when)
        st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" % jc[1])
        self.assertEqual(st, 200, b)

    def test_redeem_race_exactly_one_200(self):
        s = self.server(cfg(big_pool()))
        codes = self.next_codes(s, "big", 6)
        for code in codes:
            barrier = threading.Barrier(16)

            def redeem(i):
                conn = s.client()
                try:
                    barrier.wait()
                    st, _, b = s.request("POST", "/pools/big/values/%s/redeem"
                                         % code, conn=conn)
                    return st, b
                finally:
                    conn.close()

            res = parallel(16, redeem)
            sts = sorted(st for st, _ in res)
            self.assertEqual(sts, [200] + [409] * 15, res)
            when = [b["redeemed_at"] for st, b in res if st == 200][0]
            for st, b in res:
                if st == 409:
                    self.assertEqual(b["error"], "already_redeemed")
                    self.assertIn(when, b["message"])
            self.assertEqual(self.lookup(s, "big", code)["redeemed_at"], when)

    # ---- admin token ---------------------------------------------------

    def test_admin_token(self):
        s = self.server(cfg(tiny_pool(), token=TOKEN))
        before = self.settle(s, "tiny")
        for hdrs in (None, {"Authorization": "Bearer wrong-token-xyz"},
                     {"Authorization": TOKEN},
                     {"Authorization": "Basic " + TOKEN}):
            st, h, b = s.request("POST", "/pools/tiny/jobs",
                                 body={"count": 3}, headers=hdrs)
            self.assertEqual((st, b["error"]), (401, "unauthorized"), hdrs)
            self.assertEqual(h.get("www-authenticate"), "Bearer")
        self.assertEqual(self.pool_info(s, "tiny")["issued"], before)
        st, _, b = s.get("/jobs/1")
        self.assertEqual(st, 404, "a refused job was recorded")
        jid = self.post_job(s, "tiny", 3, "A", headers=AUTH)
        j = self.wait_job(s, jid)      # GET /jobs/{id} needs no token
        self.assertEqual(j["status"], "done")
        for hdrs in (None, {"Authorization": "Bearer wrong-token-xyz"}):
            st, _, b = s.get("/jobs/%s/codes.csv" % jid, headers=hdrs)
            self.assertEqual((st, b["error"]), (401, "unauthorized"))
        codes = self.done_job(s, jid, "tiny", 3, "A", TINY_RE, headers=AUTH)
        # draws, capacity and redeem are not admin routes
        self.assertEqual(len(self.next_codes(s, "tiny", 2)), 2)
        self.capacity(s, "tiny", "A")
        st, _, b = s.request("POST", "/pools/tiny/values/%s/redeem" %
                             sorted(codes)[0])
        self.assertEqual(st, 200, b)

    # ---- fixes from the review of the code pools ------------------------

    def test_idle_server_does_not_spin(self):
        """The job worker's 1 s wait once never waited (its deadline on
        the wrong clock): a core burnt per code pool."""
        s = self.server(self.config(cfg(big_pool(), tiny_pool())))
        self.settle(s, "big")
        self.settle(s, "tiny")

        def cpu():
            with open("/proc/%d/stat" % s.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / \
                os.sysconf("SC_CLK_TCK")

        c0, t0 = cpu(), time.time()
        time.sleep(3)
        used = (cpu() - c0) / (time.time() - t0)
        # a spinning thread takes a whole CPU; a sanitizer build makes
        # the 200 ms looks of the refill threads dearer
        self.assertLess(used, 0.3 if SLOW == 1 else 0.6,
                        "an idle server used %.0f%% of a CPU" % (100 * used))

    def test_redeem_of_a_code_still_in_its_shard(self):
        """A code the shards hold but have not handed out is refused:
        redeemed now, it would be served spent later."""
        pool = {"name": "hex", "kind": "code", "pattern": "####",
                "alphabet": "0123456789ABCDEF", "shards": 1,
                "shard_size": 65536}
        s = self.server(self.config(cfg(pool)))
        deadline = time.time() + 60 * SLOW
        while self.pool_info(s, "hex")["issued"] < 65536:
            self.assertLess(time.time(), deadline, "shard never filled")
            time.sleep(0.1)
        waiting = None
        for i in range(0, 65536, 997):
            code = "%04X" % i
            a = self.lookup(s, "hex", code)
            if a["issued"] and not a["served"]:
                waiting = code
                break
        self.assertIsNotNone(waiting, "no code found waiting in the shard")
        st, _, b = s.request("POST", "/pools/hex/values/%s/redeem" % waiting)
        self.assertEqual((st, b["error"]), (409, "not_served"), b)
        self.assertFalse(self.lookup(s, "hex", waiting)["redeemed"])
        # once handed out, it redeems
        got = self.next_codes(s, "hex", 100)
        st, _, b = s.request("POST", "/pools/hex/values/%s/redeem" % got[0])
        self.assertEqual(st, 200, b)

    def test_codes_in_memory_are_not_served(self):
        """Every issued code not handed out yet, whether in its shard or
        already taken into the server's memory (its hopper), is unsent in
        the audit and refused by redeem; every code handed out is served
        and redeems once."""
        pool = {"name": "h3", "kind": "code", "pattern": "###",
                "alphabet": "ABCD", "shards": 1, "shard_size": 8}
        s = self.server(self.config(cfg(pool)))
        drawn = set(self.next_codes(s, "h3", 3))
        self.settle(s, "h3")
        codes = ["".join(t) for t in itertools.product("ABCD", repeat=3)]
        unsent = set()
        deadline = time.time() + 30 * SLOW
        while True:
            audit = {c: self.lookup(s, "h3", c) for c in codes}
            issued = {c for c, a in audit.items() if a["issued"]}
            unsent = {c for c, a in audit.items()
                      if a["issued"] and not a["served"]}
            # a take between two looks can show a code as served for a
            # commit's time; at rest every undrawn code is unsent
            if issued - drawn == unsent or time.time() > deadline:
                break
            time.sleep(0.2 * SLOW)
        self.assertLessEqual(drawn, issued)
        # more than the shard holds: some sit in memory
        self.assertGreater(len(issued - drawn), 8, issued)
        self.assertEqual(unsent, issued - drawn)
        for c in sorted(unsent):
            st, _, b = s.request("POST", "/pools/h3/values/%s/redeem" % c)
            self.assertEqual((st, b["error"]), (409, "not_served"), (c, b))
        for c in sorted(drawn):
            self.assertTrue(audit[c]["served"], c)
            st, _, b = s.request("POST", "/pools/h3/values/%s/redeem" % c)
            self.assertEqual(st, 200, (c, b))
        self.assertFalse(any(self.lookup(s, "h3", c)["redeemed"]
                             for c in unsent))

    def test_job_body_with_a_key_twice(self):
        s = self.server(self.config(cfg(big_pool())))
        st, _, b = s.request("POST", "/pools/big/jobs",
                             body='{"count": 1, "count": 5000000}',
                             headers={"Content-Type": "application/json"})
        self.assertEqual((st, b["error"]), (400, "bad_json"), b)
        self.assertIn('"count" is given twice', b["message"])
        st, _, b = s.get("/jobs")
        self.assertEqual(b["jobs"], [])

    def test_job_on_a_full_disk_waits_and_recovers(self):
        """A full disk is not "the prefix ran out": the job stays running,
        retries, and once there is room its file is exactly its codes."""
        path = self.config(cfg(big_pool()))
        self.server(path).stop()
        jobs = os.path.join(self.data, "jobs")
        p = run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", jobs])
        if p.returncode:
            self.skipTest("cannot mount a tmpfs: " + p.stderr.strip())
        try:
            s = self.server(path)
            count = 150000   # 1.8 MB of lines
            jid = self.post_job(s, "big", count, "F")
            deadline = time.time() + 60 * SLOW
            while "retrying in 1 s" not in s.log():
                self.assertLess(time.time(), deadline, s.log()[-2000:])
                time.sleep(0.05)
            j = self.job(s, jid)
            self.assertEqual(j["status"], "running", j)
            self.assertGreater(j["done"], 0, j)
            run(["mount", "-o", "remount,size=64m", jobs], check=0)
            codes = self.done_job(s, jid, "big", count, "F", BIG_RE)
            # (and the few the root stream drew under F for the shards)
            self.assertGreaterEqual(self.issued(s, "big", "F"), count)
            for c in sorted(codes)[::5000]:
                self.assertEqual(self.lookup(s, "big", c).get("job"), jid)
            s.stop()
        finally:
            run(["umount", "-l", jobs])
        self.verify(path)


if __name__ == "__main__":
    unittest.main()
