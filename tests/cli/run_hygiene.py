#!/usr/bin/env python3
"""Hygiene tests (issue 8, items 10-12): what the program hands connleak (names, options,
paths) must never reach a terminal raw, break a JUnit file, lose reports or change the
program. Every test runs a real program (python3, the fixtures) bare and under the preload
and compares exit status and output.

    tests/cli/run_hygiene.py            run everything
    tests/cli/run_hygiene.py -k name    run the tests whose name contains "name"
    tests/cli/run_hygiene.py --keep     keep the temporary directory

CONNLEAK_LIB names the preload library to test (default build/libconnleak.so), e.g. a
sanitizer build. Prints "PASS name" / "FAIL name: reason", then "N passed, N failed";
exits 1 when any failed. Standard library only.
"""

import argparse
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "build")
CLI = os.path.join(BUILD, "connleak")
TIMEOUT = 60
KEEP = False
TMP = None

# A name that would clear the screen, set the terminal title, ring the bell, move to the
# start of the line and print a fake summary, if it reached the terminal raw.
HOSTILE = "s\x1b]0;pwned\x07\x1b[2J\r\nSUMMARY: connleak: 0 finding(s)"
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def lib():
    return os.environ.get("CONNLEAK_LIB") or os.path.join(BUILD, "libconnleak.so")


def fixture(name):
    return os.path.join(BUILD, "fixtures", name)


def clean_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("CONNLEAK") or k == "LD_PRELOAD" or k.lower().endswith("_proxy"):
            del env[k]
    env["LC_ALL"] = "C"
    return env


def preload_env(opts):
    """The preload in front of whatever LD_PRELOAD the caller set (a sanitizer runtime)."""
    env = clean_env()
    pre = os.environ.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = lib() + (":" + pre if pre else "")
    env["CONNLEAK"] = "1"
    env["CONNLEAK_OPTIONS"] = opts
    return env


def run(argv, env, **kw):
    return subprocess.run(argv, env=env, capture_output=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL, **kw)


def bare_and_preloaded(argv, opts, **kw):
    """Runs argv bare and preloaded; the exit status and stdout must be the same."""
    bare = run(argv, clean_env(), **kw)
    pre = run(argv, preload_env(opts), **kw)
    check(bare.returncode == pre.returncode,
          "exit %d bare, %d preloaded; stderr %r" % (bare.returncode, pre.returncode,
                                                      pre.stderr[-800:]))
    check(bare.stdout == pre.stdout, "stdout differs: bare %r, preloaded %r"
          % (bare.stdout[-300:], pre.stdout[-300:]))
    return bare, pre


def report(*args, expect_rc=None, env=None):
    p = subprocess.run([CLI, "report"] + list(args), capture_output=True, timeout=TIMEOUT,
                       env=env or clean_env(), stdin=subprocess.DEVNULL)
    if expect_rc is not None:
        check(p.returncode == expect_rc, "connleak report %s: exit %d, expected %d; stderr=%r"
              % (" ".join(args), p.returncode, expect_rc, p.stderr[-1500:]))
    return p


def new_dir(tag):
    return tempfile.mkdtemp(prefix=tag + ".", dir=TMP)


def summary_lines(text):
    return [l for l in text.split(b"\n") if re.match(rb"^(==\d+== )?SUMMARY", l)]


# ---------------------------------------------------------------------------
# Item 10: hostile names

LEAK_UNIX = r"""
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
os.dup(s.fileno())  # a raw descriptor Python never closes: leaked at exit
s.close()
print("connected")
"""


def hostile_run():
    """python3 copied to a file whose name holds terminal escapes, connecting to a Unix
    socket whose path holds them too, leaking the connection."""
    d = new_dir("hostile")
    exe = os.path.join(d, "py" + HOSTILE.replace("\n", "").replace("/", "_")[:40])
    shutil.copy(os.path.realpath(sys.executable), exe)
    path = os.path.join(d, HOSTILE.replace("/", "_")[:60])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)  # connect completes from the backlog: no accept needed
    reports = os.path.join(d, "reports")
    os.mkdir(reports)
    try:
        bare, pre = bare_and_preloaded([exe, "-c", LEAK_UNIX, path],
                                       "report_dir=%s:symbolize=1" % reports)
    finally:
        srv.close()
    check(bare.returncode == 0 and bare.stdout == b"connected\n", "python: %r %r"
          % (bare.returncode, bare.stderr[-500:]))
    return pre, reports


def test_library_text_report_escapes_names():
    pre, _ = hostile_run()
    err = pre.stderr
    check(b"connleak:" in err, "no text report on stderr: %r" % err[-500:])
    bad = RAW_CONTROL.search(err.decode("latin-1"))
    check(not bad, "raw control byte %r in the text report:\n%r" % (bad and bad.group(), err))
    check(b"s\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0aSUMMARY" in err,
          "escaped name not shown:\n%s" % err.decode("latin-1"))
    check(len(summary_lines(err)) == 1, "SUMMARY lines: %r" % summary_lines(err))


def test_report_command_escapes_names():
    _, reports = hostile_run()
    files = glob.glob(os.path.join(reports, "*.json"))
    check(len(files) == 1, "reports: %r" % files)
    with open(files[0]) as f:
        rep = json.load(f)  # JSON holds the name exactly, escaped the JSON way
    check(any(HOSTILE[:20] in (x.get("peer") or "") for x in rep["findings"]),
          "the report's peer is not the socket path: %r" % rep["findings"])
    check(HOSTILE[:5] in rep.get("exe", "") or "\x1b" in rep.get("exe", ""),
          "exe %r" % rep.get("exe"))
    t = report("--format", "text", reports, expect_rc=0).stdout
    bad = RAW_CONTROL.search(t.decode("latin-1"))
    check(not bad, "raw control byte %r in `connleak report`:\n%r" % (bad and bad.group(), t))
    check(len(summary_lines(t)) == 1, "SUMMARY lines: %r" % summary_lines(t))
    check(b"\\x1b]0;pwned\\x07" in t, "escaped name missing:\n%s" % t.decode("latin-1"))
    x = report("--format", "junit", reports, expect_rc=0).stdout
    try:
        root = ET.fromstring(x)
    except ET.ParseError as e:
        raise TestFailure("JUnit is not well-formed: %s\n%s" % (e, x.decode("latin-1")))
    exe = [p.get("value") for p in root.iter("property") if p.get("name") == "exe"]
    check(exe and "\\x1b]0;pwned\\x07" in exe[0], "exe property %r" % exe)
    h = report("--format", "html", reports, expect_rc=0).stdout
    check(b"\x1b" not in h and b"\x07" not in h, "raw escape in HTML")


# ---------------------------------------------------------------------------


def main():
    global KEEP, TMP
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="pattern", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    KEEP = args.keep
    tests = [(n[5:], f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    if args.pattern:
        tests = [(n, f) for n, f in tests if any(p in n for p in args.pattern)]
    TMP = tempfile.mkdtemp(prefix="connleak-hygiene.")
    passed = failed = 0
    for path in (CLI, lib()):
        if not os.path.exists(path):
            print("FAIL setup: %s missing (make all fixtures)" % path)
            return 1
    for name, fn in tests:
        try:
            fn()
        except TestFailure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s: test error: %s" % (name, traceback.format_exc().strip()), flush=True)
        else:
            passed += 1
            print("PASS %s" % name, flush=True)
    if KEEP:
        print("kept %s" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
