#!/usr/bin/env bash
# One real Kubernetes node on this machine, joined to the local control plane of
# hack/cluster.sh (NODE=real hack/cluster.sh up calls `node.sh up`):
#   containerd + runc (Debian)      CRI runtime; its own socket, root and config under $STATE
#   CNI bridge + host-local         pods get IPs from the node's podCIDR slice
#   kubelet, kube-proxy (iptables)  built from k8s.io/kubernetes (hack/build-binaries.sh node)
#   CoreDNS                         Deployment in kube-system, Service kube-dns (10.96.0.10)
#   kube-router (firewall only)     NetworkPolicy enforcement
# Images cannot be pulled here: the pause, CoreDNS and base images come from hack/images.sh.
# Only one real node can run per machine (kube-proxy and kube-router own host iptables chains).
#
# usage: hack/node.sh up|down|status|crictl ARGS...
#   state: ${PF_CLUSTER_DIR:-<repo>/.cluster} (shared with cluster.sh): node/ (configs),
#          containerd/, kubelet/, pod-logs/, logs/*.log, pids/*.pid
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=node
# shellcheck source=lib.sh
source "${HERE}/lib.sh"

NODE_NAME="${PF_NODE_NAME:-pf-real-0}"
NODE_POD_CIDR="${PF_NODE_POD_CIDR:-10.244.200.0/24}"
DNS_IP="${PF_DNS_IP:-10.96.0.10}"
# taint "pffigma.dev/pool=agents:NoSchedule" keeps pods without the toleration (KWOK scale
# tests, anything with unpullable images) off the real node; PF_NODE_TAINT= (empty) disables it
NODE_TAINT="${PF_NODE_TAINT-pffigma.dev/pool=agents:NoSchedule}"
NODE_LABELS="${PF_NODE_LABELS:-pffigma.dev/pool=agents,pffigma.dev/node=real}"
KUBELET_PORT="${PF_KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${PF_KUBELET_HEALTHZ_PORT:-10248}"
PROXY_HEALTHZ_PORT="${PF_PROXY_HEALTHZ_PORT:-10256}"
PROXY_METRICS_PORT="${PF_PROXY_METRICS_PORT:-10249}"
ROUTER_HEALTH_PORT="${PF_ROUTER_HEALTH_PORT:-20244}"
BRIDGE="${PF_NODE_BRIDGE:-pfbr0}"

N="${STATE}/node"                    # generated configs, kubeconfigs, CNI conf and IPAM data
RUN="${N}/run"                       # runtime state (sockets, runc state); removed by down
SOCK="${RUN}/containerd/containerd.sock"
KUBELET_DIR="${STATE}/kubelet"
CTRD_DIR="${STATE}/containerd"       # images stay here between up/down (warm start)
LOCK=/run/pf-figma-node.owner        # which state dir owns the machine's one real node

KUBE_ROUTER="${BIN}/kube-router-${KUBE_ROUTER_VERSION}/kube-router"
CRICTL="${BIN}/crictl-${CRI_TOOLS_VERSION}/crictl"
COMPONENTS=(containerd kubelet kube-proxy kube-router)

crictl() {
  mkdir -p "${N}"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n' "${SOCK}" "${SOCK}" >"${N}/crictl.yaml"
  "${CRICTL}" --config "${N}/crictl.yaml" "$@"
}
api_up() { [[ -s "${PKI}/admin.crt" ]] && api_get /readyz >/dev/null 2>&1; }

node_ip() {
  if [[ -n "${PF_NODE_IP:-}" ]]; then echo "${PF_NODE_IP}"; return; fi
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1
}
NODE_IP="$(node_ip)"

# --- packages and host --------------------------------------------------------------------
ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] \
    || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ipset >/dev/null || missing+=(ipset)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
  command -v curl >/dev/null || missing+=(curl)
  command -v ip >/dev/null || missing+=(iproute2)
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  # Debian's containerd package may have started a system containerd (with systemd or
  # sysvinit); ours runs from its own config and socket either way.
}

# kernel settings the node needs or that kubelet changes; the originals are restored by down
SYSCTLS=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

host_setup() {
  if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]]; then
    modprobe br_netfilter 2>/dev/null \
      || die "net.bridge.bridge-nf-call-iptables is missing and 'modprobe br_netfilter' failed: NetworkPolicy cannot see bridged pod traffic"
  fi
  mkdir -p "${N}"
  if [[ ! -s "${N}/sysctl.orig" ]]; then
    local s
    for s in "${SYSCTLS[@]}"; do printf '%s=%s\n' "${s}" "$(sysctl -n "${s}" 2>/dev/null)"; done >"${N}/sysctl.orig"
  fi
  sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 >/dev/null
}

host_restore() {
  [[ -s "${N}/sysctl.orig" ]] || return 0
  local kv
  while IFS= read -r kv; do [[ "${kv#*=}" == "" ]] || sysctl -q -w "${kv}" >/dev/null 2>&1 || true; done <"${N}/sysctl.orig"
  rm -f "${N}/sysctl.orig"
}

claim_machine() {
  if [[ -s "${LOCK}" ]]; then
    local owner; owner="$(cat "${LOCK}")"
    if [[ "${owner}" != "${STATE}" ]]; then
      local f
      for f in containerd kubelet kube-proxy kube-router; do
        if [[ -s "${owner}/pids/${f}.pid" ]] && pid_running "$(cat "${owner}/pids/${f}.pid")"; then
          die "a real node from ${owner} is running on this machine (one per machine): PF_CLUSTER_DIR=${owner} hack/node.sh down"
        fi
      done
    fi
  fi
  echo "${STATE}" >"${LOCK}"
}

node_pki() {
  [[ -s "${PKI}/ca.key" ]] || die "no cluster CA in ${PKI}: start the control plane first (NODE=real hack/cluster.sh up)"
  # a serving cert is tied to the node name and IP: re-issue when they change
  if [[ -s "${PKI}/kubelet-serving.crt" ]] \
    && ! openssl x509 -in "${PKI}/kubelet-serving.crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:${NODE_IP}\b"; then
    rm -f "${PKI}/kubelet-serving.crt" "${PKI}/kubelet-serving.key"
  fi
  if [[ -s "${PKI}/kubelet.crt" ]] \
    && ! openssl x509 -in "${PKI}/kubelet.crt" -noout -subject | grep -q "CN *= *system:node:${NODE_NAME}\$"; then
    rm -f "${PKI}/kubelet.crt" "${PKI}/kubelet.key" "${PKI}/kubelet-serving.crt" "${PKI}/kubelet-serving.key"
  fi
  cert kubelet "system:node:${NODE_NAME}" system:nodes
  cert kubelet-serving "${NODE_NAME}" "" "DNS:${NODE_NAME},IP:${NODE_IP},IP:127.0.0.1"
  cert kube-proxy system:kube-proxy
  cert kube-router system:pf-figma:kube-router
  kubeconfig "${N}/kubelet.kubeconfig" kubelet "system:node:${NODE_NAME}"
  kubeconfig "${N}/kube-proxy.kubeconfig" kube-proxy system:kube-proxy
  kubeconfig "${N}/kube-router.kubeconfig" kube-router system:pf-figma:kube-router
}

stop() { # stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS
  local f="${PIDS}/$1.pid" secs="${2:-10}" pid
  [[ -s "${f}" ]] || return 0
  pid="$(cat "${f}")"
  if pid_running "${pid}"; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq $((secs * 10))); do pid_running "${pid}" || break; sleep 0.1; done
    pid_running "${pid}" && kill -9 "${pid}" 2>/dev/null
  fi
  rm -f "${f}"
}

need_port() { port_free "$1" "${2:-127.0.0.1}" || die "port ${1} (${3}) is in use on ${2:-127.0.0.1}; set ${4} to another port"; }

# --- containerd ---------------------------------------------------------------------------
containerd_config() {
  mkdir -p "${CTRD_DIR}" "${RUN}/containerd" "${N}/cni/net.d" "${N}/cni/ipam"
  sed -e "s|@ROOT@|${CTRD_DIR}|g" -e "s|@RUN@|${RUN}|g" -e "s|@SOCK@|${SOCK}|g" \
    -e "s|@PAUSE@|$("${HERE}/images.sh" ref pause)|g" -e "s|@CNI_CONF@|${N}/cni/net.d|g" \
    "${HERE}/node/containerd.toml" >"${N}/containerd.toml"
}

start_containerd() {
  alive containerd && return 0
  containerd_config
  rm -f "${SOCK}"
  start containerd containerd --config "${N}/containerd.toml" --log-level warn
  wait_for containerd 30 ctr --address "${SOCK}" version
}

cni_config() {
  local gw="${NODE_POD_CIDR%.*}.1"
  sed -e "s|@BRIDGE@|${BRIDGE}|g" -e "s|@SUBNET@|${NODE_POD_CIDR}|g" -e "s|@GATEWAY@|${gw}|g" \
    -e "s|@IPAM_DIR@|${N}/cni/ipam|g" "${HERE}/node/10-pf-figma.conflist" >"${N}/cni/net.d/10-pf-figma.conflist.tmp"
  mv "${N}/cni/net.d/10-pf-figma.conflist.tmp" "${N}/cni/net.d/10-pf-figma.conflist"
}

# --- cluster objects the node needs --------------------------------------------------------
cluster_objects() {
  kubectl apply --server-side --force-conflicts --field-manager=pf-figma-node \
    -f "${HERE}/node/cluster-objects.yaml" >/dev/null
}

# --- kubelet ------------------------------------------------------------------------------
kubelet_config() {
  local taints=""
  if [[ -n "${NODE_TAINT}" ]]; then
    local key="${NODE_TAINT%%=*}" rest="${NODE_TAINT#*=}"
    taints="registerWithTaints:
- {key: \"${key}\", value: \"${rest%%:*}\", effect: \"${rest##*:}\"}"
  fi
  mkdir -p "${STATE}/pod-logs"
  sed -e "s|@NODE_IP@|${NODE_IP}|g" -e "s|@PORT@|${KUBELET_PORT}|g" -e "s|@HEALTHZ_PORT@|${KUBELET_HEALTHZ_PORT}|g" \
    -e "s|@PKI@|${PKI}|g" -e "s|@SOCK@|${SOCK}|g" -e "s|@DNS_IP@|${DNS_IP}|g" \
    -e "s|@POD_LOGS@|${STATE}/pod-logs|g" "${HERE}/node/kubelet.yaml" >"${N}/kubelet.yaml"
  [[ -n "${taints}" ]] && printf '%s\n' "${taints}" >>"${N}/kubelet.yaml"
  return 0
}

node_ready() {
  [[ "$(kubectl get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

start_kubelet() {
  alive kubelet && return 0
  need_port "${KUBELET_PORT}" "${NODE_IP}" kubelet PF_KUBELET_PORT
  need_port "${KUBELET_HEALTHZ_PORT}" 127.0.0.1 "kubelet healthz" PF_KUBELET_HEALTHZ_PORT
  kubelet_config
  mkdir -p "${KUBELET_DIR}"
  start kubelet "${K8S_BIN}/kubelet" --config "${N}/kubelet.yaml" \
    --kubeconfig "${N}/kubelet.kubeconfig" --root-dir "${KUBELET_DIR}" \
    --hostname-override "${NODE_NAME}" --node-ip "${NODE_IP}" \
    --node-labels "${NODE_LABELS}" --v=1
  wait_for kubelet 90 node_ready
  # Node IPAM in kube-controller-manager is off (no --allocate-node-cidrs): record the slice the
  # CNI config hands out, so the Node tells the truth (podCIDR is immutable once set).
  if [[ -z "$(kubectl get node "${NODE_NAME}" -o jsonpath='{.spec.podCIDR}')" ]]; then
    kubectl patch node "${NODE_NAME}" --type merge \
      -p "{\"spec\":{\"podCIDR\":\"${NODE_POD_CIDR}\",\"podCIDRs\":[\"${NODE_POD_CIDR}\"]}}" >/dev/null
  fi
}

# --- kube-proxy, CoreDNS, kube-router -------------------------------------------------------
start_kube_proxy() {
  alive kube-proxy && return 0
  need_port "${PROXY_HEALTHZ_PORT}" 127.0.0.1 "kube-proxy healthz" PF_PROXY_HEALTHZ_PORT
  sed -e "s|@KUBECONFIG@|${N}/kube-proxy.kubeconfig|g" -e "s|@NODE_NAME@|${NODE_NAME}|g" \
    -e "s|@POD_CIDR@|${POD_CIDR}|g" -e "s|@HEALTHZ_PORT@|${PROXY_HEALTHZ_PORT}|g" \
    -e "s|@METRICS_PORT@|${PROXY_METRICS_PORT}|g" -e "s|@NODE_IP@|${NODE_IP}|g" \
    "${HERE}/node/kube-proxy.yaml" >"${N}/kube-proxy.yaml"
  start kube-proxy "${K8S_BIN}/kube-proxy" --config "${N}/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 curl -sf "http://127.0.0.1:${PROXY_HEALTHZ_PORT}/healthz"
}

# Cluster DNS as a pod (NetworkPolicies allow DNS as "pods in kube-system, port 53")
coredns_ready() {
  [[ "$(kubectl get deployment -n kube-system coredns -o jsonpath='{.status.availableReplicas}' 2>/dev/null)" -ge 1 ]]
}

deploy_coredns() {
  sed -e "s|@COREDNS_IMAGE@|$("${HERE}/images.sh" ref coredns)|g" -e "s|@DNS_IP@|${DNS_IP}|g" \
    "${HERE}/node/coredns.yaml" \
    | kubectl apply --server-side --force-conflicts --field-manager=pf-figma-node -f - >/dev/null
  local deadline=$((SECONDS + 90))
  until coredns_ready; do
    if ((SECONDS >= deadline)); then
      log "CoreDNS not available after 90s:"
      kubectl describe pods -n kube-system -l k8s-app=kube-dns | tail -n 25 >&2
      kubectl logs -n kube-system -l k8s-app=kube-dns --tail 20 >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

start_kube_router() {
  alive kube-router && return 0
  need_port "${ROUTER_HEALTH_PORT}" 127.0.0.1 "kube-router health" PF_ROUTER_HEALTH_PORT
  start kube-router "${KUBE_ROUTER}" --kubeconfig "${N}/kube-router.kubeconfig" \
    --hostname-override "${NODE_NAME}" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-ipv4=true --enable-ipv6=false \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --health-addr 127.0.0.1 --health-port "${ROUTER_HEALTH_PORT}" --metrics-port 0 \
    --iptables-sync-period 1m --v=1
  wait_for kube-router 60 curl -sf "http://127.0.0.1:${ROUTER_HEALTH_PORT}/healthz"
}

# --- up / down ----------------------------------------------------------------------------
healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "${c}" || return 1; done
  api_up && node_ready && coredns_ready
}

up() {
  [[ "$(id -u)" == 0 ]] || die "the real node needs root (containerd, iptables, mounts)"
  [[ -n "${NODE_IP}" ]] || die "cannot find the machine's IPv4 address (set PF_NODE_IP)"
  api_up || die "the control plane at ${API} is not running: NODE=real hack/cluster.sh up"
  ensure_packages
  "${HERE}/build-binaries.sh" node
  if healthy; then log "node ${NODE_NAME} already running"; return 0; fi
  local t0=${SECONDS}
  claim_machine
  host_setup
  node_pki
  cluster_objects
  start_containerd
  # PF_NODE_IMAGES: images besides pause to import (default: base; empty: none)
  local images=()
  read -r -a images <<<"${PF_NODE_IMAGES-base}"
  "${HERE}/images.sh" import pause coredns "${images[@]}"
  cni_config
  start_kubelet
  start_kube_proxy
  start_kube_router
  deploy_coredns
  log "node ${NODE_NAME} (${NODE_IP}, pods ${NODE_POD_CIDR}) ready in $((SECONDS - t0))s"
}

unmount_under() { # unmount everything mounted below DIR, deepest first
  local dir="$1" m
  awk -v d="${dir}/" 'index($5, d) == 1 || $5 == substr(d, 1, length(d) - 1) {print $5}' /proc/self/mountinfo \
    | sort -r | while read -r m; do umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || true; done
}

kubelet_chains_cleanup() { # the chains kubelet itself creates (kube-proxy/kube-router clean theirs)
  local ipt t
  for ipt in iptables ip6tables; do
    command -v "${ipt}" >/dev/null || continue
    while "${ipt}" -w -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    while "${ipt}" -w -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    "${ipt}" -w -F KUBE-FIREWALL 2>/dev/null && "${ipt}" -w -X KUBE-FIREWALL 2>/dev/null
    for t in mangle filter nat; do
      "${ipt}" -w -t "${t}" -X KUBE-KUBELET-CANARY 2>/dev/null || true
    done
    "${ipt}" -w -t mangle -X KUBE-IPTABLES-HINT 2>/dev/null || true
  done
  return 0
}

shim_pids() { # containerd-shim processes of our containerd (they outlive it)
  local p
  for p in /proc/[0-9]*; do
    { tr '\0' ' ' <"${p}/cmdline"; } 2>/dev/null | grep -q -- "containerd-shim.* -address ${SOCK} " && echo "${p#/proc/}"
  done
  return 0
}

down() {
  local any=0 c
  for c in "${COMPONENTS[@]}"; do alive "${c}" && any=1; done
  if ((any == 0)) && [[ ! -d "${RUN}" ]]; then log "node not running"; host_restore; return 0; fi
  # 1. let kubelet tear pods down while the API is there (volumes, CNI DEL, cgroups)
  if api_up && alive kubelet && kubectl get node "${NODE_NAME}" >/dev/null 2>&1; then
    log "draining ${NODE_NAME}"
    kubectl cordon "${NODE_NAME}" >/dev/null 2>&1 || true
    kubectl delete pods -A --field-selector "spec.nodeName=${NODE_NAME}" --grace-period=1 --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)) && [[ -n "$(kubectl get pods -A --field-selector "spec.nodeName=${NODE_NAME}" -o name 2>/dev/null)" ]]; do
      sleep 0.5
    done
  fi
  stop kube-router; stop kube-proxy; stop kubelet 20
  # 2. whatever kubelet left: stop and remove sandboxes through the CRI (CNI DEL, netns)
  if [[ -d "${CTRD_DIR}" && -x "${CRICTL}" ]]; then
    alive containerd || { containerd_config; start containerd containerd --config "${N}/containerd.toml" --log-level warn; \
      for _ in $(seq 50); do ctr --address "${SOCK}" version >/dev/null 2>&1 && break; sleep 0.2; done; }
    if [[ -n "$(crictl pods -q 2>/dev/null)" ]]; then
      log "removing the pod sandboxes kubelet left behind"
      crictl rmp --all --force >/dev/null 2>&1 || true
    fi
  fi
  stop containerd 20
  local pid
  for pid in $(shim_pids); do kill -9 "${pid}" 2>/dev/null || true; done
  # 3. host state: rules, mounts, bridge, IPAM, sysctls
  "${KUBE_ROUTER}" --cleanup-config >>"${LOGS}/kube-router.log" 2>&1 || true
  "${K8S_BIN}/kube-proxy" --cleanup >>"${LOGS}/kube-proxy.log" 2>&1 || true
  kubelet_chains_cleanup
  unmount_under "${KUBELET_DIR}"
  unmount_under "${CTRD_DIR}"
  unmount_under "${RUN}"
  ip link delete "${BRIDGE}" 2>/dev/null || true
  local cg # kubelet's (now empty) pod cgroups; a cgroup that still has processes stays
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d "${cg}" ]] && find "${cg}" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -rf "${RUN}" "${N}/cni/ipam"
  host_restore
  if api_up; then kubectl delete node "${NODE_NAME}" --ignore-not-found --wait=false >/dev/null 2>&1 || true; fi
  [[ "$(cat "${LOCK}" 2>/dev/null)" == "${STATE}" ]] && rm -f "${LOCK}"
  log "node ${NODE_NAME} stopped"
}

status() {
  local c ok=0
  for c in "${COMPONENTS[@]}"; do
    if alive "${c}"; then printf '%-12s running (pid %s)\n' "${c}" "$(cat "${PIDS}/${c}.pid")"; else printf '%-12s stopped\n' "${c}"; ok=1; fi
  done
  if api_up && node_ready; then echo "node ${NODE_NAME} Ready"; else echo "node ${NODE_NAME} not Ready"; ok=1; fi
  return "${ok}"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  crictl) shift; crictl "$@" ;;
  *) echo "usage: $0 up|down|status|crictl ARGS..." >&2; exit 2 ;;
esac
