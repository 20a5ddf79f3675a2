#!/usr/bin/env python3
"""Proxy memory and route-table latency (issue: the embedded proxy), against
configurable-http-proxy alone (from the peer setup of ../shared/bench) or rafthub (3 replicas
from bench/rafthub-peer.sh; the figures are replica 1's, the replica the requests go to).

  bench/proxy_memory.py --proxy chp|rafthub [--routes 10000] [--websockets 1000]

1. RSS of the proxy process at start.
2. --routes routes added one after another through the route API (`POST /api/routes/user/u<i>`,
   CHP's API on both), each timed; RSS after.
3. `GET /api/routes` with every route, timed (median of 5).
4. --websockets websockets opened through the proxy to a websocket echo backend (the peer
   bench's lib/wsutil.py), one echo each, then left idle for --idle seconds; RSS while idle.
5. --deletes routes deleted one after another, each timed.
VmHWM (peak RSS) at the end, and the peak of its two parts, sampled every 50 ms: RssAnon (the
process's own memory) and RssFile (pages of mapped files, mostly the program's text; clean,
shared with other processes running the same binary, and on kernels that map whole large folios
on a fault, most of the text once the program has run a while).
Bounded: fixed counts, every request with a timeout. JSON lines.
"""

import argparse
import asyncio
import base64
import json
import os
import pathlib
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent
SHARED_LIB = (HERE / "../../shared/bench/lib").resolve()
TOKEN = "proxy-memory-token-0123456789abcdef"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[k] = round(int(v.split()[0]) / 1024, 1)
    return out


class PeakSampler:
    """Peak RssAnon and RssFile of a process, sampled every 50 ms on a thread."""

    def __init__(self, pid):
        self.pid, self.peak = pid, {"RssAnon": 0.0, "RssFile": 0.0}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done.wait(0.05):
            try:
                m = mem(self.pid)
            except OSError:
                return
            for k in self.peak:
                self.peak[k] = max(self.peak[k], m.get(k, 0.0))

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        return self.peak


def free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_http(url, timeout=60, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"proxy_memory: {url} not up within {timeout} s")


class Chp:
    def __init__(self, state):
        work = pathlib.Path(os.environ.get("BENCH_WORK", f"{tempfile.gettempdir()}/rafthub-bench"))
        self.bin = pathlib.Path(os.environ.get("PEERS_DIR", work / ".peers")) / "node/node_modules/.bin/configurable-http-proxy"
        if not self.bin.exists():
            raise SystemExit(f"proxy_memory: {self.bin} missing; run ../shared/bench/peers/setup.sh")
        self.port, self.api_port, self.hub_port = free_ports(3)
        self.public = f"http://127.0.0.1:{self.port}"
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.token = TOKEN
        self.state = state

    def start(self):
        log = open(self.state / "chp.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.bin), "--ip", "127.0.0.1", "--port", str(self.port), "--api-ip", "127.0.0.1",
             "--api-port", str(self.api_port), "--default-target", f"http://127.0.0.1:{self.hub_port}",
             "--error-target", f"http://127.0.0.1:{self.hub_port}/hub/error", "--log-level", "warn"],
            env=dict(os.environ, CONFIGPROXY_AUTH_TOKEN=self.token), stdout=log, stderr=log)
        wait_http(self.api + "/api/routes", headers={"Authorization": f"token {self.token}"})
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Rafthub:
    def __init__(self, state):
        self.env = dict(os.environ, RAFTHUB_PEER_STATE=str(state))
        self.state = state
        self.public = "http://127.0.0.1:18000"
        self.api = "http://127.0.0.1:18001"

    def start(self):
        subprocess.run([str(HERE / "rafthub-peer.sh"), "start"], env=self.env, check=True)
        self.token = (self.state / "proxy.token").read_text().strip()
        self.pid = int((self.state / "node-1.pid").read_text())

    def stop(self):
        subprocess.run([str(HERE / "rafthub-peer.sh"), "stop"], env=self.env, check=False)


async def open_ws(host, port, path):
    """A websocket through the proxy, checked with one echo; returns the writer."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    payload = b"hello"
    mask = os.urandom(4)
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await writer.drain()
    frame = await asyncio.wait_for(reader.readexactly(2 + len(payload)), 10)
    if frame[2:] != payload:
        raise RuntimeError(f"bad echo {frame!r}")
    return writer


async def websockets(public, n, idle, pid):
    """Opens n websockets (50 handshakes at a time), holds them idle, measures, closes."""
    host, port = public.split("//")[1].split(":")
    hold = asyncio.Event()
    sem = asyncio.Semaphore(50)
    opened, errors = [], []

    async def one(i):
        try:
            async with sem:
                w = await open_ws(host, int(port), f"/user/u{i}/ws")
        except (OSError, RuntimeError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            errors.append(f"{type(e).__name__}: {e}")
            return
        opened.append(1)
        await hold.wait()
        w.close()

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    deadline = time.monotonic() + 120
    while len(opened) + len(errors) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(idle)
    m = mem(pid)
    hold.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return len(opened), errors[:3], m


def run(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    state = pathlib.Path(tempfile.mkdtemp(prefix=f"proxy-memory-{a.proxy}-"))
    ws_port = free_ports(1)[0]
    backend = subprocess.Popen([sys.executable, str(SHARED_LIB / "wsutil.py"), "serve", str(ws_port)])
    p = Chp(state) if a.proxy == "chp" else Rafthub(state)
    p.start()
    h = {"Authorization": f"token {p.token}"}
    s = requests.Session()
    out = {"proxy": a.proxy, "routes": a.routes, "websockets": a.websockets}
    try:
        time.sleep(1)
        sampler = PeakSampler(p.pid)
        out["rss_start_mib"] = mem(p.pid)["VmRSS"]
        adds = []
        for i in range(a.routes):
            t0 = time.monotonic()
            r = s.post(f"{p.api}/api/routes/user/u{i}", headers=h, timeout=30,
                       json={"target": f"http://127.0.0.1:{ws_port}", "user": f"u{i}", "server_name": ""})
            adds.append(time.monotonic() - t0)
            if r.status_code != 201:
                raise SystemExit(f"route add {i}: {r.status_code} {r.text[:200]}")
        out["add_p50_ms"] = round(pct(adds, 50) * 1000, 2)
        out["add_p99_ms"] = round(pct(adds, 99) * 1000, 2)
        out["add_per_s"] = round(len(adds) / sum(adds), 1)
        time.sleep(2)
        out["rss_after_routes_mib"] = mem(p.pid)["VmRSS"]
        gets = []
        for _ in range(5):
            t0 = time.monotonic()
            r = s.get(f"{p.api}/api/routes", headers=h, timeout=60)
            gets.append(time.monotonic() - t0)
            assert len(r.json()) >= a.routes, len(r.json())
        out["get_all_routes_ms"] = round(statistics.median(gets) * 1000, 1)
        opened, errors, m = asyncio.run(websockets(p.public, a.websockets, a.idle, p.pid))
        out["websockets_opened"] = opened
        if errors:
            out["websocket_errors"] = errors
        out["rss_idle_websockets_mib"] = m["VmRSS"]
        dels = []
        for i in range(a.deletes):
            t0 = time.monotonic()
            r = s.delete(f"{p.api}/api/routes/user/u{i}", headers=h, timeout=30)
            dels.append(time.monotonic() - t0)
            if r.status_code != 204:
                raise SystemExit(f"route delete {i}: {r.status_code} {r.text[:200]}")
        out["delete_p50_ms"] = round(pct(dels, 50) * 1000, 2)
        out["delete_p99_ms"] = round(pct(dels, 99) * 1000, 2)
        out["peak_rss_mib"] = mem(p.pid)["VmHWM"]
        peak = sampler.stop()
        out["peak_rss_anon_mib"] = peak["RssAnon"]
        out["peak_rss_file_mib"] = peak["RssFile"]
    finally:
        p.stop()
        backend.terminate()
        if not a.keep:
            shutil.rmtree(state, ignore_errors=True)
    print(json.dumps(out), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", choices=["chp", "rafthub"], required=True)
    ap.add_argument("--routes", type=int, default=10000)
    ap.add_argument("--websockets", type=int, default=1000)
    ap.add_argument("--deletes", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=5)
    ap.add_argument("--keep", action="store_true")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
