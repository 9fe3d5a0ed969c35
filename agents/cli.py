"""Command line: ``python -m pf_agents <stage>`` (one stage, in a pod) and the local runner
``pf-figma run --figma-json FILE --out DIR`` (all stages back to back, no cluster)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from . import tracing
from .artifacts import FileArtifactStore, open_store
from .config import FigmaRef, PipelineConfig, Source, load_config
from .errors import StageError
from .figma_client import read_token
from .figma_url import normalize_node_ids, parse_figma_url
from .files import unpack_files, write_tree
from .result import StageResult, redact
from .stages import PROJECT, STAGES, StageEnv, run_stage

log = logging.getLogger("pf_agents")
DEFAULT_RESULT_FILE = "/dev/termination-log"
LOCAL_STAGES = ("analyze", "generate", "test", "qa", "visual")


class _RedactFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = ()
        return True


#: secrets read from files by the local runner (``--figma-token-file``), redacted like the others
_FILE_SECRETS: list[str] = []


def _secrets() -> tuple[str, ...]:
    vals = [os.environ.get("FIGMA_TOKEN"), os.environ.get("ANTHROPIC_API_KEY"), *_FILE_SECRETS]
    if os.environ.get("FIGMA_TOKEN_FILE"):
        try:
            vals.append(read_token(os.environ["FIGMA_TOKEN_FILE"]))
        except StageError:
            pass
    cred = os.environ.get("PF_GIT_CREDENTIALS_DIR")
    if cred:
        for name in ("password", "username"):
            try:
                vals.append((Path(cred) / name).read_text().strip())
            except OSError:
                pass
    return tuple(v for v in vals if v and len(v) >= 4)


def _setup_logging(verbose: bool = False) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        h.addFilter(_RedactFilter(_secrets()))
        root.addHandler(h)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpx2", "anthropic", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def write_result(res: StageResult, path: str | None) -> str:
    text = res.to_json(_secrets())
    target = path or os.environ.get("PF_RESULT_FILE") or DEFAULT_RESULT_FILE
    try:
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        log.warning("cannot write the result to %s: %s", target, exc.strerror)
    print(text, flush=True)
    return text


def agent_main(argv: list[str]) -> int:
    """``python -m pf_agents <stage>``: run one stage of a pipeline (see docs/contracts.md)."""
    p = argparse.ArgumentParser(prog="pf-figma agent", description="Run one pipeline stage.")
    p.add_argument("stage", choices=STAGES)
    p.add_argument(
        "--result-file", default=None, help=f"default: $PF_RESULT_FILE or {DEFAULT_RESULT_FILE}"
    )
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    _setup_logging(args.verbose)
    flush = tracing.setup()  # TRACEPARENT: a child of the operator's stage-attempt span
    res = StageResult(stage=args.stage)
    with tracing.span(f"agent {args.stage}", tracing.stage_attributes(args.stage)) as span:
        try:
            cfg = load_config()
            span.set_attributes(tracing.stage_attributes(args.stage, cfg))
            url = os.environ.get("PF_ARTIFACTS")
            if not url:
                raise StageError("ArtifactStoreMissing", "PF_ARTIFACTS is not set")
            store = open_store(url)
            env = StageEnv.from_environ(store)
            res = run_stage(args.stage, cfg, env)
        except StageError as exc:
            res.outcome, res.reason, res.message = "Failed", exc.reason, exc.message
        except Exception as exc:  # last resort: still a result, not only a traceback
            log.exception("agent crashed")
            res.outcome, res.reason, res.message = (
                "Failed",
                "InternalError",
                f"{type(exc).__name__}: {exc}",
            )
        tracing.stage_result(span, res.outcome, res.reason)
    if res.outcome != "Succeeded":
        print(
            f"pf-figma {args.stage} failed: {res.reason}: {redact(res.message, _secrets())}",
            file=sys.stderr,
        )
    write_result(res, args.result_file)
    flush()  # at most tracing.FLUSH_SECONDS: an unreachable collector delays no stage
    return 0 if res.outcome == "Succeeded" else 1


def local_main(argv: list[str]) -> int:
    """``pf-figma run (--figma-json FILE | --figma-url URL [--node-ids ...]) --out DIR
    [--stages ...] [--llm]``: with a URL, analyze reads the Figma API (``FIGMA_API_URL``) with the
    token from ``--figma-token-file`` or ``FIGMA_TOKEN`` (never printed)."""
    p = argparse.ArgumentParser(
        prog="pf-figma run", description="Run the agent stages locally, without a cluster."
    )
    p.add_argument("command", nargs="?", default="run", choices=["run"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--figma-json", help="stored Figma REST API response")
    src.add_argument(
        "--figma-url",
        help="a Figma link (figma.com/design|file|proto|board/<key>/..., branch links too); "
        "read through the Figma API at $FIGMA_API_URL (default https://api.figma.com)",
    )
    p.add_argument(
        "--node-ids",
        nargs="+",
        default=[],
        help="with --figma-url: node ids (12:34 or 12-34, comma separated or repeated) instead "
        "of the link's node-id",
    )
    p.add_argument(
        "--figma-token-file", help="file holding the Figma token (default: $FIGMA_TOKEN)"
    )
    p.add_argument("--out", required=True, help="directory for the generated project")
    p.add_argument(
        "--stages",
        default=",".join(LOCAL_STAGES),
        help="comma separated, from: " + ",".join(STAGES),
    )
    p.add_argument(
        "--llm", action="store_true", help="refine with Claude (needs ANTHROPIC_API_KEY)"
    )
    p.add_argument("--config", default=None, help="optional pipeline configuration JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    token: str | None = None
    if args.figma_url:
        try:
            link = parse_figma_url(args.figma_url)
            node_ids = normalize_node_ids(args.node_ids) or link.node_ids
            token = read_token(args.figma_token_file)
        except (ValueError, StageError) as exc:
            print(f"pf-figma run: {exc}", file=sys.stderr)
            return 2
        if not token:
            print(
                "pf-figma run: --figma-url needs a Figma token: set FIGMA_TOKEN or pass "
                "--figma-token-file",
                file=sys.stderr,
            )
            return 2
        _FILE_SECRETS.append(token)
    elif args.node_ids or args.figma_token_file:
        print("pf-figma run: --node-ids and --figma-token-file need --figma-url", file=sys.stderr)
        return 2
    _setup_logging(False)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        print(f"pf-figma run: unknown stage(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        cfg = load_config(args.config) if args.config else PipelineConfig()
    except StageError as exc:
        print(f"pf-figma run: {exc}", file=sys.stderr)
        return 2
    if args.figma_url:
        cfg.source = Source(
            figma=FigmaRef(fileKey=link.fetch_key, nodeIds=list(node_ids), url=args.figma_url)
        )
    (out / ".pf-figma").mkdir(exist_ok=True)
    store = FileArtifactStore(out / ".pf-figma" / "artifacts")
    env = StageEnv(
        store=store,
        workdir=Path(tempfile.mkdtemp(prefix="pf-figma-")),
        source_file=args.figma_json,
        figma_token=token,
        anthropic_api_key=os.environ.get("ANTHROPIC_API_KEY") or None,
        git_credentials_dir=os.environ.get("PF_GIT_CREDENTIALS_DIR") or None,
        llm_override=True if args.llm else None,
        qa_project_dir=out,
    )
    results = []
    ok = True
    for stage in stages:
        res = run_stage(stage, cfg, env)
        results.append(json.loads(res.to_json(_secrets())))
        if not args.quiet:
            mark = "ok " if res.outcome == "Succeeded" else "FAIL"
            why = "" if res.outcome == "Succeeded" else f"{res.reason}: "
            print(
                f"[{mark}] {stage:<8} {res.seconds:6.2f}s  {why}{redact(res.message, _secrets())}",
                flush=True,
            )
        if stage in ("generate", "test") and res.outcome == "Succeeded":
            project = next(a for a in res.artifacts if a.name == PROJECT)
            write_tree(out, unpack_files(store.get(project.uri)))
        report = next((a for a in res.artifacts if a.name == "unreproduced.json"), None)
        if report is not None:
            rows = json.loads(store.get(report.uri))
            (out / ".pf-figma" / "unreproduced.json").write_text(json.dumps(rows, indent=1))
            if rows and not args.quiet:
                print(
                    f"       {len(rows)} node properties not reproduced "
                    f"({out / '.pf-figma' / 'unreproduced.json'}):"
                )
                for row in rows[:10]:
                    print(
                        f"         {row['component']} {row['node']} {row['name']!r} "
                        f"{row['property']}: {row['reason']}"
                    )
                if len(rows) > 10:
                    print(f"         ... and {len(rows) - 10} more")
        if res.outcome != "Succeeded":
            ok = False
            if res.reason not in ("TypeCheckFailed", "TestsFailed"):
                break
    (out / ".pf-figma" / "results.json").write_text(json.dumps(results, indent=1))
    for r in results:
        for a in r["artifacts"]:
            if (r["stage"], a["name"]) in (
                ("qa", "qa-report.json"),
                ("visual", "visual-report.json"),
            ):
                (out / a["name"]).write_bytes(store.get(a["uri"]))
            elif (r["stage"], a["name"]) == ("visual", "preview.tar.gz"):
                write_tree(out, unpack_files(store.get(a["uri"])))  # out/preview/index.html
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return local_main(argv[1:])
    if argv and argv[0] == "agent":
        argv = argv[1:]
    return agent_main(argv)
