#!/usr/bin/env python3
"""What snapshots cost a replica as the state grows: memory peak, encode time, restart.

  bench/snapshot_cost.py [--users 100000] [--batch 1000]      (env RAFTHUB_BIN)

A fresh 3-replica cluster; --users users created through the leader in batches of --batch
(`POST /users`), so every replica snapshots several times on the way (a snapshot is due once
the commands since the last one touched half the state's rows). Then, per replica: VmHWM (the
peak RSS, where a snapshot's transient copies show) next to VmRSS, and every "snapshot written"
line of its log (rows, bytes, milliseconds). Last, replica 3 is killed and restarted: the time
to /hub/readyz loads its newest snapshot and replays the log after it.
Bounded: fixed counts, every request with a timeout. JSON lines.
"""

import argparse
import json
import os
import pathlib
import re
import sys
import tempfile
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
from rafthub_cluster import TOKEN, Cluster  # noqa: E402

H = {"Authorization": f"token {TOKEN}"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def status_mib(pid, field):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def snapshots_in(log):
    """(rows, bytes, ms) of every "snapshot written" line."""
    out = []
    for line in ANSI.sub("", log.read_text(errors="replace")).splitlines():
        if "snapshot written" not in line:
            continue
        f = dict(re.findall(r"(\w+)=(\d+)", line))
        ms = f.get("ms") or str(int(f.get("encode_ms", 0)) + int(f.get("write_ms", 0)))
        out.append({"rows": int(f.get("rows", 0)), "bytes": int(f.get("bytes", 0)), "ms": int(ms)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        c = Cluster(pathlib.Path(tmp))
        c.start()
        try:
            leader = c.leader()
            t0 = time.monotonic()
            for b in range(0, a.users, a.batch):
                names = [f"s{i:07d}" for i in range(b, min(b + a.batch, a.users))]
                r = requests.post(f"{leader.api}/users", headers=H, json={"usernames": names}, timeout=60)
                assert r.status_code == 201, r.text[:300]
            created = time.monotonic() - t0
            time.sleep(3)  # let the last snapshots finish
            for r in c.replicas:
                snaps = snapshots_in(r.log)
                print(json.dumps({
                    "replica": r.id, "users": a.users, "create_s": round(created, 1),
                    "peak_rss_mib": status_mib(r.proc.pid, "VmHWM"),
                    "rss_mib": status_mib(r.proc.pid, "VmRSS"),
                    "snapshots": len(snaps),
                    "last_snapshot": snaps[-1] if snaps else None,
                }), flush=True)
            victim = c.replicas[2]
            victim.kill()
            start = time.monotonic()
            victim.start()
            ready = None
            while time.monotonic() - start < 60:
                try:
                    if requests.get(victim.api.replace("/api", "/readyz"), timeout=1).ok:
                        ready = time.monotonic() - start
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.02)
            print(json.dumps({
                "replica": victim.id, "restart_ready_s": ready and round(ready, 3),
                "peak_rss_after_restart_mib": status_mib(victim.proc.pid, "VmHWM"),
            }), flush=True)
        finally:
            c.stop()


if __name__ == "__main__":
    main()
