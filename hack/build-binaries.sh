#!/usr/bin/env bash
# Build the local Kubernetes toolchain from Go modules and cache it outside the repo.
#
# Every tool is built in its own throw-away wrapper module (so one tool's pinned
# dependencies never move another's) and installed into
#   ${PF_FIGMA_CACHE:-${XDG_CACHE_HOME:-~/.cache}/pf-figma}/bin/<tool>-<version>/
# A warm call only checks that the files exist.
#
# Peers (issue 19): `kueue` (in make test, for queueing: kueue), `tekton`, `argo` and `peers`
# (make bench-peers only); `kueue-dir`, `tekton-dir`, `argo-dir` print the module source
# (CRDs, manifests).
#
# usage: hack/build-binaries.sh [control-plane|node|jaeger|all|print-dir]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${HERE}/versions.env"

CACHE="${PF_FIGMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pf-figma}"
BIN="${CACHE}/bin"
WORK="${CACHE}/build"
LOGS="${CACHE}/build-logs"
mkdir -p "${BIN}" "${WORK}" "${LOGS}"

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED="${CGO_ENABLED:-0}"

log() { printf '[build %s] %s\n' "$(date +%T)" "$*" >&2; }

# have DIR FILE... : true when every FILE exists in DIR
have() {
  local dir="$1"; shift
  local f
  for f in "$@"; do [[ -x "${dir}/${f}" ]] || return 1; done
}

timed() { # timed NAME CMD... : run, record seconds in the cache's timing file
  local name="$1"; shift
  local start end
  start=$(date +%s)
  if ! "$@" >"${LOGS}/${name}.log" 2>&1; then
    log "FAILED building ${name}; last lines of ${LOGS}/${name}.log:"
    tail -n 30 "${LOGS}/${name}.log" >&2
    return 1
  fi
  end=$(date +%s)
  printf '%s\t%s\t%ss\n' "$(date -u +%FT%TZ)" "${name}" "$((end - start))" >>"${CACHE}/build-times.tsv"
  log "built ${name} in $((end - start))s"
}

# --- Kubernetes (k8s.io/kubernetes needs its staging modules replaced by their tags) ------
K8S_STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
  endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
  kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
  sample-apiserver sample-cli-plugin sample-controller)

k8s_module() {
  local dir="${WORK}/k8s-${K8S_VERSION}"
  mkdir -p "${dir}"
  local staging_tag="v0.${K8S_VERSION#v1.}"
  {
    echo "module pf-figma.local/build/k8s"
    echo
    echo "go ${GO_LINE:-1.24.0}"
    echo
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    for m in "${K8S_STAGING[@]}"; do echo "replace k8s.io/${m} => k8s.io/${m} ${staging_tag}"; done
  } >"${dir}/go.mod"
  echo "${dir}"
}

build_k8s() { # build_k8s cmd...
  local out="${BIN}/kubernetes-${K8S_VERSION}"
  have "${out}" "$@" && return 0
  local dir; dir="$(k8s_module)"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ld="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ld+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=()
  local c
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/${c}"); done
  mkdir -p "${out}.tmp"
  log "building kubernetes ${K8S_VERSION}: $*"
  (cd "${dir}" && timed "kubernetes-${K8S_VERSION}-$(IFS=+; echo "$*")" \
    go build -trimpath -tags selinux,notest -ldflags "${ld}" -o "${out}.tmp/" "${pkgs[@]}")
  mkdir -p "${out}"
  mv "${out}.tmp/"* "${out}/"
  rmdir "${out}.tmp"
}

# --- generic wrapper module: build_mod NAME VERSION MODULE@VERSION PKG [extra go.mod lines] -
build_mod() {
  local name="$1" version="$2" require="$3" pkg="$4"; shift 4
  local out="${BIN}/${name}-${version}"
  have "${out}" "${name}" && return 0
  local dir="${WORK}/${name}-${version}"
  mkdir -p "${dir}"
  {
    echo "module pf-figma.local/build/${name}"
    echo
    echo "go ${GO_LINE:-1.24.0}"
    echo
    echo "require ${require/@/ }"
    local line
    for line in "$@"; do echo "${line}"; done
  } >"${dir}/go.mod"
  log "building ${name} ${version} (${pkg})"
  mkdir -p "${out}.tmp"
  (cd "${dir}" && timed "${name}-${version}" \
    go build -trimpath -ldflags "-s -w ${LDFLAGS_EXTRA:-}" -o "${out}.tmp/${name}" "${pkg}")
  mkdir -p "${out}"
  mv "${out}.tmp/${name}" "${out}/${name}"
  rmdir "${out}.tmp"
}

build_etcd() {
  local out="${BIN}/etcd-${ETCD_VERSION}"
  have "${out}" etcd etcdctl && return 0
  local v="${ETCD_VERSION}"
  local replaces=()
  local m
  for m in api/v3 client/pkg/v3 client/v3 pkg/v3 server/v3 etcdctl/v3 etcdutl/v3; do
    replaces+=("replace go.etcd.io/etcd/${m} => go.etcd.io/etcd/${m} ${v}")
  done
  LDFLAGS_EXTRA="" build_mod etcd "${v}" "go.etcd.io/etcd/server/v3@${v}" go.etcd.io/etcd/server/v3 \
    "require go.etcd.io/etcd/etcdctl/v3 ${v}" "${replaces[@]}"
  # etcdctl lives next to it
  local dir="${WORK}/etcd-${v}"
  (cd "${dir}" && timed "etcdctl-${v}" go build -trimpath -ldflags "-s -w" -o "${out}/etcdctl" go.etcd.io/etcd/etcdctl/v3)
}

# The node and generic pod Stages ship inside the kwok module; keep them next to the binary.
kwok_stages() {
  local out="${BIN}/kwok-${KWOK_VERSION}/stages"
  [[ -s "${out}/pod-ready.yaml" ]] && return 0
  local src
  src="$(cd "${WORK}/kwok-${KWOK_VERSION}" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
  mkdir -p "${out}"
  cp "${src}/node/fast/node-initialize.yaml" \
    "${src}/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "${src}/pod/fast/pod-ready.yaml" "${src}/pod/fast/pod-delete.yaml" "${out}/"
  chmod 644 "${out}"/*.yaml
}

control_plane() {
  build_etcd
  build_k8s kube-apiserver kube-controller-manager kube-scheduler kubectl
  build_mod kwok "${KWOK_VERSION}" "sigs.k8s.io/kwok@${KWOK_VERSION}" sigs.k8s.io/kwok/cmd/kwok
  kwok_stages
  build_mod helm "${HELM_VERSION}" "helm.sh/helm/v3@${HELM_VERSION}" helm.sh/helm/v3/cmd/helm
}

# The real node (hack/node.sh): kubelet and kube-proxy from the same Kubernetes version,
# CoreDNS (Service DNS, run as a host process) and kube-router (NetworkPolicy only).
# containerd, runc and the CNI plugins come from Debian packages (see hack/node.sh).
node() {
  build_k8s kubelet kube-proxy
  build_mod coredns "${COREDNS_VERSION}" "github.com/coredns/coredns@${COREDNS_VERSION}" \
    github.com/coredns/coredns
  # kube-router v2.10.0 pins netlink to a pseudo-version the module proxy refuses (403 "This
  # module version is not available"); the v1.3.1 release compiles and covers firewall mode.
  LDFLAGS_EXTRA="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${KUBE_ROUTER_VERSION}" \
    build_mod kube-router "${KUBE_ROUTER_VERSION}" \
    "github.com/cloudnativelabs/kube-router/v2@${KUBE_ROUTER_VERSION}" \
    github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
    "replace github.com/vishvananda/netlink => github.com/vishvananda/netlink ${KUBE_ROUTER_NETLINK_VERSION}"
  # crictl: CRI-level cleanup in `node.sh down` (stops sandboxes through CNI DEL) and debugging
  build_mod crictl "${CRI_TOOLS_VERSION}" "sigs.k8s.io/cri-tools@${CRI_TOOLS_VERSION}" \
    sigs.k8s.io/cri-tools/cmd/crictl
}

# Jaeger v2 (an OpenTelemetry Collector distribution): OTLP gRPC/HTTP receiver, in-memory
# storage and the query API, in one binary; the tracing tests' real collector (hack/jaeger.sh).
jaeger() {
  build_mod jaeger "${JAEGER_VERSION}" "github.com/jaegertracing/jaeger@${JAEGER_VERSION}" \
    github.com/jaegertracing/jaeger/cmd/jaeger
}

# --- peers (issue 19): other projects' controllers, built from their Go modules -----------
# Replace directives of a dependency module do not apply to the wrapper module that requires
# it, so each peer's own `replace` lines are repeated here.

# Kueue: kueue-controller-manager (cmd/kueue) for the `queueing: kueue` hand-off and its
# tests; its CRDs and webhook manifests ship in the module (config/components/).
kueue() {
  GO_LINE=1.25.0 build_mod kueue "${KUEUE_VERSION}" "sigs.k8s.io/kueue@${KUEUE_VERSION}" \
    sigs.k8s.io/kueue/cmd/kueue
}

# Tekton Pipelines: controller and webhook (hack/bench_peers.py only; not in `make test`).
tekton() {
  local tk=(
    "replace github.com/aws/aws-sdk-go-v2/service/ecr => github.com/aws/aws-sdk-go-v2/service/ecr v1.27.3"
    "replace github.com/aws/aws-sdk-go-v2/service/ecrpublic => github.com/aws/aws-sdk-go-v2/service/ecrpublic v1.23.3"
  )
  build_mod tekton-controller "${TEKTON_VERSION}" "github.com/tektoncd/pipeline@${TEKTON_VERSION}" \
    github.com/tektoncd/pipeline/cmd/controller "${tk[@]}"
  build_mod tekton-webhook "${TEKTON_VERSION}" "github.com/tektoncd/pipeline@${TEKTON_VERSION}" \
    github.com/tektoncd/pipeline/cmd/webhook "${tk[@]}"
}

# Argo Workflows: workflow-controller (hack/bench_peers.py only; not in `make test`).
argo() {
  build_mod argo-workflow-controller "${ARGO_VERSION}" \
    "github.com/argoproj/argo-workflows/v3@${ARGO_VERSION}" \
    github.com/argoproj/argo-workflows/v3/cmd/workflow-controller \
    "replace github.com/olekukonko/tablewriter => github.com/olekukonko/tablewriter v0.0.5"
}

# module-dir NAME VERSION MODULE: where the wrapper module found MODULE (CRDs, manifests)
module_dir() {
  (cd "${WORK}/$1-$2" && go list -m -f '{{.Dir}}' "$3")
}

case "${1:-control-plane}" in
  control-plane) control_plane ;;
  node) node ;;
  jaeger) jaeger ;;
  all) control_plane; node; jaeger ;;
  kueue) kueue ;;
  kueue-dir) module_dir kueue "${KUEUE_VERSION}" sigs.k8s.io/kueue ;;
  tekton) tekton ;;
  tekton-dir) module_dir tekton-controller "${TEKTON_VERSION}" github.com/tektoncd/pipeline ;;
  argo) argo ;;
  argo-dir) module_dir argo-workflow-controller "${ARGO_VERSION}" github.com/argoproj/argo-workflows/v3 ;;
  peers) kueue; tekton; argo ;;
  print-dir) echo "${BIN}" ;;
  *) echo "usage: $0 [control-plane|node|jaeger|all|print-dir]" >&2; exit 2 ;;
esac
