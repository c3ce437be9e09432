#!/usr/bin/env python3
"""connleak "never change the host program" tests (issue 8): real programs and small C
fixtures run bare and preloaded, side by side; exit status, stdout (errno names
included) and stderr must be the same.  Signal handlers that open and close sockets,
siglongjmp out of handlers, bad I/O arguments, TLS symbol probes, thread counts.

    tests/integration/run_robust.py              run everything
    tests/integration/run_robust.py -k signal    run the tests whose name contains "signal"
    tests/integration/run_robust.py --keep       keep the temporary directories
    tests/integration/run_robust.py --list       list the test names

Needs build/libconnleak.so and the fixtures (built here when missing or stale by make
with the rules of tests/integration/fixtures.mk).  Shares its helpers with run.py.
Prints "PASS name" or "FAIL name: reason" per test, then exactly "N passed, N failed";
exits 1 when any test failed.
"""

import difflib
import glob
import os
import shutil
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as base  # noqa: E402  (tests/integration/run.py)
from run import (TestFailure, check, kv, summary, stat_of, report_for_pid,  # noqa: E402
                 run, fixture, fixture_targets, build_fixtures)

SYS_PYTHON = "/usr/bin/python3"


def normalize(text, extra=None):
    """Output that legitimately differs between two runs: process ids, and what `extra`
    (a regular expression) matches."""
    text = re.sub(r"\bpid=\d+", "pid=N", text)
    return re.sub(extra, "<varies>", text) if extra else text


def diff(a, b, what):
    lines = [d for d in difflib.unified_diff(a.splitlines(), b.splitlines(), "bare",
                                             "preloaded", n=0, lineterm="")
             if not d.startswith("@@")]
    return "%s differs from the bare run:\n%s" % (what, "\n".join(lines[:40]))


def same_as_bare(argv, opts=None, env=None, enabled=True, stderr=True, stdout_norm=None):
    """Runs argv bare and preloaded; both must end the same way, with the same output.
    Returns the preloaded run (its reports loaded)."""
    bare = run(argv, preload=False, env=env)
    pre = run(argv, opts=opts, env=env, enabled=enabled)
    check(bare.rc == pre.rc, "exit status %r preloaded, %r bare; preloaded: %s; bare: %s"
          % (pre.rc, bare.rc, pre.describe(), bare.describe()))
    a, b = normalize(bare.stdout, stdout_norm), normalize(pre.stdout, stdout_norm)
    check(a == b, diff(a, b, "stdout"))
    if stderr:
        check(bare.stderr == pre.stderr, diff(bare.stderr, pre.stderr, "stderr"))
    pre.bare = bare
    return pre


def expect_clean_report(r):
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check(rep["findings"] == [], "expected no finding, got " + summary(rep))
    return rep


# ---------------------------------------------------------------------------
# item 7: arguments the kernel rejects


def test_bad_io_args_same_errno():
    r = same_as_bare([fixture("bad_io_args")])
    check(r.rc == 0, "fixture failed: " + r.describe())
    check("recvmsg_huge_iovlen r=-1 errno=EMSGSIZE" in r.stdout and
          "readv_null r=-1 errno=EFAULT" in r.stdout, "fixture output: " + r.stdout)
    expect_clean_report(r)


# ---------------------------------------------------------------------------
# items 1 and 2: signal handlers


def test_signal_handler_sockets_while_main_mallocs():
    """A SIGALRM handler every 100 us opens and closes a socket while main mallocs: the
    preload must not malloc (or lock) in the handler, or the heap is corrupted."""
    r = same_as_bare([fixture("signal_malloc")], stdout_norm=r"handler=\d+")
    check(r.rc == 0, "fixture failed: " + r.describe())
    rep = expect_clean_report(r)
    handler = int(kv(r.stdout)["handler"])
    check(handler > 0, "the handler never ran: " + r.stdout)
    check(stat_of(rep, "sockets_created") == handler + 1,
          "stats.sockets_created %r, the program created %d (%d in the handler + 1)"
          % (stat_of(rep, "sockets_created"), handler + 1, handler))


def test_signal_handler_exit_while_main_mallocs():
    """A handler calls _exit (async-signal-safe) while main mallocs: the report connleak
    writes in that _exit must not malloc (a hang or a crash when the signal interrupted
    malloc; about one run in five before). Five runs, each must end like bare."""
    for _ in range(5):
        r = same_as_bare([fixture("signal_exit")], stderr=False)
        check(r.rc == 7, "fixture ended with %r: %s" % (r.rc, r.describe()))
        rep = report_for_pid(r, kv(r.stdout)["pid"])
        leaks = [f for f in rep["findings"] if f["kind"] == "leaked-socket"]
        check(len(leaks) == 1 and leaks[0]["stacks"]["created"] and
              leaks[0]["stacks"]["created"][0]["module"].endswith("/signal_exit"),
              "expected the leak with its (unsymbolized) stack: " + summary(rep))
    cli = subprocess.run([base.CLI, "report", r.report_dir], capture_output=True, text=True,
                         timeout=base.TIMEOUT)
    check("in leak_one signal_exit.c" in cli.stdout,
          "connleak report does not name the frames offline: %r" % cli.stdout[-800:])


def longjmp_case(threads, mode=None):
    """siglongjmp out of a handler that interrupted socket()/close(), on 1 or 2 threads:
    nothing of the preload may stay locked (2 threads would deadlock: the timeout fails
    the test) or busy (1 thread would write no report)."""
    r = same_as_bare([fixture("signal_longjmp"), str(threads)] + ([mode] if mode else []),
                     stderr=False)
    check(r.rc == 0, "fixture failed: " + r.describe())
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    final = [f for f in rep["findings"] if f["kind"] == "leaked-socket" and
             any(fr.get("function") == "final_leak" for fr in f["stacks"].get("created", []))]
    check(final, "the socket main opened after the jumps is not reported (connleak stopped "
          "tracking?): " + summary(rep))


def test_signal_longjmp_one_thread():
    longjmp_case(1)


def test_signal_longjmp_two_threads():
    longjmp_case(2)


def test_signal_longjmp_resethand_handler():
    """The same with an SA_RESETHAND handler (SysV signal semantics), which the kernel
    resets to the default as it delivers: held back, it must still reach the program."""
    longjmp_case(1, "resethand")


def test_signal_handlers_read_back_as_installed():
    """The preload puts a wrapper in front of the program's handlers: what the program
    reads back (sigaction's old action, signal()'s return) and what its handlers receive
    (signal number, si_code, sigqueue value) must be what it gets bare."""
    r = same_as_bare([fixture("signal_api")])
    check(r.rc == 0, "fixture failed: " + r.describe())
    check("usr2 sigqueue got=12 code=-1 value=4242" in r.stdout, "fixture output: " + r.stdout)


# ---------------------------------------------------------------------------
# item 8: exported TLS names


def test_tls_probe_without_libssl_enabled():
    """dlsym(RTLD_DEFAULT/RTLD_NEXT, "SSL_new") is NULL without libssl, as bare; a weak
    reference (bound to our hook at load time) fails cleanly instead of calling NULL."""
    r = same_as_bare([fixture("probe_tls_symbols")])
    check("default SSL_new=null" in r.stdout and "weak calls failed cleanly=1" in r.stdout,
          "fixture output: " + r.stdout)


def test_tls_probe_without_libssl_disabled():
    """Preloaded without CONNLEAK=1: the same answers."""
    r = same_as_bare([fixture("probe_tls_symbols")], enabled=False)
    check("default SSL_new=null" in r.stdout, "fixture output: " + r.stdout)


def test_tls_probe_after_dlopen_libssl():
    """Once libssl is loaded the names are found, and calls through them reach it."""
    r = same_as_bare([fixture("probe_tls_symbols"), "load"])
    check("default SSL_new=found" in r.stdout and "call=null" in r.stdout,
          "fixture output: " + r.stdout)


# ---------------------------------------------------------------------------
# item 9: no thread of connleak's unless a lease needs one


def test_no_thread_default_options():
    """A single-threaded program with a TCP connection stays single-threaded preloaded
    (default options: timeline and DNS re-check on), so unshare(CLONE_NEWUSER) works (or
    fails) as bare."""
    r = same_as_bare([fixture("threads_unshare")])
    check("threads=1" in r.stdout, "fixture output: " + r.stdout)
    expect_clean_report(r)


def test_no_thread_timeline_and_dns_check_on():
    r = same_as_bare([fixture("threads_unshare")], opts={"sample_ms": 1, "dns_check_ms": 1})
    check("threads=1" in r.stdout, "fixture output: " + r.stdout)
    expect_clean_report(r)


# ---------------------------------------------------------------------------
# item 12: clone(CLONE_VM) children, allocation failure


def clone_case(mode):
    """A clone(CLONE_VM) child shares the model's memory but not the descriptors: its
    close of the parent's socket number must not hide the parent's leak, and its _exit
    must not write the parent's report (or stop the parent's)."""
    r = same_as_bare([fixture("clone_vm")] + ([mode] if mode else []), stderr=False)
    check(r.rc == 0 and "child status=0" in r.stdout, "fixture failed: " + r.describe())
    out = kv(r.stdout.splitlines()[-1])
    rep = report_for_pid(r, out["pid"])
    check(len(r.reports) == 1, "%d reports (the child wrote one?)" % len(r.reports))
    leaks = [f for f in rep["findings"] if f["kind"] == "leaked-socket"]
    check(len(leaks) == 1 and leaks[0]["fd"] == int(out["fd"]) and
          any(fr.get("function") == "parent_socket" for fr in leaks[0]["stacks"]["created"]),
          "expected the parent's leak of fd %s: %s" % (out["fd"], summary(rep)))
    check(stat_of(rep, "sockets_created") == 1, "stats.sockets_created %r: the child's "
          "socket was counted" % stat_of(rep, "sockets_created"))


def test_clone_vm_child_left_alone():
    clone_case(None)


def test_clone_vm_vfork_child_left_alone():
    clone_case("vfork")


def test_out_of_memory_keeps_running_and_says_incomplete():
    """connleak cannot allocate (the program capped its address space): the program runs
    as bare, the report counts the sockets it could not follow and is not complete, and
    what it could follow is still reported."""
    r = same_as_bare([fixture("oom_untracked")], stderr=False)
    check(r.rc == 0, "fixture failed: " + r.describe())
    rep = report_for_pid(r, kv(r.stdout)["pid"])
    check(stat_of(rep, "untracked") > 0, "stats.untracked %r" % stat_of(rep, "untracked"))
    check(rep.get("complete") is False, "complete is %r with untracked sockets"
          % rep.get("complete"))
    leaks = [f for f in rep["findings"] if f["kind"] == "leaked-socket" and
             any(fr.get("function") == "leak_one" for fr in f["stacks"].get("created", []))]
    check(leaks, "the leak made after memory came back is not reported: " + summary(rep))
    check("incomplete" in r.stderr, "the text report does not say it is incomplete: %r"
          % r.stderr[-500:])


def test_complete_report_says_so():
    r = same_as_bare([fixture("threads_unshare")])
    rep = expect_clean_report(r)
    check(rep.get("complete") is True and stat_of(rep, "untracked") == 0,
          "complete %r untracked %r" % (rep.get("complete"), stat_of(rep, "untracked")))


FORK_WARNING_PY = r"""
import os, socket
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
c = socket.create_connection(ls.getsockname())
a, _ = ls.accept()
c.sendall(b"x")
a.recv(1)
pid = os.fork()   # 3.12+: a DeprecationWarning on stderr if another thread exists
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("forked pid=%d" % os.getpid())
"""


def python312():
    """A CPython 3.12 or later on this machine (Debian 12 has 3.11: then no test)."""
    cands = [shutil.which("python3.12"), shutil.which("python3.13")]
    cands += sorted(glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3"))
    for c in cands:
        # pyenv's shims are scripts that may name no installed version
        if c and "/shims/" not in c and os.access(c, os.X_OK):
            return c
    return None


PY312 = python312()
if PY312:
    def test_cpython_fork_no_multithread_warning():
        """CPython 3.12 warns on stderr at fork in a process with more than one thread; a
        single-threaded program with a TCP connection must fork preloaded as bare."""
        script = os.path.join(base.new_dir("py"), "fork.py")
        with open(script, "w") as f:
            f.write(FORK_WARNING_PY)
        r = same_as_bare([PY312, script])
        check(r.rc == 0 and "forked" in r.stdout, "python failed: " + r.describe())


def build():
    if not PY312:
        print("note: no CPython 3.12+ here: the fork-warning test is not run", flush=True)
    build_fixtures(fixture_targets("*.c"))


def main():
    return base.run_suite(globals(), "connleak-robust.", build)


if __name__ == "__main__":
    sys.exit(main())
