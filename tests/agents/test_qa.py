"""The heavy qa stage for real: npm install (cached), tsc --noEmit and vitest run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pfa_support import fixture

from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.files import pack_files, unpack_files
from pf_agents.generate import manifests_from_json
from pf_agents.stages import StageEnv, run_stage

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stem", ["figma-rust__cookie-banner", "code-connect", "deepchat"])
def test_generated_project_type_checks_and_its_tests_pass(stem: str, tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(fixture(stem)))
    cfg = PipelineConfig()
    for st in ("analyze", "generate", "test", "qa"):
        res = run_stage(st, cfg, env)
        assert res.outcome == "Succeeded", f"{st}: {res.reason}: {res.message}"
    report = json.loads(store.get(next(a for a in res.artifacts
                                       if a.name == "qa-report.json").uri))
    assert report["tsc"]["ok"] and report["tsc"]["errors"] == 0
    tests = report["tests"]
    assert tests["ok"] and tests["failed"] == 0 and tests["passed"] == tests["total"] > 0
    # every generated test case ran
    gen_tests = run_stage("test", cfg, env).summary["testCases"]
    assert tests["total"] == gen_tests
    assert res.summary["testsPassed"] == tests["passed"] and res.summary["tscOk"] is True
    assert len(res.to_json().encode()) <= 4096
    manifests = manifests_from_json(store.get(next(
        a for a in store.list(cfg.pipeline_key, "generate") if a.name == "manifest.json").uri))
    assert tests["total"] >= 2 * len(manifests)


def test_qa_reports_type_errors_and_failing_tests(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(fixture("deepchat")))
    cfg = PipelineConfig()
    for st in ("analyze", "generate", "test"):
        assert run_stage(st, cfg, env).outcome == "Succeeded"
    ref = next(a for a in store.list(cfg.pipeline_key, "test") if a.name == "project.tar.gz")
    files = unpack_files(store.get(ref.uri))
    # break the project in two ways: a type error and a failing assertion
    files["components/Broken.tsx"] = b'export const n: number = "not a number";\n'
    test_name = next(n for n in files if n.endswith(".test.tsx"))
    files[test_name] = files[test_name].replace(b'toHaveClass("pf-extra")',
                                                b'toHaveClass("pf-missing")')
    store.put(cfg.pipeline_key, "test", "project.tar.gz", pack_files(dict(files)))
    res = run_stage("qa", cfg, env)
    assert res.outcome == "Failed" and res.reason == "TypeCheckFailed"
    assert "Broken.tsx" in res.message
    report = json.loads(store.get(next(a for a in res.artifacts
                                       if a.name == "qa-report.json").uri))
    assert report["tsc"]["errors"] == 1
    assert report["tests"]["failed"] == 1
    assert report["tests"]["passed"] == report["tests"]["total"] - 1
    assert report["install"]["cached"] is True  # node_modules shared by package.json hash
