#!/usr/bin/env python3
"""tests/bench/mtchurn.py — connections churned on 1, 4 and 16 threads at once.

Runs build/bench/mtchurn (tests/bench/mtchurn.c: every thread its own listener, socket +
connect + accept + close both, N times), bare and preloaded (CONNLEAK=1), and prints per
thread count: the instructions per connection inside churn_one (callgrind, which runs the
threads one at a time: what each connection executes, not how long it waits) and the futex
calls of the whole run (strace -f -c: a thread that finds a lock taken sleeps in futex, so
this counts the waits the preload's locks add). Instructions per connection should not grow
with the threads and futex calls should stay near bare. No thresholds: make bench prints it.

Usage: mtchurn.py [--lib PATH] [--bin PATH] [--threads 1,4,16] [--n N]
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env_for(extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")}
    env.update(extra)
    return env


def instructions(binary, env, threads, n, tmp):
    out = tempfile.mkdtemp(dir=tmp)
    cmd = ["valgrind", "--tool=callgrind", "-q", "--callgrind-out-file=%s/cg.%%p" % out,
           "--dump-instr=no", "--toggle-collect=churn_one", binary, str(threads), str(n)]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=1800)
    if p.returncode != 0:
        sys.exit("mtchurn: callgrind run failed (%d): %s"
                 % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    total = 0
    for f in glob.glob(out + "/cg.*"):
        with open(f) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    total += int(line.split()[1])
                    break
    return total / (threads * n)


def futex_calls(binary, env, threads, n, tmp):
    log = os.path.join(tmp, "strace.%d" % threads)
    cmd = ["strace", "-f", "-c", "-e", "trace=futex", "-o", log, binary, str(threads), str(n)]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=1800)
    if p.returncode != 0:
        sys.exit("mtchurn: strace run failed (%d): %s"
                 % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    with open(log) as fh:
        for line in fh:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?futex\s*$", line)
            if m:
                return int(m.group(1))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default=os.environ.get("CONNLEAK_LIB",
                                                     ROOT + "/build/libconnleak.so"))
    ap.add_argument("--bin", default=ROOT + "/build/bench/mtchurn")
    ap.add_argument("--threads", default="1,4,16")
    ap.add_argument("--n", type=int, default=1000, help="connections per thread")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="connleak-mtchurn.")
    reports = os.path.join(tmp, "reports")
    os.mkdir(reports)
    bare = env_for({})
    pre = env_for({"LD_PRELOAD": os.path.abspath(a.lib), "CONNLEAK": "1",
                   "CONNLEAK_OPTIONS": "report_dir=" + reports})
    print("%-8s %10s %10s %12s %12s  (instructions per connection: socket + connect + "
          "accept + close both; futex calls per run of THREADS x %d)"
          % ("threads", "bare", "added", "futex bare", "futex preld", a.n))
    try:
        for t in [int(x) for x in a.threads.split(",")]:
            # Every thread's first stacks (walks, a new place recorded) are in the count,
            # spread over its N connections.
            ib = instructions(a.bin, bare, t, a.n, tmp)
            ip = instructions(a.bin, pre, t, a.n, tmp)
            fb = futex_calls(a.bin, bare, t, a.n, tmp)
            fp = futex_calls(a.bin, pre, t, a.n, tmp)
            print("%-8d %10.0f %+10.0f %12d %12d" % (t, ib, ip - ib, fb, fp), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
