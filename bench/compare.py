#!/usr/bin/env python3
"""Side-by-side table of upstream vs rafthub medians from one run-side-by-side.sh output dir:
  python3 bench/compare.py docs/benchmarks/<date>
Ratios are rafthub/upstream for throughputs and upstream/rafthub for times (bigger = better)."""

import json
import pathlib
import sys

d = pathlib.Path(sys.argv[1])
up = json.load(open(d / "upstream.json"))
rh = json.load(open(d / "rafthub.json"))
direct = {}
for name, key in (("upstream-direct.json", "up"), ("rafthub-direct.json", "rh")):
    p = d / name
    if p.exists():
        raw = json.load(open(p))
        direct[key] = raw.get("median") or raw.get("summary") or raw

ROWS = [
    ("a) create users, users/s", "create_users_per_s", "more"),
    ("b) full GET /users, ms", "list_full_ms", "less"),
    ("b) first page (limit=200), ms", "list_page_ms", "less"),
    ("b) paginated walk, ms", "list_walk_ms", "less"),
    ("c) activity storm, req/s", "activity_rps", "more"),
    ("c) activity storm p99, ms", "activity_p99_ms", "less"),
    ("c) hub CPU per activity request, ms", "activity_hub_cpu_ms_per_req", "less"),
    ("d) GET /users/{name}, req/s", "read_rps", "more"),
    ("d) GET /users/{name} p99, ms", "read_p99_ms", "less"),
    ("h) GET /user token check, req/s", "whoami_rps", "more"),
    ("h) token check p99, ms", "whoami_p99_ms", "less"),
    ("e) static backend direct, req/s", "proxy_direct_rps", "more"),
    ("e) through the proxy, req/s", "proxy_via_rps", "more"),
    ("e) through the proxy p99, ms", "proxy_via_p99_ms", "less"),
    ("e) proxy CPU per proxied run, s", "proxy_cpu_s", "less"),
    ("e) websocket echo rtt p50, ms", "ws_rtt_p50_ms", "less"),
    ("f) cold restart to /hub/health, s", "restart_health_s", "less"),
    ("f) cold restart to first GET /users, s", "restart_first_list_s", "less"),
    ("g) hub peak RSS, MiB", "rss_hub_peak_mb", "less"),
    ("g) proxy peak RSS, MiB", "rss_proxy_peak_mb", "less"),
]


def ratio(u, r, better):
    if not isinstance(u, (int, float)) or not isinstance(r, (int, float)) or not u or not r:
        return "n/a"
    x = r / u if better == "more" else u / r
    return f"{x:.1f}×"


print(f"| figure | upstream | rafthub | rafthub vs upstream |\n|---|---:|---:|---:|")
for label, key, better in ROWS:
    u, r = up["median"].get(key), rh["median"].get(key)
    print(f"| {label} | {u if u is not None else 'n/a'} | {r if r is not None else 'n/a'} | {ratio(u, r, better)} |")
if direct.get("up") and direct.get("rh"):
    print("\nStraight to the hub's API port (no proxy hop), one run each:\n")
    print("| figure | upstream | rafthub | rafthub vs upstream |\n|---|---:|---:|---:|")
    for label, key, better in ROWS[:11]:
        u, r = direct["up"].get(key), direct["rh"].get(key)
        print(f"| {label} | {u} | {r} | {ratio(u, r, better)} |")
