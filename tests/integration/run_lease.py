#!/usr/bin/env python3
"""connleak lease, DNS, background-thread and timeline integration tests
(issue 4): real pooling clients (curl, python3 requests) and small C fixtures
under the preload against nginx on loopback, DNS changes in a private mount
namespace, assertions on the JSON reports.

    tests/integration/run_lease.py              run everything
    tests/integration/run_lease.py -k dns       run the tests whose name contains "dns"
    tests/integration/run_lease.py --keep       keep the temporary directories
    tests/integration/run_lease.py --list       list the test names

Needs build/libconnleak.so and the fixtures build/fixtures/lease_* and
build/fixtures/dns_* (built here when missing or stale by make with the rules
of tests/integration/fixtures.mk).  Peers and clients: /usr/sbin/nginx,
curl (--rate, 7.84 or later), /usr/bin/python3 with python3-requests, and for
the DNS-change tests root, unshare(1) and mount(1) (util-linux) and the
loopback address 127.0.0.2.

Shares its helpers with run.py.  Prints "PASS name" or "FAIL name: reason"
per test, then exactly "N passed, N failed"; exits 1 when any test failed.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
from run import (TestFailure, check, kv, brief, summary, findings_of,  # noqa: E402
                 PyPeer, read_request,
                 expect_fixture_ok, stat_of, only_report, report_for_pid, load_reports,
                 new_dir, run, free_port, preload_env, clean_env, http_get, Nginx, fixture,
                 Result, TIMEOUT)

UNSHARE = "/usr/bin/unshare"

LEASE_MS = 300               # the short lease of the pooling tests
CURL_URLS = 10               # curl transfers on one handle
CURL_RATE = "5/s"            # ... one every 200 ms: the connection outlives the lease idle
PY_REQUESTS = 12             # python requests Session: fetches ...
PY_PAUSE = 0.2               # ... with this pause between them (a lease of a connection
                             # made at a request expires mid-pause, not as the next request
                             # is written: that would be the keep-alive race any server close
                             # can cause, which python requests does not retry)
BIG_SIZE = 2 * 1024 * 1024   # the long download: 2 MiB ...
BIG_RATE = "1m"              # ... at nginx limit_rate 1 MB/s: about 2 s on one connection
DNS_HOST = "svc.test"
DNS_REQUESTS = 16            # requests of the DNS-change clients ...
DNS_PAUSE_MS = 200           # ... this far apart (not a divisor of LEASE_MS: see PY_PAUSE)
DNS_SWITCH_AFTER = 4         # the hosts file is rewritten after this many answers
DNS_CHECK_MS = 200
SAMPLE_MS = 100
# A lease that never comes due in a test: it only starts connleak's background thread,
# which re-resolves names while the program makes no call (issue 8: no thread otherwise).
NEVER_LEASE_MS = 3600000
TIMELINE_MAX = 512
EXIT_BOUND_S = 3.0           # a hang check, not a performance threshold
RESOLVER_MODES = ["getaddrinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r",
                  "gethostbyname2_r"]


# ---------------------------------------------------------------------------
# fixtures


def build_lease_fixtures():
    base.build_fixtures(base.fixture_targets("lease_*.c", "dns_*.c"))


# ---------------------------------------------------------------------------
# nginx: "/" answers with the address that served the request, "/small" with a
# few bytes, "/big.bin" is a BIG_SIZE file sent at BIG_RATE.  It listens on
# 127.0.0.1:PORT and 127.0.0.2:PORT.

LEASE_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
error_log stderr;
pid {prefix}/nginx.pid;
lock_file {prefix}/nginx.lock;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_timeout 60;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.2:{port};
        root {prefix}/html;
        location = / {{ return 200 "$server_addr\\n"; }}
        location = /small {{ return 200 "small\\n"; }}
        location = /big.bin {{ limit_rate {rate}; }}
    }}
}}
"""


class LeaseNginx(Nginx):
    CONF = LEASE_NGINX_CONF

    def conf_args(self):
        return dict(super().conf_args(), rate=BIG_RATE)

    def configure(self):
        html = os.path.join(self.prefix, "html")
        os.mkdir(html)
        with open(os.path.join(html, "big.bin"), "wb") as f:
            f.write(big_content())
        return super().configure()

    def ready(self):
        return (http_get(self.port).endswith(b"\r\n\r\n127.0.0.1\n") and
                http_get(self.port, host="127.0.0.2").endswith(b"\r\n\r\n127.0.0.2\n"))

    def peer(self, addr="127.0.0.1"):
        return "%s:%d" % (addr, self.port)


_big = None


def big_content():
    global _big
    if _big is None:
        _big = bytes((i * 131 + (i >> 9)) & 0xff for i in range(BIG_SIZE))
    return _big


_nginx = base.Shared(LeaseNginx, restart_dead=True)


def nginx():
    return _nginx.get()


# ---------------------------------------------------------------------------
# report helpers


def endpoints_of(rep):
    eps = rep.get("endpoints")
    check(isinstance(eps, list), "report has no endpoints list: %s" % summary(rep))
    return eps


def endpoint_for(rep, peer):
    """The endpoint of peer.  Endpoints are per peer and hostname, so one peer
    may have several (e.g. a hostname and none): they are summed."""
    found = [e for e in endpoints_of(rep) if e.get("peer") == peer]
    check(found, "no endpoint %s in the report; endpoints: %s" % (peer, endpoints_of(rep)))
    if len(found) == 1:
        return found[0]
    total = dict(found[0])
    for k in ("connections", "open", "leases_enforced", "requests", "bytes_in", "bytes_out"):
        total[k] = sum(e.get(k) or 0 for e in found)
    total["hostname"] = [e.get("hostname") for e in found]
    return total


def leases_of(ep):
    check("leases_enforced" in ep, "endpoint lacks leases_enforced: %s" % ep)
    check(type(ep["leases_enforced"]) is int, "endpoint leases_enforced %r" % ep)
    return ep["leases_enforced"]


def lease_events(rep):
    evs = rep.get("events")
    check(isinstance(evs, list), "events is %r" % evs)
    return [e for e in evs if isinstance(e, dict) and e.get("what") == "lease"]


def expect_lease_accounting(rep, peer):
    """stats.leases_enforced == the endpoints' sum == lease events (when none
    were dropped); every event names fd, peer, age_ms >= lease."""
    total = stat_of(rep, "leases_enforced")
    eps_total = sum(leases_of(e) for e in endpoints_of(rep))
    check(total == eps_total, "stats.leases_enforced %r but the endpoints' leases_enforced "
          "add up to %r: %s" % (total, eps_total, endpoints_of(rep)))
    evs = lease_events(rep)
    if not rep.get("events_dropped"):
        check(len(evs) == total, "%d lease events for stats.leases_enforced %r: %s"
              % (len(evs), total, rep.get("events")))
    for e in evs:
        for k in ("fd", "peer", "hostname", "age_ms"):
            check(k in e, "lease event lacks %s: %s" % (k, e))
        check(type(e["fd"]) is int and e["fd"] >= 0, "lease event fd %r" % e)
        check(e["peer"] == peer, "lease event peer %r, expected %s" % (e, peer))
        check(type(e["age_ms"]) is int and e["age_ms"] >= LEASE_MS,
              "lease event age_ms %r is below the lease (%d ms): %s" % (e["age_ms"], LEASE_MS, e))
    return total


def no_lease_events(rep):
    check(stat_of(rep, "leases_enforced") == 0,
          "stats.leases_enforced %r, expected 0" % stat_of(rep, "leases_enforced"))
    check(lease_events(rep) == [], "lease events without a lease: %s" % lease_events(rep))


def timeline_of(rep):
    tl = rep.get("timeline")
    check(isinstance(tl, list), "timeline is %r" % tl)
    prev = None
    for s in tl:
        check(isinstance(s, dict), "timeline sample %r" % s)
        for k in ("t_ms", "open_sockets", "close_wait", "orphaned_sessions"):
            check(type(s.get(k)) is int and s[k] >= 0, "timeline sample %s: %r" % (k, s))
        check(isinstance(s.get("endpoints"), dict), "timeline sample endpoints: %r" % s)
        for p, n in s["endpoints"].items():
            check(isinstance(p, str) and type(n) is int and n >= 0,
                  "timeline sample endpoints entry %r: %r" % (p, n))
        check(prev is None or s["t_ms"] > prev, "timeline t_ms not increasing: %s"
              % [x["t_ms"] for x in tl])
        prev = s["t_ms"]
    return tl


def tl_brief(tl):
    return [(s["t_ms"], s["open_sockets"], s["endpoints"]) for s in tl][:80]


def opt(v):
    """An option value holding separators (host:port lists), quoted."""
    return '"%s"' % v


# ---------------------------------------------------------------------------
# clients

REQUESTS_CLIENT = r"""
import sys, time
import requests
url, n, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = requests.Session()
fails = 0
for i in range(n):
    if i:
        time.sleep(pause)
    try:
        r = s.get(url, timeout=10)
        print("req=%d status=%d served=%s" % (i, r.status_code, r.text.strip()), flush=True)
        if r.status_code != 200:
            fails += 1
    except Exception as e:
        fails += 1
        print("req=%d error=%r" % (i, e), flush=True)
s.close()
print("fails=%d" % fails, flush=True)
"""


def requests_client():
    path = os.path.join(base.SESSION_DIR, "requests_client.py")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write(REQUESTS_CLIENT)
    return path


def requests_argv(url, n=PY_REQUESTS, pause=PY_PAUSE):
    return [base.SYS_PYTHON, requests_client(), url, str(n), str(pause)]


def answers(stdout):
    """[(i, status or None, served or error)] of the requests client / dns_pool."""
    out = []
    for line in stdout.splitlines():
        m = re.match(r"req=(\d+) (?:status=(\d+) )?(served|error)=(.*)$", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None,
                        m.group(3), m.group(4)))
    return out


def expect_all_served(r, n):
    a = answers(r.stdout)
    check(len(a) == n, "%d answers of %d requests: %s" % (len(a), n, r.describe()))
    bad = [x for x in a if x[2] != "served" or (x[1] is not None and x[1] != 200)]
    check(not bad, "failed requests %s: %s" % (bad, r.describe()))
    return [x[3] for x in a]


def curl_argv(url, n=CURL_URLS, rate=CURL_RATE):
    argv = [base.CURL, "-s", "-4", "--rate", rate, "-w", "%{http_code} %{num_connects}\\n"]
    for _ in range(n):
        argv += ["-o", "/dev/null", url]
    return argv


def curl_check(r, n=CURL_URLS):
    """curl exit 0 and n x 200; returns the connects curl counted."""
    lines = r.stdout.split()
    codes, connects = lines[0::2], lines[1::2]
    check(r.rc == 0, "curl exited %r: %s" % (r.rc, r.describe()))
    check(codes == ["200"] * n, "curl http codes %s, expected %d x 200: %s"
          % (codes, n, r.describe()))
    return sum(int(c) for c in connects)


def curl_many(url, n=CURL_URLS, rate=CURL_RATE, opts=None):
    r = run(curl_argv(url, n, rate), opts)
    return r, curl_check(r, n)


# ---------------------------------------------------------------------------
# 1. pooling clients with a short lease


def test_curl_lease_renews_connections():
    ng = nginx()
    r, connects = curl_many(ng.url("/"), opts={"lease_ms": LEASE_MS})
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] > 1, "with lease_ms=%d curl used %r connection(s) for %d transfers "
          "%d ms apart (curl counted %d connects): endpoint %s"
          % (LEASE_MS, ep["connections"], CURL_URLS, 1000 // 5, connects, ep))
    check(leases_of(ep) >= 1, "endpoint leases_enforced %r: %s" % (ep["leases_enforced"], ep))
    check(ep["connections"] == connects, "endpoint connections %r, curl counted %d connects"
          % (ep["connections"], connects))
    check(ep["connections"] <= ep["leases_enforced"] + 1,
          "%r connections but only %r leases enforced: something else closed connections: %s"
          % (ep["connections"], ep["leases_enforced"], ep))
    expect_lease_accounting(rep, ng.peer())
    check(not findings_of(rep, "keepalive-race"),
          "a lease made a request fail: %s" % summary(rep))


def test_curl_without_lease_keeps_one_connection():
    ng = nginx()
    r, connects = curl_many(ng.url("/"), opts={"lease_ms": 0})
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1 and connects == 1,
          "without a lease curl used %r connections (curl: %d): %s"
          % (ep["connections"], connects, ep))
    check(leases_of(ep) == 0, "leases_enforced %r without a lease" % ep["leases_enforced"])
    no_lease_events(rep)


def test_python_requests_lease_renews_connections():
    ng = nginx()
    r = run(requests_argv(ng.url("/")), {"lease_ms": LEASE_MS})
    check(r.rc == 0, "requests client exited %r: %s" % (r.rc, r.describe()))
    expect_all_served(r, PY_REQUESTS)
    check("fails=0" in r.stdout, "requests failed: " + r.describe())
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] >= 3, "with lease_ms=%d a requests Session made %d requests %d ms "
          "apart on %r connection(s), expected several (>= 3): %s"
          % (LEASE_MS, PY_REQUESTS, PY_PAUSE * 1000, ep["connections"], ep))
    check(leases_of(ep) >= 1, "endpoint leases_enforced %r: %s" % (ep["leases_enforced"], ep))
    expect_lease_accounting(rep, ng.peer())


def test_python_requests_without_lease_keeps_one_connection():
    ng = nginx()
    r = run(requests_argv(ng.url("/")), {"lease_ms": 0})
    check(r.rc == 0, "requests client exited %r: %s" % (r.rc, r.describe()))
    expect_all_served(r, PY_REQUESTS)
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1, "without a lease: %r connections: %s" % (ep["connections"], ep))
    check(leases_of(ep) == 0, "leases_enforced %r" % ep["leases_enforced"])
    no_lease_events(rep)


def test_lease_report_mode_finds_without_cutting():
    ng = nginx()
    r, connects = curl_many(ng.url("/"), opts={"lease_ms": LEASE_MS, "lease_mode": "report"})
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1 and connects == 1,
          "lease_mode=report cut connections: %r connections: %s" % (ep["connections"], ep))
    no_lease_events(rep)
    check(leases_of(ep) == 0, "leases_enforced %r in report mode" % ep["leases_enforced"])
    le = findings_of(rep, "lease-expired")
    check(len(le) == 1 and le[0].get("count", 1) == 1,
          "expected one lease-expired finding for the one connection, got %s" % summary(rep))
    f = le[0]
    for k in ("fd", "peer", "hostname", "age_ms", "lease_ms"):
        check(k in f, "lease-expired lacks %s: %s" % (k, brief(f)))
    check(f["peer"] == ng.peer(), "lease-expired peer %r" % f["peer"])
    check(type(f["fd"]) is int and f["fd"] >= 0, "lease-expired fd %r" % f["fd"])
    check(f["lease_ms"] == LEASE_MS, "lease-expired lease_ms %r" % f["lease_ms"])
    check(type(f["age_ms"]) is int and f["age_ms"] >= LEASE_MS,
          "lease-expired age_ms %r < lease" % f["age_ms"])


def test_lease_peers_other_endpoint_untouched():
    ng = nginx()
    other = "127.0.0.1:%d,localhost:%d" % (free_port(), free_port())
    r, connects = curl_many(ng.url("/"), opts={"lease_ms": LEASE_MS, "lease_peers": opt(other)})
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1 and connects == 1,
          "lease_peers=%s cut the connection to %s: %s" % (other, ng.peer(), ep))
    no_lease_events(rep)
    check(not findings_of(rep, "lease-expired"), "lease-expired outside lease_peers: "
          + summary(rep))


def test_lease_peers_by_address():
    ng = nginx()
    peers = "127.0.0.1:%d,%s" % (free_port(), ng.peer())
    r, connects = curl_many(ng.url("/"), opts={"lease_ms": LEASE_MS, "lease_peers": opt(peers)})
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] > 1 and leases_of(ep) >= 1,
          "lease_peers=%s did not lease %s: %s" % (peers, ng.peer(), ep))
    expect_lease_accounting(rep, ng.peer())


def test_lease_peers_by_hostname():
    # curl resolves "localhost" itself, without the resolver: use a name of
    # the hosts file (in a private mount namespace)
    ng = nginx()
    hosts = HostsFile()
    url = "http://%s:%d/" % (DNS_HOST, ng.port)
    peers = "%s:%d" % (DNS_HOST, ng.port)
    r = run_in_ns(hosts, curl_argv(url), {"lease_ms": LEASE_MS, "lease_peers": opt(peers)})
    curl_check(r)
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] > 1 and leases_of(ep) >= 1,
          "lease_peers=%s did not lease curl's connections to %s: %s" % (peers, url, ep))
    check(ep["hostname"] == DNS_HOST, "endpoint hostname %r, expected %s: %s"
          % (ep["hostname"], DNS_HOST, ep))
    expect_lease_accounting(rep, ng.peer())
    for e in lease_events(rep):
        check(e["hostname"] == DNS_HOST, "lease event hostname %r" % e)


def test_lease_peers_other_hostname_untouched():
    ng = nginx()
    hosts = HostsFile()
    url = "http://%s:%d/" % (DNS_HOST, ng.port)
    peers = "other.test:%d,%s:%d" % (ng.port, DNS_HOST, free_port())
    r = run_in_ns(hosts, curl_argv(url), {"lease_ms": LEASE_MS, "lease_peers": opt(peers)})
    connects = curl_check(r)
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1 and connects == 1,
          "lease_peers=%s cut the connection to %s: %s" % (peers, url, ep))
    no_lease_events(rep)


# ---------------------------------------------------------------------------
# 2. a long download is never cut


def test_long_download_not_cut():
    ng = nginx()
    d = new_dir("download")
    out = os.path.join(d, "big.bin")
    argv = [base.CURL, "-s", "-4", "-w", "%{http_code} %{size_download} %{num_connects}\\n",
            "-o", "/dev/null", ng.url("/small"), "-o", out, ng.url("/big.bin")]
    t0 = time.monotonic()
    r = run(argv, {"lease_ms": LEASE_MS})
    took = time.monotonic() - t0
    check(r.rc == 0, "curl exited %r (18 = partial file: the download was cut); lease events: "
          "%s; %s" % (r.rc, [lease_events(x) for x in r.reports], r.describe()))
    lines = [l.split() for l in r.stdout.splitlines() if l.strip()]
    check(len(lines) == 2 and all(l[0] == "200" for l in lines),
          "curl transfers: %s" % r.describe())
    check(int(lines[1][1]) == BIG_SIZE and os.path.getsize(out) == BIG_SIZE,
          "downloaded %s bytes (file %d), expected %d" % (lines[1][1], os.path.getsize(out),
                                                         BIG_SIZE))
    with open(out, "rb") as f:
        check(f.read() == big_content(), "downloaded content differs")
    check(took > 1.2, "the download took %.2f s: nginx's limit_rate is not in effect, so the "
          "test proves nothing" % took)
    check(sum(int(l[2]) for l in lines) == 1, "curl made %s connects, expected 1 (the download "
          "ran on the connection of the first request)" % [l[2] for l in lines])
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    check(ep["connections"] == 1, "endpoint connections %r: %s" % (ep["connections"], ep))
    # Retired at the end of the download (its first idle boundary past the lease), not
    # during it: the body above is whole.
    check(leases_of(ep) == 1, "expected the connection retired once, after the download: %s"
          % ep)
    check(lease_events(rep)[0]["age_ms"] >= 1000, "retired at age %r ms, in a "
          "download of %.0f ms" % (lease_events(rep)[0]["age_ms"], took * 1000))


def test_long_download_python_stream_not_cut():
    """requests streams the body in chunks with pauses between reads: the
    program is mid-response (idle, no unread data at times), older than the lease."""
    ng = nginx()
    script = os.path.join(new_dir("pystream"), "stream.py")
    with open(script, "w") as f:
        f.write(r"""
import sys, time, requests
s = requests.Session()
t0 = time.monotonic()
r = s.get(sys.argv[1] + "/small", timeout=10)
print("small_ms=%d" % ((time.monotonic() - t0) * 1000), flush=True)
assert r.status_code == 200, r.status_code
n = 0
with s.get(sys.argv[1] + "/big.bin", stream=True, timeout=10) as r:
    assert r.status_code == 200, r.status_code
    for chunk in r.iter_content(65536):
        n += len(chunk)
print("size=%d" % n, flush=True)
""")
    r = run([base.SYS_PYTHON, script, "http://127.0.0.1:%d" % ng.port], {"lease_ms": LEASE_MS})
    check(r.rc == 0, "python download failed: %s" % r.describe())
    check(kv(r.stdout).get("size") == str(BIG_SIZE), "downloaded %r bytes, expected %d (a "
          "response cut short is a silent short read for requests); lease events: %s"
          % (kv(r.stdout).get("size"), BIG_SIZE, [lease_events(x) for x in r.reports]))
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer())
    # The connection is made inside the /small request, so its age when /small ended is at
    # most small_ms (the program's own clock): under LEASE_MS, /small must not have been
    # its boundary of retirement and one connection carries both.  A loaded machine can
    # stretch /small past the lease: then retiring there is right, and the download has a
    # connection of its own, retired once after it.
    small_ms = int(kv(r.stdout).get("small_ms", "0"))
    want = [1] if small_ms < LEASE_MS - 10 else [1, 2]  # (connleak's clock is coarse: 4 ms)
    check(ep["connections"] in want and leases_of(ep) == ep["connections"],
          "expected %s connection(s) (/small took %d ms), each retired once, the download's "
          "after it: %s" % (" or ".join(map(str, want)), small_ms, ep))
    for e in lease_events(rep):
        check(e["age_ms"] >= LEASE_MS, "retired before its lease ran out: %s" % e)


def test_request_in_flight_not_cut():
    """A request written, its reply slow (server think time 3 x the lease):
    the last operation was a write, the request is in flight, never cut."""
    def slow(conn):
        while read_request(conn) is not None:
            time.sleep(3 * LEASE_MS / 1000.0)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                         b"Connection: keep-alive\r\n\r\nslow\n")
    peer = PyPeer(slow).start()
    try:
        r = run([fixture("dns_pool"), "127.0.0.1", str(peer.port), "1", "0"],
                {"lease_ms": LEASE_MS})
    finally:
        peer.stop()
    expect_fixture_ok(r)
    check(expect_all_served(r, 1) == ["slow"], r.describe())
    rep = only_report(r)
    evs = lease_events(rep)
    # The lease ran out while the request was in flight: the connection is retired once
    # the reply is complete (the reply took 3 leases to come).
    check(len(evs) == 1 and evs[0]["age_ms"] >= 3 * LEASE_MS,
          "expected one lease, after the reply: %s" % evs)
    check(not findings_of(rep, "keepalive-race"), summary(rep))


# ---------------------------------------------------------------------------
# 3. DNS change mid-run, in a private mount namespace


class HostsFile:
    """A hosts file bind-mounted over /etc/hosts in the client's mount
    namespace; switch() rewrites DNS_HOST from 127.0.0.1 to 127.0.0.2 in place
    (one byte, same inode: what the bind mount shows, atomically)."""

    def __init__(self):
        self.path = os.path.join(new_dir("hosts"), "hosts")
        self.text = "127.0.0.1 localhost\n127.0.0.1 %s\n" % DNS_HOST
        with open(self.path, "w") as f:
            f.write(self.text)
        os.chmod(self.path, 0o644)
        self.switched_at = None

    def switch(self):
        off = self.text.index("127.0.0.1 " + DNS_HOST) + len("127.0.0.")
        fd = os.open(self.path, os.O_WRONLY)
        try:
            check(os.pwrite(fd, b"2", off) == 1, "hosts rewrite")
        finally:
            os.close(fd)
        self.switched_at = time.monotonic()

    def content(self):
        with open(self.path) as f:
            return f.read()


def ns_available():
    if os.geteuid() != 0:
        raise TestFailure("the DNS-change tests need root (unshare -m, mount --bind)")
    check(os.access(UNSHARE, os.X_OK), "%s missing (util-linux)" % UNSHARE)


def run_in_ns(hosts, argv, opts, on_line=None, timeout=TIMEOUT, preload=True):
    """Runs argv preloaded, in a private mount namespace where hosts.path is
    /etc/hosts.  Only argv gets the preload (not unshare, sh, mount).  on_line
    is called with each stdout line as it comes."""
    ns_available()
    report_dir = new_dir("reports")
    o = {"report_dir": report_dir}
    o.update(opts or {})
    pe = preload_env(base.options_string(o))
    env_args = ["%s=%s" % (k, pe[k]) for k in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")
                if preload]
    script = 'mount --bind "$0" /etc/hosts || exit 98; exec env "$@"'
    full = [UNSHARE, "-m", "--propagation", "private", "--", "sh", "-c", script,
            hosts.path] + env_args + argv
    p = subprocess.Popen(full, env=clean_env(), cwd=base.SESSION_DIR,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    out_lines, err_chunks, errors = [], [], []

    def read_out():
        for raw in p.stdout:
            line = raw.decode(errors="replace")
            out_lines.append(line)
            if on_line:
                try:
                    on_line(line.rstrip("\n"))
                except Exception as e:  # reported below
                    errors.append(repr(e))

    def read_err():
        err_chunks.append(p.stderr.read())

    ts = [threading.Thread(target=read_out, daemon=True),
          threading.Thread(target=read_err, daemon=True)]
    for t in ts:
        t.start()
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        for t in ts:
            t.join(5)
        raise TestFailure("timeout after %ss: %s\nstdout=%r\nstderr=%r"
                          % (timeout, " ".join(argv), "".join(out_lines)[-600:],
                             b"".join(err_chunks).decode(errors="replace")[-1500:]))
    for t in ts:
        t.join(10)
    r = Result(argv, p.returncode, "".join(out_lines),
               b"".join(err_chunks).decode(errors="replace"), report_dir)
    check(r.rc != 98, "mount --bind of the hosts file failed: " + r.describe())
    check(not errors, "on_line: %s" % errors)
    r.reports = load_reports(report_dir)
    return r


def switch_after(hosts, n):
    """on_line callback: rewrites the hosts file once n answers have come."""
    def on_line(line):
        if hosts.switched_at is None and re.match(r"req=(\d+) ", line) and \
                int(line.split()[0][4:]) + 1 >= n:
            hosts.switch()
    return on_line


def expect_stale_dns(rep, ng):
    st = findings_of(rep, "stale-dns")
    check(len(st) == 1 and st[0].get("count", 1) == 1,
          "expected one stale-dns finding (one live connection to the old address), got %s"
          % summary(rep))
    f = st[0]
    for k in ("hostname", "peer", "answer", "age_ms"):
        check(k in f, "stale-dns lacks %s: %s" % (k, brief(f)))
    check(f["hostname"] == DNS_HOST, "stale-dns hostname %r, expected %s" % (f["hostname"],
                                                                           DNS_HOST))
    check(f["peer"] == ng.peer("127.0.0.1"), "stale-dns peer %r, expected %s"
          % (f["peer"], ng.peer("127.0.0.1")))
    check(isinstance(f["answer"], list) and "127.0.0.2" in f["answer"] and
          "127.0.0.1" not in f["answer"] and all(isinstance(a, str) for a in f["answer"]),
          "stale-dns answer %r, expected the new answer [\"127.0.0.2\"]" % (f["answer"],))
    check(type(f["age_ms"]) is int and f["age_ms"] >= 0, "stale-dns age_ms %r" % f["age_ms"])
    return f


def test_dns_change_requests_without_lease_stays_and_is_stale():
    ng = nginx()
    hosts = HostsFile()
    url = "http://%s:%d/" % (DNS_HOST, ng.port)
    r = run_in_ns(hosts, requests_argv(url, DNS_REQUESTS, DNS_PAUSE_MS / 1000.0),
                  {"lease_ms": NEVER_LEASE_MS, "dns_check_ms": DNS_CHECK_MS},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    check(r.rc == 0, "requests client exited %r: %s" % (r.rc, r.describe()))
    check(hosts.switched_at is not None, "the hosts file was never rewritten: " + r.describe())
    served = expect_all_served(r, DNS_REQUESTS)
    check(set(served) == {"127.0.0.1"}, "without a lease the pooled connection should keep "
          "talking to 127.0.0.1; served by %s" % served)
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer("127.0.0.1"))
    check(ep["connections"] == 1, "connections %r: %s" % (ep["connections"], ep))
    check(ep["hostname"] == DNS_HOST, "endpoint hostname %r, expected %s"
          % (ep["hostname"], DNS_HOST))
    expect_stale_dns(rep, ng)


def test_dns_change_requests_with_lease_moves():
    ng = nginx()
    hosts = HostsFile()
    url = "http://%s:%d/" % (DNS_HOST, ng.port)
    r = run_in_ns(hosts, requests_argv(url, DNS_REQUESTS, DNS_PAUSE_MS / 1000.0),
                  {"lease_ms": LEASE_MS, "dns_check_ms": DNS_CHECK_MS},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    check(r.rc == 0 and "fails=0" in r.stdout, "requests failed: %s" % r.describe())
    check(hosts.switched_at is not None, "the hosts file was never rewritten: " + r.describe())
    served = expect_all_served(r, DNS_REQUESTS)
    check(served[0] == "127.0.0.1", "first request served by %s" % served[0])
    check(served[-1] == "127.0.0.2", "with lease_ms=%d the client did not move to 127.0.0.2: "
          "served by %s" % (LEASE_MS, served))
    first2 = served.index("127.0.0.2")
    check(first2 >= DNS_SWITCH_AFTER and set(served[first2:]) == {"127.0.0.2"},
          "served by %s (hosts switched after %d answers)" % (served, DNS_SWITCH_AFTER))
    rep = only_report(r)
    new = endpoint_for(rep, ng.peer("127.0.0.2"))
    check(new["hostname"] == DNS_HOST, "endpoint %s hostname %r" % (ng.peer("127.0.0.2"),
                                                                   new["hostname"]))
    old = endpoint_for(rep, ng.peer("127.0.0.1"))
    check(leases_of(old) >= 1, "no lease enforced on the old address: %s" % old)


def test_dns_change_c_client_background_check():
    """dns_pool resolves once and never again: only connleak's own re-resolution
    (dns_check_ms) can see the change. No lease option: the snapshot thread of a process
    that has lived snapshot_ms does it."""
    ng = nginx()
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), str(DNS_REQUESTS), str(DNS_PAUSE_MS)]
    r = run_in_ns(hosts, argv, {"snapshot_ms": DNS_CHECK_MS, "dns_check_ms": DNS_CHECK_MS},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    expect_fixture_ok(r)
    served = expect_all_served(r, DNS_REQUESTS)
    check(set(served) == {"127.0.0.1"}, "served by %s" % served)
    rep = only_report(r)
    expect_stale_dns(rep, ng)
    ep = endpoint_for(rep, ng.peer("127.0.0.1"))
    check(ep["hostname"] == DNS_HOST, "endpoint hostname %r" % ep["hostname"])


NO_THREAD_RECHECK_PY = r"""
import os, socket, sys, time
host, port, wait_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
pooled = socket.create_connection((host, port))   # resolved: 127.0.0.1
print("req=0 served=connected", flush=True)        # the test switches the hosts file here
time.sleep(wait_s)
socket.getaddrinfo("localhost", 9)                # any name lookup of the program's
threads = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Threads:")][0]
pooled.close()
print("threads=%s pid=%d" % (threads, os.getpid()), flush=True)
"""


def test_dns_change_seen_at_next_lookup_without_thread():
    """No lease, so no thread of connleak's: a connection pool's names are re-resolved
    when the program next resolves any name (dns_check_ms passed), and the live connection
    to the old address is stale-dns."""
    ng = nginx()
    hosts = HostsFile()
    script = os.path.join(new_dir("py"), "recheck.py")
    with open(script, "w") as f:
        f.write(NO_THREAD_RECHECK_PY)
    argv = [base.SYS_PYTHON, script, DNS_HOST, str(ng.port), str(3 * DNS_CHECK_MS / 1000.0)]
    r = run_in_ns(hosts, argv, {"lease_ms": 0, "dns_check_ms": DNS_CHECK_MS},
                  on_line=switch_after(hosts, 1))
    check(r.rc == 0, "client failed: " + r.describe())
    check(kv(r.stdout).get("threads") == "1", "connleak started a thread: " + r.stdout)
    expect_stale_dns(only_report(r), ng)


def test_dns_change_c_client_resolving_again_checks_off():
    """dns_check_ms=0: no background check, but the program resolves the name
    again, and that answer shows the live connection is stale."""
    ng = nginx()
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), str(DNS_REQUESTS), str(DNS_PAUSE_MS),
            "reresolve"]
    r = run_in_ns(hosts, argv, {"lease_ms": 0, "dns_check_ms": 0},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    expect_fixture_ok(r)
    served = expect_all_served(r, DNS_REQUESTS)
    check(set(served) == {"127.0.0.1"}, "served by %s" % served)
    expect_stale_dns(only_report(r), ng)


def test_dns_check_off_no_resolution_no_finding():
    ng = nginx()
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), str(DNS_REQUESTS), str(DNS_PAUSE_MS)]
    r = run_in_ns(hosts, argv, {"lease_ms": 0, "dns_check_ms": 0},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    expect_fixture_ok(r)
    # The name really moved while the connection lived (else a clean report proves nothing):
    # the hosts file was rewritten mid-run and the live connection stayed on the old address.
    check(hosts.switched_at is not None, "the hosts file was never rewritten: " + r.describe())
    check("127.0.0.2 " + DNS_HOST in hosts.content(), "hosts file after the switch: %r"
          % hosts.content())
    served = expect_all_served(r, DNS_REQUESTS)
    check(set(served) == {"127.0.0.1"}, "served by %s" % served)
    check(len(served) > DNS_SWITCH_AFTER, "no request after the switch: %s" % served)
    rep = only_report(r)
    ep = endpoint_for(rep, ng.peer("127.0.0.1"))
    check(ep["hostname"] == DNS_HOST and ep["connections"] == 1,
          "the connection did not come from the name: %s" % ep)
    check(not findings_of(rep, "stale-dns"), "stale-dns with dns_check_ms=0 and no resolution "
          "by the program: %s" % summary(rep))


def test_dns_unchanged_no_stale_finding():
    ng = nginx()
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), "10", "100", "reresolve"]
    r = run_in_ns(hosts, argv, {"lease_ms": 0, "dns_check_ms": 50})
    expect_fixture_ok(r)
    rep = only_report(r)
    check(not findings_of(rep, "stale-dns"), "stale-dns without a DNS change: " + summary(rep))


def test_dns_change_c_pool_with_lease_moves():
    ng = nginx()
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), str(DNS_REQUESTS), str(DNS_PAUSE_MS),
            "pool"]
    r = run_in_ns(hosts, argv, {"lease_ms": LEASE_MS, "dns_check_ms": DNS_CHECK_MS},
                  on_line=switch_after(hosts, DNS_SWITCH_AFTER))
    expect_fixture_ok(r)
    served = expect_all_served(r, DNS_REQUESTS)
    check(served[-1] == "127.0.0.2", "with lease_ms=%d the pool did not move: served by %s"
          % (LEASE_MS, served))
    out = kv(r.stdout)
    check(int(out.get("connects", 0)) >= 2, "connects=%r" % out.get("connects"))
    rep = only_report(r)
    check(endpoint_for(rep, ng.peer("127.0.0.2"))["hostname"] == DNS_HOST,
          "new endpoint without hostname: %s" % endpoints_of(rep))


# ---------------------------------------------------------------------------
# hostnames from every resolver family


def make_hostname_test(mode):
    def t():
        ng = nginx()
        # The connection, idle after its exchange, is held at exit: shown as open-at-exit.
        r = run([fixture("dns_resolve"), mode, str(ng.port)],
                {"lease_ms": 0, "show_open_at_exit": 1})
        expect_fixture_ok(r)
        rep = only_report(r)
        leaks = findings_of(rep, "open-at-exit")
        check(len(leaks) == 1, "expected one open-at-exit, got %s" % summary(rep))
        check(leaks[0].get("hostname") == "localhost",
              "%s(\"localhost\"): open-at-exit hostname %r, expected \"localhost\": %s"
              % (mode, leaks[0].get("hostname"), brief(leaks[0])))
        ep = endpoint_for(rep, ng.peer())
        check(ep.get("hostname") == "localhost", "%s: endpoint hostname %r: %s"
              % (mode, ep.get("hostname"), ep))
    t.__name__ = "test_hostname_" + mode
    return t


for _m in RESOLVER_MODES:
    globals()["test_hostname_" + _m] = make_hostname_test(_m)


def test_hostname_curl_threaded_resolver():
    # curl resolves in a thread of its own; it resolves "localhost" without the
    # resolver, so a hosts-file name in a private mount namespace
    ng = nginx()
    hosts = HostsFile()
    r = run_in_ns(hosts, [base.CURL, "-s", "-4", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://%s:%d/" % (DNS_HOST, ng.port)], {"lease_ms": 0})
    check(r.rc == 0 and r.stdout == "200", "curl: " + r.describe())
    ep = endpoint_for(only_report(r), ng.peer())
    check(ep.get("hostname") == DNS_HOST, "curl (threaded resolver): endpoint hostname %r, "
          "expected %s" % (ep.get("hostname"), DNS_HOST))


def test_hostname_null_for_literal_address():
    ng = nginx()
    r = run([fixture("lease_timeline"), str(ng.port), "10", "1"], {"lease_ms": 0})
    expect_fixture_ok(r)
    ep = endpoint_for(only_report(r), ng.peer())
    check(ep.get("hostname") is None, "a connection to a literal address has hostname %r"
          % ep.get("hostname"))


# ---------------------------------------------------------------------------
# 4. the background thread: when it runs, fork, exit


def thread_counts(opts, enabled=True):
    ng = nginx()
    if enabled:
        r = run([fixture("lease_fork"), str(ng.port)], opts)
    else:
        r = run([fixture("lease_fork"), str(ng.port)], preload=True, enabled=False)
    expect_fixture_ok(r)
    out = {}
    for line in r.stdout.splitlines():
        out.update(kv(line))
    for k in ("threads_before", "threads_after", "child_threads", "child_status"):
        check(k in out, "fixture printed no %s: %s" % (k, r.describe()))
    check(out["child_status"] == "0", "child status %s: %s" % (out["child_status"], r.describe()))
    return r, out, ng


def test_thread_starts_after_first_connection():
    r, out, _ = thread_counts({"lease_ms": NEVER_LEASE_MS})
    check(out["threads_before"] == "1", "%s threads before the program connected, "
          "expected 1 (connleak's thread starts with the first network connection)"
          % out["threads_before"])
    check(out["threads_after"] == "2", "%s threads after the first connection, expected 2 "
          "(the program's + connleak's)" % out["threads_after"])


def test_thread_not_started_when_no_option_needs_it():
    r, out, _ = thread_counts({"sample_ms": 0, "lease_ms": 0, "dns_check_ms": 0})
    check(out["threads_before"] == "1" and out["threads_after"] == "1" and
          out["child_threads"] == "1",
          "with sample_ms=0, lease_ms=0, dns_check_ms=0 a thread was started: %s" % out)


def test_thread_not_started_for_local_sockets_only():
    # The thread serves network connections: a program with only a socketpair must stay
    # single-threaded (unshare(CLONE_NEWUSER) fails with EINVAL in a threaded process).
    bare = run([fixture("lease_local_only")], preload=False)
    pre = run([fixture("lease_local_only")], {"sample_ms": SAMPLE_MS, "lease_ms": 300})
    check(bare.rc == 0 and pre.rc == 0, "fixture failed: %s / %s" % (bare.describe(),
                                                                    pre.describe()))
    check(kv(pre.stdout).get("threads") == "1",
          "a thread of connleak's runs in a process with only local sockets: %s" % pre.stdout)
    check(pre.stdout == bare.stdout, "the program saw something else under the preload: "
          "%r without, %r with" % (bare.stdout, pre.stdout))


def test_thread_not_started_disabled():
    r, out, _ = thread_counts(None, enabled=False)
    check(out["threads_after"] == "1" and out["child_threads"] == "1",
          "preloaded without CONNLEAK=1 a thread was started: %s" % out)
    check(r.reports == [], "reports without CONNLEAK=1")


def test_thread_restarted_in_forked_child():
    r, out, ng = thread_counts({"lease_ms": NEVER_LEASE_MS, "sample_ms": SAMPLE_MS,
                                "dns_check_ms": 0})
    check(out["child_threads"] == "2", "the forked child has %s thread(s) 300 ms after fork, "
          "expected 2 (connleak's thread restarted)" % out["child_threads"])
    parent = report_for_pid(r, kv(r.stdout.splitlines()[0])["pid"])
    child = report_for_pid(r, out["child"])
    ptl, ctl = timeline_of(parent), timeline_of(child)
    # (the timeline is sampled by socket events and stores changes, so its length no
    # longer shows the thread: the thread count above does; start and end are there)
    check(len(ptl) >= 2, "parent timeline has %d samples over %d ms at sample_ms=%d: %s"
          % (len(ptl), parent.get("duration_ms", -1), SAMPLE_MS, tl_brief(ptl)))
    check(len(ctl) >= 2, "child timeline has %d samples over %d ms at sample_ms=%d: %s"
          % (len(ctl), child.get("duration_ms", -1), SAMPLE_MS, tl_brief(ctl)))
    # before the fork the parent never had more than one socket open; the child
    # holds the inherited one plus one of its own at a time: a sample with two
    # open sockets in the child's timeline was taken in the child
    check(any(s["open_sockets"] >= 2 for s in ctl),
          "no child timeline sample saw the child's own connections (open_sockets >= 2): %s"
          % tl_brief(ctl))
    check(child["end"]["how"] == "exit", "child end %r" % child.get("end"))


def exit_fast(mode, extra=()):
    ng = nginx()
    opts = {"sample_ms": 10000, "lease_ms": 10000, "dns_check_ms": 10000}
    t0 = time.monotonic()
    r = run([fixture("lease_exit_fast"), mode] + list(extra) +
            ([str(ng.port)] if mode == "connect" else []), opts)
    took = time.monotonic() - t0
    expect_fixture_ok(r)
    check(took < EXIT_BOUND_S, "%s: the program took %.2f s to end (sample_ms=10000): "
          "connleak's thread delayed the exit" % (mode, took))
    rep = only_report(r)
    check(rep["end"]["how"] == ("_exit" if mode == "_exit" else "exit"),
          "end %r" % rep.get("end"))
    check(rep["pid"] == int(kv(r.stdout)["pid"]), "report pid")


def test_exit_at_once_return():
    exit_fast("return")


def test_exit_at_once_exit():
    exit_fast("exit")


def test_exit_at_once__exit():
    exit_fast("_exit")


def test_exit_at_once_after_connect():
    exit_fast("connect")


def test_exit_at_once_default_options():
    ng = nginx()
    t0 = time.monotonic()
    r = run([fixture("lease_exit_fast"), "connect", str(ng.port)], {})
    took = time.monotonic() - t0
    expect_fixture_ok(r)
    check(took < EXIT_BOUND_S, "took %.2f s with the default options" % took)
    only_report(r)


# ---------------------------------------------------------------------------
# 5. timeline


def test_timeline_shape():
    ng = nginx()
    r = run([fixture("lease_timeline"), str(ng.port)], {"sample_ms": SAMPLE_MS})
    expect_fixture_ok(r)
    out = kv(r.stdout)
    rep = only_report(r)
    tl = timeline_of(rep)
    # (samples equal to the last are not stored: start, 3 open, 0 again, end)
    check(len(tl) >= 4, "%d timeline samples in a %s ms run at sample_ms=%d: %s"
          % (len(tl), rep.get("duration_ms"), SAMPLE_MS, tl_brief(tl)))
    peer = ng.peer()
    three = [i for i, s in enumerate(tl) if s["open_sockets"] == 3]
    check(three, "no sample with the 3 open sockets (opened at %s ms, closed at %s ms): %s"
          % (out.get("opened_ms"), out.get("closed_ms"), tl_brief(tl)))
    check(max(s["open_sockets"] for s in tl) == 3, "open_sockets above 3: %s" % tl_brief(tl))
    check(any(tl[i]["endpoints"].get(peer) == 3 for i in three),
          "no sample shows 3 open connections to %s: %s" % (peer, tl_brief(tl)))
    check(any(s["open_sockets"] == 0 for s in tl[:three[0]]),
          "no sample with 0 open sockets before they were opened: %s" % tl_brief(tl))
    check(any(s["open_sockets"] == 0 for s in tl[three[-1] + 1:]),
          "no sample with 0 open sockets after they were closed: %s" % tl_brief(tl))
    dur = rep.get("duration_ms")
    check(tl[-1]["t_ms"] <= dur + SAMPLE_MS, "last sample t_ms %r after the run's end (%r ms)"
          % (tl[-1]["t_ms"], dur))
    for s in tl:
        check(s["close_wait"] == 0 and s["orphaned_sessions"] == 0,
              "close_wait/orphaned_sessions in a clean run: %s" % s)


def test_timeline_bounded():
    # Samples are stored while the counts change: 100,000 socket()+close() and 1,000
    # connections at sample_ms=1 change them all the time, far more often than 512 times.
    ng = nginx()
    r = run([fixture("churn_memory"), str(ng.port)], {"sample_ms": 1})
    expect_fixture_ok(r)
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    tl = timeline_of(rep)
    dur = rep.get("duration_ms")
    check(0 < len(tl) <= TIMELINE_MAX, "%d timeline samples in a %s ms run at sample_ms=1, "
          "expected at most %d" % (len(tl), dur, TIMELINE_MAX))
    # (how many depends on the machine's speed and the coarse clock's tick: thinning
    # itself is proven by tests/unit/test_growth.c with explicit times)
    check(len(tl) >= 20, "only %d samples in a %s ms churning run at sample_ms=1"
          % (len(tl), dur))
    check(tl[-1]["t_ms"] >= dur / 2, "the thinned timeline stops at %d ms of a %s ms run "
          "(thinned by dropping the end?)" % (tl[-1]["t_ms"], dur))
    check(tl[0]["t_ms"] <= dur / 4, "the thinned timeline starts at %d ms of a %s ms run"
          % (tl[0]["t_ms"], dur))


def test_timeline_off():
    ng = nginx()
    r = run([fixture("lease_timeline"), str(ng.port), "200", "1"],
            {"sample_ms": 0, "dns_check_ms": 0})
    expect_fixture_ok(r)
    tl = timeline_of(only_report(r))
    check(tl == [], "sample_ms=0 but %d samples" % len(tl))


# ---------------------------------------------------------------------------
# peers and fixtures without the preload (the harness itself)


def test_harness_peers_without_preload():
    ng = nginx()
    check(http_get(ng.port).endswith(b"127.0.0.1\n") and
          http_get(ng.port, host="127.0.0.2").endswith(b"127.0.0.2\n"), "nginx answers")
    r = run([fixture("dns_resolve"), "gethostbyname_r", str(ng.port)], preload=False)
    expect_fixture_ok(r)
    r = run([fixture("dns_pool"), "localhost", str(ng.port), "3", "10", "pool", "reresolve"],
            preload=False)
    expect_fixture_ok(r)
    check(expect_all_served(r, 3) == ["127.0.0.1"] * 3, r.describe())
    r = run([fixture("lease_timeline"), str(ng.port), "10"], preload=False)
    expect_fixture_ok(r)
    r = run([fixture("lease_fork"), str(ng.port)], preload=False)
    expect_fixture_ok(r)
    check("child_status=0" in r.stdout, r.describe())
    for mode in ("return", "exit", "_exit"):
        expect_fixture_ok(run([fixture("lease_exit_fast"), mode], preload=False))
    r = run(requests_argv(ng.url("/"), 2, 0.01), preload=False)
    check(r.rc == 0 and "fails=0" in r.stdout, r.describe())
    # the namespace: svc.test switches from 127.0.0.1 to 127.0.0.2 mid-run; a
    # new connection follows, the pooled one stays
    hosts = HostsFile()
    script = os.path.join(new_dir("nsprobe"), "probe.py")
    with open(script, "w") as f:
        f.write("import socket, sys, time\n"
                "for i in range(6):\n"
                "    a = socket.getaddrinfo('%s', 80, socket.AF_INET)[0][4][0]\n"
                "    print('req=%%d served=%%s' %% (i, a), flush=True)\n"
                "    time.sleep(0.1)\n" % DNS_HOST)
    r = run_in_ns(hosts, [base.SYS_PYTHON, script], None, on_line=switch_after(hosts, 3),
                  preload=False)
    check(r.rc == 0 and expect_all_served(r, 6) == ["127.0.0.1"] * 3 + ["127.0.0.2"] * 3,
          "hosts switch in the namespace: " + r.describe())
    check(r.reports == [], "reports without the preload")
    with open("/etc/hosts") as f:
        check(DNS_HOST not in f.read(), "the bind mount leaked out of the namespace")
    hosts = HostsFile()
    argv = [fixture("dns_pool"), DNS_HOST, str(ng.port), "8", "100", "pool"]
    r = run_in_ns(hosts, argv, None, on_line=switch_after(hosts, 3), preload=False)
    expect_fixture_ok(r)
    check(expect_all_served(r, 8) == ["127.0.0.1"] * 8, "pooled: " + r.describe())
    r = run_in_ns(hosts, requests_argv("http://%s:%d/" % (DNS_HOST, ng.port), 3, 0.01), None,
                  preload=False)
    check(r.rc == 0 and expect_all_served(r, 3) == ["127.0.0.2"] * 3, "requests: " + r.describe())
    t0 = time.monotonic()
    r = run([base.CURL, "-s", "-o", "/dev/null", "-w", "%{size_download}", ng.url("/big.bin")],
            preload=False)
    took = time.monotonic() - t0
    check(r.rc == 0 and r.stdout == str(BIG_SIZE) and took > 1.2,
          "big download took %.2f s: %s" % (took, r.describe()))


# ---------------------------------------------------------------------------


def main():
    return base.run_suite(globals(), "connleak-lease.", build_lease_fixtures, _nginx.stop)


if __name__ == "__main__":
    sys.exit(main())
