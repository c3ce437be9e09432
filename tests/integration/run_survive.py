#!/usr/bin/env python3
"""connleak integration tests for reports that survive how processes really end
(issue 9) and for what connleak must never change in the host (issue 8, items
3-6): fatal signals, snapshots, concurrent exits, the descriptor limit, a full
disk, seccomp sandboxes, stderr that is a socket or a pipe without reader,
log_path safety.  Real programs (python3 http.server, curl, C fixtures) run bare
and preloaded; exit status and output must be the same.

    tests/integration/run_survive.py              run everything
    tests/integration/run_survive.py -k signal    run the tests whose name contains "signal"
    tests/integration/run_survive.py --keep       keep the temporary directories
    tests/integration/run_survive.py --list       list the test names

Shares its helpers with run.py.  Prints "PASS name" or "FAIL name: reason" per
test, then exactly "N passed, N failed"; exits 1 when any test failed.
"""

import glob
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
from run import (TestFailure, check, kv, summary, findings_of, kinds,  # noqa: E402
                 expect_fixture_ok, only_report, report_for_pid, load_reports,
                 new_dir, run, free_port, preload_env, clean_env, fixture, TIMEOUT)

SYS_PYTHON = base.SYS_PYTHON
CURL = base.CURL
THREAD_EXIT_RUNS = 20
SNAPSHOT_MS = 200
WAIT_S = 20  # bound of every wait for a condition (never a timing assertion)


def build_survive_fixtures():
    base.build_fixtures(base.fixture_targets(
        "sig_server.c", "crash_segv.c", "hold.c", "exhaust_hold.c", "mt_exit.c", "sandbox.c", "tls_stale_sigpipe.c",
        "churn_forever.c"))


def options(report_dir, **extra):
    o = {"report_dir": report_dir}
    o.update(extra)
    return base.options_string(o)


def wait_until(cond, what, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise TestFailure("timed out waiting for " + what)


RUNNING = []  # every Service started: the suite kills what a failed test left running


def kill_leftovers():
    for p in RUNNING:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


class Service:
    """A long-running program under test, started bare or preloaded, stopped by a
    signal; its exit status and output are compared between the two runs."""

    def __init__(self, argv, preload, opts=None, port=None):
        self.report_dir = new_dir("reports") if preload else None
        env = preload_env(opts or options(self.report_dir)) if preload else clean_env()
        self.out_path = os.path.join(new_dir("out"), "out")
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=new_dir("cwd"),
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.PIPE, start_new_session=True)
        RUNNING.append(self.proc)
        self.port = port

    def describe(self):
        return "rc=%r stdout=%r stderr=%r reports=%r" % (
            self.proc.returncode, self.stdout()[-300:], getattr(self, "stderr", "")[-800:],
            [os.path.basename(r["_path"]) for r in getattr(self, "reports", [])])

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_line(self, key):
        return wait_until(lambda: kv(self.stdout()).get(key) or self.dead(), "%s= on stdout" % key)

    def dead(self):
        if self.proc.poll() is not None:
            raise TestFailure("program ended early (rc %r): %s %s" % (
                self.proc.returncode, self.stdout()[-500:], self.proc.stderr.read()[-1500:]))
        return None

    def wait_port(self):
        def up():
            self.dead()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, "port %d to accept" % self.port)

    def curl(self, n=3):
        for _ in range(n):
            p = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "http://127.0.0.1:%d/" % self.port], env=clean_env(),
                               capture_output=True, text=True, timeout=TIMEOUT)
            check(p.returncode == 0 and p.stdout == "200", "curl: %r %r" % (p.stdout, p.stderr))

    def stop(self, sig):
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise TestFailure("did not end after %s" % signal.Signals(sig).name)
        self.out.close()
        self.stderr = err.decode(errors="replace")
        self.reports = load_reports(self.report_dir) if self.report_dir else []
        return self.proc.returncode


def check_ended(rep, by, **kw):
    ended = rep.get("ended")
    check(isinstance(ended, dict) and ended.get("by") == by and
          all(ended.get(k) == v for k, v in kw.items()),
          "ended %r, expected by=%s %r" % (ended, by, kw))


def python_server_stopped_by(sig):
    rcs = []
    for preload in (False, True):
        port = free_port()
        s = Service([SYS_PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"], preload,
                    port=port)
        s.wait_port()
        s.curl()
        rcs.append(s.stop(sig))
    check(rcs[0] == rcs[1], "exit status bare %r, preloaded %r" % tuple(rcs))
    mine = [r for r in s.reports if r["pid"] == s.proc.pid]
    check(len(mine) == 1, "expected one report of pid %d, have %s"
          % (s.proc.pid, [os.path.basename(r["_path"]) for r in s.reports]))
    rep = mine[0]
    check(rep.get("complete") is True, "complete %r" % rep.get("complete"))
    check(rep["stats"]["sockets_accepted"] >= 3, "accepted %r" % rep["stats"])
    return rcs[0], rep


def test_sigterm_python_http_server():
    rc, rep = python_server_stopped_by(signal.SIGTERM)
    check(rc == -signal.SIGTERM, "rc %r" % rc)
    check_ended(rep, "signal", signal="SIGTERM")


def test_sigint_python_http_server():
    # python turns SIGINT into KeyboardInterrupt and exits through exit()
    rc, rep = python_server_stopped_by(signal.SIGINT)
    check(rc == 0, "rc %r" % rc)
    check_ended(rep, "exit", status=0)


def c_server_stopped_by(sig):
    rcs = []
    for preload in (False, True):
        s = Service([fixture("sig_server")], preload)
        s.port = int(s.wait_line("port"))
        s.curl()
        rcs.append(s.stop(sig))
    check(rcs[0] == rcs[1] == -sig, "exit status bare %r, preloaded %r" % tuple(rcs))
    rep = only_report(s)
    check(rep.get("complete") is True, "complete %r" % rep.get("complete"))
    check_ended(rep, "signal", signal=signal.Signals(sig).name)
    leaks = findings_of(rep, "leaked-socket")
    check(len(leaks) == 1 and leaks[0]["socket"]["origin"] == "accept",
          "expected the kept connection as leaked-socket: " + summary(rep))
    check(s.stderr.count("SUMMARY: connleak") == 1, "text report: %r" % s.stderr[-800:])


def test_sigterm_c_server():
    c_server_stopped_by(signal.SIGTERM)


def test_sigint_c_server():
    c_server_stopped_by(signal.SIGINT)


def crash(mode, sig):
    bare = run([fixture("crash_segv"), mode], preload=False)
    r = run([fixture("crash_segv"), mode])
    check(bare.rc == r.rc == -sig, "rc bare %r preloaded %r: %s" % (bare.rc, r.rc, r.describe()))
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check_ended(rep, "signal", signal=signal.Signals(sig).name)
    check(kinds(rep) == ["leaked-socket"], summary(rep))
    funcs = [fr.get("function") for fr in rep["findings"][0]["stacks"]["created"]]
    check("leak_connection" in funcs, "created stack %r" % funcs)


def test_sigsegv_report_and_status():
    crash("segv", signal.SIGSEGV)


def test_stack_overflow_report_and_status():
    crash("overflow", signal.SIGSEGV)


def test_sigabrt_report_and_status():
    crash("abort", signal.SIGABRT)


def test_program_handler_keeps_control():
    # python asks for the current SIGTERM action at start (sigaction with oldact):
    # it must see SIG_DFL, as bare; its own handler then runs and decides the status.
    script = ("import signal, os, sys\n"
              "print('before=%s' % (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL))\n"
              "signal.signal(signal.SIGTERM, lambda s, f: sys.exit(7))\n"
              "os.kill(os.getpid(), signal.SIGTERM)\n"
              "print('not reached')\n")
    bare = run([SYS_PYTHON, "-c", script], preload=False)
    r = run([SYS_PYTHON, "-c", script])
    check(bare.rc == r.rc == 7 and bare.stdout == r.stdout == "before=True\n",
          "bare %s / preloaded %s" % (bare.describe(), r.describe()))
    check_ended(only_report(r), "exit", status=7)


def test_threads_exit_at_once():
    for i in range(THREAD_EXIT_RUNS):
        mode = "mixed" if i % 2 else "exit"
        d = new_dir("mt")
        r = run([fixture("mt_exit"), mode], {"log_path": os.path.join(d, "log")})
        check(r.rc == 0, "run %d (%s): %s" % (i, mode, r.describe()))
        files = os.listdir(r.report_dir)
        check(len(files) == 1 and len(r.reports) == 1,
              "run %d (%s): files %r" % (i, mode, files))
        rep = r.reports[0]
        check(rep.get("complete") is True and rep["ended"]["by"] in ("exit", "_exit"),
              "run %d: %r %r" % (i, rep.get("complete"), rep.get("ended")))
        check(len(findings_of(rep, "leaked-socket")) >= 1, summary(rep))


def test_exit_at_descriptor_limit():
    for mode in ("exit", "_exit"):
        bare = run([fixture("exhaust_hold"), "1024", mode], preload=False)
        expect_fixture_ok(bare)
        r = run([fixture("exhaust_hold"), "1024", mode])
        expect_fixture_ok(r)
        b, p = kv(bare.stdout), kv(r.stdout)
        check(b["opened"] == p["opened"] and b["first"] == p["first"],
              "%s: descriptors bare %s, preloaded %s" % (mode, bare.stdout, r.stdout))
        rep = report_for_pid(r, p["pid"])
        check("fd-exhaustion" in kinds(rep), summary(rep))
        check(len(findings_of(rep, "leaked-socket")) >= 1, summary(rep))
        check_ended(rep, "exit" if mode == "exit" else "_exit", status=0)
        check("SUMMARY: connleak" in r.stderr, "text report on stderr: %r" % r.stderr[-500:])
    # the text report to a log file needs a descriptor too
    log = os.path.join(new_dir("log"), "text")
    r = run([fixture("exhaust_hold"), "1024", "exit"], {"log_path": log})
    expect_fixture_ok(r)
    with open(log) as f:
        text = f.read()
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check("SUMMARY: connleak" in text and rep.get("text_report") == {"to": "log_path",
                                                                      "skipped": None},
          "log %r, text_report %r, stderr %r" % (text[-300:], rep.get("text_report"), r.stderr))


def read_reports(d):
    try:
        return load_reports(d)
    except (TestFailure, OSError):
        return []


def snapshot_of(d, pid, pred=lambda rep: True):
    reps = [r for r in read_reports(d) if r["pid"] == pid and r.get("snapshot") and pred(r)]
    return reps[0] if reps else None


def test_snapshot_survives_sigkill():
    d = new_dir("reports")
    # The pool is in use: its connections are held (open-at-exit), shown on request.
    s = Service([fixture("hold"), "3"], True,
                opts=options(d, snapshot_ms=SNAPSHOT_MS, show_open_at_exit=1))
    s.report_dir = d
    pid = int(s.wait_line("pid"))
    wait_until(lambda: "ready" in s.stdout() or s.dead(), "ready")
    # a snapshot taken after the pool was opened (3 client + 3 accepted connections)
    rep = wait_until(lambda: snapshot_of(
        d, pid, lambda r: sum(f["count"] for f in findings_of(r, "leaked-socket") +
                              findings_of(r, "open-at-exit")) >= 6) or
        s.dead(),
        "a snapshot with the pool's connections")
    s.proc.kill()
    s.proc.communicate(timeout=TIMEOUT)
    check(s.proc.returncode == -signal.SIGKILL, "rc %r" % s.proc.returncode)
    files = [f for f in os.listdir(d)]
    check(len(files) == 1 and files[0].endswith(".json"),
          "files after SIGKILL: %r (no temporary file may stay)" % files)
    rep = load_reports(d)[0]
    check(rep.get("complete") is False and rep.get("ended") is None and
          rep["snapshot"]["seq"] >= 1 and type(rep["snapshot"]["t_ms"]) is int,
          "snapshot fields: complete %r ended %r snapshot %r"
          % (rep.get("complete"), rep.get("ended"), rep.get("snapshot")))
    created = [f for f in findings_of(rep, "leaked-socket") + findings_of(rep, "open-at-exit")
               if "open_pool_connection" in [fr.get("function")
                                             for fr in f["stacks"].get("created", [])]]
    check(created and created[0]["count"] == 3, "pool connections in the snapshot: " + summary(rep))
    # the process was running when the snapshot was taken: nothing in it is "at exit"
    words = [f["message"] for f in created]
    check(all("at this snapshot" in w and "at exit" not in w for w in words),
          "snapshot messages: %r" % words)
    p = subprocess.run([base.CLI, "report", d], capture_output=True, text=True, timeout=TIMEOUT)
    check("ended without a final report (killed?)" in p.stdout and
          "open_pool_connection" in p.stdout, "connleak report:\n" + p.stdout[-2000:])
    p = subprocess.run([base.CLI, "report", "--format", "json", d], capture_output=True,
                       text=True, timeout=TIMEOUT)
    procs = json.loads(p.stdout)["processes"]
    check(len(procs) == 1 and procs[0]["complete"] is False and procs[0]["ended"] is None and
          procs[0]["snapshot"]["seq"] >= 1, "merged processes %r" % procs)


def test_snapshot_replaced_by_final_report():
    d = new_dir("reports")
    s = Service([fixture("hold"), "2"], True, opts=options(d, snapshot_ms=SNAPSHOT_MS))
    s.report_dir = d
    pid = int(s.wait_line("pid"))
    wait_until(lambda: snapshot_of(d, pid) or s.dead(), "a snapshot")
    rc = s.stop(signal.SIGTERM)
    check(rc == -signal.SIGTERM, "rc %r" % rc)
    check(len(os.listdir(d)) == 1, "files %r" % os.listdir(d))
    rep = only_report(s)
    check(rep.get("complete") is True and rep.get("snapshot") is None, "final: %r %r"
          % (rep.get("complete"), rep.get("snapshot")))
    check_ended(rep, "signal", signal="SIGTERM")
    words = [f["message"] for f in findings_of(rep, "leaked-socket")]
    check(words and all("open at exit" in w for w in words), "final messages: %r" % words)


def test_no_snapshot_thread_before_snapshot_ms():
    # a short client never gets a thread of ours: CPython 3.12's fork warning and
    # unshare(CLONE_NEWUSER) depend on it (checked: threads seen by the process itself)
    script = ("import os, socket\n"
              "s = socket.socket(); s.close()\n"
              "print('threads=%d' % len(os.listdir('/proc/self/task')))\n")
    bare = run([SYS_PYTHON, "-c", script], preload=False)
    r = run([SYS_PYTHON, "-c", script], {"snapshot_ms": 10000})
    check(bare.stdout == r.stdout == "threads=1\n", "bare %r preloaded %r" % (bare.stdout, r.stdout))


def test_full_disk_keeps_last_snapshot():
    # report_dir on a small tmpfs in a private mount namespace (seen from here through
    # /proc/<pid>/root); a snapshot is written, the disk is filled, SIGTERM: the final
    # report cannot be written, the snapshot stays whole, one line says so.
    unshare = "/usr/bin/unshare"
    check(os.path.exists(unshare) and os.geteuid() == 0,
          "needs root and unshare(1) to mount a private tmpfs")
    d = new_dir("fulldisk")
    pe = preload_env(options(d, snapshot_ms=SNAPSHOT_MS))
    env_args = ["%s=%s" % (k, pe[k]) for k in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")]
    script = ('mount -t tmpfs -o size=256k tmpfs "$0" || exit 98; '
              'env "$@" & wait $!; echo "rc=$?"; exec sleep %d' % TIMEOUT)
    outp = os.path.join(new_dir("out"), "out")
    with open(outp, "wb") as out:
        sh = subprocess.Popen([unshare, "-m", "--propagation", "private", "--", "sh", "-c",
                               script, d] + env_args + [fixture("hold"), "2"],
                              env=clean_env(), stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        def text():
            with open(outp) as f:
                return f.read()
        pid = int(wait_until(lambda: kv(text()).get("pid") or sh.poll() is not None and
                             TestFailure("namespace shell ended: %r" % text()), "pid"))
        inside = "/proc/%d/root%s" % (sh.pid, d)
        wait_until(lambda: [f for f in os.listdir(inside) if f.endswith(".json")], "a snapshot")
        try:
            with open(os.path.join(inside, "fill"), "wb") as f:
                while True:
                    f.write(b"x" * 65536)
                    f.flush()
        except OSError:
            pass
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: "rc=" in text(), "the program to end")
        check(kv(text())["rc"] == "143", "status in the namespace %r" % text())
        files = sorted(os.listdir(inside))
        reports = [f for f in files if f.endswith(".json")]
        check(len(reports) == 1 and files == sorted(reports + ["fill"]),
              "files on the full disk: %r (no temporary file may stay)" % files)
        with open(os.path.join(inside, reports[0])) as f:
            rep = json.load(f)
        check(rep.get("complete") is False and rep.get("snapshot"), "the snapshot %r %r"
              % (rep.get("complete"), rep.get("snapshot")))
    finally:
        os.killpg(sh.pid, signal.SIGKILL)
        _, err = sh.communicate(timeout=TIMEOUT)
    lines = [l for l in err.decode(errors="replace").splitlines() if l.startswith("connleak")]
    check(len(lines) == 1 and "No space left on device" in lines[0],
          "stderr lines %r" % lines)


def test_tls_crosstalk_sigpipe_keeps_stale_fd_use():
    import run_tls
    srv = run_tls.TlsServer().start()
    # the confused peer: reads whatever comes, then hangs up
    other = base.PyPeer(lambda conn: conn.recv(4096)).start()
    try:
        bare = run([fixture("tls_stale_sigpipe"), str(srv.port), str(other.port)],
                   preload=False)
        r = run([fixture("tls_stale_sigpipe"), str(srv.port), str(other.port)])
    finally:
        other.stop()
        srv.stop()
    check(bare.rc == r.rc == -signal.SIGPIPE, "rc bare %r preloaded %r: %s"
          % (bare.rc, r.rc, r.describe()))
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check_ended(rep, "signal", signal="SIGPIPE")
    stale = findings_of(rep, "stale-fd-use")
    check(stale and stale[0].get("crosstalk") is True, summary(rep))
    funcs = [fr.get("function") for fr in stale[0]["stacks"].get("used", [])]
    check("write_through_stale_session" in funcs, "used stack %r" % funcs)


def test_report_signal_writes_snapshot_on_demand():
    d = new_dir("reports")
    # The busy pool's connections are held (open-at-exit): shown on request.
    s = Service([fixture("hold"), "2"], True,
                opts=options(d, snapshot_ms=0, report_signal="SIGUSR2", show_open_at_exit=1))
    s.report_dir = d
    pid = int(s.wait_line("pid"))
    wait_until(lambda: "ready" in s.stdout() or s.dead(), "ready")
    check(not os.listdir(d), "a report before the signal: %r" % os.listdir(d))
    s.proc.send_signal(signal.SIGUSR2)
    rep = wait_until(lambda: snapshot_of(d, pid) or s.dead(), "the snapshot SIGUSR2 asked for")
    check(rep["snapshot"]["seq"] == 1 and
          sum(f["count"] for f in findings_of(rep, "leaked-socket") +
              findings_of(rep, "open-at-exit")) >= 4, summary(rep))
    check(s.proc.poll() is None, "SIGUSR2 ended the program")
    check(s.stop(signal.SIGTERM) == -signal.SIGTERM, "rc %r" % s.proc.returncode)
    check_ended(only_report(s), "signal", signal="SIGTERM")
    # a program that handles the signal itself keeps it
    script = ("import signal, os\n"
              "signal.signal(signal.SIGUSR2, lambda s, f: print('handled'))\n"
              "os.kill(os.getpid(), signal.SIGUSR2)\n")
    r = run([SYS_PYTHON, "-c", script], {"report_signal": "SIGUSR2", "snapshot_ms": 0})
    check(r.rc == 0 and r.stdout == "handled\n", r.describe())
    check(all(not x.get("snapshot") for x in r.reports), "snapshot taken from the program's signal")


DROP_SCRIPT = ("import os, socket, sys\n"
               "os.setgid(65534); os.setuid(65534)\n"  # a worker dropping privileges
               "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
               "leak = socket.create_connection(s.getsockname())\n"
               "print('pid=%d' % os.getpid())\n")


def test_connleak_run_dir_for_workers_that_drop_privileges():
    check(os.geteuid() == 0, "needs root to drop privileges")
    parent = new_dir("run")
    os.chmod(parent, 0o755)
    d = os.path.join(parent, "reports")
    bare = run([SYS_PYTHON, "-c", DROP_SCRIPT], preload=False)
    p = subprocess.run([base.CLI, "run", "--report-dir", d, "--", SYS_PYTHON, "-c",
                        DROP_SCRIPT], env=clean_env(), capture_output=True, text=True,
                       timeout=TIMEOUT)
    check(bare.rc == p.returncode == 0, "rc bare %r, connleak run %r: %s"
          % (bare.rc, p.returncode, p.stderr[-800:]))
    check(oct(os.stat(d).st_mode & 0o7777) == oct(0o1777), "report dir mode %o" % os.stat(d).st_mode)
    reps = load_reports(d)
    pid = int(kv(p.stdout)["pid"])
    mine = [r for r in reps if r["pid"] == pid]
    check(len(mine) == 1 and os.stat(mine[0]["_path"]).st_uid == 65534,
          "the worker's report: %r" % [os.path.basename(r["_path"]) for r in reps])
    check("could not write" not in p.stderr, p.stderr[-500:])
    # an existing directory only root can write: the summary counts the missing report
    closed = new_dir("closed")
    os.chmod(closed, 0o755)
    p = subprocess.run([base.CLI, "run", "--report-dir", closed, "--", SYS_PYTHON, "-c",
                        DROP_SCRIPT], env=clean_env(), capture_output=True, text=True,
                       timeout=TIMEOUT)
    check(p.returncode == 0 and "1 process(es) could not write a report" in p.stderr,
          "summary: %r" % p.stderr[-800:])


SIGNAL_DURING_CHURN_RUNS = 8


def test_sigterm_while_threads_are_inside_connleak():
    # the handler may interrupt a thread holding the model lock: it waits a bounded time,
    # never deadlocks, and the report exists (model_consistent says whether the copy was
    # taken with the model at rest)
    for i in range(SIGNAL_DURING_CHURN_RUNS):
        s = Service([fixture("churn_forever")], True)
        wait_until(lambda: "ready" in s.stdout() or s.dead(), "ready")
        rc = s.stop(signal.SIGTERM)
        check(rc == -signal.SIGTERM, "run %d: %s" % (i, s.describe()))
        rep = only_report(s)
        check_ended(rep, "signal", signal="SIGTERM")
        check(type(rep.get("model_consistent")) is bool and
              rep["complete"] == rep["model_consistent"], "run %d: complete %r consistent %r"
              % (i, rep.get("complete"), rep.get("model_consistent")))


# ---------------------------------------------------------------------------
# issue 8: sandboxes, stderr, our writes, log_path


def test_seccomp_sandbox_child_exits_0():
    for mode in ("prctl", "syscall"):
        bare = run([fixture("sandbox"), mode], preload=False)
        r = run([fixture("sandbox"), mode])
        expect_fixture_ok(bare)
        expect_fixture_ok(r)
        check(kv(bare.stdout).get("open") == kv(r.stdout).get("open") == "EACCES" and
              "exchanged=10" in r.stdout, "%s: bare %r preloaded %r" % (mode, bare.stdout, r.stdout))
        rep = report_for_pid(r, kv(r.stdout)["pid"])
        check(isinstance(rep.get("tracking_stopped"), str) and "seccomp" in rep["tracking_stopped"]
              and rep.get("complete") is False and rep.get("ended") is None,
              "%s: tracking_stopped %r complete %r ended %r" % (mode, rep.get("tracking_stopped"),
                                                               rep.get("complete"), rep.get("ended")))
        check(rep["stats"]["connects"] == 1 and rep["stats"]["sockets_accepted"] == 1,
              "%s: stats before the sandbox %r" % (mode, rep["stats"]))


def test_text_report_never_sent_to_a_socket_on_fd2():
    # a daemon whose stdio was closed: its connection landed on fd 2
    script = ("import os, socket, sys\n"
              "port = int(sys.argv[1])\n"
              "c = socket.create_connection(('127.0.0.1', port))\n"
              "os.dup2(c.fileno(), 2)\n"
              "leak = socket.create_connection(('127.0.0.1', port))\n"
              "os._exit(0)\n")
    got = []
    for preload in (False, True):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        p = subprocess.Popen([SYS_PYTHON, "-c", script, str(port)],
                             env=preload_env(options(new_dir("reports"))) if preload else clean_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        srv.settimeout(TIMEOUT)
        a, _ = srv.accept()
        b, _ = srv.accept()
        rc = p.wait(timeout=TIMEOUT)
        data = b""
        a.settimeout(TIMEOUT)
        while True:
            chunk = a.recv(65536)
            if not chunk:
                break
            data += chunk
        got.append((rc, data))
        for s in (a, b, srv):
            s.close()
    check(got[0] == got[1] == (0, b""), "peer received bare %r, preloaded %r" % (got[0], got[1]))


def test_text_report_not_written_to_a_replaced_stderr():
    # fd 2 became something else after start (a daemon reopening its log): not ours
    script = ("import os, socket, sys\n"
              "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)\n"
              "os.dup2(fd, 2)\n"
              "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
              "leak = socket.create_connection(s.getsockname())\n"
              "os._exit(0)\n")
    sizes = []
    for preload in (False, True):
        log = os.path.join(new_dir("log"), "daemon.log")
        r = run([SYS_PYTHON, "-c", script, log], preload=preload)
        check(r.rc == 0, r.describe())
        sizes.append(os.path.getsize(log))
    check(sizes == [0, 0], "the replaced stderr got bytes: bare %d, preloaded %d" % tuple(sizes))
    rep = only_report(r)
    check(rep.get("text_report") == {"to": None,
                                     "skipped": "stderr is no longer what it was at start"},
          "text_report %r" % rep.get("text_report"))


def test_text_report_skipped_says_why_in_json():
    a, b = socket.socketpair()
    d = new_dir("reports")
    p = subprocess.run([fixture("exhaust_hold"), "64", "exit"], env=preload_env(options(d)),
                       stdout=subprocess.PIPE, stderr=a.fileno(), timeout=TIMEOUT)
    a.close()
    b.settimeout(1)
    try:
        data = b.recv(65536)
    except socket.timeout:
        data = b""
    b.close()
    check(p.returncode == 0 and data == b"", "rc %r, socket got %r" % (p.returncode, data[:200]))
    rep = load_reports(d)[0]
    check(rep.get("text_report") == {"to": None, "skipped": "stderr is a socket"},
          "text_report %r" % rep.get("text_report"))


def test_stderr_pipe_without_reader_keeps_status():
    rcs = []
    for preload in (False, True):
        r, w = os.pipe()
        os.close(r)
        p = subprocess.run([fixture("exhaust_hold"), "64", "exit"],
                           env=preload_env(options(new_dir("reports"))) if preload else clean_env(),
                           stdout=subprocess.DEVNULL, stderr=w, timeout=TIMEOUT)
        os.close(w)
        rcs.append(p.returncode)
    check(rcs == [0, 0], "exit status bare %r, preloaded %r (SIGPIPE is -13)" % tuple(rcs))


def test_file_size_limit_keeps_status():
    d = new_dir("reports")
    log = os.path.join(new_dir("log"), "text")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))
    rcs = []
    for preload in (False, True):
        p = subprocess.run([fixture("mt_exit"), "exit"],
                           env=preload_env(options(d, log_path=log)) if preload else clean_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT,
                           preexec_fn=limit)
        rcs.append(p.returncode)
    check(rcs == [0, 0], "exit status bare %r, preloaded %r (SIGXFSZ is -25)" % tuple(rcs))
    check(os.path.getsize(log) <= 200, "log size %d" % os.path.getsize(log))
    check(not [f for f in os.listdir(d) if not f.endswith(".json")],
          "temporary files left: %r" % os.listdir(d))


def test_log_path_fifo_and_foreign_file_not_written():
    ldir = new_dir("logdir")
    os.chmod(ldir, 0o1777)
    fifo = os.path.join(ldir, "fifo")
    os.mkfifo(fifo, 0o600)
    foreign = os.path.join(ldir, "foreign")
    with open(foreign, "w") as f:
        f.write("planted\n")
    os.chmod(foreign, 0o666)
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)
    # a FIFO without reader: the non-blocking open fails (ENXIO) instead of hanging
    for path, why in ((fifo, "log_path"), (foreign, "not a regular file")):
        r = run([fixture("mt_exit"), "exit"], {"log_path": path}, timeout=TIMEOUT)
        expect_fixture_ok(r)
        lines = [l for l in r.stderr.splitlines() if l.startswith("connleak:")]
        check(len(lines) == 1 and why in lines[0] and path in lines[0],
              "stderr %r" % r.stderr[-600:])
        rep = only_report(r)
        check((rep.get("text_report") or {}).get("to") is None, "text_report %r"
              % rep.get("text_report"))
    with open(foreign) as f:
        check(f.read() == "planted\n", "foreign log file was written to")


SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
AuthorizedKeysFile {d}/authorized_keys
PidFile {d}/sshd.pid
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
"""


def sshd_login(preload):
    """One key login to a private sshd on loopback; returns (ssh rc, ssh output)."""
    d = new_dir("sshd")
    os.chmod(d, 0o755)
    for name in ("host_key", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        os.path.join(d, name)], check=True, timeout=TIMEOUT)
    with open(os.path.join(d, "id.pub")) as src, open(os.path.join(d, "authorized_keys"), "w") as dst:
        dst.write(src.read())
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # the privilege-separation chroot
    for _attempt in range(3):
        port = free_port()
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write(SSHD_CONFIG.format(port=port, d=d))
        reports = new_dir("reports")
        os.chmod(reports, 0o1777)  # the pre-auth child runs as user sshd
        env = preload_env(options(reports)) if preload else clean_env()
        srv = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                               env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(d, "sshd.log"), "wb"),
                               start_new_session=True)
        try:
            def up():
                if srv.poll() is not None:
                    return "dead"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return "up"
                except OSError:
                    return None
            if wait_until(up, "sshd to listen") == "dead":
                continue
            p = subprocess.run([SSH, "-i", os.path.join(d, "id"), "-p", str(port),
                                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                                "root@127.0.0.1", "echo", "logged-in"],
                               env=clean_env(), capture_output=True, text=True, timeout=TIMEOUT)
            return p.returncode, p.stdout + p.stderr, reports, d
        finally:
            os.killpg(srv.pid, signal.SIGTERM)
            srv.wait(timeout=TIMEOUT)
    raise TestFailure("sshd did not start: " + open(os.path.join(d, "sshd.log")).read()[-800:])


def test_sshd_login_through_seccomp_sandbox():
    check(os.path.exists(SSHD) and os.path.exists(SSH) and os.geteuid() == 0,
          "needs root, %s and %s (openssh-server, openssh-client)" % (SSHD, SSH))
    bare = sshd_login(False)
    check(bare[0] == 0 and "logged-in" in bare[1], "bare login: %r" % (bare[:2],))
    rc, out, reports, d = sshd_login(True)
    log = open(os.path.join(d, "sshd.log"), errors="replace").read()
    check(rc == 0 and "logged-in" in out, "preloaded login: rc %r %r; sshd log: %s"
          % (rc, out, log[-1500:]))
    check("SIGSYS" not in log and "signal 31" not in log, "sshd log: %s" % log[-1500:])


# ---------------------------------------------------------------------------


def main():
    # A suite started as a background job of a non-interactive shell inherits SIGINT
    # ignored, and so would every program it starts (an ignored signal stays ignored
    # across exec): the SIGINT tests would wait for an end that cannot come.  A handler
    # here is reset to the default in the programs.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return base.run_suite(globals(), "connleak-survive.", build_survive_fixtures, kill_leftovers)


if __name__ == "__main__":
    sys.exit(main())
