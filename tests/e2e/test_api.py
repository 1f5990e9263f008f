"""The HTTP API of the core: shapes, parameters, every error path, and that
a bad request changes nothing. Runs the real uniqd on a temporary data
directory and a free port."""
import re
import time
import unittest

from harness import SLOW, ServerTest, json_numbers_text, raw_get

INT_MAX = 2**53 - 1
SHARD_RE = re.compile(r"^(int|float)_shard_\d+$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class ApiTest(ServerTest):

    def setUp(self):
        super().setUp()
        self.s = self.server()
        self.s.wait_ready()

    def assert_error(self, resp, status, code=None):
        st, h, body = resp
        self.assertEqual(st, status, body)
        self.assertTrue(h.get("content-type", "").startswith("application/json"))
        self.assertIsInstance(body, dict, body)
        self.assertEqual(set(body), {"error", "message"}, body)
        self.assertTrue(body["message"])
        if code:
            self.assertEqual(body["error"], code, body)
        return body

    # ---- /random -------------------------------------------------------

    def test_random_int_shape(self):
        st, h, body = self.s.get("/random")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(set(body), {"number", "shard"})
        self.assertIsInstance(body["number"], int)
        self.assertTrue(0 <= body["number"] <= INT_MAX)
        self.assertRegex(body["shard"], r"^int_shard_[01]$")
        st, _, body = self.s.get("/random?type=int")
        self.assertEqual(st, 200)
        self.assertIsInstance(body["number"], int)

    def test_random_float_exact_decimals(self):
        for _ in range(50):
            st, raw = raw_get(self.s.port, "/random?type=float")
            self.assertEqual(st, 200, raw)
            text = json_numbers_text(raw, "number")[0]
            self.assertRegex(text, r"^\d{1,6}\.\d{6}$")
            self.assertTrue(0 <= float(text) < 1e6)
            self.assertRegex(raw, r'"shard":"float_shard_[01]"')

    def test_random_count(self):
        st, _, body = self.s.get("/random?count=5")
        self.assertEqual(st, 200)
        self.assertEqual(set(body), {"numbers", "shard"})
        self.assertEqual(len(body["numbers"]), 5)
        self.assertEqual(len(set(body["numbers"])), 5)
        st, _, body = self.s.get("/random?count=1&type=float")
        self.assertEqual(set(body), {"number", "shard"})
        # a hopper at rest holds a largest draw; right after start-up it
        # may still be filling
        st, raw = self.s.get_until("/random?type=float&count=10000")
        self.assertEqual(st, 200, raw[:200])
        vals = json_numbers_text(raw, "numbers")
        self.assertEqual(len(vals), 10000)
        self.assertEqual(len(set(vals)), 10000)

    def test_random_bad_parameters(self):
        for q in ["count=0", "count=-1", "count=abc", "count=1.5", "count=",
                  "count", "count=10001", "count=+5", "count=%205",
                  "count=99999999999999999999999999", "count=0x10",
                  "count=1&count=2", "type=float&type=int", "type=bogus",
                  "type=", "type=INT", "typ=float", "type=int&x=1",
                  "count=" + "9" * 300]:
            body = self.assert_error(self.s.get("/random?" + q), 400)
            self.assertIn(body["error"], ("bad_parameter", "unknown_parameter"), q)

    def test_unknown_parameter_code(self):
        body = self.assert_error(self.s.get("/random?bogus=1"), 400,
                                 "unknown_parameter")
        self.assertIn("bogus", body["message"])

    # ---- bad requests change nothing -----------------------------------

    def test_bad_requests_change_nothing(self):
        # A pool whose shard is full and idle: its counts only move if a
        # request takes something.
        self.s.stop()
        s = self.server({"pools": [{"name": "int", "kind": "int", "min": 1,
                                    "max": 1000000, "shards": 1,
                                    "shard_size": 200}]},
                        data_dir=self.tmp + "/small")
        s.wait_ready(pools=("int",), minimum=400)
        before = s.get("/pools/int")[2]
        bad = ["/random?count=0", "/random?count=10001", "/random?type=x",
               "/random?count=1&count=1", "/pools/int/next?count=0",
               "/pools/int/values/abc", "/pools/int/values/0",
               "/pools/nope/next", "/random?count=201"]
        for path in bad:
            st, _, _ = s.get(path)
            self.assertIn(st, (400, 404, 405), path)
        for path in ["/pools/int/next?count=0", "/pools/int/next?x=1",
                     "/pools/nope/next", "/random"]:
            st, _, _ = s.request("POST", path)
            self.assertIn(st, (400, 404, 405), path)
        st, _, _ = s.request("HEAD", "/random")
        self.assertEqual(st, 405)
        after = s.get("/pools/int")[2]
        self.assertEqual(before["issued"], after["issued"])
        self.assertEqual(before["ready"], after["ready"])
        # 200 in the shard and 200 taken into memory, all idle
        self.assertEqual(after["ready"], 400)
        # and a good request does move it
        self.assertEqual(s.get("/random")[0], 200)
        self.assertEqual(s.get("/pools/int")[2]["ready"], 399)

    def test_count_above_what_a_small_pool_keeps(self):
        self.s.stop()
        s = self.server({"pools": [{"name": "int", "kind": "int", "min": 1,
                                    "max": 1000000, "shards": 1,
                                    "shard_size": 50}]},
                        data_dir=self.tmp + "/small")
        s.wait_ready(pools=("int",))
        body = self.assert_error(s.get("/random?count=51"), 400,
                                 "bad_parameter")
        self.assertIn("50", body["message"])
        self.assertEqual(s.get("/pools/int")[2]["max_count"], 50)

    # ---- routes, 404, 405 ----------------------------------------------

    def test_unknown_routes(self):
        for path in ["/hello", "/random/x", "/pools/int/bogus",
                     "/pools/int/values", "/pools//int", "/" + "a" * 600,
                     "/pools/int/values/1/extra"]:
            self.assert_error(self.s.get(path), 404, "not_found")

    def test_method_not_allowed(self):
        cases = [("POST", "/random", "GET"), ("DELETE", "/pools", "GET"),
                 ("GET", "/pools/int/next", "POST"),
                 ("PUT", "/pools/int", "GET"), ("POST", "/healthz", "GET"),
                 ("PATCH", "/pools/int/values/5", "GET")]
        for method, path, allow in cases:
            st, h, body = self.s.request(method, path)
            self.assert_error((st, h, body), 405, "method_not_allowed")
            self.assertEqual(h.get("allow"), allow, (method, path))

    def test_head(self):
        st, h, _ = self.s.request("HEAD", "/pools")
        self.assertEqual(st, 200)
        st, h, _ = self.s.request("HEAD", "/random")
        self.assertEqual(st, 405)
        self.assertEqual(h.get("allow"), "GET")

    def test_trailing_slash(self):
        self.assertEqual(self.s.get("/pools/")[0], 200)
        self.assertEqual(self.s.get("/random/")[0], 200)

    def test_healthz(self):
        st, h, body = self.s.get("/healthz")
        self.assertEqual((st, body), (200, {"status": "ok"}))

    # ---- /pools --------------------------------------------------------

    def test_pools(self):
        st, _, body = self.s.get("/pools")
        self.assertEqual(st, 200)
        pools = {p["name"]: p for p in body["pools"]}
        self.assertEqual(set(pools), {"int", "float", "codes", "orders",
                                      "users"})
        self.assertEqual(pools["orders"]["kind"], "sequence")
        i, f = pools["int"], pools["float"]
        self.assertEqual(i["kind"], "int")
        self.assertEqual(i["capacity"], 2**53)
        self.assertEqual((i["min"], i["max"]), (0, INT_MAX))
        self.assertEqual(f["kind"], "float")
        self.assertEqual(f["capacity"], 10**12)
        self.assertEqual(f["decimals"], 6)
        for p in (i, f):
            self.assertEqual(p["remaining"], p["capacity"] - p["issued"])
            self.assertEqual(len(p["shards"]), 2)
            for sh in p["shards"]:
                self.assertRegex(sh["name"], SHARD_RE)
                self.assertGreaterEqual(sh["ready"], 0)
            self.assertLessEqual(p["ready"], p["issued"])
            self.assertIsInstance(p["refilling"], bool)
        st, _, one = self.s.get("/pools/float")
        self.assertEqual(st, 200)
        self.assertEqual(one["name"], "float")
        self.assertEqual(one["capacity"], 10**12)
        self.assert_error(self.s.get("/pools/nope"), 404, "unknown_pool")
        self.assert_error(self.s.get("/pools?x=1"), 400, "unknown_parameter")

    def test_issued_grows_with_refill_not_requests(self):
        """Requests pop what the ledger issued before: once the first
        fill is done, 20 draws leave issued exactly where it was. One
        shard of 20000 and its hopper of 16384 are full at rest (36384
        issued, all ready); 20 draws leave the hopper above its low mark
        (10000), so nothing is taken or issued."""
        self.s.stop()
        s = self.server({"pools": [{"name": "int", "kind": "int", "min": 1,
                                    "max": 10**9, "shards": 1,
                                    "shard_size": 20000}]},
                        data_dir=self.tmp + "/rest")
        full = 20000 + 16384
        s.wait_ready(pools=("int",), minimum=full, timeout=120)
        before = s.get("/pools/int")[2]
        self.assertEqual((before["issued"], before["ready"],
                          before["refilling"]), (full, full, False))
        for _ in range(20):
            s.draw()
        after = s.get("/pools/int")[2]
        self.assertEqual((after["issued"], after["ready"],
                          after["refilling"]), (full, full - 20, False))
        self.assertEqual(after["remaining"], after["capacity"] - after["issued"])

    # ---- POST /pools/{name}/next ---------------------------------------

    def test_next(self):
        st, _, body = self.s.request("POST", "/pools/int/next?count=3")
        self.assertEqual(st, 200, body)
        self.assertEqual(set(body), {"values", "pool", "shard"})
        self.assertEqual(body["pool"], "int")
        self.assertEqual(len(set(body["values"])), 3)
        self.assertTrue(all(isinstance(v, int) for v in body["values"]))
        st, raw = raw_get(self.s.port, "/pools/float/next", method="POST")
        self.assertEqual(st, 200, raw)
        self.assertRegex(json_numbers_text(raw, "values")[0], r"^\d+\.\d{6}$")
        self.assert_error(self.s.request("POST", "/pools/nope/next"), 404,
                          "unknown_pool")
        self.assert_error(self.s.request("POST", "/pools/int/next?count=10001"),
                          400, "bad_parameter")

    # ---- audit ---------------------------------------------------------

    def test_lookup_served_and_never_issued(self):
        v = self.s.draw()["number"]
        st, _, body = self.s.get("/pools/int/values/%d" % v)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["value"], v)
        self.assertIs(body["issued"], True)
        self.assertIs(body["served"], True)
        self.assertRegex(body["issued_at"], RFC3339)
        self.assertRegex(body["shard"], r"^int_shard_[01]$")
        # a float, by its exact text and with fewer digits
        st, raw = raw_get(self.s.port, "/random?type=float")
        text = json_numbers_text(raw, "number")[0]
        st, _, body = self.s.get("/pools/float/values/" + text)
        self.assertEqual((st, body["issued"], body["served"]), (200, True, True))
        st, _, body2 = self.s.get("/pools/float/values/" + text.rstrip("0"))
        self.assertEqual(body2, body)
        # Out of 2^53 values only a few million are issued: pick values
        # until one is not (all but certain on the first try).
        for cand in range(12345, 12345 + 50):
            st, _, body = self.s.get("/pools/int/values/%d" % cand)
            self.assertEqual(st, 200)
            if not body["issued"]:
                self.assertEqual(set(body), {"pool", "value", "issued"})
                break
        else:
            self.fail("50 consecutive values all issued?")

    def test_lookup_bad_values(self):
        for path in ["/pools/int/values/abc", "/pools/int/values/-5",
                     "/pools/int/values/1.5", "/pools/int/values/9007199254740992",
                     "/pools/int/values/99999999999999999999999",
                     "/pools/int/values/%2B5", "/pools/float/values/1.1234567",
                     "/pools/float/values/1000000", "/pools/float/values/1e3",
                     "/pools/float/values/-0.5", "/pools/int/values/%20"]:
            self.assert_error(self.s.get(path), 400, "bad_value")
        self.assert_error(self.s.get("/pools/nope/values/1"), 404, "unknown_pool")


if __name__ == "__main__":
    unittest.main()
