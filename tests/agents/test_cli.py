"""The stage entry point with a real file store, configuration and environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pfa_support import fixture

from pf_agents.cli import agent_main, local_main

SECRET = "figd_do-not-print-me"


def setup_env(tmp_path: Path, monkeypatch, src: Path, **cfg_extra) -> Path:
    cfg = {"tenant": "acme", "namespace": "tenant-acme", "pipeline": "landing", "uid": "u-1",
           "source": {"configMapRef": {"name": "cm", "key": "file.json"}},
           "featureFlags": {"storybook": True}, **cfg_extra}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    monkeypatch.setenv("PF_CONFIG_FILE", str(tmp_path / "config.json"))
    monkeypatch.setenv("PF_SOURCE_FILE", str(src))
    monkeypatch.setenv("PF_ARTIFACTS", (tmp_path / "store").as_uri())
    monkeypatch.setenv("PF_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("FIGMA_TOKEN", SECRET)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path / "result.json"


def test_agent_stages_chain_through_the_store(tmp_path: Path, monkeypatch, capsys):
    result = setup_env(tmp_path, monkeypatch, fixture("code-connect"))
    monkeypatch.setenv("PF_RESULT_FILE", str(result))
    for stage in ("analyze", "generate", "test"):
        assert agent_main([stage]) == 0, result.read_text()
        res = json.loads(result.read_text())
        assert res["v"] == 1 and res["stage"] == stage and res["outcome"] == "Succeeded"
        assert len(result.read_bytes()) <= 4096
        assert all(len(a["sha256"]) == 64 for a in res["artifacts"])
    assert res["summary"]["testCases"] > 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    refs = list((tmp_path / "store" / "refs" / "tenant-acme" / "landing" / "u-1").iterdir())
    assert sorted(p.name for p in refs) == ["analyze", "generate", "test"]


def test_stage_without_previous_artifacts_fails_cleanly(tmp_path: Path, monkeypatch):
    result = setup_env(tmp_path, monkeypatch, fixture("code-connect"))
    assert agent_main(["generate", "--result-file", str(result)]) == 1
    res = json.loads(result.read_text())
    assert res["reason"] == "MissingArtifact" and "design-spec.json" in res["message"]


def test_missing_config_and_store(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PF_CONFIG_FILE", str(tmp_path / "nope.json"))
    out = tmp_path / "r.json"
    assert agent_main(["analyze", "--result-file", str(out)]) == 1
    assert json.loads(out.read_text())["reason"] == "ConfigMissing"
    (tmp_path / "c.json").write_text("{}")
    monkeypatch.setenv("PF_CONFIG_FILE", str(tmp_path / "c.json"))
    monkeypatch.delenv("PF_ARTIFACTS", raising=False)
    assert agent_main(["analyze", "--result-file", str(out)]) == 1
    assert json.loads(out.read_text())["reason"] == "ArtifactStoreMissing"


def test_python_dash_m_entry_point(tmp_path: Path, monkeypatch):
    result = setup_env(tmp_path, monkeypatch, fixture("deepchat"))
    monkeypatch.setenv("PF_RESULT_FILE", str(result))
    proc = subprocess.run([sys.executable, "-m", "pf_agents", "analyze"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["summary"]["nodes"] == 9
    assert SECRET not in proc.stdout + proc.stderr
    bad = subprocess.run([sys.executable, "-m", "pf_agents", "nosuchstage"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_local_run_without_qa(tmp_path: Path, capsys):
    out = tmp_path / "out"
    rc = local_main(["run", "--figma-json", str(fixture("figma-rust__cookie")), "--out",
                     str(out), "--stages", "analyze,generate,test"])
    assert rc == 0
    assert (out / "package.json").exists() and (out / "components" / "CookieBanner.tsx").exists()
    assert (out / "components" / "CookieBanner.test.tsx").exists()
    results = json.loads((out / ".pf-figma" / "results.json").read_text())
    assert [r["stage"] for r in results] == ["analyze", "generate", "test"]
    assert "generate" in capsys.readouterr().out


def test_local_run_bad_input_exit_code(tmp_path: Path, write_json, capsys):
    rc = local_main(["--figma-json", write_json("[]"), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "InvalidFigmaJSON" in json.dumps(
        json.loads((tmp_path / "o" / ".pf-figma" / "results.json").read_text()))
    assert "FAIL" in capsys.readouterr().out
