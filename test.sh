#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then lint,
# unit and integration tests, and the end-to-end tests with real JupyterHub peers.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Incremental caches are only worth their disk on a developer's machine, not in a one-shot run.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step() { printf '\n==> %s\n' "$*"; }

step "installing test dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "Helm chart: lint, render and validate offline (chart/ci/check.sh)"
chart/ci/check.sh

step "cargo test (unit, in-process clusters, real processes)"
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2

step "end-to-end tests with real JupyterHub clients"
cargo build --release -p rafthub
RAFTHUB_BIN="$PWD/target/release/rafthub" .venv/bin/python -m pytest -q tests/python

step "jepsen smoke (kill, pause, partition; checkers must pass)"
cargo build --release -p rafthub-jepsen
smoke_out="${TMPDIR:-/tmp}/rafthub-jepsen-smoke"
rm -rf "$smoke_out"
target/release/rafthub-jepsen smoke --rafthub target/release/rafthub --out "$smoke_out" \
  --ip-base "${RAFTHUB_JEPSEN_IP_BASE:-10}"

step "all tests passed"
