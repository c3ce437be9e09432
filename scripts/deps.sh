#!/usr/bin/env bash
# scripts/deps.sh — install the Debian packages connleak needs to build and test.
#
# Called by the Makefile before building (`--build-only`) and before `make check`
# (default: build set + the real programs the integration tests and bench run against).
# If nothing is missing it exits 0 at once and prints nothing.  Otherwise it runs
# apt-get as root, or through sudo when that works without a password, or prints the
# exact command to run and exits 1.
#
# Usage: bash scripts/deps.sh [--build-only]
set -euo pipefail

BUILD_PKGS=(build-essential pkg-config libunwind-dev uthash-dev libcriterion-dev
            libdw-dev libjansson-dev libexpat1-dev clang libclang-rt-dev libncurses-dev)
TEST_PKGS=(nginx-light curl wget python3 python3-requests apache2-utils tinyproxy
           openssl strace valgrind libssl-dev libgnutls28-dev wrk chromium tmux
           openssh-server openssh-client iputils-ping
           # the real-world corpus (make realworld)
           memcached redis-server redis-tools openjdk-17-jdk-headless nodejs
           libpython3.11-testsuite git postgresql)

want=("${BUILD_PKGS[@]}")
case "${1:-}" in
    --build-only) ;;
    "") want+=("${TEST_PKGS[@]}") ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown argument '$1' (accepts: --build-only)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: dpkg-query not found; this script only knows Debian/Ubuntu." >&2
    echo "deps.sh: install the equivalents of: ${want[*]}" >&2
    exit 1
fi

# One dpkg-query for all of them; names it does not know are simply absent from its output.
installed=" $(dpkg-query -W -f='${Package}=${db:Status-Status} ' "${want[@]}" 2>/dev/null || true) "
missing=()
for p in "${want[@]}"; do
    [[ "$installed" == *" $p=installed "* ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "deps.sh: missing Debian packages: ${missing[*]}" >&2

apt_env=(env DEBIAN_FRONTEND=noninteractive)
install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "deps.sh: not root and sudo needs a password; run this, then retry:" >&2
    echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

"${sudo[@]}" "${apt_env[@]}" apt-get update
"${sudo[@]}" "${apt_env[@]}" "${install_cmd[@]}"

# Package post-install scripts may start system services (nginx on :80, tinyproxy on
# :8888).  Tests start their own instances on ports they choose, so stop those.  On
# machines without an init system (containers) nothing was started and this is a no-op.
stop_service() {  # name pidfile...
    local name=$1 pidfile pid
    shift
    if command -v service >/dev/null 2>&1; then
        "${sudo[@]}" service "$name" stop >/dev/null 2>&1 || true
    fi
    for pidfile in "$@"; do
        [[ -r "$pidfile" ]] || continue
        pid=$(head -n1 "$pidfile" 2>/dev/null || true)
        if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
            "${sudo[@]}" kill -TERM "$pid" 2>/dev/null || true
        fi
    done
}
for p in "${missing[@]}"; do
    case "$p" in
        nginx-light) stop_service nginx /run/nginx.pid /var/run/nginx.pid ;;
        tinyproxy)   stop_service tinyproxy /run/tinyproxy/tinyproxy.pid /var/run/tinyproxy/tinyproxy.pid ;;
        openssh-server) stop_service ssh /run/sshd.pid /var/run/sshd.pid ;;
        memcached)   stop_service memcached /run/memcached/memcached.pid ;;
        redis-server) stop_service redis-server /run/redis/redis-server.pid ;;
    esac
done

echo "deps.sh: installed ${missing[*]}" >&2
