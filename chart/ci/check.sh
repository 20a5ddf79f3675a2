#!/usr/bin/env bash
# Offline chart checks: helm lint --strict, then helm template piped into kubernetes-validate
# --strict for the oldest and newest Kubernetes we support, with the default values and with
# every values file in chart/ci/ (all-options.yaml turns every option on). Also checks that
# the schema rejects unknown keys. Needs .tools/helm and .venv (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
HELM=${HELM:-.tools/helm}
VALIDATE=${KUBERNETES_VALIDATE:-.venv/bin/kubernetes-validate}
KUBE_VERSIONS=(1.33.0 1.37.0)

value_sets=(default)
for f in chart/ci/*.yaml; do value_sets+=("$f"); done

for values in "${value_sets[@]}"; do
  args=()
  [ "$values" = default ] || args=(-f "$values")
  echo "helm lint --strict chart ${args[*]}"
  "$HELM" lint --strict --quiet chart "${args[@]}" --kube-version "${KUBE_VERSIONS[0]}"
  for kv in "${KUBE_VERSIONS[@]}"; do
    echo "helm template ... ${args[*]} | kubernetes-validate --strict -k $kv"
    "$HELM" template rafthub chart --namespace jupyterhub --kube-version "$kv" "${args[@]}" \
      | "$VALIDATE" --quiet --strict -k "$kv" -
  done
done

# values.schema.json must reject unknown keys, including z2jh's proxy.chp.
for bad in hub.bogus=1 proxy.chp.image.name=x singleuser.storage.bogus=1 hub.raft.bogus=1; do
  if "$HELM" template rafthub chart --kube-version "${KUBE_VERSIONS[0]}" --set "$bad" >/dev/null 2>&1; then
    echo "error: the values schema accepted --set $bad" >&2
    exit 1
  fi
done
echo "chart checks passed"
