#!/usr/bin/env bash
# `make demo`: the whole product from a fresh clone. make has already installed .venv, started
# the cluster with its real node, applied the CRDs and built + imported the images. Here:
#   1. a PostgreSQL for the operator (on the host, reachable from pods at the node address)
#   2. helm install of charts/pf-figma: the operator runs in-cluster from its image
#   3. examples/: a Tenant and a DesignPipeline over a real Figma file (GOV.UK Button)
#   4. the agent stages run as Jobs in real containers; progress is printed
#   5. the generated project is fetched into ./out/button, type-checked and tested here
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/.." && pwd)"
source "${HERE}/versions.env"
BIN="$("${HERE}/build-binaries.sh" print-dir)"
export KUBECONFIG="${KUBECONFIG:-${ROOT}/.cluster/kubeconfig}"
KUBECTL="${BIN}/kubernetes-${K8S_VERSION}/kubectl"
HELM="${BIN}/helm-${HELM_VERSION}/helm"
STATE="${ROOT}/.cluster"
OUT="${ROOT}/out"
PY="${ROOT}/.venv/bin/python"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

NODE_IP="$("${KUBECTL}" get node pf-real-0 \
  -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' 2>/dev/null || true)"
[[ -n "${NODE_IP}" ]] || { echo "the demo needs the real node: make cluster-up (NODE=real)" >&2; exit 1; }

step "database: PostgreSQL for pipeline history, audit, usage and artifacts"
PG="${STATE}/postgres"
mkdir -p "${PG}"
chmod 711 "${PG}"
[[ -s "${PG}/superuser" ]] || "${PY}" -c 'import secrets; print(secrets.token_urlsafe(18))' >"${PG}/superuser"
[[ -s "${PG}/operator" ]] || "${PY}" -c 'import secrets; print(secrets.token_urlsafe(18))' >"${PG}/operator"
[[ -s "${PG}/port" ]] || "${PY}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"${PG}/port"
chmod 600 "${PG}/superuser" "${PG}/operator"
PORT="$(cat "${PG}/port")"
export PF_PG_LISTEN="127.0.0.1,${NODE_IP}" PF_PG_ALLOW="10.244.0.0/16,${NODE_IP}/32"
if ! "${HERE}/postgres.sh" status "${PG}/data" 2>/dev/null; then
  "${HERE}/postgres.sh" up "${PG}/data" "${PORT}" "${PG}/superuser"
fi
SUPER="postgresql://postgres:$(cat "${PG}/superuser")@127.0.0.1:${PORT}/postgres"
"${PY}" - "${SUPER}" "$(cat "${PG}/operator")" <<'PYEOF'
import sys, psycopg
from psycopg import sql
dsn, password = sys.argv[1], sys.argv[2]
with psycopg.connect(dsn, autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname='pf_figma'").fetchone():
        conn.execute(sql.SQL("CREATE ROLE pf_figma LOGIN CREATEROLE PASSWORD {}").format(sql.Literal(password)))
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname='pf_figma'").fetchone():
        conn.execute("CREATE DATABASE pf_figma OWNER pf_figma")
PYEOF
OPERATOR_DSN="postgresql://pf_figma:$(cat "${PG}/operator")@${NODE_IP}:${PORT}/pf_figma"
LOCAL_DSN="postgresql://pf_figma:$(cat "${PG}/operator")@127.0.0.1:${PORT}/pf_figma"
echo "PostgreSQL ${NODE_IP}:${PORT} (data in .cluster/postgres)"

step "operator: helm upgrade --install pf-figma charts/pf-figma (in-cluster, 2 replicas)"
pkill -f "pf_operator operator" 2>/dev/null || true   # no second operator next to the chart's
POOL='{"pffigma.dev/pool":"agents"}'
TOLERATE='[{"key":"pffigma.dev/pool","operator":"Equal","value":"agents","effect":"NoSchedule"}]'
OWNER_ROLE_CREATE=true
if "${KUBECTL}" get clusterrole pf-figma-tenant-owner -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}' 2>/dev/null | grep -qv Helm; then
  OWNER_ROLE_CREATE=false   # made earlier by a `make run` operator; Helm cannot adopt it
fi
"${HELM}" upgrade --install pf-figma "${ROOT}/charts/pf-figma" --namespace pf-figma-system \
  --create-namespace --skip-crds --wait --timeout 180s \
  --set replicaCount=2 --set image.tag=dev --set agent.image.tag=dev \
  --set tenantOwnerRole.create="${OWNER_ROLE_CREATE}" \
  --set database.dsn="${OPERATOR_DSN}" \
  --set-json nodeSelector="${POOL}" --set-json tolerations="${TOLERATE}" \
  --set-json agent.nodeSelector="${POOL}" --set-json agent.tolerations="${TOLERATE}" \
  --set-json 'agent.resources={"requests":{"cpu":"250m","memory":"512Mi"},"limits":{"cpu":"2","memory":"3Gi"}}' \
  --set-json "networkPolicy.database.cidrs=[\"${NODE_IP}/32\"]" \
  --set-json "networkPolicy.database.ports=[${PORT}]" \
  --set-json 'networkPolicy.apiServer.ports=[443,6443,16443]'
"${KUBECTL}" -n pf-figma-system get pods -o wide

step "tenant: kubectl apply -f examples/tenant-acme.yaml"
"${KUBECTL}" apply -f "${ROOT}/examples/tenant-acme.yaml"
"${KUBECTL}" wait tenant/acme --for=condition=Ready --timeout=120s
"${KUBECTL}" get tenant acme

step "pipeline: the GOV.UK Button component set (a real Figma file) from a ConfigMap"
"${KUBECTL}" -n tenant-acme create configmap button-design \
  --from-file=file.json="${ROOT}/examples/figma/govuk-button.json" \
  --dry-run=client -o yaml | "${KUBECTL}" apply -f -
"${KUBECTL}" delete -f "${ROOT}/examples/pipeline-button.yaml" --ignore-not-found --wait=true >/dev/null
"${KUBECTL}" apply -f "${ROOT}/examples/pipeline-button.yaml"
last=""
start=${SECONDS}
while ((SECONDS - start < 1200)); do
  line="$("${KUBECTL}" -n tenant-acme get designpipeline button -o jsonpath='{.status.currentStage} {.status.conditions[?(@.type=="Succeeded")].reason}')"
  if [[ "${line}" != "${last}" ]]; then
    printf '  %4ss  stage=%-9s %s\n' "$((SECONDS - start))" "${line% *}" "${line##* }"
    last="${line}"
  fi
  case "${line##* }" in Succeeded|Failed|TimedOut|Cancelled) break ;; esac
  sleep 1
done

step "kubectl get tenants,designpipelines -A"
"${KUBECTL}" get tenants,designpipelines -A
"${KUBECTL}" -n tenant-acme get jobs -l pffigma.dev/pipeline=button -o wide
"${KUBECTL}" -n tenant-acme get designpipeline button \
  -o jsonpath='{range .status.stages[*]}{.name}{"\t"}{.state}{"\t"}{.message}{"\n"}{end}'
[[ "${line##* }" == Succeeded ]] || { echo "the pipeline did not succeed" >&2; exit 1; }

step "generated project: pf-figma artifacts get tenant-acme/button -o out/button"
rm -rf "${OUT}/button"
"${ROOT}/.venv/bin/pf-figma" artifacts get tenant-acme/button -o "${OUT}/button" --dsn "${LOCAL_DSN}"
"${PY}" - "${OUT}/button" <<'PYEOF'
import sys, tempfile
from pathlib import Path
from pf_agents import qa, project
out = Path(sys.argv[1])
import json
pkg = json.loads((out / "package.json").read_text())
work = Path(tempfile.mkdtemp())
modules, _, _ = qa.ensure_node_modules(pkg, work)
qa._link_node_modules(out, modules)
tsc = qa.run_tsc(out, work)
tests = qa.run_vitest(out, work)
print(f"out/button: tsc {'ok' if tsc['ok'] else 'FAILED'}; tests {tests.get('passed')}/{tests.get('total')} passed")
sys.exit(0 if tsc["ok"] and tests.get("passed") == tests.get("total") else 1)
PYEOF
echo "Components: $(ls "${OUT}/button/components" | tr '\n' ' ')"
