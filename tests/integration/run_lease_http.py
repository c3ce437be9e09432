#!/usr/bin/env python3
"""connleak lease tests at HTTP/1.x exchange boundaries (issue 11): steady
clients whose gaps are well under the lease (python3 requests, curl --rate,
Java java.net.http.HttpClient, node http.Agent), a slow body, chunked / HEAD /
204 / 304 responses, a pipelining client, HTTPS through the TLS hooks, DNS
changes under steady traffic with lease_on_dns_change, tunnels (CONNECT, an
upgraded connection) and a protocol that is not HTTP.  Every test counts the
requests the client sent and the requests the server logged: they must match,
and the client must exit 0.

    tests/integration/run_lease_http.py              run everything
    tests/integration/run_lease_http.py -k steady    run the tests whose name contains "steady"
    tests/integration/run_lease_http.py --keep       keep the temporary directories

The server is in this process (threads): HTTP/1.1 keep-alive on 127.0.0.1 and
127.0.0.2 (same port), optionally TLS.  Clients: curl, /usr/bin/python3 with
python3-requests, java (17+, single-file source launch), node; the DNS-change
tests need root, unshare(1) and mount(1) like run_lease.py.

Prints "PASS name" or "FAIL name: reason" per test, then "N passed, N failed".
"""

import os
import re
import shutil
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402
from run import TestFailure, check, kv, summary, findings_of, run, new_dir, fixture  # noqa: E402
from run import expect_fixture_ok  # noqa: E402
import run_lease as rl  # noqa: E402  (HostsFile, run_in_ns, switch_after, DNS_HOST)

LEASE_MS = 400          # the lease of the steady clients ...
GAP_MS = 100            # ... whose requests are this far apart (well under the lease)
STEADY_N = 30           # ... this many: a run of about 3 s
TOL_MS = 25             # clock slack between client and server (coarse clock: 4 ms)
SLOW_SIZE = 200000      # the slow body: half, a pause, the rest
SLOW_PAUSE = 1.5
SHORT_LEASE_MS = 300
TUNNEL_ROUNDS = 6       # echo rounds through a tunnel ...
TUNNEL_PAUSE = 0.25     # ... this far apart: the tunnel outlives several leases
DNS_N = 24
DNS_GAP_MS = 100
DNS_SWITCH_AFTER = 6
JAVA = shutil.which("java") or "/usr/bin/java"
NODE = shutil.which("node") or "/usr/bin/node"


# ---------------------------------------------------------------------------
# the server: counts every request, per connection, with times


class HttpServer:
    """HTTP/1.1 keep-alive server on 127.0.0.1 and 127.0.0.2, one port.

    GET|POST /          200, body "<local address>\\n" (Content-Length)
    HEAD /              the same headers, no body
    GET /chunked        chunked body "chunk-one|chunk-two|" with a trailer
    GET /204, /304      no body (the 304 says Content-Length: 10, as a 304 may)
    GET /slow           SLOW_SIZE bytes: half, a SLOW_PAUSE s pause, the rest
    GET /ws + Upgrade   101, then an echo of whatever comes, until EOF
    CONNECT x:y         200, then an echo until EOF
    Anything else that is not HTTP: "PING\\n" answered "PONG\\n" (a line protocol).
    """

    def __init__(self, tls=False):
        self.lock = threading.Lock()
        self.requests = []   # dicts: conn, addr, method, path, t0, t1 (reply's last send)
        self.conns = []      # dicts: id, addr, t_accept
        self.errors = []
        self.stopping = False
        self.socks = []
        self.threads = []
        self.ctx = None
        if tls:
            crt, key = tls_cert()
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(crt, key)
        for _ in range(20):
            try:
                self._bind()
                break
            except OSError:
                for s in self.socks:
                    s.close()
                self.socks = []
        check(self.socks, "could not bind 127.0.0.1 and 127.0.0.2 on one port")
        for s in self.socks:
            t = threading.Thread(target=self._accept, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _bind(self):
        a = socket.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind(("127.0.0.1", 0))
        self.port = a.getsockname()[1]
        self.socks.append(a)
        b = socket.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        b.bind(("127.0.0.2", self.port))
        self.socks.append(b)
        for s in self.socks:
            s.listen(64)

    def url(self, path="/", host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.ctx else "http", host, self.port, path)

    def _accept(self, ls):
        while not self.stopping:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with self.lock:
                cid = len(self.conns)
                self.conns.append({"id": cid, "addr": c.getsockname()[0],
                                   "t_accept": time.monotonic()})
            t = threading.Thread(target=self._serve, args=(c, cid), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, c, cid):
        try:
            c.settimeout(base.TIMEOUT)
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            self._session(c, cid)
        except (ConnectionError, socket.timeout, ssl.SSLError, OSError) as e:
            if not self.stopping and not isinstance(e, (ConnectionResetError,
                                                        BrokenPipeError)):
                self.errors.append("conn %d: %r" % (cid, e))
        except Exception as e:  # reported by the tests
            self.errors.append("conn %d: %r" % (cid, e))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _session(self, c, cid):
        buf = b""
        local = c.getsockname()[0]
        sent_at = [0.0]

        def send(data):
            # The time just before the reply's last part goes to the kernel: the client
            # cannot have read the whole reply earlier (the log after sendall may be
            # much later on a loaded machine), so it is a lower bound of the client's end.
            sent_at[0] = time.monotonic()
            c.sendall(data)
        while True:
            while b"\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            if buf.startswith(b"PING"):
                line, buf = buf.split(b"\n", 1)
                t0 = time.monotonic()
                send(b"PONG\n")
                self._log(cid, local, "PING", "", t0, sent_at[0])
                continue
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ")
            hdrs = {}
            for h in lines[1:]:
                k, v = h.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            t0 = time.monotonic()
            n = int(hdrs.get("content-length", "0"))
            while len(buf) < n:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[n:]
            close = hdrs.get("connection", "").lower() == "close"
            if method == "CONNECT":
                send(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._log(cid, local, method, path, t0, sent_at[0])
                return self._echo(c, buf)
            if path == "/ws" and hdrs.get("upgrade", "").lower() == "websocket":
                send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\n\r\n")
                self._log(cid, local, method, path, t0, sent_at[0])
                return self._echo(c, buf)
            body = (local + "\n").encode()
            extra = b"Connection: close\r\n" if close else b""
            if path == "/chunked":
                send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra +
                     b"Trailer: X-Check\r\n\r\n")
                send(b"a\r\nchunk-one|\r\n")
                send(b"A;ext=1\r\nchunk-two|\r\n0\r\nX-Check: 2\r\n\r\n")
            elif path == "/204":
                send(b"HTTP/1.1 204 No Content\r\n" + extra + b"\r\n")
            elif path == "/304":
                send(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\n"
                     + extra + b"\r\n")
            elif path == "/slow":
                half = SLOW_SIZE // 2
                send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % SLOW_SIZE + extra +
                     b"\r\n" + b"a" * half)
                time.sleep(SLOW_PAUSE)
                send(b"b" * (SLOW_SIZE - half))
            else:
                hdr = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                       % len(body)) + extra + b"\r\n"
                send(hdr if method == "HEAD" else hdr + body)
            self._log(cid, local, method, path, t0, sent_at[0])
            if close:
                return

    def _echo(self, c, buf):
        if buf:
            c.sendall(buf)
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)

    def _log(self, cid, local, method, path, t0, t1):
        with self.lock:
            self.requests.append({"conn": cid, "addr": local, "method": method, "path": path,
                                  "t0": t0, "t1": t1})

    def stop(self):
        self.stopping = True
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in self.threads:
            t.join(5)

    # -- what the tests check

    def connections_used(self):
        with self.lock:
            return sorted({r["conn"] for r in self.requests})

    def expect_no_errors(self):
        check(not self.errors, "server errors: %s" % self.errors[:5])

    def expect_count(self, sent):
        """Zero lost requests: the server logged exactly what the client sent.  A request
        is logged after its reply was sent, so the client may have read the reply and
        exited before the server thread logs it: wait (bounded) for the count."""
        deadline = time.monotonic() + base.TIMEOUT
        while True:
            with self.lock:
                n = len(self.requests)
            if n >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.expect_no_errors()
        check(n == sent, "the client sent %d requests, the server logged %d" % (sent, n))

    def expect_boundaries(self, lease_ms, group=1):
        """Each connection but the last was retired at its first exchange boundary past
        its lease: every exchange but its last ended before the lease ran out, by a
        server-side bound that can only be lenient, never strict: the lease counts from
        connleak's connect hook, which ran before the client wrote its first request, so
        before the server read it (that request's t0; the accept is no bound: a client
        thread preempted after connect() returns runs the hook after the accept), and an
        exchange's t1, taken before the reply's last send, is earlier than the client's
        read of it (TOL_MS of slack for connleak's coarse clock).  That it was not
        retired early is the client's own clock: every lease event's age_ms is past the
        lease (expect_leases).  A pipelining client's `group` requests are one exchange
        (idle only once all are answered).  Returns per-connection request counts."""
        with self.lock:
            reqs = list(self.requests)
        by = {}
        for r in reqs:
            by.setdefault(r["conn"], []).append(r)
        ids = sorted(by)
        for cid in ids[:-1]:
            rs = by[cid][group - 1::group]
            t_start = by[cid][0]["t0"]
            t_exp = t_start + lease_ms / 1000.0
            for r in rs[:-1]:
                check(r["t1"] <= t_exp + TOL_MS / 1000.0,
                      "connection %d carried an exchange ending %.0f ms after its lease ran "
                      "out, and was not retired there: %s"
                      % (cid, (r["t1"] - t_exp) * 1000, brief_conn(t_start, rs)))
        return [len(by[c]) for c in ids]


def brief_conn(t_start, rs):
    return "first request read at 0, exchanges ending at %s ms" % [
        int((r["t1"] - t_start) * 1000) for r in rs]


_cert = None


def tls_cert():
    global _cert
    if _cert is None:
        d = new_dir("cert")
        crt, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=localhost", "-keyout", key, "-out", crt], preload=False)
        check(r.rc == 0, "openssl req: " + r.describe())
        _cert = (crt, key)
    return _cert


class Server:
    """with Server() as srv: ... — stopped however the test ends."""

    def __init__(self, tls=False):
        self.tls = tls

    def __enter__(self):
        self.srv = HttpServer(self.tls)
        return self.srv

    def __exit__(self, *exc):
        self.srv.stop()
        return False


# ---------------------------------------------------------------------------
# report helpers


def lease_events(rep):
    return [e for e in rep.get("events", []) if e.get("what") == "lease"]


def all_lease_events(r):
    return [e for rep in r.reports for e in lease_events(rep)]


def one_report(r):
    check(len(r.reports) >= 1, "no report: " + r.describe())
    return r.reports


def keepalive_races(r):
    return sum(f.get("count", 1) for rep in r.reports for f in findings_of(rep, "keepalive-race"))


def expect_leases(r, n_conns, reason="expired", races_ok=False, lease_ms=None):
    """n_conns connections: every one but the last retired by the lease (the last one
    too when its last exchange ended past its lease), every lease event with this reason."""
    evs = all_lease_events(r)
    check(n_conns - 1 <= len(evs) <= n_conns, "%d connections but %d lease events: %s"
          % (n_conns, len(evs), evs))
    for e in evs:
        check(e.get("reason") == reason, "lease event reason %r, expected %s: %s"
              % (e.get("reason"), reason, e))
        if reason == "expired" and lease_ms:
            check(e["age_ms"] >= lease_ms, "retired at age %d ms, before its lease of %d ms "
                  "ran out: %s" % (e["age_ms"], lease_ms, e))
    if not races_ok:
        for rep in r.reports:
            check(not findings_of(rep, "keepalive-race"), "keep-alive race: " + summary(rep))


def no_leases(r):
    evs = all_lease_events(r)
    check(evs == [], "lease events: %s" % evs)
    for rep in r.reports:
        check(rep["stats"]["leases_enforced"] == 0, "leases_enforced %r" %
              rep["stats"]["leases_enforced"])


# ---------------------------------------------------------------------------
# clients

PY_CLIENT = r"""
import sys, time, requests, urllib3
urllib3.disable_warnings()
base, n, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
plan = sys.argv[4].split(",") if len(sys.argv) > 4 else ["GET /"]
s = requests.Session()
sent = fails = 0
for i in range(n):
    if i:
        time.sleep(gap)
    method, path = plan[i % len(plan)].split(" ")
    sent += 1
    try:
        r = s.request(method, base + path, timeout=10, verify=False)
        print("req=%d status=%d served=%s" % (i, r.status_code, r.text.strip() or "-"),
              flush=True)
    except Exception as e:
        fails += 1
        print("req=%d error=%r" % (i, e), flush=True)
s.close()
print("sent=%d fails=%d" % (sent, fails), flush=True)
"""

JAVA_CLIENT = r"""
import java.net.URI;
import java.net.http.*;
import java.time.Duration;
public class Steady {
    public static void main(String[] a) throws Exception {
        HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        int n = Integer.parseInt(a[1]), fails = 0, sent = 0;
        long gap = Long.parseLong(a[2]);
        for (int i = 0; i < n; i++) {
            if (i > 0) Thread.sleep(gap);
            sent++;
            try {
                HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create(a[0]))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                System.out.println("req=" + i + " status=" + r.statusCode() + " served=" + r.body().trim());
                if (r.statusCode() != 200) fails++;
            } catch (Exception e) {
                fails++;
                System.out.println("req=" + i + " error=" + e);
            }
        }
        System.out.println("sent=" + sent + " fails=" + fails);
    }
}
"""

NODE_CLIENT = r"""
const http = require('http');
const [url, n, gap] = [process.argv[2], +process.argv[3], +process.argv[4]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let sent = 0, fails = 0;
function one(i) {
  if (i >= n) { agent.destroy(); console.log(`sent=${sent} fails=${fails}`); return; }
  sent++;
  const req = http.get(url, { agent }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => body += d);
    res.on('end', () => {
      console.log(`req=${i} status=${res.statusCode} served=${body.trim()}`);
      if (res.statusCode !== 200) fails++;
      setTimeout(() => one(i + 1), gap);
    });
  });
  req.on('error', (e) => {
    fails++;
    console.log(`req=${i} error=${e}`);
    setTimeout(() => one(i + 1), gap);
  });
}
one(0);
"""

# A pipelining client: three requests written at once (GET /, HEAD /, GET /chunked), then
# the three responses read; before each round it checks the idle connection the way
# pooling clients do (readable = closed by the server) and reconnects then.
PIPE_CLIENT = r"""
import select, socket, sys, time
port, rounds, gap = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def dial():
    return socket.create_connection(("127.0.0.1", port))
def read_response(s, buf, head):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("eof in headers")
        buf += d
    h, buf = buf.split(b"\r\n\r\n", 1)
    hs = h.decode().lower()
    if head:
        return b"", buf
    if "transfer-encoding: chunked" in hs:
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += s.recv(65536)
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in buf and not buf.startswith(b"\r\n"):
                    buf += s.recv(65536)
                buf = buf[2:] if buf.startswith(b"\r\n") else buf.split(b"\r\n\r\n", 1)[1]
                return body, buf
            while len(buf) < size + 2:
                buf += s.recv(65536)
            body += buf[:size]
            buf = buf[size + 2:]
    n = int(hs.split("content-length:")[1].split("\r\n")[0])
    while len(buf) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("eof in body")
        buf += d
    return buf[:n], buf[n:]
s, connects, sent, fails = dial(), 1, 0, 0
for i in range(rounds):
    if i:
        time.sleep(gap)
        if select.select([s], [], [], 0)[0]:
            s.close()
            s, connects = dial(), connects + 1
    reqs = [("GET", "/"), ("HEAD", "/"), ("GET", "/chunked")]
    s.sendall(b"".join(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (m.encode(), p.encode())
                       for m, p in reqs))
    sent += 3
    buf = b""
    try:
        got = []
        for m, p in reqs:
            body, buf = read_response(s, buf, m == "HEAD")
            got.append(body)
        ok = got[0] == b"127.0.0.1\n" and got[1] == b"" and got[2] == b"chunk-one|chunk-two|"
        print("round=%d ok=%d" % (i, ok), flush=True)
        fails += not ok
    except Exception as e:
        fails += 1
        print("round=%d error=%r" % (i, e), flush=True)
print("sent=%d fails=%d connects=%d" % (sent, fails, connects), flush=True)
"""

# Through a tunnel (CONNECT) or an upgraded connection (/ws): one request, then echo rounds
# TUNNEL_PAUSE apart, each answered; the tunnel must never be cut.
TUNNEL_CLIENT = r"""
import select, socket, sys, time
port, mode, rounds, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port))
if mode == "connect":
    s.sendall(b"CONNECT backend.test:443 HTTP/1.1\r\nHost: backend.test:443\r\n\r\n")
elif mode == "ws":
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
buf = b""
if mode != "line":
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            print("error=eof-in-handshake", flush=True); sys.exit(1)
        buf += d
    print("handshake=" + buf.split(b"\r\n")[0].decode(), flush=True)
ok = connects = 0
for i in range(rounds):
    time.sleep(pause)
    msg = b"PING %d\n" % i
    if mode == "line" and select.select([s], [], [], 0)[0]:
        s.close()  # closed while idle: what a pooling client checks before reuse
        s = socket.create_connection(("127.0.0.1", port))
        connects += 1
    try:
        s.sendall(msg)
        got = b""
        while b"\n" not in got:
            d = s.recv(4096)
            if not d:
                raise EOFError("eof")
            got += d
        want = b"PONG\n" if mode == "line" else msg
        ok += got == want
        print("round=%d ok=%d" % (i, got == want), flush=True)
    except Exception as e:
        print("round=%d error=%r" % (i, e), flush=True)
        if mode != "line":
            break
        s.close()
        s = socket.create_connection(("127.0.0.1", port))
        connects += 1
print("rounds=%d ok=%d reconnects=%d" % (rounds, ok, connects), flush=True)
"""


def script(name, text):
    path = os.path.join(base.SESSION_DIR, name)
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(text)
    return path


def client_totals(r):
    out = kv(r.stdout.splitlines()[-1] if r.stdout.strip() else "")
    check("sent" in out and "fails" in out, "client printed no totals: " + r.describe())
    return int(out["sent"]), int(out["fails"])


def expect_client_ok(r):
    check(r.rc == 0, "client exited %r: %s" % (r.rc, r.describe()))
    sent, fails = client_totals(r)
    check(fails == 0, "%d of %d requests failed: %s" % (fails, sent, r.describe()))
    return sent


def served(r):
    return [m.group(1) for m in re.finditer(r"req=\d+ status=200 served=(\S+)", r.stdout)]


def steady(srv, argv, opts, n=STEADY_N, lease_ms=LEASE_MS, races_ok=False):
    """A steady client under a lease: all answered, every request logged by the server,
    several connections each retired at its first boundary past the lease.  races_ok: the
    client notices a closed pooled connection asynchronously (another thread), so under
    load it may write on one before it noticed; it must then retry by itself (the request
    counts still match and no request fails)."""
    t0 = time.monotonic()
    r = run(argv, opts, timeout=120)
    took = time.monotonic() - t0
    sent = expect_client_ok(r)
    check(sent == n, "client sent %d, expected %d" % (sent, n))
    srv.expect_count(sent)
    per_conn = srv.expect_boundaries(lease_ms)
    # A connection lives at most one lease plus one gap and one exchange: a run of
    # n gaps needs at least n * gap / (lease + 2 gaps) connections.
    need = max(2, int(n * GAP_MS / (lease_ms + 2 * GAP_MS)))
    check(len(per_conn) >= need, "%d connection(s) for %d requests %d ms apart with "
          "lease_ms=%d, expected >= %d: requests per connection %s"
          % (len(per_conn), n, GAP_MS, lease_ms, need, per_conn))
    expect_leases(r, len(per_conn), races_ok=races_ok, lease_ms=lease_ms)
    sys.stdout.write("  %s: %d requests in %.1f s, %d connections (requests per connection "
                     "%s)%s\n" % (os.path.basename(argv[0]), sent, took, len(per_conn),
                                  per_conn, ", %d retried by the client after a keep-alive "
                                  "race" % keepalive_races(r) if keepalive_races(r) else ""))
    return r, per_conn


# ---------------------------------------------------------------------------
# 1. steady clients, gaps well under the lease


def test_steady_python_requests():
    with Server() as srv:
        steady(srv, [base.SYS_PYTHON, script("py_client.py", PY_CLIENT), srv.url(""),
                     str(STEADY_N), str(GAP_MS / 1000.0)], {"lease_ms": LEASE_MS})


def test_steady_python_requests_without_lease_one_connection():
    with Server() as srv:
        r = run([base.SYS_PYTHON, script("py_client.py", PY_CLIENT), srv.url(""), "10",
                 str(GAP_MS / 1000.0)], {"lease_ms": 0})
        sent = expect_client_ok(r)
        srv.expect_count(sent)
        check(len(srv.connections_used()) == 1, "without a lease: %d connections"
              % len(srv.connections_used()))
        no_leases(r)


def test_steady_curl_rate():
    with Server() as srv:
        argv = [base.CURL, "-s", "-4", "--rate", "%d/s" % (1000 // GAP_MS),
                "-w", "%{http_code} %{num_connects}\\n"]
        for _ in range(STEADY_N):
            argv += ["-o", "/dev/null", srv.url("/")]
        t0 = time.monotonic()
        r = run(argv, {"lease_ms": LEASE_MS}, timeout=120)
        took = time.monotonic() - t0
        check(r.rc == 0, "curl exited %r: %s" % (r.rc, r.describe()))
        codes = r.stdout.split()[0::2]
        check(codes == ["200"] * STEADY_N, "curl codes %s" % codes)
        connects = sum(int(x) for x in r.stdout.split()[1::2])
        srv.expect_count(STEADY_N)
        per_conn = srv.expect_boundaries(LEASE_MS)
        check(connects == len(per_conn), "curl counted %d connects, the server %d"
              % (connects, len(per_conn)))
        # As steady(): the transfers start GAP_MS apart (--rate), and a connection lives at
        # most one lease plus a gap and an exchange.  (Not the wall time of the run: it
        # counts curl's start, which a loaded machine stretches, and no connection lives
        # then.)
        need = max(2, int(STEADY_N * GAP_MS / (LEASE_MS + 2 * GAP_MS)))
        check(len(per_conn) >= need, "%d connections in %.1f s, expected >= %d: %s"
              % (len(per_conn), took, need, per_conn))
        expect_leases(r, len(per_conn), lease_ms=LEASE_MS)
        sys.stdout.write("  curl --rate: %d transfers in %.1f s, %d connections %s\n"
                         % (STEADY_N, took, len(per_conn), per_conn))


def test_steady_java_httpclient():
    check(os.access(JAVA, os.X_OK), "java not found")
    d = new_dir("java")
    src = os.path.join(d, "Steady.java")
    with open(src, "w") as f:
        f.write(JAVA_CLIENT)
    with Server() as srv:
        steady(srv, [JAVA, src, srv.url("/"), str(STEADY_N), str(GAP_MS)],
               {"lease_ms": LEASE_MS, "backtrace_depth": 4}, races_ok=True)


def test_steady_node_agent():
    check(os.access(NODE, os.X_OK), "node not found")
    with Server() as srv:
        steady(srv, [NODE, script("node_client.js", NODE_CLIENT), srv.url("/"),
                     str(STEADY_N), str(GAP_MS)], {"lease_ms": LEASE_MS})


def test_idle_pool_retired_by_the_thread():
    """A client that makes two requests, then leaves its pooled connection alone for
    several leases: past its expiry and idle for a whole lease, the background thread
    retires it, and the third request opens a new connection (no keep-alive race)."""
    with Server() as srv:
        pause = 4 * SHORT_LEASE_MS / 1000.0
        code = ("import sys, time, requests\n"
                "s = requests.Session()\n"
                "for i in range(3):\n"
                "    if i == 2:\n"
                "        time.sleep(%r)\n"
                "    r = s.get(sys.argv[1] + '/', timeout=10)\n"
                "    print('req=%%d status=%%d served=%%s' %% (i, r.status_code, r.text.strip()),"
                " flush=True)\n"
                "print('sent=3 fails=0', flush=True)\n" % pause)
        r = run([base.SYS_PYTHON, "-c", code, srv.url("")], {"lease_ms": SHORT_LEASE_MS})
        check(r.rc == 0, r.describe())
        srv.expect_count(3)
        with srv.lock:
            conns = [q["conn"] for q in srv.requests]
        check(conns[0] == conns[1] and conns[2] != conns[1],
              "requests went on connections %s: expected the first two on one, the third on a "
              "new one" % conns)
        evs = all_lease_events(r)
        check(len(evs) == 1, "expected one lease (the idle pooled connection): %s" % evs)
        check(evs[0]["age_ms"] >= SHORT_LEASE_MS, "retired at age %d ms, before its lease "
              "ran out" % evs[0]["age_ms"])
        for rep in r.reports:
            check(not findings_of(rep, "keepalive-race"), summary(rep))


# ---------------------------------------------------------------------------
# 2. a slow body is never cut; the connection is retired after it


def test_slow_body_whole_then_retired():
    with Server() as srv:
        d = new_dir("slow")
        out = os.path.join(d, "body")
        argv = [base.CURL, "-s", "-4", "-w", "%{http_code} %{size_download}\\n",
                "-o", "/dev/null", srv.url("/"), "-o", out, srv.url("/slow")]
        r = run(argv, {"lease_ms": SHORT_LEASE_MS})
        check(r.rc == 0, "curl exited %r (18 = the body was cut): %s" % (r.rc, r.describe()))
        sizes = [l.split() for l in r.stdout.splitlines()]
        check(len(sizes) == 2 and sizes[1] == ["200", str(SLOW_SIZE)],
              "transfers %s, expected the second to be 200 %d" % (sizes, SLOW_SIZE))
        with open(out, "rb") as f:
            body = f.read()
        half = SLOW_SIZE // 2
        check(body == b"a" * half + b"b" * (SLOW_SIZE - half), "the body differs (%d bytes)"
              % len(body))
        srv.expect_count(2)
        check(len(srv.connections_used()) == 1, "%d connections" % len(srv.connections_used()))
        evs = all_lease_events(r)
        check(len(evs) == 1, "expected the connection retired once, after the body: %s" % evs)
        check(evs[0]["age_ms"] >= SLOW_PAUSE * 1000,
              "retired at age %d ms, before the body's pause of %d ms ended"
              % (evs[0]["age_ms"], SLOW_PAUSE * 1000))


# ---------------------------------------------------------------------------
# 3. framing: chunked, HEAD, 204, 304, pipelining, HTTPS


def test_framing_chunked_head_204_304():
    plan = "GET /,GET /chunked,HEAD /,GET /204,GET /304,GET /chunked"
    n = 24
    with Server() as srv:
        r = run([base.SYS_PYTHON, script("py_client.py", PY_CLIENT), srv.url(""), str(n),
                 str(GAP_MS / 1000.0), plan], {"lease_ms": SHORT_LEASE_MS}, timeout=60)
        sent = expect_client_ok(r)
        srv.expect_count(sent)
        bodies = re.findall(r"req=(\d+) status=(\d+) served=(\S+)", r.stdout)
        check(len(bodies) == n, "answers: " + r.describe())
        want = {"GET /": ("200", "127.0.0.1"), "GET /chunked": ("200", "chunk-one|chunk-two|"),
                "HEAD /": ("200", "-"), "GET /204": ("204", "-"), "GET /304": ("304", "-")}
        for i, st, body in bodies:
            step = plan.split(",")[int(i) % 6]
            check((st, body) == want[step], "request %s (%s): %s %s" % (i, step, st, body))
        per_conn = srv.expect_boundaries(SHORT_LEASE_MS)
        check(len(per_conn) >= 2, "one connection: the lease never acted: %s" % per_conn)
        expect_leases(r, len(per_conn), lease_ms=SHORT_LEASE_MS)


def test_framing_pipelined_client():
    rounds = 12
    with Server() as srv:
        r = run([base.SYS_PYTHON, script("pipe_client.py", PIPE_CLIENT), str(srv.port),
                 str(rounds), str(GAP_MS / 1000.0)], {"lease_ms": SHORT_LEASE_MS}, timeout=60)
        sent = expect_client_ok(r)
        check(sent == 3 * rounds, r.describe())
        srv.expect_count(sent)
        per_conn = srv.expect_boundaries(SHORT_LEASE_MS, group=3)
        check(len(per_conn) >= 2 and all(n % 3 == 0 for n in per_conn),
              "requests per connection %s: a pipelined round was split" % per_conn)
        check(int(kv(r.stdout)["connects"]) == len(per_conn), r.describe())
        expect_leases(r, len(per_conn), lease_ms=SHORT_LEASE_MS)


def test_https_curl_rate_tls_hooks():
    with Server(tls=True) as srv:
        n = 16
        argv = [base.CURL, "-s", "-k", "-4", "--rate", "%d/s" % (1000 // GAP_MS),
                "-w", "%{http_code} %{num_connects}\\n"]
        for _ in range(n):
            argv += ["-o", "/dev/null", srv.url("/")]
        r = run(argv, {"lease_ms": SHORT_LEASE_MS}, timeout=60)
        check(r.rc == 0, "curl exited %r: %s" % (r.rc, r.describe()))
        check(r.stdout.split()[0::2] == ["200"] * n, r.describe())
        srv.expect_count(n)
        per_conn = srv.expect_boundaries(SHORT_LEASE_MS)
        check(len(per_conn) >= 2, "one TLS connection: the lease never acted: %s" % per_conn)
        expect_leases(r, len(per_conn), lease_ms=SHORT_LEASE_MS)


def test_https_python_requests_tls_hooks():
    with Server(tls=True) as srv:
        n = 16
        r = run([base.SYS_PYTHON, script("py_client.py", PY_CLIENT), srv.url(""), str(n),
                 str(GAP_MS / 1000.0), "GET /,GET /chunked"], {"lease_ms": SHORT_LEASE_MS},
                timeout=60)
        sent = expect_client_ok(r)
        srv.expect_count(sent)
        per_conn = srv.expect_boundaries(SHORT_LEASE_MS)
        check(len(per_conn) >= 2, "one TLS connection: the lease never acted: %s" % per_conn)
        expect_leases(r, len(per_conn), lease_ms=SHORT_LEASE_MS)


def test_https_wget_gnutls_hooks():
    """wget (Debian's, on GnuTLS): the plaintext of gnutls_record_send/recv is framed."""
    with Server(tls=True) as srv:
        n = 8
        r = run(["/usr/bin/wget", "-q", "--no-check-certificate", "--wait=0.1", "-O",
                 "/dev/null"] + [srv.url("/")] * n, {"lease_ms": SHORT_LEASE_MS}, timeout=60)
        check(r.rc == 0, "wget exited %r: %s" % (r.rc, r.describe()))
        srv.expect_count(n)
        per_conn = srv.expect_boundaries(SHORT_LEASE_MS)
        check(len(per_conn) >= 2, "one TLS connection: the lease never acted: %s" % per_conn)
        expect_leases(r, len(per_conn), lease_ms=SHORT_LEASE_MS)


def test_connection_close_never_leased():
    """Connection: close on every request: the server ends each connection itself."""
    with Server() as srv:
        argv = [base.CURL, "-s", "-4", "-H", "Connection: close", "--rate", "10/s"]
        for _ in range(6):
            argv += ["-o", "/dev/null", srv.url("/slow")]
        r = run(argv, {"lease_ms": SHORT_LEASE_MS}, timeout=60)
        check(r.rc == 0, r.describe())
        srv.expect_count(6)
        no_leases(r)


# ---------------------------------------------------------------------------
# 4. tunnels and protocols we cannot frame


def tunnel(mode, opts):
    with Server() as srv:
        r = run([base.SYS_PYTHON, script("tunnel_client.py", TUNNEL_CLIENT), str(srv.port),
                 mode, str(TUNNEL_ROUNDS), str(TUNNEL_PAUSE)], opts, timeout=60)
        check(r.rc == 0, r.describe())
        out = kv(r.stdout.splitlines()[-1])
        return r, srv, out


def test_connect_tunnel_never_cut():
    for opts in ({"lease_ms": SHORT_LEASE_MS},
                 {"lease_ms": SHORT_LEASE_MS, "lease_protocols": "any"}):
        r, srv, out = tunnel("connect", opts)
        check(out.get("ok") == str(TUNNEL_ROUNDS) and out.get("reconnects") == "0",
              "%s: the tunnel was cut: %s" % (opts, r.describe()))
        srv.expect_count(1)
        no_leases(r)


def test_upgraded_connection_never_cut():
    for opts in ({"lease_ms": SHORT_LEASE_MS},
                 {"lease_ms": SHORT_LEASE_MS, "lease_protocols": "any"}):
        r, srv, out = tunnel("ws", opts)
        check("handshake=HTTP/1.1 101" in r.stdout, r.describe())
        check(out.get("ok") == str(TUNNEL_ROUNDS) and out.get("reconnects") == "0",
              "%s: the upgraded connection was cut: %s" % (opts, r.describe()))
        srv.expect_count(1)
        no_leases(r)


def test_unknown_protocol_left_alone_unless_any():
    r, srv, out = tunnel("line", {"lease_ms": SHORT_LEASE_MS})
    check(out.get("ok") == str(TUNNEL_ROUNDS) and out.get("reconnects") == "0", r.describe())
    srv.expect_count(TUNNEL_ROUNDS)
    no_leases(r)
    # lease_protocols=any: the quiet-spell fallback acts on it (pauses of 250 ms are
    # quiet spells of a 300 ms lease); the line client reconnects after the EOF
    r, srv, out = tunnel("line", {"lease_ms": SHORT_LEASE_MS, "lease_protocols": "any"})
    evs = all_lease_events(r)
    check(evs, "lease_protocols=any did not lease the line protocol: " + r.describe())
    check(out.get("reconnects") == str(len(evs)), "reconnects %s for %d leases: %s"
          % (out.get("reconnects"), len(evs), r.describe()))
    check(r.stdout.count(" ok=1") + r.stdout.count(" error=") == TUNNEL_ROUNDS, r.describe())


# ---------------------------------------------------------------------------
# 5. DNS change under steady traffic


def dns_run(srv, argv, opts):
    hosts = rl.HostsFile()
    r = rl.run_in_ns(hosts, argv, opts, on_line=rl.switch_after(hosts, DNS_SWITCH_AFTER),
                     timeout=60)
    check(hosts.switched_at is not None, "the hosts file was never rewritten: " + r.describe())
    return r


def test_dns_change_requests_follow_with_lease_on_dns_change():
    with Server() as srv:
        url = "http://%s:%d" % (rl.DNS_HOST, srv.port)
        argv = [base.SYS_PYTHON, script("py_client.py", PY_CLIENT), url, str(DNS_N),
                str(DNS_GAP_MS / 1000.0)]
        r = dns_run(srv, argv, {"lease_on_dns_change": 1, "dns_check_ms": 100})
        sent = expect_client_ok(r)
        srv.expect_count(sent)
        s = served(r)
        check(len(s) == DNS_N, r.describe())
        first = s.index("127.0.0.2") if "127.0.0.2" in s else None
        check(first is not None, "never moved to 127.0.0.2: served by %s" % s)
        check(first >= DNS_SWITCH_AFTER and set(s[:first]) == {"127.0.0.1"} and
              set(s[first:]) == {"127.0.0.2"}, "served by %s (hosts switched after %d "
              "answers)" % (s, DNS_SWITCH_AFTER))
        expect_leases(r, 2, reason="dns-change")
        sys.stdout.write("  lease_on_dns_change, dns_check_ms=100, a request every %d ms: "
                         "%d request(s) to the old address after the switch, then all to "
                         "the new\n" % (DNS_GAP_MS, first - DNS_SWITCH_AFTER))


def test_dns_change_resolving_client_moves_after_one_exchange():
    """dns_pool resolves the name before each request (dns_check_ms=0: only the program's
    own lookups): the lookup that sees the change makes the connection due, the request it
    precedes still goes to the old address (the next exchange), the one after to the new."""
    with Server() as srv:
        argv = [fixture("dns_pool"), rl.DNS_HOST, str(srv.port), str(DNS_N), "200",
                "reresolve", "pool"]
        r = dns_run(srv, argv, {"lease_on_dns_change": 1, "dns_check_ms": 0})
        expect_fixture_ok(r)
        srv.expect_count(DNS_N)
        s = [x for x in re.findall(r"req=\d+ served=(\S+)", r.stdout)]
        want = ["127.0.0.1"] * (DNS_SWITCH_AFTER + 1) + \
            ["127.0.0.2"] * (DNS_N - DNS_SWITCH_AFTER - 1)
        check(s == want, "served by %s, expected %s" % (s, want))
        expect_leases(r, 2, reason="dns-change")


def test_dns_change_without_lease_options_stays_stale():
    """No lease option: the program's own lookups find the change (stale-dns), the pooled
    connection keeps its address."""
    with Server() as srv:
        argv = [fixture("dns_pool"), rl.DNS_HOST, str(srv.port), str(DNS_N), "100",
                "reresolve", "pool"]
        r = dns_run(srv, argv, {"dns_check_ms": 0})
        expect_fixture_ok(r)
        srv.expect_count(DNS_N)
        s = re.findall(r"req=\d+ served=(\S+)", r.stdout)
        check(s == ["127.0.0.1"] * DNS_N, "moved without a lease option: %s" % s)
        stale = [f for rep in r.reports for f in findings_of(rep, "stale-dns")]
        check(len(stale) == 1, "expected one stale-dns finding: %s"
              % [summary(x) for x in r.reports])
        no_leases(r)


def test_dns_change_never_due_lease_stays_stale():
    """A lease that never falls due (the background thread re-resolves, nothing else):
    python3 requests keeps its one connection; stale-dns is reported."""
    with Server() as srv:
        url = "http://%s:%d" % (rl.DNS_HOST, srv.port)
        argv = [base.SYS_PYTHON, script("py_client.py", PY_CLIENT), url, str(DNS_N),
                str(DNS_GAP_MS / 1000.0)]
        r = dns_run(srv, argv, {"dns_check_ms": 100, "lease_ms": 86400000})
        sent = expect_client_ok(r)
        srv.expect_count(sent)
        check(set(served(r)) == {"127.0.0.1"}, "moved without a lease option: %s" % served(r))
        check(len(srv.connections_used()) == 1, "%d connections" % len(srv.connections_used()))
        stale = [f for rep in r.reports for f in findings_of(rep, "stale-dns")]
        check(len(stale) == 1, "expected one stale-dns finding: %s"
              % [summary(x) for x in r.reports])
        no_leases(r)


# ---------------------------------------------------------------------------


def build():
    base.build_fixtures(base.fixture_targets("dns_pool.c"))


def main():
    return base.run_suite(globals(), "connleak-lease-http.", build)


if __name__ == "__main__":
    sys.exit(main())
