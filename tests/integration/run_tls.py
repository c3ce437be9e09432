#!/usr/bin/env python3
"""connleak TLS integration tests (issue 3): TLS programs under the preload,
real peers on loopback (a python3 TLS server, tinyproxy's CONNECT tunnel,
nginx with ssl), assertions on the JSON reports.

    tests/integration/run_tls.py              run everything
    tests/integration/run_tls.py -k tunnel    run the tests whose name contains "tunnel"
    tests/integration/run_tls.py --keep       keep the temporary directories
    tests/integration/run_tls.py --list       list the test names

Needs build/libconnleak.so and the TLS fixtures (build/fixtures/tls_*, built
here when missing or stale by make with the rules of
tests/integration/fixtures.mk: tls_gnutls_* link -lgnutls, tls_dlopen links no
TLS library, the other tls_* link -lssl -lcrypto).  Peers and clients:
openssl (the test certificate), tinyproxy, /usr/sbin/nginx (ssl module),
curl (OpenSSL), wget (GnuTLS), ab, /usr/bin/python3 with python3-requests.

Shares its helpers with run.py.  Prints "PASS name" or "FAIL name: reason"
per test, then exactly "N passed, N failed"; exits 1 when any test failed.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
from run import (TestFailure, check, kv, brief, summary, kinds, findings_of,  # noqa: E402
                 expect_fixture_ok, expect_no_findings, expect_stack_names, stat_of,
                 only_report, report_for_pid, new_dir, run, fixture,
                 preload_env, clean_env, PyPeer, read_request, FIXTURE_FAIL)

OPENSSL = "/usr/bin/openssl"
TINYPROXY = "/usr/bin/tinyproxy"
WGET = "/usr/bin/wget"

CLOSE_WAIT_MS = 100          # close_wait_ms: also the grace a session may outlive its socket
HOLD_MS = 300                # how long the leaking fixtures dangle their sessions (> CLOSE_WAIT_MS)
STORY_N = 5                  # HTTPS requests in the story reproduction
AB_REQUESTS = 500
TLS_OPTS = {"close_wait_ms": CLOSE_WAIT_MS}
REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
         b"Connection: close\r\n\r\nhello\n")
SESSION_RE = re.compile(r"^0x[0-9a-f]+$")


# ---------------------------------------------------------------------------
# fixtures: built by make with the rules of fixtures.mk (the one place that
# knows each fixture's libraries)


def build_tls_fixtures():
    base.build_fixtures(base.fixture_targets("tls_*.c"))


# ---------------------------------------------------------------------------
# peers

_cert = None


def cert():
    """(certfile, keyfile): a self-signed localhost certificate made once per run."""
    global _cert
    if _cert is None:
        d = new_dir("cert")
        crt, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        p = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "1", "-subj", "/CN=localhost", "-keyout", key,
                            "-out", crt], capture_output=True, text=True, timeout=60,
                           env=clean_env())
        check(p.returncode == 0, "openssl req failed: %s" % p.stderr[-800:])
        os.chmod(d, 0o755)
        os.chmod(crt, 0o644)
        os.chmod(key, 0o644)
        _cert = (crt, key)
    return _cert


class TlsServer:
    """A python3 TLS server on 127.0.0.1: one HTTP request per connection,
    answered with "Connection: close", then close_notify and close."""

    def __init__(self):
        crt, key = cert()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(crt, key)
        self.handshakes = 0
        self.requests = 0
        self.peer = PyPeer(self._handle)
        self.port = self.peer.port

    def start(self):
        self.peer.start()
        return self

    def stop(self):
        self.peer.stop()

    @property
    def errors(self):
        return self.peer.errors

    def _handle(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            # a client that gives up during the handshake is not the server's fault,
            # but a handshake failure is a broken test setup: keep it
            self.peer.errors.append("handshake: %r" % e)
            return
        self.handshakes += 1
        try:
            req = read_request(tls)
        except (ssl.SSLError, OSError):
            req = None
        if req is None:  # client closed without a request (tls_stale_write)
            return
        tls.sendall(REPLY)
        self.requests += 1
        try:
            tls.unwrap()  # close_notify; waits for the client's or its EOF
        except (ssl.SSLError, OSError, ValueError):
            pass


class Tinyproxy(base.Peer):
    NAME = TAG = "tinyproxy"
    LOG = "log"
    NEW_SESSION = True
    CONF = """\
Port {port}
Listen 127.0.0.1
Timeout 30
MaxClients 64
Allow 127.0.0.1
ConnectPort {connect_port}
LogLevel Info
"""

    def __init__(self, connect_port):
        super().__init__()
        self.connect_port = connect_port

    def configure(self):
        conf = os.path.join(self.prefix, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write(self.CONF.format(port=self.port, connect_port=self.connect_port))
        return [TINYPROXY, "-d", "-c", conf]

    def ready(self):
        socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        return True

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


NGINX_TLS_CONF = """\
daemon off;
master_process on;
worker_processes 2;
error_log stderr;
pid {prefix}/nginx.pid;
lock_file {prefix}/nginx.lock;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "hello\\n"; }}
    }}
}}
"""


def https_get(port, timeout=2.0):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                try:
                    b = s.recv(4096)
                except ssl.SSLZeroReturnError:
                    break
                if not b:
                    break
                data += b
            return data


class NginxTls(base.Nginx):
    """Debian's nginx serving TLS on 127.0.0.1.  Without a "user" directive, so
    when we are root its workers drop to nobody like in production."""

    NAME = "nginx (ssl)"
    TAG = "nginx-tls"
    CONF = NGINX_TLS_CONF

    def prepare(self):
        cert()

    def conf_args(self):
        crt, key = cert()
        return {"cert": crt, "key": key}

    def configure(self):
        os.chmod(self.prefix, 0o755)
        return super().configure()

    def ready(self):
        return https_get(self.port).endswith(b"hello\n")  # ssl.SSLError is an OSError


def world_writable_report_dir():
    """A report dir that unprivileged nginx workers can reach and write."""
    d = new_dir("reports")
    os.chmod(d, 0o777)
    p = os.path.dirname(d)
    while p and p != "/":
        st = os.stat(p)
        if not (st.st_mode & 0o001):
            os.chmod(p, (st.st_mode & 0o7777) | 0o711)
        if p == base.SESSION_DIR:
            break
        p = os.path.dirname(p)
    return d


# ---------------------------------------------------------------------------
# report helpers


def expect_all_clean(r):
    check(r.reports, "no report in %s; %s" % (r.report_dir, r.describe()))
    for rep in r.reports:
        expect_no_findings(rep)


def endpoints_for(rep, peer):
    eps = rep.get("endpoints")
    check(isinstance(eps, list), "report has no endpoints list")
    found = [e for e in eps if e.get("peer") == peer]
    check(found, "no endpoint with peer %s; endpoints: %s" % (peer, eps))
    return found


def endpoint_sum(rep, peer, key):
    total = 0
    for e in endpoints_for(rep, peer):
        check(type(e.get(key)) is int, "endpoint lacks an integer %s: %s" % (key, e))
        total += e[key]
    return total


def conns_of(stdout):
    """The fixture's "conn=I fd=F session=0x.. local=A" lines, in order."""
    conns = []
    for line in stdout.splitlines():
        if line.startswith("conn="):
            d = kv(line)
            conns.append({"i": int(d["conn"]), "fd": int(d["fd"]),
                          "session": int(d["session"], 16), "local": d["local"],
                          "reused": int(d.get("reused", "0"))})
    return conns


def expected_generation(conns, idx):
    """The fixture creates no socket but its tunnels: the generation of the
    idx-th tunnel's fd is 1 + the earlier tunnels that had the same number."""
    return 1 + sum(1 for c in conns[:idx] if c["fd"] == conns[idx]["fd"])


def check_tls_obj(f, library, sessions):
    tls = f.get("tls")
    check(isinstance(tls, dict), "finding has no tls object: %s" % brief(f))
    check(tls.get("library") == library, "tls.library %r, expected %r"
          % (tls.get("library"), library))
    s = tls.get("session")
    check(isinstance(s, str) and SESSION_RE.match(s), "tls.session %r is not \"0x...\"" % s)
    check(int(s, 16) in sessions, "tls.session %s is none of the program's sessions %s"
          % (s, [hex(x) for x in sessions]))
    return int(s, 16)


def check_stats_findings_sum(rep):
    check(stat_of(rep, "findings") == sum(f.get("count", 1) for f in rep["findings"]),
          "stats.findings %r != sum of the findings' counts" % stat_of(rep, "findings"))


class Soft:
    """Collects every failed field check of a finding, so one run shows them all."""

    def __init__(self, what):
        self.what = what
        self.errors = []

    def check(self, cond, msg):
        if not cond:
            self.errors.append(msg)

    def call(self, fn, *args):
        try:
            return fn(*args)
        except TestFailure as e:
            self.errors.append(str(e))
            return None

    def done(self, f=None):
        check(not self.errors, "%s: %s%s" % (self.what, "; ".join(self.errors),
                                              (" -- finding: %s" % brief(f)) if f else ""))


def check_closed_but_referenced(rep, f, conns, library, peer, created_fn, closed_fn,
                                min_dangling_ms, soft=None):
    """The closed-but-referenced contract, for the instance the finding describes.
    With soft, adds its failures there (the caller calls done)."""
    sessions = [c["session"] for c in conns]
    s = check_tls_obj(f, library, sessions)
    idx = sessions.index(s)
    c = conns[idx]
    own = soft is None
    if own:
        soft = Soft("closed-but-referenced")
    soft.check(f.get("fd") == c["fd"], "fd %r, the program's session %s had fd %d"
               % (f.get("fd"), hex(s), c["fd"]))
    gen = expected_generation(conns, idx)
    soft.check(f.get("fd_generation") == gen, "fd_generation %r, expected %d (connection %d)"
               % (f.get("fd_generation"), gen, idx))
    soft.check(f.get("peer") == peer, "peer %r, expected %s (the socket the session was "
               "bound to)" % (f.get("peer"), peer))
    soft.check(f.get("hostname") == "localhost", "hostname %r, expected the SNI name "
               "'localhost'" % f.get("hostname"))
    soft.check("tcp_state" in f and f["tcp_state"] is None, "tcp_state %r, expected null"
               % f.get("tcp_state", "<missing>"))
    d = f.get("dangling_ms")
    soft.check(type(d) is int and min_dangling_ms <= d < 20000,
               "dangling_ms %r, expected >= %d (the session outlived its socket that long)"
               % (d, min_dangling_ms))
    soft.call(expect_stack_names, f, "created", created_fn)
    soft.call(expect_stack_names, f, "closed", closed_fn)
    # DESIGN.md: every finding carries the local and peer address
    if c.get("local") is not None:
        soft.check(f.get("local") == c["local"], "local %r, the program says %s (DESIGN.md: "
                   "every finding carries local and peer)" % (f.get("local"), c["local"]))
    if own:
        soft.done(f)


# ---------------------------------------------------------------------------
# tests: the first story (OpenSSL through tinyproxy's CONNECT tunnel)


class Story:
    """TLS server + tinyproxy allowing CONNECT to it; stopped in finally."""

    def __enter__(self):
        self.tls = TlsServer().start()
        try:
            self.proxy = Tinyproxy(self.tls.port).start()
        except BaseException:
            self.tls.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.proxy.stop()
        self.tls.stop()
        return False

    def check_peers(self, expect_requests=None):
        check(not self.tls.errors, "TLS server errors: %s" % self.tls.errors)
        if expect_requests is not None:
            check(self.tls.requests == expect_requests,
                  "TLS server answered %d requests, expected %d; tinyproxy log: %s"
                  % (self.tls.requests, expect_requests, self.proxy.log_text()[-1000:]))


def run_story(prog, mode, n=STORY_N, hold_ms=HOLD_MS, opts=None):
    with Story() as st:
        r = run([fixture(prog), str(st.proxy.port), str(st.tls.port), str(n), mode,
                 str(hold_ms)], opts or TLS_OPTS)
        expect_fixture_ok(r)
        st.check_peers(n)
        proxy = st.proxy.addr
    conns = conns_of(r.stdout)
    check(len(conns) == n, "fixture printed %d connections, expected %d: %s"
          % (len(conns), n, r.describe()))
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    return r, rep, conns, proxy


def check_story_leak(mode, n):
    r, rep, conns, proxy = run_story("tls_tunnel_leak", mode, n=n)
    check(kinds(rep) == ["closed-but-referenced"],
          "expected exactly one closed-but-referenced group, got " + summary(rep))
    f = rep["findings"][0]
    check(f.get("count") == n, "count %r, expected %d (one per leaked session): %s"
          % (f.get("count"), n, brief(f)))
    soft = Soft("closed-but-referenced")
    check_closed_but_referenced(rep, f, conns, "openssl", proxy, "start_tls_session",
                                "drop_socket_keep_session", int(HOLD_MS * 0.9), soft)
    check_story_stats(rep, soft, proxy, n, orphaned=n)
    soft.done(f)


def check_story_stats(rep, soft, proxy, sessions, orphaned):
    soft.call(check_stats_findings_sum, rep)
    soft.check(rep.get("stats", {}).get("tls_sessions") == sessions,
               "stats.tls_sessions %r, expected %d" % (rep.get("stats", {}).get("tls_sessions"),
                                                       sessions))
    soft.check(rep.get("stats", {}).get("orphaned_sessions") == orphaned,
               "stats.orphaned_sessions %r, expected %d"
               % (rep.get("stats", {}).get("orphaned_sessions"), orphaned))
    hs = soft.call(endpoint_sum, rep, proxy, "tls_handshakes")
    soft.check(hs is None or hs == sessions, "tls_handshakes on the proxy endpoint %r, "
               "expected %d (one per connection)" % (hs, sessions))


def test_tls_story_tunnel_leak_openssl():
    check_story_leak("leak", STORY_N)


def test_tls_tunnel_leak_socket_bio():
    check_story_leak("leak_bio", 2)


def test_tls_story_tunnel_clean_openssl():
    r, rep, conns, proxy = run_story("tls_tunnel_leak", "clean")
    expect_all_clean(r)
    check(stat_of(rep, "tls_sessions") == STORY_N, "stats.tls_sessions %r, expected %d"
          % (stat_of(rep, "tls_sessions"), STORY_N))
    check(stat_of(rep, "orphaned_sessions") == 0, "stats.orphaned_sessions %r, expected 0"
          % stat_of(rep, "orphaned_sessions"))
    check(endpoint_sum(rep, proxy, "tls_handshakes") == STORY_N,
          "tls_handshakes on the proxy endpoint %r, expected %d"
          % (endpoint_sum(rep, proxy, "tls_handshakes"), STORY_N))
    check(endpoint_sum(rep, proxy, "tls_resumed") == 0,
          "tls_resumed on the proxy endpoint %r, expected 0 (no session reused)"
          % endpoint_sum(rep, proxy, "tls_resumed"))


def test_tls_close_then_free_promptly_is_clean():
    r, rep, conns, proxy = run_story("tls_tunnel_leak", "prompt")
    expect_all_clean(r)
    check(stat_of(rep, "orphaned_sessions") == 0, "stats.orphaned_sessions %r, expected 0"
          % stat_of(rep, "orphaned_sessions"))


def test_tls_close_then_free_late():
    r, rep, conns, proxy = run_story("tls_tunnel_leak", "late", n=1)
    check(kinds(rep) == ["closed-but-referenced"],
          "expected exactly one closed-but-referenced, got " + summary(rep))
    f = rep["findings"][0]
    check(f.get("count", 1) == 1, "count %r, expected 1" % f.get("count"))
    check_closed_but_referenced(rep, f, conns, "openssl", proxy, "start_tls_session",
                                "close_then_free_late", int(HOLD_MS * 0.9))
    check(stat_of(rep, "orphaned_sessions") == 0,
          "stats.orphaned_sessions %r, expected 0 (the session was freed before exit)"
          % stat_of(rep, "orphaned_sessions"))


def test_tls_set_fd_binds_before_any_io():
    """SSL_set_fd binds the session to its socket: closed and freed late with no TLS I/O
    in between, the session outlived its socket."""
    r = base.run([base.fixture("tls_set_fd_unused"), str(HOLD_MS)], TLS_OPTS)
    base.expect_fixture_ok(r)
    out = kv(r.stdout)
    rep = base.report_for_pid(r, out["pid"])
    f = base.expect_single(rep, "closed-but-referenced")
    check(f.get("fd") == int(out["fd"]), "fd %r, program says %s" % (f.get("fd"), out["fd"]))
    check((f.get("tls") or {}).get("library") == "openssl", "tls %r" % f.get("tls"))
    base.expect_stack_names(f, "closed", "close_socket_keep_session")


def test_tls_resumed_sessions_counted():
    r, rep, conns, proxy = run_story("tls_tunnel_leak", "resume")
    resumed = int(kv(r.stdout.splitlines()[-1]).get("resumed", "0"))
    check(resumed >= 1, "test setup: no session was resumed (%s)" % r.stdout[-600:])
    expect_all_clean(r)
    check(endpoint_sum(rep, proxy, "tls_handshakes") == STORY_N,
          "tls_handshakes on the proxy endpoint %r, expected %d"
          % (endpoint_sum(rep, proxy, "tls_handshakes"), STORY_N))
    check(endpoint_sum(rep, proxy, "tls_resumed") == resumed,
          "tls_resumed on the proxy endpoint %r, the program saw %d resumed handshakes"
          % (endpoint_sum(rep, proxy, "tls_resumed"), resumed))


# ---------------------------------------------------------------------------
# tests: stale use


def drain(conn):
    while conn.recv(4096):
        pass


def stale_write_run(opts):
    srv = TlsServer().start()
    other = PyPeer(drain).start()
    try:
        r = run([fixture("tls_stale_write"), str(srv.port), str(other.port), "crosstalk"],
                opts)
    finally:
        other.stop()
        srv.stop()
    check(not srv.errors, "TLS server errors: %s" % srv.errors)
    return r, srv.port, other.port


def check_stale_crosstalk(f, out, tls_port, other_port):
    soft = Soft("stale-fd-use")
    soft.check(f.get("fd") == int(out["fd_a"]), "fd %r, the session's fd was %s"
               % (f.get("fd"), out["fd_a"]))
    soft.check(f.get("fd_generation") == 1, "fd_generation %r, expected 1 (the closed "
               "socket's)" % f.get("fd_generation"))
    soft.check(f.get("crosstalk") is True, "crosstalk %r, expected true (fd %s now belongs to "
               "the socket to port %d)" % (f.get("crosstalk"), out["fd_a"], other_port))
    soft.check(f.get("now_peer") == "127.0.0.1:%d" % other_port,
               "now_peer %r, expected 127.0.0.1:%d" % (f.get("now_peer"), other_port))
    soft.check(f.get("peer") == "127.0.0.1:%d" % tls_port, "peer %r, expected 127.0.0.1:%d"
               % (f.get("peer"), tls_port))
    tls = f.get("tls")
    if tls is not None:
        soft.check(isinstance(tls, dict) and tls.get("library") == "openssl" and
                   isinstance(tls.get("session"), str) and
                   int(tls["session"], 16) == int(out["session"], 16),
                   "tls %r, expected openssl session %s" % (tls, out["session"]))
    soft.call(expect_stack_names, f, "created", "open_session")
    soft.call(expect_stack_names, f, "closed", "close_socket_keep_session")
    soft.call(expect_stack_names, f, "used", "write_through_stale_session")
    soft.done(f)


def test_tls_stale_write_crosstalk():
    r, tls_port, other_port = stale_write_run(TLS_OPTS)
    expect_fixture_ok(r)
    out = kv(r.stdout)
    rep = report_for_pid(r, out["pid"])
    check(sorted(kinds(rep)) == ["closed-but-referenced", "stale-fd-use"],
          "expected one stale-fd-use and one closed-but-referenced, got " + summary(rep))
    stale = findings_of(rep, "stale-fd-use")[0]
    check(stale.get("count", 1) == 1, "stale-fd-use count %r" % stale.get("count"))
    check_stale_crosstalk(stale, out, tls_port, other_port)
    cbr = findings_of(rep, "closed-but-referenced")[0]
    check(cbr.get("count", 1) == 1, "closed-but-referenced count %r" % cbr.get("count"))
    check_tls_obj(cbr, "openssl", [int(out["session"], 16)])
    check(cbr.get("fd") == int(out["fd_a"]) and cbr.get("fd_generation") == 1,
          "closed-but-referenced fd %r generation %r, expected %s and 1"
          % (cbr.get("fd"), cbr.get("fd_generation"), out["fd_a"]))
    check(cbr.get("peer") == "127.0.0.1:%d" % tls_port, "closed-but-referenced peer %r"
          % cbr.get("peer"))
    check(cbr.get("hostname") == "localhost", "closed-but-referenced hostname %r"
          % cbr.get("hostname"))
    expect_stack_names(cbr, "created", "open_session")
    expect_stack_names(cbr, "closed", "close_socket_keep_session")
    check_stats_findings_sum(rep)


def test_tls_stale_write_halt_on_error():
    opts = dict(TLS_OPTS)
    opts["halt_on_error"] = 1
    r, tls_port, other_port = stale_write_run(opts)
    check(r.rc != FIXTURE_FAIL, "fixture environment failure: " + r.describe())
    check(r.rc == -signal.SIGABRT, "exit %r, expected death by SIGABRT (halt_on_error=1): %s"
          % (r.rc, r.describe()))
    check("write=" not in r.stdout, "SSL_write returned although halt_on_error=1: %s"
          % r.stdout[-600:])
    out = kv(r.stdout)
    rep = report_for_pid(r, out["pid"])
    end = rep.get("end")
    check(isinstance(end, dict) and end.get("how") == "abort", "end %r, expected how=abort"
          % end)
    stale = findings_of(rep, "stale-fd-use")
    check(stale, "no stale-fd-use in the report written before the abort: " + summary(rep))
    check_stale_crosstalk(stale[0], out, tls_port, other_port)


def test_stale_plain_descriptor():
    other = PyPeer(drain).start()
    try:
        r = run([fixture("tls_stale_write"), "0", str(other.port), "plain"], TLS_OPTS)
    finally:
        other.stop()
    expect_fixture_ok(r)  # the fixture checks that write and recv failed with EBADF
    out = kv(r.stdout)
    rep = report_for_pid(r, out["pid"])
    check(rep["findings"] and set(kinds(rep)) == {"stale-fd-use"},
          "expected only stale-fd-use findings, got " + summary(rep))
    total = sum(f.get("count", 1) for f in rep["findings"])
    check(total == 2, "stale-fd-use instances %d, expected 2 (one write, one recv): %s"
          % (total, summary(rep)))
    for f in rep["findings"]:
        soft = Soft("stale-fd-use")
        soft.check(f.get("fd") == int(out["fd"]) and f.get("fd_generation") == 1,
                   "fd %r generation %r, expected %s and 1"
                   % (f.get("fd"), f.get("fd_generation"), out["fd"]))
        soft.check(f.get("crosstalk") is False, "crosstalk %r, expected false"
                   % f.get("crosstalk"))
        soft.check("now_peer" in f and f["now_peer"] is None, "now_peer %r, expected null"
                   % f.get("now_peer", "<missing>"))
        soft.check(f.get("peer") == "127.0.0.1:%d" % other.port,
                   "peer %r, expected the original peer 127.0.0.1:%d"
                   % (f.get("peer"), other.port))
        soft.call(expect_stack_names, f, "created", "dial")
        soft.call(expect_stack_names, f, "closed", "close_plain")
        soft.call(expect_stack_names, f, "used", "use_closed_descriptor")
        soft.done(f)


def check_stale_after_close(prog, library, used_fn):
    """Cleanup in the wrong order: close(fd), then the TLS shutdown call on the
    closed descriptor (fails with EBADF inside the library), then free."""
    r, rep, conns, proxy = run_story(prog, "stale", n=1)
    check(sorted(kinds(rep)) == ["closed-but-referenced", "stale-fd-use"],
          "expected one stale-fd-use and one closed-but-referenced, got " + summary(rep))
    c = conns[0]
    f = findings_of(rep, "stale-fd-use")[0]
    soft = Soft("stale-fd-use")
    soft.check(f.get("count", 1) == 1, "count %r, expected 1" % f.get("count"))
    soft.check(f.get("fd") == c["fd"] and f.get("fd_generation") == 1,
               "fd %r generation %r, expected %d and 1" % (f.get("fd"), f.get("fd_generation"),
                                                           c["fd"]))
    soft.check(f.get("crosstalk") is False, "crosstalk %r, expected false (the number was "
               "not reused)" % f.get("crosstalk"))
    soft.check("now_peer" in f and f["now_peer"] is None, "now_peer %r, expected null"
               % f.get("now_peer", "<missing>"))
    soft.check(f.get("peer") == proxy, "peer %r, expected %s" % (f.get("peer"), proxy))
    soft.call(check_tls_obj, f, library, [c["session"]])
    soft.call(expect_stack_names, f, "created", conns_created_fn(prog))
    soft.call(expect_stack_names, f, "closed", used_fn)
    soft.call(expect_stack_names, f, "used", used_fn)
    soft.done(f)
    cbr = findings_of(rep, "closed-but-referenced")[0]
    check_closed_but_referenced(rep, cbr, conns, library, proxy, conns_created_fn(prog),
                                used_fn, 0)
    check(stat_of(rep, "orphaned_sessions") == 0, "stats.orphaned_sessions %r, expected 0"
          % stat_of(rep, "orphaned_sessions"))


def conns_created_fn(prog):
    return "start_gnutls_session" if "gnutls" in prog else "start_tls_session"


def test_tls_shutdown_after_close_openssl():
    check_stale_after_close("tls_tunnel_leak", "openssl", "shutdown_after_close")


def test_tls_bye_after_close_gnutls():
    check_stale_after_close("tls_gnutls_leak", "gnutls", "bye_after_close")


# ---------------------------------------------------------------------------
# tests: dlopen/dlsym, GnuTLS


def test_tls_dlopen_leak():
    out_nm = subprocess.run(["readelf", "-d", fixture("tls_dlopen")], capture_output=True,
                            text=True, timeout=30).stdout
    check("libssl" not in out_nm and "libcrypto" not in out_nm,
          "test setup: tls_dlopen links libssl/libcrypto: %s" % out_nm)
    srv = TlsServer().start()
    try:
        r = run([fixture("tls_dlopen"), str(srv.port), "leak", str(HOLD_MS)], TLS_OPTS)
    finally:
        srv.stop()
    check(not srv.errors, "TLS server errors: %s" % srv.errors)
    expect_fixture_ok(r)
    out = kv(r.stdout)
    check(out.get("preloaded_ssl") == "0" and out.get("preloaded_gnutls") == "0",
          "libssl/libgnutls were loaded before the program's dlopen (the preload must load "
          "them lazily): %s" % r.stdout[-300:])
    rep = report_for_pid(r, out["pid"])
    check(kinds(rep) == ["closed-but-referenced"],
          "expected exactly one closed-but-referenced, got " + summary(rep))
    f = rep["findings"][0]
    check(f.get("count", 1) == 1, "count %r" % f.get("count"))
    conns = [{"i": 0, "fd": int(out["fd"]), "session": int(out["session"], 16),
              "local": out["local"]}]
    check_closed_but_referenced(rep, f, conns, "openssl", "127.0.0.1:%d" % srv.port,
                                "open_session_via_pointers", "drop_socket_keep_session",
                                int(HOLD_MS * 0.9))
    check(stat_of(rep, "orphaned_sessions") == 1, "stats.orphaned_sessions %r, expected 1"
          % stat_of(rep, "orphaned_sessions"))


def test_tls_dlopen_clean():
    srv = TlsServer().start()
    try:
        r = run([fixture("tls_dlopen"), str(srv.port), "clean"], TLS_OPTS)
    finally:
        srv.stop()
    check(not srv.errors, "TLS server errors: %s" % srv.errors)
    expect_fixture_ok(r)
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    expect_all_clean(r)
    check(stat_of(rep, "tls_sessions") == 1, "stats.tls_sessions %r, expected 1 (the session "
          "made through dlsym pointers)" % stat_of(rep, "tls_sessions"))


def test_tls_story_tunnel_leak_gnutls():
    r, rep, conns, proxy = run_story("tls_gnutls_leak", "leak")
    check(kinds(rep) == ["closed-but-referenced"],
          "expected exactly one closed-but-referenced group, got " + summary(rep))
    f = rep["findings"][0]
    check(f.get("count") == STORY_N, "count %r, expected %d: %s"
          % (f.get("count"), STORY_N, brief(f)))
    soft = Soft("closed-but-referenced")
    check_closed_but_referenced(rep, f, conns, "gnutls", proxy, "start_gnutls_session",
                                "drop_socket_keep_session", int(HOLD_MS * 0.9), soft)
    check_story_stats(rep, soft, proxy, STORY_N, orphaned=STORY_N)
    soft.done(f)


def test_tls_story_tunnel_clean_gnutls():
    r, rep, conns, proxy = run_story("tls_gnutls_leak", "clean")
    expect_all_clean(r)
    check(stat_of(rep, "tls_sessions") == STORY_N, "stats.tls_sessions %r, expected %d"
          % (stat_of(rep, "tls_sessions"), STORY_N))
    check(stat_of(rep, "orphaned_sessions") == 0, "stats.orphaned_sessions %r, expected 0"
          % stat_of(rep, "orphaned_sessions"))


# ---------------------------------------------------------------------------
# tests: clean real TLS programs


def test_curl_https_through_proxy_clean():
    with Story() as st:
        urls = ["https://localhost:%d/%s" % (st.tls.port, p) for p in ("a", "b", "c")]
        # --noproxy "" overrides the NO_PROXY=* of the test environment
        r = run([base.CURL, "-sk", "--noproxy", "", "--proxy",
                 "http://127.0.0.1:%d" % st.proxy.port] + urls, TLS_OPTS)
        check(r.rc == 0 and r.stdout == "hello\n" * 3, "curl failed: " + r.describe())
        st.check_peers(3)
        proxy = st.proxy.addr
    rep = only_report(r)
    expect_no_findings(rep)
    check(stat_of(rep, "tls_sessions") >= 1, "stats.tls_sessions %r: curl's sessions were not "
          "seen" % stat_of(rep, "tls_sessions"))
    hs = endpoint_sum(rep, proxy, "tls_handshakes")
    check(hs >= 1, "tls_handshakes on the proxy endpoint %r, expected >= 1 (3 URLs, "
          "\"Connection: close\": one tunnel each)" % hs)


def test_wget_https_gnutls_clean():
    srv = TlsServer().start()
    try:
        r = run([WGET, "-q", "--no-check-certificate", "-O", "/dev/null",
                 "https://127.0.0.1:%d/" % srv.port], TLS_OPTS)
    finally:
        srv.stop()
    check(not srv.errors, "TLS server errors: %s" % srv.errors)
    check(r.rc == 0, "wget failed: " + r.describe())
    check(srv.requests == 1, "the TLS server answered %d requests, expected 1" % srv.requests)
    rep = only_report(r)
    expect_no_findings(rep)
    check(stat_of(rep, "tls_sessions") >= 1, "stats.tls_sessions %r: wget's GnuTLS session "
          "was not seen" % stat_of(rep, "tls_sessions"))
    hs = endpoint_sum(rep, "127.0.0.1:%d" % srv.port, "tls_handshakes")
    check(hs >= 1, "tls_handshakes %r on the server endpoint, expected >= 1" % hs)


def test_python_requests_https_through_proxy_clean():
    with Story() as st:
        script = ("import requests, urllib3\n"
                  "urllib3.disable_warnings()\n"
                  "proxies = {'https': 'http://127.0.0.1:%d'}\n"
                  "for p in ('a', 'b', 'c'):\n"
                  "    r = requests.get('https://localhost:%d/' + p, verify=False,\n"
                  "                     proxies=proxies, timeout=10)\n"
                  "    assert r.status_code == 200 and r.text == 'hello\\n', r\n"
                  "print('ok')\n" % (st.proxy.port, st.tls.port))
        r = run([base.SYS_PYTHON, "-c", script], TLS_OPTS)
        check(r.rc == 0 and r.stdout == "ok\n", "python3 requests failed: " + r.describe())
        st.check_peers(3)
        proxy = st.proxy.addr
    rep = only_report(r)
    expect_no_findings(rep)
    check(stat_of(rep, "tls_sessions") >= 1, "stats.tls_sessions %r: python's sessions were "
          "not seen" % stat_of(rep, "tls_sessions"))
    endpoints_for(rep, proxy)  # went through the proxy


PY_TLS_CLIENT = """\
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
assert data.endswith(b"hello\\n"), data
print("ok")
"""


def python_tls_client(enabled):
    srv = TlsServer().start()
    try:
        r = run([base.SYS_PYTHON, "-c", PY_TLS_CLIENT, str(srv.port)], TLS_OPTS,
                enabled=enabled)
    finally:
        srv.stop()
    check(r.rc == 0 and r.stdout == "ok\n", "python3 ssl client (CONNLEAK %s) failed: %s"
          % ("on" if enabled else "off", r.describe()))
    check(not srv.errors, "TLS server errors: %s" % srv.errors)
    return r


def test_python_ssl_preloaded_disabled_passthrough():
    # python's _ssl module is dlopen()ed RTLD_LOCAL and brings libssl with it
    r = python_tls_client(enabled=False)
    check(r.reports == [], "reports written although CONNLEAK is unset: %s"
          % [os.path.basename(x["_path"]) for x in r.reports])


def test_python_ssl_client_clean():
    r = python_tls_client(enabled=True)
    rep = only_report(r)
    expect_no_findings(rep)
    check(stat_of(rep, "tls_sessions") == 1, "stats.tls_sessions %r, expected 1"
          % stat_of(rep, "tls_sessions"))


def test_nginx_tls_preloaded_under_ab():
    reports = world_writable_report_dir()
    env = preload_env({"report_dir": reports, "close_wait_ms": CLOSE_WAIT_MS})
    srv = NginxTls(env=env)
    srv.start()
    master = srv.proc.pid
    try:
        r = run([base.AB, "-n", str(AB_REQUESTS), "-c", "4",
                 "https://127.0.0.1:%d/" % srv.port], preload=False)
        check(r.rc == 0 and re.search(r"Complete requests:\s+%d" % AB_REQUESTS, r.stdout) and
              re.search(r"Failed requests:\s+0", r.stdout),
              "ab against preloaded nginx (ssl) failed: " + r.describe())
    finally:
        status = srv.stop(signal.SIGQUIT)
    workers = base.check_nginx_reports(srv, status, reports, master, stderr_on_workers=True)
    sessions = sum(stat_of(x, "tls_sessions") for x in workers)
    check(sessions >= AB_REQUESTS, "the workers' stats.tls_sessions add up to %d; ab made %d "
          "TLS connections" % (sessions, AB_REQUESTS))


# ---------------------------------------------------------------------------


def main():
    return base.run_suite(globals(), "connleak-tls.", build_tls_fixtures)


if __name__ == "__main__":
    sys.exit(main())
