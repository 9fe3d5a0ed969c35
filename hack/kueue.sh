#!/usr/bin/env bash
# Kueue (kueue-controller-manager, built from its Go module by build-binaries.sh) on the local
# cluster, for pf-figma's `queueing: kueue` hand-off and its tests.
#
# The controller runs as a host process, like the cluster components: its CRDs come from the
# module (config/components/crd/bases), its webhooks (admission and CRD conversion) are served
# on 127.0.0.1:${PF_KUEUE_WEBHOOK_PORT:-19443} with a certificate signed by the cluster CA, and the
# webhook configurations point at that URL with the CA as caBundle.
#
# Kept from Kueue's own manifests (config/components/webhook/manifests.yaml): the webhooks of
# kueue.x-k8s.io objects and of batch/v1 Jobs (the only integration enabled: "batch/job").
# The Job webhooks also get an objectSelector on the kueue.x-k8s.io/queue-name label, so the
# shared cluster's other Jobs never wait on this host process (Kueue leaves Jobs without that
# label alone anyway: manageJobsWithoutQueueName is false). VisibilityOnDemand is off: its
# API needs an aggregated APIService, which this apiserver is not configured for. Kueue's
# metrics certificate goes where Kueue looks for it: /etc/kueue/metrics/certs (see certs()).
#
# usage: hack/kueue.sh up|down|status
#   up is idempotent (a running, healthy Kueue is kept); down removes the webhook
#   configurations first, then stops the process; the CRDs and Kueue's objects stay.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=kueue
# shellcheck source=lib.sh
source "${HERE}/lib.sh"

ROOT="$(cd "${HERE}/.." && pwd)"
PY="${PF_PYTHON:-${ROOT}/.venv/bin/python}"
WEBHOOK_PORT="${PF_KUEUE_WEBHOOK_PORT:-19443}"
HEALTH_PORT="${PF_KUEUE_HEALTH_PORT:-19081}"
METRICS_PORT="${PF_KUEUE_METRICS_PORT:-19080}"
KSTATE="${STATE}/kueue"
KUEUE_BIN="${BIN}/kueue-${KUEUE_VERSION}/kueue"
WEBHOOK_NAMES=(pf-figma-kueue-mutating pf-figma-kueue-validating)

healthy() {
  alive kueue && curl -sf "http://127.0.0.1:${HEALTH_PORT}/readyz" >/dev/null 2>&1
}

config() {
  cat >"${KSTATE}/config.yaml" <<CFG
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kueue-system
health:
  healthProbeBindAddress: 127.0.0.1:${HEALTH_PORT}
metrics:
  bindAddress: 127.0.0.1:${METRICS_PORT}
webhook:
  host: 127.0.0.1
  port: ${WEBHOOK_PORT}
  certDir: ${KSTATE}/certs
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
manageJobsWithoutQueueName: false
integrations:
  frameworks:
  - batch/job
CFG
}

# Kueue reads its metrics serving certificate from a fixed path when its internal certificate
# management is off (cmd/kueue/main.go: /etc/kueue/metrics/certs, where its manifests mount a
# Secret); the same cluster-CA-signed certificate serves the webhooks and the metrics.
METRICS_CERTS="${PF_KUEUE_METRICS_CERTS:-/etc/kueue/metrics/certs}"

certs() {
  cert kueue-webhook kueue-webhook "" "DNS:localhost,IP:127.0.0.1"
  mkdir -p "${KSTATE}/certs" "${METRICS_CERTS}"
  local dir
  for dir in "${KSTATE}/certs" "${METRICS_CERTS}"; do
    cp "${PKI}/kueue-webhook.crt" "${dir}/tls.crt"
    cp "${PKI}/kueue-webhook.key" "${dir}/tls.key"
  done
}

# manifests DIR: Kueue's CRDs (conversion webhook by URL) and the kept webhook configurations
manifests() {
  local src="$1"
  "${PY}" - "${src}" "https://127.0.0.1:${WEBHOOK_PORT}" "${PKI}/ca.crt" \
    "${WEBHOOK_NAMES[@]}" >"${KSTATE}/manifests.yaml" <<'PYEOF'
import base64
import pathlib
import sys

import yaml

src, url, ca_file, mutating_name, validating_name = sys.argv[1:6]
ca = base64.b64encode(pathlib.Path(ca_file).read_bytes()).decode()
root = pathlib.Path(src) / "config" / "components"
out = []
# CRDs whose kustomization patches in a conversion webhook (v1beta1 <-> v1beta2)
patched = set()
for patch in (root / "crd" / "patches").glob("webhook_in_*.yaml"):
    if f"- path: patches/{patch.name}" in (root / "crd" / "kustomization.yaml").read_text():
        patched.add(yaml.safe_load(patch.read_text())["metadata"]["name"])
for crd_file in sorted((root / "crd" / "bases").glob("*.yaml")):
    crd = yaml.safe_load(crd_file.read_text())
    if crd["metadata"]["name"] in patched:
        crd["spec"]["conversion"] = {
            "strategy": "Webhook",
            "webhook": {
                "clientConfig": {"url": f"{url}/convert", "caBundle": ca},
                "conversionReviewVersions": ["v1"],
            },
        }
    out.append(crd)
KEPT_GROUPS = {"kueue.x-k8s.io", "batch"}
for doc in yaml.safe_load_all((root / "webhook" / "manifests.yaml").read_text()):
    if not doc:
        continue
    kept = []
    for hook in doc.get("webhooks") or []:
        groups = {g for rule in hook.get("rules") or [] for g in rule.get("apiGroups") or []}
        if not groups or not groups <= KEPT_GROUPS:
            continue
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"{url}{path}", "caBundle": ca}
        if "batch" in groups:
            hook["objectSelector"] = {
                "matchExpressions": [
                    {"key": "kueue.x-k8s.io/queue-name", "operator": "Exists"}
                ]
            }
        kept.append(hook)
    doc["webhooks"] = kept
    doc["metadata"] = {
        "name": mutating_name if doc["kind"].startswith("Mutating") else validating_name
    }
    out.append(doc)
yaml.safe_dump_all(out, sys.stdout, sort_keys=False)
PYEOF
}

up() {
  "${HERE}/build-binaries.sh" kueue
  [[ -s "${STATE}/kubeconfig" ]] || die "the cluster is not running (hack/cluster.sh up)"
  if healthy; then log "kueue already running"; return 0; fi
  mkdir -p "${KSTATE}"
  [[ -s "${PIDS}/kueue.pid" ]] && { kill "$(cat "${PIDS}/kueue.pid")" 2>/dev/null || true; }
  local src
  src="$("${HERE}/build-binaries.sh" kueue-dir)"
  certs
  config
  manifests "${src}"
  # the webhook configurations go in after the process serves: apply CRDs first
  "${PY}" -c 'import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
yaml.safe_dump_all([d for d in docs if d["kind"] == "CustomResourceDefinition"], open(sys.argv[2], "w"))
yaml.safe_dump_all([d for d in docs if d["kind"] != "CustomResourceDefinition"], open(sys.argv[3], "w"))' \
    "${KSTATE}/manifests.yaml" "${KSTATE}/crds.yaml" "${KSTATE}/webhooks.yaml"
  kubectl apply --server-side --force-conflicts -f "${KSTATE}/crds.yaml" >/dev/null
  kubectl wait --for condition=Established --timeout 60s -f "${KSTATE}/crds.yaml" >/dev/null
  kubectl create namespace kueue-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  KUBECONFIG="${STATE}/kubeconfig" start kueue "${KUEUE_BIN}" --config "${KSTATE}/config.yaml" \
    --feature-gates VisibilityOnDemand=false --zap-log-level=info
  wait_for kueue 90 curl -sf "http://127.0.0.1:${HEALTH_PORT}/readyz"
  kubectl apply --server-side --force-conflicts -f "${KSTATE}/webhooks.yaml" >/dev/null
  log "kueue ${KUEUE_VERSION} up (webhooks https://127.0.0.1:${WEBHOOK_PORT}, metrics https://127.0.0.1:${METRICS_PORT}/metrics)"
}

down() {
  local name
  for name in "${WEBHOOK_NAMES[@]}"; do
    kubectl delete mutatingwebhookconfiguration "${name}" --ignore-not-found >/dev/null 2>&1 || true
    kubectl delete validatingwebhookconfiguration "${name}" --ignore-not-found >/dev/null 2>&1 || true
  done
  if [[ -s "${PIDS}/kueue.pid" ]]; then
    local pid
    pid="$(cat "${PIDS}/kueue.pid")"
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 50); do pid_running "${pid}" || break; sleep 0.1; done
    kill -9 "${pid}" 2>/dev/null || true
    rm -f "${PIDS}/kueue.pid"
  fi
  log "kueue stopped (CRDs kept)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if healthy; then echo running; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
