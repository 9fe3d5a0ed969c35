#!/usr/bin/env bash
# Local Kubernetes for development and tests: real etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler on loopback, plus KWOK nodes that play
# pods through their lifecycle. Binaries come from hack/build-binaries.sh (cached).
#
# usage: [NODE=real] hack/cluster.sh up|down|status|env
#   state:  ${PF_CLUSTER_DIR:-<repo>/.cluster}  (kubeconfig, pki, logs, pids, etcd data)
#   NODE=real adds one real node (containerd, kubelet, kube-proxy, CoreDNS, kube-router) with
#   hack/node.sh; the apiserver then also listens on the host IP, so pods reach the
#   `kubernetes` Service (the default). NODE=kwok: KWOK nodes only (no root needed for them).
#   A trace collector (Jaeger, hack/jaeger.sh: OTLP on :4318, query API on :16686) runs next to
#   it, on the host address that pods reach (127.0.0.1 with NODE=kwok).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=cluster
# shellcheck source=lib.sh
source "${HERE}/lib.sh"

ETCD_PORT="${PF_ETCD_PORT:-23790}"
ETCD_PEER_PORT="${PF_ETCD_PEER_PORT:-23800}"
KWOK_NODES="${PF_KWOK_NODES:-4}"
SERVICE_IP="${PF_SERVICE_IP:-10.96.0.1}"
ETCD_BIN="${BIN}/etcd-${ETCD_VERSION}"
KWOK_BIN="${BIN}/kwok-${KWOK_VERSION}"
NODE="${NODE:-real}"
[[ "${NODE}" == kwok || "${NODE}" == real ]] || { echo "NODE must be kwok or real, not ${NODE}" >&2; exit 2; }

# --- packages -----------------------------------------------------------------------------
ensure_packages() {
  local missing=()
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  fi
}

# --- PKI ----------------------------------------------------------------------------------
ensure_pki() {
  mkdir -p "${PKI}"
  if [[ ! -s "${PKI}/ca.crt" ]]; then
    log "creating PKI in ${PKI}"
    openssl ecparam -name prime256v1 -genkey -noout -out "${PKI}/ca.key" 2>/dev/null
    openssl req -x509 -new -key "${PKI}/ca.key" -subj "/CN=pf-figma-local-ca" -days 3650 \
      -sha256 -out "${PKI}/ca.crt" 2>/dev/null
  fi
  local host_ips sans
  host_ips="$(hostname -I 2>/dev/null || true)"
  sans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:${SERVICE_IP}"
  local ip
  for ip in ${host_ips}; do [[ "${ip}" == *:* ]] || sans+=",IP:${ip}"; done
  cert apiserver kube-apiserver "" "${sans}"
  cert admin kubernetes-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert apiserver-kubelet-client kube-apiserver-kubelet-client
  if [[ ! -s "${PKI}/sa.key" ]]; then
    openssl genrsa -out "${PKI}/sa.key" 2048 2>/dev/null
    openssl rsa -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
  fi
  # cluster-signing (kube-controller-manager) needs an RSA or EC CA key; reuse the CA.
}

# --- processes ----------------------------------------------------------------------------
stop_all() {
  local f pid
  shopt -s nullglob
  for f in "${PIDS}"/*.pid; do
    pid="$(cat "${f}")"
    kill "${pid}" 2>/dev/null || true
  done
  # processes of an earlier run whose pid files are gone (killed session) hold the ports
  pkill -f -- "--data-dir ${STATE}/etcd" 2>/dev/null || true
  for f in "${PIDS}"/*.pid; do
    pid="$(cat "${f}")"
    for _ in $(seq 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${pid}" 2>/dev/null || true
    rm -f "${f}"
  done
}

healthy() {
  alive etcd && alive kube-apiserver && alive kube-controller-manager && alive kube-scheduler \
    && alive kwok && api_get /readyz >/dev/null 2>&1
}

# --- components ---------------------------------------------------------------------------
start_etcd() {
  mkdir -p "${STATE}/etcd"
  start etcd "${ETCD_BIN}/etcd" --name pf-figma --data-dir "${STATE}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "pf-figma=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --auto-compaction-retention=1 --quota-backend-bytes=8589934592 \
    --unsafe-no-fsync=true --log-level=warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:${ETCD_PORT}/health"
}

start_apiserver() {
  # NODE=real: pods reach the apiserver through the `kubernetes` Service, whose endpoint is the
  # advertise address; 127.0.0.1 cannot be a DNAT target from a pod, the host IP can.
  local bind=127.0.0.1 advertise=127.0.0.1 extra=()
  if [[ "${NODE}" == real ]]; then
    bind=0.0.0.0
    # the node's Hostname address is not in DNS here: reach kubelets (logs, exec) by IP
    extra+=(--kubelet-preferred-address-types "InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP")
    advertise="${PF_NODE_IP:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}"
    [[ -n "${advertise}" ]] || die "cannot find the host IPv4 address for NODE=real (set PF_NODE_IP)"
  fi
  start kube-apiserver "${K8S_BIN}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
    --bind-address "${bind}" --secure-port "${API_PORT}" --advertise-address "${advertise}" \
    --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
    --client-ca-file "${PKI}/ca.crt" \
    --service-account-key-file "${PKI}/sa.pub" \
    --service-account-signing-key-file "${PKI}/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ResourceQuota,NodeRestriction \
    --allow-privileged=true \
    --kubelet-client-certificate "${PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key "${PKI}/apiserver-kubelet-client.key" \
    --max-requests-inflight 800 --max-mutating-requests-inflight 400 \
    --event-ttl 1h --v=1 "${extra[@]}"
  wait_for kube-apiserver 60 api_get /readyz
}

start_controllers() {
  kubeconfig "${STATE}/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
  kubeconfig "${STATE}/scheduler.kubeconfig" scheduler system:kube-scheduler
  start kube-controller-manager "${K8S_BIN}/kube-controller-manager" \
    --kubeconfig "${STATE}/controller-manager.kubeconfig" \
    --authentication-kubeconfig "${STATE}/controller-manager.kubeconfig" \
    --authorization-kubeconfig "${STATE}/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "${PKI}/sa.key" --root-ca-file "${PKI}/ca.crt" \
    --cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
    --service-cluster-ip-range "${SERVICE_CIDR}" --cluster-cidr "${POD_CIDR}" \
    --use-service-account-credentials --controllers '*' --leader-elect=false \
    --kube-api-qps 200 --kube-api-burst 400 --concurrent-job-syncs 20 \
    --concurrent-gc-syncs 40 --concurrent-namespace-syncs 20 --v=1
  start kube-scheduler "${K8S_BIN}/kube-scheduler" \
    --kubeconfig "${STATE}/scheduler.kubeconfig" \
    --authentication-kubeconfig "${STATE}/scheduler.kubeconfig" \
    --authorization-kubeconfig "${STATE}/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --kube-api-qps 200 --kube-api-burst 400 --v=1
}

kwok_config() { # KwokConfiguration + upstream node/pod stages + pf-figma's pod stages
  local stages="${KWOK_BIN}/stages" f
  {
    cat "${HERE}/kwok/kwok-config.yaml"
    for f in node-initialize node-heartbeat-with-lease pod-ready pod-delete; do
      printf -- '---\n'; cat "${stages}/${f}.yaml"
    done
    printf -- '---\n'; cat "${HERE}/kwok/pod-stages.yaml"
  } >"${STATE}/kwok.yaml"
}

start_kwok() {
  kwok_config
  start kwok "${KWOK_BIN}/kwok" --kubeconfig "${STATE}/kubeconfig" \
    --config "${STATE}/kwok.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds=40 \
    --server-address=127.0.0.1:0
  local i nodes=""
  for i in $(seq 0 $((KWOK_NODES - 1))); do
    nodes+="$(sed "s/__NAME__/kwok-node-${i}/" "${HERE}/kwok/node.yaml")"$'\n---\n'
  done
  printf '%s' "${nodes}" | kubectl apply -f - >/dev/null
  wait_for kwok 60 nodes_ready
}

nodes_ready() {
  local ready
  ready="$(kubectl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)"
  [[ "${ready}" -ge "${KWOK_NODES}" ]]
}

wait_controllers() {
  # kube-controller-manager is up when it has created the default ServiceAccount.
  wait_for kube-controller-manager 60 kubectl get serviceaccount default -n default
  wait_for kube-scheduler 30 kubectl get lease -n kube-system kube-scheduler --ignore-not-found
}

node_up() { # NODE=real: one real node next to the KWOK ones
  [[ "${NODE}" == real ]] || return 0
  if [[ "$(cat "${STATE}/profile" 2>/dev/null)" != real ]]; then
    log "WARNING: this control plane was started without NODE=real: pods cannot reach the" \
      "kubernetes Service (hack/cluster.sh down, then NODE=real hack/cluster.sh up)"
  fi
  "${HERE}/node.sh" up
}

node_down() { # a real node (if any) goes first, while the apiserver can still drain it
  if [[ -s "${PIDS}/kubelet.pid" || -s "${PIDS}/containerd.pid" || -d "${STATE}/node/run" ]]; then
    "${HERE}/node.sh" down || log "WARNING: node.sh down failed"
  fi
}

collector_up() { # the trace collector (Jaeger, hack/jaeger.sh) where agent pods reach it
  "${HERE}/jaeger.sh" up || log "WARNING: the trace collector did not start (hack/jaeger.sh up)"
}

up() {
  ensure_packages
  "${HERE}/build-binaries.sh" control-plane
  if healthy; then log "cluster already running (${STATE}/kubeconfig)"; node_up; collector_up; return 0; fi
  node_down
  if [[ -d "${PIDS}" ]]; then log "cleaning stale state"; stop_all; fi
  rm -rf "${STATE}/etcd" "${LOGS}"
  local p
  for p in "${ETCD_PORT}" "${ETCD_PEER_PORT}" "${API_PORT}"; do
    for _ in $(seq 50); do port_free "${p}" && break; sleep 0.2; done
    port_free "${p}" || die "port ${p} is in use (set PF_ETCD_PORT/PF_API_PORT or stop what uses it)"
  done
  local t0=${SECONDS}
  ensure_pki
  echo "${NODE}" >"${STATE}/profile"
  kubeconfig "${STATE}/kubeconfig" admin kubernetes-admin
  start_etcd
  start_apiserver
  start_controllers
  start_kwok
  wait_controllers
  log "control plane up in $((SECONDS - t0))s"
  node_up
  collector_up
  log "cluster up in $((SECONDS - t0))s: export KUBECONFIG=${STATE}/kubeconfig"
}

down() {
  node_down
  [[ -d "${PIDS}" ]] && stop_all
  rm -rf "${STATE}/etcd"
  log "cluster stopped"
}

restart() { # restart COMPONENT: stop and start one control-plane process (chaos tests)
  local name="$1"
  local f="${PIDS}/${name}.pid"
  [[ -s "${f}" ]] && { kill "$(cat "${f}")" 2>/dev/null || true; }
  for _ in $(seq 100); do alive "${name}" || break; sleep 0.1; done
  case "${name}" in
    kube-apiserver) start_apiserver ;;
    etcd) start_etcd ;;
    *) die "restart supports kube-apiserver and etcd" ;;
  esac
  log "${name} restarted"
}

case "${1:-}" in
  up) up ;;
  restart) # keep the apiserver flags of the running profile (NODE=real listens on the host IP)
    [[ -s "${STATE}/profile" ]] && NODE="$(cat "${STATE}/profile")"
    restart "${2:?component}" ;;
  down) down ;;
  status) if healthy; then echo running; else echo stopped; exit 1; fi ;;
  env) echo "export KUBECONFIG=${STATE}/kubeconfig PATH=${K8S_BIN}:${BIN}/helm-${HELM_VERSION}:\$PATH" ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
