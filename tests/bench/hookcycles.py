#!/usr/bin/env python3
"""tests/bench/hookcycles.py — the cycles connleak's hooks spend on a real connection.

Runs `churn PORT N` (tests/bench/churn.c) against a running server with two timing shims
(tests/bench/hookshim.c) around the library: LD_PRELOAD="outer lib inner". The outer shim
times each socket, connect, write, read and close the program makes, hook included; the
inner one times the real call the hook makes. Outer minus inner is the hooks' own time,
on the workload itself: between two of the program's calls the kernel and the server run
and leave the hooks' code and data cold, so these cycles count what instruction counts
cannot (cache misses, branches, locked instructions). Each round runs the same shims with
no library between them too, and the library's figure is the paired difference (what the
shims themselves cost cancels). The real calls' own time is not compared: with the server
on the same CPU it holds the server's turns too, which the hooks' timing moves around.

Rounds alternate the two setups; per-call figures are medians over rounds, the
connection's with a 95% bootstrap interval. No thresholds: make bench prints it.

Usage: hookcycles.py --lib PATH --shim-dir DIR --churn PATH --port PORT [--n N] [--rounds R]
       [--cpu CPU]   (DIR holds hookshim-outer.so and hookshim-inner.so)
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile

CALLS = ("socket", "connect", "write", "read", "close")


def read_counts(path):
    counts = {}
    with open(path) as fh:
        for line in fh:
            name, calls, cycles = line.split()
            counts[name] = (int(calls), int(cycles))
    return counts


def one_run(args, lib, tmp):
    outer, inner = os.path.join(tmp, "outer"), os.path.join(tmp, "inner")
    for p in (outer, inner):
        if os.path.exists(p):
            os.unlink(p)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")}
    middle = [lib] if lib else []
    env.update(LD_PRELOAD=" ".join([os.path.join(args.shim_dir, "hookshim-outer.so")] + middle
                                   + [os.path.join(args.shim_dir, "hookshim-inner.so")]),
               HOOKSHIM_OUT=outer, HOOKSHIM_OUT_INNER=inner)
    if lib:
        env.update(CONNLEAK="1", CONNLEAK_OPTIONS="report_dir=" + os.path.join(tmp, "reports"))
    subprocess.run([args.churn, str(args.port), str(args.n)], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    o, i = read_counts(outer), read_counts(inner)
    conns = o["socket"][0] or 1
    own = {k: (o[k][1] - i[k][1]) / max(o[k][0], 1) for k in CALLS}
    own["connection"] = sum(o[k][1] - i[k][1] for k in CALLS) / conns
    return own


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--shim-dir", required=True)
    ap.add_argument("--churn", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--cpu", type=int)
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    with tempfile.TemporaryDirectory(prefix="connleak-hookcycles.") as tmp:
        os.mkdir(os.path.join(tmp, "reports"))
        none, lib = [], []
        for r in range(args.rounds):
            order = [(None, none), (args.lib, lib)]
            for l, acc in (order if r % 2 == 0 else order[::-1]):
                acc.append(one_run(args, l, tmp))
    diff = {k: [b[k] - a[k] for a, b in zip(none, lib)]
            for k in CALLS + ("connection",)}
    med = {k: statistics.median(v) for k, v in diff.items()}
    rng = random.Random(1)
    boot = sorted(statistics.median(rng.choices(diff["connection"], k=len(diff["connection"])))
                  for _ in range(2000))
    print("hook cycles per call (TSC, median of %d paired rounds of churn %d): %s"
          % (args.rounds, args.n, "  ".join("%s %.0f" % (k, med[k]) for k in CALLS)))
    print("a connection (socket, connect, write, 2 reads, close): %.0f cycles [%.0f-%.0f 95%%]"
          % (med["connection"], boot[50], boot[1949]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
