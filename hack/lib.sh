# shellcheck shell=bash
# Shared by hack/cluster.sh and hack/node.sh: the state layout, the cluster CA's certificates
# and kubeconfigs, and detached processes with pid files. Set LOG_TAG before sourcing.
#   state: ${PF_CLUSTER_DIR:-<repo>/.cluster}  (kubeconfig, pki/, logs/, pids/, ...)

LIB_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "${LIB_HERE}/versions.env"

STATE="${PF_CLUSTER_DIR:-$(cd "${LIB_HERE}/.." && pwd)/.cluster}"
PKI="${STATE}/pki"
LOGS="${STATE}/logs"
PIDS="${STATE}/pids"
API_PORT="${PF_API_PORT:-16443}"
API="https://127.0.0.1:${API_PORT}"
SERVICE_CIDR="${PF_SERVICE_CIDR:-10.96.0.0/16}"
POD_CIDR="${PF_POD_CIDR:-10.244.0.0/16}"
BIN="$("${LIB_HERE}/build-binaries.sh" print-dir)"
K8S_BIN="${BIN}/kubernetes-${K8S_VERSION}"

log() { printf '[%s %s] %s\n' "${LOG_TAG:-hack}" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kubectl() { "${K8S_BIN}/kubectl" --kubeconfig "${STATE}/kubeconfig" "$@"; }
api_get() { curl -sf --cacert "${PKI}/ca.crt" --cert "${PKI}/admin.crt" --key "${PKI}/admin.key" "${API}$1"; }

# --- PKI ----------------------------------------------------------------------------------
cert() { # cert NAME CN [O] [SANs] : a client/serving cert signed by the cluster CA (kept if present)
  local name="$1" cn="$2" org="${3:-}" sans="${4:-}"
  [[ -s "${PKI}/${name}.crt" ]] && return 0
  local subj="/CN=${cn}"
  [[ -n "${org}" ]] && subj="/O=${org}${subj}"
  local ext="${PKI}/${name}.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=serverAuth,clientAuth"
    [[ -n "${sans}" ]] && echo "subjectAltName=${sans}"
  } >"${ext}"
  openssl ecparam -name prime256v1 -genkey -noout -out "${PKI}/${name}.key" 2>/dev/null
  openssl req -new -key "${PKI}/${name}.key" -subj "${subj}" -out "${PKI}/${name}.csr" 2>/dev/null
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "${ext}" -out "${PKI}/${name}.crt" 2>/dev/null
  rm -f "${PKI}/${name}.csr" "${ext}"
}

kubeconfig() { # kubeconfig FILE CERTNAME USER
  local file="$1" certname="$2" user="$3"
  cat >"${file}" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: pf-figma-local
  cluster:
    server: ${API}
    certificate-authority-data: $(base64 -w0 <"${PKI}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 <"${PKI}/${certname}.crt")
    client-key-data: $(base64 -w0 <"${PKI}/${certname}.key")
contexts:
- name: pf-figma-local
  context: {cluster: pf-figma-local, user: ${user}}
current-context: pf-figma-local
KCFG
  chmod 600 "${file}"
}

# --- processes ----------------------------------------------------------------------------
start() { # start NAME CMD... : run detached, log to logs/NAME.log, pid in pids/NAME.pid
  local name="$1"; shift
  mkdir -p "${LOGS}" "${PIDS}"
  setsid "$@" >>"${LOGS}/${name}.log" 2>&1 </dev/null &
  echo $! >"${PIDS}/${name}.pid"
}

# a process that exists and is not a zombie (PID 1 of this VM reaps orphans only every few s)
pid_running() { kill -0 "$1" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]]; }

alive() { local f="${PIDS}/$1.pid"; [[ -s "${f}" ]] && pid_running "$(cat "${f}")"; }

wait_for() { # wait_for NAME SECONDS CHECK... : poll CHECK, show the log tail on failure
  local name="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "${name}"; then
      log "${name} exited; last lines of ${LOGS}/${name}.log:"; tail -n 40 "${LOGS}/${name}.log" >&2; exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "${name} not healthy after ${secs}s; last lines of ${LOGS}/${name}.log:"
      tail -n 40 "${LOGS}/${name}.log" >&2; exit 1
    fi
    sleep 0.2
  done
}

port_free() { ! (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; } # port_free PORT [HOST]
