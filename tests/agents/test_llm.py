"""Claude refinement with the real anthropic client over an httpx2 MockTransport."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest
from pfa_support import fixture

from pf_agents.analyze import analyze_source
from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import LLM, PipelineConfig
from pf_agents.figma_client import load_figma_file
from pf_agents.files import unpack_files
from pf_agents.llm import cost_usd, price_for, refine_project
from pf_agents.stages import StageEnv, build_project, run_stage
from pf_agents.tokens import extract_tokens

KEY = "sk-ant-api03-test-key-never-logged"


def project(stem: str = "code-connect"):
    spec = analyze_source(load_figma_file(str(fixture(stem))))
    files, comps, _ = build_project(spec, extract_tokens(spec).dtcg)
    return spec, files, [c.manifest for c in comps]


def message(text: str, *, inp=1200, out=400, cw=0, cr=0, stop="end_turn") -> dict:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out,
                  "cache_creation_input_tokens": cw, "cache_read_input_tokens": cr},
    }


def improve(source: str) -> str:
    """What a good answer looks like: same contract, better semantics."""
    return "Here you go:\n```tsx\n" + source.replace(
        "export function", "/** Refined by Claude. */\nexport function", 1) + "```\n"


class FakeClaude:
    """Realistic Messages API: echoes the component back improved, with cache usage."""

    def __init__(self, fail_first: list[int] | None = None, answer=improve) -> None:
        self.requests: list[dict] = []
        self.fail_first = list(fail_first or [])
        self.answer = answer

    def __call__(self, req: httpx2.Request) -> httpx2.Response:
        assert req.url.path == "/v1/messages"
        # the SDK authenticates with the key (x-api-key or bearer, depending on its version)
        assert KEY in (req.headers.get("x-api-key"), req.headers.get("authorization", "")[7:])
        if self.fail_first:
            status = self.fail_first.pop(0)
            kind = "overloaded_error" if status == 529 else "rate_limit_error"
            return httpx2.Response(status, headers={"retry-after-ms": "5"},
                                   json={"type": "error", "error": {"type": kind,
                                                                    "message": "Overloaded"}})
        body = json.loads(req.content)
        self.requests.append(body)
        src = re.search(r"```tsx\n(.*)```", body["messages"][0]["content"], re.S).group(1)
        first = len(self.requests) == 1
        return httpx2.Response(200, json=message(self.answer(src), cw=3000 if first else 0,
                                                 cr=0 if first else 3000))


def client_for(fake: FakeClaude) -> httpx2.Client:
    return httpx2.Client(transport=httpx2.MockTransport(fake))


def test_refines_with_prompt_caching_and_records_cost():
    spec, files, manifests = project()
    before = dict(files)
    fake = FakeClaude()
    cfg = LLM(enabled=True, model="claude-sonnet-4-5", maxTokens=10_000_000, maxCostUSD=100)
    out = refine_project(files, manifests, spec, cfg, KEY, http_client=client_for(fake),
                         typecheck=False)
    assert out.calls == len(manifests) == len(out.refined) and not out.rejected
    sys_blocks = fake.requests[0]["system"]
    assert sys_blocks[-1]["cache_control"] == {"type": "ephemeral"}
    assert all(r["system"] == sys_blocks for r in fake.requests)  # identical -> cacheable
    assert fake.requests[0]["model"] == "claude-sonnet-4-5"
    n = len(manifests)
    assert out.output_tokens == 400 * n
    assert out.input_tokens == (1200 + 3000) * n
    expected = (1200 * n * 3 + 400 * n * 15 + 3000 * 3.75 + 3000 * (n - 1) * 0.30) / 1e6
    assert out.usd == pytest.approx(expected)
    changed = [p for p in files if files[p] != before[p]]
    assert sorted(changed) == sorted(m.file for m in manifests)
    assert all("Refined by Claude" in files[p] for p in changed)


@pytest.mark.parametrize("status", [529, 429])
def test_overloaded_and_rate_limited_are_retried(status):
    spec, files, manifests = project()
    fake = FakeClaude(fail_first=[status, status])
    cfg = LLM(enabled=True, maxTokens=10_000_000, maxCostUSD=100)
    out = refine_project(files, manifests[:1], spec, cfg, KEY, http_client=client_for(fake),
                         typecheck=False)
    assert out.calls == 1 and out.refined == [manifests[0].ident]
    assert fake.fail_first == []


def test_persistent_overload_stops_cleanly_keeping_deterministic_output():
    spec, files, manifests = project()
    before = dict(files)
    fake = FakeClaude(fail_first=[529] * 10)
    cfg = LLM(enabled=True, maxTokens=10_000_000, maxCostUSD=100)
    out = refine_project(files, manifests, spec, cfg, KEY, http_client=client_for(fake),
                         max_retries=2, typecheck=False)
    assert out.stopped == "api error 529" and out.calls == 0
    assert files == before


def test_token_budget_stops_cleanly():
    spec, files, manifests = project()
    fake = FakeClaude()
    # enough for about one call only
    per_call = 4000 + 1200 + 400
    cfg = LLM(enabled=True, maxTokens=per_call + 6000, maxCostUSD=100)
    out = refine_project(files, manifests, spec, cfg, KEY, http_client=client_for(fake),
                         typecheck=False)
    assert out.stopped == "maxTokens"
    assert 0 < out.calls < len(manifests)
    assert out.input_tokens + out.output_tokens <= cfg.maxTokens


def test_cost_budget_stops_before_spending():
    spec, files, manifests = project()
    fake = FakeClaude()
    out = refine_project(files, manifests, spec, LLM(maxCostUSD=0.0001, maxTokens=10**9), KEY,
                         http_client=client_for(fake),
                         typecheck=False)
    assert out.stopped == "maxCostUSD" and out.calls == 0 and fake.requests == []


@pytest.mark.parametrize("bad", [
    lambda src: "I cannot do that.",
    lambda src: "```tsx\n" + src.replace("export function", "function", 1) + "```",
    lambda src: "```tsx\n" + src.replace("data-figma-node", "data-x") + "```",
    lambda src: "```tsx\n" + src + "\n}{\n```",
    lambda src: "```tsx\nimport x from \"left-pad\";\n" + src + "```",
])
def test_invalid_answers_keep_the_deterministic_output(bad):
    spec, files, manifests = project()
    before = dict(files)
    fake = FakeClaude(answer=bad)
    out = refine_project(files, manifests[:2], spec, LLM(maxTokens=10**9, maxCostUSD=100), KEY,
                         http_client=client_for(fake),
                         typecheck=False)
    assert out.calls == 2 and out.refined == [] and len(out.rejected) == 2
    assert files == before


def test_price_table():
    assert price_for("claude-sonnet-4-5-20250929") == price_for("claude-sonnet-4-5")
    assert price_for("claude-haiku-4-5") != price_for("claude-sonnet-4-5")
    assert price_for("some-future-model")[0] >= max(p[0] for p in [price_for("claude-opus-4-1")])

    class U:
        input_tokens, output_tokens = 1_000_000, 1_000_000
        cache_creation_input_tokens = cache_read_input_tokens = 0

    assert cost_usd("claude-sonnet-4-5", U()) == pytest.approx(18.0)


def test_generate_stage_records_usage_and_never_the_key(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "s")
    fake = FakeClaude()
    env = StageEnv(store=store, workdir=tmp_path / "w", source_file=str(fixture("deepchat")),
                   anthropic_api_key=KEY, anthropic_http_client=client_for(fake))
    cfg = PipelineConfig.model_validate({"llm": {"enabled": True, "maxTokens": 10**7,
                                                 "maxCostUSD": 10}})
    assert run_stage("analyze", cfg, env).outcome == "Succeeded"
    res = run_stage("generate", cfg, env)
    assert res.outcome == "Succeeded", res.message
    d = json.loads(res.to_json())
    assert d["usage"]["outputTokens"] == 400 and d["usage"]["usd"] > 0
    assert d["summary"]["llm"]["refined"] == 1
    assert KEY not in res.to_json()
    project_ref = next(a for a in res.artifacts if a.name == "project.tar.gz")
    files = unpack_files(store.get(project_ref.uri))
    assert b"Refined by Claude" in files["components/generated/Group14.tsx"]
    # no key: the default path never calls the API
    env2 = StageEnv(store=FileArtifactStore(tmp_path / "s2"), workdir=tmp_path / "w2",
                    source_file=str(fixture("deepchat")), anthropic_http_client=client_for(fake))
    run_stage("analyze", cfg, env2)
    res2 = run_stage("generate", cfg, env2)
    assert res2.outcome == "Succeeded" and res2.usage.output_tokens == 0
    assert len(fake.requests) == 1


@pytest.mark.slow
def test_answer_that_does_not_type_check_is_rejected(tmp_path: Path):
    from pf_agents.project import package_json
    from pf_agents.qa import ensure_node_modules

    ensure_node_modules(package_json("x"), tmp_path)  # the qa toolchain (cached)
    spec, files, manifests = project()
    before = dict(files)

    def typo(src: str) -> str:  # structurally fine, but a type error
        return "```tsx\n" + src + "\nexport const broken: number = \"text\";\n```"

    fake = FakeClaude(answer=typo)
    out = refine_project(files, manifests[:1], spec, LLM(maxTokens=10**9, maxCostUSD=100), KEY,
                         http_client=client_for(fake), workdir=tmp_path)
    assert out.calls == 1 and out.refined == []
    assert out.rejected == {manifests[0].ident: "does not type-check"}
    assert files == before
