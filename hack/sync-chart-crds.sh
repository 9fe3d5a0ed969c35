#!/usr/bin/env bash
# Keep the Helm chart's CRDs (charts/pf-figma/crds/) identical to the repository's crds/.
#
# usage: hack/sync-chart-crds.sh          copy crds/*.yaml into the chart (removing stale files)
#        hack/sync-chart-crds.sh --check  exit 1 (and show a diff) when the chart's copy differs
#
# Helm installs a chart's crds/ on first install only and never upgrades or deletes them; see
# docs/helm.md ("Upgrading the CRDs") for how a release picks up changed CRDs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${ROOT}/crds"
DST="${ROOT}/charts/pf-figma/crds"

case "${1:-}" in
  --check)
    if diff -ru "${SRC}" "${DST}"; then
      echo "chart CRDs are in sync with crds/"
      exit 0
    fi
    echo "charts/pf-figma/crds/ differs from crds/: run hack/sync-chart-crds.sh" >&2
    exit 1
    ;;
  "")
    mkdir -p "${DST}"
    find "${DST}" -maxdepth 1 -type f -name '*.yaml' -delete
    cp "${SRC}"/*.yaml "${DST}/"
    echo "copied $(find "${SRC}" -maxdepth 1 -name "*.yaml" | wc -l) CRD file(s) from crds/ to charts/pf-figma/crds/"
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
