#!/usr/bin/env python3
"""connleak report CLI tests: real reports from the fixture programs under the preload
(several processes of one program, a fork, a multi-threaded forker), then
`build/connleak report` over them in every format.

    tests/cli/run.py                 run everything
    tests/cli/run.py -k junit        run the tests whose name contains "junit"
    tests/cli/run.py --keep          keep the temporary directory
    tests/cli/run.py --build DIR     take libconnleak.so and fixtures/ from DIR
                                     (default build/; the command is always build/connleak)

Needs build/connleak, build/libconnleak.so and build/fixtures/* (`make all fixtures`).
The peer is python3's http.server on a free 127.0.0.1 port, started here.
Prints "PASS name" or "FAIL name: reason" per test, then "N passed, N failed";
exits 1 when any test failed. Standard library only.
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
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLI = os.path.join(ROOT, "build", "connleak")
FIXTURE_SRC = os.path.join(ROOT, "tests", "integration", "fixtures")
BUILD = os.path.join(ROOT, "build")
TIMEOUT = 60
MT_FORK_CHILDREN = 20  # tests/integration/fixtures/mt_fork.c

KEEP = False
TMP = None
PORT = None
R = {}  # what setup() produced: dirs, pids


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def lib():
    """CONNLEAK_LIB (e.g. a sanitizer build) or BUILD's library."""
    return os.environ.get("CONNLEAK_LIB") or os.path.join(BUILD, "libconnleak.so")


def preload_first():
    """CONNLEAK_TEST_PRELOAD: what goes before the library in LD_PRELOAD (a sanitizer
    runtime)."""
    return os.environ.get("CONNLEAK_TEST_PRELOAD", "")


def fixture(name):
    return os.path.join(BUILD, "fixtures", name)


def source_line(fixture_name, function, needle):
    """Line number of the first line containing `needle` after `function(`'s definition."""
    with open(os.path.join(FIXTURE_SRC, fixture_name + ".c")) as f:
        lines = f.read().split("\n")
    inside = False
    for i, line in enumerate(lines, 1):
        if re.search(r"\b%s\(" % re.escape(function), line) and "noinline" in line:
            inside = True
        elif inside and needle in line:
            return i
    raise TestFailure("cannot find %r in %s() of %s.c" % (needle, function, fixture_name))


def clean_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("CONNLEAK") or k in ("LD_PRELOAD",) or k.lower().endswith("_proxy"):
            del env[k]
    env["LC_ALL"] = "C"
    if preload_first():
        env["LD_PRELOAD"] = preload_first()
    return env


def under_preload(argv, report_dir, opts=""):
    env = clean_env()
    env["LD_PRELOAD"] = (preload_first() + ":" if preload_first() else "") + lib()
    env["CONNLEAK"] = "1"
    env["CONNLEAK_OPTIONS"] = "report_dir=%s%s" % (report_dir, ":" + opts if opts else "")
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise TestFailure("%s exited %d: %s" % (" ".join(argv), p.returncode, p.stderr[-800:]))
    return dict(kv.split("=", 1) for kv in p.stdout.split() if "=" in kv)


def report(*args, expect_rc=None):
    p = subprocess.run([CLI, "report"] + list(args), capture_output=True, text=True,
                       timeout=TIMEOUT, env=clean_env(), stdin=subprocess.DEVNULL)
    if expect_rc is not None:
        check(p.returncode == expect_rc, "connleak report %s: exit %d, expected %d; stderr=%r"
              % (" ".join(args), p.returncode, expect_rc, p.stderr[-1500:]))
    return p


def new_dir(tag):
    return tempfile.mkdtemp(prefix=tag + ".", dir=TMP)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


KEEPALIVE_HTTP_SERVER = """
import functools, sys, http.server as h
h.SimpleHTTPRequestHandler.protocol_version = "HTTP/1.1"
handler = functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[1])
h.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
"""


def start_peer():
    """python3's http.server on a free port, serving an empty folder, keep-alive
    (HTTP/1.1): the leak fixture's abandoned connection is its one leaked-socket."""
    global PORT
    docroot = new_dir("www")
    for _ in range(5):
        port = free_port()
        p = subprocess.Popen([sys.executable, "-c", KEEPALIVE_HTTP_SERVER, docroot, str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                PORT = port
                return p
            except OSError:
                time.sleep(0.05)
        p.kill()
        p.wait()
    raise TestFailure("http.server did not start")


def setup():
    """Real reports: 3 x leak, double_close, shared_close fork (parent + child), and
    mt_fork (parent + 20 children) in a sub-folder."""
    R["all"] = d = new_dir("reports")
    R["leak_pids"] = []
    for _ in range(3):
        R["leak_pids"].append(int(under_preload([fixture("leak"), str(PORT)], d)["pid"]))
    R["dc_pid"] = int(under_preload([fixture("double_close"), str(PORT)], d)["pid"])
    out = under_preload([fixture("shared_close"), "fork", str(PORT)], d)
    R["sc_pid"], R["sc_child"] = int(out["pid"]), int(out["child"])
    mt = os.path.join(d, "mt")
    os.mkdir(mt)
    under_preload([fixture("mt_fork")], mt)
    R["mt"] = mt
    R["nprocs"] = len(glob.glob(os.path.join(d, "**", "*.json"), recursive=True))
    check(R["nprocs"] == 3 + 1 + 2 + 1 + MT_FORK_CHILDREN,
          "expected %d reports, found %d" % (3 + 1 + 2 + 1 + MT_FORK_CHILDREN, R["nprocs"]))
    R["leak_line"] = source_line("leak", "leak_one_connection", "socket(")
    R["dc_line"] = source_line("double_close", "second_close", "close(")


def frame_re(function, file, line):
    return re.compile(r"#\d+ 0x[0-9a-f]+ in %s %s:%d \(/\S+\+0x[0-9a-f]+\)"
                      % (re.escape(function), re.escape(file), line))


# ---------------------------------------------------------------------------


def test_text_groups_across_processes():
    p = report(R["all"], expect_rc=0)
    t = p.stdout
    check(p.stderr == "", "stderr: %r" % p.stderr)
    check("connleak: leaked-socket: socket fd" in t, "no leaked-socket block:\n" + t)
    check("3 instance(s) in 3 process(es): " + " ".join("leak[%d]" % x for x in R["leak_pids"])
          in t, "leak group not merged over the 3 processes:\n" + t)
    check(frame_re("leak_one_connection", "leak.c", R["leak_line"]).search(t),
          "no '#0 0x... in leak_one_connection leak.c:%d' frame:\n%s" % (R["leak_line"], t))
    check(frame_re("second_close", "double_close.c", R["dc_line"]).search(t),
          "no second_close frame:\n" + t)
    check("previously closed at:" in t and "in first_close double_close.c:" in t,
          "double-close lacks its previous close:\n" + t)
    order = [m.group(1) for m in re.finditer(r"^connleak: ([a-z-]+):", t, re.M)]
    check(order == ["shared-close", "double-close", "leaked-socket"],
          "groups not in severity order: %s" % order)
    summary = "SUMMARY: connleak: 5 finding(s) in 3 group(s) from 5 of %d process(es): " \
              "1 shared-close, 1 double-close, 3 leaked-socket\n" % R["nprocs"]
    check(t.endswith(summary), "summary line: %r" % t[-300:])
    check("Suppressions used" not in t, "suppressions block without suppressions")


def test_fork_child_and_parent():
    t = report(R["all"], expect_rc=0).stdout
    check("shared_close[%d]" % R["sc_pid"] in t, "fork parent not named:\n" + t)
    check(re.search(r"in close_after_fork shared_close\.c:\d+", t), "close_after_fork frame missing")
    js = json.loads(report("--format", "json", R["all"], expect_rc=0).stdout)
    pids = {p["pid"]: p for p in js["processes"]}
    check(R["sc_child"] in pids, "forked child's report not read")
    check(pids[R["sc_child"]]["findings"] == 0 and pids[R["sc_child"]]["ppid"] == R["sc_pid"],
          "child: %r" % pids[R["sc_child"]])
    sc = [g for g in js["findings"] if g["kind"] == "shared-close"]
    check(len(sc) == 1 and sc[0]["forked"] is True, "shared-close: %r" % sc)


def test_json_output():
    p = report("--format", "json", R["all"], expect_rc=0)
    js = json.loads(p.stdout)
    check(js["tool"] == "connleak" and js["merged_schema"] == 1, "header: %r" % list(js)[:5])
    s = js["summary"]
    check(s["findings"] == 5 and s["groups"] == 3 and s["processes"] == R["nprocs"] and
          s["processes_with_findings"] == 5 and s["suppressed"] == 0, "summary %r" % s)
    check(s["by_kind"] == {"shared-close": 1, "double-close": 1, "leaked-socket": 3},
          "by_kind %r" % s["by_kind"])
    leak = js["findings"][2]
    check(leak["kind"] == "leaked-socket" and leak["count"] == 3, "leak group %r" % leak["kind"])
    check(sorted(x["pid"] for x in leak["processes"]) == sorted(R["leak_pids"]) and
          all(x["count"] == 1 for x in leak["processes"]), "processes %r" % leak["processes"])
    f0 = leak["stacks"]["created"][0]
    check(f0["function"] == "leak_one_connection" and f0["line"] == R["leak_line"] and
          os.path.basename(f0["file"]) == "leak.c" and f0["module"] == fixture("leak") and
          f0["offset"].startswith("0x"), "frame %r" % f0)
    check(js["suppressions_used"] == [] and js["suppressed_findings"] == [], "suppressions")
    check(all(isinstance(p["timeline"], list) and "stats" in p for p in js["processes"]),
          "processes lack stats/timeline")


def test_suppressions_used_counts():
    d = new_dir("supp")
    supp = os.path.join(d, "connleak.supp")
    with open(supp, "w") as f:
        f.write("# known leak in the fixture\n"
                "leaked-socket:leak_one_connection\n"
                "\n"
                "double-close:double_close.c   # by source file basename\n"
                "stale-dns:never_matches\n")
    t = report("--suppressions", supp, R["all"], expect_rc=0).stdout
    check("connleak: leaked-socket" not in t and "connleak: double-close" not in t,
          "suppressed groups printed:\n" + t)
    check("connleak: shared-close" in t, "unsuppressed group missing")
    m = re.search(r"Suppressions used:\n  count  groups  suppression\n((?:  .*\n)+)", t)
    check(m, "no 'Suppressions used:' block:\n" + t)
    rows = [r.split() for r in m.group(1).strip("\n").split("\n")]
    check(rows == [["3", "1", "leaked-socket:leak_one_connection"],
                   ["1", "1", "double-close:double_close.c"]], "rows %r" % rows)
    check("SUMMARY: connleak: 1 finding(s) in 1 group(s) from 1 of %d process(es): "
          "1 shared-close; 4 suppressed" % R["nprocs"] in t, "summary:\n" + t[-400:])
    js = json.loads(report("--format", "json", "--suppressions", supp, R["all"],
                           expect_rc=0).stdout)
    used = [(u["kind"], u["pattern"], u["count"], u["groups"]) for u in js["suppressions_used"]]
    check(used == [("leaked-socket", "leak_one_connection", 3, 1),
                   ("double-close", "double_close.c", 1, 1)], "json suppressions_used %r" % used)
    check(js["summary"]["suppressed"] == 4 and len(js["suppressed_findings"]) == 2,
          "json suppressed %r" % js["summary"])
    # module basename and full path, wildcard kind
    with open(supp, "w") as f:
        f.write("*:shared_clo*\n*:%s\n" % fixture("leak"))
    t = report("--suppressions", supp, R["all"], expect_rc=0).stdout
    check("connleak: shared-close" not in t and "connleak: leaked-socket" not in t and
          "connleak: double-close" in t, "module patterns:\n" + t)
    with open(supp, "w") as f:
        f.write("leaked-socket:x\nthis line is wrong\n")
    p = report("--suppressions", supp, R["all"], expect_rc=2)
    check(supp in p.stderr and "line 2" in p.stderr, "bad suppressions file: %r" % p.stderr)


def test_fail_on_exit_codes():
    report("--fail-on", "leaked-socket", R["all"], expect_rc=1)
    report("--fail-on", "any", R["all"], expect_rc=1)
    report("--fail-on", "stale-dns,lease-expired", R["all"], expect_rc=0)
    report("--fail-on", "double-close", "--fail-on", "close-wait", R["all"], expect_rc=1)
    report("--fail-on", "any", R["mt"], expect_rc=0)  # 21 clean processes
    report(R["all"], expect_rc=0)  # no --fail-on: findings do not fail
    d = new_dir("supp")
    supp = os.path.join(d, "s")
    with open(supp, "w") as f:
        f.write("leaked-socket:leak_one_connection\n")
    report("--suppressions", supp, "--fail-on", "leaked-socket", R["all"], expect_rc=0)
    p = report("--fail-on", "leaky-socket", R["all"], expect_rc=2)
    check("unknown finding kind 'leaky-socket'" in p.stderr, "stderr %r" % p.stderr)


def test_fail_on_any_counts_kinds_newer_than_the_cli():
    """A report from a newer preload can carry a kind this command does not know:
    `--fail-on any` must still fail on it, a list of known kinds must not."""
    d = new_dir("future-kind")
    src = glob.glob(os.path.join(R["all"], "leak.*.json"))[0]
    with open(src) as f:
        rep = json.load(f)
    check(rep["findings"] and rep["findings"][0]["kind"] == "leaked-socket",
          "leak report without its finding: %s" % src)
    rep["findings"] = rep["findings"][:1]
    rep["findings"][0]["kind"] = "socket-spill-from-the-future"
    dst = os.path.join(d, os.path.basename(src))
    with open(dst, "w") as f:
        json.dump(rep, f)
    p = report(d, expect_rc=0)
    check("socket-spill-from-the-future" in p.stdout, "the new kind is not shown:\n" + p.stdout)
    report("--fail-on", "any", d, expect_rc=1)
    report("--fail-on", "leaked-socket,close-wait", d, expect_rc=0)


def test_fail_on_any_spares_open_at_exit():
    """open-at-exit is not a leak: `--fail-on any` passes a run that has only it, naming
    the kind fails."""
    d = new_dir("open-at-exit")
    src = glob.glob(os.path.join(R["all"], "leak.*.json"))[0]
    with open(src) as f:
        rep = json.load(f)
    rep["findings"] = rep["findings"][:1]
    rep["findings"][0]["kind"] = "open-at-exit"
    with open(os.path.join(d, os.path.basename(src)), "w") as f:
        json.dump(rep, f)
    report("--fail-on", "any", d, expect_rc=0)
    report("--fail-on", "open-at-exit", d, expect_rc=1)


def test_junit_parses():
    out = os.path.join(new_dir("junit"), "connleak.xml")
    p = report("--format", "junit", "--output", out, R["all"], expect_rc=0)
    check(p.stdout == "", "--output still wrote to stdout")
    root = ET.parse(out).getroot()
    check(root.tag == "testsuites", "root %s" % root.tag)
    suites = root.findall("testsuite")
    check(len(suites) == R["nprocs"], "%d testsuites for %d processes" % (len(suites), R["nprocs"]))
    failures = root.findall("testsuite/testcase/failure")
    check(len(failures) == 5, "%d failures, expected 5 (3 leaks, 1 double-close, "
          "1 shared-close)" % len(failures))
    check(root.get("failures") == "5" and root.get("tests") == str(R["nprocs"]),
          "totals %r" % root.attrib)
    by_name = {s.get("name"): s for s in suites}
    leak = by_name["leak[%d]" % R["leak_pids"][0]]
    tc = leak.findall("testcase")
    check(len(tc) == 1 and tc[0].get("name") ==
          "leaked-socket in leak_one_connection (leak.c:%d)" % R["leak_line"],
          "leak testcase %r" % [t.attrib for t in tc])
    body = tc[0].find("failure").text
    check(frame_re("leak_one_connection", "leak.c", R["leak_line"]).search(body),
          "failure body lacks the stack: %r" % body)
    child = by_name["shared_close[%d]" % R["sc_child"]]
    ctc = child.findall("testcase")
    check(len(ctc) == 1 and ctc[0].find("failure") is None, "clean child's testcase %r"
          % [ET.tostring(t) for t in ctc])
    # suppressed groups become skipped testcases
    supp = os.path.join(new_dir("supp"), "s")
    with open(supp, "w") as f:
        f.write("leaked-socket:leak_*\n")
    root = ET.fromstring(report("--format", "junit", "--suppressions", supp, R["all"],
                                expect_rc=0).stdout)
    check(len(root.findall("testsuite/testcase/skipped")) == 3 and
          len(root.findall("testsuite/testcase/failure")) == 2, "skipped/failures with supp")


def check_self_contained(html):
    check(html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"),
          "not one complete page")
    for bad in ("http://", "https://", "<script", "<link", "<img", "<iframe", "@import",
                "url("):
        check(bad not in html, "page references %r" % bad)
    for m in re.finditer(r"""\b(?:src|href)\s*=\s*["']?([^"' >]*)""", html):
        check(m.group(1).startswith("#"), "external reference %r" % m.group(0))


def test_html_self_contained_with_chart():
    out = os.path.join(new_dir("html"), "report.html")
    report("--format", "html", "--output", out, R["all"], expect_rc=0)
    check(os.listdir(os.path.dirname(out)) == ["report.html"], "more than one file written")
    with open(out) as f:
        html = f.read()
    check_self_contained(html)
    reps = []
    for path in glob.glob(os.path.join(R["all"], "**", "*.json"), recursive=True):
        with open(path) as f:
            reps.append(json.load(f))

    def touched(rep):
        st = rep.get("stats", {})
        return rep["findings"] or any(st.get(k) for k in (
            "peak_open", "sockets_created", "sockets_accepted", "sockets_received",
            "sockets_inherited", "tls_sessions"))
    shown = sum(1 for x in reps if touched(x))
    check(html.count('<section class="proc"') == shown and
          html.count('aria-label="sockets over time"') == shown,
          "%d sections, %d charts for %d processes that used sockets"
          % (html.count('<section class="proc"'), html.count('aria-label="sockets over time"'),
             shown))
    quiet = len(reps) - shown
    check(quiet == 0 or "%d process(es) never touched a socket" % quiet in html,
          "the %d processes without sockets are not folded into one line" % quiet)
    # every real report has samples: at least its first socket event and its end
    check("no timeline samples" not in html, "a real report without timeline samples")
    check(re.search(r"leak_one_connection leak\.c:%d" % R["leak_line"], html),
          "html lacks the symbolized stack")
    check("<th>peer</th>" in html and "127.0.0.1:%d" % PORT in html, "endpoint table")
    # A report with timeline samples (the sampler's schema) draws polylines.
    d = new_dir("timeline")
    src = glob.glob(os.path.join(R["all"], "leak.*.json"))[0]
    with open(src) as f:
        rep = json.load(f)
    rep["timeline"] = [{"t_ms": t, "open_sockets": n, "close_wait": n // 2,
                        "orphaned_sessions": 0} for t, n in ((0, 0), (100, 3), (200, 7), (300, 12))]
    with open(os.path.join(d, "with_timeline.json"), "w") as f:
        json.dump(rep, f)
    html = report("--format", "html", d, expect_rc=0).stdout
    check_self_contained(html)
    check(html.count("<polyline") == 3 and "no timeline samples" not in html,
          "timeline chart not drawn")
    check("300 ms" in html and "open sockets" in html and "close-wait sockets" in html and
          "orphaned sessions" in html, "chart axes/legend")


def test_corrupt_files_named_others_read():
    d = new_dir("corrupt")
    for src in glob.glob(os.path.join(R["all"], "*.json")):
        shutil.copy(src, d)
    src = os.path.join(d, os.path.basename(glob.glob(os.path.join(R["all"], "leak.*.json"))[0]))
    with open(src) as f:
        text = f.read()
    bad = {"truncated.json": text[: len(text) // 2], "garbage.json": "\x00\x01 not json",
           "empty.json": "", "wrong.json": "[1, 2, 3]\n",
           "future.json": '{"schema": 99, "findings": []}'}
    for name, content in bad.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(content)
    for fmt in ("text", "json", "junit", "html"):
        p = report("--format", fmt, d, expect_rc=0)
        lines = p.stderr.strip("\n").split("\n")
        check(len(lines) == len(bad), "%s: %d error lines for %d bad files: %r"
              % (fmt, len(lines), len(bad), p.stderr))
        for name in bad:
            hits = [l for l in lines if os.path.join(d, name) + ": " in l]
            check(len(hits) == 1, "%s: no single error line naming %s: %r" % (fmt, name, lines))
        if fmt == "text":
            check("3 leaked-socket" in p.stdout and "5 unreadable report file(s)" in p.stdout,
                  "others not read:\n" + p.stdout[-300:])
        elif fmt == "json":
            check(json.loads(p.stdout)["summary"]["unreadable_reports"] == 5, "json unreadable")
        elif fmt == "junit":
            ET.fromstring(p.stdout)
    trunc = [l for l in report(d).stderr.split("\n") if "truncated.json" in l][0]
    check("not valid JSON" in trunc, "truncated: %r" % trunc)
    # nothing readable at all -> 2
    d2 = new_dir("allbad")
    with open(os.path.join(d2, "x.json"), "w") as f:
        f.write("{")
    report(d2, expect_rc=2)
    p = report(os.path.join(d2, "missing-dir"), R["mt"], expect_rc=2)
    check("missing-dir: No such file or directory" in p.stderr, "missing path: %r" % p.stderr)


def test_symbolizes_from_module_and_falls_back():
    d = new_dir("sym")
    src = glob.glob(os.path.join(R["all"], "leak.*.json"))[0]
    with open(src) as f:
        rep = json.load(f)
    stripped = json.loads(json.dumps(rep))
    for fr in stripped["findings"][0]["stacks"]["created"]:
        fr["function"] = fr["file"] = fr["line"] = None
    with open(os.path.join(d, "stripped.json"), "w") as f:
        json.dump(stripped, f)
    t = report(os.path.join(d, "stripped.json"), expect_rc=0).stdout
    check(frame_re("leak_one_connection", "leak.c", R["leak_line"]).search(t),
          "not symbolized from the module file:\n" + t)
    # module gone: the report's own names, else module+offset
    gone = json.loads(json.dumps(rep))
    for fr in gone["findings"][0]["stacks"]["created"]:
        fr["module"] = "/nonexistent" + fr["module"]
    with open(os.path.join(d, "gone.json"), "w") as f:
        json.dump(gone, f)
    t = report(os.path.join(d, "gone.json"), expect_rc=0).stdout
    # the process names functions from its symbol tables (file:line is offline work)
    check(re.search(r"#0 0x[0-9a-f]+ in leak_one_connection \(/nonexistent/", t),
          "report names not used:\n" + t)
    for fr in gone["findings"][0]["stacks"]["created"]:
        fr["function"] = fr["file"] = fr["line"] = None
    with open(os.path.join(d, "gone.json"), "w") as f:
        json.dump(gone, f)
    t = report(os.path.join(d, "gone.json"), expect_rc=0).stdout
    check(re.search(r"#0 0x[0-9a-f]+ \(/nonexistent/\S+/leak\+0x[0-9a-f]+\)\n", t),
          "module+offset fallback:\n" + t)


def test_run_then_report():
    d = new_dir("runrep")
    env = clean_env()
    env["CONNLEAK_LIB"] = lib()
    p = subprocess.run([CLI, "run", "--report-dir", d, "--", fixture("leak"), str(PORT)],
                       env=env, capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 0 and "1 finding(s): 1 leaked-socket" in p.stderr,
          "connleak run: %d %r" % (p.returncode, p.stderr))
    p = report("--fail-on", "leaked-socket", d, expect_rc=1)
    check("1 finding(s) in 1 group(s) from 1 of 1 process(es)" in p.stdout, p.stdout[-300:])


def test_run_exit_status_of_the_command():
    """connleak run returns the command's exit status, 128+N when signal N killed it."""
    d = new_dir("run-status")
    for argv, rc in ((["sh", "-c", "exit 7"], 7), (["sh", "-c", "kill -TERM $$"], 128 + 15),
                     (["sh", "-c", "kill -KILL $$"], 128 + 9)):
        p = subprocess.run([CLI, "run", "--report-dir", d, "--"] + argv, capture_output=True,
                           text=True, timeout=TIMEOUT, env=clean_env(), stdin=subprocess.DEVNULL)
        check(p.returncode == rc, "connleak run %s exited %d, expected %d; stderr=%r"
              % (argv, p.returncode, rc, p.stderr[-800:]))


def test_usage_errors():
    p = report(expect_rc=2)
    check("no PATH given" in p.stderr and "usage:" in p.stderr, p.stderr)
    p = report("--format", "xml", R["all"], expect_rc=2)
    check("unknown format 'xml'" in p.stderr, p.stderr)
    p = report("--bogus", R["all"], expect_rc=2)
    check("unknown option '--bogus'" in p.stderr, p.stderr)
    p = report("--help", expect_rc=0)
    check("--fail-on" in p.stdout, p.stdout)


# ---------------------------------------------------------------------------


def main():
    global KEEP, TMP, BUILD
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="pattern", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--build", default=BUILD)
    args = ap.parse_args()
    KEEP, BUILD = args.keep, os.path.abspath(args.build)
    tests = [(n[5:], f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    if args.pattern:
        tests = [(n, f) for n, f in tests if any(p in n for p in args.pattern)]
    TMP = tempfile.mkdtemp(prefix="connleak-cli.")
    passed = failed = 0
    peer = None
    try:
        for path in (CLI, lib(), fixture("leak")):
            if not os.path.exists(path):
                raise TestFailure("%s missing (make all fixtures)" % path)
        peer = start_peer()
        setup()
    except Exception as e:
        why = str(e) if isinstance(e, TestFailure) else traceback.format_exc().strip()
        for name, _ in tests:
            print("FAIL %s: setup: %s" % (name, why), flush=True)
        failed = len(tests)
        tests = []
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
    if peer:
        peer.kill()
        peer.wait()
    if KEEP:
        print("kept %s" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
