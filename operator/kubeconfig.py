"""Credentials from a kubeconfig file: what client-go reads, without the `kubernetes` package.

(That package costs the operator 15 MiB of memory just by being importable: kopf imports it
when present.) Supported: the current (or a named) context; the cluster's server, CA file or
data and insecure-skip-tls-verify; the user's client certificate and key (files or data), token,
tokenFile, and exec credential plugins (client.authentication.k8s.io ExecCredential). Several
files in $KUBECONFIG merge as kubectl merges them: the first file to define a name wins.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(Exception):
    """The kubeconfig is missing, malformed, or names something it does not define."""


def load(paths: str | None = None, context: str | None = None) -> dict[str, Any]:
    """The credentials of ``context`` (default: current-context) as plain settings:
    server, ca_file, cert_file, key_file, token, token_file, insecure."""
    files = [p for p in (paths or os.environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    if not files:
        files = [str(Path.home() / ".kube" / "config")]
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}}
    current = None
    found = False
    for file in files:
        path = Path(file).expanduser()
        if not path.is_file():
            continue
        found = True
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise KubeconfigError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(doc, dict):
            raise KubeconfigError(f"{path}: not a kubeconfig")
        current = current or doc.get("current-context")
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                name = entry.get("name")
                if name and name not in merged[section]:
                    merged[section][name] = (entry.get(key) or {}, path.parent)
    if not found:
        raise KubeconfigError(f"no kubeconfig found at {os.pathsep.join(files)}")
    return resolve(merged, context or current)


def resolve(merged: Mapping[str, Any], context: str | None) -> dict[str, Any]:
    if not context or context not in merged["contexts"]:
        raise KubeconfigError(f"context {context!r} is not defined in the kubeconfig")
    ctx, _ = merged["contexts"][context]
    if ctx.get("cluster") not in merged["clusters"]:
        raise KubeconfigError(f"context {context!r}: cluster {ctx.get('cluster')!r} not defined")
    cluster, cluster_dir = merged["clusters"][ctx["cluster"]]
    user, user_dir = merged["users"].get(ctx.get("user"), ({}, Path(".")))
    if not cluster.get("server"):
        raise KubeconfigError(f"cluster {ctx['cluster']!r} has no server")
    out: dict[str, Any] = {
        "server": str(cluster["server"]).rstrip("/"),
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "ca_file": _file(cluster, "certificate-authority", cluster_dir, "ca.crt"),
        "cert_file": _file(user, "client-certificate", user_dir, "client.crt"),
        "key_file": _file(user, "client-key", user_dir, "client.key"),
        "token": user.get("token"),
        "token_file": str(user_dir / user["tokenFile"]) if user.get("tokenFile") else None,
    }
    if user.get("exec"):
        out.update(_exec(user["exec"], out["server"]))
    return out


def _private_file(name: str, data: bytes) -> str:
    """``data`` in a file only this user can read, removed when the process exits."""
    folder = tempfile.mkdtemp(prefix="pf-figma-kubeconfig-")
    atexit.register(shutil.rmtree, folder, True)
    target = Path(folder) / name
    target.write_bytes(data)
    target.chmod(0o600)
    return str(target)


def _file(section: Mapping[str, Any], field: str, base: Path, name: str) -> str | None:
    """A path for ``field``: the file it names (relative to the kubeconfig), or a private
    temporary file holding its ``-data`` twin."""
    if section.get(f"{field}-data"):
        try:
            data = base64.b64decode(section[f"{field}-data"], validate=True)
        except ValueError as err:
            raise KubeconfigError(f"{field}-data is not base64") from err
        return _private_file(name, data)
    if section.get(field):
        return str(base / Path(section[field]).expanduser())
    return None


def _exec(spec: Mapping[str, Any], server: str) -> dict[str, Any]:
    """Run an exec credential plugin once; its token or client certificate."""
    command = spec.get("command")
    if not command:
        raise KubeconfigError("exec credential plugin without a command")
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item["value"]
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": spec.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False, "cluster": {"server": server}},
        }
    )
    try:
        proc = subprocess.run(
            [command, *(spec.get("args") or [])],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        status = json.loads(proc.stdout).get("status") or {}
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        raise KubeconfigError(f"exec credential plugin {command!r} failed: {err}") from err
    out: dict[str, Any] = {}
    if status.get("token"):
        out["token"] = status["token"]
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        for field, key in (("cert_file", "clientCertificateData"), ("key_file", "clientKeyData")):
            out[field] = _private_file(f"{field}.pem", status[key].encode())
    if not out:
        raise KubeconfigError(f"exec credential plugin {command!r} returned no credentials")
    return out
