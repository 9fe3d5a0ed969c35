"""generate: design spec + tokens -> one React/TypeScript component file per component.

The flow per component (docs/agents.md, "How the generator works"):

1. :mod:`pf_agents.lower` turns the Figma node tree into an element tree (``jsx.El``)
   with Tailwind classes, recording every property it cannot reproduce;
2. for a component set, :mod:`pf_agents.variants` folds interaction-state variants into CSS
   states and merges the other variants into one body with ``cva`` variants;
3. :func:`~pf_agents.jsx.print_jsx` prints the tree; this module writes the file around it and
   the manifest that the test stage, the visual check and other tools read (docs/contracts.md).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from .analyze import ComponentInfo, DesignSpec, PropInfo, VariantInfo
from .fallback_fonts import FallbackFace
from .figma_models import MAX_DEPTH, Node
from .jsx import El, Txt, js_str, print_jsx
from .lower import InstanceTarget, Lowering, Unreproduced, drawn_rotation, is_annotation
from .names import TS_RESERVED, camel_case, slug
from .tokens import TokenLookup, fmt_num
from .variants import (
    PSEUDO,
    Merge,
    StateProp,
    Values,
    fold_states,
    is_boolean_options,
    pair_walk,
    print_cva,
    state_props,
)

__all__ = [
    "ComponentManifest",
    "GeneratedComponent",
    "generate_components",
    "js_str",
    "manifest_json",
    "manifests_from_json",
]

MAX_VARIANT_CHECKS = 60
STATE_PREFIX = {
    "hover": "hover:",
    "focus": "focus-visible:",
    "active": "active:",
    "disabled": "disabled:",
}


class RoleCheck(BaseModel):
    role: str
    name: str | None = None


class VariantCheck(BaseModel):
    """Props that render one variant; ``expect`` is its Figma name (``data-variant``)."""

    props: dict[str, str | bool]
    expect: str


class StateCheck(BaseModel):
    """An interaction-state variant rendered by a CSS state: force ``pseudoClass`` on the root
    rendered with ``props`` to see the Figma variant ``variant``."""

    variant: str
    nodeId: str
    state: str  # hover | focus | active | disabled
    pseudoClass: str  # :hover | :focus-visible | :active | :disabled
    props: dict[str, str | bool] = Field(default_factory=dict)


class DesignText(BaseModel):
    """A text the design shows: ``text`` (characters, or the TEXT property's default) and the
    boolean prop (``when``) or variant props that must be set for it to show."""

    node: str
    text: str
    when: str | None = None
    variant: dict[str, str | bool] = Field(default_factory=dict)
    variantName: str | None = None  # the Figma variant it belongs to (None: the default)


class ComponentManifest(BaseModel):
    ident: str
    name: str
    nodeId: str
    kind: str
    file: str
    texts: list[str] = Field(default_factory=list)
    designTexts: list[DesignText] = Field(default_factory=list)
    roles: list[RoleCheck] = Field(default_factory=list)
    props: list[PropInfo] = Field(default_factory=list)
    variantChecks: list[VariantCheck] = Field(default_factory=list)
    stateChecks: list[StateCheck] = Field(default_factory=list)
    defaultVariant: str | None = None
    ui: list[str] = Field(default_factory=list)
    usedProps: list[str] = Field(default_factory=list)
    # props some layer of the design references (only these can change what Figma shows)
    referencedProps: list[str] = Field(default_factory=list)
    # from the design: how many shapes of the default render are filled with each colour class
    # (and "svg" for vectors with geometry), so a dropped shape fails the generated tests
    designShapes: dict[str, int] = Field(default_factory=dict)
    nodes: int = 0
    # by construction, for the visual check: Figma variant name ("" for a component that is
    # not a set) -> Figma node id -> path of element-child indexes from the root ("" = root)
    nodePaths: dict[str, dict[str, str]] = Field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0
    # renders full width up to its design width (screens, and components at least BLOCK_WIDTH
    # wide): what a page check measures at phone widths
    fluid: bool = False
    unreproduced: int = 0


WRAPPER_MARK = "// pf-figma: hand-editable"


@dataclass
class GeneratedComponent:
    """``source`` is written to ``path`` (regenerated every time); ``wrapper`` to
    ``wrapper_path`` once: the file people edit and import (deploy keeps their version)."""

    ident: str
    source: str
    manifest: ComponentManifest
    warnings: list[str]
    unreproduced: list[Unreproduced] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"components/generated/{self.ident}.tsx"

    @property
    def wrapper_path(self) -> str:
        return f"components/{self.ident}.tsx"

    @property
    def wrapper(self) -> str:
        return (
            f"{WRAPPER_MARK}: written once, never overwritten by regeneration.\n"
            f"// The component generated from the design is ./generated/{self.ident}.tsx; wrap or\n"
            "// extend it here (behaviour, data, copy) and keep the export names.\n"
            f'export {{ {self.ident}, type {self.ident}Props }} from "./generated/{self.ident}";\n'
        )


def norm_text(s: str) -> str:
    return " ".join(s.split())


# ------------------------------------------------------------------------------ variant props


@dataclass
class VariantProp:
    """A variant property as a prop: ``codes`` maps Figma options to JS literals."""

    info: PropInfo
    boolean: bool
    codes: dict[str, str]

    @property
    def ident(self) -> str:
        return self.info.ident

    def ts_type(self) -> str:
        return "boolean" if self.boolean else " | ".join(dict.fromkeys(self.codes.values()))

    def default_code(self) -> str:
        return self.codes.get(str(self.info.default), next(iter(self.codes.values())))


def _option_codes(options: list[str]) -> tuple[bool, dict[str, str]]:
    if is_boolean_options(options):
        return True, {
            o: ("true" if re.sub(r"[^a-z]", "", o.lower()) in ("true", "yes", "on") else "false")
            for o in options
        }
    codes: dict[str, str] = {}
    used: set[str] = set()
    for o in options:
        base = slug(o, "option")
        code, n = base, 2
        while code in used:
            code, n = f"{base}-{n}", n + 1
        used.add(code)
        codes[o] = js_str(code)
    return False, codes


def _code_value(code: str) -> str | bool:
    if code in ("true", "false"):
        return code == "true"
    return str(json.loads(code))


# -------------------------------------------------------------------------------- design texts


def design_texts(node: Node, props: dict[str, PropInfo]) -> list[DesignText]:
    """Every text the design shows under ``node`` (from the Figma tree, not from the output):
    visible TEXT nodes and FigJam texts, and hidden layers a BOOLEAN property turns on; not the
    texts of a designer's annotation layers (``lower.is_annotation``: not drawn, reported)."""
    out: list[DesignText] = []
    stack: list[tuple[Node, str | None]] = [(node, None)]
    while stack:
        n, when = stack.pop()
        if n is not node and is_annotation(n.name):
            continue
        ref = (n.componentPropertyReferences or {}).get("visible")
        bprop = props.get(ref) if ref else None
        if bprop is not None and bprop.kind == "boolean" and n is not node:
            when = bprop.ident
        elif not n.visible:
            continue
        if n.isMask:
            continue
        text = None
        if n.type == "TEXT":
            cref = (n.componentPropertyReferences or {}).get("characters")
            cprop = props.get(cref) if cref else None
            text = (
                str(cprop.default or "")
                if cprop is not None and cprop.kind == "text"
                else n.characters or ""
            )
        elif n.type in ("STICKY", "SHAPE_WITH_TEXT", "TABLE_CELL", "CONNECTOR"):
            text = n.characters or ""
        if text is not None and norm_text(text):
            out.append(DesignText(node=n.id, text=norm_text(text), when=when))
        stack.extend((c, when) for c in reversed(n.children))
    return out


# ----------------------------------------------------------------------------------- printing


def _prop_default(p: PropInfo) -> str:
    if p.kind == "boolean":
        return "true" if p.default else "false"
    return js_str(str(p.default if p.default is not None else ""))


def _header(comp: ComponentInfo) -> list[str]:
    name = json.dumps(comp.name, ensure_ascii=True)[1:-1][:80]
    return [
        f"// Generated by pf-figma from the Figma node {name} ({comp.nodeId}); regenerate, do "
        "not edit."
    ]


def _member(ident: str, ts_type: str, figma_name: str) -> str:
    """An interface member with the Figma property it comes from as a trailing comment."""
    name = json.dumps(figma_name, ensure_ascii=True)[1:-1][:60]
    line = f"  {ident}?: {ts_type}; // Figma: {name}"
    return line if len(line) <= 100 else f"  /** Figma: {name} */\n  {ident}?: {ts_type};"


def _root_attrs(root: El, comp: ComponentInfo, variant_expr: str | None) -> None:
    attrs: dict[str, str | bool] = {"data-figma-node": js_str(comp.nodeId)}
    if variant_expr:
        attrs["data-variant"] = variant_expr
    root.attrs = {**attrs, **root.attrs}


def _root_class(root: El) -> None:
    if root.cls_expr:
        root.cls_expr = f"cn({root.cls_expr}, className)"
    else:
        root.cls_expr = f"cn({js_str(' '.join(dict.fromkeys(root.cls)))}, className)"


def _element_type(tag: str) -> str:
    return {
        "button": "HTMLButtonElement",
        "a": "HTMLAnchorElement",
        "input": "HTMLInputElement",
        "section": "HTMLElement",
        "p": "HTMLParagraphElement",
        "span": "HTMLSpanElement",
        "ul": "HTMLUListElement",
        "ol": "HTMLOListElement",
        "svg": "SVGSVGElement",
    }.get(tag, "HTMLHeadingElement" if re.fullmatch(r"h[1-6]", tag) else "HTMLDivElement")


def _component_source(
    comp: ComponentInfo,
    root: El,
    consts: list[str],
    vprops: list[VariantProp],
    other: list[PropInfo],
    extra_params: list[str],
    uses_cva: bool,
    imports: set[str] | None = None,
    referenced: set[str] | None = None,
) -> str:
    ident = comp.ident
    lines = _header(comp)
    if uses_cva:
        lines.append('import { cva } from "class-variance-authority";')
    if any(p.kind == "slot" for p in other):
        lines.append('import type { ReactNode } from "react";')
    lines.append('import { cn } from "../../lib/utils";')
    if "Link" in (imports or ()):
        lines.insert(1, 'import Link from "next/link";')
    if "next/image" in (imports or ()):  # downloaded image fills (Lowering.image_child)
        lines.insert(1, 'import NextImage from "next/image";')
    for other_ident in sorted(set(imports or ()) - {"Link", "next/image"}):
        # through the hand-editable wrapper, so edits there apply wherever it is used
        lines.append(f'import {{ {other_ident} }} from "../{other_ident}";')
    lines.append("")
    if consts:
        lines.extend(consts)
        lines.append("")
    lines.append(f"export interface {ident}Props {{")
    lines.append("  className?: string;")
    for vp in vprops:
        lines.append(_member(vp.ident, vp.ts_type(), vp.info.name))
    for p in other:
        kind = {"text": "string", "boolean": "boolean", "slot": "ReactNode"}[p.kind]
        lines.append(_member(p.ident, kind, p.name))
        if referenced is not None and p.key not in referenced:
            lines[-1] += " (no layer uses it)"
    for ep in extra_params:
        lines.append(f"  {ep}?: boolean;")
    lines.append("}")
    lines.append("")
    params = ["className"] + [f"{vp.ident} = {vp.default_code()}" for vp in vprops]
    params += [
        p.ident if p.kind == "slot" else f"{p.ident} = {_prop_default(p)}"
        for p in other
        if referenced is None or p.key in referenced
    ]
    params += [f"{ep} = false" for ep in extra_params]
    sig = f"export function {ident}({{ {', '.join(params)} }}: {ident}Props) {{"
    if len(sig) <= 100:
        lines.append(sig)
    else:
        lines.append(f"export function {ident}({{")
        lines.extend(f"  {p}," for p in params)
        lines.append(f"}}: {ident}Props) {{")
    body = print_jsx(root, 2)
    if len(body) == 1:
        lines.append(f"  return {body[0].strip()};")
    else:
        lines.append("  return (")
        lines.extend(body)
        lines.append("  );")
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ per component

# A component at least this wide (Tailwind's ``sm`` breakpoint, px) is a page-level block (a
# banner, a header, a footer): like a screen it renders fluid, full width up to its design width,
# its fixed-width layers at most as wide as it is, and its layers query its width.
BLOCK_WIDTH = 640.0


def design_width(comp: ComponentInfo, index: dict[str, Node]) -> float:
    """The component's width in Figma (px): the widest variant of a component set."""
    ids = [v.nodeId for v in comp.variants] if comp.kind == "componentSet" else [comp.nodeId]
    boxes = [index[i].absoluteBoundingBox for i in ids if i in index]
    return max((b.width for b in boxes if b is not None), default=0.0)


def generate_component(
    spec: DesignSpec,
    index: dict[str, Node],
    comp: ComponentInfo,
    lookup: TokenLookup,
    targets: dict[str, InstanceTarget] | None = None,
    images: dict[str, dict[str, object]] | None = None,
    fallbacks: Mapping[str, FallbackFace] | None = None,
) -> GeneratedComponent:
    """Generate one component file and its manifest entry. Raises StageError (DesignTooDeep).
    ``images``: downloaded image fills (``Lowering.images``); ``fallbacks``: see
    ``generate_components``."""
    props = {p.key: p for p in comp.props}
    node = index[comp.nodeId]
    width = design_width(comp, index)
    fluid = comp.kind == "frame" or width >= BLOCK_WIDTH
    low = Lowering(
        spec=spec,
        lookup=lookup,
        component=comp.ident,
        props=props,
        fluid_root=fluid,
        design_width=width if fluid else 0.0,
        root_name=comp.name if comp.kind == "componentSet" else "",
        targets=targets or {},
        index=index,
        images=images or {},
        fallbacks=fallbacks or {},
    )
    bb = node.absoluteBoundingBox
    manifest = ComponentManifest(
        ident=comp.ident,
        name=comp.name,
        nodeId=comp.nodeId,
        kind=comp.kind,
        file=f"components/generated/{comp.ident}.tsx",
        props=comp.props,
        width=bb.width if bb else 0.0,
        height=bb.height if bb else 0.0,
        fluid=fluid,
    )
    other = [p for p in comp.props if p.kind != "variant"]
    consts: list[str] = []
    uses_cva = False
    extra: list[str] = []
    if comp.kind == "componentSet" and comp.variants:
        root, consts, vprops, extra = _component_set(comp, index, low, manifest)
        uses_cva = any("cva(" in c for c in consts)
        manifest.props = [vp.info for vp in vprops] + other
    else:
        lowered = low.lower(node, None, root=True)
        root = lowered if lowered is not None else El(tag="div", node=node.id)
        manifest.nodePaths[""] = node_paths(root)
        _root_attrs(root, comp, None)
        vprops = []
        manifest.designTexts = design_texts(node, props)
        manifest.designShapes = design_shapes(node, props, low)
    _root_class(root)
    manifest.texts = list(
        dict.fromkeys(t.text for t in manifest.designTexts if t.when is None and not t.variant)
    )[:24]
    manifest.roles = _roles(root)
    manifest.nodes = low.nodes
    manifest.ui = sorted(low.semantics)
    manifest.usedProps = sorted(
        p.ident for p in comp.props if p.key in low.used_props or p.kind == "variant"
    )
    manifest.unreproduced = len(low.unreproduced)
    referenced = referenced_props(node)
    manifest.referencedProps = sorted(p.ident for p in comp.props if p.key in referenced)
    source = _component_source(
        comp, root, consts, vprops, list(other), extra, uses_cva, low.imports, referenced
    )
    warnings = [f"{comp.ident}: {u.node} {u.property}: {u.reason}" for u in low.unreproduced]
    return GeneratedComponent(comp.ident, source, manifest, warnings, list(low.unreproduced))


NOT_DRAWN = frozenset({"type", "children", "connector"})  # reported properties: no element


def design_shapes(node: Node, props: dict[str, PropInfo], low: Lowering) -> dict[str, int]:
    """What the design draws under ``node`` with the props at their defaults, as CSS classes
    the rendered page must hold at least that many times: the colour class of each solid fill,
    ``svg`` (vectors with geometry), ``img`` (images), the rotation of each rotated layer, the
    clipping of each mask and clipping frame (``overflow-hidden``), text truncation
    (``truncate``, ``line-clamp-N``) and italic / underline / line-through runs. Layers reported
    as not drawn (unreproduced.json) and annotation layers are left out."""
    reported = {u.node for u in low.unreproduced if u.property in NOT_DRAWN}
    out: dict[str, int] = {}

    def add(cls: str) -> None:
        out[cls] = out.get(cls, 0) + 1

    stack = [node]
    while stack:
        n = stack.pop()
        ref = (n.componentPropertyReferences or {}).get("visible")
        prop = props.get(ref) if ref else None
        shown = bool(prop.default) if prop is not None and prop.kind == "boolean" else n.visible
        if not shown or n.id in reported or (n is not node and is_annotation(n.name)):
            continue
        if n.isMask:
            add("overflow-hidden")  # the mask clips the layers above it
            continue
        stack.extend(n.children)
        if abs(drawn_rotation(n)) > 1e-3 and n.type != "GROUP":  # a group's children turn
            add(f"rotate-[{fmt_num(-math.degrees(n.rotation))}deg]")
        if n.clipsContent and n.type not in ("GROUP", "TEXT") and n.children:
            add("overflow-hidden")
        if n.type == "TEXT":
            _text_classes(n, add)
            continue
        if n.type in ("CONNECTOR", "LINE", "SLICE"):
            continue
        if n.type in ("VECTOR", "STAR", "REGULAR_POLYGON", "BOOLEAN_OPERATION"):
            if n.fillGeometry or n.strokeGeometry:
                add("svg")
            continue
        paints = [p for p in n.fills if p.visible and p.opacity > 0]
        if any(p.type in ("IMAGE", "VIDEO") for p in paints) and not any(
            c.visible for c in n.children
        ):
            add("img")  # an image: role="img" with the layer's name
        elif (
            len(paints) == 1
            and paints[0].type == "SOLID"
            and (paints[0].blendMode or "NORMAL") in ("NORMAL", "PASS_THROUGH")
        ):
            cls = low.color("bg", paints[0], n.styles.get("fill"))
            if cls:
                add(cls)
    return dict(sorted(out.items()))


def _text_classes(n: Node, add: Callable[[str], None]) -> None:
    st = n.style
    if st is None:
        return
    if st.textTruncation == "ENDING":
        lines = st.maxLines or 1
        add(
            "truncate"
            if (lines <= 1 and st.textAutoResize != "HEIGHT") or not st.maxLines
            else (f"line-clamp-{lines}" if lines <= 6 else f"line-clamp-[{lines}]")
        )
    used = set(n.characterStyleOverrides or []) | {0}
    for key, style in [("0", st), *(n.styleOverrideTable or {}).items()]:
        if int(key) not in used:
            continue
        if style.italic:
            add("italic")
        deco = {"UNDERLINE": "underline", "STRIKETHROUGH": "line-through"}.get(
            style.textDecoration or ""
        )
        if deco:
            add(deco)


def referenced_props(node: Node) -> set[str]:
    """Keys of the component properties that some layer under ``node`` references."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        out.update((n.componentPropertyReferences or {}).values())
        stack.extend(n.children)
    return out


def node_paths(root: El) -> dict[str, str]:
    """Figma node id -> the element's path from ``root`` ("0.2": third element child of the
    first element child; "" the root), for a tree that renders unconditionally."""
    out: dict[str, str] = {}
    stack: list[tuple[El, str]] = [(root, "")]
    while stack:
        el, path = stack.pop()
        if el.node and el.node not in out:
            out[el.node] = path
        kids = [c for c in el.children if isinstance(c, El)]
        for i, c in enumerate(kids):
            stack.append((c, f"{path}.{i}" if path else str(i)))
    return out


def _roles(root: El) -> list[RoleCheck]:
    out: list[RoleCheck] = []
    for el in root.walk():
        if el.cond:
            continue
        if el.tag == "button":
            name = " ".join(" ".join(el.texts()).split()) or None
            out.append(RoleCheck(role="button", name=name if name and "{" not in name else None))
        elif re.fullmatch(r"h[1-6]", el.tag):
            name = " ".join(" ".join(el.texts()).split())
            if name:
                out.append(RoleCheck(role="heading", name=name))
        elif el.tag == "input":
            label = el.attrs.get("aria-label")
            out.append(
                RoleCheck(
                    role="textbox", name=json.loads(label) if isinstance(label, str) else None
                )
            )
        elif el.attrs.get("role") == '"img"':
            label = el.attrs.get("aria-label")
            out.append(
                RoleCheck(role="img", name=json.loads(label) if isinstance(label, str) else None)
            )
    return out[:12]


def _component_set(
    comp: ComponentInfo, index: dict[str, Node], low: Lowering, manifest: ComponentManifest
) -> tuple[El, list[str], list[VariantProp], list[str]]:
    var_infos = [p for p in comp.props if p.kind == "variant"]
    figma_opts = {p.name: p.options for p in var_infos}
    states: list[StateProp] = state_props(figma_opts)
    state_names = {s.name for s in states}
    vprops: list[VariantProp] = []
    for p in var_infos:
        if p.name in state_names:
            continue
        boolean, codes = _option_codes(p.options)
        vprops.append(VariantProp(p, boolean, codes))
    by_id = {v.nodeId: v for v in comp.variants}
    default = by_id.get(comp.defaultVariant or "", comp.variants[0])

    def is_rest(v: VariantInfo) -> bool:
        return all(v.values.get(s.name, s.rest) == s.rest for s in states)

    def key(v: VariantInfo) -> tuple[str, ...]:
        return tuple(v.values.get(vp.info.name, str(vp.info.default)) for vp in vprops)

    if not is_rest(default):
        default = next((v for v in comp.variants if is_rest(v) and key(v) == key(default)), default)
    manifest.defaultVariant = default.name
    # lower each resting variant once
    rest: dict[tuple[str, ...], tuple[VariantInfo, El]] = {}
    ordered = [default] + [v for v in comp.variants if v is not default]
    for v in ordered:
        vnode = index.get(v.nodeId)
        if vnode is None or not is_rest(v) or key(v) in rest:
            continue
        el = low.lower(vnode, None, root=True)
        if el is not None:
            rest[key(v)] = (v, el)
    has_disabled = False
    root_tag = next(iter(rest.values()))[1].tag if rest else "div"
    for v in comp.variants:
        active = [s for s in states if v.values.get(s.name, s.rest) != s.rest]
        if len(active) != 1 or key(v) not in rest:
            continue
        s = active[0]
        state = s.states.get(v.values[s.name])
        vnode = index.get(v.nodeId)
        if state is None or vnode is None:
            continue
        state_el = low.lower(vnode, None, root=True)
        if state_el is None:
            continue
        prefix = STATE_PREFIX[state]
        if state == "disabled":
            has_disabled = True
            if root_tag != "button":
                prefix = "aria-disabled:"
        base_v, base_el = rest[key(v)]
        # the state variant's nodes are drawn by the resting variant's elements
        rest_paths = node_paths(base_el)
        manifest.nodePaths[v.name] = {
            y.node: rest_paths[x.node]
            for x, y in pair_walk(base_el, state_el)[0]
            if x.node in rest_paths and y.node
        }
        for extra_el in fold_states(base_el, state_el, state, prefix):
            low.report(
                vnode,
                "variant",
                f"layer {extra_el.name!r} shown only in the {state} state is not reproduced",
            )
        manifest.stateChecks.append(
            StateCheck(
                variant=v.name,
                nodeId=v.nodeId,
                state=state,
                pseudoClass=PSEUDO[state],
                props={
                    vp.ident: _code_value(
                        vp.codes[base_v.values.get(vp.info.name, str(vp.info.default))]
                    )
                    for vp in vprops
                    if base_v.values.get(vp.info.name) is not None
                },
            )
        )
    keys = list(rest)
    for k in keys:
        manifest.nodePaths[rest[k][0].name] = node_paths(rest[k][1])
    if any("group" in t.cls for _, t in rest.values()):
        for _, t in rest.values():
            if "group" not in t.cls:
                t.cls.insert(0, "group")
    values = [
        {vp.ident: vp.codes.get(k[i], vp.default_code()) for i, vp in enumerate(vprops)}
        for k in keys
    ]
    merger = Merge(
        variants=values,
        prop_order=[vp.ident for vp in vprops],
        booleans={vp.ident for vp in vprops if vp.boolean},
    )
    root_const = camel_case(comp.ident) + "Variants"
    if root_const in TS_RESERVED:
        root_const = "rootVariants"
    merger._names.add(root_const)
    merged = merger.merge([rest[k][1] for k in keys], root_const=root_const)
    root = merged[0] if len(merged) == 1 else El(tag="div", children=list(merged))
    root.cond = None
    # data-variant: the Figma name of the resting variant rendered
    variant_expr, consts_pre = _variant_name_expr(
        rest[keys[0]][0], [rest[k][0] for k in keys], values, vprops
    )
    _root_attrs(root, comp, variant_expr)
    extra: list[str] = []
    if has_disabled:
        extra.append("disabled")
        if root.tag == "button":
            root.attrs["disabled"] = "{disabled}"
        else:
            root.attrs["aria-disabled"] = "{disabled || undefined}"
    consts: list[str] = []
    defaults = {vp.ident: vp.default_code() for vp in vprops}
    options = {vp.ident: list(dict.fromkeys(vp.codes.values())) for vp in vprops}
    for name, spec in merger.cva:
        consts.extend(print_cva(name, spec, defaults, options))
        consts.append("")
    consts = consts_pre + ([""] if consts_pre else []) + consts
    while consts and consts[-1] == "":
        consts.pop()
    # variant checks: each option of each prop, the others at their default
    for vp in vprops:
        for opt in list(vp.codes)[:12]:
            k = tuple(opt if other is vp else str(other.info.default) for other in vprops)
            match = rest.get(k)
            manifest.variantChecks.append(
                VariantCheck(
                    props={vp.ident: _code_value(vp.codes[opt])},
                    expect=(match[0] if match else default).name,
                )
            )
    node = index[comp.nodeId]
    manifest.designTexts = [t for t in design_texts(index[default.nodeId], low.props)]
    manifest.designShapes = design_shapes(index[default.nodeId], low.props, low)
    for k in keys:
        v = rest[k][0]
        if v is default:
            continue
        vals = {
            vp.ident: _code_value(vp.codes[v.values.get(vp.info.name, str(vp.info.default))])
            for vp in vprops
        }
        for dt in design_texts(index[v.nodeId], low.props):
            manifest.designTexts.append(
                dt.model_copy(update={"variant": vals, "variantName": v.name})
            )
    del node
    return root, consts, vprops, extra


def _variant_name_expr(
    first: VariantInfo, variants: list[VariantInfo], values: list[Values], vprops: list[VariantProp]
) -> tuple[str, list[str]]:
    """A JSX expression giving the Figma name of the resting variant the props select, and the
    constants it needs: a template literal when option names follow from the prop values
    (``Primary`` <- ``"primary"``, ``True`` <- ``true``), else a lookup table."""
    if len(variants) == 1:
        return js_str(first.name), []
    by_name = {vp.info.name: vp for vp in vprops}
    pieces: list[str] = []
    needs_label = False
    template_ok = "`" not in first.name and "$" not in first.name
    for part in first.name.split(","):
        pname, _, _option = part.partition("=")
        vp = by_name.get(pname.strip())
        if vp is None:
            pieces.append(part.strip())  # an interaction state, always at rest here
            continue
        opts = list(vp.codes)
        if vp.boolean:
            on = next(o for o in opts if vp.codes[o] == "true")
            off = next(o for o in opts if vp.codes[o] == "false")
            pieces.append(f"{pname.strip()}=${{{vp.ident} ? {js_str(on)} : {js_str(off)}}}")
        elif all(json.loads(vp.codes[o]) == o for o in opts):
            pieces.append(f"{pname.strip()}=${{{vp.ident}}}")
        elif all(
            json.loads(vp.codes[o])[:1].upper() + json.loads(vp.codes[o])[1:] == o for o in opts
        ):
            needs_label = True
            pieces.append(f"{pname.strip()}=${{label({vp.ident})}}")
        else:
            template_ok = False
    if template_ok:
        consts = (
            ["const label = (option: string) => option.charAt(0).toUpperCase() + option.slice(1);"]
            if needs_label
            else []
        )
        return "{`" + ", ".join(pieces) + "`}", consts
    table = ["const variantNames: Record<string, string> = {"]
    for v, vals in zip(variants, values, strict=True):
        table.append(
            f"  {js_str('|'.join(str(_code_value(vals[p])) for p in vals))}: {js_str(v.name)},"
        )
    table.append("};")
    idents = [vp.ident for vp in vprops]
    return "{" + f'variantNames[[{", ".join(idents)}].join("|")]' + "}", table


def instance_targets(spec: DesignSpec) -> dict[str, InstanceTarget]:
    """Figma component id -> the generated component an INSTANCE of it renders as."""
    out: dict[str, InstanceTarget] = {}
    for comp in spec.components:
        if comp.kind == "frame":
            continue
        props: dict[str, tuple[str, dict[str, str] | None]] = {}
        defaults: dict[str, str] = {}
        var_infos = [p for p in comp.props if p.kind == "variant"]
        states = {s.name for s in state_props({p.name: p.options for p in var_infos})}
        for p in comp.props:
            if p.kind == "variant":
                if p.name in states:
                    continue
                _, codes = _option_codes(p.options)
                props[p.name] = (p.ident, codes)
                defaults[p.ident] = codes.get(str(p.default), next(iter(codes.values())))
            elif p.kind in ("text", "boolean"):
                props[p.key] = (p.ident, None)
                defaults[p.ident] = _prop_default(p)
        if comp.kind == "componentSet":
            for v in comp.variants:
                out[v.nodeId] = InstanceTarget(comp.ident, props, defaults, dict(v.values))
        else:
            out[comp.nodeId] = InstanceTarget(comp.ident, props, defaults)
    return out


def generate_components(
    spec: DesignSpec,
    lookup: TokenLookup,
    images: dict[str, dict[str, object]] | None = None,
    fallbacks: Mapping[str, FallbackFace] | None = None,
) -> list[GeneratedComponent]:
    """Every component of the spec. Raises StageError (DesignTooDeep) beyond lower.MAX_DEPTH.
    ``images``: imageRef -> downloaded asset (figma_live.image_assets), drawn with next/image.
    ``fallbacks``: the metric-adjusted fallback faces of unbundled design fonts
    (``fallback_fonts.fallback_faces``), so one-line texts they draw wider do not wrap."""
    # lowering recurses once per level (a few frames each); MAX_DEPTH levels must fit
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 8 * MAX_DEPTH + 1000))
    index = spec.index()
    targets = instance_targets(spec)
    return [
        generate_component(spec, index, comp, lookup, targets, images, fallbacks)
        for comp in spec.components
        if comp.nodeId in index
    ]


def unreproduced_json(comps: list[GeneratedComponent]) -> str:
    """The ``unreproduced.json`` artifact: per node, the property not reproduced and why."""
    rows = [
        {
            "component": c.ident,
            "node": u.node,
            "name": u.name,
            "property": u.property,
            "reason": u.reason,
        }
        for c in comps
        for u in c.unreproduced
    ]
    return json.dumps(rows, indent=1, ensure_ascii=False)


def manifest_json(items: list[ComponentManifest]) -> str:
    return json.dumps([m.model_dump() for m in items], indent=1, ensure_ascii=False)


def manifests_from_json(data: bytes | str) -> list[ComponentManifest]:
    raw: Any = json.loads(data)
    return [ComponentManifest.model_validate(m) for m in raw]


def render_preview(root: El) -> str:  # pragma: no cover - debugging aid
    return "\n".join(print_jsx(root))


_ = Txt  # re-exported for tests building trees by hand
