"""The typed DesignPipeline status at the reconciler's edge (operator/model.py
``DesignPipelineStatus``): what ``flow.plan`` produces reads back as the same JSON, the JSON's
shape is pinned, and a status the model cannot read is a clear error, not a traceback.

The reconciler reads ``status`` once (``DesignPipelineStatus.parse``) and writes
``status.to_json()``; the real-cluster tests read that JSON back from the API, so any drift in
field names, defaults or time format fails here first.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from pf_operator import flow
from pf_operator.flow import Plan
from pf_operator.model import DesignPipelineStatus, StatusError
from pf_operator.render import kueue as rk
from tests.unit.test_controllers_pipeline import KEY, world
from tests.unit.test_flow import ADMITTED, NAME, T0, at, failed, jname, mkspec, succeeded, ts


def step(spec: Any, status: DesignPipelineStatus, jobs: list[Any], now_s: float) -> Plan:
    return flow.plan(
        name=NAME,
        spec=spec,
        status=status,
        generation=1,
        created=T0 - timedelta(seconds=30),
        jobs={j.name: j for j in jobs},
        admission=ADMITTED,
        now=at(now_s),
    )


def assert_round_trip(status: DesignPipelineStatus) -> dict[str, Any]:
    """``status`` dumps to JSON that parses back to the same JSON, byte for byte."""
    wire = status.to_json()
    text = json.dumps(wire)
    again = DesignPipelineStatus.parse(json.loads(text)).to_json()
    assert json.dumps(again) == text
    return wire


def test_every_status_plan_writes_reads_back_as_the_same_json() -> None:
    """A pipeline through a failed attempt, its retry, artifacts (one without a checksum),
    LLM cost, the visual stage's quality and the Figma source's version: every pass's status
    survives the write/read the reconciler does between passes."""
    spec = mkspec(
        stages=["analyze", "generate", "test", "qa", "visual"],
        retries={"limit": 1, "backoffSeconds": 0},
    )
    status = DesignPipelineStatus.parse({})
    passes = [
        ([], 0),
        ([failed("analyze")], 11),
        ([succeeded("analyze", 2, start=11, end=20, summary={"version": "4711"},
                    artifacts=[{"name": "design.json", "uri": "file:///d.json"}],
                    usage={"inputTokens": 10, "outputTokens": 5, "usd": 0.25})], 21),
        ([succeeded("generate", start=21, end=30,
                    artifacts=[{"name": "app.zip", "uri": "file:///a.zip", "sha256": "ab" * 32,
                                "size": 7}])], 31),
        ([succeeded("test", start=31, end=40)], 41),
        ([succeeded("qa", start=41, end=50)], 51),
        ([succeeded("visual", start=51, end=60,
                    summary={"fidelity": 0.9, "textsShown": 1, "overflowWidths": [375]})], 61),
    ]
    wires = []
    for jobs, now_s in passes:
        p = step(spec, status, jobs, now_s)
        wires.append(assert_round_trip(p.status))
        status = DesignPipelineStatus.parse(json.loads(json.dumps(wires[-1])))  # as read back
    last = wires[-1]
    assert last["conditions"][-1]["reason"] == "Succeeded"
    assert last["source"] == {"fileKey": "FILE", "nodeIds": [], "version": "4711"}
    assert last["cost"] == {"inputTokens": 10, "outputTokens": 5, "usd": 0.25}
    assert last["artifacts"] == [
        {"stage": "analyze", "name": "design.json", "uri": "file:///d.json",
         "sha256": None, "size": None},
        {"stage": "generate", "name": "app.zip", "uri": "file:///a.zip",
         "sha256": "ab" * 32, "size": 7},
    ]
    assert last["quality"] == {"fidelity": 0.9, "textsShown": 1.0, "a11yViolations": 0,
                               "overflowWidths": [375]}
    assert last["currentStage"] is None and last["queuePosition"] is None  # removed by the patch


def test_the_status_json_of_a_started_pipeline_is_pinned() -> None:
    """The exact JSON of the admission pass: field names, which fields are written (no empty
    defaults such as quality or traceID), nulls that a merge patch removes, time format."""
    p = step(mkspec(), DesignPipelineStatus(), [], 0)
    cond = {"observedGeneration": 1, "lastTransitionTime": ts(0)}
    assert p.status.to_json() == {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Admitted", "status": "True", "reason": "Admitted",
             "message": "admitted by the fair-share queue", **cond},
            {"type": "Succeeded", "status": "Unknown", "reason": "Running",
             "message": "running stage analyze", **cond},
        ],
        "currentStage": "analyze",
        "queuePosition": None,
        "startTime": ts(0),
        "stages": [
            {"name": "analyze", "state": "Running", "job": jname("analyze"), "attempts": 1,
             "startTime": ts(0)},
            {"name": "generate", "state": "Pending", "attempts": 0},
            {"name": "test", "state": "Pending", "attempts": 0},
        ],
        "artifacts": [],
        "cost": {"inputTokens": 0, "outputTokens": 0, "usd": 0.0},
        "source": {"fileKey": "FILE", "nodeIds": []},
    }


def test_a_queued_pipelines_status_json_is_pinned() -> None:
    p = flow.plan(name=NAME, spec=mkspec(), status=DesignPipelineStatus(), generation=None,
                  created=T0, jobs={}, admission=flow.Admission(position=2), now=T0)
    message = "waiting for capacity (position 2)"
    assert p.status.to_json() == {
        "observedGeneration": None,  # unknown: null, as before (a merge patch removes it)
        "conditions": [  # no observedGeneration: null inside a condition
            {"type": "Succeeded", "status": "Unknown", "reason": "Queued", "message": message,
             "lastTransitionTime": ts(0)},
            {"type": "Admitted", "status": "False", "reason": "Queued", "message": message,
             "lastTransitionTime": ts(0)},
        ],
        "queuePosition": 2,
        "stages": [{"name": s, "state": "Pending", "attempts": 0}
                   for s in ("analyze", "generate", "test")],
        "source": {"fileKey": "FILE", "nodeIds": []},
    }


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"currentStage": None, "queuePosition": None},
        {"stages": [{"name": "analyze"}]},
        {"startTime": "2025-03-01T12:00:00Z", "cost": {"usd": 0.5}},
        {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]},
    ],
)
def test_parsing_adds_no_defaults(raw: dict[str, Any]) -> None:
    assert DesignPipelineStatus.parse(raw).to_json() == raw


def test_a_new_pipeline_has_an_empty_status() -> None:
    assert DesignPipelineStatus.parse(None).to_json() == {}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"stages": [{"name": "analyze", "attempts": "many"}]}, "status.stages[0].attempts:"),
        ({"startTime": "yesterday"}, "status.startTime:"),
        ({"stages": "analyze"}, "status.stages:"),
        ({"quality": {"fidelity": 2}}, "status.quality.fidelity: Input should be less than"),
        (["not", "an", "object"], "status: expected an object, got list"),
    ],
)
def test_a_malformed_status_names_the_field(raw: Any, says: str) -> None:
    with pytest.raises(StatusError) as err:
        DesignPipelineStatus.parse(raw)
    assert str(err.value).startswith(says), str(err.value)
    assert isinstance(err.value, ValueError)


def test_malformed_conditions_are_skipped_not_an_error() -> None:
    status = DesignPipelineStatus.parse({"conditions": [{"type": "Succeeded"}, "junk"]})
    assert status.conditions == ()


def test_the_reconciler_ends_a_pipeline_whose_status_it_cannot_read() -> None:
    w = world()
    w.pipeline(status={"startTime": "yesterday"})
    w.admission.admitted_keys.add(KEY)
    assert w.reconcile() is None  # no traceback, no retry
    assert w.client.written() == [f"DesignPipeline {KEY}"]  # no Job: status only
    assert w.condition("Succeeded") == ("False", "InvalidStatus")
    (cond,) = w.status()["conditions"]
    assert cond["message"].startswith("status.startTime: Input should be a valid datetime")
    assert w.status()["completionTime"]
    assert w.client.reasons() == ["InvalidStatus"]
    assert w.reconcile() is None  # finished: left as it is
    assert w.client.writes == [] and w.client.events == []


def test_kueue_admitted_keeps_the_json_shape() -> None:
    status = DesignPipelineStatus.parse(
        {
            "startTime": ts(0),
            "currentStage": "analyze",
            "stages": [{"name": "analyze", "state": "Running", "attempts": 1, "job": "j"}],
        }
    )
    verdict = rk.KueueAdmission(False, "Pending", "waiting in Kueue", 4)
    out = flow.kueue_admitted(status, verdict, None, T0)
    assert out.to_json() == {
        **status.to_json(),
        "queuePosition": 4,
        "conditions": [{"type": "Admitted", "status": "False", "reason": "Pending",
                        "message": "waiting in Kueue", "lastTransitionTime": ts(0)}],
    }
    assert_round_trip(out)


def test_a_finished_pipeline_with_an_unreadable_status_still_keeps_its_ttl() -> None:
    w = world()
    w.pipeline(status={"completionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1,
                       "stages": "junk"}, ttlSecondsAfterFinished=0)
    assert w.reconcile() is None
    assert w.client.written() == [f"DesignPipeline {KEY}"]
    assert w.client.written("delete") == [f"DesignPipeline {KEY}"]  # its TTL is over
    assert w.client.events == []  # its status is left as it is
