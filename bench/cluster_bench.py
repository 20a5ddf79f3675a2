#!/usr/bin/env python3
"""Cluster benchmarks for rafthub (issue: replicated core), on real processes.

  writes    acknowledged writes/s through the HTTP API at 1 and 64 clients (wrk), p50/p99
  failover  SIGKILL of the leader, repeated: time to the first acknowledged write through a
            survivor, p50/p99
  restart   a replica holding N users (or the users 64 clients create one by one in S
            seconds, --wrk-seconds S): kill -9, restart, time from process start to
            /hub/health, /hub/readyz and the first user read

Usage: RAFTHUB_BIN=target/release/rafthub bench/cluster_bench.py writes|failover|restart [opts]
Every loop is bounded in count and time. Results are printed as JSON (one line per figure).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
from rafthub_cluster import TOKEN, Cluster  # noqa: E402

H = {"Authorization": f"token {TOKEN}"}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def emit(**kw):
    print(json.dumps(kw), flush=True)


def wrk(url, conns, seconds, prefix):
    env = dict(os.environ, API_TOKEN=TOKEN, NAME_PREFIX=prefix)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", str(HERE / "create_users.lua"), url],
        env=env, capture_output=True, text=True, timeout=seconds + 60,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_writes(args):
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(pathlib.Path(tmp))
        c.start()
        leader = c.leader()
        follower = next(r for r in c.replicas if r is not leader)
        for rep in range(args.repeats):
            for conns in (1, 64):
                for role, r in (("leader", leader), ("follower", follower)):
                    res = wrk(f"http://{r.ip}:{r.api_port}", conns, args.seconds, f"r{rep}{role[0]}{conns}")
                    emit(figure="writes", clients=conns, via=role, repeat=rep, **res)
        c.stop()


def bench_failover(args):
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(pathlib.Path(tmp), election=(args.emin, args.emax), heartbeat=args.heartbeat)
        c.start()
        times = []
        for k in range(args.kills):
            leader = c.leader()
            survivors = [r for r in c.replicas if r is not leader]
            first_ack = []
            stop = threading.Event()
            t_kill = [None]

            def writer(r, w):
                i = 0
                s = requests.Session()
                while not stop.is_set() and i < 5000:
                    t0 = time.monotonic()
                    try:
                        resp = s.post(f"{r.api}/users/f{k}-{r.id}-{w}-{i}", headers=H, timeout=3)
                        if resp.status_code == 201 and t_kill[0] is not None and t0 >= t_kill[0]:
                            first_ack.append(time.monotonic())
                            stop.set()
                    except requests.RequestException:
                        pass
                    i += 1

            threads = [threading.Thread(target=writer, args=(r, w)) for r in survivors for w in range(2)]
            for t in threads:
                t.start()
            time.sleep(0.5)
            t_kill[0] = time.monotonic()
            leader.kill()
            stop.wait(timeout=20)
            stop.set()
            for t in threads:
                t.join()
            if first_ack:
                ms = (min(first_ack) - t_kill[0]) * 1000
                times.append(ms)
                emit(figure="failover_kill", kill=k, ms=round(ms, 1), killed=leader.id)
            else:
                emit(figure="failover_kill", kill=k, ms=None, killed=leader.id, note="no ack within 20 s")
            leader.start()
            c.wait_ready(leader)
            time.sleep(1.0)  # let the restarted node catch up before the next kill
        c.stop()
        ok = [t for t in times if t is not None]
        emit(figure="failover", kills=args.kills, acked=len(ok), p50_ms=round(pct(ok, 50), 1),
             p99_ms=round(pct(ok, 99), 1), max_ms=round(max(ok), 1),
             election_ms=[args.emin, args.emax], heartbeat_ms=args.heartbeat)


def bench_restart(args):
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(pathlib.Path(tmp))
        c.start()
        r0 = c.replicas[0]
        t0 = time.monotonic()
        if args.wrk_seconds:
            # One user per write, 64 clients: the longest log tail per user (the worst case
            # for what a restart re-applies after the last snapshot).
            leader = c.leader()
            res = wrk(f"http://{leader.ip}:{leader.api_port}", 64, args.wrk_seconds, "r")
            users = res["requests"] - res["non2xx"]
            # At most 64 requests were in flight at the end, so this one surely completed.
            last = f"r-0-{res['requests'] - 64}"
        else:
            for b in range(0, args.users, 1000):
                names = [f"r{i:06d}" for i in range(b, min(b + 1000, args.users))]
                resp = requests.post(f"{r0.api}/users", headers=H, json={"usernames": names}, timeout=60)
                assert resp.status_code == 201, resp.text
            last = f"r{args.users - 1:06d}"
            users = args.users
        emit(figure="restart_setup", users=users, create_s=round(time.monotonic() - t0, 2))
        victim = next(r for r in c.replicas if r is not c.leader())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if requests.get(f"{victim.api}/users/{last}", headers=H, timeout=5).status_code == 200:
                break
            time.sleep(0.1)
        for rep in range(args.repeats):
            victim.kill()
            start = time.monotonic()
            victim.start()
            marks = {}
            while time.monotonic() - start < 60 and len(marks) < 3:
                try:
                    if "health" not in marks and requests.get(victim.api.replace("/api", "/health"), timeout=1).ok:
                        marks["health"] = time.monotonic() - start
                    if "health" in marks and "readyz" not in marks and requests.get(
                        victim.api.replace("/api", "/readyz"), timeout=1
                    ).ok:
                        marks["readyz"] = time.monotonic() - start
                    if "readyz" in marks and requests.get(f"{victim.api}/users/{last}", headers=H, timeout=2).ok:
                        marks["first_read"] = time.monotonic() - start
                except requests.RequestException:
                    pass
                time.sleep(0.02)
            emit(figure="restart", users=users, repeat=rep, **{k: round(v, 3) for k, v in marks.items()})
        c.stop()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("writes")
    w.add_argument("--seconds", type=int, default=10)
    w.add_argument("--repeats", type=int, default=3)
    f = sub.add_parser("failover")
    f.add_argument("--kills", type=int, default=20)
    f.add_argument("--emin", type=int, default=300)
    f.add_argument("--emax", type=int, default=600)
    f.add_argument("--heartbeat", type=int, default=75)
    r = sub.add_parser("restart")
    r.add_argument("--users", type=int, default=100_000)
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--wrk-seconds", type=int, default=0,
                   help="create users one per request with wrk for this long instead of --users in batches")
    a = p.parse_args()
    {"writes": bench_writes, "failover": bench_failover, "restart": bench_restart}[a.cmd](a)


if __name__ == "__main__":
    main()
