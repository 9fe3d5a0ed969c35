#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and local development, from Debian's packages.
#
# usage: hack/postgres.sh bin-dir                    install postgresql when missing; print its bin dir
#        hack/postgres.sh up DATADIR PORT PWFILE     initdb (when DATADIR is empty) and start
#        hack/postgres.sh start DATADIR PORT         start an initialised cluster
#        hack/postgres.sh stop DATADIR [MODE]        stop (MODE: fast (default) | immediate | smart)
#        hack/postgres.sh status DATADIR             exit 0 when running
#
# The server listens on 127.0.0.1:PORT only (PF_PG_LISTEN / PF_PG_ALLOW widen it), with its Unix socket inside DATADIR. The superuser is
# "postgres" with the password in PWFILE (scram-sha-256 over TCP). When run as root, the server
# runs as the "postgres" system user (initdb refuses root); DATADIR is handed to that user.
# Durability is traded for speed (fsync=off): this is for tests, never for real data.
set -euo pipefail

log() { printf '[postgres %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
    if [[ -x "${dir}/initdb" && -x "${dir}/pg_ctl" && -x "${dir}/postgres" ]]; then
      echo "${dir}"
      return 0
    fi
  done
  return 1
}

ensure_installed() {
  if find_bin >/dev/null; then
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "postgresql is not installed and we are not root to apt-get it"
  log "installing Debian's postgresql (no default cluster)"
  # Debian's postinst creates and starts a "main" cluster unless told not to.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; } \
    || die "apt-get install postgresql failed"
  find_bin >/dev/null || die "postgresql installed but no /usr/lib/postgresql/*/bin found"
}

# run a command as the server's user
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql \
      --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

server_opts() {
  local data="$1" port="$2"
  printf '%s' "-p ${port} -k ${data} -c listen_addresses=${PF_PG_LISTEN:-127.0.0.1} -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
-c shared_buffers=64MB -c log_min_messages=warning -c log_connections=off"
}

cmd_up() {
  local data="$1" port="$2" pwfile="$3"
  local bin
  ensure_installed
  bin="$(find_bin)"
  mkdir -p "${data}"
  chmod 700 "${data}"
  if [[ "$(id -u)" == 0 ]]; then
    as_pg true  # creates the user if needed
    chown postgres: "${data}"
    as_pg test -x "${data}" \
      || die "user postgres cannot reach ${data}: its parent directories need o+x"
  fi
  if [[ ! -s "${data}/PG_VERSION" ]]; then
    local pw
    pw="$(mktemp)"
    cp "${pwfile}" "${pw}"
    [[ "$(id -u)" == 0 ]] && chown postgres: "${pw}"
    as_pg "${bin}/initdb" -D "${data}" -U postgres --pwfile="${pw}" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"${data}.initdb.log" 2>&1 \
      || { rm -f "${pw}"; cat "${data}.initdb.log" >&2; die "initdb failed"; }
    rm -f "${pw}"
  fi
  cmd_start "${data}" "${port}"
}

cmd_start() {
  local data="$1" port="$2"
  local bin
  # PF_PG_ALLOW=CIDR[,CIDR]: also accept password logins from there (e.g. the pod network, together
  # with PF_PG_LISTEN=127.0.0.1,<host IP>) - for end-to-end tests with agent pods.
  local cidr
  local allow="${PF_PG_ALLOW:-}"
  for cidr in ${allow//,/ }; do
    grep -q "^host all all ${cidr} " "${data}/pg_hba.conf" \
      || echo "host all all ${cidr} scram-sha-256" >>"${data}/pg_hba.conf"
  done
  bin="$(find_bin)" || die "postgresql is not installed (run: hack/postgres.sh bin-dir)"
  as_pg "${bin}/pg_ctl" -D "${data}" -l "${data}/server.log" -w -t 60 \
    -o "$(server_opts "${data}" "${port}")" start >/dev/null \
    || { tail -n 30 "${data}/server.log" >&2 || true; die "cannot start postgresql"; }
}

cmd_stop() {
  local data="$1" mode="${2:-fast}"
  local bin
  bin="$(find_bin)" || die "postgresql is not installed"
  as_pg "${bin}/pg_ctl" -D "${data}" -m "${mode}" -w -t 60 stop >/dev/null
}

cmd_status() {
  local bin
  bin="$(find_bin)" || exit 3
  as_pg "${bin}/pg_ctl" -D "$1" status >/dev/null
}

case "${1:-}" in
  bin-dir) ensure_installed; find_bin ;;
  up) [[ $# == 4 ]] || die "usage: $0 up DATADIR PORT PWFILE"; cmd_up "$2" "$3" "$4" ;;
  start) [[ $# == 3 ]] || die "usage: $0 start DATADIR PORT"; cmd_start "$2" "$3" ;;
  stop) [[ $# -ge 2 ]] || die "usage: $0 stop DATADIR [MODE]"; cmd_stop "$2" "${3:-fast}" ;;
  status) [[ $# == 2 ]] || die "usage: $0 status DATADIR"; cmd_status "$2" ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
