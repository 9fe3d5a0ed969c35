#!/usr/bin/env bash
# `make demo`: the whole product on the local cluster, from a fresh clone.
# (make has already installed .venv, started the cluster and applied the CRDs.)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/.." && pwd)"
source "${HERE}/versions.env"
BIN="$("${HERE}/build-binaries.sh" print-dir)"
export KUBECONFIG="${KUBECONFIG:-${ROOT}/.cluster/kubeconfig}"
KUBECTL="${BIN}/kubernetes-${K8S_VERSION}/kubectl"
LOGS="${ROOT}/.cluster/logs"
OUT="${ROOT}/out"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "operator: starting pf-figma (log: .cluster/logs/operator.log)"
pkill -f "pf_operator operator" 2>/dev/null || true
mkdir -p "${LOGS}"
PF_METRICS_PORT=18080 PF_HEALTH_PORT=18081 "${ROOT}/.venv/bin/python" -m pf_operator operator \
  >"${LOGS}/operator.log" 2>&1 &
OP=$!
trap 'kill ${OP} 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:18081/readyz >/dev/null && break
  kill -0 "${OP}" 2>/dev/null || { tail -20 "${LOGS}/operator.log"; exit 1; }
  sleep 0.2
done

step "tenant: kubectl apply -f examples/tenant-acme.yaml"
"${KUBECTL}" apply -f "${ROOT}/examples/tenant-acme.yaml"
"${KUBECTL}" wait tenant/acme --for=condition=Ready --timeout=60s
"${KUBECTL}" get tenant acme

step "pipeline: the GOV.UK Button component set (a real Figma file) from a ConfigMap"
"${KUBECTL}" -n tenant-acme create configmap button-design \
  --from-file=file.json="${ROOT}/examples/figma/govuk-button.json" \
  --dry-run=client -o yaml | "${KUBECTL}" apply -f -
"${KUBECTL}" delete -f "${ROOT}/examples/pipeline-button.yaml" --ignore-not-found --wait=true >/dev/null
"${KUBECTL}" apply -f "${ROOT}/examples/pipeline-button.yaml"
last=""
for _ in $(seq 600); do
  line="$("${KUBECTL}" -n tenant-acme get designpipeline button \
    -o jsonpath='{.status.currentStage} {.status.conditions[?(@.type=="Succeeded")].reason}')"
  [[ "${line}" != "${last}" ]] && { echo "  stage/reason: ${line}"; last="${line}"; }
  reason="${line##* }"
  [[ "${reason}" == Succeeded || "${reason}" == Failed || "${reason}" == TimedOut ]] && break
  sleep 0.5
done

step "kubectl get tenants,designpipelines -A"
"${KUBECTL}" get tenants,designpipelines -A
"${KUBECTL}" -n tenant-acme get jobs -l pffigma.dev/pipeline=button

step "generated project: the agent stages on the same Figma file -> ./out/button"
# On KWOK nodes the agent pods are simulated; the same stages run here for real.
rm -rf "${OUT}/button"
"${ROOT}/.venv/bin/pf-figma" run --figma-json "${ROOT}/examples/figma/govuk-button.json" \
  --out "${OUT}/button" --stages analyze,generate,test,qa
echo
echo "Generated project: ${OUT}/button (components/, app/page.tsx, *.test.tsx, *.stories.tsx)"
echo "Metrics: curl -s http://127.0.0.1:18080/metrics | grep ^pf_figma   (while 'make run' runs)"
