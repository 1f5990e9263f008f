"""Runs one end-to-end test module as `python3 -m unittest -v MODULE` does,
then says what it skipped, and fails a module that holds no test.

    python3 run_module.py test_api.py     (a path, or a module name)

meson runs every e2e test through this (tests/meson.build), from this
directory. Output: unittest's verbose report on stderr, then on stdout one
line per skipped test (or subtest, or class whose setUpClass skipped):

    UNIQ-SKIP <test id>: <reason on one line>

which tests/run.sh collects from meson's testlog.json and counts as
skips. Exit status:
    0   no failure or error, and at least one test passed;
    77  (meson's "skipped") no failure or error, and every test skipped;
    1   a failure, an error, an unexpected success, or no test at all
        (Python 3.11's unittest says "Ran 0 tests ... OK" and exits 0 for
        a module that lost its tests; that must not pass).
"""
import os
import sys
import unittest

SKIP_MARK = "UNIQ-SKIP"


class Result(unittest.TextTestResult):
    """unittest's verbose result that also keeps the tests that passed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test.id())


class Runner(unittest.TextTestRunner):
    resultclass = Result


def one_line(text):
    return " ".join(str(text).split()) or "(no reason given)"


def main(argv):
    if len(argv) != 2:
        print("usage: run_module.py test_NAME[.py]", file=sys.stderr)
        return 2
    name = os.path.basename(argv[1])
    if name.endswith(".py"):
        name = name[:-3]
    prog = unittest.main(module=None, argv=[argv[0], "-v", name],
                         testRunner=Runner, exit=False)
    result = prog.result
    sys.stderr.flush()
    for test, reason in result.skipped:
        print("%s %s: %s" % (SKIP_MARK, test.id(), one_line(reason)))
    sys.stdout.flush()
    if not result.wasSuccessful():
        return 1
    if result.testsRun == 0 and not result.skipped:
        print("%s: NO TESTS RAN: a module without tests fails" % name,
              file=sys.stderr)
        return 1
    if not result.passed and not result.expectedFailures:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
