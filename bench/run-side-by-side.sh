#!/usr/bin/env bash
# Side-by-side benchmark, one run of this script = one machine, one time window:
#   1. upstream JupyterHub + configurable-http-proxy with ../shared/bench/peers/run-peer-bench.sh
#   2. rafthub (3 local replicas, bench/rafthub-peer.sh) with the same ../shared/bench/bench.sh,
#      RUNS times on a fresh cluster each, plus one run straight to a replica's API port
#   3. bench/compare.py: the two medians side by side with ratios -> docs/benchmarks/<date>/
# Env: RUNS (3), N, K, T, ... as bench.sh reads them; SKIP_UPSTREAM=1 reuses the last upstream result
# of the same date. Needs a release build (cargo build --release -p rafthub).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="${SHARED_BENCH:-$ROOT/../shared/bench}"
export BENCH_WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/rafthub-bench}"
export RAFTHUB_BIN="${RAFTHUB_BIN:-$ROOT/target/release/rafthub}"
RUNS="${RUNS:-3}"
DATE="${DATE:-$(date -u +%Y-%m-%d)}"
OUT="$ROOT/docs/benchmarks/$DATE"
RAW="$BENCH_WORK/results/raw/rafthub-$DATE"
mkdir -p "$OUT" "$RAW"

if [ "${SKIP_UPSTREAM:-0}" != 1 ]; then
  DATE="$DATE" RUNS="$RUNS" bash "$SHARED/peers/run-peer-bench.sh"
fi

cleanup() { "$HERE/rafthub-peer.sh" stop || true; }
trap cleanup EXIT
files=()
for i in $(seq 1 "$RUNS"); do
  echo "=== rafthub run $i/$RUNS ($(date -u +%H:%M:%S))" >&2
  "$HERE/rafthub-peer.sh" stop; rm -rf "${RAFTHUB_PEER_STATE:-${TMPDIR:-/tmp}/rafthub-peer-bench}"
  "$HERE/rafthub-peer.sh" start
  eval "$("$HERE/rafthub-peer.sh" env)"
  (cd "$SHARED" && OUT_JSON="$RAW/run-$i.json" OUT_MD="$RAW/run-$i.md" bash ./bench.sh rafthub) || echo "run $i reported errors" >&2
  files+=("$RAW/run-$i.json")
done
echo "=== rafthub direct-to-API run ($(date -u +%H:%M:%S))" >&2
"$HERE/rafthub-peer.sh" stop; rm -rf "${RAFTHUB_PEER_STATE:-${TMPDIR:-/tmp}/rafthub-peer-bench}"
"$HERE/rafthub-peer.sh" start
eval "$("$HERE/rafthub-peer.sh" env)"
(cd "$SHARED" && HUB_URL=http://127.0.0.1:18081 PHASES=create,list,activity,read,whoami,rss \
  OUT_JSON="$RAW/direct.json" OUT_MD="$RAW/direct.md" bash ./bench.sh rafthub-direct) || true
"$HERE/rafthub-peer.sh" stop

python3 "$SHARED/lib/aggregate.py" --title "rafthub (3 replicas), $DATE" \
  --out-md "$OUT/rafthub.md" --out-json "$OUT/rafthub.json" "${files[@]}"
cp "$BENCH_WORK/results/peers-$DATE.md" "$OUT/upstream.md"
cp "$BENCH_WORK/results/peers-$DATE.json" "$OUT/upstream.json"
cp "$RAW/direct.json" "$OUT/rafthub-direct.json"
cp "$BENCH_WORK/results/raw/peers-$DATE/direct-hub.json" "$OUT/upstream-direct.json" 2>/dev/null || true
# The raw per-run files stay under $BENCH_WORK; keep machine paths out of the committed copies.
python3 - "$OUT" <<'PY'
import json, pathlib, re, sys
out = pathlib.Path(sys.argv[1])
for f in out.glob("*.md"):
    f.write_text(re.sub(r"(?m)^Per-run raw results:.*\n?", "", f.read_text()))
for f in out.glob("*.json"):
    d = json.loads(f.read_text())
    if isinstance(d, dict) and "runs" in d:
        d["runs"] = [pathlib.Path(r).name for r in d["runs"]]
        f.write_text(json.dumps(d, indent=1) + "\n")
PY
python3 "$HERE/compare.py" "$OUT" > "$OUT/side-by-side.md"
cat "$OUT/side-by-side.md"
