#!/usr/bin/env bash
# Runs a local 3-replica rafthub cluster for ../shared/bench/bench.sh, the counterpart of
# ../shared/bench/peers/run-jupyterhub.sh:
#   bench/rafthub-peer.sh start|stop|status|env
# Replica i (1..3) listens on 127.0.0.1: public 18000+100(i-1), api 18081+100(i-1), cluster
# 18082+100(i-1), proxy api 18001+100(i-1) (replica 1 has upstream's ports 18000/18081/18001).
# State lives in $RAFTHUB_PEER_STATE (default $TMPDIR/rafthub-peer-bench). RAFTHUB_PEER_SPAWNER_CMD
# sets the local spawner's command (e.g. a venv's jupyterhub-singleuser).
# RAFTHUB_PEER_EXTRA_TOML is appended to every replica's config (e.g. an [auth] table).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="${RAFTHUB_PEER_STATE:-${TMPDIR:-/tmp}/rafthub-peer-bench}"
BIN="${RAFTHUB_BIN:-$HERE/../target/release/rafthub}"
TOKEN_FILE="$STATE/admin.token"
PROXY_TOKEN_FILE="$STATE/proxy.token"

ports() { local o=$((100 * ($1 - 1))); echo "$((18000 + o)) $((18081 + o)) $((18082 + o)) $((18001 + o))"; }

write_configs() {
  mkdir -p "$STATE"
  [ -s "$STATE/cluster.secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$STATE/cluster.secret"
  [ -s "$TOKEN_FILE" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TOKEN_FILE"
  [ -s "$PROXY_TOKEN_FILE" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PROXY_TOKEN_FILE"
  local peers=""
  for i in 1 2 3; do
    read -r pub api clu papi < <(ports "$i")
    peers+="{id = $i, cluster = \"127.0.0.1:$clu\", api = \"127.0.0.1:$api\"},"
  done
  for i in 1 2 3; do
    read -r pub api clu papi < <(ports "$i")
    cat > "$STATE/node-$i.toml" <<TOML
node_id = $i
data_dir = "$STATE/node-$i"
[listen]
public = "127.0.0.1:$pub"
api = "127.0.0.1:$api"
cluster = "127.0.0.1:$clu"
[cluster]
secret_file = "$STATE/cluster.secret"
peers = [${peers%,}]
[hub]
api_page_max_limit = 100000
[[hub.services]]
name = "bench-admin-service"
api_token_file = "$TOKEN_FILE"
admin = true
[proxy]
api = "127.0.0.1:$papi"
auth_token_file = "$PROXY_TOKEN_FILE"
${RAFTHUB_PEER_SPAWNER_CMD:+[spawner]
cmd = [\"$RAFTHUB_PEER_SPAWNER_CMD\"]}
${RAFTHUB_PEER_EXTRA_TOML:-}
TOML
  done
}

start() {
  write_configs
  for i in 1 2 3; do
    if [ -f "$STATE/node-$i.pid" ] && kill -0 "$(cat "$STATE/node-$i.pid")" 2>/dev/null; then continue; fi
    nohup "$BIN" serve --config "$STATE/node-$i.toml" >> "$STATE/node-$i.log" 2>&1 &
    echo $! > "$STATE/node-$i.pid"
  done
  # Ready when replica 1 answers the admin token (leader duties ran).
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null -H "Authorization: token $(cat "$TOKEN_FILE")" http://127.0.0.1:18081/hub/api/user; then return 0; fi
    sleep 0.1
  done
  echo "rafthub-peer: cluster did not become ready" >&2; return 1
}

stop() {
  for i in 1 2 3; do
    [ -f "$STATE/node-$i.pid" ] || continue
    local pid; pid=$(cat "$STATE/node-$i.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$STATE/node-$i.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) for i in 1 2 3; do f="$STATE/node-$i.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "node $i up" || echo "node $i down"; done ;;
  env)
    write_configs
    echo "export HUB_URL=http://127.0.0.1:18000"
    echo "export API_TOKEN=$(cat "$TOKEN_FILE")"
    echo "export PROXY_API_URL=http://127.0.0.1:18001"
    echo "export PROXY_AUTH_TOKEN=$(cat "$PROXY_TOKEN_FILE")"
    echo "export HUB_PID_FILE=$STATE/node-1.pid"
    echo "export PROXY_PID_FILE=$STATE/node-1.pid"
    echo "export HUB_STOP_CMD='$HERE/rafthub-peer.sh stop'"
    echo "export HUB_START_CMD='$HERE/rafthub-peer.sh start'"
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
