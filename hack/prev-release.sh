#!/usr/bin/env bash
# A previous release of pf-figma, for the upgrade test (tests/integration/test_upgrade_in_flight.py,
# `make test-upgrade`): that commit's tree (its chart and CRDs) as a git worktree under /tmp, and
# its operator image built from its own Dockerfile, tagged pf-figma-operator:prev-<sha12> and
# imported into the real node's containerd (when it runs). Both are cached: a second run builds
# and imports nothing.
#
# usage: hack/prev-release.sh <commit>
#   prints two lines on stdout:  worktree=<path>  image=<repository:tag>
#   PF_PREV_WORKTREE_DIR (default /tmp) holds the worktree pf-figma-prev-<sha12>.
# The base image is the one hack/build-images.sh makes (debootstrap bookworm + python3); the
# operator target never uses the Node.js stage, so the base image stands in for NODE_IMAGE.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/build-images.sh
source "${HERE}/build-images.sh"  # ensure_docker, base_image, ROOT, CONTAINERD_SOCK, log, die

[[ $# -eq 1 ]] || die "usage: $0 <commit>"
SHA="$(git -C "${ROOT}" rev-parse --verify "$1^{commit}")" || die "no commit $1"
SHORT="${SHA:0:12}"
REF="pf-figma-operator:prev-${SHORT}"
WORKTREE="${PF_PREV_WORKTREE_DIR:-/tmp}/pf-figma-prev-${SHORT}"

worktree() {
  if [[ "$(git -C "${WORKTREE}" rev-parse HEAD 2>/dev/null)" == "${SHA}" ]]; then
    return 0
  fi
  rm -rf "${WORKTREE}"  # ours (named by the commit), but not a checkout of it
  git -C "${ROOT}" worktree prune  # forget worktrees whose directory is gone
  log "git worktree ${WORKTREE} at ${SHORT}"
  git -C "${ROOT}" worktree add --force --detach "${WORKTREE}" "${SHA}" >&2
}

build() {
  ensure_docker
  if [[ "$(docker image inspect -f '{{index .Config.Labels "pf-figma.commit"}}' "${REF}" 2>/dev/null)" == "${SHA}" ]]; then
    return 0
  fi
  local base t0=${SECONDS}
  base="$(base_image)"
  cp /etc/ssl/certs/ca-certificates.crt "${WORKTREE}/hack/certs/host-ca-bundle.crt"
  trap 'rm -f "${WORKTREE}/hack/certs/host-ca-bundle.crt"' RETURN
  log "building ${REF} from ${WORKTREE}"
  docker build --network host --target operator --label "pf-figma.commit=${SHA}" \
    --build-arg BASE_IMAGE="${base}" --build-arg NODE_IMAGE="${base}" \
    -t "${REF}" "${WORKTREE}" >"${DOCKER_ROOT}/build-prev-${SHORT}.log" 2>&1 \
    || { tail -30 "${DOCKER_ROOT}/build-prev-${SHORT}.log" >&2; die "docker build ${REF} failed"; }
  log "${REF} built in $((SECONDS - t0))s"
}

import_image() {
  if [[ ! -S "${CONTAINERD_SOCK}" ]]; then
    log "no real node (${CONTAINERD_SOCK}): ${REF} built, not imported"
    return 0
  fi
  if ctr --address "${CONTAINERD_SOCK}" -n k8s.io images ls -q | grep -q "/${REF}$"; then
    return 0
  fi
  log "importing ${REF} into containerd (k8s.io)"
  docker save "${REF}" | ctr --address "${CONTAINERD_SOCK}" -n k8s.io images import --no-unpack=false - >/dev/null
}

worktree
build
import_image
echo "worktree=${WORKTREE}"
echo "image=${REF}"
