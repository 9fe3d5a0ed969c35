"""The Figma client against a real httpx client with a mock transport."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pfa_support import FIXTURES_DIR

from pf_agents.errors import StageError
from pf_agents.figma_client import FigmaClient

FILE = json.loads((FIXTURES_DIR / "figma-transformer__testFile.json").read_text())
NODES = json.loads((FIXTURES_DIR / "deepchat__figma-raw.json").read_text())
TOKEN = "figd_secret-token-value"


def make(handler, **kw) -> tuple[FigmaClient, list[float]]:
    sleeps: list[float] = []
    client = FigmaClient(TOKEN, transport=httpx.MockTransport(handler), sleep=sleeps.append,
                         **kw)
    return client, sleeps


def test_fetch_file_sends_token_and_parses():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json=FILE)

    client, _ = make(handler)
    src = client.fetch("KEY123")
    assert seen[0].url.path == "/v1/files/KEY123"
    assert seen[0].headers["X-Figma-Token"] == TOKEN
    assert src.shape == "file" and src.name == FILE["name"]


def test_fetch_nodes_uses_ids_param():
    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/files/KEY/nodes"
        assert req.url.params["ids"] == "120:219,1:2"
        return httpx.Response(200, json=NODES)

    client, _ = make(handler)
    src = client.fetch("KEY", ["120:219", "1:2"])
    assert src.shape == "nodes" and len(src.roots) == 1


def test_429_honours_retry_after_then_succeeds():
    calls = iter([httpx.Response(429, headers={"Retry-After": "7"}),
                  httpx.Response(429, headers={"Retry-After": "2"}),
                  httpx.Response(200, json=FILE)])
    client, sleeps = make(lambda req: next(calls))
    assert client.fetch("K").shape == "file"
    assert sleeps == [7.0, 2.0]


def test_5xx_and_network_errors_retry_with_backoff():
    state = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] == 1:
            raise httpx.ConnectError("boom", request=req)
        if state["n"] == 2:
            return httpx.Response(502)
        return httpx.Response(200, json=FILE)

    client, sleeps = make(handler, backoff=0.5)
    client.fetch("K")
    assert sleeps == [0.5, 1.0]


def test_retries_exhausted_is_a_clear_error():
    client, sleeps = make(lambda req: httpx.Response(429), max_retries=2, backoff=1)
    with pytest.raises(StageError) as e:
        client.fetch("K")
    assert e.value.reason == "FigmaRateLimited"
    assert len(sleeps) == 2


@pytest.mark.parametrize(("status", "reason"), [(403, "FigmaForbidden"), (404, "FigmaNotFound")])
def test_403_404_fail_fast_without_leaking_token(status, reason):
    n = {"calls": 0}

    def handler(req):
        n["calls"] += 1
        return httpx.Response(status, json={"status": status, "err": "nope"})

    client, sleeps = make(handler)
    with pytest.raises(StageError) as e:
        client.fetch("K")
    assert e.value.reason == reason
    assert n["calls"] == 1 and sleeps == []
    assert TOKEN not in str(e.value)


def test_invalid_json_body():
    client, _ = make(lambda req: httpx.Response(200, content=b"<html>oops"))
    with pytest.raises(StageError) as e:
        client.fetch("K")
    assert e.value.reason == "InvalidFigmaJSON"


def test_missing_token():
    with pytest.raises(StageError) as e:
        FigmaClient("")
    assert e.value.reason == "FigmaTokenMissing"


def test_analyze_stage_fetches_through_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pf_agents.artifacts import FileArtifactStore
    from pf_agents.config import PipelineConfig
    from pf_agents.stages import StageEnv, run_stage
    from tests.figma_api import FigmaApiServer

    cfg = PipelineConfig.model_validate({"source": {"figma": {"fileKey": "abc"}}})
    with FigmaApiServer([]) as api:  # the local Figma API server (tests/figma_api.py)
        api.add_file("abc", FILE)
        monkeypatch.setenv("FIGMA_API_URL", api.url)
        env = StageEnv(store=FileArtifactStore(tmp_path / "s"), workdir=tmp_path / "w",
                       figma_token=TOKEN)
        res = run_stage("analyze", cfg, env)
    assert res.outcome == "Succeeded", res.message
    assert res.summary["components"] == 3
    assert res.summary["version"] == api.file("abc")["version"]
