#!/usr/bin/env python3
"""A small HTTP/1.1 server for the corpus (tests/realworld/run.py) that runs one CGI
program for every request: git's smart HTTP (`git http-backend`) on loopback, with
keep-alive, as Apache or nginx+fcgiwrap would serve it. Standard library only; the
server itself is never preloaded (the git client is what the corpus looks at).

usage: cgi_server.py PORT CGI_PROGRAM [ARG...]   (extra CGI environment: the caller's)
Prints "listening" once it accepts connections.
"""
import http.server
import os
import subprocess
import sys
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: git's libcurl reuses its connection

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_any(self):
        path, _, query = self.path.partition("?")
        data = self.body()
        env = dict(os.environ)
        env.update({
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(path),
            "QUERY_STRING": query,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(data)),
        })
        for name, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                          ("Git-Protocol", "GIT_PROTOCOL")):
            if self.headers.get(name):
                env[var] = self.headers[name]
        p = subprocess.run(sys.argv[2:], input=data, env=env, capture_output=True, timeout=60)
        head, sep, out = p.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, out = p.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.splitlines():
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if p.returncode != 0 and not sep:
            status, headers, out = 500, [("Content-Type", "text/plain")], p.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = handle_any

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
