"""Daily order ids (seed 003) end to end: POST /orders and its shapes, 100
concurrent clients get contiguous unique ids, a restart continues after the
last id, kill -9 under load never repeats an id, Idempotency-Key retries,
the day's last id then 503 exhausted with Retry-After, the Order page, and
the audit of ids."""
import re
import threading
import time
import unittest

from harness import SLOW, ServerTest, parallel

ID_RE = re.compile(r"^(\d{8})-(\d{5})$")


def orders_cfg(digits=5, tz="UTC"):
    return {"pools": [{"name": "orders", "kind": "sequence", "digits": digits,
                       "tz": tz},
                      {"name": "int", "kind": "int", "shards": 1,
                       "shard_size": 1000}]}


class OrdersTest(ServerTest):

    def setUp(self):
        super().setUp()
        # The tests compare ids with today's date, in UTC and in
        # Pacific/Kiritimati (UTC+14): one that straddled either midnight
        # would see two days. Start clear of both.
        margin = 60 * SLOW
        for offset in (0, 14 * 3600):
            left = 86400 - (time.time() + offset) % 86400
            if left < margin:
                time.sleep(left + 2)

    def order(self, s, conn=None, key=None, path="/orders"):
        headers = {"Idempotency-Key": key} if key is not None else None
        st, h, body = s.request("POST", path, conn=conn, headers=headers)
        return st, h, body

    def test_shapes_and_contiguity(self):
        s = self.server(orders_cfg())
        st, h, body = self.order(s)
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(set(body), {"id"})
        m = ID_RE.match(body["id"])
        self.assertIsNotNone(m, body)
        self.assertEqual(m.group(1), time.strftime("%Y%m%d", time.gmtime()))
        self.assertEqual(m.group(2), "00001")
        st, _, body = self.order(s, path="/orders/")
        self.assertEqual(body["id"][-5:], "00002")
        st, _, body = s.request("POST", "/pools/orders/next?count=3")
        self.assertEqual(st, 200)
        self.assertEqual([v[-5:] for v in body["values"]],
                         ["00003", "00004", "00005"])
        self.assertEqual(body["pool"], "orders")
        st, _, pool = s.get("/pools/orders")
        self.assertEqual((pool["kind"], pool["issued"], pool["capacity"],
                          pool["remaining"], pool["tz"], pool["digits"]),
                         ("sequence", 5, 99999, 99994, "UTC", 5))
        # audit
        st, _, a = s.get("/pools/orders/values/" + body["values"][0])
        self.assertEqual((st, a["issued"]), (200, True))
        self.assertIn("issued_at", a)
        day = body["values"][0][:8]
        st, _, a = s.get("/pools/orders/values/%s-00006" % day)
        self.assertEqual((st, a["issued"]), (200, False))
        for bad in ("x", "%s-6" % day, "%s-000006" % day, "20261399-00001",
                    "%s_00001" % day):
            st, _, a = s.get("/pools/orders/values/" + bad)
            self.assertEqual((st, a["error"]), (400, "bad_value"), bad)

    def test_text_plain(self):
        """Seed 003's clients read the bare id: with Accept: text/plain,
        POST /orders answers exactly it; JSON stays the default (no
        Accept, */*, a tie), errors stay JSON, and a replay is the same
        text."""
        s = self.server(orders_cfg())
        n = 0
        for accept, text in ((None, False), ("*/*", False),
                             ("text/plain", True), ("TEXT/PLAIN", True),
                             ("text/plain; charset=utf-8", True),
                             ("text/*, application/json;q=0.9", True),
                             ("text/plain, application/json", False),
                             ("application/json", False),
                             ("text/plain;q=0, */*", False),
                             ("text/html", False)):
            n += 1
            hdrs = {"Accept": accept} if accept else {}
            c = s.client()
            c.request("POST", "/orders", headers=hdrs)
            r = c.getresponse()
            raw = r.read().decode()
            c.close()
            self.assertEqual(r.status, 200, (accept, raw))
            ctype = r.getheader("Content-Type")
            if text:
                self.assertEqual(ctype, "text/plain", accept)
                self.assertRegex(raw, r"^\d{8}-%05d$" % n, accept)
                self.assertEqual(len(raw), 14)
            else:
                self.assertEqual(ctype, "application/json", accept)
                self.assertRegex(raw, r'^\{"id":"\d{8}-%05d"\}$' % n,
                                 accept)
        hdrs = {"Accept": "text/plain", "Idempotency-Key": "k1"}
        st, h, first = s.request("POST", "/orders", headers=hdrs)
        st2, h2, again = s.request("POST", "/orders", headers=hdrs)
        self.assertEqual((st, st2, first), (200, 200, again))
        self.assertEqual(h2.get("idempotent-replay"), "true")
        self.assertTrue(ID_RE.match(first), first)
        st, h, body = s.request("POST", "/orders?x=1",
                                headers={"Accept": "text/plain"})
        self.assertEqual((st, h["content-type"], body["error"]),
                         (400, "application/json", "unknown_parameter"))
        # /next keeps its JSON shape
        st, h, body = s.request("POST", "/pools/orders/next",
                                headers={"Accept": "text/plain"})
        self.assertEqual((st, h["content-type"]), (200, "application/json"))

    def test_errors(self):
        s = self.server(orders_cfg())
        for method in ("PUT", "DELETE"):
            st, h, body = s.request(method, "/orders")
            self.assertEqual(st, 405)
            self.assertEqual(h["allow"], "POST, GET")
        st, _, body = s.request("POST", "/orders?x=1")
        self.assertEqual((st, body["error"]), (400, "unknown_parameter"))
        for n in ("0", "100000", "abc"):
            st, _, body = s.request("POST", "/pools/orders/next?count=" + n)
            self.assertEqual((st, body["error"]), (400, "bad_parameter"), n)
        for key in ("", "a" * 256, "has space", "caf\u00e9"):
            st, _, body = self.order(s, key=key)
            self.assertEqual((st, body["error"]), (400, "bad_parameter"),
                             key)
        # none of that took an id
        st, _, body = self.order(s)
        self.assertEqual(body["id"][-5:], "00001")

    def test_order_page(self):
        s = self.server(orders_cfg())
        st, h, page = s.get("/orders")
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))
        self.assertIn("<button", page)
        self.assertIn("fetch('/orders'", page)
        st, _, _ = s.request("HEAD", "/orders")
        self.assertEqual(st, 200)

    def test_100_concurrent_clients_contiguous_unique(self):
        s = self.server(orders_cfg())
        got = []
        lock = threading.Lock()

        def client(i):
            conn = s.client()
            try:
                for _ in range(20):
                    st, _, body = self.order(s, conn=conn)
                    self.assertEqual(st, 200, body)
                    with lock:
                        got.append(body["id"])
            finally:
                conn.close()

        parallel(100, client)
        nums = sorted(int(i[-5:]) for i in got)
        self.assertEqual(nums, list(range(1, 2001)))
        self.assertEqual(len({i[:8] for i in got}), 1)

    def test_restart_continues(self):
        s = self.server(orders_cfg())
        for _ in range(5):
            last = self.order(s)[2]["id"]
        s.stop()
        s = self.server(orders_cfg())
        nxt = self.order(s)[2]["id"]
        self.assertEqual(int(nxt[-5:]), int(last[-5:]) + 1)

    def test_kill9_under_load_never_repeats(self):
        seen = []
        lock = threading.Lock()
        for round_ in range(3):
            s = self.server(orders_cfg())
            stop = threading.Event()

            def client(i):
                conn = s.client()
                try:
                    while not stop.is_set():
                        try:
                            st, _, body = self.order(s, conn=conn)
                        except OSError:
                            return
                        if st == 200:
                            with lock:
                                seen.append(body["id"])
                except Exception:  # the server died under us
                    return
                finally:
                    conn.close()

            ts = [threading.Thread(target=client, args=(i,)) for i in range(16)]
            for t in ts:
                t.start()
            time.sleep((0.3 + 0.3 * round_) * SLOW)
            s.kill9()
            stop.set()
            for t in ts:
                t.join()
        s = self.server(orders_cfg())
        for _ in range(10):
            seen.append(self.order(s)[2]["id"])
        self.assertGreater(len(seen), 100)
        self.assertEqual(len(seen), len(set(seen)), "an order id repeated")

    def test_idempotent_retries(self):
        s = self.server(orders_cfg())
        st, h, first = self.order(s, key="cart-42")
        self.assertNotIn("idempotent-replay", h)
        self.order(s)
        for _ in range(3):
            st, h, again = self.order(s, key="cart-42")
            self.assertEqual((st, again), (200, first))
            self.assertEqual(h.get("idempotent-replay"), "true")
        # the retries took nothing
        self.assertEqual(int(self.order(s)[2]["id"][-5:]), 3)
        # a key is kept across a restart
        s.stop()
        s = self.server(orders_cfg())
        self.assertEqual(self.order(s, key="cart-42")[2], first)
        # the same key with another count is a conflict
        st, _, body = s.request("POST", "/pools/orders/next?count=2",
                                headers={"Idempotency-Key": "cart-42"})
        self.assertEqual((st, body["error"]), (409, "conflict"))

    def test_overflow_until_tomorrow(self):
        s = self.server(orders_cfg(digits=2))
        st, _, body = s.request("POST", "/pools/orders/next?count=99")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["values"][-1][-2:], "99")
        st, h, body = self.order(s)
        self.assertEqual((st, body["error"]), (503, "exhausted"))
        retry = int(h["retry-after"])
        now = time.gmtime()
        left = 86400 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
        self.assertLessEqual(abs(retry - left), 5)
        st, _, pool = s.get("/pools/orders")
        self.assertEqual((pool["issued"], pool["remaining"]), (99, 0))
        # a count over what a day holds is a bad parameter, not exhaustion
        st, _, body = s.request("POST", "/pools/orders/next?count=100")
        self.assertEqual((st, body["error"]), (400, "bad_parameter"))

    def test_day_used_is_shown_before_the_day_runs_out(self):
        """The share of the day's ids used, in GET /pools/orders, GET
        /pools and /metrics, from 0 to 1 (then 503 exhausted), and the
        admin page's warning above 80%."""
        s = self.server(orders_cfg(digits=1))  # 9 ids a day

        def used():
            st, _, pool = s.get("/pools/orders")
            self.assertEqual(st, 200)
            st, _, allp = s.get("/pools")
            by = {p["name"]: p for p in allp["pools"]}
            self.assertEqual(by["orders"]["day_used"], pool["day_used"])
            st, _, text = s.get("/metrics")
            m = re.search(r'^uniqd_sequence_day_used\{pool="orders"\} '
                          r'([0-9.]+)$', text, re.M)
            self.assertTrue(m, text[-2000:])
            self.assertAlmostEqual(float(m.group(1)), pool["day_used"],
                                   places=6)
            self.assertIn("# TYPE uniqd_sequence_day_used gauge", text)
            return pool["day_used"]

        self.assertEqual(used(), 0)
        for i in range(1, 10):
            self.assertEqual(self.order(s)[0], 200)
            self.assertAlmostEqual(used(), i / 9, places=5)
        self.assertEqual(used(), 1)
        self.assertEqual(self.order(s)[0], 503)
        st, _, page = s.get("/")
        self.assertIn("DAY_WARN = 0.8", page)
        self.assertIn("day_used", page)

    def test_time_zone(self):
        s = self.server(orders_cfg(tz="Pacific/Kiritimati"))
        body = self.order(s)[2]
        local = time.gmtime(time.time() + 14 * 3600)
        self.assertEqual(body["id"][:8], time.strftime("%Y%m%d", local))
        st, _, pool = s.get("/pools/orders")
        self.assertEqual(pool["tz"], "Pacific/Kiritimati")

    def test_unknown_zone_refused(self):
        from harness import run, UNIQD
        cfg = self.config(orders_cfg(tz="Mars/Olympus_Mons"))
        p = run([UNIQD, "--data-dir", self.data, "--config", cfg,
                 "--listen", "127.0.0.1:0"], timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Mars/Olympus_Mons", p.stderr)


if __name__ == "__main__":
    unittest.main()
