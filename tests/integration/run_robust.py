#!/usr/bin/env python3
"""connleak "never change the host program" tests (issue 8): real programs and small C
fixtures run bare and preloaded, side by side; exit status, stdout (errno names
included) and stderr must be the same.  Signal handlers that open and close sockets,
siglongjmp out of handlers, bad I/O arguments, TLS symbol probes, thread counts.

    tests/integration/run_robust.py              run everything
    tests/integration/run_robust.py -k signal    run the tests whose name contains "signal"
    tests/integration/run_robust.py --keep       keep the temporary directories
    tests/integration/run_robust.py --list       list the test names

Needs build/libconnleak.so and the fixtures (built here when missing or stale by make
with the rules of tests/integration/fixtures.mk).  Shares its helpers with run.py.
Prints "PASS name" or "FAIL name: reason" per test, then exactly "N passed, N failed";
exits 1 when any test failed.
"""

import difflib
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
from run import (TestFailure, check, kv, summary, stat_of, report_for_pid,  # noqa: E402
                 run, fixture, fixture_targets, build_fixtures)

SYS_PYTHON = "/usr/bin/python3"


def normalize(text):
    """Output that legitimately differs between two runs: process ids."""
    return re.sub(r"\bpid=\d+", "pid=N", text)


def diff(a, b, what):
    lines = [d for d in difflib.unified_diff(a.splitlines(), b.splitlines(), "bare",
                                             "preloaded", n=0, lineterm="")
             if not d.startswith("@@")]
    return "%s differs from the bare run:\n%s" % (what, "\n".join(lines[:40]))


def same_as_bare(argv, opts=None, env=None, enabled=True, stderr=True):
    """Runs argv bare and preloaded; both must end the same way, with the same output.
    Returns the preloaded run (its reports loaded)."""
    bare = run(argv, preload=False, env=env)
    pre = run(argv, opts=opts, env=env, enabled=enabled)
    check(bare.rc == pre.rc, "exit status %r preloaded, %r bare; preloaded: %s; bare: %s"
          % (pre.rc, bare.rc, pre.describe(), bare.describe()))
    check(normalize(bare.stdout) == normalize(pre.stdout),
          diff(normalize(bare.stdout), normalize(pre.stdout), "stdout"))
    if stderr:
        check(bare.stderr == pre.stderr, diff(bare.stderr, pre.stderr, "stderr"))
    pre.bare = bare
    return pre


def expect_clean_report(r):
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check(rep["findings"] == [], "expected no finding, got " + summary(rep))
    return rep


# ---------------------------------------------------------------------------
# item 7: arguments the kernel rejects


def test_bad_io_args_same_errno():
    r = same_as_bare([fixture("bad_io_args")])
    check(r.rc == 0, "fixture failed: " + r.describe())
    check("recvmsg_huge_iovlen r=-1 errno=EMSGSIZE" in r.stdout and
          "readv_null r=-1 errno=EFAULT" in r.stdout, "fixture output: " + r.stdout)
    expect_clean_report(r)


def build():
    build_fixtures(fixture_targets("*.c"))


def main():
    return base.run_suite(globals(), "connleak-robust.", build)


if __name__ == "__main__":
    sys.exit(main())
