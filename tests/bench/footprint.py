#!/usr/bin/env python3
"""tests/bench/footprint.py — the code connleak runs for each connection, as cache lines.

Between two of a program's calls the kernel and the peer run and evict the hooks' code, so
what a connection costs follows how much distinct code it runs more than how many
instructions (tests/bench/hookcycles.py measures the cycles; these machines have no
hardware counters to count the misses). This counts it deterministically: `churn PORT N`
(tests/bench/churn.c) runs under callgrind with the library preloaded, at two sizes; an
instruction of the library whose execution count grows by at least 0.9 per further
connection is on the connection's path (code that runs once a process, at start or in the
exit report, does not grow). Prints how many such instructions, in how many distinct
64-byte lines and 4 KB pages, and the functions that hold most of those lines.

Usage: footprint.py --lib PATH --churn PATH --port PORT [--n N] [--top K]
"""
import argparse
import collections
import glob
import os
import subprocess
import sys
import tempfile

LINE, PAGE = 64, 4096


def counts(lib, churn, port, n, tmp):
    """Executions of each instruction address of `lib`, and its function's name."""
    out = os.path.join(tmp, "cg.%d" % n)
    env = dict(os.environ, LD_PRELOAD=lib, CONNLEAK="1",
               CONNLEAK_OPTIONS="report_dir=%s:sample_ms=0:snapshot_ms=0" % tmp)
    cmd = ["valgrind", "--tool=callgrind", "-q", "--dump-instr=yes", "--compress-pos=no",
           "--compress-strings=no", "--callgrind-out-file=" + out, churn, str(port), str(n)]
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=600)
    if p.returncode != 0 or not os.path.exists(out):
        sys.exit("footprint: churn under callgrind failed: %s" % p.stderr.decode()[-2000:])
    addrs, names = collections.Counter(), {}
    obj = fn = None
    skip = False
    with open(out) as fh:
        for line in fh:
            if skip:  # the line after calls= is the call's inclusive cost
                skip = False
            elif line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                skip = True
            elif line.startswith("0x") and obj == lib:
                f = line.split()  # address, source line, cost
                a = int(f[0], 16)
                addrs[a] += int(f[-1])
                names[a] = fn
    for f in glob.glob(out + "*"):
        os.unlink(f)
    return addrs, names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--churn", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=300, help="connections of the smaller run")
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    lib = os.path.realpath(a.lib)
    with tempfile.TemporaryDirectory(prefix="connleak-footprint.") as tmp:
        small, _ = counts(lib, a.churn, a.port, a.n, tmp)
        large, names = counts(lib, a.churn, a.port, 2 * a.n, tmp)
    path = {x for x, c in large.items() if c - small.get(x, 0) >= 0.9 * a.n}
    if not path:
        sys.exit("footprint: no instruction of %s ran per connection" % lib)
    lines = {x // LINE for x in path}
    pages = {x // PAGE for x in path}
    per_fn = collections.defaultdict(set)
    for x in path:
        per_fn[names.get(x, "?")].add(x // LINE)
    print("code connleak runs for each connection (callgrind, churn %d vs %d): %d instructions"
          " in %d lines of 64 B (%.1f KB) on %d pages of 4 KB"
          % (a.n, 2 * a.n, len(path), len(lines), len(lines) * LINE / 1024, len(pages)))
    top = sorted(per_fn.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:a.top]
    print("  most lines: " + ", ".join("%s %d" % (fn, len(ls)) for fn, ls in top))


if __name__ == "__main__":
    main()
