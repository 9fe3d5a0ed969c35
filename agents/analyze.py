"""analyze: Figma JSON -> normalized design spec + component list (+ tokens, see tokens.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, Field

from .errors import StageError
from .figma_client import FigmaSource
from .figma_models import ComponentMeta, Node, StyleMeta
from .names import RESERVED_PROP_NAMES, VARIANT_ALIASES, UniqueNames, camel_case, component_name

SUPPORTED_TYPES = frozenset(
    """DOCUMENT CANVAS FRAME GROUP SECTION COMPONENT COMPONENT_SET INSTANCE RECTANGLE ELLIPSE TEXT
    VECTOR LINE STAR REGULAR_POLYGON BOOLEAN_OPERATION""".split()
)
CONTAINER_TYPES = frozenset({"FRAME", "GROUP", "SECTION", "COMPONENT", "COMPONENT_SET", "INSTANCE"})
DEFAULT_MAX_NODES = 250_000


class PropInfo(BaseModel):
    name: str  # Figma property name without the "#id" suffix
    key: str  # Figma property key (with suffix for TEXT/BOOLEAN)
    ident: str  # TypeScript prop name
    kind: Literal["variant", "text", "boolean", "slot"]
    options: list[str] = Field(default_factory=list)
    default: str | bool | None = None


class VariantInfo(BaseModel):
    nodeId: str
    name: str
    values: dict[str, str]  # property name -> option


class ComponentInfo(BaseModel):
    nodeId: str
    name: str
    ident: str
    kind: Literal["component", "componentSet", "frame"]
    page: str = ""
    description: str = ""
    nodeCount: int = 0
    props: list[PropInfo] = Field(default_factory=list)
    variants: list[VariantInfo] = Field(default_factory=list)
    defaultVariant: str | None = None  # nodeId of the default variant


class InstanceInfo(BaseModel):
    nodeId: str
    name: str
    componentId: str | None
    componentName: str | None = None


class DesignSpec(BaseModel):
    v: int = 1
    name: str
    shape: str
    version: str | None = None
    nodeCount: int
    typeCounts: dict[str, int]
    styles: dict[str, StyleMeta]
    components: list[ComponentInfo]
    instances: list[InstanceInfo]
    warnings: list[str] = Field(default_factory=list)
    roots: list[Node]

    def index(self) -> dict[str, Node]:
        out: dict[str, Node] = {}
        stack = list(self.roots)
        while stack:
            n = stack.pop()
            out[n.id] = n
            stack.extend(n.children)
        return out


_PROP_SUFFIX = re.compile(r"#[^#]*$")


def _walk(roots: list[Node]) -> list[tuple[Node, Node | None, str]]:
    """Iterative pre-order walk: (node, parent, page name)."""
    out: list[tuple[Node, Node | None, str]] = []
    stack: list[tuple[Node, Node | None, str]] = [(r, None, "") for r in reversed(roots)]
    while stack:
        node, parent, page = stack.pop()
        if node.type == "CANVAS":
            page = node.name
        out.append((node, parent, page))
        stack.extend((c, node, page) for c in reversed(node.children))
    return out


def count_nodes(node: Node) -> int:
    n = 0
    stack = [node]
    while stack:
        cur = stack.pop()
        n += 1
        stack.extend(cur.children)
    return n


def parse_variant_name(name: str) -> dict[str, str]:
    """'Size=Large, State=Hover' -> {'Size': 'Large', 'State': 'Hover'}.

    Empty when the name is not in variant form."""
    values: dict[str, str] = {}
    for part in name.split(","):
        if "=" not in part:
            return {}
        k, _, v = part.partition("=")
        if not k.strip():
            return {}
        values[k.strip()] = v.strip()
    return values


def _props_for(node: Node, variants: list[VariantInfo]) -> list[PropInfo]:
    props: list[PropInfo] = []
    idents = UniqueNames(taken=set(RESERVED_PROP_NAMES))
    raw_defs = node.componentPropertyDefinitions or {}
    # variant property names are keyed trimmed everywhere ("Size " in the definitions and
    # "Size" in the variant names are one property); TEXT/BOOLEAN keys keep their "#id" suffix
    defs = {(k.strip() if d.type == "VARIANT" else k): d for k, d in raw_defs.items()}
    variant_names: list[str] = []
    for v in variants:
        for k in v.values:
            if k not in variant_names:
                variant_names.append(k)
    for key, vdef in defs.items():
        if vdef.type == "VARIANT" and key not in variant_names:
            variant_names.append(key)
    default_values = variants[0].values if variants else {}
    variant_taken: set[str] = {
        n.strip().lower() for n in variant_names if n.strip().lower() == "variant"
    }
    for pname in variant_names:
        options: list[str] = []
        d = defs.get(pname)
        if d is not None and d.variantOptions:
            options.extend(d.variantOptions)
        for v in variants:
            if pname in v.values and v.values[pname] not in options:
                options.append(v.values[pname])
        if not options:
            continue
        default = d.defaultValue if d is not None and d.defaultValue in options else None
        if default is None:
            default = default_values.get(pname, options[0])
        base = camel_case(pname)
        if pname.strip().lower() in VARIANT_ALIASES and "variant" not in variant_taken:
            base = "variant"
            variant_taken.add("variant")
        props.append(
            PropInfo(
                name=pname,
                key=pname,
                ident=idents.take(base),
                kind="variant",
                options=options,
                default=str(default),
            )
        )
    for key, d in defs.items():
        if d.type in ("TEXT", "BOOLEAN", "INSTANCE_SWAP"):
            pname = _PROP_SUFFIX.sub("", key) or key
            kinds: dict[str, Literal["text", "boolean", "slot"]] = {
                "TEXT": "text",
                "BOOLEAN": "boolean",
                "INSTANCE_SWAP": "slot",
            }
            kind = kinds[d.type]
            default_v: str | bool | None
            if kind == "slot":
                default_v = str(d.defaultValue) if d.defaultValue is not None else None
            elif kind == "text":
                default_v = str(d.defaultValue) if d.defaultValue is not None else ""
            else:
                default_v = bool(d.defaultValue) if d.defaultValue is not None else True
            props.append(
                PropInfo(
                    name=pname,
                    key=key,
                    ident=idents.take(camel_case(pname)),
                    kind=kind,
                    default=default_v,
                )
            )
    return props


def _top_level_frames(roots: list[Node]) -> list[tuple[Node, str]]:
    """Frames that the designer treats as screens / sections: direct children of pages."""
    out: list[tuple[Node, str]] = []
    for root in roots:
        if root.type == "DOCUMENT":
            for page in root.children:
                out.extend(_page_frames(page))
        elif root.type == "CANVAS":
            out.extend(_page_frames(root))
        elif root.type not in ("COMPONENT", "COMPONENT_SET"):
            out.append((root, ""))
    return out


FRAME_LIKE = ("FRAME", "GROUP")
LOOSE_CONTENT = frozenset(
    {
        "STICKY",
        "SHAPE_WITH_TEXT",
        "CONNECTOR",
        "TABLE",
        "TEXT",
        "RECTANGLE",
        "ELLIPSE",
        "VECTOR",
        "LINE",
        "STAR",
        "REGULAR_POLYGON",
        "BOOLEAN_OPERATION",
        "INSTANCE",
    }
)


def _page_frames(page: Node) -> list[tuple[Node, str]]:
    """Frames and groups placed on a page or in a section at any depth; a section that holds
    loose content (FigJam stickies, shapes, tables, text) is itself a frame to render."""
    out: list[tuple[Node, str]] = []
    if page.type != "CANVAS":
        return [(page, "")] if page.type not in ("COMPONENT", "COMPONENT_SET") else []
    stack: list[Node] = list(reversed([c for c in page.children if c.visible]))
    while stack:
        child = stack.pop()
        if child.type == "SECTION":
            kids = [c for c in child.children if c.visible]
            if any(c.type in LOOSE_CONTENT for c in kids):
                out.append((child, page.name))
                continue
            stack.extend(reversed(kids))
        elif child.type in FRAME_LIKE:
            out.append((child, page.name))
    return out


def component_info(
    node: Node,
    kind: Literal["component", "componentSet"],
    page: str,
    meta: ComponentMeta | None,
    ident: str,
    variants: list[VariantInfo],
) -> ComponentInfo:
    """A COMPONENT (outside a set) or a COMPONENT_SET as the generator sees it."""
    return ComponentInfo(
        nodeId=node.id,
        name=node.name,
        ident=ident,
        kind=kind,
        page=page,
        description=meta.description if meta else "",
        nodeCount=count_nodes(node),
        props=_props_for(node, variants),
        variants=variants,
        defaultVariant=variants[0].nodeId if variants else None,
    )


def analyze_source(src: FigmaSource, *, max_nodes: int = DEFAULT_MAX_NODES) -> DesignSpec:
    walked = _walk(src.roots)
    if len(walked) > max_nodes:
        raise StageError(
            "DesignTooLarge",
            f"the design has {len(walked)} nodes, more than the "
            f"limit of {max_nodes}; select nodes with source.figma.nodeIds",
        )
    type_counts = Counter(n.type for n, _, _ in walked)
    warnings: list[str] = []
    unsupported = sorted(t for t in type_counts if t not in SUPPORTED_TYPES)
    if unsupported:
        warnings.append(
            "unsupported node types rendered as placeholders or skipped: " + ", ".join(unsupported)
        )
    if src.missing_nodes:
        warnings.append("requested nodes not found: " + ", ".join(src.missing_nodes)[:300])

    idents = UniqueNames()
    components: list[ComponentInfo] = []
    instances: list[InstanceInfo] = []
    comp_names: dict[str, str] = {k: v.name for k, v in src.components.items()}
    for node, parent, page in walked:
        if node.type == "COMPONENT" and node.id not in comp_names:
            comp_names[node.id] = node.name
        if node.type == "COMPONENT_SET":
            variants = []
            for child in node.children:
                if child.type == "COMPONENT":
                    variants.append(
                        VariantInfo(
                            nodeId=child.id, name=child.name, values=parse_variant_name(child.name)
                        )
                    )
            if not variants:
                warnings.append(f"component set {node.name!r} has no variants; skipped")
                continue
            components.append(
                component_info(
                    node,
                    "componentSet",
                    page,
                    src.component_sets.get(node.id),
                    idents.take(component_name(node.name)),
                    variants,
                )
            )
        elif node.type == "COMPONENT" and (parent is None or parent.type != "COMPONENT_SET"):
            components.append(
                component_info(
                    node,
                    "component",
                    page,
                    src.components.get(node.id),
                    idents.take(component_name(node.name)),
                    [],
                )
            )
        elif node.type == "INSTANCE":
            instances.append(
                InstanceInfo(nodeId=node.id, name=node.name, componentId=node.componentId)
            )
    for frame, page in _top_level_frames(src.roots):
        if frame.type in ("COMPONENT", "COMPONENT_SET"):
            continue
        components.append(
            ComponentInfo(
                nodeId=frame.id,
                name=frame.name,
                ident=idents.take(component_name(frame.name)),
                kind="frame",
                page=page,
                nodeCount=count_nodes(frame),
            )
        )
    for inst in instances:
        inst.componentName = comp_names.get(inst.componentId or "")
    if not components:
        warnings.append("the design has no components or top-level frames")
    return DesignSpec(
        name=src.name,
        shape=src.shape,
        version=src.version,
        nodeCount=len(walked),
        typeCounts=dict(type_counts),
        styles=src.styles,
        components=components,
        instances=instances,
        warnings=warnings,
        roots=src.roots,
    )


def spec_to_json(spec: DesignSpec) -> bytes:
    return spec.model_dump_json(exclude_defaults=True).encode()


def spec_from_json(data: bytes | str | dict[str, Any]) -> DesignSpec:
    if isinstance(data, dict):
        return DesignSpec.model_validate(data)
    # json.loads, then validate: pydantic's JSON parser stops at a lower nesting depth than the
    # design may have (up to figma_models.MAX_DEPTH levels)
    return DesignSpec.model_validate(json.loads(data))
