#!/usr/bin/env bash
# A/B of the CHP route API's add latency between rafthub binaries, alternating, a fresh
# 3-replica cluster (bench/rafthub-peer.sh) per run: 300 routes added one after another via
# replica 1, p50/p90/p99. Bounded: ROUNDS x binaries runs of 300 requests, 30 s timeout each.
#   bench/route_add_ab.sh ROUNDS BIN_A BIN_B [...]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
rounds=$1; shift
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    state="$(mktemp -d "${TMPDIR:-/tmp}/route-add-ab.XXXXXX")"
    export RAFTHUB_PEER_STATE="$state" RAFTHUB_BIN="$b"
    "$HERE/rafthub-peer.sh" start >/dev/null
    python3 - "$b" "$state" <<'PY' || true
import sys, time, requests
label, state = sys.argv[1], sys.argv[2]
token = open(f"{state}/proxy.token").read().strip()
s, ts = requests.Session(), []
for i in range(300):
    t = time.perf_counter()
    r = s.post(f"http://127.0.0.1:18001/api/routes/user/q{i}", timeout=30,
               headers={"Authorization": f"token {token}"}, json={"target": "http://127.0.0.1:9"})
    ts.append(time.perf_counter() - t)
    assert r.status_code == 201, r.text
ts.sort()
print(f"{label}: route add p50 {ts[150]*1e3:.2f} p90 {ts[270]*1e3:.2f} p99 {ts[297]*1e3:.2f} ms", flush=True)
PY
    "$HERE/rafthub-peer.sh" stop >/dev/null
    rm -rf "$state"
  done
done
