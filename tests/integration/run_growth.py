#!/usr/bin/env python3
"""connleak growth tests (issue 13): servers preloaded under steady load from wrk, the
socket-growth finding and the per-call-site series in their reports, `connleak top`
over those reports (under tmux too), and the HTML report rendered by headless Chromium.

    tests/integration/run_growth.py              run everything
    tests/integration/run_growth.py -k pool      run the tests whose name contains "pool"
    tests/integration/run_growth.py --keep       keep the temporary directories

Peers on loopback: nginx with ssl and tinyproxy (CONNECT) for the first story's tunnel,
a python3 "ping/pong" upstream for the pool. Load: wrk. Browser: chromium. Terminal: tmux.
Prints "PASS name" / "FAIL name: reason" per test, then "N passed, N failed".
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402
import run_tls as tls  # noqa: E402
from run import (TestFailure, check, summary, findings_of, new_dir, fixture,  # noqa: E402
                 preload_env, clean_env, PyPeer, load_reports, http_get)

WRK = "/usr/bin/wrk"
CHROMIUM = "/usr/bin/chromium"
TMUX = "/usr/bin/tmux"
PYTHON3 = "/usr/bin/python3"
CONNLEAK = os.path.join(base.ROOT, "build", "connleak")

# Small thresholds so a run of seconds shows what an hour-long load test would.
GROWTH_OPTS = {"sample_ms": 100, "growth_window_ms": 2000, "growth_min": 30,
               "close_wait_ms": 100, "snapshot_ms": 1000}
# The pool and load tests use a lower growth_min than their peaks, so only the trend rule
# can keep them clean.
FLAT_OPTS = {"sample_ms": 100, "growth_window_ms": 1000, "growth_min": 10}
LEAK_SECONDS = 10


class Server:
    """tls_growth_server preloaded, in its own session; reports in self.reports."""

    def __init__(self, args, opts, argv0=None):
        self.reports = new_dir("reports")
        o = {"report_dir": self.reports}
        o.update(opts)
        self.out = open(os.path.join(self.reports, "..", os.path.basename(self.reports) +
                                     ".out"), "w+b")
        self.proc = subprocess.Popen((argv0 or [fixture("tls_growth_server")]) + args,
                                     env=preload_env(o), cwd=base.SESSION_DIR,
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.port = self.pid = None
        deadline = time.time() + 10
        while time.time() < deadline and self.port is None:
            m = re.search(r"port=(\d+) pid=(\d+)", self.text())
            if m:
                self.port, self.pid = int(m.group(1)), int(m.group(2))
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            self.kill()
            raise TestFailure("growth server did not start: " + self.text()[-1500:])

    def text(self):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")

    def load(self, seconds, conns=4):
        r = subprocess.run([WRK, "-t2", "-c%d" % conns, "-d%ds" % seconds, "--timeout", "5s",
                            "http://127.0.0.1:%d/" % self.port], capture_output=True,
                           text=True, timeout=seconds + 30, env=clean_env())
        check(r.returncode == 0, "wrk failed: %s %s" % (r.stdout[-800:], r.stderr[-800:]))
        m = re.search(r"(\d+) requests in", r.stdout)
        check(m and int(m.group(1)) > 0, "wrk made no request: " + r.stdout[-800:])
        check("Non-2xx" not in r.stdout and "Socket errors" not in r.stdout,
              "wrk saw errors: " + r.stdout[-800:])
        return int(m.group(1))

    def sockets(self):
        n = 0
        for fd in os.listdir("/proc/%d/fd" % self.pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (self.pid, fd)).startswith("socket:")
            except OSError:
                pass
        return n

    def settle(self, at_most):
        """Waits (bounded) until the server holds at most `at_most` sockets: the load is
        gone and its threads have closed what the load generator closed."""
        for _ in range(200):
            if self.sockets() <= at_most:
                return
            time.sleep(0.05)
        raise TestFailure("server still holds %d sockets" % self.sockets())

    def quit(self):
        http_get(self.port, "/quit", timeout=10)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("growth server did not exit after /quit: " + self.text()[-800:])
        check(rc == 0, "growth server exited %r: %s" % (rc, self.text()[-1500:]))
        reps = [r for r in load_reports(self.reports) if r.get("pid") == self.pid]
        check(len(reps) == 1, "expected one report of pid %d in %s" % (self.pid, self.reports))
        return reps[0]

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


RUN_DIRS = []  # report dirs of the runs so far, for the HTML and `top` tests


def growth_of(rep, what):
    return [f for f in findings_of(rep, "socket-growth") if f.get("growing") == what]


def frames_of(stack):
    return [fr.get("function") for fr in stack or []]


# ---------------------------------------------------------------------------
# the first story under load: one orphaned TLS session per request


_leak_run = None


def leak_run():
    """Runs the tunnel-leak server under wrk once; later tests read its reports."""
    global _leak_run
    if _leak_run is None:
        ng = tls.NginxTls().start()
        try:
            proxy = tls.Tinyproxy(ng.port).start()
            try:
                srv = Server(["tunnel_leak", str(proxy.port), str(ng.port)], GROWTH_OPTS)
                try:
                    n = srv.load(LEAK_SECONDS)
                    srv.live = live_view(srv)
                    rep = srv.quit()
                finally:
                    srv.kill()
            finally:
                proxy.stop()
        finally:
            ng.stop()
        _leak_run = (srv, rep, n)
        RUN_DIRS.append(srv.reports)
    return _leak_run


def live_view(srv):
    """While the server still runs: its snapshot (a report with "complete": false, kept
    on disk every snapshot_ms) and `connleak top --once PID`. Waits (bounded) for a
    snapshot taken after the growth window."""
    path = os.path.join(srv.reports, "tls_growth_server.%d.json" % srv.pid)
    # One more request once the load is gone: a change for the snapshot thread to write,
    # with a quiet model to copy (under full churn a snapshot's copy may be retaken).
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"ok\n"):
            b = c.recv(4096)
            check(b, "the server closed without answering: %r" % got)
            got += b
    snap = None
    for _ in range(100):
        try:
            with open(path) as f:
                snap = json.load(f)
        except (OSError, ValueError):
            snap = None
        if snap:
            snap["_path"] = path
        if snap and growth_of(snap, "tls_sessions"):
            break
        time.sleep(0.1)
    check(srv.proc.poll() is None, "the server ended before its snapshot was read")
    top = subprocess.run([CONNLEAK, "top", "--once", str(srv.pid)], capture_output=True,
                         text=True, timeout=60, env=clean_env())
    return snap, top


def test_tunnel_leak_found_while_the_server_runs():
    srv, rep, n = leak_run()
    snap, top = srv.live
    check(snap is not None, "no snapshot of the running server in %s" % srv.reports)
    check(snap.get("complete") is False, "the report read while running is not a snapshot: "
          "complete=%r" % snap.get("complete"))
    grow = growth_of(snap, "tls_sessions")
    check(len(grow) == 1, "the snapshot has no socket-growth of tls_sessions: %s; growth %s"
          % (summary(snap), json.dumps(snap.get("growth"))[:800]))
    check("open_tunnel_session" in frames_of(grow[0]["stacks"]["created"]) or
          any("tls_growth_server" in (fr.get("module") or "")
              for fr in grow[0]["stacks"]["created"][:1]),
          "snapshot's created stack: %s" % grow[0]["stacks"]["created"][:3])
    check(top.returncode == 0, "connleak top PID: %s" % top.stderr[-600:])
    check(re.search(r"^>\s+%d tls_growth_server .* \d+/\d+ " % srv.pid, top.stdout, re.M),
          "top does not show the running server's descriptors against its limit:\n"
          + top.stdout)
    sites = top_sites(top.stdout)
    check(sites and sites[0][1] > 0 and "sessions" in sites[0][2] and
          ("open_tunnel_session" in sites[0][2] or "tls_growth_server+0x" in sites[0][2]),
          "connleak top %d (running) does not list the leaking call site first with a "
          "positive rate:\n%s" % (srv.pid, top.stdout))
    check(re.search(r"^>\s+%d tls_growth_server\s+run" % srv.pid, top.stdout, re.M),
          "top does not show the server as running from its snapshot:\n" + top.stdout)


def test_tunnel_leak_under_wrk_is_socket_growth():
    srv, rep, n = leak_run()
    m = re.search(r"requests=(\d+) kept=(\d+)", srv.text())
    reqs, kept = int(m.group(1)), int(m.group(2))
    check(kept == reqs and reqs >= n, "the server kept %d sessions for %d requests (wrk: %d)"
          % (kept, reqs, n))
    grow = growth_of(rep, "tls_sessions")
    check(len(grow) == 1, "expected one socket-growth of tls_sessions; %s" % summary(rep))
    f = grow[0]
    fns = frames_of(f.get("stacks", {}).get("created"))
    check("open_tunnel_session" in fns and "fetch_through_tunnel" in fns,
          "created stack is not the leaking call site: %s" % fns)
    check(f["rate_per_min"] > 0 and f["to"] - f["from"] >= GROWTH_OPTS["growth_min"],
          "rate %r from %r to %r" % (f["rate_per_min"], f["from"], f["to"]))
    check(f["window_ms"] >= GROWTH_OPTS["growth_window_ms"], "window %r" % f["window_ms"])
    check(f["to"] <= kept and f["to"] >= kept * 0.8,
          "to=%r but %d sessions were orphaned by the end" % (f["to"], kept))
    check(re.match(r"\+\d+ orphaned TLS sessions/min over ", f["message"]), f["message"])
    # The sockets themselves were closed: no growth of sockets, and the series says why.
    check(not growth_of(rep, "sockets"), "socket growth too: %s" % summary(rep))
    series = [g for g in rep["growth"] if g["what"] == "tls_sessions"]
    check(series and series[0]["count"] == rep["stats"]["orphaned_sessions"] and
          series[0]["rate_per_min"] > 0 and len(series[0]["samples"]) >= 8,
          "growth series: %s" % json.dumps(series)[:600])
    check("open_tunnel_session" in frames_of(series[0]["stack"]), "series stack")
    tl = rep["timeline"]
    check(len(tl) >= 8 and tl[-1]["orphaned_sessions"] == kept,
          "timeline: %d samples, last %r" % (len(tl), tl[-1] if tl else None))


def test_python_tunnel_leak_under_wrk_is_socket_growth():
    ng = tls.NginxTls().start()
    try:
        proxy = tls.Tinyproxy(ng.port).start()
        try:
            srv = Server([str(proxy.port), str(ng.port)], GROWTH_OPTS,
                         argv0=[PYTHON3, os.path.join(HERE, "growth_server.py")])
            try:
                n = srv.load(LEAK_SECONDS // 2 + 2)
                rep = srv.quit()
            finally:
                srv.kill()
        finally:
            proxy.stop()
    finally:
        ng.stop()
    RUN_DIRS.append(srv.reports)
    m = re.search(r"requests=(\d+) kept=(\d+)", srv.text())
    check(m and int(m.group(2)) >= n, "server output: %s" % srv.text()[-600:])
    kept = int(m.group(2))
    grow = growth_of(rep, "tls_sessions")
    check(len(grow) == 1, "expected one socket-growth of tls_sessions; %s" % summary(rep))
    f = grow[0]
    mods = [os.path.basename(fr.get("module") or "") for fr in f["stacks"]["created"]]
    check(any(x.startswith("_ssl.") for x in mods),
          "created stack does not go through Python's _ssl module: %s" % mods)
    check(f["rate_per_min"] > 0 and f["to"] >= kept * 0.8 and f["to"] <= kept,
          "rate %r to %r kept %d" % (f["rate_per_min"], f["to"], kept))
    check(rep["stats"]["orphaned_sessions"] == kept,
          "orphaned %r, kept %d" % (rep["stats"]["orphaned_sessions"], kept))


# ---------------------------------------------------------------------------
# the clean shapes: a pool that fills and stays flat, connections that follow the load


def pong(conn):
    while True:
        data = conn.recv(64)
        if not data:
            return
        conn.sendall(b"pong\n" * data.count(b"ping\n"))


def test_pool_flat_at_20_is_not_growth():
    up = PyPeer(pong).start()
    try:
        srv = Server(["pool", str(up.port), "20"], FLAT_OPTS)
        try:
            srv.load(4, conns=24)
            rep = srv.quit()
        finally:
            srv.kill()
    finally:
        up.stop()
    RUN_DIRS.append(srv.reports)
    check(not findings_of(rep, "socket-growth"), "pool flagged: %s" % summary(rep))
    # A report without findings carries its stacks as module+offset (symbolized in the
    # process only when there is a finding to show): connleak report names them.
    growth = rep["growth"]
    if not any("pool_connect" in frames_of(g["stack"]) for g in growth):
        out = subprocess.run([os.path.join(base.BUILD, "connleak"), "report", "--format",
                              "json", srv.reports], stdout=subprocess.PIPE, timeout=60)
        procs = json.loads(out.stdout.decode()).get("processes", [])
        growth = [g for p in procs if p.get("pid") == srv.pid for g in p.get("growth", [])]
    pool = [g for g in growth if "pool_connect" in frames_of(g["stack"])]
    check(pool and pool[0]["count"] == 20, "the pool's series should end at 20: %s"
          % json.dumps(pool)[:400])
    check(max(s[1] for s in pool[0]["samples"]) == 20, "pool peak")


def test_load_following_server_is_not_growth():
    srv = Server(["plain"], FLAT_OPTS)
    try:
        peaks = []
        for conns in (20, 60, 100):  # each wave higher than the last, then all gone
            srv.load(2, conns=conns)
            peaks.append(conns)
            srv.settle(1)
        rep = srv.quit()
    finally:
        srv.kill()
    RUN_DIRS.append(srv.reports)
    check(not findings_of(rep, "socket-growth"), "load-following flagged: %s" % summary(rep))
    # (no finding, so no symbolization in the process: find the series by its peak)
    peak = max((max(s[1] for s in g["samples"]) for g in rep["growth"]), default=0)
    check(peak >= 50, "the accepted connections' series should follow the load up to 100: "
          "%s" % json.dumps(rep["growth"])[:600])
    check(rep["timeline"][-1]["open_sockets"] <= 2, "last sample %r" % rep["timeline"][-1])
    check(max(t["open_sockets"] for t in rep["timeline"]) >= 50, "timeline peak")


# ---------------------------------------------------------------------------
# the HTML report in a real browser


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit non-interlaced PNG (what Chromium
    writes), decoded with zlib: enough to count the pixels of a colour."""
    import struct
    import zlib
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path)
    pos, idat, w = 8, b"", None
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and color in (2, 6) and not interlace,
                  "PNG depth %d colour type %d interlace %d" % (depth, color, interlace))
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, [[tuple(r[x * bpp:x * bpp + 3]) for x in range(w)] for r in rows]


def chromium(page, extra):
    """Runs headless Chromium on a file; returns (stdout, stderr)."""
    prof = new_dir("chromium-profile")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--user-data-dir=" + prof, "--enable-logging=stderr",
                        "--v=0"] + extra + ["file://" + page], capture_output=True, text=True,
                       timeout=120, env=clean_env(), cwd=prof)
    check(r.returncode == 0, "chromium exited %d: %s" % (r.returncode, r.stderr[-1500:]))
    return r.stdout, r.stderr


def console_lines(stderr):
    return [x for x in stderr.splitlines() if ":CONSOLE" in x]


def test_html_report_renders_in_chromium():
    leak_run()
    # An exec chain that never touches a socket (a shell and its env processes): folded.
    chain = base.run(["/bin/sh", "-c", "env true; env true"])
    check(chain.rc == 0 and chain.reports, "shell chain: " + chain.describe())
    d = new_dir("html")
    page = os.path.join(d, "report.html")
    r = subprocess.run([CONNLEAK, "report", "--format", "html", "--output", page] + RUN_DIRS +
                       [chain.report_dir],
                       capture_output=True, text=True, timeout=120, env=clean_env())
    check(r.returncode == 0, "connleak report: %s" % r.stderr[-800:])
    with open(page) as f:
        html = f.read()
    quiet = len(chain.reports)
    check(re.search(r"%d process\(es\) never touched a socket:( [\w.-]+\[\d+\]){%d}</p>"
                    % (quiet, quiet), html),
          "the %d shell-chain processes are not folded into one line" % quiet)
    for rep in chain.reports:
        check('[%d]</h3>' % rep["pid"] not in html, "pid %d has a section" % rep["pid"])
    for bad in ("<script", "http://", "https://", "<link", "<img", "url("):
        check(bad not in html, "page references %r" % bad)
    # The check can fail: a page that logs an error shows up as a CONSOLE line.
    bad_page = os.path.join(d, "bad.html")
    with open(bad_page, "w") as f:
        f.write("<!DOCTYPE html><html><body><script>console.error('connleak-canary')"
                "</script></body></html>")
    _, err = chromium(bad_page, ["--dump-dom"])
    check(any("connleak-canary" in x for x in console_lines(err)),
          "Chromium's log does not show console errors; cannot check the report: %s"
          % err[-800:])
    dom, err = chromium(page, ["--dump-dom"])
    check(not console_lines(err), "console messages: %s" % console_lines(err))
    charts = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]*)"(.*?)</svg>', dom, re.S)
    check(charts, "no chart in the rendered DOM")
    for label, body in charts:
        pts = [len(p.split()) for p in re.findall(r'<polyline[^>]*points="([^"]*)"', body)]
        check(pts and max(pts) >= 4, "chart %r has no data points: %s" % (label, pts))
    check(any(lbl == "orphaned TLS sessions from this call site" for lbl, _ in charts),
          "no chart for the growing call site: %s" % [lbl for lbl, _ in charts])
    check(sum(1 for lbl, _ in charts if lbl == "sockets over time") == len(RUN_DIRS),
          "one chart per process: %s" % [lbl for lbl, _ in charts])
    check(dom.count("<details>") >= 2, "stacks are not in <details>")
    png = os.path.join(d, "report.png")
    chromium(page, ["--window-size=1200,2200", "--screenshot=" + png])
    w, h, px = png_pixels(png)
    purple = sum(row.count((0x94, 0x67, 0xbd)) for row in px)  # orphaned sessions' line
    check(purple > 200, "the orphaned-sessions line is not on the screenshot (%d px)" % purple)
    if base.KEEP:
        print("html: %s png: %s" % (page, png))


# ---------------------------------------------------------------------------
# connleak top


def top_sites(text):
    """The call-site rows of a `connleak top` screen: (count, per_min, rest)."""
    rows, on = [], False
    for line in text.splitlines():
        if line.startswith("call sites of"):
            on = True
            continue
        m = on and re.match(r"\s+(\d+)\s+(\d+)\s+([+-]\d+\.\d)\s+(\S+)\s+(.*)$", line)
        if m:
            rows.append((int(m.group(1)), float(m.group(3)), m.group(4) + " " + m.group(5)))
    return rows


def test_top_once_lists_the_leaking_call_site_first():
    srv, rep, n = leak_run()
    r = subprocess.run([CONNLEAK, "top", "--once", srv.reports], capture_output=True,
                       text=True, timeout=60, env=clean_env())
    check(r.returncode == 0, "connleak top: %s" % r.stderr[-800:])
    check(re.search(r"^>\s+%d tls_growth_server" % srv.pid, r.stdout, re.M),
          "the server is not the selected process:\n" + r.stdout)
    sites = top_sites(r.stdout)
    check(sites, "no call-site rows:\n" + r.stdout)
    count, rate, rest = sites[0]
    check("open_tunnel_session" in rest and "sessions" in rest and "GROWING" in rest,
          "first call site is not the leaking one:\n" + r.stdout)
    check(rate > 0 and count == rep["stats"]["orphaned_sessions"],
          "count %d rate %.1f (orphaned %d):\n%s"
          % (count, rate, rep["stats"]["orphaned_sessions"], r.stdout))


def tmux(sock, *args):
    return subprocess.run([TMUX, "-L", sock] + list(args), capture_output=True, text=True,
                          timeout=30, env=clean_env())


def wait_screen(sock, pred, what):
    """Polls the pane (bounded) until pred(text) holds; returns the text."""
    text = ""
    for _ in range(150):
        text = tmux(sock, "capture-pane", "-p", "-t", "top").stdout
        if pred(text):
            return text
        time.sleep(0.1)
    raise TestFailure("tmux: %s never showed; screen:\n%s" % (what, text))


def test_top_under_tmux_sorts_and_switches():
    leak_run()
    d = new_dir("top")
    for rd in RUN_DIRS:
        for name in os.listdir(rd):
            if name.endswith(".json"):
                shutil.copy(os.path.join(rd, name), d)
    if len(os.listdir(d)) < 2:  # (run alone) a second process to switch to
        quiet = Server(["plain"], FLAT_OPTS)
        try:
            quiet.quit()
        finally:
            quiet.kill()
        for name in os.listdir(quiet.reports):
            shutil.copy(os.path.join(quiet.reports, name), d)
    sock = "connleak-top-%d" % os.getpid()
    env = "TERM=xterm-256color"
    r = tmux(sock, "new-session", "-d", "-s", "top", "-x", "200", "-y", "50",
             "env %s %s top %s" % (env, CONNLEAK, d))
    check(r.returncode == 0, "tmux new-session: " + r.stderr)
    try:
        text = wait_screen(sock, lambda t: "call sites of" in t and top_sites(t), "call sites")
        check("sort: open" in text and "open_tunnel_session" in top_sites(text)[0][2],
              "first screen:\n" + text)
        first = re.search(r"^>\s+(\d+)", text, re.M).group(1)
        tmux(sock, "send-keys", "-t", "top", "s")
        wait_screen(sock, lambda t: "sort: growth" in t, "sort: growth")
        tmux(sock, "send-keys", "-t", "top", "Tab")
        text = wait_screen(sock, lambda t: re.search(r"^>\s+(\d+)", t, re.M) and
                           re.search(r"^>\s+(\d+)", t, re.M).group(1) != first,
                           "another process selected")
        other = re.search(r"^>\s+(\d+)", text, re.M).group(1)
        check(re.search(r"^call sites of \S+\[%s\]" % other, text, re.M),
              "the call sites did not follow the selection:\n" + text)
        tmux(sock, "send-keys", "-t", "top", "q")
        for _ in range(100):
            if tmux(sock, "has-session", "-t", "top").returncode != 0:
                break
            time.sleep(0.1)
        else:
            raise TestFailure("connleak top did not quit on q")
    finally:
        tmux(sock, "kill-server")


# ---------------------------------------------------------------------------


def main():
    return base.run_suite(globals(), "connleak-growth.", lambda: base.build_fixtures(
        base.fixture_targets("tls_growth_server.c")))


if __name__ == "__main__":
    sys.exit(main())
