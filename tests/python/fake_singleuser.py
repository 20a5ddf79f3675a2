"""A cheap stand-in for jupyterhub-singleuser, for tests and benchmarks that start many
servers (spawn storms, API fuzzing): it binds where the hub says (JUPYTERHUB_SERVICE_URL),
answers 200 to everything under its prefix, and exits on SIGTERM. Spawn-storm tests need
hundreds of these at once, which real Jupyter servers would not fit into on 2 cores."""

import http.server
import os
import signal
import sys
import time
from urllib.parse import urlparse

url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200 if self.path.startswith(prefix) else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
# Seconds to wait before listening: keeps a spawn in progress long enough to kill a leader.
time.sleep(float(os.environ.get("FAKE_SINGLEUSER_DELAY", "0")))
http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
