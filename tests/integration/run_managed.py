#!/usr/bin/env python3
"""connleak and managed runtimes (issue 14): leaks made by named functions in
C#, Python 3.12, Java and node, named in the report's creation stacks through
the runtimes' perf maps that `connleak run` asks for; the .NET seed stories
(tests/integration/dotnet: one C# project, one mode per story) against
loopback peers; `connleak run` and statically linked commands.

    tests/integration/run_managed.py              run everything
    tests/integration/run_managed.py -k dotnet    run the tests whose name contains "dotnet"
    tests/integration/run_managed.py --keep       keep the temporary directories
    tests/integration/run_managed.py --list       list the test names

A runtime that is missing (dotnet, java/javac, node, pyenv's python3.12) makes
its tests print "SKIP name: reason" and count as passed; the .NET project is
built once into build/dotnet (rebuilt when its sources change).  Shares its
helpers with run.py, run_tls.py and run_lease.py.  Prints "PASS name",
"SKIP name: reason" or "FAIL name: reason" per test, then "N passed, N failed";
exits 1 when any test failed.
"""

import glob
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
import run_lease as lease  # noqa: E402
import run_tls as tls  # noqa: E402
from run import (TestFailure, check, brief, summary, findings_of, PyPeer,  # noqa: E402
                 read_request, only_report, load_reports, new_dir, run, clean_env,
                 run_process, Result, TIMEOUT, CLI, BUILD, ROOT)

DOTNET = shutil.which("dotnet")
JAVA, JAVAC = shutil.which("java"), shutil.which("javac")
NODE = shutil.which("node")
PY312 = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
CC = shutil.which("cc") or shutil.which("gcc")
SEEDS_SRC = os.path.join(HERE, "dotnet")
SEEDS_OUT = os.path.join(BUILD, "dotnet")
SEEDS_DLL = os.path.join(SEEDS_OUT, "Seeds.dll")
PER_REQUEST_N = 5          # HttpClients made (and never disposed) by the per-request mode
SINGLETON_N = 16           # requests of the singleton client ...
SINGLETON_PAUSE_MS = 150   # ... this far apart
CLEAN_N = 5                # HTTPS requests of the clean client on one connection
DNS_CHECK_MS = 200
JAVA_WARM = 2000           # calls that make the JVM compile the leaking method


class Skip(Exception):
    pass


def need(cond, reason):
    if not cond:
        raise Skip(reason)


def connleak_run(argv, report_dir=None, extra=(), env=None, timeout=TIMEOUT):
    """`connleak run` (the environment it sets is part of what is tested)."""
    report_dir = report_dir or new_dir("reports")
    e = clean_env()
    if env:
        e.update(env)
    full = [CLI, "run", "--report-dir", report_dir] + list(extra) + ["--"] + argv
    rc, out, err = run_process(full, e, timeout=timeout)
    r = Result(full, rc, out, err, report_dir)
    r.reports = load_reports(report_dir)
    return r


def cli_report(report_dir, fmt="text"):
    rc, out, err = run_process([CLI, "report", "--format", fmt, report_dir], clean_env())
    check(rc == 0, "connleak report exited %d: %s" % (rc, err[-800:]))
    return out


def holding_peer():
    """A loopback server that reads what comes and holds the connection."""
    def hold(conn):
        while conn.recv(4096):
            pass
    return PyPeer(hold).start()


def http_peer(drop_second=False):
    """An HTTP/1.1 keep-alive server answering "ok". With drop_second it answers the first
    request of each connection and closes the connection when the second one arrives,
    without a reply: a server closing an idle keep-alive connection just as the client
    reuses it, made deterministic (peer.drops counts them)."""
    drops = []

    def serve(conn):
        n = 0
        while True:
            req = read_request(conn)
            if req is None:
                return
            n += 1
            if drop_second and n == 2:
                drops.append(1)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n"
                         b"Content-Type: text/plain\r\n\r\nok\n")
    peer = PyPeer(serve).start()
    peer.drops = drops
    return peer


def created_frames(f):
    frames = (f.get("stacks") or {}).get("created") or []
    return [fr for fr in frames if isinstance(fr, dict)]


def expect_jit_frame(f, pattern, what):
    """The creation stack has a JIT frame (named from the perf map) matching pattern."""
    frames = created_frames(f)
    hits = [fr for fr in frames if fr.get("jit") is True and
            re.search(pattern, fr.get("function") or "")]
    check(hits, "%s: no JIT frame matching %r in the creation stack; functions: %s"
          % (what, pattern, [(fr.get("function"), fr.get("jit")) for fr in frames]))
    fr = hits[0]
    check(fr.get("module") is None and re.fullmatch(r"/tmp/perf-\d+\.map", fr.get("perf_map", "")),
          "JIT frame fields: %s" % fr)
    return fr


def expect_map_copied_and_tmp_cleaned(rep):
    """The perf map is beside the report (0600), and `connleak run` removed the one in /tmp."""
    name = rep.get("perf_map")
    check(isinstance(name, str) and "/" not in name, "report perf_map %r" % (name,))
    copy = os.path.join(os.path.dirname(rep["_path"]), name)
    st = os.lstat(copy)
    check(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
          "%s: mode %o" % (copy, stat.S_IMODE(st.st_mode)))
    check(not os.path.exists("/tmp/perf-%d.map" % rep["pid"]),
          "/tmp/perf-%d.map left behind by connleak run" % rep["pid"])


def leak_finding(r, exe_part):
    reps = [rep for rep in r.reports if exe_part in os.path.basename(rep["exe"])]
    check(len(reps) == 1, "expected one %s report, got %s; %s"
          % (exe_part, [os.path.basename(x["_path"]) for x in r.reports], r.describe()))
    rep = reps[0]
    leaks = findings_of(rep, "leaked-socket")
    check(len(leaks) == 1, "expected one leaked-socket group, got %s" % summary(rep))
    return rep, leaks[0]


# ---------------------------------------------------------------------------
# .NET project


def build_seeds():
    """dotnet build, once, when a source is newer than the output."""
    if not DOTNET:
        return
    srcs = [os.path.join(SEEDS_SRC, n) for n in os.listdir(SEEDS_SRC)
            if n.endswith((".cs", ".csproj"))]
    if os.path.exists(SEEDS_DLL) and \
            os.path.getmtime(SEEDS_DLL) >= max(os.path.getmtime(s) for s in srcs):
        return
    env = clean_env()
    env.update({"DOTNET_CLI_TELEMETRY_OPTOUT": "1", "DOTNET_NOLOGO": "1",
                "DOTNET_SKIP_FIRST_TIME_EXPERIENCE": "1"})
    p = subprocess.run([DOTNET, "build", os.path.join(SEEDS_SRC, "Seeds.csproj"), "-c",
                        "Release", "-o", SEEDS_OUT, "--nologo", "-v", "q",
                        "--artifacts-path", os.path.join(BUILD, "dotnet-obj")],
                       env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise TestFailure("dotnet build failed: %s" % (p.stdout + p.stderr)[-1500:])


def need_dotnet():
    need(DOTNET, "dotnet not found in PATH")
    check(os.path.exists(SEEDS_DLL), "%s missing after the build" % SEEDS_DLL)


def seeds(*args):
    return [DOTNET, SEEDS_DLL] + [str(a) for a in args]


# ---------------------------------------------------------------------------
# 1. A leak made by a named function, named in each runtime


def test_dotnet_function_named():
    need_dotnet()
    peer = holding_peer()
    try:
        r = connleak_run(seeds("tcpleak", "127.0.0.1", peer.port))
    finally:
        peer.stop()
    check(r.rc == 0, "Seeds exited %r: %s" % (r.rc, r.describe()))
    rep, f = leak_finding(r, "dotnet")
    expect_jit_frame(f, r"\bSeeds::LeakConnection\(", "C# TcpClient leak")
    # the framework's precompiled (ReadyToRun) code between: its .dll and an offset
    frames = created_frames(f)
    check(any((fr.get("module") or "").endswith("/System.Net.Sockets.dll") for fr in frames),
          "no ReadyToRun frame in System.Net.Sockets.dll: %s" % frames[:5])
    expect_map_copied_and_tmp_cleaned(rep)
    text = cli_report(r.report_dir)
    check(re.search(r"in void \[Seeds\] Seeds::LeakConnection\(.*\) \[jit\] \(perf-%d\.map\)"
                    % rep["pid"], text), "connleak report text: %s" % text[:2500])
    # the tier suffix is off (names stay the same while the program warms up)
    check("[QuickJitted]" not in text and "[Optimized" not in text, text[:2500])


def test_dotnet_function_unnamed_without_perf_maps():
    """What the named frame depends on: with --no-perf-maps the frame is there, unnamed."""
    need_dotnet()
    peer = holding_peer()
    try:
        r = connleak_run(seeds("tcpleak", "127.0.0.1", peer.port), extra=["--no-perf-maps"])
    finally:
        peer.stop()
    rep, f = leak_finding(r, "dotnet")
    check(rep.get("perf_map") is None, "perf_map %r" % rep.get("perf_map"))
    check(not any(fr.get("jit") for fr in created_frames(f)),
          "JIT names without a perf map: %s" % created_frames(f))
    text = cli_report(r.report_dir)
    check("LeakConnection" not in text, text[:2000])


PY_LEAK = """\
import os, socket, sys
kept = []
def leak_connection(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"hello")
    kept.append(s)
leak_connection(int(sys.argv[1]))
sys.stdout.flush()
os._exit(0)  # no interpreter finalization: the socket is still open at exit
"""


def test_python312_function_named():
    need(PY312, "no pyenv python3.12 (~/.pyenv/versions/3.12*)")
    d = new_dir("py")
    script = os.path.join(d, "leak.py")
    with open(script, "w") as f:
        f.write(PY_LEAK)
    peer = holding_peer()
    try:
        r = connleak_run([PY312[-1], script, str(peer.port)])
    finally:
        peer.stop()
    check(r.rc == 0, "python exited %r: %s" % (r.rc, r.describe()))
    rep, f = leak_finding(r, "python3.12")
    fr = expect_jit_frame(f, r"^py::leak_connection:.*leak\.py$", "python leak")
    # Python functions follow each other (interpreter C frames between them are skipped):
    # the caller of create_connection is the function, its caller the module.
    funcs = [x.get("function") or "" for x in created_frames(f)]
    i = funcs.index(fr["function"])
    check(funcs[i - 1].startswith("py::create_connection:") and
          funcs[i + 1].startswith("py::<module>:"), "python frames: %s" % funcs)
    # within the default depth (16), with the socket module's C frame first
    check(len(funcs) <= 16 and funcs[0] == "sock_initobj", "frames: %s" % funcs)
    expect_map_copied_and_tmp_cleaned(rep)
    check("py::leak_connection:" in cli_report(r.report_dir), "connleak report lacks it")


HOT_JAVA = """\
import java.net.Socket;
import java.util.ArrayList;
public class Hot {
  static ArrayList<Socket> kept = new ArrayList<>();
  static Socket openConnection(int port) throws Exception {
    return new Socket("127.0.0.1", port);
  }
  public static void main(String[] a) throws Exception {
    int port = Integer.parseInt(a[0]);
    // hot enough to be compiled: interpreted frames all share the name "Interpreter"
    for (int i = 0; i < Integer.parseInt(a[1]); i++) openConnection(port).close();
    kept.add(openConnection(port));
    System.exit(0);
  }
}
"""


def test_java_compiled_function_named():
    need(JAVA and JAVAC, "java or javac not found in PATH")
    d = new_dir("java")
    with open(os.path.join(d, "Hot.java"), "w") as f:
        f.write(HOT_JAVA)
    p = subprocess.run([JAVAC, "-d", d, os.path.join(d, "Hot.java")], capture_output=True,
                       text=True, timeout=120, env=clean_env())
    check(p.returncode == 0, "javac: %s" % p.stderr[-800:])

    # accept and close, in one thread: thousands of connections
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    port = lsock.getsockname()[1]

    def accept_close():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            c.close()
    t = threading.Thread(target=accept_close, daemon=True)
    t.start()
    try:
        r = connleak_run([JAVA, "-cp", d, "Hot", str(port), str(JAVA_WARM)], timeout=120)
    finally:
        try:
            lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        lsock.close()
        t.join(5)
    check(r.rc == 0, "java exited %r: %s" % (r.rc, r.describe()))
    rep, f = leak_finding(r, "java")
    check(f.get("count", 1) == 1, "one leak expected: %s" % brief(f))
    expect_jit_frame(f, r"\bHot\.openConnection\(int\)$", "java leak")
    expect_map_copied_and_tmp_cleaned(rep)


NODE_LEAK = """\
const net = require('net');
const kept = [];
function leakConnection(port) {
  const s = net.connect(port, '127.0.0.1', () => s.write('hello'));
  kept.push(s);
}
leakConnection(+process.argv[2]);
setTimeout(() => process.exit(0), 200);
"""


def test_node_frames_named_and_demangled():
    """node opens the socket on the next tick (net.connect defers internalConnect), so
    the program's function is not on the stack; what is: node's own JS frames, named
    through the perf map, and node's C++ frames, demangled by the library itself (node
    has libstdc++ loaded)."""
    need(NODE, "node not found in PATH")
    d = new_dir("node")
    script = os.path.join(d, "leak.js")
    with open(script, "w") as f:
        f.write(NODE_LEAK)
    peer = holding_peer()
    try:
        r = connleak_run([NODE, script, str(peer.port)])
    finally:
        peer.stop()
    check(r.rc == 0, "node exited %r: %s" % (r.rc, r.describe()))
    rep, f = leak_finding(r, "node")
    expect_jit_frame(f, r"^JS:.*internalConnect node:net:", "node leak")
    check(re.search(r"in (void )?node::TCPWrap::Connect(<sockaddr_in>)?\(", r.stderr),
          "library text report without demangled C++ frames: %s" % r.stderr[-2500:])
    check("_ZN4node" not in r.stderr, r.stderr[-2500:])
    # a JIT frame prints as perf prints it: "in NAME [jit] (perf-PID.map)"
    check(re.search(r"#\d+ 0x[0-9a-f]+ in JS:~internalConnect node:net:\d+:\d+ \[jit\] "
                    r"\(perf-\d+\.map\)$", r.stderr, re.M),
          "library text report JIT frame format: %s" % r.stderr[-2500:])


# ---------------------------------------------------------------------------
# 2. connleak run: environment only, static commands


def test_run_sets_perf_map_environment_only():
    r = connleak_run(["/usr/bin/env"], env={"NODE_OPTIONS": "--max-old-space-size=64"})
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    check(env.get("DOTNET_PerfMapEnabled") == "1" and env.get("PYTHONPERFSUPPORT") == "1",
          "env: %s" % r.stdout[-1500:])
    check(env.get("NODE_OPTIONS") == "--max-old-space-size=64 --perf-basic-prof "
          "--interpreted-frames-native-stack", "NODE_OPTIONS %r" % env.get("NODE_OPTIONS"))
    check("-XX:+DumpPerfMapAtExit" in env.get("JAVA_TOOL_OPTIONS", ""), "JAVA_TOOL_OPTIONS")
    r = connleak_run(["/usr/bin/env"], extra=["--no-perf-maps"],
                     env={"NODE_OPTIONS": "--max-old-space-size=64"})
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    check(env.get("NODE_OPTIONS") == "--max-old-space-size=64" and
          "DOTNET_PerfMapEnabled" not in env and "PYTHONPERFSUPPORT" not in env and
          "JAVA_TOOL_OPTIONS" not in env, "--no-perf-maps changed the env: %s" % r.stdout[-1500:])


def test_run_says_static_command():
    need(CC, "no C compiler")
    d = new_dir("static")
    src, exe = os.path.join(d, "s.c"), os.path.join(d, "static_prog")
    with open(src, "w") as f:
        f.write("#include <sys/socket.h>\nint main(void){return socket(AF_INET,"
                "SOCK_STREAM,0) < 0;}\n")
    p = subprocess.run([CC, "-static", "-o", exe, src], capture_output=True, text=True,
                       timeout=120)
    need(p.returncode == 0, "no static libc to link with: %s" % p.stderr[-300:])
    r = connleak_run([exe])
    check(r.rc == 0, r.describe())
    check("static_prog is statically linked" in r.stderr and "process report(s)" not in r.stderr,
          "stderr: %r" % r.stderr)
    # the same program linked dynamically is seen
    p = subprocess.run([CC, "-o", exe, src], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, p.stderr)
    r = connleak_run([exe])
    check("1 process report(s)" in r.stderr and "statically" not in r.stderr, r.stderr)


# ---------------------------------------------------------------------------
# 3. The seeds in .NET


def test_dotnet_http_client_per_request_grouped():
    """A new HttpClient per request, never disposed: one leaked-socket group with one
    instance per client but the newest, whose connection is still held for reuse at exit
    (open-at-exit: counted in stats.reusable_at_exit, not a leak). .NET opens pooled connections on a thread-pool thread
    (HttpConnectionPool's InjectNewHttp11ConnectionAsync), so the creation stack is the
    pool's, the same for every client: that is what groups them; the caller is not on it."""
    need_dotnet()
    peer = http_peer()
    try:
        r = connleak_run(seeds("perrequest", "http://127.0.0.1:%d/" % peer.port, PER_REQUEST_N))
    finally:
        peer.stop()
    check(r.rc == 0 and r.stdout.count("len=3") == PER_REQUEST_N,
          "Seeds perrequest: %s" % r.describe())
    rep = only_report(r)
    out = json.loads(cli_report(r.report_dir, "json"))
    groups = [g for g in out["findings"] if g["kind"] == "leaked-socket"]
    check(len(groups) == 1 and groups[0]["count"] == PER_REQUEST_N - 1,
          "expected one leaked-socket group of %d, got %s"
          % (PER_REQUEST_N - 1, [(g["kind"], g["count"]) for g in out["findings"]]))
    check(rep["stats"].get("reusable_at_exit") == 1, "stats %s" % rep["stats"])
    frames = groups[0]["stacks"]["created"]
    check(frames[0].get("function") == "SystemNative_Socket" and
          any(fr.get("jit") for fr in frames),
          "creation stack: %s" % [(fr.get("function"), fr.get("jit")) for fr in frames])
    ep = [e for e in rep["endpoints"] if e.get("peer", "").endswith(":%d" % peer.port)]
    check(ep and ep[0]["connections"] == PER_REQUEST_N, "endpoints: %s" % rep["endpoints"])


def test_dotnet_clean_https_client_identical():
    """One HttpClient, keep-alive, HTTPS to nginx: no finding, one connection, TLS seen
    (libssl reached by .NET through dlopen/dlsym), same exit status and output bare and
    preloaded."""
    need_dotnet()
    ng = tls.NginxTls().start()
    try:
        argv = seeds("clean", "https://127.0.0.1:%d/" % ng.port, CLEAN_N)
        bare = run(argv, preload=False)
        r = connleak_run(argv)
    finally:
        ng.stop()
    check(bare.rc == 0 and bare.stdout.count("status=200 body=hello") == CLEAN_N,
          "bare run: %s" % bare.describe())
    check(r.rc == bare.rc and r.stdout == bare.stdout,
          "preloaded run differs: bare %s / preloaded %s" % (bare.describe(), r.describe()))
    rep = only_report(r)
    base.expect_no_findings(rep)
    check(rep["end"].get("how") == "exit" and rep["end"].get("status") == 0, rep["end"])
    # .NET connects IPv4 peers through dual-stack sockets
    ep = [e for e in rep["endpoints"] if e.get("peer") == "[::ffff:127.0.0.1]:%d" % ng.port]
    check(ep and ep[0]["connections"] == 1,
          "one keep-alive connection for %d requests expected: %s" % (CLEAN_N, rep["endpoints"]))
    # the sessions are seen (libssl reached through dlsym); they are not bound to the
    # socket: SslStream drives OpenSSL through memory BIOs (README, ".NET")
    check(rep["stats"]["tls_sessions"] >= 1, "TLS sessions not seen: %s" % rep["stats"])


def served_by(stdout):
    return [m.group(2) for m in re.finditer(r"^req=(\d+) status=200 body=(\S+)$", stdout, re.M)]


def singleton_run(extra_args=(), opts=None):
    ng = lease.nginx()
    hosts = lease.HostsFile()
    url = "http://%s:%d/" % (lease.DNS_HOST, ng.port)
    argv = seeds("singleton", url, SINGLETON_N, SINGLETON_PAUSE_MS, *extra_args)
    # run_in_ns ends in `env VAR=... argv`: one more assignment names the C# frames
    r = lease.run_in_ns(hosts, ["DOTNET_PerfMapEnabled=1"] + argv,
                        # no lease: the pooled connection never makes the program
                        # resolve again, the snapshot thread re-resolves its name
                        opts or {"snapshot_ms": DNS_CHECK_MS,
                                 "dns_check_ms": DNS_CHECK_MS},
                        on_line=lease.switch_after(hosts, lease.DNS_SWITCH_AFTER),
                        timeout=60)
    for rep in r.reports:
        try:
            os.unlink("/tmp/perf-%d.map" % rep["pid"])
        except OSError:
            pass
    check(r.rc == 0, "Seeds singleton: %s" % r.describe())
    check(hosts.switched_at is not None, "the hosts file was never rewritten: " + r.describe())
    served = served_by(r.stdout)
    check(len(served) == SINGLETON_N, "requests served: %s; %s" % (served, r.describe()))
    return ng, r, served


def test_dotnet_singleton_http_client_stale_dns():
    """Story 2: one HttpClient for the program's life, the name re-pointed mid-run: the
    pooled connection stays on the old address (every request), and connleak says
    stale-dns for it, with the hostname and the new answer. Side by side, .NET's own fix
    (PooledConnectionLifetime) on the same run: how many requests after the change still
    went to the old address with each (printed, the first must be all of them)."""
    need_dotnet()
    ng, r, served = singleton_run()
    check(set(served) == {"127.0.0.1"}, "without a fix the pooled connection keeps talking to "
          "127.0.0.1; served by %s" % served)
    rep = only_report(r)
    st = findings_of(rep, "stale-dns")
    check(len(st) == 1 and st[0].get("count", 1) == 1,
          "expected one stale-dns finding (the pooled connection), got %s" % summary(rep))
    f = st[0]
    # .NET connects IPv4 peers through dual-stack sockets: ::ffff:127.0.0.1
    check(f["hostname"] == lease.DNS_HOST and
          f["peer"] == "[::ffff:127.0.0.1]:%d" % ng.port and f["answer"] == ["127.0.0.2"],
          "stale-dns: %s" % brief(f))
    names = [fr.get("function") or "" for fr in created_frames(f)]
    check(any(fr.get("jit") for fr in created_frames(f)),
          "stale-dns creation stack has no named .NET frame: %s" % names)
    ng2, r2, served2 = singleton_run(("lifetime", 500))
    after = SINGLETON_N - lease.DNS_SWITCH_AFTER
    old_plain = served[lease.DNS_SWITCH_AFTER:].count("127.0.0.1")
    old_fixed = served2[lease.DNS_SWITCH_AFTER:].count("127.0.0.1")
    print("  note: requests to the old address after the DNS change, of %d: singleton %d, "
          "PooledConnectionLifetime=500ms %d" % (after, old_plain, old_fixed), flush=True)
    check(old_fixed < after and served2[-1] == "127.0.0.2",
          "PooledConnectionLifetime did not move: %s" % served2)


TUNNEL_N = 3               # HTTPS connections through the proxy in the tunnel story
TUNNEL_HOLD_MS = 400       # how long the program lives on after dropping the sockets
TUNNEL_CLOSE_WAIT_MS = 100


def tunnel_run(mode):
    with tls.Story() as st:
        argv = seeds("tunnel", "127.0.0.1", st.proxy.port, "127.0.0.1:%d" % st.tls.port,
                     TUNNEL_N, TUNNEL_HOLD_MS, mode)
        r = connleak_run(argv + [], extra=["--options", "close_wait_ms=%d" % TUNNEL_CLOSE_WAIT_MS])
        check(r.rc == 0 and r.stdout.count("tunnel reply") == TUNNEL_N,
              "Seeds tunnel %s: %s" % (mode, r.describe()))
        st.check_peers(TUNNEL_N)
        proxy = st.proxy.addr
    return r, only_report(r), proxy


def test_dotnet_tunnel_socket_closed_under_live_sslstream():
    """Story 1 in its own runtime: HTTPS through tinyproxy's CONNECT tunnel, the socket
    closed while the SslStream lives on. .NET reaches libssl through dlopen/dlsym and
    drives it through memory BIOs, moving the ciphertext with its own send() calls: each
    session is bound to its socket by the ciphertext BIO_read handed out and the next send
    carried. Then: closed-but-referenced, one per session, on the proxy's socket, with the
    C# method that opened the tunnel in the session's creation stack."""
    need_dotnet()
    r, rep, proxy = tunnel_run("leak")
    cbr = findings_of(rep, "closed-but-referenced")
    check(len(cbr) == 1 and cbr[0].get("count") == TUNNEL_N,
          "expected one closed-but-referenced group of %d, got %s" % (TUNNEL_N, summary(rep)))
    f = cbr[0]
    check(f.get("peer") == proxy and (f.get("tls") or {}).get("library") == "openssl" and
          f.get("hostname") == "localhost",
          "closed-but-referenced: %s" % brief(f))
    check(type(f.get("dangling_ms")) is int and f["dangling_ms"] >= TUNNEL_CLOSE_WAIT_MS,
          "dangling_ms: %s" % brief(f))
    expect_jit_frame(f, r"\bSeeds::OpenTunnel\(", "the session's creation")
    check(rep["stats"]["orphaned_sessions"] == TUNNEL_N, "stats: %s" % rep["stats"])
    ep = [e for e in rep["endpoints"] if e.get("peer") == proxy]
    check(ep and ep[0]["tls_handshakes"] == TUNNEL_N, "endpoints: %s" % rep["endpoints"])


def test_dotnet_tunnel_fixed_is_clean():
    """The fix: the SslStream disposed before the socket goes: no finding."""
    need_dotnet()
    r, rep, proxy = tunnel_run("fixed")
    check(rep["findings"] == [], "expected no finding: %s" % summary(rep))
    ep = [e for e in rep["endpoints"] if e.get("peer") == proxy]
    check(ep and ep[0]["tls_handshakes"] == TUNNEL_N and rep["stats"]["tls_sessions"] >= TUNNEL_N,
          "the sessions were not bound (nothing proven): %s %s" % (rep["stats"], ep))


def test_dotnet_singleton_lease_on_dns_change_follows():
    """Story 2 with the lease that follows DNS (lease_on_dns_change, no lease timer): the
    singleton's pooled connection is retired at its next idle boundary once connleak sees
    the name move, .NET opens a new one to the new address, no request fails. Side by side
    with .NET's own fix (PooledConnectionLifetime) and a plain singleton, on the same run
    shape: requests that still went to the old address after the change."""
    need_dotnet()
    ng, r, served = singleton_run(opts={"lease_on_dns_change": 1,
                                        "dns_check_ms": DNS_CHECK_MS})
    check("fail=" not in r.stdout, "a request failed: %s" % r.describe())
    after = served[lease.DNS_SWITCH_AFTER:]
    check(served[0] == "127.0.0.1" and served[-1] == "127.0.0.2" and
          set(after[after.index("127.0.0.2"):]) == {"127.0.0.2"},
          "did not move to 127.0.0.2 and stay: served by %s" % served)
    rep = only_report(r)
    reasons = [e.get("reason") for e in rep.get("events", []) if e.get("what") == "lease"]
    check("dns-change" in reasons, "no dns-change lease event: %s" % rep.get("events"))
    old = after.count("127.0.0.1")
    _, _, fixed = singleton_run(("lifetime", 500))
    print("  note: requests to the old address after the DNS change, of %d: "
          "lease_on_dns_change (dns_check_ms=%d) %d, PooledConnectionLifetime=500ms %d"
          % (len(after), DNS_CHECK_MS, old, fixed[lease.DNS_SWITCH_AFTER:].count("127.0.0.1")),
          flush=True)


def test_dotnet_singleton_with_lease_moves_no_request_lost():
    """Story 2 with connleak's lease (lease_ms, enforce): the idle pooled connection is shut
    down under the program, which opens a new one, resolving the name again: traffic moves
    to the new address and no request fails. (The lease that follows DNS changes,
    lease_on_dns_change, is not on main yet: this is the time-based lease.)"""
    need_dotnet()
    ng, r, served = singleton_run(opts={"lease_ms": lease.LEASE_MS,
                                        "dns_check_ms": DNS_CHECK_MS})
    check("fail=" not in r.stdout, "a request failed under the lease: %s" % r.describe())
    check(served[-1] == "127.0.0.2", "with lease_ms=%d the client did not move: served by %s"
          % (lease.LEASE_MS, served))
    old = served[lease.DNS_SWITCH_AFTER:].count("127.0.0.1")
    print("  note: requests to the old address after the DNS change, of %d: lease_ms=%d %d"
          % (SINGLETON_N - lease.DNS_SWITCH_AFTER, lease.LEASE_MS, old), flush=True)
    rep = only_report(r)
    check(rep["stats"]["leases_enforced"] >= 1, "no lease enforced: %s" % rep["stats"])


def limit_run(drop_second):
    peer = http_peer(drop_second)
    try:
        r = connleak_run(seeds("limit", "http://127.0.0.1:%d/" % peer.port, 4, 50))
    finally:
        peer.stop()
    check(r.rc == 0, "Seeds limit: %s" % r.describe())
    ok = len(re.findall(r"^req=\d+ status=200", r.stdout, re.M))
    fails = len(re.findall(r"^req=\d+ fail=", r.stdout, re.M))
    check(ok + fails == 16, "16 requests expected: %s" % r.describe())
    rep = only_report(r)
    ep = [e for e in rep["endpoints"] if e.get("peer") == "[::ffff:127.0.0.1]:%d" % peer.port]
    check(len(ep) == 1, "endpoints: %s" % rep["endpoints"])
    return rep, ep[0], fails, len(peer.drops)


def test_dotnet_connection_limit_keepalive_races():
    """Story 3: MaxConnectionsPerServer=2, four requests at a time. Against a server that
    keeps connections: the endpoint's peak concurrency is the limit, 2, on 2 connections,
    nothing found. Against one that closes a reused connection as the next request arrives
    (every connection's second request): one keepalive-race per such close, while the
    program logs fewer failures, usually none at all: today's SocketsHttpHandler retries a request that met
    a closed reused connection before any reply byte (the 2006 story's HttpWebRequest
    surfaced them as "The underlying connection was closed"). connleak sees what the
    retries hide."""
    need_dotnet()
    rep, ep, fails, _ = limit_run(False)
    check(ep["peak_concurrent"] == 2 and ep["connections"] == 2 and fails == 0,
          "peak concurrency 2 on 2 connections expected: %s" % ep)
    base.expect_no_findings(rep)
    rep, ep, fails, drops = limit_run(True)
    races = sum(f.get("count", 1) for f in findings_of(rep, "keepalive-race"))
    print("  note: server dropping reused connections: 16 requests, %d dropped by the server, "
          "%d failures logged by the program, %d keepalive-race finding(s), %d connections, "
          "peak %d at once" % (drops, fails, races, ep["connections"], ep["peak_concurrent"]),
          flush=True)
    # (a drop the client sees as a reset after its own close, TCP state CLOSE, is not
    # counted by the keepalive-race rules: at most one race per drop; measured 14-15 of 15)
    # .NET retries a request that met a dropped reused connection on another pooled one,
    # which may be a reused one dropped too; after a few such retries in a row (how the
    # four concurrent requests meet the two connections is the scheduler's choice) it
    # gives up and the program sees the failure: measured 0 in most runs, 1 under load.
    # What the story proves holds either way: connleak finds races the program never saw.
    check(drops >= 1 and 1 <= races <= drops and fails < races,
          "expected keepalive-races for the dropped requests (%d), more than the failures "
          "seen by the program (.NET retries hide the rest): races %d, failures %d: %s"
          % (drops, races, fails, summary(rep)))
    # No bound on the peak here: the limit is proved by the keep-alive run above (exactly 2
    # on 2 connections). With the server dropping connections, .NET opens the replacement
    # before it disposes the dropped socket, so how many are open at once is the
    # scheduler's choice (2 or 3 here, 4 once on a loaded machine).


def _wrap(name, fn):
    def t():
        try:
            fn()
        except Skip as e:
            print("SKIP %s: %s" % (name[5:], e), flush=True)
    t.__doc__ = fn.__doc__
    return t


def main():
    g = globals()
    for name in [n for n in g if n.startswith("test_")]:
        g[name] = _wrap(name, g[name])
    return base.run_suite(g, "connleak-managed.", build_seeds,
                          lambda: (lease._nginx.stop()))


if __name__ == "__main__":
    sys.exit(main())
