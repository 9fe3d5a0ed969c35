"""Self-correcting refinement in the visual stage: Claude (the real anthropic SDK over an httpx2
MockTransport) gets each off component's visual diff and screenshot; a proposal is kept only if
the score does not drop and tsc and the tests pass. Real Chromium, tsc and vitest; the
deepchat fixture with a layout fault put in on purpose (a generator bug stand-in)."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pfa_support import fixture
from test_llm import KEY, message

from pf_agents import visual
from pf_agents.artifacts import FileArtifactStore, find
from pf_agents.config import PipelineConfig
from pf_agents.files import pack_files, unpack_files
from pf_agents.stages import PROJECT, StageEnv, run_stage
from pf_agents.visual_refine import decide

pytestmark = pytest.mark.skipif(not os.access(visual.CHROMIUM, os.X_OK),
                                reason="Debian's chromium is not installed")
FILE = "components/generated/Group14.tsx"
SHIFT = "translate-x-[13px] "


def shifted(src: str, n: int = 1) -> str:
    """The layout fault: the first ``n`` absolutely placed layers moved 13 px sideways."""
    for _ in range(n):
        src = src.replace('className="absolute ', f'className="{SHIFT}absolute ', 1)
    return src


class FakeClaude:
    """The Messages API: answers each request with ``answer(source in the request)``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        assert req.url.path == "/v1/messages"
        assert KEY in (req.headers.get("x-api-key"), req.headers.get("authorization", "")[7:])
        body = json.loads(req.content)
        self.requests.append(body)
        text = body["messages"][0]["content"][-1]["text"]
        src = re.search(r"```tsx\n(.*)```", text, re.S).group(1)
        return httpx2.Response(200, json=message("```tsx\n" + self.answer(src) + "```",
                                                 inp=2500, out=600))


def pipeline(tmp: Path, fake: FakeClaude | None, llm: dict[str, Any] | None = None
             ) -> tuple[FileArtifactStore, StageEnv, PipelineConfig, str]:
    """analyze, generate and test of deepchat; then the fault put into the tested project.
    Returns the store, the env for the visual stage and the generator's file."""
    store = FileArtifactStore(tmp / "store")
    env = StageEnv(store=store, workdir=tmp / "work", source_file=str(fixture("deepchat")))
    cfg = PipelineConfig.model_validate({"llm": llm or {"enabled": True, "maxTokens": 10**6,
                                                        "maxCostUSD": 5}})
    env.llm_override = False  # generate without Claude; the visual stage with it
    for stage in ("analyze", "generate", "test"):
        assert run_stage(stage, cfg, env).outcome == "Succeeded"
    key = cfg.pipeline_key
    files = unpack_files(store.get(find(store, key, PROJECT, "test").uri))
    original = files[FILE].decode()
    assert SHIFT not in original
    files[FILE] = shifted(original).encode()
    store.put(key, "test", PROJECT, pack_files(dict(files)))
    env.llm_override = True
    env.anthropic_api_key = KEY
    if fake is not None:
        env.anthropic_http_client = httpx2.Client(transport=httpx2.MockTransport(fake))
    return store, env, cfg, original


def report_of(store: FileArtifactStore, res: Any) -> dict[str, Any]:
    ref = next(a for a in res.artifacts if a.name == "visual-report.json")
    return json.loads(store.get(ref.uri))


@pytest.mark.slow
def test_a_correction_that_restores_the_design_is_kept(tmp_path: Path):
    fake = FakeClaude(answer=lambda src: src.replace(SHIFT, ""))
    store, env, cfg, original = pipeline(tmp_path, fake)
    res = run_stage("visual", cfg, env)
    assert res.outcome == "Succeeded", res.message
    # what Claude was given: the diff naming the off node and its error, the screenshot
    (req,) = fake.requests
    assert req["system"][-1]["cache_control"] == {"type": "ephemeral"}
    blocks = req["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert base64.b64decode(image["source"]["data"])[:8] == b"\x89PNG\r\n\x1a\n"
    diff = json.loads(re.search(r"```json\n(.*?)\n```", blocks[-1]["text"], re.S).group(1))
    (render,) = diff["renders"]
    (off,) = render["off"]
    assert off["err"] == pytest.approx(13, abs=0.5) and off["dom"][0] - off["figma"][0] == \
        pytest.approx(13, abs=0.5)
    assert diff["fidelity"] < 1.0 and SHIFT in blocks[-1]["text"]
    # kept: re-measured, and the project deploy ships has the correction
    report = report_of(store, res)
    ref = report["refinement"]
    assert ref["kept"] == ["Group14"] and ref["rejected"] == {}
    assert ref["fidelityBefore"] < 1.0 == ref["fidelityAfter"] == report["summary"]["fidelity"]
    shipped = next(a for a in res.artifacts if a.name == PROJECT)
    assert unpack_files(store.get(shipped.uri))[FILE].decode() == original
    assert res.summary["llm"] == {"refined": 1, "rejected": 0, "calls": 1, "stopped": None}
    assert res.usage.input_tokens == 2500 and res.usage.output_tokens == 600
    assert res.usage.usd > 0 and KEY not in res.to_json()


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "why"), [
    (lambda src: shifted(src, 2), "fidelity drops from 87.5% to"),  # a second layer moved too
    (lambda src: src.replace(SHIFT, "") + 'export const broken: number = "text";\n',
     "does not type-check"),
    (lambda src: src.replace(SHIFT, "").replace("bg-[#f8fafc]", "bg-[#f8fafd]"),
     "its tests fail"),  # looks the same, but the generated test of the shape's colour fails
])
def test_a_correction_is_dropped_unless_score_tsc_and_tests_hold(tmp_path: Path, answer: Any,
                                                                 why: str):
    fake = FakeClaude(answer=answer)
    store, env, cfg, _ = pipeline(tmp_path, fake)
    res = run_stage("visual", cfg, env)
    assert res.outcome == "Succeeded", res.message
    assert len(fake.requests) == 1
    report = report_of(store, res)
    assert report["refinement"]["kept"] == []
    assert report["refinement"]["rejected"]["Group14"].startswith(why)
    assert report["summary"]["fidelity"] == report["refinement"]["fidelityBefore"] < 1.0
    assert not any(a.name == PROJECT for a in res.artifacts)  # deploy ships the tested project
    assert res.usage.output_tokens == 600  # the call is paid for all the same


def test_the_budget_earlier_stages_spent_counts(tmp_path: Path):
    fake = FakeClaude(answer=lambda src: src.replace(SHIFT, ""))
    store, env, cfg, _ = pipeline(tmp_path, fake, {"enabled": True, "maxTokens": 20_000,
                                                   "maxCostUSD": 5})
    # generate's refinement spent most of the pipeline's 20,000 tokens
    store.put(cfg.pipeline_key, "generate", "llm-usage.json",
              json.dumps({"inputTokens": 15_000, "outputTokens": 3_000, "usd": 0.1}).encode())
    res = run_stage("visual", cfg, env)
    assert res.outcome == "Succeeded" and fake.requests == []
    assert res.summary["llm"]["stopped"] == "maxTokens" and res.usage.input_tokens == 0


# --- the rule (pure) ----------------------------------------------------------------------------

OWNERS = {"components/generated/A.tsx": "A", "components/generated/B.tsx": "B"}
GREEN = {"ok": True, "output": ""}


def test_decide_keeps_what_holds_the_score_tsc_and_tests():
    props = dict.fromkeys(OWNERS, "src")
    v = decide(props, OWNERS, {"A": 0.5, "B": 0.9}, {"A": 0.5, "B": 0.95}, GREEN,
               {"ok": True, "failures": []})
    assert v.kept == ["A", "B"] and v.rejected == {}
    v = decide(props, OWNERS, {"A": 0.5, "B": 0.9}, {"A": 0.49, "B": None}, GREEN,
               {"ok": True, "failures": []})
    assert v.rejected == {"A": "fidelity drops from 50.0% to 49.0%", "B": "does not render"}
    tsc = {"ok": False, "output": "components/generated/B.tsx(3,5): error TS2322: no\n"}
    tests = {"ok": False, "failures": [{"file": "components/A.test.tsx", "test": "x"}]}
    v = decide(props, OWNERS, {"A": 0.5, "B": 0.9}, {"A": 1.0, "B": 1.0}, tsc, tests)
    assert v.rejected == {"A": "its tests fail", "B": "does not type-check"}
    # errors that name no file reject every proposal (the project was green before them)
    v = decide(props, OWNERS, {"A": 0.5, "B": 0.9}, {"A": 1.0, "B": 1.0},
               {"ok": False, "output": "error TS5058: no tsconfig"}, {"ok": True})
    assert set(v.rejected.values()) == {"does not type-check"}
    v = decide(props, OWNERS, {"A": 0.5, "B": 0.9}, {"A": 1.0, "B": 1.0}, GREEN,
               {"ok": False, "failures": []})
    assert set(v.rejected.values()) == {"its tests fail"}


def test_no_child_process_gets_the_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    # the visual stage holds Claude's key for the refinement; node, the browser, tsc and
    # vitest run generated code and never see it (nor a Figma token)
    from pf_agents import qa

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("FIGMA_TOKEN", "figd_secret")
    env = qa._env(tmp_path)
    assert "ANTHROPIC_API_KEY" not in env and "FIGMA_TOKEN" not in env and "PATH" in env


def test_the_stage_process_is_not_dumpable_next_to_the_key(tmp_path: Path):
    # a same-user child cannot read a non-dumpable parent's /proc/<pid>/environ or memory
    import subprocess
    import sys

    code = ("import ctypes; from pf_agents.visual_refine import hide_from_children, "
            "PR_GET_DUMPABLE; ok = hide_from_children(); "
            "print(ok, ctypes.CDLL(None).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout.split()
    assert out == ["True", "0"]
