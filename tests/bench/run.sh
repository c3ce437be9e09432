#!/usr/bin/env bash
# tests/bench/run.sh — `make bench`: what connleak costs a real program.
#
# Builds tests/bench/churn.c into build/bench/, starts a private nginx on a free loopback
# port (temp prefix, one worker, no access log, `return 200 "ok"`), then times each workload
# bare and preloaded in alternation (one untimed warm-up of each first) with a monotonic
# clock and prints the median of the per-round ratios preloaded/bare:
#   churn       churn PORT 3000 with CONNLEAK=1 CONNLEAK_OPTIONS=report_dir=<tmp>
#   keep-alive  ab -k -n 20000 -c 4 against the same nginx, ab preloaded with CONNLEAK=1
#   tls-ka      the same over TLS (nginx ssl listener, self-signed cert), -n 10000; again
#               with symbolize=0 (ab ends with findings: symbolizing them costs ~50 ms)
#   floor       churn under tests/bench/floor.c, a preload that keeps a record per socket and
#               nothing else: the part of churn's ratio any such tool pays on this machine
#   disabled    churn with LD_PRELOAD set but no CONNLEAK=1 (must be a pure pass-through)
#   ka-snapshot keep-alive with snapshot_ms=50 (the snapshot thread and its helper processes
#               at work during the run), against bare
#   exit-10     a process that ends with 10 findings (tests/bench/exit10.c): the exit cost
#               (report writing, symbolization) in ms per process, target < 2 ms
#   ka-framing  what HTTP/1.x framing for leases adds (track/http.c): keep-alive preloaded with
#               lease_ms=86400000 (framing on, no lease ever due) against keep-alive preloaded
#               without a lease; tls-framing the same over TLS (symbolize=0 in both)
# Targets (issue 12: churn <= 1.03, keep-alive <= 1.02, tls-ka <= 1.03, disabled <= 1.005) are
# printed as PASS/OVER beside the CPU-time ratios; timing never makes this script fail.  Then
# (x86-64) the cycles the hooks themselves spend on each call of the churn workload, between
# two timing shims (tests/bench/hookcycles.py): where a connection's cost is, which the
# CPU-time ratio is too noisy to tell apart, and the code they run for a connection as
# cache lines and pages (tests/bench/footprint.py, callgrind).  Then, for reference, the
# churn and keep-alive workloads under valgrind --tool=none --track-fds=yes, memcheck and
# strace -f against the same workloads bare, and the table per operation of tests/bench/optable.py: for each
# operation of tests/bench/icount.c, the bare and added instructions (callgrind), the
# CPU-time ratio of a program doing it many times with its 95% interval, and valgrind
# --tool=none --track-fds=yes and strace -f on that same program; then the operations that
# must not grow with open sockets at 10 vs 10,000 open sockets.
# It does fail (exit 1) when a workload itself fails, or when the preloaded runs wrote no
# report / the disabled runs wrote one, since then the numbers would not mean anything.
#
# Knobs (environment): CONNLEAK_LIB (default build/libconnleak.so), BENCH_ROUNDS (21),
# BENCH_OP_ROUNDS (11, rounds per operation in the table per operation), BENCH_HOOK_ROUNDS
# (30, paired rounds of the hook cycles), BENCH_CHURN_N (3000), BENCH_AB_N (20000),
# BENCH_AB_C (4), BENCH_TLS_N (10000), BENCH_REF_N (1000, iterations for the valgrind/strace
# reference lines), BENCH_PIN (1: pin nginx and the clients to one CPU; 0: let the
# scheduler place them — noisier).
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LIB=${CONNLEAK_LIB:-$ROOT/build/libconnleak.so}
ROUNDS=${BENCH_ROUNDS:-21}
CHURN_N=${BENCH_CHURN_N:-3000}
AB_N=${BENCH_AB_N:-20000}
AB_C=${BENCH_AB_C:-4}
TLS_N=${BENCH_TLS_N:-10000}
REF_N=${BENCH_REF_N:-1000}
PIN=${BENCH_PIN:-1}
BENCH_DIR=$ROOT/build/bench
CHURN=$BENCH_DIR/churn

die() { echo "bench: $*" >&2; exit 1; }

[[ -f "$LIB" ]] || die "$LIB not found (run make first, or set CONNLEAK_LIB)"
LIB=$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")
for tool in python3 nginx ab cc; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (bash scripts/deps.sh installs it)"
done

mkdir -p "$BENCH_DIR"
cc -O2 -Wall -Wextra -o "$CHURN" "$ROOT/tests/bench/churn.c"
EXIT10=$BENCH_DIR/exit10
cc -O2 -g -Wall -Wextra -o "$EXIT10" "$ROOT/tests/bench/exit10.c"
cc -O2 -g -Wall -Wextra -pthread -o "$BENCH_DIR/icount" "$ROOT/tests/bench/icount.c" -lssl -lcrypto -lgnutls
cc -O2 -g -Wall -Wextra -pthread -o "$BENCH_DIR/mtchurn" "$ROOT/tests/bench/mtchurn.c"
FLOOR=$BENCH_DIR/floor.so
cc -O2 -shared -fPIC -Wall -Wextra -o "$FLOOR" "$ROOT/tests/bench/floor.c" -ldl
# The timing shims of tests/bench/hookcycles.py (x86: they read the time-stamp counter).
HOOKSHIM=0
if [[ "$(uname -m)" == x86_64 ]]; then
    cc -O2 -shared -fPIC -Wall -Wextra -o "$BENCH_DIR/hookshim-outer.so" "$ROOT/tests/bench/hookshim.c" -ldl
    cc -O2 -shared -fPIC -Wall -Wextra -DHOOKSHIM_INNER -o "$BENCH_DIR/hookshim-inner.so" \
        "$ROOT/tests/bench/hookshim.c" -ldl
    HOOKSHIM=1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/connleak-bench.XXXXXX")
NGINX_PID=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# timeit.py [--cpu N] [VAR=value ...] -- CMD ARGS...: run CMD with a clean environment
# (no inherited LD_PRELOAD/CONNLEAK*) plus the given variables, print its CPU time in ns
# (user + system, from the children's rusage), exit with its status.  stdout goes to /dev/null.
cat >"$TMP/timeit.py" <<'EOF'
import os, subprocess, sys, time
args = sys.argv[1:]
env = {k: v for k, v in os.environ.items()
       if k not in ("LD_PRELOAD", "CONNLEAK", "CONNLEAK_OPTIONS")}
if args[:1] == ["--cpu"]:
    os.sched_setaffinity(0, {int(args[1])})
    args = args[2:]
while args[0] != "--":
    k, v = args.pop(0).split("=", 1)
    env[k] = v
cmd = args[1:]
# CPU time of the workload (user + system, its children included), which is what the
# preload adds to; the wall time would also carry nginx's share and the scheduler's noise.
import resource
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((r.ru_utime + r.ru_stime) * 1e9)
t0 = cpu()
rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode
t1 = cpu()
print(max(t1 - t0, 1))
sys.exit(rc)
EOF

# nginx and the clients share one CPU (the first this script may use).  Measured here, that
# cuts run-to-run noise about five-fold (cross-CPU loopback wake-ups are what jitter, worst in
# VMs), and a fixed overhead then shows up as the share of the whole exchange it really is.
CPU=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
NGINX_CPU=() CLIENT_CPU=()
if [[ "$PIN" == 1 ]] && command -v taskset >/dev/null 2>&1; then
    NGINX_CPU=(taskset -c "$CPU")
    CLIENT_CPU=(--cpu "$CPU")
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_nginx() {
    local port=$1 i
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
    mkdir -p "$TMP/nginx/logs"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$TLS_PORT ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        location / { return 200 "ok"; }
    }
}
EOF
    env -u LD_PRELOAD -u CONNLEAK -u CONNLEAK_OPTIONS "${NGINX_CPU[@]}" \
        nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
        >"$TMP/nginx/logs/stdout.log" 2>&1 &
    NGINX_PID=$!
    for i in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.05
    done
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
    echo "bench: nginx did not start on port $port (try $i):" >&2
    cat "$TMP/nginx/logs/stdout.log" "$TMP/nginx/logs/error.log" >&2 2>/dev/null || true
    return 1
}

PORT=
for _ in 1 2 3; do
    PORT=$(free_port)
    TLS_PORT=$(free_port)
    start_nginx "$PORT" && break
    PORT=
done
[[ -n "$PORT" ]] || die "could not start nginx"

# timed NAME VAR=value... -- CMD...: print the run's time in ns; on failure show its stderr.
timed() {
    local name=$1 ns
    shift
    if ! ns=$(python3 "$TMP/timeit.py" "${CLIENT_CPU[@]}" "$@" 2>"$TMP/stderr.$name"); then
        echo "bench: workload '$name' failed: ${*}" >&2
        cat "$TMP/stderr.$name" >&2
        exit 1
    fi
    echo "$ns"
}

mkdir -p "$TMP/reports" "$TMP/reports-disabled" "$TMP/reports-ab" "$TMP/reports-tls" \
    "$TMP/reports-snap" "$TMP/reports-exit"
CHURN_CMD=("$CHURN" "$PORT" "$CHURN_N")
AB_CMD=(ab -q -k -n "$AB_N" -c "$AB_C" "http://127.0.0.1:$PORT/")
TLS_CMD=(ab -q -k -n "$TLS_N" -c "$AB_C" "https://127.0.0.1:$TLS_PORT/")
PRE_ON=(LD_PRELOAD="$LIB" CONNLEAK=1)
PRE_OFF=(LD_PRELOAD="$LIB" CONNLEAK_OPTIONS="report_dir=$TMP/reports-disabled")

# bench_pair NAME "BARE ENV" "PRELOADED ENV" CMD...: alternate bare/preloaded ROUNDS times
# after one warm-up each; print "bare_median_ns pre_median_ns median_ratio ci_low ci_high".
bench_pair() {
    local name=$1 i b p
    local -a bare_env pre_env bare=() pre=()
    read -r -a bare_env <<<"$2"
    read -r -a pre_env <<<"$3"
    shift 3
    timed "$name" "${bare_env[@]}" -- "$@" >/dev/null
    timed "$name" "${pre_env[@]}" -- "$@" >/dev/null
    for ((i = 0; i < ROUNDS; i++)); do
        b=$(timed "$name" "${bare_env[@]}" -- "$@")
        p=$(timed "$name" "${pre_env[@]}" -- "$@")
        bare+=("$b") pre+=("$p")
    done
    python3 - "${bare[*]}" "${pre[*]}" <<'EOF'
import random, statistics, sys
bare = [int(x) for x in sys.argv[1].split()]
pre = [int(x) for x in sys.argv[2].split()]
ratios = [p / b for b, p in zip(bare, pre)]
# 95% bootstrap interval of the median ratio: how far run-to-run noise could move it.
rng = random.Random(1)
boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
print(int(statistics.median(bare)), int(statistics.median(pre)),
      "%.3f" % statistics.median(ratios), "%.3f" % boot[50], "%.3f" % boot[1949])
EOF
}

echo "connleak bench: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$PORT," \
     "$ROUNDS rounds, library $LIB"
if ((${#CLIENT_CPU[@]})); then
    echo "  nginx and clients pinned to CPU $CPU"
fi

# Environment lists travel as one word each; the values below contain no spaces.
[[ "$TMP$LIB" != *" "* ]] || die "paths with spaces are not supported: $TMP $LIB"
R_CHURN=$(bench_pair churn "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports" "${CHURN_CMD[@]}")
R_FLOOR=$(bench_pair churn-floor "" "LD_PRELOAD=$FLOOR" "${CHURN_CMD[@]}")
R_KA=$(bench_pair keep-alive "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-ab" "${AB_CMD[@]}")
R_TLS=$(bench_pair tls-keep-alive "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-tls" "${TLS_CMD[@]}")
# ab never frees its TLS sessions, so each run ends with findings and pays for symbolizing
# them at exit; without that, the steady-state cost of the TLS hooks shows.
R_TLS0=$(bench_pair tls-keep-alive-nosym "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-tls:symbolize=0" "${TLS_CMD[@]}")
# The cost of framing: both sides preloaded, the second with a lease that never falls due.
NEVER=lease_ms=86400000
R_FRAME=$(bench_pair ka-framing "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-ab" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-ab:$NEVER" "${AB_CMD[@]}")
R_FRAME_TLS=$(bench_pair tls-framing "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-tls:symbolize=0" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-tls:symbolize=0:$NEVER" "${TLS_CMD[@]}")
R_OFF=$(bench_pair disabled "" "${PRE_OFF[*]}" "${CHURN_CMD[@]}")
# Snapshots every 50 ms while ab runs (ab's connections change only at its start and end,
# so most periods find nothing to rewrite: the thread's wake-ups and the few helper clones).
R_SNAP=$(bench_pair ka-snapshot "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-snap:snapshot_ms=50" "${AB_CMD[@]}")
R_EXIT=$(bench_pair exit-10 "" "${PRE_ON[*]} CONNLEAK_OPTIONS=report_dir=$TMP/reports-exit:log_path=$TMP/exit10.log" "$EXIT10")

# Reference: the same churn workload, fewer iterations, one run under each tool against
# the median of three bare runs of that size.
REF_CMD=("$CHURN" "$PORT" "$REF_N")
ref_bare=()
for _ in 1 2 3; do ref_bare+=("$(timed ref-bare -- "${REF_CMD[@]}")"); done
REF_BARE=$(printf '%s\n' "${ref_bare[@]}" | sort -n | sed -n 2p)
ref_lines=()
ref() {  # label tool-command...
    local label=$1 ns
    shift
    if ! command -v "$1" >/dev/null 2>&1; then
        ref_lines+=("$label|-|not installed")
        return
    fi
    if ! ns=$(timed ref -- "$@" "${REF_CMD[@]}"); then
        ref_lines+=("$label|-|failed")
        return
    fi
    ref_lines+=("$label|$(awk -v a="$ns" -v b="$REF_BARE" 'BEGIN { printf "%.2f", a / b }')|$(awk -v a="$ns" 'BEGIN { printf "%.1f", a / 1e6 }')")
}
ref "valgrind --tool=none --track-fds=yes" valgrind -q --tool=none --track-fds=yes --log-file=/dev/null
ref "valgrind --track-fds=yes (memcheck)" valgrind -q --track-fds=yes --log-file=/dev/null
ref "strace -f -o /dev/null" strace -f -o /dev/null
REF_LINES_CHURN=("${ref_lines[@]}")
# The same tools on the keep-alive workload (ab -k, BENCH_REF_AB_N requests).
REF_CMD=(ab -q -k -n "${BENCH_REF_AB_N:-5000}" -c "$AB_C" "http://127.0.0.1:$PORT/")
ref_bare=()
for _ in 1 2 3; do ref_bare+=("$(timed ref-bare -- "${REF_CMD[@]}")"); done
REF_KA_BARE=$(printf '%s\n' "${ref_bare[@]}" | sort -n | sed -n 2p)
REF_BARE_CHURN=$REF_BARE REF_BARE=$REF_KA_BARE
ref_lines=()
ref "valgrind --tool=none --track-fds=yes" valgrind -q --tool=none --track-fds=yes --log-file=/dev/null
ref "valgrind --track-fds=yes (memcheck)" valgrind -q --track-fds=yes --log-file=/dev/null
ref "strace -f -o /dev/null" strace -f -o /dev/null
REF_LINES_KA=("${ref_lines[@]}")
REF_BARE=$REF_BARE_CHURN

# Sanity: enabled runs wrote reports (so the library really was active), disabled ones none.
count_reports() { find "$1" -type f | wc -l; }
N_ON=$(count_reports "$TMP/reports")
N_AB=$(count_reports "$TMP/reports-ab")
N_TLS=$(count_reports "$TMP/reports-tls")
N_OFF=$(count_reports "$TMP/reports-disabled")
N_SNAP=$(count_reports "$TMP/reports-snap")
N_EXIT=$(count_reports "$TMP/reports-exit")
FINDINGS=$(python3 - "$TMP/reports" "$TMP/reports-ab" "$TMP/reports-tls" <<'EOF'
import collections, json, os, sys
kinds = collections.Counter()
bad = 0
for d in sys.argv[1:]:
    for name in os.listdir(d):
        try:
            with open(os.path.join(d, name)) as f:
                for finding in json.load(f).get("findings", []):
                    kinds[finding.get("kind", "?")] += finding.get("count", 1)
        except (OSError, ValueError, AttributeError):
            bad += 1
out = ", ".join("%s x%d" % kv for kv in sorted(kinds.items())) or "none"
print(out + ("" if not bad else " (%d unreadable report(s))" % bad))
EOF
)

row() {  # name results target
    local name=$1 target=$3 bare pre ratio lo hi verdict
    read -r bare pre ratio lo hi <<<"$2"
    verdict=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r <= t) ? "PASS" : "OVER" }')
    printf '%-12s %10.1f %10.1f %7s  %-13s %-9s %s\n' "$name" \
        "$(awk -v x="$bare" 'BEGIN { print x / 1e6 }')" "$(awk -v x="$pre" 'BEGIN { print x / 1e6 }')" \
        "$ratio" "$lo..$hi" "<= $target" "$verdict"
}

echo
printf '%-12s %10s %10s %7s  %-13s %-9s %s\n' workload "bare cpu ms" "preld ms" ratio "95% interval" target verdict
row churn "$R_CHURN" 1.03
read -r fb fp fr flo fhi <<<"$R_FLOOR"
printf '%-12s %10.1f %10.1f %7s  %-13s %s\n' floor "$(awk -v x="$fb" 'BEGIN { print x / 1e6 }')" \
    "$(awk -v x="$fp" 'BEGIN { print x / 1e6 }')" "$fr" "$flo..$fhi" \
    "churn under tests/bench/floor.c: a record per socket, nothing else (reference)"
row keep-alive "$R_KA" 1.02
row tls-ka "$R_TLS" 1.03
row tls-ka-nosym "$R_TLS0" 1.03
row disabled "$R_OFF" 1.005
row ka-snapshot "$R_SNAP" 1.03
read -r eb ep _ <<<"$R_EXIT"
printf '%-12s %10.2f %10.2f  extra %.2f ms per process with 10 findings (target < 2 ms)\n' exit-10 \
    "$(awk -v x="$eb" 'BEGIN { print x / 1e6 }')" "$(awk -v x="$ep" 'BEGIN { print x / 1e6 }')" \
    "$(awk -v a="$ep" -v b="$eb" 'BEGIN { print (a - b) / 1e6 }')"
row ka-framing "$R_FRAME" 1.02
row tls-framing "$R_FRAME_TLS" 1.02
echo "(ratio = median of $ROUNDS alternating bare/preloaded rounds, CPU time of the client; interval =" \
     "bootstrap 95% of that median; churn = $CHURN_N connections; keep-alive = ab -k -n $AB_N -c $AB_C;" \
     "tls-ka = the same over TLS, -n $TLS_N; *-framing = preloaded with lease framing on" \
     "against preloaded without, so 'bare' is the preloaded run)"
echo
if ((HOOKSHIM)); then
    python3 "$ROOT/tests/bench/hookcycles.py" --lib "$LIB" --shim-dir "$BENCH_DIR" \
        --churn "$CHURN" --port "$PORT" --rounds "${BENCH_HOOK_ROUNDS:-30}" \
        ${CLIENT_CPU[1]:+--cpu "${CLIENT_CPU[1]}"} ||
        echo "bench: the hook cycles failed (above)"
    echo
fi
python3 "$ROOT/tests/bench/footprint.py" --lib "$LIB" --churn "$CHURN" --port "$PORT" ||
    echo "bench: the connection's code footprint failed (above)"
echo
printf '%-40s %8s %10s\n' "reference: churn $REF_N connections" "ratio" "cpu ms"
printf '%-40s %8s %10.1f\n' "bare (median of 3)" "1.00" "$(awk -v x="$REF_BARE" 'BEGIN { print x / 1e6 }')"
for line in "${REF_LINES_CHURN[@]}"; do
    IFS='|' read -r label ratio ms <<<"$line"
    printf '%-40s %8s %10s\n' "$label" "$ratio" "$ms"
done
printf '%-40s %8s %10s\n' "reference: ab -k ${BENCH_REF_AB_N:-5000} requests" "ratio" "cpu ms"
printf '%-40s %8s %10.1f\n' "bare (median of 3)" "1.00" "$(awk -v x="$REF_KA_BARE" 'BEGIN { print x / 1e6 }')"
for line in "${REF_LINES_KA[@]}"; do
    IFS='|' read -r label ratio ms <<<"$line"
    printf '%-40s %8s %10s\n' "$label" "$ratio" "$ms"
done
echo
echo "per operation (instructions: callgrind, deterministic; cpu: ${BENCH_OP_ROUNDS:-11} rounds; tests/bench/optable.py):"
OP_CPU=()
if ((${#CLIENT_CPU[@]})); then OP_CPU=(--cpu "$CPU"); fi
python3 "$ROOT/tests/bench/optable.py" --lib "$LIB" --bin "$BENCH_DIR/icount" \
    --rounds "${BENCH_OP_ROUNDS:-11}" "${OP_CPU[@]}" ||
    echo "bench: the per-operation table failed, or an operation grows with the open sockets (above)"
echo
echo "threads churning connections at once (tests/bench/mtchurn.py):"
python3 "$ROOT/tests/bench/mtchurn.py" --lib "$LIB" --bin "$BENCH_DIR/mtchurn" ||
    echo "bench: the thread churn table failed (above)"
echo
echo "reports: churn $N_ON file(s), keep-alive $N_AB file(s), tls $N_TLS file(s), snapshots $N_SNAP file(s), exit-10 $N_EXIT file(s), disabled $N_OFF file(s); findings: $FINDINGS"

status=0
if ((N_ON == 0 || N_AB == 0 || N_TLS == 0 || N_SNAP == 0 || N_EXIT == 0)); then
    echo "bench: WARNING: preloaded runs wrote no report — was the library active?" >&2
    status=1
fi
if ((N_OFF != 0)); then
    echo "bench: WARNING: runs without CONNLEAK=1 wrote reports — the disabled path is not a pass-through" >&2
    status=1
fi
exit "$status"
