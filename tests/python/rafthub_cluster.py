"""A real rafthub cluster: replicas as separate processes on 127.0.0.1-127.0.0.N.

Shared by the end-to-end tests (tests/python) and the benchmarks (bench/). The binary comes
from $RAFTHUB_BIN; every replica gets its own data dir, config file and log under `tmp`.
"""

import os
import random
import signal
import socket
import subprocess
import time

import requests

TOKEN = "pytest-admin-token-0123456789abcdef"
SECRET = "pytest-cluster-secret-0123456789"


_GIVEN = set()


def free_port(ip):
    """A free port below the ephemeral range (32768+) and the local spawner's (20000+).

    A port the kernel handed out for bind 0 is one an outgoing connection can take before
    the replica binds it; and a port is never handed out twice in one test run.
    """
    for _ in range(1000):
        port = random.randrange(10_000, 20_000)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind((ip, port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port on {ip} in 10000-19999")


class Replica:
    def __init__(self, idx, ip, tmp):
        self.id = idx
        self.ip = ip
        self.api_port = free_port(ip)
        self.public_port = free_port(ip)
        self.cluster_port = free_port(ip)
        self.config = tmp / f"node-{idx}.toml"
        self.log = tmp / f"node-{idx}.log"
        self.data = tmp / f"node-{idx}"
        self.proc = None

    @property
    def api(self):
        return f"http://{self.ip}:{self.api_port}/hub/api"

    @property
    def public(self):
        return f"http://{self.ip}:{self.public_port}"

    def start(self):
        self.proc = subprocess.Popen(
            [os.environ.get("RAFTHUB_BIN", "target/release/rafthub"), "serve", "--config", str(self.config)],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class Cluster:
    def __init__(self, tmp, n=3, hub_extra="", election=(300, 600), heartbeat=75, extra=""):
        self.root = tmp
        self.replicas = [Replica(i + 1, f"127.0.0.{i + 1}", tmp) for i in range(n)]
        peers = ", ".join(
            f'{{id = {r.id}, cluster = "{r.ip}:{r.cluster_port}", api = "{r.ip}:{r.api_port}"}}'
            for r in self.replicas
        )
        for r in self.replicas:
            r.config.write_text(
                f"""node_id = {r.id}
data_dir = "{r.data}"
[listen]
public = "{r.ip}:{r.public_port}"
api = "{r.ip}:{r.api_port}"
cluster = "{r.ip}:{r.cluster_port}"
[cluster]
secret = "{SECRET}"
peers = [{peers}]
election_timeout_min_ms = {election[0]}
election_timeout_max_ms = {election[1]}
heartbeat_ms = {heartbeat}
[hub]
admin_users = ["admin"]
activity_flush_ms = 500
api_page_max_limit = 100000
{hub_extra}
[[hub.services]]
name = "ops"
api_token = "{TOKEN}"
admin = true
{extra}
"""
            )

    def start(self):
        for r in self.replicas:
            r.start()
        for r in self.replicas:
            self.wait_ready(r)

    def wait_ready(self, r, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                resp = requests.get(r.api + "/user", headers=self.headers, timeout=2)
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"replica {r.id} not ready; log:\n{r.log.read_text()[-3000:]}")

    @property
    def headers(self):
        return {"Authorization": f"token {TOKEN}"}

    def leader(self):
        for r in self.replicas:
            if r.proc is None:
                continue
            try:
                text = requests.get(r.api.replace("/api", "/readyz"), timeout=2).text
            except requests.RequestException:
                continue
            if "(node " in text:
                return self.replicas[int(text.split("(node ")[1].split(",")[0]) - 1]
        raise AssertionError("no leader known")

    def stop(self):
        for r in self.replicas:
            r.kill()
        # Servers outlive the replica that started them (by design); the test owns them.
        for pid in servers_under(self.root):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def servers_under(root, user=None):
    """Live spawned-server processes (marked RAFTHUB_SERVER) whose working directory is under
    `root`, optionally only those of `user`."""
    found = []
    root = str(root)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
            state = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1][0]
        except OSError:
            continue
        if state == "Z" or not cwd.startswith(root):
            continue
        marker = next((kv for kv in env if kv.startswith(b"RAFTHUB_SERVER=")), None)
        if marker and (user is None or f'"u":"{user}"'.encode() in marker):
            found.append(int(pid))
    return found


