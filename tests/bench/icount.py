#!/usr/bin/env python3
"""tests/bench/icount.py — instructions connleak adds per operation (callgrind, deterministic).

Runs build/bench/icount (tests/bench/icount.c) under
`valgrind --tool=callgrind --toggle-collect=op_*`, bare, preloaded (CONNLEAK=1) and preloaded
but disabled (CONNLEAK unset), and prints, per operation, the bare instructions and what the
preload adds (preloaded minus bare, over the operation count).  Instruction counts do not
depend on machine load, so the same program is also a test: `--check` verifies that every
operation runs and is counted, that numbers which held closed sockets cost what fresh ones do
(rwreused), and that a new thread's connection takes the records other threads made of its
places (thread) (make check); `--growth` (and make bench) runs the
operations whose cost must not grow with the number of open sockets at 10 and 10,000 and
fails when the added count differs by more than 5 %.  --steady splits the connection
operations' cost into what each connection adds and what a place's first one adds once.

Usage: icount.py [--lib PATH] [--bin PATH] [--quick] [--check] [--only OPS] [-k OP]...
                 [--steady] [--growth [OPS]] [--no-table]

With --check, one PASS/FAIL line per check and a "N passed, M failed" summary, as the
test suites print (tests/mutants/run.py names it `icount` in kill lines).
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name, op, count, calls per op (for "per call" figures), description
OPS = [
    ("connect", "connect", 200, 1, "socket + connect (client)"),
    ("close-client", "connect", 200, 1, "close of a connected client socket"),
    ("accept", "accept", 200, 1, "accept (server)"),
    ("close-server", "accept", 200, 1, "close of an accepted socket"),
    ("thread", "thread", 100, 1,
     "socket + connect + accept + close both, each connection on a new thread"),
    ("send+recv", "sendrecv", 2000, 2, "send 16 B + recv 16 B on tracked sockets"),
    ("write+read pipe", "rw", 2000, 2, "write 16 B + read 16 B on a pipe"),
    ("write+read reused", "rwreused", 2000, 2,
     "write 16 B + read 16 B on a pipe on two closed sockets' numbers"),
    ("close pipe", "closepipe", 2000, 2, "close of both ends of a pipe (not sockets)"),
    ("SSL_write+read", "ssl", 1000, 2, "SSL_write 16 B + SSL_read 16 B (OpenSSL, loopback)"),
    ("SSL 4 in turn", "ssl4", 1000, 2,
     "SSL_write + SSL_read as above on 4 connections in turn (8 sessions in one thread)"),
    ("gnutls send+recv", "gnutls", 1000, 2,
     "gnutls_record_send 16 B + gnutls_record_recv 16 B (loopback)"),
    ("getaddrinfo", "getaddrinfo", 100, 1, "getaddrinfo(\"localhost\")"),
    ("detach", "detach", 200, 1, "dup + close original + dup2 back + close copy"),
    ("fork parent", "fork", 20, 1, "fork, the parent's side"),
    ("fork child", "fork", 20, 1, "fork, the child's side (with the part before the fork)"),
    ("child exit", "child_exit", 20, 1, "exit() of a forked child"),
]
# Operations whose cost must not grow with the open sockets, tested at 10 and 10,000 (the
# _tls ones with an OpenSSL session on each open socket; make bench only: SSL_new 10,000
# times under callgrind takes a while).
GROWTH = ["getaddrinfo", "detach", "fork", "child_exit"]
# Connection operations: the first time a thread sees a place that opens or closes sockets,
# connleak walks its stack and records what the walk read; each later connection there only
# checks those words (track/stacks.c). "added" spreads that first walk over the count;
# --steady splits it out: what each further connection adds (the difference between n and
# 2n operations) and what the place's first one cost on top.
STEADY = ["connect", "close-client", "accept", "close-server", "thread"]
GROWTH_BENCH = GROWTH + ["fork_tls", "child_exit_tls"]
# Whose instructions count: a forked child's callgrind file starts with its parent's
# counters, so icount.c dumps them before each fork and the parent's files (named by its
# pid) are told from the children's.
SIDE = {"fork parent": "parent", "fork child": "child"}
FN = {"write+read reused": "op_rw", "connect": "op_connect", "close-client": "op_close", "accept": "op_accept",
      "close-server": "op_close", "close pipe": "op_close", "SSL 4 in turn": "op_ssl"}


# No work triggered by time: a timeline sample (sample_ms) or the snapshot thread
# (snapshot_ms) falls inside a counted operation or not depending on how fast the machine
# runs the program, and is not a cost per operation anyway. Except in a forked child's
# exit, which always takes its timeline's last sample (and its growth series) and whose
# short life never makes one due: counted with the defaults.
UNTIMED = ":sample_ms=0:snapshot_ms=0"

CACHE = {}


def run(binary, env_extra, op, n, open_n, tmp, fns, side=None):
    """Instructions inside the op_* functions named in fns, summed over all processes
    (side "parent": the first process only; "child": all the others). One valgrind run
    answers both sides."""
    if "CONNLEAK_OPTIONS" in env_extra and not op.startswith("child_exit"):
        env_extra = dict(env_extra, CONNLEAK_OPTIONS=env_extra["CONNLEAK_OPTIONS"] + UNTIMED)
    key = (binary, tuple(sorted(env_extra.items())), op, n, open_n, tuple(fns))
    if key not in CACHE:
        CACHE[key] = run_sides(binary, env_extra, op, n, open_n, tmp, fns)
    sides = CACHE[key]
    return sides[side] if side else sides["parent"] + sides["child"]


def run_sides(binary, env_extra, op, n, open_n, tmp, fns):
    out = tempfile.mkdtemp(dir=tmp)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")}
    env.update(env_extra)
    env["ICOUNT_CERT"], env["ICOUNT_KEY"] = tmp + "/cert.pem", tmp + "/key.pem"
    cmd = ["valgrind", "--tool=callgrind", "-q", "--callgrind-out-file=%s/cg.%%p" % out,
           "--trace-children=no", "--dump-instr=no"]
    cmd += ["--toggle-collect=%s" % f for f in fns]
    cmd += [binary, op, str(n), str(open_n)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = p.communicate(timeout=900)[1]
    if p.returncode != 0:
        sys.exit("icount: %s failed (%d): %s" % (" ".join(cmd[-3:]), p.returncode,
                                                 stderr.decode(errors="replace")[-2000:]))
    total = {"parent": 0, "child": 0}
    files = glob.glob(out + "/cg.*")
    if not files:
        sys.exit("icount: callgrind wrote no output for %s" % op)
    for f in files:
        parent = os.path.basename(f).split(".")[1] == str(p.pid)  # valgrind runs in p
        with open(f) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    total["parent" if parent else "child"] += int(line.split()[1])
                    break
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.environ.get("CONNLEAK_LIB",
                                                     ROOT + "/build/libconnleak.so"))
    ap.add_argument("--bin", default=ROOT + "/build/bench/icount")
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    ap.add_argument("--check", action="store_true",
                    help="fail unless every operation ran and was counted")
    ap.add_argument("--growth", nargs="?", const=",".join(GROWTH), default="",
                    help="also these operations (default: %s; 'bench': those and %s) at 10 vs "
                         "10,000 open sockets; fail over 5 %%%% apart"
                    % (",".join(GROWTH), ",".join(GROWTH_BENCH[len(GROWTH):])))
    ap.add_argument("--steady", action="store_true",
                    help="also the connection operations' cost per further connection and "
                         "their one-time cost per place (--check includes it)")
    ap.add_argument("--only", default="", help="comma-separated operation names")
    ap.add_argument("-k", action="append", default=[],
                    help="as --only, one operation a time (the mutation runner's form)")
    ap.add_argument("--no-table", action="store_true",
                    help="only the growth table (tests/bench/optable.py prints the rest)")
    a = ap.parse_args()
    lib = os.path.abspath(a.lib)
    tmp = tempfile.mkdtemp(prefix="connleak-icount.")
    reports = os.path.join(tmp, "reports")
    os.mkdir(reports)
    # The TLS operations' server certificate (an EC key: quick to make and to use).
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", tmp + "/key.pem", "-out", tmp + "/cert.pem"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    on = {"LD_PRELOAD": lib, "CONNLEAK": "1", "CONNLEAK_OPTIONS": "report_dir=" + reports}
    off = {"LD_PRELOAD": lib, "CONNLEAK_OPTIONS": "report_dir=" + reports}
    only = set(a.only.split(",") if a.only else []) | set(a.k) or None
    status = 0
    checks = [0, 0]  # passed, failed (--check prints one line per check, as the suites do)

    def check(name, ok, why=""):
        if a.check:
            checks[0 if ok else 1] += 1
            print("PASS %s" % name if ok else "FAIL %s: %s" % (name, why))
        return 0 if ok else 1
    if not a.no_table:
        print("%-16s %8s %8s %8s %9s  %s" % ("operation", "bare", "added", "disabled",
                                             "per call", "what (instructions per operation)"))
    for name, op, n, calls, what in OPS:
        # -k also takes a check's name (rwreused_as_cheap_as_a_pipe: its operation's).
        if a.no_table or (only and name not in only and op not in only and
                          not any(k.startswith(op + "_") for k in a.k)):
            continue
        if a.quick:
            n = max(2, n // 20)
        fns = [FN.get(name, "op_" + op)]
        bare = run(a.bin, {}, op, n, 10, tmp, fns, SIDE.get(name))
        pre = run(a.bin, on, op, n, 10, tmp, fns, SIDE.get(name))
        dis = run(a.bin, off, op, n, 10, tmp, fns) \
            if op in ("rw", "rwreused", "closepipe", "sendrecv", "ssl", "ssl4", "gnutls") else None
        b, added = bare / n, (pre - bare) / n
        print("%-16s %8.0f %+8.0f %8s %+9.0f  %s" % (
            name, b, added, "-" if dis is None else "%+.0f" % ((dis - bare) / n),
            added / calls, what))
        status |= check(name.replace(" ", "_"), bare > 0, "counted nothing bare")
        if op == "rwreused":
            # A number that held a closed socket and now holds a pipe: once a call shows
            # it reused, its calls take the fast path (what is left: that first call,
            # spread over n). Against the same pipe I/O on fresh numbers.
            pipe = (run(a.bin, on, "rw", n, 10, tmp, fns) - run(a.bin, {}, "rw", n, 10, tmp, fns)) / n
            status |= check("rwreused_as_cheap_as_a_pipe", added <= pipe + 10,
                            "write+read on reused numbers adds %+.0f, on fresh ones %+.0f: the "
                            "memory of the closed sockets was not dropped" % (added, pipe))
    if a.steady or a.check:
        if not a.no_table:
            print()
        print("%-16s %10s %12s  (added instructions: per connection after a place's first, "
              "and that first's own cost)" % ("operation", "steady", "once a place"))
        for name, op, n, calls, what in OPS:
            if name not in STEADY or (only and name not in only and op not in only):
                continue
            if a.quick:
                n = max(2, n // 20)
            fns, side = [FN.get(name, "op_" + op)], SIDE.get(name)
            total = [run(a.bin, on, op, k, 10, tmp, fns, side) -
                     run(a.bin, {}, op, k, 10, tmp, fns, side) for k in (n, 2 * n)]
            steady = (total[1] - total[0]) / n
            once = total[0] - n * steady
            print("%-16s %+10.0f %+12.0f" % (name, steady, once))
            status |= check("steady_" + name.replace("-", "_"), steady > 0,
                            "a further connection added nothing")
            if op == "thread":
                # A new thread at a place another thread recorded takes that record
                # (track/stacks.c): its first connection walks nothing.
                status |= check("thread_takes_the_place_record", steady < once / 2,
                                "a new thread's connection adds %+.0f, the place's first "
                                "%+.0f: each thread walks its own stacks" % (steady, once))
    if a.growth:
        if not a.no_table:
            print()
        print("%-16s %10s %10s %7s  (added instructions per operation, 10 vs 10,000 open sockets)"
              % ("operation", "10 open", "10k open", "change"))
        rows = []
        for op in (",".join(GROWTH_BENCH) if a.growth == "bench" else a.growth).split(","):
            rows += [(op.replace("fork", "fork parent"), op, "parent"),
                     (op.replace("fork", "fork child"), op, "child")] \
                if op.startswith("fork") else [(op, op, None)]
        for name, op, side in rows:
            n = 5 if op.startswith(("fork", "child_exit")) else 20
            fns = ["op_" + op.replace("_tls", "")]
            added = []
            for open_n in (10, 10000):
                bare = run(a.bin, {}, op, n, open_n, tmp, fns, side)
                pre = run(a.bin, on, op, n, open_n, tmp, fns, side)
                added.append((pre - bare) / n)
            change = (added[1] - added[0]) / max(abs(added[0]), 1.0)
            ok = abs(change) <= 0.05
            print("%-16s %+10.0f %+10.0f %+6.1f%%  %s" % (name, added[0], added[1],
                                                       100 * change, "ok" if ok else "GROWS"))
            status |= check("growth_" + name.replace(" ", "_"), ok, "grows %+.1f%%" % (100 * change))
    subprocess.run(["rm", "-rf", tmp])
    if a.check:
        print("%d passed, %d failed" % tuple(checks))
    return status


if __name__ == "__main__":
    sys.exit(main())
