#!/usr/bin/env python3
"""Login storm (issue: real servers end to end): N simulated users log in and start a cheap
server within one minute, against upstream JupyterHub + configurable-http-proxy or a local
3-replica rafthub, one after the other on the same machine.

  bench/login_storm.py --hub upstream|rafthub [--users 500] [--seconds 60]

Each user, starting at i * seconds / users, with its own cookie jar: GET {hub}login, POST it
(dummy authenticator, the form's _xsrf), GET {hub}spawn, polls {hub}spawn-pending/<name> every
0.5 s until it redirects, then GET /user/<name>/ through the proxy. With rafthub every request
goes to a random replica's public port (as a Service without session affinity would send it).
Both hubs use their local-process spawner with bench/cheap_server.py (one small Python process
per server). Records every request's latency, the time from login to the first answer of the
server, and the hubs' CPU time (hub + proxy processes, not the servers) and peak RSS.
Bounded: one flow per user, each at most --flow-timeout seconds. Prints JSON lines.
"""

import argparse
import concurrent.futures as cf
import json
import os
import pathlib
import random
import re
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
CHEAP = HERE / "cheap_server.py"
XSRF = re.compile(r'name="_xsrf"\s+value="([^"]+)"')


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else None


def proc_cpu(pid):
    """utime + stime of one process, in seconds (children not included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def wait_http(url, timeout=90, headers=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2, headers=headers).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"login_storm: {url} not up within {timeout} s")


class Upstream:
    """JupyterHub from the peer venv of ../shared/bench (peers/setup.sh), with its default
    configurable-http-proxy, dummy authenticator and SimpleLocalProcessSpawner."""

    def __init__(self, state):
        work = pathlib.Path(os.environ.get("BENCH_WORK", f"{tempfile.gettempdir()}/rafthub-bench"))
        peers = pathlib.Path(os.environ.get("PEERS_DIR", work / ".peers"))
        self.jupyterhub = peers / "venv/bin/jupyterhub"
        self.chp = peers / "node/node_modules/.bin/configurable-http-proxy"
        for p in (self.jupyterhub, self.chp):
            if not p.exists():
                raise SystemExit(f"login_storm: {p} missing; run ../shared/bench/peers/setup.sh")
        self.state = state
        self.bases = ["http://127.0.0.1:18000"]

    def start(self):
        cfg = self.state / "jupyterhub_config.py"
        cfg.write_text(f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = 18000
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = 18081
c.JupyterHub.db_url = "sqlite:///{self.state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{self.state}/cookie_secret"
c.JupyterHub.pid_file = "{self.state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.command = ["{self.chp}"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:18001"
c.ConfigurableHTTPProxy.auth_token = "login-storm-proxy-token-0123456789"
c.ConfigurableHTTPProxy.pid_file = "{self.state}/proxy.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{self.state}/home/{{username}}"
c.Spawner.cmd = ["{CHEAP}"]
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
""")
        log = open(self.state / "jupyterhub.log", "ab")
        self.proc = subprocess.Popen([str(self.jupyterhub), "-f", str(cfg)], cwd=self.state,
                                     stdout=log, stderr=log, start_new_session=True)
        wait_http(self.bases[0] + "/hub/health")
        deadline = time.monotonic() + 30
        while not (self.state / "proxy.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def pids(self):
        return {"jupyterhub": self.proc.pid,
                "configurable-http-proxy": int((self.state / "proxy.pid").read_text().strip())}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


class Rafthub:
    """Three replicas from bench/rafthub-peer.sh with the dummy authenticator and the local
    spawner running bench/cheap_server.py."""

    def __init__(self, state):
        self.env = dict(os.environ, RAFTHUB_PEER_STATE=str(state), RAFTHUB_PEER_SPAWNER_CMD=str(CHEAP),
                        RAFTHUB_PEER_EXTRA_TOML='[auth]\nkind = "dummy"\n')
        self.state = state
        self.bases = [f"http://127.0.0.1:{18000 + 100 * i}" for i in range(3)]

    def start(self):
        subprocess.run([str(HERE / "rafthub-peer.sh"), "start"], env=self.env, check=True)
        for b in self.bases:
            wait_http(b + "/hub/health")

    def pids(self):
        return {f"replica-{i}": int((self.state / f"node-{i}.pid").read_text()) for i in (1, 2, 3)}

    def stop(self):
        subprocess.run([str(HERE / "rafthub-peer.sh"), "stop"], env=self.env, check=False)


def flow(hub, name, a, record):
    """One user's login and spawn: (seconds from the first request to the server's first
    answer, None) or (None, why it failed)."""
    s = requests.Session()
    deadline = time.monotonic() + a.flow_timeout

    def get(kind, path, **kw):
        url = random.choice(hub.bases) + path
        t0 = time.monotonic()
        try:
            r = s.request(kw.pop("method", "GET"), url, allow_redirects=False, timeout=a.flow_timeout, **kw)
            record(kind, time.monotonic() - t0, r.status_code)
            return r
        except requests.RequestException as e:
            record(kind, time.monotonic() - t0, type(e).__name__)
            return None

    t_start = time.monotonic()
    r = get("login_page", "/hub/login")
    m = r is not None and r.status_code == 200 and XSRF.search(r.text)
    if not m:
        return None, f"login page: {r is not None and r.status_code}"
    r = get("login_post", "/hub/login", method="POST",
            data={"username": name, "password": "storm", "_xsrf": m.group(1)})
    if r is None or r.status_code != 302:
        return None, f"login post: {r is not None and r.status_code}"
    r = get("spawn", "/hub/spawn")
    if r is None or r.status_code != 302 or "/login" in r.headers.get("location", ""):
        return None, f"spawn: {r is not None and (r.status_code, r.headers.get('location'))}"
    while time.monotonic() < deadline:
        r = get("spawn_pending", f"/hub/spawn-pending/{name}")
        if r is not None and r.status_code == 302:
            if f"/user/{name}/" not in r.headers.get("location", ""):
                return None, f"spawn-pending sent to {r.headers.get('location')}"
            break
        time.sleep(a.poll)
    else:
        return None, "spawn-pending never redirected"
    where = r.headers.get("location")
    while time.monotonic() < deadline:
        r = get("server", f"/user/{name}/")
        if r is not None and r.status_code == 200:
            return time.monotonic() - t_start, None
        time.sleep(a.poll)
    last = r is not None and (r.status_code, r.headers.get("location"))
    return None, f"server never answered 200 (pending page sent to {where}; last {last})"


def run(a):
    state = pathlib.Path(tempfile.mkdtemp(prefix=f"login-storm-{a.hub}-"))
    hub = Upstream(state) if a.hub == "upstream" else Rafthub(state)
    hub.start()
    pids = hub.pids()
    lat, lock = {}, threading.Lock()

    def record(kind, secs, status):
        with lock:
            lat.setdefault(kind, []).append((secs, status))

    try:
        cpu0 = {k: proc_cpu(p) for k, p in pids.items()}
        t0 = time.monotonic()
        ready = []
        with cf.ThreadPoolExecutor(max_workers=a.threads) as ex:
            futs = []
            for i in range(a.users):
                def one(i=i):
                    delay = t0 + i * a.seconds / a.users - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    return flow(hub, f"{a.prefix}{i}", a, record)
                futs.append(ex.submit(one))
            for f in futs:
                ready.append(f.result())
        wall = time.monotonic() - t0
        cpu = {k: round(proc_cpu(p) - cpu0[k], 1) for k, p in pids.items()}
        hwm = {k: round(proc_hwm_mib(p)) for k, p in pids.items()}
    finally:
        if a.leave_running:
            print(json.dumps({"left_running": str(state)}), flush=True)
            return 0
        hub.stop()
        subprocess.run(["pkill", "-f", str(CHEAP)], check=False)
        if not a.keep:
            shutil.rmtree(state, ignore_errors=True)
    ok = [t for t, _ in ready if t is not None]
    for i, (_, why) in enumerate(ready):
        if why:
            print(json.dumps({"hub": a.hub, "user": f"{a.prefix}{i}", "failed": why}), flush=True)
    pages = [s for k, v in lat.items() if k != "server" for s, _ in v]
    errors = {k: sum(1 for _, st in v if not (isinstance(st, int) and st < 400)) for k, v in lat.items()}
    for k, v in sorted(lat.items()):
        xs = [s * 1000 for s, _ in v]
        statuses = {}
        for _, st in v:
            statuses[str(st)] = statuses.get(str(st), 0) + 1
        print(json.dumps({"hub": a.hub, "kind": k, "requests": len(v), "statuses": statuses,
                          "p50_ms": round(pct(xs, 50), 1), "p99_ms": round(pct(xs, 99), 1),
                          "max_ms": round(max(xs), 1)}), flush=True)
    print(json.dumps({
        "hub": a.hub, "users": a.users, "seconds": a.seconds, "servers_reached": len(ok),
        "wall_s": round(wall, 1),
        "page_requests": len(pages), "page_p50_ms": round(pct(pages, 50) * 1000, 1),
        "page_p99_ms": round(pct(pages, 99) * 1000, 1),
        "login_to_server_p50_s": ok and round(statistics.median(ok), 2),
        "login_to_server_p99_s": ok and round(pct(ok, 99), 2),
        "hub_cpu_s": cpu, "hub_cpu_total_s": round(sum(cpu.values()), 1),
        "hub_cpu_cores_avg": round(sum(cpu.values()) / wall, 2), "peak_rss_mib": hwm,
    }), flush=True)
    return 0 if len(ok) == a.users else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hub", choices=["upstream", "rafthub"], required=True)
    p.add_argument("--users", type=int, default=500)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--flow-timeout", type=float, default=90)
    p.add_argument("--prefix", default="storm")
    p.add_argument("--keep", action="store_true", help="keep the state dir (logs)")
    p.add_argument("--leave-running", action="store_true", help="debugging: leave the hub and servers running")
    sys.exit(run(p.parse_args()))


if __name__ == "__main__":
    main()
