"""The stages (contract.STAGE_ORDER). Each reads its inputs from the artifact store /
environment, writes artifacts and returns a StageResult. Expected failures raise StageError."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analyze import DesignSpec, analyze_source, spec_from_json, spec_to_json
from .artifacts import ArtifactRef, ArtifactStore, find
from .config import PipelineConfig
from .contract import STAGE_ORDER
from .errors import StageError
from .fallback_fonts import fallback_faces
from .figma_client import FigmaClient, FigmaSource, read_token
from .figma_live import IMAGES, RENDERS, image_assets, read_extras
from .files import pack_files, unpack_files
from .fmt import format_project
from .generate import (
    generate_components,
    manifest_json,
    manifests_from_json,
    unreproduced_json,
)
from .project import project_files, unbundled_families
from .result import StageResult, Usage
from .sources import load_source_file, load_stored_source
from .testgen import test_files
from .tokens import extract_tokens, lookup_from_dtcg, tokenset_from_dtcg

log = logging.getLogger(__name__)

STAGES = STAGE_ORDER  # pf_agents.contract: the one stage order
PROJECT = "project.tar.gz"


@dataclass
class StageEnv:
    """Everything a stage needs besides the configuration."""

    store: ArtifactStore
    workdir: Path
    source_file: str | None = None
    figma_token: str | None = None
    anthropic_api_key: str | None = None
    git_credentials_dir: str | None = None
    llm_override: bool | None = None  # local `--llm`
    qa_project_dir: Path | None = None  # local mode: run qa in the output directory
    figma_transport: Any = None  # tests: httpx transport for the Figma client
    anthropic_http_client: Any = None  # tests: httpx2 client for Anthropic
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, store: ArtifactStore) -> StageEnv:
        workdir = Path(os.environ.get("PF_WORKDIR") or "/tmp/pf-figma-work")
        return cls(
            store=store,
            workdir=workdir,
            source_file=os.environ.get("PF_SOURCE_FILE") or None,
            # FIGMA_TOKEN_FILE (a mounted Secret key) or FIGMA_TOKEN
            figma_token=read_token(os.environ.get("FIGMA_TOKEN_FILE") or None),
            anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY") or None,
            git_credentials_dir=os.environ.get("PF_GIT_CREDENTIALS_DIR") or None,
        )


def _latest(store: ArtifactStore, key: str, name: str, stages: tuple[str, ...]) -> ArtifactRef:
    for st in stages:
        refs = [r for r in store.list(key, st) if r.name == name]
        if refs:
            return refs[-1]
    return find(store, key, name)


# ---------------------------------------------------------------------------------------- stages


def _load_source(cfg: PipelineConfig, env: StageEnv) -> FigmaSource:
    if env.source_file:  # JSON, or gzip-compressed JSON (a ConfigMap's binaryData)
        return load_source_file(env.source_file)
    if cfg.source.storedRef is not None:  # pf-figma sources put, in the tenant's store
        ref = cfg.source.storedRef
        return load_stored_source(env.store, cfg.namespace, ref.name, ref.sha256)
    fig = cfg.source.figma
    if fig is None:
        raise StageError("SourceMissing", "no PF_SOURCE_FILE and no source.figma in the "
                         "pipeline configuration")
    with _figma_client(env) as client:
        return client.fetch(fig.fileKey, fig.nodeIds or None, fig.version)


def _figma_client(env: StageEnv) -> FigmaClient:
    if not env.figma_token:
        raise StageError("FigmaTokenMissing", "source.figma is set but FIGMA_TOKEN is not")
    return FigmaClient(env.figma_token, transport=env.figma_transport)


def run_analyze(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    t = time.perf_counter()
    fig = cfg.source.figma
    live = fig is not None and not env.source_file and cfg.source.storedRef is None
    extras = None
    if live and fig is not None:  # the Figma API: the file, its variables, images, renders
        with _figma_client(env) as client:
            src = client.fetch(fig.fileKey, fig.nodeIds or None, fig.version)
            env.timings["load"] = time.perf_counter() - t
            spec = analyze_source(src)
            extras = read_extras(client, fig.fileKey, spec, src.version)
            res.summary["figmaRequests"] = client.requests
    else:
        src = _load_source(cfg, env)
        env.timings["load"] = time.perf_counter() - t
        spec = analyze_source(src)
    tokens = extract_tokens(spec, extras.variables if extras else None)
    key = cfg.pipeline_key
    put = env.store.put
    if extras is not None:
        if extras.images:
            res.artifacts.append(put(key, "analyze", IMAGES, pack_files(extras.images)))
        if extras.renders:
            res.artifacts.append(put(key, "analyze", RENDERS, pack_files(extras.renders)))
        res.summary.update({"images": extras.image_count, "renders": extras.render_count,
                            "variables": len(extras.variables.variables)
                            if extras.variables else None})
        if extras.notes:
            res.summary["notes"] = extras.notes[:10]
    if src.version:  # status.source.version
        res.summary["version"] = src.version
    res.artifacts.append(put(key, "analyze", "design-spec.json", spec_to_json(spec)))
    components = [c.model_dump(exclude={"variants"}) | {"variants": len(c.variants)}
                  for c in spec.components]
    res.artifacts.append(put(key, "analyze", "components.json",
                             json.dumps({"components": components, "instances": [
                                 i.model_dump() for i in spec.instances]}, indent=1).encode()))
    res.artifacts.append(put(key, "analyze", "tokens.json",
                             json.dumps(tokens.dtcg, indent=2, ensure_ascii=False).encode()))
    res.artifacts.append(put(key, "analyze", "tailwind-theme.json",
                             json.dumps(tokens.tailwind_extend(), indent=2).encode()))
    res.summary.update({
        "name": spec.name[:80], "shape": spec.shape, "nodes": spec.nodeCount,
        "components": len(spec.components), "instances": len(spec.instances),
        "tokens": tokens.count, "warnings": len(spec.warnings),
    })
    res.message = (f"analyzed {spec.name[:60]!r}: {spec.nodeCount} nodes, "
                   f"{len(spec.components)} components, {tokens.count} tokens")
    if extras is not None and extras.notes:
        res.message += f"; {len(extras.notes)} notes (summary.notes)"
    if spec.warnings:
        res.message += "; " + "; ".join(spec.warnings)[:300]


def build_project(spec: DesignSpec, dtcg: dict[str, Any], storybook: bool = True,
                  images: dict[str, dict[str, object]] | None = None,
                  ) -> tuple[dict[str, str], list[Any], list[str]]:
    """Components + project files from the spec and analyze's token document (``tokens.json``,
    W3C DTCG): the generator's value -> theme key maps and the Tailwind theme (modes and aliases
    of Figma variables included) both come from that one document, so they always agree.
    ``images``: downloaded image fills (figma_live.image_assets), drawn with next/image."""
    tokens = tokenset_from_dtcg(dtcg)
    extend = tokens.tailwind_extend()
    fallbacks = fallback_faces(spec.index().values(), unbundled_families(extend))
    comps = generate_components(spec, lookup_from_dtcg(dtcg), images, fallbacks)
    files = project_files(name=spec.name, title=" ".join(spec.name.split()) or "Design",
                          components=comps, dtcg=dtcg, tailwind_extend=extend,
                          storybook=storybook, theme_css=tokens.theme_css(), fallbacks=fallbacks)
    warnings = [w for c in comps for w in c.warnings]
    return files, comps, warnings


def run_generate(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    key = cfg.pipeline_key
    spec = spec_from_json(env.store.get(find(env.store, key, "design-spec.json", "analyze").uri))
    dtcg = json.loads(env.store.get(find(env.store, key, "tokens.json", "analyze").uri))
    images = [r for r in env.store.list(key, "analyze") if r.name == IMAGES]
    assets, refs = image_assets(unpack_files(env.store.get(images[-1].uri)) if images else {})
    files, comps, warnings = build_project(spec, dtcg, cfg.flag("storybook", True), refs)
    manifests = [c.manifest for c in comps]
    use_llm = env.llm_override if env.llm_override is not None else cfg.llm.enabled
    if use_llm and env.anthropic_api_key:
        from .llm import refine_project

        outcome = refine_project(files, manifests, spec, cfg.llm, env.anthropic_api_key,
                                 http_client=env.anthropic_http_client, workdir=env.workdir)
        res.usage = Usage(outcome.input_tokens, outcome.output_tokens, outcome.usd)
        res.summary["llm"] = outcome.summary()
        res.artifacts.append(env.store.put(key, "generate", LLM_USAGE, json.dumps(
            {"inputTokens": outcome.input_tokens, "outputTokens": outcome.output_tokens,
             "usd": outcome.usd}).encode()))
    elif use_llm:
        res.summary["llm"] = "skipped: ANTHROPIC_API_KEY not set"
    res.artifacts.append(env.store.put(key, "generate", PROJECT, pack_files({**files, **assets})))
    res.artifacts.append(env.store.put(key, "generate", "manifest.json",
                                       manifest_json(manifests).encode()))
    # nothing dropped silently: every property not reproduced, per node (docs/agents.md)
    res.artifacts.append(env.store.put(key, "generate", "unreproduced.json",
                                       unreproduced_json(comps).encode()))
    unrepro = [(c.ident, u) for c in comps for u in c.unreproduced]
    ui = sorted({u for m in manifests for u in m.ui})
    res.summary.update({"components": len(comps), "files": len(files), "ui": ui,
                        "warnings": len(warnings), "unreproduced": len(unrepro)})
    if unrepro:
        res.summary["unreproducedFirst"] = [
            f"{ident} {u.node} {u.property}: {u.reason}"[:120] for ident, u in unrepro[:5]]
    res.message = f"generated {len(comps)} components ({len(files)} files)"
    if ui:
        res.message += "; semantic elements: " + ", ".join(ui)
    if unrepro:
        res.message += (f"; {len(unrepro)} node properties not reproduced "
                        "(unreproduced.json)")


def run_test(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    key = cfg.pipeline_key
    files = unpack_files(env.store.get(find(env.store, key, PROJECT, "generate").uri))
    manifests = manifests_from_json(env.store.get(find(env.store, key, "manifest.json",
                                                       "generate").uri))
    tests = test_files(manifests)
    merged: dict[str, str | bytes] = {**files, **tests}
    cases = sum(t.count("\n  it(") for t in tests.values())
    # Prettier over the whole project, here: this stage holds no credentials (docs/agents.md)
    merged, fmt = format_project(merged, env.workdir)
    res.artifacts.append(env.store.put(key, "test", PROJECT, pack_files(merged)))
    res.summary.update({"testFiles": len(tests), "testCases": cases,
                        "formatted": fmt["formatted"],
                        "formatChanged": len(fmt.get("changed", []))})
    res.message = f"generated {cases} tests in {len(tests)} files"
    if fmt["formatted"]:
        res.message += f"; prettier reformatted {len(fmt['changed'])} files"
    else:
        res.message += f"; not formatted ({fmt['skipped'][:120]})"


def run_qa(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    from .qa import first_failure, summary_line
    from .qa import run_qa as qa

    key = cfg.pipeline_key
    files = unpack_files(env.store.get(_latest(env.store, key, PROJECT, ("test", "generate")).uri))
    project_dir = env.qa_project_dir or (env.workdir / "qa-project")
    report = qa(files, project_dir, env.workdir, standalone=env.qa_project_dir is not None)
    res.artifacts.append(env.store.put(key, "qa", "qa-report.json",
                                       json.dumps(report, indent=1).encode()))
    res.summary.update({
        "tscOk": report["tsc"]["ok"], "tscErrors": report["tsc"]["errors"],
        "testsPassed": report["tests"]["passed"], "testsTotal": report["tests"]["total"],
        "lintOk": report["lint"]["ok"], "formatOk": report["format"]["ok"],
        "buildOk": report["build"]["ok"],
        "installCached": report["install"]["cached"],
        "secondsInstall": report["install"]["seconds"], "secondsTsc": report["tsc"]["seconds"],
        "secondsTests": report["tests"]["seconds"], "secondsBuild": report["build"]["seconds"],
    })
    res.message = summary_line(report)
    failed = first_failure(report, strict=cfg.flag("qaStrict", True))
    if failed:
        raise StageError(failed[0], res.message + ": " + failed[1][:300])


LLM_USAGE = "llm-usage.json"  # what generate's refinement spent (the budget is the pipeline's)


def _llm_used(store: ArtifactStore, key: str) -> tuple[int, float]:
    """(tokens, USD) the pipeline's earlier refinement spent (generate's ``llm-usage.json``)."""
    try:
        u = json.loads(store.get(find(store, key, LLM_USAGE, "generate").uri))
    except StageError:
        return 0, 0.0
    return int(u.get("inputTokens", 0)) + int(u.get("outputTokens", 0)), float(u.get("usd", 0.0))


def _figma_renders(store: ArtifactStore, key: str) -> Any:
    """Figma's renders that analyze stored (``figma-renders...`` artifacts: PNGs, an index JSON,
    or an archive of them), as ``visual.FigmaRenders``; None when there are none (a design
    not read from the Figma API). The visual stage holds no Figma token: it only reads them."""
    from .visual import RENDERS_PREFIX, parse_renders

    refs = [r for r in store.list(key, "analyze") if r.name.startswith(RENDERS_PREFIX)]
    if not refs:
        return None
    files: dict[str, bytes] = {}
    for ref in refs:
        data = store.get(ref.uri)
        if ref.name.endswith((".tar.gz", ".tgz")):
            files.update(unpack_files(data))
        else:
            files[ref.name] = data
    return parse_renders(files)


def run_visual(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    from .visual import run_visual as visual
    from .visual import summary_line

    key = cfg.pipeline_key
    use_llm = env.llm_override if env.llm_override is not None else cfg.llm.enabled
    if env.anthropic_api_key:  # before any generated code runs next to the key
        from .visual_refine import hide_from_children

        hide_from_children()
    files = unpack_files(env.store.get(_latest(env.store, key, PROJECT, ("test", "generate")).uri))
    manifests = json.loads(env.store.get(find(env.store, key, "manifest.json", "generate").uri))
    spec = json.loads(env.store.get(find(env.store, key, "design-spec.json", "analyze").uri))
    out_dir = env.workdir / "visual-out" / "preview"
    renders = _figma_renders(env.store, key)
    report = visual(files, manifests, spec, env.workdir / "visual-project", env.workdir, out_dir,
                    renders)
    if use_llm and env.anthropic_api_key:  # self-correcting refinement (visual_refine.py)
        from .visual_refine import refine

        used = _llm_used(env.store, key)
        report, final, outcome = refine(
            files, manifests, spec, report, project_dir=env.workdir / "visual-project",
            workdir=env.workdir, out_dir=out_dir, cfg=cfg.llm, api_key=env.anthropic_api_key,
            used_tokens=used[0], used_usd=used[1], renders=renders,
            http_client=env.anthropic_http_client)
        res.usage = Usage(outcome.input_tokens, outcome.output_tokens, outcome.usd)
        res.summary["llm"] = outcome.summary()
        if final is not files:  # kept refinements: the project deploy ships
            res.artifacts.append(env.store.put(key, "visual", PROJECT, pack_files(dict(final))))
    elif use_llm:
        res.summary["llm"] = "skipped: ANTHROPIC_API_KEY not set"
    res.artifacts.append(env.store.put(key, "visual", "visual-report.json",
                                       json.dumps(report, indent=1).encode()))
    preview: dict[str, str | bytes] = {
        "preview/" + p.relative_to(out_dir).as_posix(): p.read_bytes()
        for p in sorted(out_dir.rglob("*")) if p.is_file()}
    res.artifacts.append(env.store.put(key, "visual", "preview.tar.gz", pack_files(preview)))
    s = report["summary"]
    res.summary.update({k: s[k] for k in ("fidelity", "textsShown", "a11yViolations",
                                          "overflowWidths", "components", "renders", "errors")})
    if s.get("pixelSimilarity") is not None:
        res.summary.update({"pixelSimilarity": s["pixelSimilarity"],
                            "pixelRenders": s["pixelRenders"]})
    res.summary["worst"] = [f"{w['component'][:40]} {w['fidelity']:.2f}"
                            for w in s["worstComponents"][:3]]
    a11y = sorted((c for c in report["components"] if c["a11yViolations"]),
                  key=lambda c: (-c["a11yViolations"], c["component"]))
    if a11y:
        res.summary["a11yWorst"] = [f"{c['component'][:40]} {c['a11yViolations']}"
                                    for c in a11y[:3]]
    res.message = summary_line(report)[:500]


def run_deploy(cfg: PipelineConfig, env: StageEnv, res: StageResult) -> None:
    from .deploy import deploy

    key = cfg.pipeline_key
    if not cfg.git.url:
        raise StageError("GitNotConfigured", "the pipeline has no git.url to deploy to")
    files = unpack_files(env.store.get(_latest(env.store, key, PROJECT,
                                               ("visual", "test", "generate")).uri))
    info = deploy(files, cfg, env.workdir / "deploy", env.git_credentials_dir)
    res.artifacts.append(env.store.put(key, "deploy", "deploy.json",
                                       json.dumps(info, indent=1).encode()))
    res.summary.update({k: info[k] for k in ("commit", "branch", "changed")})
    res.message = (f"pushed {info['commit'][:12]} to {info['remote']} branch {info['branch']}"
                   if info["changed"] else f"no changes; {info['branch']} already up to date")


RUNNERS: dict[str, Callable[[PipelineConfig, StageEnv, StageResult], None]] = {
    "analyze": run_analyze, "generate": run_generate, "test": run_test, "qa": run_qa,
    "visual": run_visual, "deploy": run_deploy,
}


def run_stage(stage: str, cfg: PipelineConfig, env: StageEnv) -> StageResult:
    """Run one stage; never raises for expected failures (they become a Failed result)."""
    res = StageResult(stage=stage)
    start = time.perf_counter()
    try:
        runner = RUNNERS.get(stage)
        if runner is None:
            raise StageError("UnknownStage", f"unknown stage {stage!r}; one of "
                             + ", ".join(STAGES))
        env.workdir.mkdir(parents=True, exist_ok=True)
        runner(cfg, env, res)
        res.reason = "Succeeded"
    except StageError as exc:
        res.outcome, res.reason, res.message = "Failed", exc.reason, exc.message
    except MemoryError:
        res.outcome, res.reason, res.message = "Failed", "OutOfMemory", "stage ran out of memory"
    except Exception as exc:  # unexpected: still report, with the type and message
        log.exception("stage %s crashed", stage)
        res.outcome, res.reason = "Failed", "InternalError"
        res.message = f"{type(exc).__name__}: {exc}"
    res.seconds = time.perf_counter() - start
    return res
