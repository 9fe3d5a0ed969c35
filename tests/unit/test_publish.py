"""operator/publish.py: what a succeeded pipeline publishes for its owners (issue 17, item 11)."""

from __future__ import annotations

from pf_operator.publish import (
    MAX_BYTES,
    Candidate,
    artifacts_configmap,
    choose,
    configmap_name,
    read_configmap,
)

ORDER = ("analyze", "generate", "test", "qa", "visual", "deploy")


def test_the_newest_project_archive_first_then_the_visual_report_and_preview() -> None:
    cands = [
        Candidate("analyze", "tokens.json", 10),
        Candidate("generate", "project.tar.gz", 100),
        Candidate("qa", "project.tar.gz", 120),  # qa's is newer
        Candidate("visual", "visual-report.json", 5),
        Candidate("visual", "preview.tar.gz", 50),
    ]
    chosen, left = choose(cands, ORDER)
    assert [(c.stage, c.name) for c in chosen] == [
        ("qa", "project.tar.gz"),
        ("visual", "visual-report.json"),
        ("visual", "preview.tar.gz"),
    ]
    assert left == []


def test_what_does_not_fit_is_left_out_and_said() -> None:
    cands = [
        Candidate("generate", "project.tar.gz", 600 * 1024),
        Candidate("visual", "visual-report.json", 10),
        Candidate("visual", "preview.tar.gz", 200 * 1024),
    ]
    chosen, left = choose(cands, ORDER, limit=MAX_BYTES)
    assert [c.name for c in chosen] == ["project.tar.gz", "visual-report.json"]
    assert [c.name for c in left] == ["preview.tar.gz"]
    big = [Candidate("generate", "project.tar.gz", MAX_BYTES + 1)]
    assert choose(big, ORDER) == ([], big)
    assert choose([Candidate("analyze", "tokens.json", 1)], ORDER) == ([], [])  # nothing to do


def test_configmap_is_owned_by_the_pipeline_and_round_trips() -> None:
    body = {
        "apiVersion": "pffigma.dev/v1alpha1",
        "metadata": {"name": "button", "namespace": "tenant-acme", "uid": "u1"},
    }
    files = {"project.tar.gz": b"\x1f\x8b\x00binary", "visual-report.json": b"{}"}
    cm = artifacts_configmap(body, "acme", files, "tenant-acme/button/u1")
    assert cm["metadata"]["name"] == "button-artifacts" == configmap_name("button")
    owner = cm["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("DesignPipeline", "button", "u1")
    assert cm["metadata"]["labels"]["pffigma.dev/pipeline"] == "button"
    assert "data" not in cm  # binary, never secrets
    assert read_configmap(cm) == files
    assert len(configmap_name("x" * 253)) == 253
