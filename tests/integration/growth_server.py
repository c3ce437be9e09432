#!/usr/bin/env python3
"""The first story in Python, under load (run_growth.py): a threaded HTTP server whose every
request fetches https://127.0.0.1:TLS_PORT/ through an HTTP proxy's CONNECT tunnel with the
ssl module, closes the tunnel's descriptor and keeps the SSLSocket (and so its SSL*) in a
list it never clears: one orphaned TLS session per request.

    growth_server.py PROXY_PORT TLS_PORT

Prints "port=P pid=P" once listening on 127.0.0.1; GET /quit answers, stops and exits 0
after printing "requests=N kept=N"."""

import http.server
import os
import socket
import ssl
import sys
import threading

PROXY, TLS = int(sys.argv[1]), int(sys.argv[2])
CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
KEPT = []  # the "TunnelStateObjects": kept for a reuse that never comes
LOCK = threading.Lock()
COUNT = [0]


def open_tunnel():
    raw = socket.create_connection(("127.0.0.1", PROXY), timeout=10)
    raw.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (TLS, TLS))
    reply = b""
    while not reply.endswith(b"\r\n\r\n"):
        b = raw.recv(1)
        if not b:
            raise OSError("proxy closed")
        reply += b
    if b" 200 " not in reply.split(b"\r\n")[0]:
        raise OSError("proxy refused: %r" % reply[:80])
    return raw


def fetch_through_tunnel():
    tls = CTX.wrap_socket(open_tunnel(), server_hostname="localhost")
    tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        try:
            b = tls.recv(4096)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not b:
            break
        data += b
    if not data.startswith(b"HTTP/1.1 200"):
        raise OSError("bad reply %r" % data[:80])
    # "Connection: close": the socket goes, the session object stays referenced.
    os.close(tls.fileno())
    with LOCK:
        KEPT.append(tls)
        COUNT[0] += 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/quit":
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")
            threading.Thread(target=self.server.shutdown).start()
            return
        fetch_through_tunnel()
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("port=%d pid=%d" % (srv.server_address[1], os.getpid()), flush=True)
    srv.serve_forever()
    print("requests=%d kept=%d" % (COUNT[0], len(KEPT)), flush=True)
    # Exit without running the kept objects' finalizers (the process ends as a killed
    # load-test service would, with its sessions alive): the report is written at exit.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
