#!/usr/bin/env python3
"""A cheap stand-in for jupyterhub-singleuser, for the login-storm benchmark: it binds the
address in JUPYTERHUB_SERVICE_URL (as both hubs' local-process spawners pass it) and answers
every GET with 200, so a spawn costs one small Python process instead of a Jupyter server.
Arguments (such as --allow-root) are ignored. Standard library only."""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"cheap server of " + os.environ.get("JUPYTERHUB_USER", "?").encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    server = ThreadingHTTPServer((url.hostname, url.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
