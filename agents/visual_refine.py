"""Self-correcting refinement in the visual stage (docs/agents.md, "Claude refinement").

When Claude refinement is enabled, each component the visual stage scored below the design
(``visual.visual_diffs``: the nodes that are off and by how much, a screenshot) is sent to
Claude (``llm.propose_visual_fixes``), and a proposed file is kept only if

* the component's fidelity does not drop (the proposals re-rendered and re-scored in Chromium),
* ``tsc`` reports no error in it (and none it cannot place), and
* the project's tests (vitest) of that component still pass;

otherwise the file the generator wrote stays. Everything stays within the pipeline's token and
cost budget (what earlier stages spent included). ``decide`` is the pure rule; ``refine`` runs
it on a project the visual stage already wrote and linked.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tracing
from .config import LLM
from .generate import ComponentManifest
from .llm import RefineOutcome, propose_visual_fixes
from .visual import FigmaRenders, run_visual, visual_diffs

MAX_COMPONENTS = 10  # components refined per pipeline (the worst first)
PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3


def hide_from_children() -> bool:
    """Make this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), before it starts any
    child that runs generated code (node, Chromium, tsc, vitest): a process of the same user
    can then no longer read this one's memory, file descriptors or initial environment
    (``/proc/<pid>/environ``, where the Anthropic key was put), while the children themselves
    are dumpable again after ``execve``. Their own environment has no key
    (``qa.CHILD_ENV_DROP``). Returns whether it took effect (Linux only)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclass
class Verdict:
    kept: list[str] = field(default_factory=list)  # component idents
    rejected: dict[str, str] = field(default_factory=dict)  # ident -> why


def _tsc_files(output: str) -> set[str]:
    return set(re.findall(r"^([^\s(]+)\(\d+,\d+\): error", output, re.M))


def decide(
    proposals: dict[str, str],
    owners: dict[str, str],
    before: dict[str, float],
    after: dict[str, float | None],
    tsc: dict[str, Any],
    tests: dict[str, Any],
) -> Verdict:
    """Which proposals to keep (pure). ``proposals``: file -> source; ``owners``: file ->
    component ident; ``before`` / ``after``: ident -> fidelity (0..1; None after: the
    component no longer renders); ``tsc`` / ``tests``: qa.run_tsc / qa.run_vitest reports of
    the project with every proposal in place. A tsc error or a failing test that cannot be
    placed in one file rejects every proposal (the project was green before them)."""
    v = Verdict()
    tsc_bad = _tsc_files(tsc.get("output", "")) if not tsc.get("ok") else set()
    tsc_unplaced = not tsc.get("ok") and not tsc_bad
    failing = [f.get("file", "") for f in tests.get("failures") or []]
    tests_unplaced = not tests.get("ok") and (
        not failing or any(not f or f == "." for f in failing)
    )
    for path in sorted(proposals):
        ident = owners[path]
        old, new = before.get(ident, 0.0), after.get(ident)
        stem = Path(path).stem
        if tsc_unplaced or path in tsc_bad:
            v.rejected[ident] = "does not type-check"
        elif tests_unplaced or any(Path(f).name.split(".")[0] == stem for f in failing):
            v.rejected[ident] = "its tests fail"
        elif new is None:
            v.rejected[ident] = "does not render"
        elif new < old:
            v.rejected[ident] = f"fidelity drops from {old:.1%} to {new:.1%}"
        else:
            v.kept.append(ident)
    return v


def refine(
    files: dict[str, bytes],
    manifests_json: list[dict[str, Any]],
    spec: dict[str, Any],
    report: dict[str, Any],
    *,
    project_dir: Path,
    workdir: Path,
    out_dir: Path,
    cfg: LLM,
    api_key: str,
    used_tokens: int = 0,
    used_usd: float = 0.0,
    renders: FigmaRenders | None = None,
    http_client: Any = None,
) -> tuple[dict[str, Any], dict[str, bytes], RefineOutcome]:
    """Refine the components ``report`` scores below the design; returns the report (a new one,
    re-measured, when a file was kept; ``refinement`` says what happened), the project files
    (with the kept files) and the usage. ``project_dir`` holds the project as ``run_visual``
    wrote it (node_modules linked)."""
    from .qa import run_tsc, run_vitest

    manifests = [ComponentManifest.model_validate(m) for m in manifests_json]
    diffs = visual_diffs(report, out_dir, MAX_COMPONENTS)
    sources = {d.file: files[d.file].decode() for d in diffs if d.file in files}
    proposals, outcome = propose_visual_fixes(
        sources,
        manifests,
        diffs,
        cfg,
        api_key,
        used_tokens=used_tokens,
        used_usd=used_usd,
        http_client=http_client,
    )
    info: dict[str, Any] = {
        "candidates": [d.ident for d in diffs],
        "calls": outcome.calls,
        "stopped": outcome.stopped,
        "kept": [],
        "rejected": dict(outcome.rejected),
        "fidelityBefore": report["summary"]["fidelity"],
    }
    if not proposals:
        report["refinement"] = info
        return report, files, outcome
    owners = {d.file: d.ident for d in diffs}
    before = {d.ident: d.fidelity for d in diffs}
    candidate = dict(files) | {p: src.encode() for p, src in proposals.items()}
    # the proposals in place: tsc and the tests over the project, then re-rendered and scored
    for path, src in proposals.items():
        (project_dir / path).write_text(src)
    tsc = tracing.subprocess_step("tsc", run_tsc, project_dir, workdir)
    tests = tracing.subprocess_step("vitest", run_vitest, project_dir, workdir)
    subset = [m for m in manifests_json if m["file"] in proposals]
    scratch = workdir / "refine"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        again = run_visual(candidate, subset, spec, project_dir, scratch, scratch / "out", renders)
        after: dict[str, float | None] = {
            c["component"]: (None if c["errors"] else c["fidelity"]) for c in again["components"]
        }
    except Exception as exc:  # a proposal that breaks the bundle: none of them is kept
        after = {}
        info["rescoreError"] = str(exc)[:300]
    verdict = decide(proposals, owners, before, after, tsc, tests)
    kept_files = {p for p in proposals if owners[p] in verdict.kept}
    for path in proposals:
        if path not in kept_files:  # back to what the generator wrote
            (project_dir / path).write_bytes(files[path])
    info["rejected"].update(verdict.rejected)
    info["kept"] = verdict.kept
    outcome.refined = list(verdict.kept)
    outcome.rejected.update(verdict.rejected)
    if not kept_files:
        report["refinement"] = info
        return report, files, outcome
    final = dict(files) | {p: candidate[p] for p in kept_files}
    shutil.rmtree(out_dir, ignore_errors=True)
    report = run_visual(final, manifests_json, spec, project_dir, workdir, out_dir, renders)
    info["fidelityAfter"] = report["summary"]["fidelity"]
    report["refinement"] = info
    (out_dir / "visual-report.json").write_text(json.dumps(report, indent=1))
    return report, final, outcome
