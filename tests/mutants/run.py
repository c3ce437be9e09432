#!/usr/bin/env python3
"""make mutate: mutation testing of connleak with a curated list of mutants.

    tests/mutants/run.py                 every mutant in tests/mutants/*.mut
    tests/mutants/run.py -k close        the mutants whose name contains "close"
    tests/mutants/run.py --jobs 1        one scratch tree instead of two
    tests/mutants/run.py --check         only check that every mutant still applies
    tests/mutants/run.py --keep          keep the scratch trees

A mutant is a deliberate small bug: an exact, unique snippet of one source file and what
it becomes (format: tests/mutants/README.md). Each is applied alone to a scratch copy of
this tree (the built objects copied along, so only what the mutant touches is rebuilt);
first the tests named in its `kill:` lines run (a fast kill), and only when they all pass
every suite the mutant's file can affect runs too. A mutant is killed when a test fails
(or times out, or the build's own tests crash); it survived when everything passed.

A mutant whose original text is not found exactly once in its file (someone changed the
code) is STALE; one that does not compile, or names a killer test that does not exist, is
BROKEN. Both are failures to fix in the list, whatever the score. The run fails when
any mutant is stale or broken, when a survivor carries no `equivalent:` note, or when
fewer than 90% of the mutants are killed. Before the mutants, the killer tests run once
on the unmutated copy: a kill means nothing if the test fails anyway.

Prints one line per mutant ("killed  NAME  by it:close_wait_late (fast)", "SURVIVED
NAME", ...) and then the score. Exit status 0 when the run passes, 1 otherwise.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
THRESHOLD = 0.90
BUILD_TIMEOUT = 600
FAST_TIMEOUT = 180    # seconds for the named killer tests of one mutant
SUITE_TIMEOUT = 600   # seconds for one whole suite

# What each kind of killer runs, and what it needs built.
RUNNERS = {
    "unit": (["./build/unit-tests", "--jobs", "1"], ["build/unit-tests"]),
    "report-unit": (["./build/report-unit-tests", "--jobs", "1"], ["build/report-unit-tests"]),
    "alone": (["./build/model-alone"], ["build/model-alone"]),
    "it": (["python3", "tests/integration/run.py"], ["all", "fixtures"]),
    "tls": (["python3", "tests/integration/run_tls.py"], ["all", "fixtures"]),
    "lease": (["python3", "tests/integration/run_lease.py"], ["all", "fixtures"]),
    "cli": (["python3", "tests/cli/run.py"], ["all", "fixtures"]),
    "robust": (["python3", "tests/integration/run_robust.py"], ["all", "fixtures"]),
    "managed": (["python3", "tests/integration/run_managed.py"], ["all", "fixtures"]),
    "survive": (["python3", "tests/integration/run_survive.py"], ["all", "fixtures"]),
    "growth": (["python3", "tests/integration/run_growth.py"], ["all", "fixtures"]),
    "lease-http": (["python3", "tests/integration/run_lease_http.py"], ["all", "fixtures"]),
    "hygiene": (["python3", "tests/cli/run_hygiene.py"], ["all", "fixtures"]),
    # Instruction counts (callgrind): named in kill lines only, never a whole-suite run.
    "icount": (["python3", "tests/bench/icount.py", "--quick", "--check"],
               ["all", "build/bench/icount"]),
}
CRITERION = {"unit", "report-unit"}

# The suites a file can affect: the preload's sources reach every test that runs a
# program under it; the command's reach the report tests and the CLI suites.
LIB_SUITES = ["unit", "alone", "it", "tls", "lease", "cli", "robust", "survive", "growth",
              "lease-http", "managed", "hygiene"]
TOOLS_SUITES = ["report-unit", "cli", "it", "growth", "hygiene"]


def suites_for(path):
    if path.startswith("tools/"):
        return TOOLS_SUITES
    if path.startswith("include/"):
        return LIB_SUITES + ["report-unit"]
    return LIB_SUITES


class Mutant:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        self.file = None
        self.why = []
        self.kill = []          # [(kind, pattern)]
        self.equivalent = None
        self.original = None
        self.replacement = None
        self.problem = None     # a reason this mutant cannot run as written
        self.status = None      # killed | survived | stale | broken
        self.detail = ""
        self.seconds = 0.0

    def label(self):
        return self.name


def parse(path):
    """Reads one .mut file; sets m.problem instead of raising."""
    m = Mutant(path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    block, buf = None, []
    blocks = {}
    for ln in lines:
        marker = re.fullmatch(r"--- (original|mutant|end)", ln)
        if marker:
            if block:
                blocks[block] = "\n".join(buf)
            block = marker.group(1) if marker.group(1) != "end" else None
            buf = []
            continue
        if block:
            buf.append(ln)
            continue
        if not ln.strip() or ln.startswith("#"):
            continue
        key, sep, val = ln.partition(":")
        key, val = key.strip(), val.strip()
        if not sep:
            m.problem = "line %r is not key: value" % ln
        elif key == "file":
            m.file = val
        elif key == "why":
            m.why.append(val)
        elif key == "kill":
            kind, _, pat = val.partition(" ")
            if kind not in RUNNERS or not pat.strip():
                m.problem = "kill: %r is not '<%s> <test>'" % (val, "|".join(RUNNERS))
            m.kill.append((kind, pat.strip()))
        elif key == "equivalent":
            m.equivalent = val
        elif key == "name":
            m.name = val
        else:
            m.problem = "unknown key %r" % key
    if block:
        m.problem = "block '--- %s' not closed with '--- end'" % block
    m.original, m.replacement = blocks.get("original"), blocks.get("mutant")
    if not m.problem:
        if not m.file:
            m.problem = "no file:"
        elif not m.why:
            m.problem = "no why:"
        elif not m.kill:
            m.problem = "no kill: (the test expected to kill it)"
        elif not m.original:
            m.problem = "no '--- original' block"
        elif m.replacement is None:
            m.problem = "no '--- mutant' block"
        elif m.original == m.replacement:
            m.problem = "the mutant block is the original"
    return m


def load_mutants(patterns):
    paths = sorted(p for p in os.listdir(HERE) if p.endswith(".mut"))
    ms = [parse(os.path.join(HERE, p)) for p in paths]
    if patterns:
        ms = [m for m in ms if any(p in m.name for p in patterns)]
    return ms


def check_applies(m, root):
    """Stale unless the original text is in the file exactly once."""
    if m.problem:
        m.status, m.detail = "broken", m.problem
        return False
    path = os.path.join(root, m.file)
    if not os.path.isfile(path):
        m.status, m.detail = "stale", "%s does not exist" % m.file
        return False
    with open(path, encoding="utf-8") as f:
        n = f.read().count(m.original)
    if n != 1:
        m.status = "stale"
        m.detail = "original text found %d times in %s (must be exactly once)" % (n, m.file)
        return False
    return True


# ---------------------------------------------------------------------------------------
# scratch trees


def tree_files():
    """The files of this tree as it is now (tracked and new, not ignored); outside a git
    checkout, every file but build/."""
    p = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                       capture_output=True)
    if p.returncode == 0:
        names = p.stdout.decode().split("\0")
    else:
        names = []
        for d, subdirs, files in os.walk(ROOT):
            rel = os.path.relpath(d, ROOT)
            subdirs[:] = [x for x in subdirs if not (rel == "." and x in ("build", ".git"))]
            names += [os.path.normpath(os.path.join(rel, f)) for f in files]
    return [n for n in names if n and os.path.isfile(os.path.join(ROOT, n))]


BUILT = ["build/obj", "build/unit-obj", "build/tools-obj", "build/fixtures", "build/libconnleak.so", "build/connleak",
         "build/unit-tests", "build/report-unit-tests"]


# What a mutant can rebuild (fixtures are built from tests/ only, never mutated).
REBUILT = [b for b in BUILT if b != "build/fixtures"]
PRISTINE = None  # a copy of REBUILT as built from the unmutated tree


def copy_built(src_root, dst_root, names):
    for rel in names:
        src = os.path.join(src_root, rel)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dst_root, rel), symlinks=True,
                            dirs_exist_ok=True)
        elif os.path.exists(src):
            os.makedirs(os.path.dirname(os.path.join(dst_root, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dst_root, rel))


def make_scratch(dst):
    """A copy of the tree with its build products, modification times kept, so make
    rebuilds only what a mutant touches."""
    for rel in tree_files():
        os.makedirs(os.path.dirname(os.path.join(dst, rel)) or dst, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dst, rel))
    copy_built(ROOT, dst, BUILT)


def run_cmd(argv, cwd, timeout):
    """(returncode or 'timeout', combined output)."""
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = p.communicate()
        return "timeout", out.decode(errors="replace")
    return p.returncode, out.decode(errors="replace")


def build(tree, targets):
    rc, out = run_cmd(["make", "-s", "--no-print-directory"] + sorted(set(targets)), tree,
                      BUILD_TIMEOUT)
    return rc == 0, out


def tests_run(kind, out):
    """How many tests the runner ran, from its summary line."""
    if kind in CRITERION:
        m = re.findall(r"Tested: (\d+)", out)
        return int(m[-1]) if m else 0
    m = re.findall(r"^(\d+) passed, (\d+) failed", out, re.M)
    return int(m[-1][0]) + int(m[-1][1]) if m else 0


def failed_tests(kind, out):
    if kind in CRITERION:
        names = re.findall(r"\[----\] ([^\s:]+::[^\s:]+)", out) + \
            re.findall(r"\[FAIL\] (\S+)", out)
    else:
        names = re.findall(r"^FAIL (\S+?):", out, re.M)
    seen = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def run_tests(tree, kind, patterns, timeout):
    """Runs the tests of one runner (all when patterns is None). Returns
    (outcome, detail): outcome 'pass', 'fail' or 'none' (no test matched)."""
    argv = list(RUNNERS[kind][0])
    if patterns:
        if kind in CRITERION:
            outcome, detail = "pass", ""
            for p in patterns:  # criterion takes one --filter glob
                o, d = run_tests_once(tree, kind, argv + ["--filter", p], timeout)
                if o != "pass":
                    return o, d or p
            return outcome, detail
        for p in patterns:
            argv += ["-k", p]
    return run_tests_once(tree, kind, argv, timeout)


def run_tests_once(tree, kind, argv, timeout):
    rc, out = run_cmd(argv, tree, timeout)
    if rc == "timeout":
        return "fail", "timeout after %ds" % timeout
    n = tests_run(kind, out)
    if rc == 0 and n == 0:
        return "none", " ".join(argv[1:])
    if rc == 0:
        return "pass", ""
    names = failed_tests(kind, out)
    if names:
        return "fail", ",".join(names[:3])
    if n == 0:  # crashed before any summary: a crash of the build's tests is a kill
        return "fail", "exit %s before any test summary: %s" % (rc, out.strip()[-200:])
    return "fail", "exit %s" % rc


# ---------------------------------------------------------------------------------------
# one mutant


def apply(tree, m):
    """Writes the mutant; returns what restore() needs."""
    path = os.path.join(tree, m.file)
    st = os.stat(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(m.original, m.replacement, 1))
    return text, (st.st_atime_ns, st.st_mtime_ns)


def restore(tree, m, saved):
    """The original text with its original modification time, and the build products as
    built from it: the tree is as before the mutant, and make has nothing to redo (a
    mutated header would otherwise cost a second full rebuild)."""
    text, times = saved
    path = os.path.join(tree, m.file)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.utime(path, ns=times)
    copy_built(PRISTINE, tree, REBUILT)


def run_mutant(tree, m):
    t0 = time.monotonic()
    kinds = [k for k, _ in m.kill]
    suites = suites_for(m.file)
    targets = [t for k in set(kinds) | set(suites) for t in RUNNERS[k][1]]
    saved = apply(tree, m)
    suite_fail = None
    try:
        ok, out = build(tree, targets)
        if not ok:
            m.status = "broken"
            m.detail = "does not build: " + " ".join(out.strip().split("\n")[-3:])[:300]
            return
        by_kind = {}
        for k, p in m.kill:
            by_kind.setdefault(k, []).append(p)
        for k, pats in by_kind.items():
            outcome, detail = run_tests(tree, k, pats, FAST_TIMEOUT)
            if outcome == "none":
                m.status, m.detail = "broken", "no %s test matches %s" % (k, detail)
                return
            if outcome == "fail":
                m.status, m.detail = "killed", "by %s:%s (fast)" % (k, detail)
                return
        for k in suites:
            outcome, detail = run_tests(tree, k, None, SUITE_TIMEOUT)
            if outcome == "fail":
                m.status, m.detail = "killed", "by %s:%s (suite; not by its kill: tests)" % (
                    k, detail)
                suite_fail = (k, detail)
                return
        m.status = "survived"
        m.detail = "equivalent: " + m.equivalent if m.equivalent else \
            "no test failed (%s)" % ", ".join(suites)
    finally:
        restore(tree, m, saved)
        if suite_fail:
            recheck(tree, m, *suite_fail)
        m.seconds = time.monotonic() - t0


def recheck(tree, m, kind, detail):
    """Each suite test that failed under the mutant is run again, alone, on the restored
    tree: one that fails there too is broken or flaky and killed nothing; the mutant stays
    killed by the others."""
    names = [n for n in detail.split(",") if n and " " not in n]
    if not names:
        return  # a timeout or a crash: nothing to run again by name
    flaky, real = [], []
    for n in names:
        arg = n.rstrip(":").replace("::", "/") if kind in CRITERION else n
        outcome, _ = run_tests(tree, kind, [arg], FAST_TIMEOUT)
        (flaky if outcome == "fail" else real).append(n)
    if real:
        m.detail = "by %s:%s (suite; not by its kill: tests)" % (kind, ",".join(real))
        if flaky:
            m.detail += "; %s also fails without the mutant" % ",".join(flaky)
        return
    m.status = "survived"
    m.detail = ("no test failed but %s:%s, which fails without the mutant too (fix that "
                "test)" % (kind, detail))


# ---------------------------------------------------------------------------------------


def baseline(tree, ms):
    """The killer tests must pass on the unmutated copy."""
    by_kind = {}
    for m in ms:
        for k, p in m.kill:
            by_kind.setdefault(k, set()).add(p)
    problems = []
    targets = [t for k in by_kind for t in RUNNERS[k][1]]
    ok, out = build(tree, targets)
    if not ok:
        return ["the unmutated tree does not build: " + out[-500:]]
    for k, pats in sorted(by_kind.items()):
        # criterion: the whole binary (seconds); python runners: just the killers
        outcome, detail = run_tests(tree, k, None if k in CRITERION else sorted(pats),
                                    SUITE_TIMEOUT)
        if outcome == "fail":
            problems.append("%s fails without any mutant: %s" % (k, detail))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", dest="pattern", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--check", action="store_true", help="only check that mutants apply")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    ms = load_mutants(args.pattern)
    if not ms:
        print("no mutant matches")
        return 1
    runnable = [m for m in ms if check_applies(m, ROOT)]
    for m in ms:
        if m.status:
            print("%-8s %-44s %s" % (m.status.upper(), m.name, m.detail), flush=True)
    if args.check:
        print("%d mutants, %d apply" % (len(ms), len(runnable)))
        return 0 if len(runnable) == len(ms) else 1

    t0 = time.monotonic()
    jobs = max(1, min(args.jobs, 2, len(runnable) or 1))
    scratch = tempfile.mkdtemp(prefix="connleak-mutate.")
    trees = [os.path.join(scratch, "tree%d" % i) for i in range(jobs)]
    try:
        global PRISTINE
        PRISTINE = os.path.join(scratch, "pristine")
        copy_built(ROOT, PRISTINE, REBUILT)
        for t in trees:
            make_scratch(t)
        problems = baseline(trees[0], runnable) if runnable else []
        if problems:
            for p in problems:
                print("BASELINE " + p)
            print("mutate: the killer tests fail on the unmutated tree; fix that first")
            return 1
        queue = list(runnable)
        lock = threading.Lock()

        def worker(tree):
            while True:
                with lock:
                    if not queue:
                        return
                    m = queue.pop(0)
                try:
                    run_mutant(tree, m)
                except Exception as e:  # the runner's own error: loud, and a failure
                    m.status, m.detail = "broken", "runner error: %r" % e
                with lock:
                    word = {"killed": "killed", "survived": "SURVIVED"}.get(m.status,
                                                                         m.status.upper())
                    print("%-8s %-44s %s [%.0fs]" % (word, m.name, m.detail, m.seconds),
                          flush=True)

        threads = [threading.Thread(target=worker, args=(t,)) for t in trees]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        if args.keep:
            print("kept %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    killed = [m for m in ms if m.status == "killed"]
    survived = [m for m in ms if m.status == "survived"]
    unexplained = [m for m in survived if not m.equivalent]
    bad = [m for m in ms if m.status in ("stale", "broken")]
    score = len(killed) / len(ms)
    print("\nmutate: %d mutants: %d killed, %d survived (%d accepted as equivalent), "
          "%d stale, %d broken; score %.1f%% (threshold %d%%) in %.0fs"
          % (len(ms), len(killed), len(survived), len(survived) - len(unexplained),
             sum(m.status == "stale" for m in ms), sum(m.status == "broken" for m in ms),
             100.0 * score, int(THRESHOLD * 100), time.monotonic() - t0))
    areas = {}
    for m in ms:
        a = areas.setdefault(m.name.split("-")[0], [0, 0])
        a[0] += m.status == "killed"
        a[1] += 1
    print("mutate: by area: " + ", ".join("%s %d/%d" % (a, k, n)
                                          for a, (k, n) in sorted(areas.items())))
    failed = False
    if bad:
        failed = True
        print("mutate: FAIL: fix the stale/broken mutants: %s (the code they name changed: "
              "update the original text, or retire the mutant)"
              % ", ".join(m.name for m in bad))
    if unexplained:
        failed = True
        print("mutate: FAIL: survivors without an 'equivalent:' note: %s (write the test "
              "that kills each, or explain why it cannot be killed)"
              % ", ".join(m.name for m in unexplained))
    if not args.pattern and score < THRESHOLD:
        failed = True
        print("mutate: FAIL: score %.1f%% is below %d%%" % (100.0 * score, THRESHOLD * 100))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
