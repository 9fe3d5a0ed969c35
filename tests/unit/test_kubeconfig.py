"""operator/kubeconfig.py: credentials from kubeconfig files, as kubectl reads them."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pf_operator.kubeconfig import KubeconfigError, load


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def config(
    *,
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    current: str | None = "dev",
    name: str = "dev",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster or {"server": "https://10.0.0.1:6443/"}}],
        "users": [{"name": name, "user": user or {}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
    }
    if current:
        doc["current-context"] = current
    return doc


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_inline_data_becomes_private_files(tmp_path: Path) -> None:
    path = write(
        tmp_path / "config",
        config(
            cluster={"server": "https://10.0.0.1:6443/", "certificate-authority-data": b64("CA")},
            user={"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")},
        ),
    )
    cfg = load(path)
    assert cfg["server"] == "https://10.0.0.1:6443"
    for field, content in (("ca_file", "CA"), ("cert_file", "CERT"), ("key_file", "KEY")):
        file = Path(cfg[field])
        assert file.read_text() == content
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert cfg["token"] is None and cfg["insecure"] is False


def test_relative_files_resolve_against_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    path = write(
        tmp_path / "config",
        config(
            cluster={"server": "https://h", "certificate-authority": "pki/ca.crt"},
            user={"client-certificate": "/abs/c.crt", "client-key": "pki/c.key"},
        ),
    )
    cfg = load(path)
    assert cfg["ca_file"] == str(tmp_path / "pki" / "ca.crt")
    assert cfg["cert_file"] == "/abs/c.crt"
    assert cfg["key_file"] == str(tmp_path / "pki" / "c.key")


def test_token_insecure_and_named_context(tmp_path: Path) -> None:
    doc = config(current="other")
    doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    doc["users"][0]["user"] = {"token": "t0k", "tokenFile": "tok"}
    cfg = load(write(tmp_path / "config", doc), context="dev")
    assert cfg["token"] == "t0k" and cfg["token_file"] == str(tmp_path / "tok")
    assert cfg["insecure"] is True


def test_files_merge_first_definition_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a", config(current="dev", cluster={"server": "https://first"}))
    second = write(tmp_path / "b", config(current=None, cluster={"server": "https://second"}))
    assert load(f"{tmp_path / 'missing'}:{first}:{second}")["server"] == "https://first"
    # the current-context comes from the first file that sets one
    assert load(f"{second}:{first}")["server"] == "https://second"


def test_exec_plugin_token(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json, os, sys\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "assert info['spec']['cluster']['server'] == 'https://10.0.0.1:6443'\n"
        "print(json.dumps({'kind': 'ExecCredential', 'status': "
        "{'token': os.environ['PREFIX'] + sys.argv[1]}}))\n"
    )
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin), "-from-plugin"],
            "env": [{"name": "PREFIX", "value": "tok"}],
        }
    }
    assert load(write(tmp_path / "config", config(user=user)))["token"] == "tok-from-plugin"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (config(current=None), "context None is not defined"),
        (config(current="nope"), "context 'nope' is not defined"),
        (config(cluster={"certificate-authority-data": b64("x")}), "has no server"),
        (config(user={"exec": {"command": "/no/such/plugin"}}), "exec credential plugin"),
        (config(user={"client-key-data": "%%%"}), "not base64"),
    ],
)
def test_errors_are_clear(tmp_path: Path, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(KubeconfigError, match=message):
        load(write(tmp_path / "config", doc))


def test_no_file(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load(str(tmp_path / "none"))
    (tmp_path / "list").write_text(json.dumps([1, 2]))
    with pytest.raises(KubeconfigError, match="not a kubeconfig"):
        load(str(tmp_path / "list"))
