#!/usr/bin/env bash
# Container images for the real node (NODE=real), built without a registry or Docker:
#   pause    the pod sandbox image: hack/node/pause.c compiled with `gcc -static`
#   coredns  cluster DNS: the static CoreDNS binary from `build-binaries.sh node`
#   base     Debian bookworm (debootstrap --variant=minbase) + python3, python3-venv,
#            ca-certificates, a non-root user 10001 and the host's extra CA certificates
# Each image is an uncompressed layer tar (GNU tar of the rootfs) wrapped into an OCI image
# archive by hack/node/oci_image.py (sha256 + JSON, no Docker), cached under
#   ${PF_FIGMA_CACHE:-~/.cache/pf-figma}/images/<name>/{rootfs,layer.tar,image.tar,digest}
# and imported into the node's containerd (namespace k8s.io) by `import`.
#
# usage: hack/images.sh pause|coredns|base|all           build (cached)
#        hack/images.sh import [pause|coredns|base ...]  build + import into the node's containerd
#                                                        ($PF_CLUSTER_DIR/node/run/containerd)
#        hack/images.sh ref pause|coredns|base           print the image name
#        hack/images.sh clean-base                       drop the cached base rootfs and image
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/.." && pwd)"
# shellcheck source=versions.env
source "${HERE}/versions.env"
CACHE="${PF_FIGMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pf-figma}"
IMAGES="${CACHE}/images"
STATE="${PF_CLUSTER_DIR:-${ROOT}/.cluster}"
CONTAINERD_SOCK="${PF_CONTAINERD_SOCK:-${STATE}/node/run/containerd/containerd.sock}"

PAUSE_REF="${PF_PAUSE_IMAGE:-localhost/pf-figma/pause:3.10}"
COREDNS_REF="localhost/pf-figma/coredns:${COREDNS_VERSION}"
BASE_SUITE="${PF_BASE_SUITE:-bookworm}"
BASE_REF="${PF_BASE_IMAGE:-localhost/pf-figma/base:${BASE_SUITE}}"
BASE_PACKAGES="python3,python3-venv,ca-certificates"
BASE_UID=10001
# bump when the customisation below changes (the debootstrap rootfs itself is kept)
BASE_RECIPE=1

log() { printf '[images %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    case "${p}" in
      debootstrap) command -v debootstrap >/dev/null || missing+=(debootstrap) ;;
      gcc) command -v gcc >/dev/null || missing+=(gcc libc6-dev) ;;
      containerd) command -v ctr >/dev/null || missing+=(containerd) ;;
    esac
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

timed() { # timed NAME CMD... : run, log to build-logs/NAME.log, record seconds
  local name="$1"; shift
  local t0=${SECONDS}
  mkdir -p "${CACHE}/build-logs"
  if ! "$@" >"${CACHE}/build-logs/${name}.log" 2>&1; then
    log "FAILED: ${name}; last lines of ${CACHE}/build-logs/${name}.log:"
    tail -n 30 "${CACHE}/build-logs/${name}.log" >&2
    return 1
  fi
  printf '%s\t%s\t%ss\n' "$(date -u +%FT%TZ)" "${name}" "$((SECONDS - t0))" >>"${CACHE}/build-times.tsv"
  log "${name} done in $((SECONDS - t0))s"
}

# key FILES/STRINGS... : a short hash of the inputs of a cached artifact
key() { { for x in "$@"; do if [[ -f "${x}" ]]; then sha256sum <"${x}"; else echo "${x}"; fi; done; } | sha256sum | cut -c1-16; }

# oci NAME REF LAYER OCI-ARGS... : wrap LAYER into images/NAME/image.tar (+ digest file)
oci() {
  local name="$1" ref="$2" layer="$3"; shift 3
  local dir="${IMAGES}/${name}"
  python3 "${HERE}/node/oci_image.py" --out "${dir}/image.tar" --ref "${ref}" --layer "${layer}" "$@" \
    >"${dir}/digest.tmp"
  mv "${dir}/digest.tmp" "${dir}/digest"
}

# --- pause ------------------------------------------------------------------------------
build_pause() {
  local dir="${IMAGES}/pause" k
  k="$(key "${HERE}/node/pause.c" "${HERE}/node/oci_image.py" "${PAUSE_REF}")"
  [[ -s "${dir}/image.tar" && "$(cat "${dir}/key" 2>/dev/null)" == "${k}" ]] && return 0
  ensure_packages gcc
  log "building the pause image ${PAUSE_REF}"
  rm -rf "${dir}"; mkdir -p "${dir}/rootfs"
  gcc -static -Os -s -o "${dir}/rootfs/pause" "${HERE}/node/pause.c"
  tar --numeric-owner --owner=0 --group=0 -C "${dir}/rootfs" -cf "${dir}/layer.tar" pause
  oci pause "${PAUSE_REF}" "${dir}/layer.tar" --entrypoint '["/pause"]' --user 65535:65535
  echo "${k}" >"${dir}/key"
}

# --- coredns ----------------------------------------------------------------------------
build_coredns() {
  local dir="${IMAGES}/coredns" bin k
  bin="$("${HERE}/build-binaries.sh" print-dir)/coredns-${COREDNS_VERSION}/coredns"
  [[ -x "${bin}" ]] || "${HERE}/build-binaries.sh" node
  k="$(key "${bin}" "${HERE}/node/oci_image.py" "${COREDNS_REF}")"
  [[ -s "${dir}/image.tar" && "$(cat "${dir}/key" 2>/dev/null)" == "${k}" ]] && return 0
  log "building the CoreDNS image ${COREDNS_REF}"
  rm -rf "${dir}"; mkdir -p "${dir}/rootfs"
  install -m 755 "${bin}" "${dir}/rootfs/coredns"
  tar --numeric-owner --owner=0 --group=0 -C "${dir}/rootfs" -cf "${dir}/layer.tar" coredns
  oci coredns "${COREDNS_REF}" "${dir}/layer.tar" --entrypoint '["/coredns"]' --user 65532:65532
  echo "${k}" >"${dir}/key"
}

# --- base -------------------------------------------------------------------------------
debian_mirror() { # the mirror apt uses here (deb822 or one-line sources), else deb.debian.org
  if [[ -n "${PF_DEBIAN_MIRROR:-}" ]]; then echo "${PF_DEBIAN_MIRROR}"; return; fi
  local m
  m="$(grep -hsE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources | head -n1 | awk '{print $2}')"
  [[ -n "${m}" ]] || m="$(grep -hsE '^deb .*/debian/? ' /etc/apt/sources.list | head -n1 | awk '{print $2}')"
  echo "${m:-http://deb.debian.org/debian}"
}

customize_base() { # idempotent changes to the debootstrap rootfs
  local r="$1"
  # a non-root user (numeric, so runAsNonRoot can verify it) that owns its home
  grep -q "^pf:" "${r}/etc/passwd" || echo "pf:x:${BASE_UID}:${BASE_UID}:pf-figma:/home/pf:/bin/sh" >>"${r}/etc/passwd"
  grep -q "^pf:" "${r}/etc/group" || echo "pf:x:${BASE_UID}:" >>"${r}/etc/group"
  mkdir -p "${r}/home/pf" && chown "${BASE_UID}:${BASE_UID}" "${r}/home/pf"
  # outbound HTTPS here goes through a TLS-intercepting proxy whose CA the host trusts:
  # pods need the same extra CAs (PF_IMAGE_HOST_CA=0 to leave them out)
  if [[ "${PF_IMAGE_HOST_CA:-1}" == 1 ]]; then
    local crt
    shopt -s nullglob
    for crt in /usr/local/share/ca-certificates/*.crt; do
      install -m 644 "${crt}" "${r}/usr/local/share/ca-certificates/"
    done
    shopt -u nullglob
    chroot "${r}" /usr/sbin/update-ca-certificates >/dev/null 2>&1 \
      || die "update-ca-certificates failed in ${r}"
  fi
  # no package caches or lists in the image
  rm -rf "${r}/var/cache/apt/archives/"*.deb "${r}/var/lib/apt/lists/"* "${r}/var/log/"*.log
}

build_base() {
  local dir="${IMAGES}/base-${BASE_SUITE}" mirror rkey ikey cafiles=()
  mirror="$(debian_mirror)"
  rkey="$(key "${BASE_SUITE}" minbase "${BASE_PACKAGES}")"
  shopt -s nullglob; cafiles=(/usr/local/share/ca-certificates/*.crt); shopt -u nullglob
  ikey="$(key "${rkey}" "${BASE_RECIPE}" "${BASE_REF}" "${PF_IMAGE_HOST_CA:-1}" \
    "${HERE}/node/oci_image.py" "${cafiles[@]}")"
  [[ -s "${dir}/image.tar" && "$(cat "${dir}/key" 2>/dev/null)" == "${ikey}" ]] && return 0
  mkdir -p "${dir}"
  if [[ ! -x "${dir}/rootfs/usr/bin/python3" || "$(cat "${dir}/rootfs.key" 2>/dev/null)" != "${rkey}" ]]; then
    ensure_packages debootstrap
    log "debootstrap ${BASE_SUITE} (minbase + ${BASE_PACKAGES}) from ${mirror} (about a minute)"
    rm -rf "${dir}/rootfs" "${dir}/rootfs.tmp"
    timed "debootstrap-base-${BASE_SUITE}" debootstrap --variant=minbase \
      --include="${BASE_PACKAGES}" "${BASE_SUITE}" "${dir}/rootfs.tmp" "${mirror}"
    mv "${dir}/rootfs.tmp" "${dir}/rootfs"
    echo "${rkey}" >"${dir}/rootfs.key"
  fi
  log "packing ${BASE_REF}"
  local t0=${SECONDS}
  customize_base "${dir}/rootfs"
  # /dev, /proc, /sys are runtime mounts; keep the directories, not what debootstrap put there
  tar --numeric-owner --xattrs --sort=name -C "${dir}/rootfs" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
    --exclude='./tmp/*' -cf "${dir}/layer.tar" .
  oci "base-${BASE_SUITE}" "${BASE_REF}" "${dir}/layer.tar" --user "${BASE_UID}:${BASE_UID}" \
    --env LANG=C.UTF-8 --env PYTHONDONTWRITEBYTECODE=1 --env PYTHONUNBUFFERED=1 \
    --env HOME=/home/pf --workdir /home/pf --cmd '["python3"]' \
    --label "org.opencontainers.image.source=pf-figma hack/images.sh" \
    --label "org.opencontainers.image.base.name=debian:${BASE_SUITE}"
  echo "${ikey}" >"${dir}/key"
  log "base image ready in $((SECONDS - t0))s: $(du -h "${dir}/image.tar" | cut -f1) ${dir}/image.tar"
}

# --- import into the node's containerd -----------------------------------------------------
ctr_() { ctr --address "${CONTAINERD_SOCK}" -n k8s.io "$@"; }

import_image() { # import_image NAME REF
  local name="$1" ref="$2" dir want
  case "${name}" in base) dir="${IMAGES}/base-${BASE_SUITE}" ;; *) dir="${IMAGES}/${name}" ;; esac
  want="$(cat "${dir}/digest")"
  ctr_ images ls "name==${ref}" 2>/dev/null | grep -q "${want}" && return 0
  log "importing ${ref} (${want:7:12}) into containerd (k8s.io)"
  ctr_ images import "${dir}/image.tar" >/dev/null
  ctr_ images ls "name==${ref}" | grep -q "${want}" || die "import of ${ref} did not register ${want}"
}

build() {
  local what
  for what in "$@"; do
    case "${what}" in
      pause) build_pause ;;
      coredns) build_coredns ;;
      base) build_base ;;
      all) build_pause; build_coredns; build_base ;;
      *) die "unknown image ${what}" ;;
    esac
  done
}

cmd="${1:-}"; shift || true
case "${cmd}" in
  pause|coredns|base|all) build "${cmd}" "$@" ;;
  import)
    (($#)) || set -- pause base
    build "$@"
    [[ -S "${CONTAINERD_SOCK}" ]] || die "no containerd at ${CONTAINERD_SOCK} (start the node: NODE=real hack/cluster.sh up)"
    for what in "$@"; do
      case "${what}" in
        pause) import_image pause "${PAUSE_REF}" ;;
        coredns) import_image coredns "${COREDNS_REF}" ;;
        base) import_image base "${BASE_REF}" ;;
      esac
    done ;;
  ref) case "${1:-}" in
      pause) echo "${PAUSE_REF}" ;; coredns) echo "${COREDNS_REF}" ;; base) echo "${BASE_REF}" ;;
      *) die "ref pause|coredns|base" ;;
    esac ;;
  clean-base) rm -rf "${IMAGES}/base-${BASE_SUITE}" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
