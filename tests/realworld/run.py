#!/usr/bin/env python3
"""connleak real-world corpus (`make realworld`): real programs from Debian packages
against real peers on loopback, each run bare and preloaded, with the findings expected
of each written down here (usually none).

Prints one table row per program: exit status bare / preloaded, the findings of every
report the preloaded run wrote (kind x count, summed over its processes), and what was
expected; exits 1 on any difference (exit status, findings, or for CPython's suites the
number of tests run/failed/skipped). Standard library only, plus the helpers of
tests/integration.

Also git over smart HTTP (git http-backend behind tests/realworld/cgi_server.py), pgbench
against a PostgreSQL cluster made for the run (and that server preloaded), scp and sftp
against a private sshd (these two need root, as CI runs). Left out (too slow for the CI
budget): the full CPython suites (the named modules only).
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import run as base  # noqa: E402  (tests/integration/run.py)
import run_tls as tls  # noqa: E402
from run import TestFailure, check, fixture, new_dir, clean_env, preload_env  # noqa: E402

CURL, WGET, AB, WRK = "/usr/bin/curl", "/usr/bin/wget", "/usr/bin/ab", "/usr/bin/wrk"
JAVA, NODE = "/usr/bin/java", "/usr/bin/node"
REDIS_SERVER, REDIS_BENCH, MEMCACHED = ("/usr/bin/redis-server", "/usr/bin/redis-benchmark",
                                        "/usr/bin/memcached")
SYS_PYTHON = "/usr/bin/python3"
SLOW = 240  # seconds: the CPython suites under the preload


def counts(reports):
    """{kind: instances} over every report."""
    c = {}
    for rep in reports:
        for f in rep.get("findings", []):
            c[f["kind"]] = c.get(f["kind"], 0) + f.get("count", 1)
    return c


def fmt(c):
    return ", ".join("%s x%d" % (k, n) for k, n in sorted(c.items())) or "none"


class Row:
    def __init__(self, program, expected):
        self.program = program
        self.expected = expected
        self.rc_bare = self.rc_pre = None
        self.found = {}
        self.problems = []
        self.detail = []

    @property
    def ok(self):
        return not self.problems and self.found == self.expected


ROWS = []


def case(program, expected=None):
    """Decorator: a corpus entry; the function fills the row."""
    def wrap(fn):
        fn.program = program
        fn.expected = expected or {}
        CASES.append(fn)
        return fn
    return wrap


CASES = []


def both(row, argv, opts=None, env=None, timeout=base.TIMEOUT, same_output=None):
    """Runs argv bare then preloaded; records exit statuses and the preloaded findings.
    Returns (bare, preloaded) Results."""
    bare = base.run(argv, preload=False, env=env, timeout=timeout)
    pre = base.run(argv, opts or {}, env=env, timeout=timeout)
    row.rc_bare, row.rc_pre = bare.rc, pre.rc
    if bare.rc != pre.rc:
        row.problems.append("exit %r bare, %r preloaded: %s" % (bare.rc, pre.rc,
                                                                pre.stderr[-400:]))
    if same_output and same_output(bare) != same_output(pre):
        row.problems.append("output differs: %r / %r" % (same_output(bare),
                                                         same_output(pre)))
    if not pre.reports:
        row.problems.append("the preloaded run wrote no report")
    add(row, pre.reports)
    return bare, pre


def add(row, reports):
    for k, n in counts(reports).items():
        row.found[k] = row.found.get(k, 0) + n
    for rep in reports:
        for f in rep.get("findings", []):
            row.detail.append("%s[%d]: %s" % (os.path.basename(rep["exe"]), rep["pid"],
                                              f.get("message")))


# ---------------------------------------------------------------------------
# peers

_peers = {}


def peer(name, make):
    if name not in _peers:
        _peers[name] = make().start()
    return _peers[name]


def nginx():
    return peer("nginx", base.Nginx)


def nginx_tls():
    return peer("nginx_tls", tls.NginxTls)


def tinyproxy():
    return peer("tinyproxy", lambda: tls.Tinyproxy(nginx_tls().port))


class Redis(base.Peer):
    NAME = TAG = "redis"

    def configure(self):
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.prefix]

    def ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")


class Memcached(base.Peer):
    NAME = TAG = "memcached"

    def configure(self):
        argv = [MEMCACHED, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"]
        return argv + (["-u", "root"] if os.geteuid() == 0 else [])

    def ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"version\r\n")
            return s.recv(64).startswith(b"VERSION")


def stop_all():
    for p in _peers.values():
        p.stop()
    _peers.clear()


# ---------------------------------------------------------------------------
# clients


@case("curl keep-alive (5 URLs, one handle)")
def c_curl(row):
    ng = nginx()
    both(row, [CURL, "-sS"] + [ng.url("/u%d" % i) for i in range(5)],
         same_output=lambda r: r.stdout)


@case("curl HTTPS keep-alive")
def c_curl_tls(row):
    ng = nginx_tls()
    url = "https://127.0.0.1:%d/" % ng.port
    both(row, [CURL, "-sSk", url, url, url], same_output=lambda r: r.stdout)


@case("curl HTTPS through tinyproxy CONNECT")
def c_curl_proxy(row):
    ng, tp = nginx_tls(), tinyproxy()
    url = "https://127.0.0.1:%d/" % ng.port
    both(row, [CURL, "-sSk", "-p", "-x", "http://" + tp.addr, url, url],
         env={"https_proxy": "", "no_proxy": ""}, same_output=lambda r: r.stdout)


@case("wget HTTPS, 3 URLs")
def c_wget(row):
    ng = nginx_tls()
    urls = ["https://127.0.0.1:%d/w%d" % (ng.port, i) for i in range(3)]
    both(row, [WGET, "-q", "--no-check-certificate", "-O", "/dev/null"] + urls)


@case("python3 requests Session")
def c_requests(row):
    ng = nginx()
    script = ("import requests\n"
              "with requests.Session() as s:\n"
              "    for i in range(5):\n"
              "        assert s.get(%r).text == 'hello\\n'\n" % ng.url("/"))
    both(row, [SYS_PYTHON, "-c", script])


def ab_ok(r):
    return bool(re.search(r"Failed requests:\s+0", r.stdout))


@case("ab -k HTTP")
def c_ab(row):
    both(row, [AB, "-q", "-k", "-n", "1000", "-c", "4", nginx().url("/")], same_output=ab_ok)


@case("ab -k HTTPS")
def c_ab_tls(row):
    both(row, [AB, "-q", "-k", "-n", "300", "-c", "4",
               "https://127.0.0.1:%d/" % nginx_tls().port], same_output=ab_ok)


@case("wrk -t2 -c20 -d1s")
def c_wrk(row):
    both(row, [WRK, "-t2", "-c20", "-d1s", nginx().url("/")],
         same_output=lambda r: "requests in" in r.stdout)


JAVA_HTTPCLIENT = """
import java.net.URI;
import java.net.http.*;
public class Main {
    public static void main(String[] a) throws Exception {
        HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create(a[0])).build(),
                                            HttpResponse.BodyHandlers.ofString());
            if (!r.body().equals("hello\\n")) throw new RuntimeException(r.body());
        }
        System.out.println("ok");
    }
}
"""

JAVA_URLCONNECTION = """
import java.io.*;
import java.net.*;
public class Main {
    public static void main(String[] a) throws Exception {
        for (int i = 0; i < 5; i++) {
            HttpURLConnection c = (HttpURLConnection) new URL(a[0]).openConnection();
            try (InputStream in = c.getInputStream()) {
                if (!new String(in.readAllBytes()).equals("hello\\n")) throw new RuntimeException();
            }
        }
        System.out.println("ok");
    }
}
"""


def java(row, source):
    d = new_dir("java")
    path = os.path.join(d, "Main.java")
    with open(path, "w") as f:
        f.write(source)
    both(row, [JAVA, "-Xshare:auto", "-XX:TieredStopAtLevel=1", path, nginx().url("/")],
         timeout=120, same_output=lambda r: r.stdout)


@case("java HttpClient (java File.java)")
def c_java_httpclient(row):
    java(row, JAVA_HTTPCLIENT)


@case("java HttpURLConnection (java File.java)")
def c_java_urlconnection(row):
    java(row, JAVA_URLCONNECTION)


NODE_AGENT = """
const http = require('http');
const agent = new http.Agent({keepAlive: true, maxSockets: 2});
let left = 6;
function one() {
  http.get(process.argv[1], {agent}, res => {  // node -e: argv[1] is the first argument
    let body = '';
    res.on('data', d => body += d);
    res.on('end', () => {
      if (body !== 'hello\\n') throw new Error(body);
      if (--left === 0) { agent.destroy(); console.log('ok'); } else one();
    });
  });
}
one();
"""


@case("node http.Agent keep-alive")
def c_node(row):
    both(row, [NODE, "-e", NODE_AGENT, nginx().url("/")], same_output=lambda r: r.stdout)


@case("redis-benchmark -c 10 against redis-server")
def c_redis_bench(row):
    rd = peer("redis", Redis)
    both(row, [REDIS_BENCH, "-p", str(rd.port), "-n", "2000", "-c", "10", "-q", "-t", "set,get"],
         same_output=lambda r: r.rc)


MEMCACHED_CLIENT = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
for i in range(20):
    s.sendall(b"set k%d 0 0 1\r\nx\r\n" % i)
    assert f.readline() == b"STORED\r\n"
    s.sendall(b"get k%d\r\n" % i)
    while f.readline() != b"END\r\n":
        pass
s.sendall(b"quit\r\n")   # memcached answers by closing
assert f.read() == b""
s.close()
print("ok")
"""


@case("python3 memcached client, ends with quit")
def c_memcached_quit(row):
    mc = peer("memcached", Memcached)
    both(row, [SYS_PYTHON, "-c", MEMCACHED_CLIENT, str(mc.port)], same_output=lambda r: r.stdout)


KEEPALIVE_TIMEOUT_RACE = r"""
import http.client, select, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", "/"); r = c.getresponse(); r.read()
t = time.monotonic()
# nginx's keepalive_timeout closes the idle connection: wait for its FIN (bounded)
select.select([c.sock], [], [], 20)
time.sleep(max(0.0, 1.2 - (time.monotonic() - t)))  # longer than keepalive_idle_ms
try:
    c.request("GET", "/"); c.getresponse().read()
    print("answered")
except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
    print("race", type(e).__name__)
c.close()
"""

NGINX_SHORT_KEEPALIVE = base.NGINX_CONF.replace("keepalive_timeout 30;", "keepalive_timeout 300ms;")


class NginxShortKeepalive(base.Nginx):
    TAG = "nginx-short"
    CONF = NGINX_SHORT_KEEPALIVE


@case("python3 http.client vs nginx keepalive_timeout (true race)", {"keepalive-race": 1})
def c_keepalive_race(row):
    ng = peer("nginx_short", NginxShortKeepalive)
    both(row, [SYS_PYTHON, "-c", KEEPALIVE_TIMEOUT_RACE, str(ng.port)],
         same_output=lambda r: r.stdout.split()[:1])


@case("leak fixture: a socket leaked per request (true leak)", {"leaked-socket": 1})
def c_leak(row):
    both(row, [fixture("leak"), str(nginx().port)], same_output=lambda r: r.rc)


# ---------------------------------------------------------------------------
# servers preloaded


def preloaded_server(row, make, drive, shared_reports=False):
    """Starts a server preloaded (reports in a fresh dir), drives it with bare clients,
    stops it, and adds the findings of every report it wrote. `shared_reports`: the
    server runs as another user (postgres started as root), who must write there too."""
    reports = new_dir("reports")
    if shared_reports:
        os.chmod(reports, 0o1777)
    srv = make(preload_env({"report_dir": reports}))
    srv.start()
    try:
        drive(srv)
    finally:
        status = srv.stop()
    row.rc_bare = "-"
    row.rc_pre = status
    if status is None:
        row.problems.append("did not stop")
    reps = base.load_reports(reports)
    if not reps:
        row.problems.append("the preloaded server wrote no report")
    add(row, reps)


@case("nginx preloaded, under ab -k")
def s_nginx(row):
    def drive(srv):
        r = base.run([AB, "-q", "-k", "-n", "1000", "-c", "8", srv.url("/")], preload=False)
        check(ab_ok(r), "ab: " + r.stdout[-300:])
    preloaded_server(row, lambda env: base.Nginx(env=env), drive)


@case("tinyproxy preloaded, relaying TLS tunnels (curl -p)")
def s_tinyproxy(row):
    ng = nginx_tls()

    def drive(srv):
        url = "https://127.0.0.1:%d/" % ng.port
        for _ in range(3):
            r = base.run([CURL, "-sSk", "-p", "-x", "http://" + srv.addr, url, url],
                         preload=False)
            check(r.rc == 0 and r.stdout == "hello\n" * 2, "curl: " + r.describe())

    def make(env):
        t = tls.Tinyproxy(ng.port)
        t.env = env
        return t
    preloaded_server(row, make, drive)


@case("redis-server preloaded, under redis-benchmark")
def s_redis(row):
    def drive(srv):
        r = base.run([REDIS_BENCH, "-p", str(srv.port), "-n", "2000", "-c", "10", "-q",
                      "-t", "set,get"], preload=False)
        check(r.rc == 0, "redis-benchmark: " + r.describe())
    preloaded_server(row, lambda env: Redis(env=env), drive)


@case("memcached preloaded, clients ending with quit")
def s_memcached(row):
    def drive(srv):
        for _ in range(3):
            r = base.run([SYS_PYTHON, "-c", MEMCACHED_CLIENT, str(srv.port)], preload=False)
            check(r.stdout == "ok\n", "client: " + r.describe())
    preloaded_server(row, lambda env: Memcached(env=env), drive)


# ---------------------------------------------------------------------------
# git over smart HTTP, PostgreSQL, OpenSSH: each peer made for the run on loopback

GIT = "/usr/bin/git"
SSHD, SCP, SFTP = "/usr/sbin/sshd", "/usr/bin/scp", "/usr/bin/sftp"


def need(*paths):
    missing = [p for p in paths if not os.path.exists(p)]
    check(not missing, "missing %s (scripts/deps.sh installs them)" % ", ".join(missing))


def pg_bin(name):
    """A program of Debian's PostgreSQL server (postgresql-NN), the newest installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    check(found, "no /usr/lib/postgresql/*/bin/%s (Debian: postgresql)" % name)
    return found[-1]


class GitHttp(base.Peer):
    """A bare repository with two commits, served by `git http-backend` (push enabled)
    behind a keep-alive HTTP/1.1 CGI server."""
    NAME = TAG = "git-http"

    def prepare(self):
        need(GIT)
        self.root = new_dir("git")
        repo = os.path.join(self.root, "repo.git")
        seed = os.path.join(self.root, "seed")
        ident = ["-c", "user.name=corpus", "-c", "user.email=corpus@localhost"]
        for argv in ([GIT, "init", "-q", "--bare", repo],
                     [GIT, "-C", repo, "config", "http.receivepack", "true"],
                     [GIT, "-C", repo, "symbolic-ref", "HEAD", "refs/heads/main"],
                     [GIT, "init", "-q", seed],
                     [GIT, "-C", seed] + ident + ["commit", "-q", "--allow-empty", "-m", "one"],
                     [GIT, "-C", seed] + ident + ["commit", "-q", "--allow-empty", "-m", "two"],
                     [GIT, "-C", seed, "push", "-q", repo, "HEAD:refs/heads/main"]):
            subprocess.run(argv, check=True, capture_output=True, timeout=60)
        self.env = dict(self.env, GIT_PROJECT_ROOT=self.root, GIT_HTTP_EXPORT_ALL="1")

    def configure(self):
        return [SYS_PYTHON, os.path.join(HERE, "cgi_server.py"), str(self.port), GIT,
                "http-backend"]

    def ready(self):
        return "listening" in self.log_text()

    def url(self):
        return "http://127.0.0.1:%d/repo.git" % self.port


# clone, commit, push, fetch, ls-remote: each its own git process, git-remote-http the
# one that speaks HTTP (libcurl, a connection kept alive across a command's requests)
GIT_CLIENT = r"""
set -e
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
git clone -q "$1" "$w/c"
cd "$w/c"
echo "$$" > "f$$"
git add "f$$"
git -c user.name=corpus -c user.email=corpus@localhost commit -q -m "from $$"
git push -q origin HEAD:main
git fetch -q origin
git ls-remote "$1" refs/heads/main | cut -c41-
"""


@case("git clone/push/fetch over smart HTTP (git http-backend)")
def c_git_http(row):
    srv = peer("git_http", GitHttp)
    both(row, ["/bin/sh", "-c", GIT_CLIENT, "sh", srv.url()], same_output=lambda r: r.stdout)


class Postgres(base.Peer):
    """A PostgreSQL cluster made for the run (initdb, trust on loopback TCP only, fsync
    off), pgbench's tables in it. As root the server runs as user postgres: it refuses
    to run as root."""
    NAME = TAG = "postgres"
    STOP_SIGNAL = signal.SIGINT  # "fast" shutdown: ends the sessions, checkpoints, exits

    def prepare(self):
        # setpriv execs the server (runuser would stay its parent and keep the stop signal)
        self.as_user = (["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                         "--"] if os.geteuid() == 0 else [])
        d = new_dir("pgdata")
        self.data = os.path.join(d, "data")
        if self.as_user:
            shutil.chown(d, "postgres")
        r = subprocess.run(self.as_user + [pg_bin("initdb"), "-D", self.data, "-N", "-A",
                                           "trust", "-U", "postgres"],
                           capture_output=True, text=True, env=clean_env(), timeout=120)
        check(r.returncode == 0, "initdb: " + (r.stdout + r.stderr)[-600:])
        self.ready_once = False

    def configure(self):
        return self.as_user + [pg_bin("postgres"), "-D", self.data, "-h", "127.0.0.1", "-p",
                               str(self.port), "-c", "unix_socket_directories=", "-F"]

    def ready(self):
        if not self.ready_once and "ready to accept connections" in self.log_text():
            r = base.run(self.pgbench("-i", "-q", "-s", "1"), preload=False)
            check(r.rc == 0, "pgbench -i: " + r.describe())
            self.ready_once = True
        return self.ready_once

    def pgbench(self, *args):
        return [pg_bin("pgbench"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                "-n"] + list(args) + ["postgres"]


def pgbench_ok(r):
    return r.rc == 0 and "number of failed transactions: 0" in r.stdout


@case("pgbench -c 4 -j 2 against PostgreSQL")
def c_pgbench(row):
    pg = peer("postgres", Postgres)
    both(row, pg.pgbench("-c", "4", "-j", "2", "-t", "100"), same_output=pgbench_ok)


@case("PostgreSQL preloaded, under pgbench (kept and per-transaction connections)")
def s_postgres(row):
    def drive(srv):
        for args in (("-c", "4", "-j", "2", "-t", "100"), ("-C", "-c", "2", "-t", "20")):
            r = base.run(srv.pgbench(*args), preload=False)
            check(pgbench_ok(r), "pgbench: " + r.describe())
    preloaded_server(row, lambda env: Postgres(env=env), drive, shared_reports=True)


SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile none
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""


class Sshd(base.Peer):
    """A private sshd: its own host key, one client key, root's login by key only."""
    NAME = TAG = "sshd"

    def prepare(self):
        need(SSHD, SCP, SFTP)
        check(os.geteuid() == 0, "sshd needs root (CI runs as root)")
        self.keys = new_dir("sshkeys")
        os.chmod(self.keys, 0o755)
        for name in ("host_key", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                            os.path.join(self.keys, name)], check=True, timeout=60)
        shutil.copy(os.path.join(self.keys, "id.pub"), os.path.join(self.keys, "authorized_keys"))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation's chroot

    def configure(self):
        conf = os.path.join(self.prefix, "sshd_config")
        with open(conf, "w") as f:
            f.write(SSHD_CONFIG.format(port=self.port, d=self.keys))
        return [SSHD, "-D", "-e", "-f", conf]

    def ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            return s.recv(8).startswith(b"SSH-")

    def client_opts(self):
        return ["-F", "/dev/null", "-i", os.path.join(self.keys, "id"), "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def ssh_files(n=200000):
    d = new_dir("sshfiles")
    os.chmod(d, 0o755)
    src = os.path.join(d, "src")
    with open(src, "wb") as f:
        f.write(os.urandom(n))
    return d, src


def same_file(row, a, b):
    with open(a, "rb") as x, open(b, "rb") as y:
        if x.read() != y.read():
            row.problems.append("%s differs from %s" % (b, a))


# scp in SFTP mode (OpenSSH 9's default) runs ssh on one end of a socketpair and closes
# its own end twice (close(*in); close(*out) of the same descriptor): a true double close.
@case("scp upload to sshd (SFTP mode)", {"double-close": 1})
def c_scp(row):
    sd = peer("sshd", Sshd)
    d, src = ssh_files()
    dst = os.path.join(d, "dst")
    both(row, [SCP] + sd.client_opts() + ["-P", str(sd.port), src, "root@127.0.0.1:" + dst])
    same_file(row, src, dst)


# sftp has the same double close twice over, in the parent (close(c_in); close(c_out))
# and in the forked child before it execs ssh (close(*in); close(*out)): 2 x 2, true.
@case("sftp -b put/get/ls against sshd", {"double-close": 4})
def c_sftp(row):
    sd = peer("sshd", Sshd)
    d, src = ssh_files()
    batch = os.path.join(d, "batch")
    with open(batch, "w") as f:
        f.write("put %s %s/up\nget %s/up %s/down\nls %s\n" % (src, d, d, d, d))
    both(row, [SFTP] + sd.client_opts() + ["-P", str(sd.port), "-b", batch, "root@127.0.0.1"])
    same_file(row, src, os.path.join(d, "down"))


# ---------------------------------------------------------------------------
# CPython's own suites, the interpreter preloaded


def cpython():
    """An interpreter with the test package: Debian's with libpython3.11-testsuite, else
    the python3 on PATH."""
    for py in (SYS_PYTHON, shutil.which("python3")):
        if py and subprocess.run([py, "-c", "import test.test_socket"],
                                 capture_output=True).returncode == 0:
            return py
    raise TestFailure("no python3 with the test package (Debian: libpython3.11-testsuite)")


def unittest_counts(r):
    out = r.stdout + r.stderr
    ran = re.search(r"^Ran (\d+) tests?", out, re.M)
    tail = re.search(r"^(OK|FAILED)(?: \((.*)\))?$", out, re.M)
    return (ran.group(1) if ran else None, tail.group(0) if tail else None)


def cpython_suite(module, expected=None, extra=()):
    """regrtest (not plain unittest: its resources stay off, so nothing reaches past
    loopback) in verbose mode, for unittest's "Ran N tests" / "OK (skipped=M)"."""
    @case("CPython " + module, expected)
    def fn(row):
        py = cpython()
        bare, pre = both(row, [py, "-m", "test", "-v", module] + list(extra), timeout=SLOW,
                         env={"PYTHONDONTWRITEBYTECODE": "1"})
        b, p = unittest_counts(bare), unittest_counts(pre)
        row.note = "%s / %s" % (b[0], p[0])
        if b != p or b[0] is None:
            row.problems.append("unittest bare %s, preloaded %s" % (b, p))
    return fn


# The findings of each suite, each checked to be true (see the comment beside it).
cpython_suite("test_socket", {
    # GeneralModuleTests close a socket's descriptor behind the socket object's back and
    # let it close again (EBADF expected by the tests): two true double closes
    "double-close": 2,
}, extra=["-i", "*VSOCK*"])  # AF_VSOCK tests hang in containers without vsock
cpython_suite("test_httplib")
# test__rest_from_mail_cmd: its server answers MAIL with 451 and hangs up one loop turn
# later, so now and then it reads the client's RSET first and closes without a reply, as a
# keep-alive disconnect does; the 451 before the RSET tells them apart (keepalive.h).
cpython_suite("test_smtplib")
cpython_suite("test_asyncio.test_sslproto")
cpython_suite("test_asyncio.test_ssl")
cpython_suite("test_ssl", {
    # one test does I/O on a descriptor whose socket it had closed; the call fails with
    # EBADF: a true stale-fd-use (no TLS session involved)
    "stale-fd-use": 1,
})
# The keep-alive disconnect test: the server reads the second request on the reused
# connection and closes without a reply; xmlrpc retries. The true race, found.
cpython_suite("test_xmlrpc", {"keepalive-race": 1}, extra=["-m", "test_keepalive_disconnect"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="pattern", action="append", default=[])
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", action="store_true", help="print every finding's message")
    args = ap.parse_args()
    base.KEEP = args.keep
    base.SESSION_DIR = tempfile.mkdtemp(prefix="connleak-rw.")
    os.chmod(base.SESSION_DIR, 0o755)
    base.build_fixtures(base.fixture_targets("leak.c"))
    rows = []
    t0 = time.monotonic()
    try:
        for fn in CASES:
            if args.pattern and not any(p in fn.program for p in args.pattern):
                continue
            row = Row(fn.program, fn.expected)
            row.note = ""
            t = time.monotonic()
            try:
                fn(row)
            except TestFailure as e:
                row.problems.append(str(e)[:600])
            except Exception as e:  # a broken case is a failure, with its reason
                row.problems.append("error: %r" % e)
            row.secs = time.monotonic() - t
            rows.append(row)
            mark = "ok  " if row.ok else "FAIL"
            print("%s %-55s exit %s/%s  found: %-30s expected: %-22s %5.1fs %s" % (
                mark, row.program, row.rc_bare, row.rc_pre, fmt(row.found), fmt(row.expected),
                row.secs, row.note), flush=True)
            if not row.ok or args.v:
                for p in row.problems:
                    print("     problem: %s" % p)
                for d in row.detail[:20]:
                    print("     finding: %s" % d)
    finally:
        stop_all()
        tls._nginx_stop_all() if hasattr(tls, "_nginx_stop_all") else None
        if not args.keep:
            shutil.rmtree(base.SESSION_DIR, ignore_errors=True)
    bad = [r for r in rows if not r.ok]
    print("%d programs, %d as expected, %d differ (%.0f s)" % (len(rows), len(rows) - len(bad),
                                                              len(bad), time.monotonic() - t0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
