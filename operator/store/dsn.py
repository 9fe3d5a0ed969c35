"""PostgreSQL DSN helpers that never let a password out: redaction for logs, parameters, and the
egress endpoints that reach the database (for the tenants' NetworkPolicies)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

_SECRET_KEYS = ("password", "sslpassword", "passfile", "sslkey")


def redact_dsn(dsn: str) -> str:
    """The DSN with its secrets replaced by ``***``: safe to log. Unparseable -> placeholder."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparseable DSN>"
    for key in _SECRET_KEYS:
        if params.get(key):
            params[key] = "***"
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def dsn_params(dsn: str) -> dict[str, str]:
    """The DSN's parameters (URL or key=value form), as strings."""
    return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}


def dsn_endpoints(dsn: str) -> list[tuple[str, int]]:
    """(host or address, port) of each host of the DSN; Unix sockets are left out."""
    params = dsn_params(dsn)
    hosts = params.get("hostaddr") or params.get("host") or "localhost"
    host_list = [h.strip() for h in hosts.split(",")]
    ports = [p.strip() for p in params.get("port", "").split(",")] if params.get("port") else []
    out: list[tuple[str, int]] = []
    for i, host in enumerate(host_list):
        if not host or host.startswith("/") or host.startswith("@"):
            continue
        raw = ports[i] if i < len(ports) else (ports[0] if len(ports) == 1 else "")
        out.append((host, int(raw) if raw else 5432))
    return out


def _resolve(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addrs: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]
        if addr not in addrs:
            addrs.append(addr)
    return addrs


def dsn_egress(dsn: str, *, resolve: Any = _resolve) -> list[Any]:
    """Egress endpoints (``render.common.EgressEndpoint``) that reach the database of ``dsn``.

    Each host name is resolved (blocking DNS: call it once at start-up, not on the event loop's hot
    path) to its addresses, each one a /32 (or /128) endpoint on the DSN's port. A single-host DSN
    whose name has one address gives exactly one endpoint, i.e. one NetworkPolicy egress rule.
    Raises ``OSError`` when a name does not resolve.
    """
    from ..render.common import EgressEndpoint

    endpoints: list[EgressEndpoint] = []
    for host, port in dsn_endpoints(dsn):
        for addr in resolve(host):
            ip = ipaddress.ip_address(addr)
            endpoint = EgressEndpoint(cidr=f"{ip}/{ip.max_prefixlen}", port=port)
            if endpoint not in endpoints:
                endpoints.append(endpoint)
    return endpoints
