"""uniqctl end to end: init (the seed's initialize_shards) with its progress
output, status, lookup, and verify, including that verify catches a value
held twice or slipped into a shard behind the ledger's back."""
import json
import os
import re
import unittest

from harness import ServerTest, UNIQ_CORRUPT, UNIQCTL, run, uniqctl

# int: 2000 of 10000 values issued by init, so that a walk of lookups finds
# issued and unissued values in a few steps (each is a uniqctl process)
CFG = {"pools": [{"name": "int", "kind": "int", "min": 1, "max": 10**4,
                  "shards": 2, "shard_size": 1000},
                 {"name": "float", "kind": "float", "min": 0, "max": 1,
                  "decimals": 5, "shards": 1, "shard_size": 500}]}


def status_counts(text):
    """{shard name: ready} and {pool: issued} from `uniqctl status`."""
    ready, issued = {}, {}
    for line in text.splitlines():
        if "_shard_" in line:
            name, rest = line.strip().split(": ")
            ready[name] = int(rest.split()[0])
        elif "issued " in line:
            issued[line.split(" ")[0]] = int(line.split("issued ")[1].split(",")[0])
    return ready, issued


class CliTest(ServerTest):

    def setUp(self):
        super().setUp()
        self.cfg = self.config(CFG)

    def ctl(self, *args, check=None):
        return uniqctl(self.data, *args, config=self.cfg, check=check)

    def test_init_fills_every_shard(self):
        p = self.ctl("init", check=0)
        # not a terminal: plain progress lines, then a summary
        self.assertIn("init: 100%", p.stderr)
        self.assertIn("init: 2500 in", p.stderr)
        ready, issued = status_counts(self.ctl("status", check=0).stdout)
        self.assertEqual(ready, {"int_shard_0": 1000, "int_shard_1": 1000,
                                 "float_shard_0": 500})
        self.assertEqual(issued, {"int": 2000, "float": 500})
        # a second init has nothing to do
        self.ctl("init", check=0)
        self.assertEqual(status_counts(self.ctl("status", check=0).stdout)[1],
                         {"int": 2000, "float": 500})
        self.assertIn("ok: no value is held twice",
                      self.ctl("verify", check=0).stdout)

    def test_init_one_pool(self):
        self.ctl("init", "--pool", "float", check=0)
        _, issued = status_counts(self.ctl("status", check=0).stdout)
        self.assertEqual(issued, {"int": 0, "float": 500})
        p = self.ctl("init", "--pool", "nope")
        self.assertNotEqual(p.returncode, 0)

    def test_server_serves_what_init_filled(self):
        self.ctl("init", check=0)
        s = self.server(self.cfg)
        s.wait_ready()
        v = s.draw()["number"]
        self.assertTrue(1 <= v <= 10**4)
        s.stop()
        out = json.loads(self.ctl("lookup", "int", str(v), check=0).stdout)
        self.assertEqual((out["issued"], out["served"]), (True, True))
        self.assertEqual(out["value"], v)
        self.assertRegex(out["shard"], r"^int_shard_[01]$")

    def test_lookup(self):
        self.ctl("init", check=0)
        # every value issued by init is still in a shard: not served
        seen_issued = 0
        for v in range(1, 3001):
            out = json.loads(self.ctl("lookup", "int", str(v), check=0).stdout)
            if out["issued"]:
                seen_issued += 1
                self.assertIs(out["served"], False)
            if seen_issued >= 3:
                break
        self.assertEqual(seen_issued, 3)
        out = json.loads(self.ctl("lookup", "float", "0.5", check=0).stdout)
        self.assertEqual(out["pool"], "float")
        self.assertEqual(set(out), {"pool", "value", "issued", "issued_at",
                                    "shard", "served"}
                         if out["issued"] else {"pool", "value", "issued"})
        for bad in [("int", "abc"), ("int", "0"), ("int", "10001"),
                    ("float", "1.0"), ("float", "0.123456")]:
            p = self.ctl("lookup", *bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("not a value of pool", p.stderr)
        p = self.ctl("lookup", "nope", "1")
        self.assertEqual(p.returncode, 1)

    def test_usage(self):
        p = run([UNIQCTL, "--help"], check=0)
        for word in ("init", "lookup", "verify", "status"):
            self.assertIn(word, p.stdout)
        self.assertEqual(run([UNIQCTL]).returncode, 2)
        self.assertEqual(run([UNIQCTL, "frobnicate"]).returncode, 2)
        self.assertEqual(run([UNIQCTL, "lookup", "int"]).returncode, 2)
        self.assertEqual(run([UNIQCTL, "verify", "--pool"]).returncode, 2)

    def test_options_anywhere(self):
        """--config and --data-dir after the command or its arguments, as
        kubectl, docker and systemctl take theirs (issue 13: `uniqctl init
        --data-dir DIR` answered a usage message)."""
        d = ["--data-dir", self.data]
        run([UNIQCTL, "init", "--pool", "int"] + d + ["--config", self.cfg],
            check=0)
        run([UNIQCTL, "init", "--config=" + self.cfg, "-d", self.data],
            check=0)
        p = run([UNIQCTL, "status", "-c", self.cfg, "--data-dir=" + self.data],
                check=0)
        ready, issued = status_counts(p.stdout)
        self.assertEqual(issued, {"int": 2000, "float": 500})
        p = run([UNIQCTL, "verify", "--pool", "float", "-c" + self.cfg] + d,
                check=0)
        self.assertIn("0 problems", p.stdout)
        # the same answer as with the options first
        first = run([UNIQCTL] + d + ["--config", self.cfg, "lookup", "int",
                                     "5"], check=0).stdout
        last = run([UNIQCTL, "lookup", "int", "5", "--config", self.cfg] + d,
                   check=0).stdout
        self.assertEqual(json.loads(first), json.loads(last))
        # an option without its value, wherever it stands, is usage
        for args in (["status", "--data-dir"], ["status", "-c"],
                     ["init", "--pool", "int", "--config"]):
            p = run([UNIQCTL] + args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("needs a value", p.stderr, args)
        p = run([UNIQCTL, "status", "--help"], check=0)
        self.assertIn("usage: uniqctl", p.stdout)

    def test_commands_need_an_existing_data_dir(self):
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file", p.stderr)
        self.assertFalse(os.path.exists(self.data))

    def test_a_file_whose_creation_was_cut(self):
        """A kill between a file's open(2) and LMDB's header write leaves it
        empty. The read-only commands take it for a file not created yet
        (they used to fail with "Bad file descriptor": LMDB tried to write
        the header read-only); the next start finishes the creation."""
        self.ctl("init", check=0)
        shard = os.path.join(self.data, "shards", "float_shard_0.mdb")
        open(shard, "wb").close()
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("pool float: 1 grants, 500 values issued, 0 ready",
                      p.stdout)
        self.assertIn("ok: no value is held twice", p.stdout)
        self.assertEqual(os.path.getsize(shard), 0)
        ready, issued = status_counts(self.ctl("status", check=0).stdout)
        self.assertEqual(issued, {"int": 2000, "float": 500})
        self.assertEqual(ready.get("float_shard_0", 0), 0)
        out = json.loads(self.ctl("lookup", "float", "0.5", check=0).stdout)
        self.assertEqual(out["value"], 0.5)
        # the server creates it and serves floats the ledger never issued
        s = self.server(self.cfg)
        s.wait_ready()
        got = [s.draw("float")["number"] for _ in range(20)]
        s.stop()
        self.assertEqual(len(set(got)), 20)
        self.assertGreater(os.path.getsize(shard), 0)
        p = self.ctl("verify", check=0)
        self.assertIn("ok: no value is held twice", p.stdout)
        # an empty ledger: no ledger yet
        ledger = [f for f in os.listdir(self.data) if f.endswith(".mdb")]
        self.assertEqual(len(ledger), 1, ledger)
        open(os.path.join(self.data, ledger[0]), "wb").close()
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file", p.stderr)
        self.assertNotIn("Bad file descriptor", p.stderr)

    # ---- verify catches what it claims to catch -------------------------

    def shard_entries(self, pool):
        """(shard, seq, value text) of entries found via lookups: we need a
        real value and its place. Walk candidate values with lookup."""
        found = []
        lo = CFG["pools"][0]["min"]
        for v in range(lo, lo + 5000):
            out = json.loads(self.ctl("lookup", pool, str(v), check=0).stdout)
            if out["issued"]:
                found.append((out["shard"], v))
                if len(found) == 2:
                    break
        return found

    def test_verify_catches_a_value_held_twice(self):
        self.ctl("init", check=0)
        (shard, v), _ = self.shard_entries("int")
        other = 1 - int(shard.rsplit("_", 1)[1])
        # put the same value (index v - min) into the other shard too,
        # at a sequence number far from any granted one
        run([UNIQ_CORRUPT, self.data, "int", str(other), "9999999",
             str(v - 1)], check=0)
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("PROBLEMS FOUND", p.stdout)
        self.assertIn("value %d is in shard %d seq 9999999" % (v, other),
                      p.stdout)
        self.assertIn("held twice or misplaced", p.stdout)

    def test_verify_catches_a_value_the_ledger_never_issued(self):
        self.ctl("init", check=0)
        for v in range(1, 10**4):
            out = json.loads(self.ctl("lookup", "int", str(v), check=0).stdout)
            if not out["issued"]:
                break
        run([UNIQ_CORRUPT, self.data, "int", "0", "8888888", str(v - 1)],
            check=0)
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn("value %d is in shard 0 (seq 8888888) but the ledger "
                      "never issued it" % v, p.stdout)

    def test_verify_catches_a_code_issued_twice(self):
        cfg = self.config({"pools": [{"name": "codes", "kind": "code",
                                      "pattern": "###-###", "shards": 1,
                                      "shard_size": 100}]}, "codes.json")
        out = self.data + "-gen.txt"
        uniqctl(self.data, "codes", "generate", "--pool", "codes",
                "--count", "500", "--prefix", "A", "--out", out,
                config=cfg, check=0)
        uniqctl(self.data, "codes", "generate", "--pool", "codes",
                "--count", "500", "--prefix", "B", "--out", out + "-B",
                config=cfg, check=0)
        p = uniqctl(self.data, "verify", config=cfg, check=0)
        self.assertIn("pool codes:", p.stdout)
        run([UNIQ_CORRUPT, "--dup-code", self.data], check=0)
        p = uniqctl(self.data, "verify", config=cfg)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertRegex(p.stdout, r"code [A-Z0-9]{3}-[A-Z0-9]{3} was issued "
                                   r"twice")
        self.assertRegex(p.stdout, r"its runs hold \d+")

    def test_verify_catches_a_counter_its_grants_disagree_with(self):
        self.ctl("init", check=0)
        _, counts = status_counts(self.ctl("status", check=0).stdout)
        issued = counts["int"]
        run([UNIQ_CORRUPT, "--set-counter", self.data, "int",
             str(issued + 5)], check=0)
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("grants end at %d, counter is %d" % (issued, issued + 5),
                      p.stdout)
        run([UNIQ_CORRUPT, "--set-counter", self.data, "int", str(10**4 + 1)],
            check=0)
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("counter 10001 is above capacity 10000", p.stdout)

    def test_verify_catches_sequence_numbers_granted_twice(self):
        self.ctl("init", check=0)
        # two grants inside shard 0's first one, [0, 1000): the second
        # overlaps it without touching the first grant made here
        run([UNIQ_CORRUPT, "--rewind-seq", self.data, "int", "0", "100",
             "10"], check=0)
        run([UNIQ_CORRUPT, "--rewind-seq", self.data, "int", "0", "200",
             "10"], check=0)
        p = self.ctl("verify")
        self.assertEqual(p.returncode, 1, p.stdout)
        twice = re.findall(r"shard 0: sequence numbers \[(\d+), (\d+)\) "
                           r"granted twice", p.stdout)
        self.assertEqual(twice, [("100", "110"), ("200", "210")], p.stdout)

    def test_verify_runs_beside_the_server(self):
        s = self.server(self.cfg)
        s.wait_ready()
        for _ in range(50):
            s.draw()
        p = self.ctl("verify", check=0)
        self.assertIn("pool int:", p.stdout)
        self.assertIn("pool float:", p.stdout)


if __name__ == "__main__":
    unittest.main()
