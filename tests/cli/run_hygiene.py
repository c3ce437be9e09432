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
    if preload_first():
        env["LD_PRELOAD"] = preload_first()
    return env


def preload_first():
    """CONNLEAK_TEST_PRELOAD: what goes before the library in LD_PRELOAD (a sanitizer
    runtime, which must come first)."""
    return os.environ.get("CONNLEAK_TEST_PRELOAD", "")


def preload_env(opts):
    env = clean_env()
    env["LD_PRELOAD"] = (preload_first() + ":" if preload_first() else "") + lib()
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
# Items 11 and 12: options and `connleak run`


def unix_listener(d):
    path = os.path.join(d, "sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    return srv, path


def test_bad_value_keeps_earlier_setting():
    d = new_dir("opts")
    srv, path = unix_listener(d)
    try:
        argv = [sys.executable, "-c", LEAK_UNIX, path]
        bare = run(argv, clean_env())
        pre = run(argv, preload_env("exitcode=5:exitcode=x"))
    finally:
        srv.close()
    check(bare.returncode == 0 and pre.stdout == bare.stdout, "bare %d %r, preloaded %r"
          % (bare.returncode, bare.stdout, pre.stdout))
    check(pre.returncode == 5, "exitcode=5:exitcode=x exited %d, expected the 5 kept; %r"
          % (pre.returncode, pre.stderr[-600:]))
    check(b"bad value 'x' for option exitcode" in pre.stderr and b"keeping 5" in pre.stderr,
          "message: %r" % pre.stderr[-600:])


def test_option_errors_capped_and_escaped():
    spec = ":".join(["k%d\x1b]0;pwned\x07\x1b[2J=1" % i for i in range(40)])
    bare, pre = bare_and_preloaded([sys.executable, "-c", "print('hello')"], spec)
    lines = pre.stderr.decode("latin-1").splitlines()
    check(len(lines) == 9, "expected 8 problem lines and a count, got %d:\n%s"
          % (len(lines), "\n".join(lines)))
    check("32 more problem(s)" in lines[-1], lines[-1])
    bad = RAW_CONTROL.search(pre.stderr.decode("latin-1"))
    check(not bad, "raw control byte %r echoed: %r" % (bad and bad.group(), pre.stderr))
    check("'k0\\x1b]0;pwned\\x07\\x1b[2J'" in lines[0], lines[0])


def test_unterminated_quote_is_an_error():
    d = new_dir("quote")
    srv, path = unix_listener(d)
    try:
        bare, pre = bare_and_preloaded([sys.executable, "-c", LEAK_UNIX, path],
                                       "report_dir=\"%s:exitcode=42" % d)
    finally:
        srv.close()
    check(pre.returncode == 0, "exit %d: the text after the quote was read as options"
          % pre.returncode)
    check(b"quote of option report_dir is never closed" in pre.stderr, pre.stderr[-600:])
    check(not glob.glob(os.path.join(d, "*.json")), "a report was written")


def test_run_report_dir_with_space_and_exitcode_text():
    d = new_dir("rundir")
    srv, path = unix_listener(d)
    rdir = os.path.join(d, "my reports:exitcode=42")
    env = clean_env()
    env["CONNLEAK_LIB"] = lib()
    try:
        p = subprocess.run([CLI, "run", "--report-dir", rdir, "--", sys.executable, "-c",
                            LEAK_UNIX, path], env=env, capture_output=True, timeout=TIMEOUT)
    finally:
        srv.close()
    check(p.returncode == 0, "connleak run exited %d (the name's exitcode=42 was read as an "
          "option?): %r" % (p.returncode, p.stderr[-600:]))
    files = glob.glob(os.path.join(glob.escape(rdir), "*.json"))
    check(len(files) == 1, "reports in %r: %r; stderr %r" % (rdir, os.listdir(d), p.stderr))
    check(b"1 process report(s)" in p.stderr, p.stderr[-600:])


SETUID_PROG = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        return 99;
    printf("connected\n");
    return 0; /* the socket is never closed: a leak connleak would report */
}
"""


def test_setuid_program_silent_and_untouched():
    """glibc ignores LD_PRELOAD paths in AT_SECURE processes, so the program links the
    library (absolute rpath) and is made setuid root, then run as nobody."""
    if preload_first():
        print("  (skipped: a sanitizer build needs its runtime preloaded, which a setuid "
              "program ignores)")
        return
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("cc"):
        print("  (skipped: needs root, setpriv and cc to run a setuid program as nobody)")
        return
    d = new_dir("setuid")
    os.chmod(TMP, 0o755)
    os.chmod(d, 0o755)
    src, exe = os.path.join(d, "prog.c"), os.path.join(d, "prog")
    with open(src, "w") as f:
        f.write(SETUID_PROG)
    libdir = os.path.dirname(os.path.abspath(lib()))
    link = ["cc", "-o", exe, src, "-L" + libdir, "-l:" + os.path.basename(lib()),
            "-Wl,-rpath," + libdir]
    c = subprocess.run(link, capture_output=True, text=True)
    check(c.returncode == 0, "cc: %s" % c.stderr)
    reports = os.path.join(d, "reports")
    os.mkdir(reports)
    os.chmod(reports, 0o777)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = str(srv.getsockname()[1])
    env = preload_env("report_dir=%s:exitcode=7:help=1" % reports)
    env.pop("LD_PRELOAD")  # linked, not preloaded
    try:
        # Not setuid: the linked library is on (proof the test can see it).
        on = run([exe, port], env)
        check(on.returncode == 7 and b"connleak options" in on.stderr,
              "linked library inactive: exit %d %r" % (on.returncode, on.stderr[-400:]))
        for f in glob.glob(os.path.join(reports, "*")):
            os.unlink(f)
        os.chmod(exe, 0o4755)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        bare = run(nobody + [exe, port], clean_env())
        sec = run(nobody + [exe, port], env)
    finally:
        srv.close()
    check(bare.returncode == 0 and bare.stdout == b"connected\n", "bare setuid run: %d %r %r"
          % (bare.returncode, bare.stdout, bare.stderr))
    check(sec.returncode == 0, "setuid run exited %d (exitcode applied?)" % sec.returncode)
    check(sec.stdout == bare.stdout, "stdout %r" % sec.stdout)
    check(sec.stderr == b"", "setuid run printed: %r" % sec.stderr[-600:])
    check(os.listdir(reports) == [], "reports written: %r" % os.listdir(reports))


def leak_report(d):
    """A real report: python3 leaking a Unix-socket connection, under the preload."""
    srv, path = unix_listener(d)
    reports = os.path.join(d, "reports")
    os.mkdir(reports)
    try:
        p = run([sys.executable, "-c", LEAK_UNIX, path], preload_env("report_dir=" + reports))
    finally:
        srv.close()
    files = glob.glob(os.path.join(reports, "*.json"))
    check(p.returncode == 0 and len(files) == 1, "leak run: %d %r" % (p.returncode, files))
    return reports, files[0]


def test_report_skips_fifo_named_json():
    d = new_dir("fifo")
    reports, good = leak_report(d)
    fifo = os.path.join(reports, "zz-not-a-report.json")
    os.mkfifo(fifo)
    # A FIFO with no writer: opening it to read would block forever.
    p = report(reports, expect_rc=0)
    check(b"from 1 of 1 process(es)" in p.stdout, p.stdout[-400:])
    check(b"zz-not-a-report" not in p.stderr, "FIFO in a folder reported: %r" % p.stderr)
    p = report(fifo, good, expect_rc=0)
    check(b"zz-not-a-report.json: not a regular file" in p.stderr, p.stderr[-400:])
    check(b"from 1 of 1 process(es)" in p.stdout, p.stdout[-400:])


def test_report_escapes_unreadable_file_names():
    d = new_dir("badname")
    reports, _ = leak_report(d)
    with open(os.path.join(reports, "x" + HOSTILE.replace("/", "_") + ".json"), "w") as f:
        f.write("{not json")
    p = report(reports, expect_rc=0)
    bad = RAW_CONTROL.search(p.stderr.decode("latin-1"))
    check(not bad, "raw control byte %r in: %r" % (bad and bad.group(), p.stderr))
    check(b"\\x1b]0;pwned\\x07" in p.stderr and b"not valid JSON" in p.stderr, p.stderr)


class CountingServer:
    """A loopback TCP listener that counts connections and closes each at once."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()

    def stop(self):
        self.sock.close()


def test_report_offline_unless_debuginfod():
    """A frame in /usr/bin/curl (Debian: stripped, no local debug info) makes libdwfl ask
    the debuginfod servers in DEBUGINFOD_URLS; `connleak report` must not, unless told."""
    curl = shutil.which("curl")
    check(curl, "curl not installed (scripts/deps.sh)")
    d = new_dir("debuginfod")
    rep = {"schema": 1, "pid": 5, "exe": "/bin/true", "findings": [{
        "kind": "leaked-socket", "count": 1, "message": "m", "stacks": {"created": [
            {"pc": "0x7f0000005010", "module": os.path.realpath(curl), "offset": "0x5010"}]}}]}
    path = os.path.join(d, "r.json")
    with open(path, "w") as f:
        json.dump(rep, f)
    srv = CountingServer()
    env = clean_env()
    env.update(DEBUGINFOD_URLS="http://127.0.0.1:%d" % srv.port, DEBUGINFOD_TIMEOUT="5",
               DEBUGINFOD_CACHE_PATH=new_dir("dcache"))
    try:
        report(path, env=env, expect_rc=0)
        offline = srv.count
        report("--debuginfod", path, env=env, expect_rc=0)
        online = srv.count - offline
    finally:
        srv.stop()
    check(offline == 0, "connleak report contacted debuginfod %d time(s) without --debuginfod"
          % offline)
    has_client = b"libdebuginfod.so" in subprocess.run(["ldconfig", "-p"],
                                                         capture_output=True).stdout
    if has_client:
        check(online > 0, "--debuginfod did not reach the server (the test cannot see it)")


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
