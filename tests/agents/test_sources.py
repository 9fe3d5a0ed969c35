"""Figma files larger than a ConfigMap (issue 20), on the agent side: gzip-compressed JSON
mounted from a ConfigMap's binaryData, and stored sources in a file artifact store (the
PostgreSQL store: tests/store/test_sources.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pf_agents.artifacts import FileArtifactStore
from pf_agents.cli import agent_main
from pf_agents.errors import StageError
from pf_agents.sources import (
    SOURCE_NAME,
    SOURCE_STAGE,
    load_source_file,
    load_stored_source,
    pack_source,
    source_key,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "examples" / "figma" / "govuk-button.json"


def run_analyze(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, object],
                source_file: str | None = None) -> dict[str, object]:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"namespace": "ns", "pipeline": "p", "uid": "u1", **config}))
    result = tmp_path / "result.json"
    monkeypatch.setenv("PF_CONFIG_FILE", str(cfg))
    if source_file:
        monkeypatch.setenv("PF_SOURCE_FILE", source_file)
    else:
        monkeypatch.delenv("PF_SOURCE_FILE", raising=False)
    monkeypatch.setenv("PF_ARTIFACTS", (tmp_path / "store").as_uri())
    monkeypatch.setenv("PF_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("PF_RESULT_FILE", str(result))
    agent_main(["analyze"])
    out = json.loads(result.read_text())
    assert isinstance(out, dict)
    return out


def test_gzip_configmap_file_is_analyzed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gz = tmp_path / "figma.json.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert gz.stat().st_size < FIXTURE.stat().st_size / 5
    res = run_analyze(tmp_path, monkeypatch, {}, str(gz))
    assert res["outcome"] == "Succeeded", res
    (tmp_path / "plain").mkdir()
    plain = run_analyze(tmp_path / "plain", monkeypatch, {}, str(FIXTURE))
    assert res["summary"] == plain["summary"]  # the same design, whichever way it came


def test_gzip_is_recognised_by_content_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "figma.json"  # gzip under a plain name
    odd.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    assert load_source_file(str(odd)).roots
    monkeypatch.setenv("PF_SOURCE_MAX_BYTES", "100000")
    with pytest.raises(StageError, match="more than 100000 bytes") as err:
        load_source_file(str(odd))
    assert err.value.reason == "SourceTooLarge"
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(gzip.compress(b'{"a": 1}')[:-6] + b"garbage")
    with pytest.raises(StageError) as err:
        load_source_file(str(broken))
    assert err.value.reason == "InvalidGzip"


def test_stored_source_is_analyzed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileArtifactStore(tmp_path / "store")
    packed = pack_source(FIXTURE.read_bytes())
    assert pack_source(FIXTURE.read_bytes()) == packed  # deterministic: one content address
    ref = store.put(source_key("ns", "big"), SOURCE_STAGE, SOURCE_NAME, packed)
    assert load_stored_source(store, "ns", "big", ref.sha256).roots
    res = run_analyze(tmp_path, monkeypatch, {"source": {"storedRef": {"name": "big"}}})
    assert res["outcome"] == "Succeeded", res
    res = run_analyze(
        tmp_path, monkeypatch, {"source": {"storedRef": {"name": "big", "sha256": "0" * 64}}}
    )
    assert res["outcome"] == "Failed" and res["reason"] == "SourceChanged"
    res = run_analyze(tmp_path, monkeypatch, {"source": {"storedRef": {"name": "missing"}}})
    assert res["reason"] == "SourceNotFound" and "pf-figma sources put ns/missing" in str(
        res["message"]
    )
