#!/usr/bin/env bash
# Install what the test suite needs from Debian when it is missing (CI runs on a fresh machine).
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
# headless Chromium and the fonts for the visual stage's tests (tests/agents/test_visual.py)
[[ -x /usr/bin/chromium ]] || need+=(chromium)
for font in fonts-liberation fonts-dejavu-core fonts-inter fonts-roboto-unhinted; do
  dpkg-query -W -f='${Status}' "${font}" 2>/dev/null | grep -q "ok installed" || need+=("${font}")
done
command -v go >/dev/null || { echo "Go is required to build the local cluster" >&2; exit 1; }
command -v node >/dev/null || { echo "Node.js is required for the qa stage" >&2; exit 1; }
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get install -y -q "${need[@]}" >/dev/null; }
fi
# PostgreSQL (Debian's packages) for the store and database tests
"$(dirname "$0")/postgres.sh" bin-dir >/dev/null
# Kueue, a peer, is not built here: `make test-kueue` builds it and runs the queueing: kueue
# tests (peer builds stay out of make test; a cold Kueue build alone takes over 10 minutes)
