#!/usr/bin/env python3
"""Time from `POST /hub/api/users/{name}/server` to a ready server, against any
JupyterHub-compatible hub (issue: real servers end to end).

  HUB_URL=http://127.0.0.1:18000 API_TOKEN=... bench/spawn_time.py --label rafthub --spawns 5

Each spawn uses a fresh user (created first), polls `GET /hub/api/users/{name}` every 20 ms
until the default server is ready, then stops it and waits until it is gone. Bounded: at most
`--spawns` spawns, each at most `--timeout` seconds. Prints one JSON line per spawn and a summary.
"""

import argparse
import json
import os
import statistics
import time

import requests


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--label", required=True)
    p.add_argument("--spawns", type=int, default=5)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--prefix", default="spawnbench")
    a = p.parse_args()
    api = os.environ["HUB_URL"].rstrip("/") + "/hub/api"
    h = {"Authorization": f"token {os.environ['API_TOKEN']}"}
    times = []
    for i in range(a.spawns):
        name = f"{a.prefix}{i}"
        requests.post(f"{api}/users/{name}", headers=h, timeout=10)
        t0 = time.monotonic()
        r = requests.post(f"{api}/users/{name}/server", headers=h, timeout=a.timeout)
        assert r.status_code in (201, 202), r.text
        ready = None
        while time.monotonic() - t0 < a.timeout:
            s = requests.get(f"{api}/users/{name}", headers=h, timeout=10).json()["servers"].get("", {})
            if s.get("ready"):
                ready = time.monotonic() - t0
                break
            time.sleep(0.02)
        print(json.dumps({"label": a.label, "spawn": i, "ready_s": ready and round(ready, 3)}), flush=True)
        if ready is not None:
            times.append(ready)
        requests.delete(f"{api}/users/{name}/server", headers=h, timeout=a.timeout)
        t1 = time.monotonic()
        while time.monotonic() - t1 < a.timeout:
            if not requests.get(f"{api}/users/{name}", headers=h, timeout=10).json()["servers"]:
                break
            time.sleep(0.05)
    print(json.dumps({
        "label": a.label, "spawns": a.spawns, "ready": len(times),
        "median_s": times and round(statistics.median(times), 3),
        "min_s": times and round(min(times), 3), "max_s": times and round(max(times), 3),
    }), flush=True)


if __name__ == "__main__":
    main()
