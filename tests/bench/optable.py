#!/usr/bin/env python3
"""tests/bench/optable.py — make bench's table per operation: instructions and CPU time.

For every operation of tests/bench/icount.c (tests/bench/icount.py's list), one row with
  bare      instructions per operation without the preload (callgrind, deterministic)
  added     what connleak adds to them (CONNLEAK=1), and per call where an operation is two
  cpu       the median ratio of CPU time (user + system, the process and its children),
            preloaded over bare, of the same program doing the operation many times
            natively, over ROUNDS alternating bare/preloaded runs, with the bootstrap 95%
            interval of that median
  none, strace   the same workload (a tenth of the count) under the reference tools,
            `valgrind --tool=none --track-fds=yes` and `strace -f`, as a ratio to bare
then icount.py's growth table (10 vs 10,000 open sockets).  Timings are printed, never
asserted; the growth table fails the run (exit 1) when an operation grows over 5 %.

Usage: optable.py [--lib PATH] [--bin PATH] [--rounds N] [--quick] [--cpu N]
"""
import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import icount  # noqa: E402

# Iterations of each workload for the CPU-time runs: each run takes tens of ms bare.
CPU_N = {"connect": 4000, "accept": 4000, "thread": 2000, "sendrecv": 200000, "rw": 300000, "rwreused": 300000,
         "closepipe": 100000, "ssl": 30000, "ssl4": 30000, "gnutls": 30000, "getaddrinfo": 20000, "detach": 60000, "fork": 400,
         "child_exit": 400}


def cpu_run(binary, env, op, n, cpu, prefix=()):
    """CPU time in ns (user + system, children included) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def pin():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
    p = subprocess.run(list(prefix) + [binary, op, str(n), "10"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=pin,
                       timeout=900)
    if p.returncode != 0:
        sys.exit("optable: %s %s failed (%d): %s" % (" ".join(prefix), op, p.returncode,
                                                   p.stderr.decode(errors="replace")[-800:]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(1, int(((after.ru_utime - before.ru_utime) +
                       (after.ru_stime - before.ru_stime)) * 1e9))


def paired(binary, bare_env, pre_env, op, n, rounds, cpu):
    """Median ratio preloaded/bare over alternating rounds (after one warm-up of each) and
    its bootstrap 95% interval."""
    cpu_run(binary, bare_env, op, n, cpu)
    cpu_run(binary, pre_env, op, n, cpu)
    ratios = []
    for _ in range(rounds):
        b = cpu_run(binary, bare_env, op, n, cpu)
        p = cpu_run(binary, pre_env, op, n, cpu)
        ratios.append(p / b)
    rng = random.Random(1)
    boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return statistics.median(ratios), boot[50], boot[1949]


def reference(binary, env, op, n, cpu):
    """Ratios to bare (median of 3) of the reference tools on the same workload."""
    bare = statistics.median(cpu_run(binary, env, op, n, cpu) for _ in range(3))
    out = []
    for tool, prefix in (("valgrind", ["valgrind", "-q", "--tool=none", "--track-fds=yes",
                                       "--log-file=/dev/null"]),
                         ("strace", ["strace", "-f", "-o", "/dev/null"])):
        if not shutil.which(tool):
            out.append("-")
            continue
        out.append("%.1f" % (cpu_run(binary, env, op, n, cpu, prefix) / bare))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.environ.get("CONNLEAK_LIB",
                                                     icount.ROOT + "/build/libconnleak.so"))
    ap.add_argument("--bin", default=icount.ROOT + "/build/bench/icount")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_OP_ROUNDS", 11)))
    ap.add_argument("--quick", action="store_true", help="small counts, 3 rounds")
    ap.add_argument("--cpu", type=int, default=None, help="pin the runs to this CPU")
    a = ap.parse_args()
    lib = os.path.abspath(a.lib)
    tmp = tempfile.mkdtemp(prefix="connleak-optable.")
    try:
        reports = os.path.join(tmp, "reports")
        os.mkdir(reports)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", tmp + "/key.pem", "-out", tmp + "/cert.pem"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        base = {k: v for k, v in os.environ.items()
                if k not in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")}
        base["ICOUNT_CERT"], base["ICOUNT_KEY"] = tmp + "/cert.pem", tmp + "/key.pem"
        on = {"LD_PRELOAD": lib, "CONNLEAK": "1", "CONNLEAK_OPTIONS": "report_dir=" + reports}
        pre_env = dict(base, **on)
        rounds = 3 if a.quick else a.rounds
        print("%-16s %8s %8s %8s  %-20s %6s %6s  %s" % (
            "operation", "bare", "added", "per call", "cpu ratio [95%]", "none", "strace",
            "what (instructions per operation)"))
        timed = {}
        for name, op, n, calls, what in icount.OPS:
            if a.quick:
                n = max(2, n // 20)
            fns = [icount.FN.get(name, "op_" + op)]
            side = icount.SIDE.get(name)
            bare = icount.run(a.bin, {}, op, n, 10, tmp, fns, side)
            pre = icount.run(a.bin, on, op, n, 10, tmp, fns, side)
            b, added = bare / n, (pre - bare) / n
            if op not in timed:
                cn = CPU_N[op] // (20 if a.quick else 1)
                r, lo, hi = paired(a.bin, base, pre_env, op, cn, rounds, a.cpu)
                timed[op] = ("%.3f [%.3f-%.3f]" % (r, lo, hi),
                             reference(a.bin, base, op, max(2, cn // 10), a.cpu))
            ratio, (none, strace) = timed[op]
            print("%-16s %8.0f %+8.0f %+8.0f  %-20s %6s %6s  %s" % (
                name, b, added, added / calls, ratio, none, strace, what), flush=True)
        print("(cpu ratio: the whole program doing the operation %s times; rows of one "
              "workload share it)" % "/".join("%s %d" % kv for kv in sorted(CPU_N.items())))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    # The growth table: icount.py itself, so make check and make bench run the same test.
    return subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "icount.py"),
                           "--lib", lib, "--bin", a.bin, "--no-table", "--steady", "--growth",
                           "bench"]).returncode


if __name__ == "__main__":
    sys.exit(main())
