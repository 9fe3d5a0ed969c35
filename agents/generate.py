"""generate: design spec + tokens -> React/TypeScript components with Tailwind classes.

The renderer walks a node tree once and produces JSX plus a per-component manifest (the visible
texts, roles and variants it rendered) that the test generator turns into tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from .analyze import ComponentInfo, DesignSpec, PropInfo, VariantInfo
from .figma_models import Node, Paint
from .names import _ascii_words
from .tokens import (
    TokenLookup,
    color_hex,
    effect_css,
    fmt_num,
    px,
    solid_fill,
    typo_sig_key,
)

MAX_DEPTH = 48
MAX_MANIFEST_TEXTS = 24

UI_WORDS = {
    "button": {"button", "btn", "cta"},
    "input": {"input", "textfield", "textbox", "textinput"},
    "card": {"card"},
    "badge": {"badge", "tag", "chip", "pill"},
}
UI_IMPORTS = {"button": "UiButton", "input": "UiInput", "card": "UiCard", "badge": "UiBadge"}
SHAPE_TYPES = {"RECTANGLE", "ELLIPSE"}
VECTOR_TYPES = {"VECTOR", "STAR", "REGULAR_POLYGON", "BOOLEAN_OPERATION", "LINE"}
CONTAINER_TYPES = {"FRAME", "GROUP", "SECTION", "COMPONENT", "COMPONENT_SET", "INSTANCE"}
SKIP_TYPES = {"SLICE", "CONNECTOR", "STICKY", "SHAPE_WITH_TEXT", "WIDGET", "EMBED", "LINK_UNFURL",
              "STAMP", "HIGHLIGHT", "WASHI_TAPE", "CODE_BLOCK"}
BLEND = {
    "MULTIPLY": "multiply", "SCREEN": "screen", "OVERLAY": "overlay", "DARKEN": "darken",
    "LIGHTEN": "lighten", "COLOR_DODGE": "color-dodge", "COLOR_BURN": "color-burn",
    "HARD_LIGHT": "hard-light", "SOFT_LIGHT": "soft-light", "DIFFERENCE": "difference",
    "EXCLUSION": "exclusion", "HUE": "hue", "SATURATION": "saturation", "COLOR": "color",
    "LUMINOSITY": "luminosity",
}
WEIGHTS = {100: "font-thin", 200: "font-extralight", 300: "font-light", 400: "font-normal",
           500: "font-medium", 600: "font-semibold", 700: "font-bold", 800: "font-extrabold",
           900: "font-black"}
HEADING = re.compile(r"\b(?:h([1-6])|heading|headline|title|display)\b", re.I)


class RoleCheck(BaseModel):
    role: str
    name: str | None = None


class VariantCheck(BaseModel):
    props: dict[str, str]
    expect: str  # data-variant value that must be rendered


class ComponentManifest(BaseModel):
    ident: str
    name: str
    nodeId: str
    kind: str
    file: str
    texts: list[str] = Field(default_factory=list)
    roles: list[RoleCheck] = Field(default_factory=list)
    props: list[PropInfo] = Field(default_factory=list)
    variantChecks: list[VariantCheck] = Field(default_factory=list)
    defaultVariant: str | None = None
    ui: list[str] = Field(default_factory=list)
    usedProps: list[str] = Field(default_factory=list)
    nodes: int = 0


# ------------------------------------------------------------------------------------------ utils


def js_str(s: str) -> str:
    """A TypeScript string literal (JSON is a subset of JS string syntax)."""
    return json.dumps(s, ensure_ascii=False)


def arb(value: str) -> str:
    """Tailwind arbitrary value: spaces become underscores."""
    return value.replace(" ", "_")


def norm_text(s: str) -> str:
    return " ".join(s.split())


def ui_kind_for(name: str) -> str | None:
    words = {w.lower() for w in _ascii_words(name)}
    for kind, vocab in UI_WORDS.items():
        if words & vocab:
            return kind
    return None


def _descendants(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = list(node.children)
    while stack:
        n = stack.pop()
        if not n.visible:
            continue
        out.append(n)
        stack.extend(n.children)
    return out


def _first(paints: list[Paint]) -> Paint | None:
    return solid_fill(paints)


# ---------------------------------------------------------------------------------------- sizing


def _sizing(node: Node, parent: Node | None) -> tuple[str, str]:
    """(horizontal, vertical) sizing: FIXED | HUG | FILL."""
    h = node.layoutSizingHorizontal
    v = node.layoutSizingVertical
    if h and v:
        return h, v
    if node.type == "TEXT":
        mode = (node.style.textAutoResize if node.style else None) or "NONE"
        hh, vv = {"WIDTH_AND_HEIGHT": ("HUG", "HUG"), "HEIGHT": ("FIXED", "HUG")}.get(
            mode, ("FIXED", "FIXED"))
    elif node.layoutMode in ("HORIZONTAL", "VERTICAL"):
        primary = "HUG" if (node.primaryAxisSizingMode or "AUTO") == "AUTO" else "FIXED"
        counter = "HUG" if (node.counterAxisSizingMode or "AUTO") == "AUTO" else "FIXED"
        hh, vv = (primary, counter) if node.layoutMode == "HORIZONTAL" else (counter, primary)
    else:
        hh, vv = "FIXED", "FIXED"
    if parent is not None and parent.layoutMode in ("HORIZONTAL", "VERTICAL") \
            and node.layoutPositioning != "ABSOLUTE":
        grow = node.layoutGrow >= 1
        stretch = node.layoutAlign == "STRETCH"
        if parent.layoutMode == "HORIZONTAL":
            hh = "FILL" if grow else hh
            vv = "FILL" if stretch else vv
        else:
            vv = "FILL" if grow else vv
            hh = "FILL" if stretch else hh
    return h or hh, v or vv


@dataclass
class Ctx:
    spec: DesignSpec
    lookup: TokenLookup
    comp: ComponentInfo
    props: dict[str, PropInfo]  # figma property key -> prop
    texts: list[str] = field(default_factory=list)
    roles: list[RoleCheck] = field(default_factory=list)
    ui: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    nodes: int = 0
    used_props: set[str] = field(default_factory=set)
    variant_values: dict[str, str] = field(default_factory=dict)


class Renderer:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.lk = ctx.lookup

    # -------------------------------------------------------------------------- token helpers
    def color_cls(self, prefix: str, paint: Paint, style_id: str | None) -> str:
        if paint.color is None:
            return ""
        value = color_hex(paint.color, paint.opacity)
        if style_id and style_id in self.lk.color_by_style and paint.opacity >= 0.999:
            return f"{prefix}-{self.lk.color_by_style[style_id]}"
        key = self.lk.color_by_value.get(value)
        if key:
            return f"{prefix}-{key}"
        return f"{prefix}-[{value}]"

    def space_cls(self, prefix: str, v: float) -> str:
        key = self.lk.spacing.get(px(v))
        return f"{prefix}-{key}" if key else f"{prefix}-[{px(v)}]"

    def gradient(self, p: Paint, node: Node) -> str | None:
        stops = p.gradientStops or []
        if not stops:
            return None
        cols = ",".join(f"{color_hex(s.color, p.opacity)}_{fmt_num(s.position * 100)}%"
                        for s in stops)
        handles = p.gradientHandlePositions or []
        if p.type == "GRADIENT_LINEAR":
            angle = 180.0
            if len(handles) >= 2:
                bb = node.absoluteBoundingBox
                w = bb.width if bb and bb.width else 1.0
                h = bb.height if bb and bb.height else 1.0
                dx = (handles[1].x - handles[0].x) * w
                dy = (handles[1].y - handles[0].y) * h
                if dx or dy:
                    angle = math.degrees(math.atan2(dx, -dy)) % 360
            return f"bg-[linear-gradient({fmt_num(angle)}deg,{cols})]"
        if p.type in ("GRADIENT_RADIAL", "GRADIENT_DIAMOND"):
            cx, cy = (handles[0].x, handles[0].y) if handles else (0.5, 0.5)
            return (f"bg-[radial-gradient(circle_at_{fmt_num(cx * 100)}%_{fmt_num(cy * 100)}%,"
                    f"{cols})]")
        if p.type == "GRADIENT_ANGULAR":
            return f"bg-[conic-gradient({cols})]"
        return None

    # ------------------------------------------------------------------------- class building
    def layout_classes(self, node: Node, parent: Node | None, is_root: bool,
                       absolute_children: bool) -> list[str]:
        cls: list[str] = []
        bb = node.absoluteBoundingBox
        hs, vs = _sizing(node, parent)
        in_flow = (parent is not None and parent.layoutMode in ("HORIZONTAL", "VERTICAL")
                   and node.layoutPositioning != "ABSOLUTE")
        if is_root or parent is None:
            cls.append("relative")
            if bb:
                if hs != "HUG":
                    cls.append(f"w-[{px(bb.width)}]")
                if vs != "HUG":
                    cls.append(f"h-[{px(bb.height)}]")
        elif in_flow:
            assert parent is not None
            row = parent.layoutMode == "HORIZONTAL"
            for axis, mode in (("w", hs), ("h", vs)):
                primary = (axis == "w") == row
                size = (bb.width if axis == "w" else bb.height) if bb else None
                if mode == "FIXED" and size is not None:
                    cls.append(f"{axis}-[{px(size)}]")
                    if primary:
                        cls.append("shrink-0")
                elif mode == "FILL":
                    if primary:
                        cls.extend(["min-w-0" if row else "min-h-0", "flex-1"])
                    else:
                        cls.append("self-stretch")
                elif mode == "HUG" and primary:
                    cls.append("shrink-0")
            if absolute_children:
                cls.append("relative")
        else:
            pbb = parent.absoluteBoundingBox if parent else None
            cls.append("absolute")
            if bb and pbb:
                cls.append(f"left-[{px(bb.x - pbb.x)}]")
                cls.append(f"top-[{px(bb.y - pbb.y)}]")
            if bb:
                if hs != "HUG":
                    cls.append(f"w-[{px(bb.width)}]")
                if vs != "HUG":
                    cls.append(f"h-[{px(bb.height)}]")
        # own auto layout
        if node.layoutMode in ("HORIZONTAL", "VERTICAL") and node.type != "TEXT":
            cls.append("flex")
            if node.layoutMode == "VERTICAL":
                cls.append("flex-col")
            if node.layoutWrap == "WRAP":
                cls.append("flex-wrap")
            justify = {"MIN": "justify-start", "CENTER": "justify-center", "MAX": "justify-end",
                       "SPACE_BETWEEN": "justify-between"}.get(node.primaryAxisAlignItems or "MIN")
            items = {"MIN": "items-start", "CENTER": "items-center", "MAX": "items-end",
                     "BASELINE": "items-baseline"}.get(node.counterAxisAlignItems or "MIN")
            if justify:
                cls.append(justify)
            if items:
                cls.append(items)
            if node.itemSpacing and node.primaryAxisAlignItems != "SPACE_BETWEEN":
                cls.append(self.space_cls("gap", node.itemSpacing))
            pads = (node.paddingTop, node.paddingRight, node.paddingBottom, node.paddingLeft)
            t, r, b, left = pads
            if t == r == b == left:
                if t:
                    cls.append(self.space_cls("p", t))
            else:
                if left == r and left:
                    cls.append(self.space_cls("px", left))
                else:
                    if left:
                        cls.append(self.space_cls("pl", left))
                    if r:
                        cls.append(self.space_cls("pr", r))
                if t == b and t:
                    cls.append(self.space_cls("py", t))
                else:
                    if t:
                        cls.append(self.space_cls("pt", t))
                    if b:
                        cls.append(self.space_cls("pb", b))
        return cls

    def visual_classes(self, node: Node) -> tuple[list[str], bool]:
        """Fills, strokes, radii, effects, opacity. Returns (classes, is_image)."""
        cls: list[str] = []
        is_image = False
        if node.type != "TEXT":
            p = _first(node.fills)
            if p is not None:
                if p.type == "SOLID":
                    cls.append(self.color_cls("bg", p, node.styles.get("fill")))
                elif p.type.startswith("GRADIENT"):
                    g = self.gradient(p, node)
                    if g:
                        cls.append(g)
                elif p.type in ("IMAGE", "VIDEO"):
                    is_image = True
                    cls.append("bg-[#d9d9d9]")
        stroke = _first(node.strokes)
        weight = node.strokeWeight or 0
        if stroke is not None and stroke.type == "SOLID" and weight > 0 and node.type != "TEXT":
            color = self.color_cls("border", stroke, node.styles.get("stroke"))
            if node.type == "LINE":
                cls.extend([f"border-t-[{px(weight)}]", color])
            elif node.strokeAlign == "OUTSIDE":
                oc = color.replace("border-", "outline-", 1)
                cls.extend(["outline", f"outline-[{px(weight)}]", oc])
            else:
                iw = node.individualStrokeWeights
                if iw:
                    for side, key in (("t", "top"), ("r", "right"), ("b", "bottom"),
                                      ("l", "left")):
                        if iw.get(key):
                            cls.append(f"border-{side}-[{px(iw[key])}]")
                else:
                    cls.append(f"border-[{px(weight)}]")
                cls.append(color)
            if node.strokeDashes:
                cls.append("border-dashed")
        if node.type == "ELLIPSE":
            cls.append("rounded-full")
        elif node.rectangleCornerRadii and any(node.rectangleCornerRadii):
            for corner, v in zip(("tl", "tr", "br", "bl"), node.rectangleCornerRadii,
                                 strict=False):
                if v:
                    rkey = self.lk.radius.get(px(v))
                    cls.append(f"rounded-{corner}-{rkey}" if rkey
                               else f"rounded-{corner}-[{px(v)}]")
        elif node.cornerRadius:
            rkey = self.lk.radius.get(px(node.cornerRadius))
            cls.append(f"rounded-{rkey}" if rkey else f"rounded-[{px(node.cornerRadius)}]")
        css = effect_css(node.effects)
        if css:
            skey = self.lk.shadow_by_style.get(node.styles.get("effect", "")) or \
                self.lk.shadow_by_value.get(css)
            cls.append(f"shadow-{skey}" if skey else f"shadow-[{arb(css.replace(', ', ','))}]")
        for e in node.effects:
            if e.visible and e.type == "LAYER_BLUR" and e.radius:
                cls.append(f"blur-[{px(e.radius / 2)}]")
            elif e.visible and e.type == "BACKGROUND_BLUR" and e.radius:
                cls.append(f"backdrop-blur-[{px(e.radius / 2)}]")
        if node.opacity < 0.999:
            cls.append(f"opacity-[{fmt_num(max(node.opacity, 0))}]")
        blend = BLEND.get(node.blendMode or "")
        if blend:
            cls.append(f"mix-blend-{blend}")
        if node.clipsContent and node.type in CONTAINER_TYPES:
            cls.append("overflow-hidden")
        return cls, is_image

    def text_classes(self, node: Node) -> list[str]:
        st = node.style
        cls: list[str] = []
        if st is None:
            return cls
        if st.fontFamily:
            fam = self.lk.family.get(st.fontFamily)
            if fam:
                cls.append(f"font-{fam}")
            else:
                clean = "".join(ch for ch in st.fontFamily if ch.isalnum() or ch in " -")
                if clean:
                    cls.append(f"font-['{arb(clean)}']")
        tkey = self.lk.typo_by_style.get(node.styles.get("text", "")) or \
            self.lk.typo_by_sig.get(typo_sig_key(st))
        if tkey:
            cls.append(f"text-{tkey}")
        else:
            cls.append(f"text-[{px(st.fontSize)}]")
            from .tokens import line_height

            lh = line_height(st)
            if lh == "normal":
                cls.append("leading-normal")
            elif lh:
                cls.append(f"leading-[{lh}]")
            w = int(st.fontWeight)
            cls.append(WEIGHTS.get(w, f"font-[{w}]"))
            if st.letterSpacing:
                cls.append(f"tracking-[{px(st.letterSpacing)}]")
        if st.italic:
            cls.append("italic")
        align = {"CENTER": "text-center", "RIGHT": "text-right",
                 "JUSTIFIED": "text-justify"}.get(st.textAlignHorizontal or "")
        if align:
            cls.append(align)
        case = {"UPPER": "uppercase", "LOWER": "lowercase", "TITLE": "capitalize"}.get(
            st.textCase or "")
        if case:
            cls.append(case)
        deco = {"UNDERLINE": "underline", "STRIKETHROUGH": "line-through"}.get(
            st.textDecoration or "")
        if deco:
            cls.append(deco)
        if (st.textAutoResize or "NONE") == "WIDTH_AND_HEIGHT":
            cls.append("whitespace-pre")
        else:
            cls.append("whitespace-pre-wrap")
            if (st.textAutoResize or "NONE") in ("NONE", "TRUNCATE") and \
                    st.textAlignVertical in ("CENTER", "BOTTOM"):
                cls.extend(["flex", "flex-col",
                            "justify-center" if st.textAlignVertical == "CENTER"
                            else "justify-end"])
        p = _first(node.fills)
        if p is not None and p.type == "SOLID":
            cls.append(self.color_cls("text", p, node.styles.get("fill")))
        if node.opacity < 0.999:
            cls.append(f"opacity-[{fmt_num(max(node.opacity, 0))}]")
        return cls

    # ------------------------------------------------------------------------------ rendering
    def render(self, node: Node, parent: Node | None, depth: int, indent: int,
               is_root: bool = False, phrasing: bool = False,
               root_attrs: str = "", in_ui: bool = False, collect: bool = True) -> list[str]:
        pad = "  " * indent
        ctx = self.ctx
        if not node.visible or node.isMask or node.type in SKIP_TYPES:
            return []
        ctx.nodes += 1
        bool_ref = (node.componentPropertyReferences or {}).get("visible")
        bool_prop = ctx.props.get(bool_ref) if bool_ref else None
        if bool_prop is not None and bool_prop.kind == "boolean" and not is_root:
            on = collect and bool(bool_prop.default)
            lines = self._render_node(node, parent, depth, indent + 1, False, phrasing, "",
                                      in_ui, collect=on)
            if not lines:
                return []
            if on:
                ctx.used_props.add(bool_prop.key)
            return [f"{pad}{{{bool_prop.ident} && (", *lines, f"{pad})}}"]
        return self._render_node(node, parent, depth, indent, is_root, phrasing, root_attrs,
                                 in_ui, collect=collect)

    def _render_node(self, node: Node, parent: Node | None, depth: int, indent: int,
                     is_root: bool, phrasing: bool, root_attrs: str, in_ui: bool,
                     collect: bool) -> list[str]:
        pad = "  " * indent
        ctx = self.ctx
        name_attr = ""
        if node.type == "TEXT":
            return self._render_text(node, parent, indent, is_root, phrasing, root_attrs, collect)
        children = [c for c in node.children if c.visible and not c.isMask]
        has_abs = any(
            not (node.layoutMode in ("HORIZONTAL", "VERTICAL")
                 and c.layoutPositioning != "ABSOLUTE") for c in children)
        cls = self.layout_classes(node, parent, is_root, has_abs)
        vis, is_image = self.visual_classes(node)
        cls.extend(vis)
        if node.type not in CONTAINER_TYPES and node.type not in SHAPE_TYPES \
                and node.type not in VECTOR_TYPES and node.type != "TEXT":
            name_attr = f' data-figma-type={js_str(node.type)}'
        if depth >= MAX_DEPTH and children:
            ctx.warnings.append(f"{ctx.comp.ident}: nesting deeper than {MAX_DEPTH} flattened")
            children = []
        # vectors
        if node.type in VECTOR_TYPES:
            return self._render_vector(node, cls, pad, is_root, root_attrs, phrasing)
        ui = None
        source_name = ctx.comp.name if is_root and ctx.comp.kind == "componentSet" else node.name
        if not in_ui and not phrasing and node.type in CONTAINER_TYPES:
            ui = self._ui_kind(node, source_name)
        attrs = root_attrs
        tag = "span" if phrasing else "div"
        cls_str = " ".join(dict.fromkeys(c for c in cls if c))
        class_attr = self._class_attr(cls_str, is_root)
        if is_image:
            label = norm_text(node.name) or "image"
            attrs += f" role=\"img\" aria-label={js_str(label)}"
            if collect:
                ctx.roles.append(RoleCheck(role="img", name=label))
            return [f"{pad}<{tag}{class_attr}{attrs}{name_attr} />"]
        if ui == "input":
            texts = [d for d in _descendants(node) if d.type == "TEXT"]
            placeholder = norm_text(texts[-1].characters or "") if texts else ""
            label = norm_text(texts[0].characters or "") if len(texts) > 1 else \
                (placeholder or norm_text(node.name) or "input")
            ctx.ui.add("input")
            if collect:
                ctx.roles.append(RoleCheck(role="textbox", name=label))
            ph = f" placeholder={js_str(placeholder)}" if placeholder else ""
            return [f"{pad}<UiInput{class_attr}{attrs} aria-label={js_str(label)}{ph} />"]
        if ui == "button":
            ctx.ui.add("button")
            disabled = any(k.lower() in ("disabled", "state") and v.lower() in
                           ("true", "yes", "disabled", "on")
                           for k, v in (ctx.variant_values.items() if is_root else ()))
            if disabled:
                attrs += " disabled"
            texts = [d for d in _descendants(node) if d.type == "TEXT"]
            if collect:
                ctx.roles.append(RoleCheck(
                    role="button",
                    name=self._text_value_default(texts[0]) if len(texts) == 1 else None))
            tag = "UiButton"
        elif ui == "card":
            ctx.ui.add("card")
            tag = "UiCard"
        elif ui == "badge":
            ctx.ui.add("badge")
            tag = "UiBadge"
        child_phrasing = phrasing or ui in ("button", "badge")
        lines = [f"{pad}<{tag}{class_attr}{attrs}{name_attr}>"]
        body: list[str] = []
        for c in children:
            body.extend(self.render(c, node, depth + 1, indent + 1, phrasing=child_phrasing,
                                    in_ui=in_ui or ui in ("button", "badge", "input"),
                                    collect=collect))
        if not body:
            return [f"{pad}<{tag}{class_attr}{attrs}{name_attr} />"]
        lines.extend(body)
        lines.append(f"{pad}</{tag}>")
        return lines

    def _class_attr(self, cls_str: str, is_root: bool) -> str:
        if is_root:
            return f" className={{cn({js_str(cls_str)}, className)}}"
        return f" className={js_str(cls_str)}" if cls_str else ""

    def _ui_kind(self, node: Node, name: str) -> str | None:
        kind = ui_kind_for(name)
        if kind is None:
            return None
        desc = _descendants(node)
        texts = [d for d in desc if d.type == "TEXT"]
        if kind == "button":
            nested = any(ui_kind_for(d.name) == "button" for d in desc if d.type != "TEXT")
            if not texts or len(desc) > 30 or nested or len(texts) > 3:
                return None
        elif kind == "input":
            if not texts or len(texts) > 2 or len(desc) > 12:
                return None
        elif kind == "badge":
            if not texts or len(desc) > 6:
                return None
        elif kind == "card" and not node.children:
            return None
        return kind

    def _text_value_default(self, node: Node) -> str:
        ref = (node.componentPropertyReferences or {}).get("characters")
        prop = self.ctx.props.get(ref) if ref else None
        if prop is not None and prop.kind == "text":
            return norm_text(str(prop.default or ""))
        return norm_text(node.characters or "")

    def _render_text(self, node: Node, parent: Node | None, indent: int, is_root: bool,
                     phrasing: bool, root_attrs: str, collect: bool) -> list[str]:
        pad = "  " * indent
        cls = self.layout_classes(node, parent, is_root, False)
        cls.extend(self.text_classes(node))
        cls_str = " ".join(dict.fromkeys(c for c in cls if c))
        ref = (node.componentPropertyReferences or {}).get("characters")
        prop = self.ctx.props.get(ref) if ref else None
        if prop is not None and prop.kind == "text":
            content = f"{{{prop.ident}}}"
            value = norm_text(str(prop.default or ""))
            if collect:
                self.ctx.used_props.add(prop.key)
        else:
            value = norm_text(node.characters or "")
            content = f"{{{js_str(node.characters or '')}}}"
        tag = "span"
        if not phrasing:
            tag = "p"
            style_name = ""
            sid = node.styles.get("text")
            if sid and sid in self.ctx.spec.styles:
                style_name = self.ctx.spec.styles[sid].name
            m = HEADING.search(style_name)
            if m:
                level = int(m.group(1)) if m.group(1) else 2
                tag = f"h{level}"
                if collect and value:
                    self.ctx.roles.append(RoleCheck(role="heading", name=value))
        if collect and value and len(self.ctx.texts) < MAX_MANIFEST_TEXTS \
                and value not in self.ctx.texts:
            self.ctx.texts.append(value)
        return [f"{pad}<{tag}{self._class_attr(cls_str, is_root)}{root_attrs}>{content}</{tag}>"]

    def _render_vector(self, node: Node, cls: list[str], pad: str, is_root: bool,
                       root_attrs: str, phrasing: bool) -> list[str]:
        bb = node.absoluteBoundingBox
        geom = node.fillGeometry or []
        if geom and bb and bb.width > 0 and bb.height > 0:
            p = _first(node.fills)
            fill = color_hex(p.color, p.opacity) if p is not None and p.color else "currentColor"
            svg_cls = " ".join(c for c in cls if not c.startswith(("bg-", "border")))
            paths = "".join(
                f"<path d={js_str(g.path)} fill={js_str(fill)}"
                + (' fillRule="evenodd"' if g.windingRule == "EVENODD" else "") + " />"
                for g in geom[:200]
            )
            return [f"{pad}<svg{self._class_attr(svg_cls, is_root)}{root_attrs} "
                    f"width={js_str(fmt_num(bb.width))} height={js_str(fmt_num(bb.height))} "
                    f"viewBox={js_str(f'0 0 {fmt_num(bb.width)} {fmt_num(bb.height)}')} "
                    f"aria-hidden=\"true\">{paths}</svg>"]
        cls_str = " ".join(dict.fromkeys(c for c in cls if c))
        tag = "span" if phrasing else "div"
        return [f"{pad}<{tag}{self._class_attr(cls_str, is_root)}{root_attrs} aria-hidden=\"true\""
                f" data-figma-type={js_str(node.type.lower())} />"]


# ------------------------------------------------------------------------------- component files


@dataclass
class GeneratedComponent:
    ident: str
    source: str
    manifest: ComponentManifest
    warnings: list[str]


def _prop_type(p: PropInfo) -> str:
    if p.kind == "variant":
        return " | ".join(js_str(o) for o in p.options)
    return "string" if p.kind == "text" else "boolean"


def _prop_default(p: PropInfo) -> str:
    if p.kind == "boolean":
        return "true" if p.default else "false"
    return js_str(str(p.default if p.default is not None else ""))


def generate_component(spec: DesignSpec, index: dict[str, Node], comp: ComponentInfo,
                       lookup: TokenLookup) -> GeneratedComponent:
    props = {p.key: p for p in comp.props}
    ctx = Ctx(spec=spec, lookup=lookup, comp=comp, props=props)
    renderer = Renderer(ctx)
    node = index[comp.nodeId]
    var_props = [p for p in comp.props if p.kind == "variant"]
    lines: list[str] = []
    body: list[str] = []
    manifest = ComponentManifest(ident=comp.ident, name=comp.name, nodeId=comp.nodeId,
                                 kind=comp.kind, file=f"components/{comp.ident}.tsx",
                                 props=comp.props, defaultVariant=None)

    def root_attrs(variant: VariantInfo | None) -> str:
        a = f" data-figma-node={js_str(comp.nodeId)}"
        if variant is not None:
            a += f" data-variant={js_str(variant.name)}"
        return a

    if comp.kind == "componentSet" and comp.variants:
        by_id = {v.nodeId: v for v in comp.variants}
        default = by_id.get(comp.defaultVariant or "", comp.variants[0])
        manifest.defaultVariant = default.name
        keyexpr = " + \"|\" + ".join(p.ident for p in var_props) if var_props else '""'
        body.append(f"  const variantKey: string = {keyexpr};")
        body.append("  switch (variantKey) {")
        seen_keys: set[str] = set()
        default_lines: list[str] = []
        for v in comp.variants:
            vnode = index.get(v.nodeId)
            if vnode is None:
                continue
            key = "|".join(v.values.get(p.name, "") for p in var_props)
            collect = v.nodeId == default.nodeId
            saved = (list(ctx.texts), list(ctx.roles), set(ctx.used_props))
            ctx.variant_values = v.values
            rendered = renderer.render(vnode, None, 0, 3, is_root=True,
                                       root_attrs=root_attrs(v))
            if not collect:
                ctx.texts, ctx.roles, ctx.used_props = saved
            if v.nodeId == default.nodeId:
                default_lines = rendered
            if key in seen_keys or not rendered:
                continue
            seen_keys.add(key)
            body.append(f"    case {js_str(key)}:")
            body.append("      return (")
            body.extend(["  " * 1 + ln for ln in rendered])
            body.append("      );")
        body.append("    default:")
        body.append("      return (")
        body.extend(["  " * 1 + ln for ln in default_lines] or ["        null"])
        body.append("      );")
        body.append("  }")
        # variant checks: each option of each prop, others at their default
        keys = {"|".join(v.values.get(p.name, "") for p in var_props): v for v in comp.variants}
        defaults = {p.name: str(p.default) for p in var_props}
        for p in var_props:
            for opt in p.options[:12]:
                vals = dict(defaults)
                vals[p.name] = opt
                match = keys.get("|".join(vals.get(q.name, "") for q in var_props), default)
                manifest.variantChecks.append(VariantCheck(props={p.ident: opt},
                                                           expect=match.name))
    else:
        rendered = renderer.render(node, None, 0, 2, is_root=True, root_attrs=root_attrs(None))
        body.append("  return (")
        body.extend(rendered or ["    <div className={cn(className)} />"])
        body.append("  );")

    # header
    lines.append("// Generated by pf-figma from the Figma node "
                 f"{json.dumps(comp.name, ensure_ascii=True)[1:-1][:80]} ({comp.nodeId}).")
    lines.append('import { cn } from "../lib/utils";')
    for kind in sorted(ctx.ui):
        mod = {"button": "button", "input": "input", "card": "card", "badge": "badge"}[kind]
        real = {"button": "Button", "input": "Input", "card": "Card", "badge": "Badge"}[kind]
        lines.append(f'import {{ {real} as {UI_IMPORTS[kind]} }} from "./ui/{mod}";')
    lines.append("")
    for p in var_props:
        lines.append(f"export type {comp.ident}{p.ident[:1].upper()}{p.ident[1:]} = "
                     f"{_prop_type(p)};")
    if var_props:
        lines.append("")
    lines.append(f"export interface {comp.ident}Props {{")
    lines.append("  className?: string;")
    for p in comp.props:
        t = (f"{comp.ident}{p.ident[:1].upper()}{p.ident[1:]}" if p.kind == "variant"
             else _prop_type(p))
        lines.append(f"  /** Figma property {json.dumps(p.name, ensure_ascii=True)[1:-1][:60]} */")
        lines.append(f"  {p.ident}?: {t};")
    lines.append("}")
    lines.append("")
    params = ["className"] + [f"{p.ident} = {_prop_default(p)}" for p in comp.props]
    lines.append(f"export function {comp.ident}({{ {', '.join(params)} }}: {comp.ident}Props) {{")
    lines.extend(body)
    lines.append("}")
    lines.append("")
    manifest.texts = ctx.texts
    manifest.roles = ctx.roles
    manifest.ui = sorted(ctx.ui)
    manifest.nodes = ctx.nodes
    manifest.usedProps = sorted(p.ident for p in comp.props if p.key in ctx.used_props)
    return GeneratedComponent(comp.ident, "\n".join(lines), manifest, ctx.warnings)


def generate_components(spec: DesignSpec, lookup: TokenLookup) -> list[GeneratedComponent]:
    index = spec.index()
    out = []
    for comp in spec.components:
        if comp.nodeId not in index:
            continue
        out.append(generate_component(spec, index, comp, lookup))
    return out


def manifest_json(items: list[ComponentManifest]) -> str:
    return json.dumps([m.model_dump() for m in items], indent=1, ensure_ascii=False)


def manifests_from_json(data: bytes | str) -> list[ComponentManifest]:
    raw: Any = json.loads(data)
    return [ComponentManifest.model_validate(m) for m in raw]
