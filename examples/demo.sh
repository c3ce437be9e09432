#!/usr/bin/env bash
# make demo: builds the leaky example client, starts a python3 HTTP server on loopback as
# its peer, runs the client under `connleak run` and prints the JSON report it left.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/examples
cc -std=gnu11 -g -O0 -Wall -Wextra -Werror -o build/examples/leaky_client examples/leaky_client.c

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory examples >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
	sleep 0.1
done

reports=build/demo-reports
rm -rf "$reports"
echo "== connleak run --report-dir $reports --options close_wait_ms=100 -- build/examples/leaky_client $port"
status=0
build/connleak run --report-dir "$reports" --options close_wait_ms=100 -- build/examples/leaky_client "$port" || status=$?
echo "== exit status $status; the JSON report:"
cat "$reports"/leaky_client.*.json
