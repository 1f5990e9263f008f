"""Borrowed numbers (seed 001) end to end: the seed's routes byte for byte,
the native lease routes, 16 threads borrowing and returning without ever
holding one number twice, expiry (GET /check's after check_ttl, never by
default), exhaustion and recovery, kill -9 with leases out, admin-only
reset, RANGE_START/RANGE_AMOUNT, and bad input. Every wait scales by
SLOW."""
import http.client
import json
import os
import re
import threading
import time
import unittest

from harness import SLOW, UNIQD, ServerTest, parallel, run, uniqctl

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def lease_cfg(start=10000, count=10000, ttl=600, token=None,
              check_ttl=None):
    users = {"name": "users", "kind": "lease", "start": start,
             "count": count, "ttl": ttl}
    if check_ttl is not None:
        users["check_ttl"] = check_ttl
    cfg = {"pools": [users, {"name": "int", "kind": "int", "shards": 1,
                             "shard_size": 100}]}
    if token:
        cfg["admin_token"] = token
    return cfg


def raw_full(s, method, path, body=None, headers=None):
    """(status, Content-Length header, exact body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30 * SLOW)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheader("Content-Length"), r.read()
    finally:
        c.close()


def raw(s, method, path, body=None, headers=None):
    """(status, exact body bytes) for byte-level checks."""
    st, _, body = raw_full(s, method, path, body, headers)
    return st, body


def wait_until(what, cond, timeout=10):
    """Polls cond() until it returns a true value (returned), for at most
    timeout seconds scaled by SLOW; fails the test with `what` if not."""
    deadline = time.time() + timeout * SLOW
    while True:
        got = cond()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05 * SLOW)


class LeaseTest(ServerTest):

    def test_seed_routes_byte_for_byte(self):
        # Seed 001 is Flask: jsonify's compact JSON and a final newline.
        # Its Content-Lengths (27, 31, 49, 17) count that newline.
        s = self.server(lease_cfg())
        self.assertEqual(raw_full(s, "GET", "/checked"),
                         (200, "27", b'{"checked_out_numbers":[]}\n'))
        self.assertEqual(raw_full(s, "GET", "/check"),
                         (200, "31", b'{"checked_out_number":"10000"}\n'))
        self.assertEqual(raw_full(s, "GET", "/check"),
                         (200, "31", b'{"checked_out_number":"10001"}\n'))
        self.assertEqual(raw_full(s, "GET", "/checked"),
                         (200, "42",
                          b'{"checked_out_numbers":["10000","10001"]}\n'))
        self.assertEqual(raw_full(s, "POST", "/return", b'{"number": 10000}',
                                  {"Content-Type": "application/json"}),
                         (200, "49", b'{"message":"Number 10000 returned '
                                     b'successfully"}\n'))
        self.assertEqual(raw_full(s, "POST", "/return",
                                  b'{"number": "10001"}'),
                         (200, "49", b'{"message":"Number 10001 returned '
                                     b'successfully"}\n'))
        st, body = raw(s, "POST", "/return", b'{"number": 10001}')
        self.assertEqual(st, 409)
        self.assertEqual(json.loads(body)["error"], "not_out")
        raw(s, "GET", "/check")
        self.assertEqual(raw_full(s, "GET", "/reset"),
                         (200, "17", b'{"reset":"true"}\n'))
        self.assertEqual(raw_full(s, "GET", "/checked"),
                         (200, "27", b'{"checked_out_numbers":[]}\n'))
        # only the seed's routes: the native ones end at the "}"
        st, body = raw(s, "GET", "/pools/users/leases")
        self.assertEqual((st, body[-1:]), (200, b"}"))
        for body in (b"", b"{}", b"[]", b"nope", b'{"number": 1.5}',
                     b'{"number": "12a"}', b'{"number": null}'):
            st, out = raw(s, "POST", "/return", body)
            self.assertEqual(st, 400, body)
            self.assertEqual(json.loads(out)["error"], "bad_parameter")
        # HEAD never borrows
        self.assertEqual(raw(s, "HEAD", "/check")[0], 405)
        self.assertEqual(raw(s, "GET", "/checked")[1],
                         b'{"checked_out_numbers":[]}\n')

    def test_native_routes(self):
        s = self.server(lease_cfg(start=1, count=5))
        st, h, body = s.request("POST", "/pools/users/leases",
                                body={"holder": "vu-17", "ttl": 30})
        self.assertEqual(st, 201, body)
        self.assertEqual((body["pool"], body["number"], body["holder"]),
                         ("users", 1, "vu-17"))
        self.assertRegex(body["borrowed_at"], RFC3339)
        self.assertRegex(body["expires_at"], RFC3339)
        st, _, body = s.request("POST", "/pools/users/leases",
                                body={"ttl": 0})
        self.assertEqual((st, body["number"], body["expires_at"]),
                         (201, 2, None))
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["holder"]), (201, ""))
        st, _, lst = s.get("/pools/users/leases")
        self.assertEqual((lst["out"], lst["free"]), (3, 2))
        self.assertEqual([x["number"] for x in lst["leases"]], [1, 2, 3])
        # renew: a new expiry; with a holder, only that holder
        st, _, body = s.request("POST", "/pools/users/leases/1/renew",
                                body={"ttl": 300, "holder": "vu-17"})
        self.assertEqual(st, 200, body)
        st, _, body = s.request("POST", "/pools/users/leases/1/renew",
                                body={"holder": "vu-18"})
        self.assertEqual((st, body["error"]), (409, "other_holder"))
        st, _, body = s.request("POST", "/pools/users/leases/4/renew")
        self.assertEqual((st, body["error"]), (409, "not_out"))
        # return: 409 for another holder or a number not out
        st, _, body = s.request("DELETE", "/pools/users/leases/1?holder=x")
        self.assertEqual((st, body["error"]), (409, "other_holder"))
        st, _, body = s.request("DELETE", "/pools/users/leases/1?holder=vu-17")
        self.assertEqual((st, body), (200, {"pool": "users", "number": 1,
                                            "returned": True}))
        st, _, body = s.request("DELETE", "/pools/users/leases/1")
        self.assertEqual((st, body["error"]), (409, "not_out"))
        # reset (no token configured: open)
        st, _, body = s.request("POST", "/pools/users/reset")
        self.assertEqual((st, body), (200, {"pool": "users", "returned": 2}))
        st, _, pool = s.get("/pools/users")
        self.assertEqual((pool["kind"], pool["issued"], pool["remaining"],
                          pool["start"], pool["count"]),
                         ("lease", 0, 5, 1, 5))

    def test_bad_input_changes_nothing(self):
        s = self.server(lease_cfg(start=1, count=5))
        cases = [
            ("POST", "/pools/users/leases", "not json", 400),
            ("POST", "/pools/users/leases", '{"ttl": -1}', 400),
            ("POST", "/pools/users/leases", '{"ttl": 1.5}', 400),
            ("POST", "/pools/users/leases", '{"ttl": "5"}', 400),
            ("POST", "/pools/users/leases", '{"ttl": 99999999999}', 400),
            ("POST", "/pools/users/leases", '{"holder": 5}', 400),
            ("POST", "/pools/users/leases", '{"holder": "%s"}' % ("h" * 65),
             400),
            ("POST", "/pools/users/leases", '{"holder": "a\\nb"}', 400),
            ("POST", "/pools/users/leases", '{"colour": "red"}', 400),
            ("POST", "/pools/users/leases", '{"ttl": 5} x', 400),
            ("POST", "/pools/users/leases?x=1", None, 400),
            ("POST", "/pools/nope/leases", None, 404),
            ("POST", "/pools/int/leases", None, 400),
            ("DELETE", "/pools/users/leases/abc", None, 400),
            ("DELETE", "/pools/users/leases/01", None, 400),
            ("DELETE", "/pools/users/leases/6", None, 404),
            ("DELETE", "/pools/users/leases/0", None, 404),
            ("DELETE", "/pools/users/leases/99999999999999999999", None, 404),
            ("POST", "/pools/users/next", None, 400),
            ("GET", "/pools/users/values/1", None, 400),
            ("PUT", "/pools/users/leases", None, 405),
        ]
        for method, path, body, want in cases:
            st, _, out = s.request(method, path, body=body)
            self.assertEqual(st, want, (method, path, body, out))
            self.assertIn("error", out)
        st, _, lst = s.get("/pools/users/leases")
        self.assertEqual(lst["out"], 0)

    def test_admin_token(self):
        s = self.server(lease_cfg(token="s3cret-token"))
        raw(s, "GET", "/check")
        for path, method in (("/reset", "GET"), ("/pools/users/reset", "POST")):
            for auth in (None, "Bearer wrong", "Bearer s3cret-toke",
                         "Bearer s3cret-token2", "s3cret-token"):
                hdr = {"Authorization": auth} if auth else {}
                st, h, body = s.request(method, path, headers=hdr)
                self.assertEqual((st, body["error"]), (401, "unauthorized"),
                                 (path, auth))
                self.assertEqual(h.get("www-authenticate"), "Bearer")
        self.assertEqual(s.get("/checked")[2]["checked_out_numbers"], ["10000"])
        st, _, body = s.request("GET", "/reset", headers={
            "Authorization": "Bearer s3cret-token"})
        self.assertEqual((st, body), (200, {"reset": "true"}))

    def test_16_threads_never_share_a_number(self):
        s = self.server(lease_cfg(start=0, count=24))
        holding = {}
        lock = threading.Lock()
        clashes = []
        pairs = [0]

        def vu(i):
            conn = s.client()
            try:
                for _ in range(60):
                    st, _, body = s.request(
                        "POST", "/pools/users/leases", conn=conn,
                        body={"holder": "vu-%d" % i})
                    if st == 503:
                        self.assertEqual(body["error"], "all_out")
                        continue
                    self.assertEqual(st, 201, body)
                    n = body["number"]
                    with lock:
                        if n in holding:
                            clashes.append((n, holding[n], i))
                        holding[n] = i
                    time.sleep(0.001 * SLOW)
                    with lock:
                        del holding[n]
                    st, _, body = s.request(
                        "DELETE", "/pools/users/leases/%d?holder=vu-%d" %
                        (n, i), conn=conn)
                    self.assertEqual(st, 200, body)
                    with lock:
                        pairs[0] += 1
            finally:
                conn.close()

        parallel(16, vu)
        self.assertEqual(clashes, [])
        self.assertGreater(pairs[0], 16 * 30)
        self.assertEqual(s.get("/pools/users/leases")[2]["out"], 0)

    def test_expiry(self):
        # The lease that never expires is borrowed first, so that however
        # slow the build, the numbers are known: 1 never ends, 2 ends
        # after its second (a slow build only waits longer for it).
        s = self.server(lease_cfg(start=1, count=3, ttl=1))
        st, _, body = s.request("POST", "/pools/users/leases",
                                body={"ttl": 0})
        self.assertEqual((st, body["number"]), (201, 1), body)
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["number"]), (201, 2), body)
        lst = wait_until("lease 2 to expire", lambda: (
            lambda l: l if l["out"] == 1 else None)(
                s.get("/pools/users/leases")[2]))
        self.assertEqual([x["number"] for x in lst["leases"]], [1])
        self.assertIsNone(lst["leases"][0]["expires_at"])
        # the expired number is lent again (the lowest free)
        st, _, body = s.request("POST", "/pools/users/leases",
                                body={"ttl": 0})
        self.assertEqual((st, body["number"]), (201, 2))

    def test_check_never_expires_by_default(self):
        # Seed 001's scripts cannot renew: GET /check borrows with the
        # pool's check_ttl (default 0: never), not its ttl. The native
        # lease borrowed after it ends after the ttl; the /check one,
        # which would have ended first, is still out.
        s = self.server(lease_cfg(start=1, count=3, ttl=1))
        self.assertEqual(raw(s, "GET", "/check"),
                         (200, b'{"checked_out_number":"1"}\n'))
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["number"]), (201, 2), body)
        self.assertIsNotNone(body["expires_at"])
        lst = wait_until("the native lease to expire", lambda: (
            lambda l: l if l["out"] == 1 else None)(
                s.get("/pools/users/leases")[2]))
        self.assertEqual([(x["number"], x["expires_at"])
                          for x in lst["leases"]], [(1, None)])
        self.assertEqual(raw(s, "GET", "/checked"),
                         (200, b'{"checked_out_numbers":["1"]}\n'))
        pool = s.get("/pools/users")[2]
        self.assertEqual((pool["ttl"], pool["check_ttl"]), (1, 0))
        # and it is returned as usual
        self.assertEqual(raw(s, "POST", "/return", b'{"number": 1}')[0], 200)

    def test_check_ttl_configured(self):
        # check_ttl set: /check leases expire after it, native ones keep
        # the pool's ttl. The native borrow goes first: the /check lease
        # may expire (1 s) before a slow build gets to the next request.
        s = self.server(lease_cfg(start=1, count=3, ttl=600, check_ttl=1))
        self.assertEqual(s.get("/pools/users")[2]["check_ttl"], 1)
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["number"]), (201, 1), body)
        self.assertEqual(raw(s, "GET", "/check"),
                         (200, b'{"checked_out_number":"2"}\n'))
        wait_until("the /check lease to expire",
                   lambda: raw(s, "GET", "/checked") ==
                   (200, b'{"checked_out_numbers":["1"]}\n'))
        lst = s.get("/pools/users/leases")[2]
        self.assertEqual([x["number"] for x in lst["leases"]], [1])
        self.assertIsNotNone(lst["leases"][0]["expires_at"])

    def test_bad_check_ttl_refused(self):
        for i, bad in enumerate((-1, 31622401, 1.5, "soon", None)):
            cfg = lease_cfg()
            cfg["pools"][0]["check_ttl"] = bad
            path = self.config(cfg, "bad-%d.json" % i)
            p = run([UNIQD, "--config", path, "--data-dir",
                     os.path.join(self.tmp, "d%d" % i), "--listen",
                     "127.0.0.1:0"], timeout=20)
            out = p.stdout + p.stderr
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn("check_ttl", out, repr(bad))
            self.assertNotIn("listening", out)

    def test_exhaustion_and_recovery(self):
        s = self.server(lease_cfg(start=7, count=3))
        got = [s.request("POST", "/pools/users/leases")[2]["number"]
               for _ in range(3)]
        self.assertEqual(got, [7, 8, 9])
        st, h, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["error"]), (503, "all_out"))
        self.assertEqual(h.get("retry-after"), "1")
        st, _, body = s.get("/check")
        self.assertEqual((st, body["error"]), (503, "all_out"))
        self.assertEqual(s.request("DELETE", "/pools/users/leases/8")[0], 200)
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["number"]), (201, 8))

    def test_kill9_with_leases_out(self):
        s = self.server(lease_cfg(start=1, count=100))
        answered = []

        def vu(i):
            conn = s.client()
            try:
                for _ in range(10):
                    st, _, body = s.request("POST", "/pools/users/leases",
                                            conn=conn,
                                            body={"holder": "vu-%d" % i})
                    self.assertEqual(st, 201, body)
                    answered.append((body["number"], body["holder"]))
            finally:
                conn.close()

        parallel(8, vu)
        s.request("DELETE", "/pools/users/leases/5")
        answered = [a for a in answered if a[0] != 5]
        s.kill9()
        s = self.server(lease_cfg(start=1, count=100))
        lst = s.get("/pools/users/leases")[2]
        self.assertEqual(sorted((x["number"], x["holder"])
                                for x in lst["leases"]), sorted(answered))
        # and none of them is lent again
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual((st, body["number"]), (201, 5))
        st, _, body = s.request("POST", "/pools/users/leases")
        self.assertEqual(body["number"], 81)

    def test_range_from_environment(self):
        s = self.server(env={"RANGE_START": "500", "RANGE_AMOUNT": "2"})
        self.assertEqual(raw(s, "GET", "/check")[1],
                         b'{"checked_out_number":"500"}\n')
        self.assertEqual(raw(s, "GET", "/check")[1],
                         b'{"checked_out_number":"501"}\n')
        self.assertEqual(raw(s, "GET", "/check")[0], 503)
        pool = s.get("/pools/users")[2]
        self.assertEqual((pool["start"], pool["count"]), (500, 2))

    def test_tools_beside_the_server_leave_leases_alone(self):
        # The server lends [50000, 50100); uniqctl runs beside it with the
        # built-in configuration (users = [10000, 20000)). It must not fit
        # the lease pool to its own range: that would end the lease, and a
        # restart would lend the number to a second holder.
        s = self.server(env={"RANGE_START": "50000", "RANGE_AMOUNT": "100"})
        st, _, a = s.request("POST", "/pools/users/leases",
                             {"holder": "A"})
        self.assertEqual((st, a["number"]), (201, 50000))
        uniqctl(self.data, "codes", "generate", "--pool", "codes",
                "--count", "10", "--out", self.data + "-codes.txt", check=0)
        uniqctl(self.data, "init", "--pool", "int", check=0)
        uniqctl(self.data, "status", check=0)
        self.assertEqual([l["number"] for l in
                          s.get("/pools/users/leases")[2]["leases"]],
                         [50000])
        s.stop()
        s = self.server(env={"RANGE_START": "50000", "RANGE_AMOUNT": "100"})
        st, _, b = s.request("POST", "/pools/users/leases",
                             {"holder": "B"})
        self.assertEqual((st, b["number"]), (201, 50001))
        st, _, body = s.request("DELETE", "/pools/users/leases/50000")
        self.assertEqual(st, 200, body)

    def test_restart_with_a_smaller_range_says_what_it_ends(self):
        s = self.server(env={"RANGE_START": "500", "RANGE_AMOUNT": "10"})
        for _ in range(10):
            self.assertEqual(s.request("POST", "/pools/users/leases")[0], 201)
        s.stop()
        s = self.server(env={"RANGE_START": "500", "RANGE_AMOUNT": "5"})
        log = s.log()
        self.assertIn("range changed", log)
        leases = s.get("/pools/users/leases")[2]["leases"]
        self.assertEqual(sorted(l["number"] for l in leases),
                         list(range(500, 505)))


if __name__ == "__main__":
    unittest.main()
