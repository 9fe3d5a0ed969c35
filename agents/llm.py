"""Optional Claude refinement of the generated components (naming, semantics, accessibility).

* Only runs when enabled and ANTHROPIC_API_KEY is set; nothing in the default path needs it.
* The design summary is a shared, cached system block (``cache_control``), so each component
  request after the first reads it from the prompt cache.
* Stops cleanly before the pipeline's ``maxTokens`` or ``maxCostUSD`` would be exceeded.
* Every answer is validated (structure offline; ``tsc`` on the whole project when the qa
  toolchain is already cached); a component that fails keeps its deterministic source.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic

from . import tracing
from .analyze import DesignSpec
from .config import LLM
from .files import write_tree
from .generate import ComponentManifest, js_str

log = logging.getLogger(__name__)

# USD per million tokens: input, output, cache write (5 min), cache read.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-opus-4-5": (5.0, 25.0, 6.25, 0.50),
    "claude-opus-4-1": (15.0, 75.0, 18.75, 1.50),
    "claude-opus-4": (15.0, 75.0, 18.75, 1.50),
    "claude-sonnet-4-5": (3.0, 15.0, 3.75, 0.30),
    "claude-sonnet-4": (3.0, 15.0, 3.75, 0.30),
    "claude-3-7-sonnet": (3.0, 15.0, 3.75, 0.30),
    "claude-haiku-4-5": (1.0, 5.0, 1.25, 0.10),
    "claude-3-5-haiku": (0.80, 4.0, 1.0, 0.08),
}
FALLBACK_PRICE = (15.0, 75.0, 18.75, 1.50)  # unknown model: assume the most expensive
MAX_OUTPUT_TOKENS = 8192
CHARS_PER_TOKEN = 3.0  # conservative estimate for code-heavy prompts

SYSTEM = """You refine React + TypeScript components generated from a Figma design.
Improve naming of internal variables, semantic HTML (headings, lists, nav, button, label) and
accessibility (alt text, aria attributes, roles) without changing the visual result.
Hard rules:
- Keep the exported function name, the exported Props interface and every prop unchanged.
- Keep every Tailwind class, every visible text and every data-figma-node / data-variant attribute.
- Keep imports relative and only import from modules already imported.
- Do not nest interactive elements; the code must type-check under TypeScript strict mode.
Answer with the complete file in a single ```tsx code block and nothing else."""


def price_for(model: str) -> tuple[float, float, float, float]:
    for prefix, price in sorted(PRICES.items(), key=lambda kv: -len(kv[0])):
        if model == prefix or model.startswith(prefix + "-") or model.startswith(prefix + "@"):
            return price
    return FALLBACK_PRICE


def cost_usd(model: str, usage: Any) -> float:
    p_in, p_out, p_cw, p_cr = price_for(model)
    inp = getattr(usage, "input_tokens", 0) or 0
    out = getattr(usage, "output_tokens", 0) or 0
    cw = getattr(usage, "cache_creation_input_tokens", 0) or 0
    cr = getattr(usage, "cache_read_input_tokens", 0) or 0
    return (inp * p_in + out * p_out + cw * p_cw + cr * p_cr) / 1_000_000


@dataclass
class RefineOutcome:
    refined: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    calls: int = 0
    stopped: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"refined": len(self.refined), "rejected": len(self.rejected), "calls": self.calls,
                "stopped": self.stopped}


def _client(api_key: str, http_client: Any, max_retries: int) -> anthropic.Anthropic:
    """The Anthropic client (the SDK retries 408/409/429/5xx ``max_retries`` times; 120 s
    timeout per request); ``http_client``: an httpx client to send through (tests)."""
    kwargs: dict[str, Any] = {"api_key": api_key, "max_retries": max_retries, "timeout": 120.0}
    if http_client is not None:
        kwargs["http_client"] = http_client
    return anthropic.Anthropic(**kwargs)


def _over_budget(cfg: LLM, out: RefineOutcome, est_in: int, out_budget: int, largest_call: int,
                 used_tokens: int = 0, used_usd: float = 0.0) -> str | None:
    """"maxTokens" / "maxCostUSD" when a next request (``est_in`` estimated input tokens, at
    most ``out_budget`` output tokens) could exceed the pipeline's budget, counting what
    ``out`` and earlier stages (``used_tokens`` / ``used_usd``) spent; else None. The estimate
    is a lower bound: the largest call seen so far (tokens) is a better guess."""
    used = used_tokens + out.input_tokens + out.output_tokens
    if used + max(est_in + out_budget, largest_call) > cfg.maxTokens:
        return "maxTokens"
    p_in, p_out, p_cw, _ = price_for(cfg.model)
    est_cost = (est_in * max(p_in, p_cw) + out_budget * p_out) / 1_000_000
    if used_usd + out.usd + est_cost > cfg.maxCostUSD:
        return "maxCostUSD"
    return None


def _claude_call(
    client: anthropic.Anthropic,
    model: str,
    max_tokens: int,
    system: list[dict[str, Any]],
    content: str | list[dict[str, Any]],
    out: RefineOutcome,
    what: str,
) -> Any:
    """One Messages request (``content``: the user turn, text or content blocks) in a GenAI
    client span ``chat <model>`` (tracing.genai_call: model, token usage, cost; never the
    prompt). Adds the call, its tokens (input counts cache writes and reads) and its cost
    (USD, ``cost_usd``) to ``out`` and returns the anthropic Message; returns None when the API
    fails (after the SDK's retries), with ``out.stopped`` saying why and ``what`` logged."""
    try:
        with warnings.catch_warnings(), tracing.genai_call(model, max_tokens) as call:
            warnings.simplefilter("ignore", DeprecationWarning)  # not our failure
            resp = client.messages.create(
                model=model,
                max_tokens=max_tokens,
                system=system,  # type: ignore[arg-type]
                messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
            )
            usd = cost_usd(model, resp.usage)
            call.done(resp, usd)
    except anthropic.APIStatusError as exc:
        out.stopped = f"api error {exc.status_code}"
        log.warning("%s stopped: HTTP %s", what, exc.status_code)
        return None
    except anthropic.APIError as exc:
        out.stopped = f"api error: {type(exc).__name__}"
        log.warning("%s stopped: %s", what, type(exc).__name__)
        return None
    out.calls += 1
    u = resp.usage
    cache = (u.cache_creation_input_tokens or 0) + (u.cache_read_input_tokens or 0)
    out.input_tokens += (u.input_tokens or 0) + cache
    out.output_tokens += u.output_tokens or 0
    out.usd += usd
    return resp


def _answer_code(resp: Any) -> tuple[str | None, str | None]:
    """(the answer's code block, None) or (None, why it has none: truncated or no block)."""
    if resp.stop_reason == "max_tokens":
        return None, "answer truncated (max_tokens)"
    code = extract_code("".join(getattr(b, "text", "") for b in resp.content))
    return (code, None) if code is not None else (None, "no code block")


def design_brief(spec: DesignSpec, manifests: list[ComponentManifest]) -> str:
    comps = [{"component": m.ident, "figmaName": m.name, "kind": m.kind,
              "props": [p.ident for p in m.props], "texts": m.texts[:10],
              "roles": [r.role for r in m.roles][:10]} for m in manifests]
    return json.dumps({"design": spec.name, "components": comps}, ensure_ascii=False)


_BLOCK = re.compile(r"```(?:tsx|typescript|ts)?\s*\n(.*?)```", re.S)


def extract_code(text: str) -> str | None:
    m = _BLOCK.search(text)
    return m.group(1).strip() + "\n" if m else None


def _balanced(code: str) -> bool:
    # strip strings, template literals and comments, then check bracket balance
    stripped = re.sub(r"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|"
                      r"`(?:\\.|[^`\\])*`", "", code, flags=re.S)
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for ch in stripped:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


def structural_check(code: str, m: ComponentManifest, original: str) -> str | None:
    """None if the refined code keeps the component's contract, else why not."""
    if f"export function {m.ident}(" not in code and f"export const {m.ident}" not in code:
        return f"export {m.ident} missing"
    if f"export interface {m.ident}Props" not in code and f"export type {m.ident}Props" not in code:
        return "props type missing"
    for p in m.props:
        if p.ident not in code:
            return f"prop {p.ident} missing"
    if "data-figma-node" not in code:
        return "data-figma-node attribute missing"
    for t in m.texts:
        if js_str(t)[1:-1] not in code and t not in code:
            return f"text {t[:40]!r} missing"
    if not _balanced(code):
        return "unbalanced brackets"
    allowed = set(re.findall(r'from\s+"([^"]+)"', original)) | {"react"}
    for mod in re.findall(r'from\s+["\']([^"\']+)["\']', code):
        if mod not in allowed:
            return f"new import {mod}"
    if len(code) > 4 * len(original) + 2000:
        return "answer too long"
    return None


def _tsc_available_modules() -> Path | None:
    """The cached qa node_modules (if qa ran here before): tsc without any network."""
    try:
        from .project import package_json
        from .qa import cache_root, deps_key

        p = cache_root() / deps_key(package_json("x")) / "node_modules"
        return p if (p / ".pf-figma-complete").exists() else None
    except Exception:
        return None


def typecheck_files(files: dict[str, str], modules: Path, workdir: Path) -> set[str]:
    """Run tsc on the project; return the set of files with errors (empty = ok)."""
    from .qa import run_tsc

    workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="llm-tsc-", dir=workdir))
    try:
        write_tree(tmp, files)
        (tmp / "node_modules").symlink_to(modules, target_is_directory=True)
        res = tracing.subprocess_step("tsc", run_tsc, tmp, workdir)
        if res["ok"]:
            return set()
        bad = set(re.findall(r"^([^\s(]+)\(\d+,\d+\): error", res.get("output", ""), re.M))
        return bad or {"*"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def refine_project(files: dict[str, str], manifests: list[ComponentManifest], spec: DesignSpec,
                   cfg: LLM, api_key: str, *, http_client: Any = None,
                   workdir: Path | None = None, max_retries: int = 3,
                   typecheck: bool = True) -> RefineOutcome:
    """Refine components in place in ``files``; returns usage and what happened."""
    out = RefineOutcome()
    client = _client(api_key, http_client, max_retries)
    brief = design_brief(spec, manifests)
    system: list[dict[str, Any]] = [
        {"type": "text", "text": SYSTEM},
        {"type": "text", "text": "Design summary (JSON):\n" + brief,
         "cache_control": {"type": "ephemeral"}},
    ]
    system_tokens = int((len(SYSTEM) + len(brief)) / CHARS_PER_TOKEN)
    originals: dict[str, str] = {}
    largest_call = 0
    for m in manifests:
        path = m.file
        source = files.get(path)
        if source is None:
            continue
        user = (f"Refine this component ({m.ident}, Figma {m.name!r}).\n\n```tsx\n{source}```")
        est_in = system_tokens + int(len(user) / CHARS_PER_TOKEN)
        out_budget = min(MAX_OUTPUT_TOKENS, int(len(source) / 2.5) + 1024)
        out.stopped = _over_budget(cfg, out, est_in, out_budget, largest_call)
        if out.stopped:
            break
        before = out.input_tokens + out.output_tokens
        resp = _claude_call(client, cfg.model, out_budget, system, user, out,
                            "Claude refinement")
        if resp is None:
            break
        largest_call = max(largest_call, out.input_tokens + out.output_tokens - before)
        code, why = _answer_code(resp)
        if code is None:
            out.rejected[m.ident] = why or "no code block"
            continue
        problem = structural_check(code, m, source)
        if problem:
            out.rejected[m.ident] = problem
            continue
        originals[path] = source
        files[path] = code
        out.refined.append(m.ident)
    if originals and typecheck:
        modules = _tsc_available_modules()
        if modules is not None:
            bad = typecheck_files(files, modules, workdir or Path(tempfile.gettempdir()))
            for path, source in originals.items():
                if "*" in bad or path in bad:
                    files[path] = source
                    ident = Path(path).stem
                    out.refined.remove(ident)
                    out.rejected[ident] = "does not type-check"
    return out


# ------------------------------------------------------------- refinement from the visual diff

VISUAL_SYSTEM = """You correct React + TypeScript + Tailwind components generated from a Figma
design, using what a headless browser measured when it rendered them.
For one component you get its source, the measured differences from the design (each Figma node
that is off: its box in Figma and in the browser as [x, y, width, height] in CSS px relative to
the component root, the error in px, wrong texts, font sizes or weights, colours) and a
screenshot (the browser's render; with Figma's own render beside it when there is one).
Hard rules:
- Change Tailwind classes and style values only. Keep every element, their nesting and order
  (elements are mapped to Figma nodes by their position), every text, every prop, the exported
  names and every data-figma-node / data-variant attribute.
- Keep the imports as they are.
- The code must type-check under TypeScript strict mode.
Answer with the complete file in a single ```tsx code block and nothing else."""

IMAGE_TOKENS_MAX = 1600  # the API scales an image to about 1.15 megapixels at most (w*h/750)


def image_tokens(png: bytes) -> int:
    """Input tokens of one PNG image block (Anthropic: about width * height / 750)."""
    from .visual import png_size

    size = png_size(png)
    return IMAGE_TOKENS_MAX if size is None else min(IMAGE_TOKENS_MAX, size[0] * size[1] // 750)


def propose_visual_fixes(
    files: dict[str, str],
    manifests: list[ComponentManifest],
    diffs: list[Any],
    cfg: LLM,
    api_key: str,
    *,
    used_tokens: int = 0,
    used_usd: float = 0.0,
    http_client: Any = None,
    max_retries: int = 3,
) -> tuple[dict[str, str], RefineOutcome]:
    """Ask Claude to correct each component of ``diffs`` (``visual.VisualDiff``, the worst
    first) from its visual diff: one request per component with the diff as JSON, the
    screenshot as an image block and the source; the system prompt is cached. The pipeline's
    budget (``cfg.maxTokens`` / ``cfg.maxCostUSD``) is shared with earlier stages:
    ``used_tokens`` / ``used_usd`` are what they spent; requests stop before it would be
    exceeded (``stopped``). Returns file path -> proposed source (only answers that keep the
    component's contract, ``structural_check``; the caller keeps a proposal only if the score
    does not drop and tsc and the tests pass) and the usage."""
    out = RefineOutcome()
    by_ident = {m.ident: m for m in manifests}
    client = _client(api_key, http_client, max_retries)
    system: list[dict[str, Any]] = [
        {"type": "text", "text": VISUAL_SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    system_tokens = int(len(VISUAL_SYSTEM) / CHARS_PER_TOKEN)
    proposals: dict[str, str] = {}
    largest_call = 0
    for d in diffs:
        m = by_ident.get(d.ident)
        source = files.get(d.file)
        if m is None or source is None:
            continue
        text = (
            f"Component {m.ident} (Figma {m.name!r}) renders with fidelity {d.fidelity:.0%} "
            "(share of its nodes within 4 px of the design). What the browser measured, against "
            "the design:\n```json\n"
            + json.dumps(d.diff, ensure_ascii=False)
            + f"\n```\n\nThe source ({d.file}):\n```tsx\n{source}```"
        )
        content: list[dict[str, Any]] = []
        img_tokens = 0
        for label, png in d.images:
            content.append({"type": "text", "text": f"Screenshot: {label}."})
            content.append(
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": base64.b64encode(png).decode(),
                    },
                }
            )
            img_tokens += image_tokens(png)
        content.append({"type": "text", "text": text})
        est_in = system_tokens + int(len(text) / CHARS_PER_TOKEN) + img_tokens
        out_budget = min(MAX_OUTPUT_TOKENS, int(len(source) / 2.5) + 1024)
        out.stopped = _over_budget(
            cfg, out, est_in, out_budget, largest_call, used_tokens, used_usd
        )
        if out.stopped:
            break
        before = out.input_tokens + out.output_tokens
        resp = _claude_call(
            client, cfg.model, out_budget, system, content, out, "Claude visual refinement"
        )
        if resp is None:
            break
        largest_call = max(largest_call, out.input_tokens + out.output_tokens - before)
        code, why = _answer_code(resp)
        if code is None:
            out.rejected[m.ident] = why or "no code block"
            continue
        if code == source:
            out.rejected[m.ident] = "unchanged"
            continue
        problem = structural_check(code, m, source)
        if problem:
            out.rejected[m.ident] = problem
            continue
        proposals[d.file] = code
    return proposals, out
