#!/usr/bin/env bash
# A real trace collector for tests and local development: Jaeger v2 (built from Go modules by
# `build-binaries.sh jaeger`, pinned in versions.env), traces in memory (hack/jaeger.yaml).
#
# usage: hack/jaeger.sh up|stop|status|env
#   up      build (cached) and start it unless it runs; wait until it is healthy
#   stop    stop it (traces are lost: they live in memory)
#   status  exit 0 when it answers
#   env     print the addresses as shell variables (PF_JAEGER_OTLP, PF_JAEGER_QUERY)
#
# It listens on PF_JAEGER_HOST: by default the host's IPv4 address when the cluster has a real
# node (agent pods reach it there, as they reach the test PostgreSQL; the operator on the host
# too), else 127.0.0.1. Ports: OTLP/HTTP 4318, OTLP/gRPC 4317, query API and UI 16686 (the
# usual ones; PF_JAEGER_*_PORT change them). State: <cluster dir>/logs/jaeger.log, pids/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_TAG=jaeger
# shellcheck source=lib.sh
source "${HERE}/lib.sh"

host_ip() { ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p'; }

if [[ -z "${PF_JAEGER_HOST:-}" ]]; then
  if [[ "$(cat "${STATE}/profile" 2>/dev/null || echo "${NODE:-real}")" == real ]]; then
    PF_JAEGER_HOST="${PF_NODE_IP:-$(host_ip)}"
  fi
  PF_JAEGER_HOST="${PF_JAEGER_HOST:-127.0.0.1}"
fi
export PF_JAEGER_HOST
export PF_JAEGER_OTLP_HTTP_PORT="${PF_JAEGER_OTLP_HTTP_PORT:-4318}"
export PF_JAEGER_OTLP_GRPC_PORT="${PF_JAEGER_OTLP_GRPC_PORT:-4317}"
export PF_JAEGER_QUERY_PORT="${PF_JAEGER_QUERY_PORT:-16686}"
export PF_JAEGER_QUERY_GRPC_PORT="${PF_JAEGER_QUERY_GRPC_PORT:-16685}"
export PF_JAEGER_HEALTH_PORT="${PF_JAEGER_HEALTH_PORT:-13133}"
JAEGER="${BIN}/jaeger-${JAEGER_VERSION}/jaeger"
PIDFILE="${PIDS}/jaeger.pid"

answers() { curl -sf "http://${PF_JAEGER_HOST}:${PF_JAEGER_HEALTH_PORT}/status" >/dev/null; }

running() { [[ -s "${PIDFILE}" ]] && pid_running "$(cat "${PIDFILE}")"; }

up() {
  if running && answers; then return 0; fi
  "${HERE}/build-binaries.sh" jaeger
  stop
  log "starting jaeger ${JAEGER_VERSION}: OTLP http://${PF_JAEGER_HOST}:${PF_JAEGER_OTLP_HTTP_PORT}, query http://${PF_JAEGER_HOST}:${PF_JAEGER_QUERY_PORT}"
  start jaeger "${JAEGER}" --config "${HERE}/jaeger.yaml"
  local _
  for _ in $(seq 150); do
    answers && return 0
    running || break
    sleep 0.2
  done
  tail -n 20 "${LOGS}/jaeger.log" >&2 || true
  die "jaeger did not become healthy (log: ${LOGS}/jaeger.log)"
}

stop() {
  [[ -s "${PIDFILE}" ]] || return 0
  local pid
  pid="$(cat "${PIDFILE}")"
  kill "${pid}" 2>/dev/null || true
  for _ in $(seq 50); do pid_running "${pid}" || break; sleep 0.1; done
  kill -9 "${pid}" 2>/dev/null || true
  rm -f "${PIDFILE}"
}

case "${1:-}" in
  up) up ;;
  stop) stop ;;
  status) running && answers ;;
  env)
    echo "PF_JAEGER_OTLP=http://${PF_JAEGER_HOST}:${PF_JAEGER_OTLP_HTTP_PORT}"
    echo "PF_JAEGER_QUERY=http://${PF_JAEGER_HOST}:${PF_JAEGER_QUERY_PORT}"
    ;;
  *) echo "usage: $0 up|stop|status|env" >&2; exit 2 ;;
esac
