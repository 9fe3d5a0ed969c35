"""Lowering: one Figma node tree -> a :class:`~pf_agents.jsx.El` tree with Tailwind classes.

What each Figma property becomes is listed in docs/agents.md ("Support matrix"). Whatever cannot
be reproduced is never dropped silently: it is recorded as an :class:`Unreproduced` (node id,
property, reason) that the generate stage writes to ``unreproduced.json`` and counts in its
result.

Coordinates: Figma's ``absoluteBoundingBox`` (px, page space, axis-aligned around rotated nodes),
``size`` (px, unrotated) and ``rotation`` (radians, counter-clockwise; CSS rotates clockwise).
Source: https://www.figma.com/developers/api#node-types
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations, pairwise

from .analyze import DesignSpec, PropInfo
from .errors import StageError
from .fallback_fonts import FallbackFace, cased, text_width
from .figma_models import MAX_DEPTH, Node, Paint, Rect, TypeStyle
from .jsx import El, Txt, js_str
from .names import _ascii_words
from .tokens import TokenLookup, color_hex, effect_css, fmt_num, line_height, px, typo_sig_key

SHAPE_TYPES = {"RECTANGLE", "ELLIPSE"}
VECTOR_TYPES = {"VECTOR", "STAR", "REGULAR_POLYGON", "BOOLEAN_OPERATION", "LINE"}
CONTAINER_TYPES = {"FRAME", "GROUP", "SECTION", "COMPONENT", "COMPONENT_SET", "INSTANCE", "TABLE"}
FIGJAM_TEXT_TYPES = {"STICKY", "SHAPE_WITH_TEXT", "TABLE_CELL"}
NOT_RENDERED = {
    "SLICE": "a slice is an export region, not content",
    "WIDGET": "widgets run code in Figma; their rendering is not in the file",
    "EMBED": "embeds are rendered by their provider",
    "LINK_UNFURL": "link previews are rendered by Figma",
    "STAMP": "FigJam stamps carry no geometry in the API",
    "HIGHLIGHT": "FigJam highlights carry no geometry in the API",
    "WASHI_TAPE": "FigJam decoration",
    "CODE_BLOCK": "code blocks carry no layout",
}
AUTO_LAYOUT = ("HORIZONTAL", "VERTICAL")
BLEND = {
    "MULTIPLY": "multiply",
    "SCREEN": "screen",
    "OVERLAY": "overlay",
    "DARKEN": "darken",
    "LIGHTEN": "lighten",
    "COLOR_DODGE": "color-dodge",
    "COLOR_BURN": "color-burn",
    "HARD_LIGHT": "hard-light",
    "SOFT_LIGHT": "soft-light",
    "DIFFERENCE": "difference",
    "EXCLUSION": "exclusion",
    "HUE": "hue",
    "SATURATION": "saturation",
    "COLOR": "color",
    "LUMINOSITY": "luminosity",
}
WEIGHTS = {
    100: "font-thin",
    200: "font-extralight",
    300: "font-light",
    400: "font-normal",
    500: "font-medium",
    600: "font-semibold",
    700: "font-bold",
    800: "font-extrabold",
    900: "font-black",
}
HEADING = re.compile(r"\b(?:h([1-6])|heading|headline|display)\b", re.I)
SEMANTIC = {
    "button": {"button", "btn", "cta"},
    "input": {"input", "textfield", "textbox", "textinput", "field"},
    "link": {"link", "hyperlink"},
}
SOFT_BREAKS = {"\u2028": "\n", "\u2029": "\n"}
# classes that place a node in its parent (dropped where a table cell is placed by its row)
POSITION_PREFIXES = (
    "absolute",
    "relative",
    "left-",
    "right-",
    "top-",
    "bottom-",
    "w-[",
    "h-[",
    "-translate-",
    "shrink-",
)


@dataclass(frozen=True)
class InstanceTarget:
    """A generated component an INSTANCE can use: ``props`` maps a Figma property key (TEXT,
    BOOLEAN; for variants the property name) to (prop ident, option -> JS code or None for a
    text/boolean); ``values``: the variant values of the instanced variant."""

    ident: str
    props: dict[str, tuple[str, dict[str, str] | None]]
    defaults: dict[str, str]  # prop ident -> default JS code
    values: dict[str, str] = field(default_factory=dict)


REUSE_COVERED = frozenset(
    {
        "width",
        "height",
        "transitionDuration",
        "transitionEasing",
        "transitionNodeID",
        "exportSettings",
        "name",
    }
)


@dataclass(frozen=True)
class Unreproduced:
    """A Figma property of one node that the output does not reproduce, and why."""

    node: str
    name: str
    property: str
    reason: str


ANNOTATION = re.compile(r"^\s*(?:_|redlines?\b)", re.I)
# the node types a text field can be: a drawn box of its own (a GROUP only gathers layers)
INPUT_TYPES = frozenset({"COMPONENT", "COMPONENT_SET", "INSTANCE", "FRAME"})


# spacing keys named after their pixel value (tokens.spacing_key: '10px', '2_5px')
PX_KEY = re.compile(r"[\d_]+px")
# the colours Tailwind names itself, kept out of arbitrary values when no token has them
TAILWIND_COLORS = {"#ffffff": "white", "#000000": "black"}


def is_annotation(name: str) -> bool:
    """True for a designer's annotation layer: a name starting with ``_`` (the convention
    Figmagic documents: "prefix with _ ... which will be ignored during code generation") or
    with "Redline(s)" (the Figma Redlines plugin's measurement groups)."""
    return bool(ANNOTATION.match(name))


def semantic_kind(name: str) -> str | None:
    words = {w.lower() for w in _ascii_words(name)}
    for kind, vocab in SEMANTIC.items():
        if words & vocab:
            return kind
    return None


def arb(value: str) -> str:
    """A Tailwind arbitrary value: spaces become underscores."""
    return value.replace(" ", "_")


def _visible_paints(paints: list[Paint] | None) -> list[Paint]:
    return [p for p in paints or [] if p.visible and p.opacity > 0]


def _one_line_box(node: Node) -> bool:
    """A fixed-width TEXT holding one line of left-aligned text (no truncation, no line break):
    sized to its content it shows the same glyphs in the same place."""
    st = node.style
    bb = node.absoluteBoundingBox
    if node.type != "TEXT" or st is None or bb is None:
        return False
    line = st.lineHeightPx or st.fontSize * 1.25
    return (
        (st.textAutoResize or "NONE") in ("NONE", "HEIGHT")
        and (st.textAlignHorizontal or "LEFT") in ("LEFT", "JUSTIFIED")
        and st.textTruncation != "ENDING"
        and not st.maxLines
        and not any(c in (node.characters or "") for c in "\n\u2028\u2029")
        and bb.height <= line * 1.5
        and (node.constraints is None or node.constraints.horizontal in (None, "LEFT", "SCALE"))
    )


def _sizing(node: Node, parent: Node | None) -> tuple[str, str]:
    """(horizontal, vertical) sizing: FIXED | HUG | FILL, from ``layoutSizing*`` or older fields."""
    h = node.layoutSizingHorizontal
    v = node.layoutSizingVertical
    if h and v:
        return h, v
    if node.type == "TEXT":
        mode = (node.style.textAutoResize if node.style else None) or "NONE"
        hh, vv = {"WIDTH_AND_HEIGHT": ("HUG", "HUG"), "HEIGHT": ("FIXED", "HUG")}.get(
            mode, ("FIXED", "FIXED")
        )
    elif node.layoutMode in AUTO_LAYOUT:
        primary = "HUG" if (node.primaryAxisSizingMode or "AUTO") == "AUTO" else "FIXED"
        counter = "HUG" if (node.counterAxisSizingMode or "AUTO") == "AUTO" else "FIXED"
        hh, vv = (primary, counter) if node.layoutMode == "HORIZONTAL" else (counter, primary)
    else:
        hh, vv = "FIXED", "FIXED"
    if (
        parent is not None
        and parent.layoutMode in AUTO_LAYOUT
        and node.layoutPositioning != "ABSOLUTE"
    ):
        grow = node.layoutGrow >= 1
        stretch = node.layoutAlign == "STRETCH"
        if parent.layoutMode == "HORIZONTAL":
            hh = "FILL" if grow else hh
            vv = "FILL" if stretch else vv
        else:
            vv = "FILL" if grow else vv
            hh = "FILL" if stretch else hh
    return h or hh, v or vv


_SIDES = {"left": "LEFT", "top": "TOP", "right": "RIGHT", "bottom": "BOTTOM"}


def _pin(
    constraint: str,
    start: str,
    end: str,
    size: str,
    axis: str,
    pos: float,
    length: float,
    parent: float,
) -> list[str]:
    """Classes that pin an absolute child along one axis as its Figma constraint says:
    start (LEFT/TOP), end (RIGHT/BOTTOM), both (LEFT_RIGHT/TOP_BOTTOM), CENTER, SCALE."""

    def at(v: float) -> str:
        return "0px" if abs(v) < 0.5 else px(v)  # sub-pixel offsets are Figma's rounding

    def share(v: float, side: str) -> str:
        if abs(v) < 0.5:
            return f"{side}-0"  # within half a pixel at the design width
        if abs(v - parent) < 0.5:
            return f"{side}-full"
        return f"{side}-[{fmt_num(100 * v / parent)}%]"

    if constraint == _SIDES[end]:
        return [f"{end}-[{at(parent - pos - length)}]"]
    if constraint in ("LEFT_RIGHT", "TOP_BOTTOM"):
        return [f"{start}-[{at(pos)}]", f"{end}-[{at(parent - pos - length)}]"]
    if constraint == "CENTER":
        off = pos + length / 2 - parent / 2
        offset = (
            f"{start}-1/2"
            if abs(off) < 0.5
            else f"{start}-[calc(50%+{px(off)})]".replace("+-", "-")
        )
        return [offset, f"-translate-{axis}-1/2"]
    if constraint == "SCALE" and parent > 0:
        return [share(pos, start), share(length, size)]
    return [f"{start}-[{at(pos)}]"]


QUARTER_TURN_TYPES = {"LINE", "RECTANGLE", "ELLIPSE"}


def _quarter_turn(node: Node) -> bool:
    """A line or plain shape turned by 90 or 270 degrees: the same picture as its bounding box
    drawn upright (a vertical divider), so it is drawn that way, without a CSS rotation."""
    deg = abs(math.degrees(node.rotation)) % 180
    return node.type in QUARTER_TURN_TYPES and abs(deg - 90) < 0.5 and not node.children


def drawn_rotation(node: Node) -> float:
    """The rotation to draw, in radians (0 for quarter-turned lines and shapes)."""
    return 0.0 if _quarter_turn(node) else node.rotation


def _negative_gap(node: Node) -> float:
    """Negative auto-layout spacing (items overlap; CSS gap cannot be negative), else 0."""
    if node.layoutMode not in AUTO_LAYOUT or node.primaryAxisAlignItems == "SPACE_BETWEEN":
        return 0.0
    return min(node.itemSpacing, 0.0)


_ZERO = re.compile(r"^(left|right|top|bottom)-\[0(?:px|%)\]$")
_FULL = {"w-[100%]": "w-full", "h-[100%]": "h-full", "w-[0px]": "w-0", "h-[0px]": "h-0"}
_NEGATIVE = re.compile(r"^(left|right|top|bottom)-\[-([^\]]+)\]$")


def _tidy_placement(cls: list[str]) -> list[str]:
    """Placement classes as people write them: ``left-0`` for ``left-[0px]``, ``w-full`` for
    ``w-[100%]``, ``-top-[4px]`` for ``top-[-4px]``, and ``inset-0`` for a layer that covers
    its parent (the same CSS)."""
    out = [f"{m.group(1)}-0" if (m := _ZERO.match(c)) else _FULL.get(c, c) for c in cls]
    out = [f"-{m.group(1)}-[{m.group(2)}]" if (m := _NEGATIVE.match(c)) else c for c in out]
    cover = {"left-0", "top-0", "w-full", "h-full"}
    if cover <= set(out):
        out = [c for c in out if c not in cover]
        out.insert(out.index("absolute") + 1 if "absolute" in out else 0, "inset-0")
    return out


def _overlap(a: Rect, b: Rect) -> bool:
    """Two boxes share more than half a pixel on both axes."""
    return (
        a.x < b.x + b.width - 0.5
        and b.x < a.x + a.width - 0.5
        and a.y < b.y + b.height - 0.5
        and b.y < a.y + a.height - 0.5
    )


def _size(node: Node) -> tuple[float, float]:
    """Unrotated width and height in px (a quarter-turned line or shape: its bounding box)."""
    if _quarter_turn(node) and node.absoluteBoundingBox is not None:
        return node.absoluteBoundingBox.width, node.absoluteBoundingBox.height
    if node.size is not None and (node.size.x or node.size.y):
        return node.size.x, node.size.y
    bb = node.absoluteBoundingBox
    return (bb.width, bb.height) if bb else (0.0, 0.0)


@dataclass
class Lowering:
    """Lowers the nodes of one component. ``props``: Figma property key -> prop."""

    spec: DesignSpec
    lookup: TokenLookup
    component: str
    props: dict[str, PropInfo]
    fluid_root: bool = False
    # a fluid screen's design width (px): at and above it, hand-placed children stay where
    # Figma has them; below it they flow (0: they always flow)
    design_width: float = 0.0
    root_name: str = ""  # names the root for semantics (a component set's name)
    targets: dict[str, InstanceTarget] = field(default_factory=dict)  # component id -> target
    index: dict[str, Node] = field(default_factory=dict)  # node id -> node, of the whole design
    unreproduced: list[Unreproduced] = field(default_factory=list)
    imports: set[str] = field(default_factory=set)
    # the child of a stacked parent that comes first in its flow: in the flow at every width
    flow_first: dict[str, str] = field(default_factory=dict)
    # the max-width of a stacked child offset across its column (narrow screens only)
    flow_limit: dict[str, str] = field(default_factory=dict)
    flow: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # stacked parents
    # stacked parents whose children do not overlap: in the flow at every width (a plain flex
    # column or row, as a person lays it out), not placed absolutely at the design width
    flow_everywhere: set[str] = field(default_factory=set)
    # design family -> its metric-adjusted fallback face (fallback_fonts): how wide a text in an
    # unbundled font is drawn in the browser
    fallbacks: Mapping[str, FallbackFace] = field(default_factory=dict)
    used_props: set[str] = field(default_factory=set)
    semantics: set[str] = field(default_factory=set)
    nodes: int = 0
    # imageRef -> {"src": "/figma/<ref>.<ext>", "width": px, "height": px}: image fills analyze
    # downloaded (figma_live.image_assets); others stay placeholders
    images: dict[str, dict[str, object]] = field(default_factory=dict)

    # ----------------------------------------------------------------------------- reporting
    def report(self, node: Node, prop: str, reason: str) -> None:
        self.unreproduced.append(Unreproduced(node.id, node.name[:80], prop, reason))

    # -------------------------------------------------------------------------------- tokens
    def color(self, prefix: str, paint: Paint, style_id: str | None = None) -> str:
        if paint.color is None:
            return ""
        value = color_hex(paint.color, paint.opacity)
        if style_id and style_id in self.lookup.color_by_style and paint.opacity >= 0.999:
            return f"{prefix}-{self.lookup.color_by_style[style_id]}"
        key = self.lookup.color_by_value.get(value) or TAILWIND_COLORS.get(value)
        return f"{prefix}-{key}" if key else f"{prefix}-[{value}]"

    def space(self, prefix: str, v: float) -> str:
        """``<prefix>-<key>`` for ``v`` px: a spacing token when one is named for the value
        (not after its pixels), else Tailwind 4's spacing scale for whole pixels (``n`` =
        n x 0.25rem, any multiple of 0.25: ``2.5`` = 10px, ``1.75`` = 7px; ``px`` = 1px), else
        an arbitrary ``[<v>px]``."""
        neg = v < 0
        a = abs(v)
        key = self.lookup.spacing.get(px(a))
        if key and PX_KEY.fullmatch(key):
            key = None  # a token named after its pixels reads worse than the scale
        if key is None and abs(a - round(a)) < 1e-6:
            key = "px" if round(a) == 1 else fmt_num(round(a) / 4)
        cls = f"{prefix}-{key}" if key else f"{prefix}-[{px(a)}]"
        return "-" + cls if neg else cls

    def radius(self, prefix: str, v: float) -> str:
        key = self.lookup.radius.get(px(v))
        return f"{prefix}-{key}" if key else f"{prefix}-[{px(v)}]"

    # ------------------------------------------------------------------------------ geometry
    def sizing(self, node: Node, parent: Node | None) -> tuple[str, str]:
        """``_sizing``, except that a fixed-width box around one line of text in a font that
        falls back hugs its text when the fallback draws it wider than the box: otherwise the
        line wraps in the browser and everything below it moves down a line."""
        h, v = _sizing(node, parent)
        if h == "FIXED" and _one_line_box(node) and self._wider_in_browser(node):
            h = "HUG"
        return h, v

    def _wider_in_browser(self, node: Node) -> bool:
        st, bb = node.style, node.absoluteBoundingBox
        assert st is not None and bb is not None
        face = self.fallbacks.get(st.fontFamily or "")
        if face is None:
            return False
        bold = st.fontWeight > 500
        text = cased(node.characters or "", st.textCase)
        glyphs = text_width(text, st.fontSize, kind=face.kind, bold=bold)
        if glyphs is None:
            return False
        drawn = glyphs * (face.bold if bold else face.regular) + st.letterSpacing * len(text)
        return drawn > bb.width + 0.5

    def position(self, node: Node, parent: Node | None, root: bool) -> list[str]:
        """Size and place ``node`` in ``parent`` (flex item, grid item or absolute)."""
        cls: list[str] = []
        hs, vs = self.sizing(node, parent)
        w, h = _size(node)
        if root or parent is None:
            if self.fluid_root and hs != "HUG":
                # a screen: full width up to its design width; its layers query its width
                # (a container), not the viewport's: it may sit in a padded page or a column
                cls += ["@container", "w-full", f"max-w-[{px(w)}]"]
            elif hs == "HUG":
                cls += ["w-fit", "shrink-0"]  # as wide as its content wherever it is placed
            elif hs == "FILL":
                cls.append("w-full")
            else:
                cls.append(f"w-[{px(w)}]")
            if vs == "FIXED":
                cls.append(f"min-h-[{px(h)}]" if self.fluid_root else f"h-[{px(h)}]")
            cls += self.min_max(node)
            return cls
        if parent.id in self.flow and node.id in self.flow[parent.id]:
            flow = self.flow[parent.id][node.id]
            bp = self.narrow()
            if (
                not self.design_width
                or self.flow_first.get(parent.id) == node.id
                or parent.id in self.flow_everywhere
            ):
                # nothing before it in the flow: its margins place it exactly at every width
                limit = self.flow_limit.get(node.id)
                return cls + flow + self.min_max(node) + ([bp + limit] if limit else [])
            # placed as in Figma at the design width; in the flow on narrower screens (where
            # the heights of the texts above it may differ from Figma's a little)
            placed = self.absolute(node, parent, hs, vs)
            undo = ["relative", "inset-auto"]
            if any("translate" in c for c in placed):
                undo.append("translate-none")
            small = [
                *undo,
                *flow,
                *([self.flow_limit[node.id]] if node.id in self.flow_limit else []),
            ]
            return cls + placed + self.min_max(node) + [bp + c for c in small if c not in placed]
        if parent.layoutMode == "GRID" and node.layoutPositioning != "ABSOLUTE":
            return cls + self.grid_item(node, hs, vs, w, h)
        if parent.layoutMode in AUTO_LAYOUT and node.layoutPositioning != "ABSOLUTE":
            row = parent.layoutMode == "HORIZONTAL"
            for axis, mode, size in (("w", hs, w), ("h", vs, h)):
                primary = (axis == "w") == row
                if mode == "FIXED":
                    cls.append(f"{axis}-[{px(size)}]")
                    if axis == "w" and self.fluid_root:
                        cls.append("max-w-full")  # a screen narrower than the design
                    if primary:
                        cls.append("shrink-0")
                elif mode == "FILL":
                    if primary:
                        cls += ["min-w-0" if row else "min-h-0", "flex-1"]
                    else:
                        cls.append("self-stretch")
                elif mode == "HUG" and primary:
                    cls.append("shrink-0")
            cls += self.min_max(node)
            if abs(drawn_rotation(node)) > 1e-3:
                self.report(
                    node,
                    "rotation",
                    "a rotated item inside auto layout keeps its "
                    "bounding box in the flow; the rotation itself is applied",
                )
                cls.append(f"rotate-[{fmt_num(-math.degrees(node.rotation))}deg]")
            return cls
        return cls + self.absolute(node, parent, hs, vs)

    def narrow(self) -> str:
        """The variant for a screen narrower than its design: a container query on the
        screen's own width (``@max-[W]:``; the root is an ``@container``)."""
        return f"@max-[{px(self.design_width)}]:" if self.design_width else ""

    def stack(self, node: Node) -> list[str] | None:
        """In a fluid screen, children placed by hand that line up in a column (or a row)
        become a flex column (or a wrapping row) with the same offsets, so the screen adapts to
        narrow widths instead of overflowing. Overlapping siblings (a label on a swatch) travel
        together: consecutive in the flow, overlapping by negative margins, without a wrapper
        element of their own (the markup keeps Figma's layers, one element each, in Figma's
        order; ``order-N`` gives the flow order where it differs). None when they all overlap or
        cannot be placed."""
        kids = [c for c in node.children if c.visible and not c.isMask]
        pbb = node.absoluteBoundingBox
        if (
            not kids
            or pbb is None
            or node.type not in ("FRAME", "GROUP", "SECTION", "COMPONENT", "INSTANCE")
        ):
            return None
        if any(
            c.absoluteBoundingBox is None
            or abs(drawn_rotation(c)) > 1e-3
            or c.isMask
            or c.layoutPositioning == "ABSOLUTE"
            for c in node.children
            if c.visible
        ):
            return None
        clusters = self._clusters(kids)
        if clusters is None:
            return None
        col = sorted(clusters, key=lambda c: c[0].y)
        row = sorted(clusters, key=lambda c: c[0].x)

        def fits(seq: list[tuple[Rect, list[Node]]], axis: str) -> bool:
            for (ba, _), (bb_, _) in pairwise(seq):
                end = ba.y + ba.height if axis == "y" else ba.x + ba.width
                start = bb_.y if axis == "y" else bb_.x
                if end > start + 0.5:
                    return False
            return True

        for seq, axis, layout in (
            (col, "y", ["flex", "flex-col", "items-start"]),
            (row, "x", ["flex", "flex-wrap", "items-start"]),
        ):
            if fits(seq, axis):
                order = {c.id: i for i, c in enumerate(node.children)}
                together = {m.id for _, ms in seq if len(ms) > 1 for m in ms}
                flat = [m for _, ms in seq for m in ms]
                if flat[0].id not in together:
                    self.flow_first[node.id] = flat[0].id
                if not together:
                    self.flow_everywhere.add(node.id)
                self.flow[node.id] = self._place(flat, pbb, axis, order, together)
                return layout
        return None

    def _place(
        self, seq: list[Node], pbb: Rect, axis: str, order: dict[str, int], together: set[str]
    ) -> dict[str, list[str]]:
        """Flow classes of stacked children in flow order: the distance from the previous
        one's end along ``axis`` as a margin (negative where they overlap), the offset across
        it (in a column, as a share of the width), ``order-N`` when the flow order is not the
        layer order. Members of an overlapping group keep their Figma width, so that the next
        one's margin counts from where Figma has it."""
        placed: dict[str, list[str]] = {}
        prev = pbb.y if axis == "y" else pbb.x
        reorder = [order[c.id] for c in seq] != sorted(order[c.id] for c in seq)
        for k, c in enumerate(seq):
            b = c.absoluteBoundingBox
            assert b is not None
            cls = self._flow_size(c, b.width, b.height, keep_width=c.id in together)
            along, across = (b.y, b.x - pbb.x) if axis == "y" else (b.x, b.y - pbb.y)
            gap = along - prev
            side = "mt" if axis == "y" else "ml"
            if gap:
                cls.append(self.space(side, gap))
            limit = None  # the width left beside the offset (max-w-full would stick out)
            if across and axis == "y" and across > 32:
                # a share of the width: the same offset at the design width, less below it
                share = 100 * across / (pbb.width or 1)
                cls.append(f"ml-[{fmt_num(share)}%]")
                limit = f"max-w-[{fmt_num(100 - share)}%]"
            elif across and axis == "y":
                cls.append(self.space("ml", across))
                limit = f"max-w-[calc(100%-{px(across)})]"
            elif across:
                cls.append(self.space("mt", across))
            if reorder:
                cls.append(f"order-{k + 1}")
            if limit is not None and across > 0:
                cls = [x for x in cls if x != "max-w-full"]
                self.flow_limit[c.id] = limit
            placed[c.id] = cls
            prev = along + (b.height if axis == "y" else b.width)
        return placed

    def _clusters(self, kids: list[Node]) -> list[tuple[Rect, list[Node]]] | None:
        """Siblings whose boxes overlap (a label on a swatch, a photo under its caption), as
        (their union box, the members in layer order), in layer order of their first member;
        None when everything overlaps."""
        parent_of = list(range(len(kids)))

        def find(i: int) -> int:
            while parent_of[i] != i:
                parent_of[i] = parent_of[parent_of[i]]
                i = parent_of[i]
            return i

        bbs = [k.absoluteBoundingBox for k in kids]
        for i, j in combinations(range(len(kids)), 2):
            a, b = bbs[i], bbs[j]
            assert a is not None and b is not None
            if _overlap(a, b):
                parent_of[find(i)] = find(j)
        groups: dict[int, list[Node]] = {}
        for i, k in enumerate(kids):
            groups.setdefault(find(i), []).append(k)
        if len(groups) == 1 and len(kids) > 1:
            return None
        out: list[tuple[Rect, list[Node]]] = []
        for members in groups.values():
            boxes = [m.absoluteBoundingBox for m in members if m.absoluteBoundingBox]
            x0 = min(b.x for b in boxes)
            y0 = min(b.y for b in boxes)
            x1 = max(b.x + b.width for b in boxes)
            y1 = max(b.y + b.height for b in boxes)
            out.append((Rect(x=x0, y=y0, width=x1 - x0, height=y1 - y0), members))
        return out

    def _flow_size(self, node: Node, w: float, h: float, keep_width: bool = False) -> list[str]:
        hs, vs = self.sizing(node, None)
        cls = [] if hs == "HUG" and not keep_width else [f"w-[{px(w)}]", "max-w-full"]
        if vs != "HUG":
            cls.append(f"h-[{px(h)}]")
        return [*cls, "shrink-0"]

    def min_max(self, node: Node) -> list[str]:
        out = []
        for attr, prefix in (
            ("minWidth", "min-w"),
            ("maxWidth", "max-w"),
            ("minHeight", "min-h"),
            ("maxHeight", "max-h"),
        ):
            v = getattr(node, attr)
            if v is not None and v > 0:
                out.append(f"{prefix}-[{px(v)}]")
        return out

    def grid_item(self, node: Node, hs: str, vs: str, w: float, h: float) -> list[str]:
        cls: list[str] = ["@max-sm:col-auto", "@max-sm:row-auto"] if self.fluid_root else []
        if node.gridColumnAnchorIndex is not None:
            cls.append(f"col-start-{node.gridColumnAnchorIndex + 1}")
        if node.gridColumnSpan and node.gridColumnSpan > 1:
            cls.append(f"col-span-{node.gridColumnSpan}")
        if node.gridRowAnchorIndex is not None:
            cls.append(f"row-start-{node.gridRowAnchorIndex + 1}")
        if node.gridRowSpan and node.gridRowSpan > 1:
            cls.append(f"row-span-{node.gridRowSpan}")
        cls.append({"FIXED": f"w-[{px(w)}]", "HUG": "justify-self-start"}.get(hs, "w-full"))
        cls.append({"FIXED": f"h-[{px(h)}]", "HUG": "self-start"}.get(vs, "h-full"))
        ha = {
            "MIN": "justify-self-start",
            "CENTER": "justify-self-center",
            "MAX": "justify-self-end",
        }.get(node.gridChildHorizontalAlign or "")
        va = {"MIN": "self-start", "CENTER": "self-center", "MAX": "self-end"}.get(
            node.gridChildVerticalAlign or ""
        )
        return cls + [c for c in (ha, va) if c]

    def absolute(self, node: Node, parent: Node, hs: str, vs: str) -> list[str]:
        """Absolute children, honouring constraints (LEFT/RIGHT/LEFT_RIGHT/CENTER/SCALE)."""
        cls = ["absolute"]
        bb, pbb = node.absoluteBoundingBox, parent.absoluteBoundingBox
        if bb is None or pbb is None:
            return cls
        w, h = _size(node)
        rotated = abs(drawn_rotation(node)) > 1e-3
        if rotated:
            # place the unrotated box so that its centre is the bounding box's centre
            x = bb.x + bb.width / 2 - w / 2 - pbb.x
            y = bb.y + bb.height / 2 - h / 2 - pbb.y
        else:
            x, y = bb.x - pbb.x, bb.y - pbb.y
            w, h = bb.width, bb.height
        con = node.constraints
        horiz = con.horizontal if con else "LEFT"
        vert = con.vertical if con else "TOP"
        pw, ph = pbb.width or 1.0, pbb.height or 1.0
        if self.fluid_root and not rotated and abs(x) < 0.5 and abs(w - pw) < 0.5:
            # as wide as its parent (a full-bleed band): it stays so on any screen width
            # (the same box at the design width)
            horiz = "LEFT_RIGHT"
        cls += _pin(horiz, "left", "right", "w", "x", x, w, pw)
        cls += _pin(vert, "top", "bottom", "h", "y", y, h, ph)
        if hs != "HUG" and horiz not in ("LEFT_RIGHT", "SCALE"):
            cls.append(f"w-[{px(w)}]")
        if vs != "HUG" and vert not in ("TOP_BOTTOM", "SCALE"):
            cls.append(f"h-[{px(h)}]")
        if rotated and node.type != "GROUP":
            cls.append(f"rotate-[{fmt_num(-math.degrees(node.rotation))}deg]")
        return _tidy_placement(cls)

    def own_layout(self, node: Node) -> list[str]:
        """The container's own layout: flex (auto layout) or grid, gaps and padding."""
        cls: list[str] = []
        if node.layoutMode == "GRID":
            cls.append("grid")
            cols = node.gridColumnsSizing or (
                f"repeat({node.gridColumnCount}, minmax(0, 1fr))" if node.gridColumnCount else None
            )
            rows = node.gridRowsSizing
            if cols:
                m = re.fullmatch(r"repeat\((\d+),\s*minmax\(0,\s*1fr\)\)", cols)
                cls.append(f"grid-cols-{m.group(1)}" if m else f"grid-cols-[{arb(cols)}]")
            if rows:
                m = re.fullmatch(r"repeat\((\d+),\s*minmax\(0,\s*1fr\)\)", rows)
                cls.append(f"grid-rows-{m.group(1)}" if m else f"grid-rows-[{arb(rows)}]")
            if self.fluid_root:
                # one column in a narrow component (a container query on its root, not the viewport)
                cls += ["@max-sm:grid-cols-1", "@max-sm:grid-rows-none"]
            if node.gridColumnGap and node.gridColumnGap == node.gridRowGap:
                cls.append(self.space("gap", node.gridColumnGap))
            elif node.gridColumnGap:
                cls.append(self.space("gap-x", node.gridColumnGap))
            if node.gridRowGap and node.gridRowGap != node.gridColumnGap:
                cls.append(self.space("gap-y", node.gridRowGap))
        elif node.layoutMode in AUTO_LAYOUT:
            cls.append("flex")
            if node.layoutMode == "VERTICAL":
                cls.append("flex-col")
            wrap = node.layoutWrap == "WRAP"
            if wrap:
                cls.append("flex-wrap")
            elif (
                self.fluid_root
                and node.layoutMode == "HORIZONTAL"
                and sum(1 for c in node.children if c.visible and c.layoutPositioning != "ABSOLUTE")
                > 1
            ):
                cls.append("flex-wrap")  # rows wrap on screens narrower than the design
            justify = {
                "MIN": "justify-start",
                "CENTER": "justify-center",
                "MAX": "justify-end",
                "SPACE_BETWEEN": "justify-between",
            }.get(node.primaryAxisAlignItems or "MIN")
            items = {
                "MIN": "items-start",
                "CENTER": "items-center",
                "MAX": "items-end",
                "BASELINE": "items-baseline",
            }.get(node.counterAxisAlignItems or "MIN")
            if justify and justify != "justify-start":
                cls.append(justify)
            if items:
                cls.append(items)
            if wrap and node.counterAxisAlignContent == "SPACE_BETWEEN":
                cls.append("content-between")
            row = node.layoutMode == "HORIZONTAL"
            gap = node.itemSpacing if node.primaryAxisAlignItems != "SPACE_BETWEEN" else 0
            cross = node.counterAxisSpacing if wrap else None
            # negative spacing is margins on the items (_negative_gap): CSS gap cannot be < 0
            if gap > 0 and cross is not None and cross != gap:
                cls.append(self.space("gap-x" if row else "gap-y", gap))
            elif gap > 0:
                cls.append(self.space("gap", gap))
            if cross:
                if cross != gap or gap < 0:
                    cls.append(self.space("gap-y" if row else "gap-x", cross))
        if node.layoutMode in (*AUTO_LAYOUT, "GRID"):
            cls += self.padding(node)
        return cls

    def padding(self, node: Node) -> list[str]:
        t, r, b, left = node.paddingTop, node.paddingRight, node.paddingBottom, node.paddingLeft
        if t == r == b == left:
            return [self.space("p", t)] if t else []
        out = []
        if left == r and left:
            out.append(self.space("px", left))
        else:
            out += [self.space("pl", left)] if left else []
            out += [self.space("pr", r)] if r else []
        if t == b and t:
            out.append(self.space("py", t))
        else:
            out += [self.space("pt", t)] if t else []
            out += [self.space("pb", b)] if b else []
        return out

    # --------------------------------------------------------------------------------- paint
    def gradient(self, p: Paint, node: Node) -> str | None:
        stops = p.gradientStops or []
        if not stops:
            return None
        handles = p.gradientHandlePositions or []
        w, h = _size(node)
        w, h = w or 1.0, h or 1.0
        if p.type == "GRADIENT_LINEAR":
            angle, start, end = 180.0, 0.0, 1.0
            if len(handles) >= 2:
                dx = (handles[1].x - handles[0].x) * w
                dy = (handles[1].y - handles[0].y) * h
                if dx or dy:
                    angle = math.degrees(math.atan2(dx, -dy)) % 360
                    # CSS gradient line length for this angle; map the handles onto it
                    a = math.radians(angle)
                    length = abs(w * math.sin(a)) + abs(h * math.cos(a)) or 1.0
                    ux, uy = math.sin(a), -math.cos(a)
                    cx, cy = w / 2, h / 2

                    def t(hx: float, hy: float) -> float:
                        return ((hx * w - cx) * ux + (hy * h - cy) * uy) / length + 0.5

                    start, end = t(handles[0].x, handles[0].y), t(handles[1].x, handles[1].y)
            cols = ",".join(
                f"{color_hex(s.color, p.opacity)}_"
                f"{fmt_num(100 * (start + s.position * (end - start)))}%"
                for s in stops
            )
            return f"bg-[linear-gradient({fmt_num(angle)}deg,{cols})]"
        cols = ",".join(
            f"{color_hex(s.color, p.opacity)}_{fmt_num(s.position * 100)}%" for s in stops
        )
        if p.type in ("GRADIENT_RADIAL", "GRADIENT_DIAMOND"):
            cx, cy = (handles[0].x, handles[0].y) if handles else (0.5, 0.5)
            if len(handles) >= 3:
                rx = math.hypot((handles[1].x - cx) * w, (handles[1].y - cy) * h)
                ry = math.hypot((handles[2].x - cx) * w, (handles[2].y - cy) * h)
                shape = f"ellipse_{px(rx)}_{px(ry)}"
            else:
                shape = "ellipse_farthest-corner"
            if p.type == "GRADIENT_DIAMOND":
                self.report(node, "fills", "diamond gradients are drawn as radial gradients")
            return (
                f"bg-[radial-gradient({shape}_at_{fmt_num(cx * 100)}%_{fmt_num(cy * 100)}%,{cols})]"
            )
        if p.type == "GRADIENT_ANGULAR":
            cx, cy = (handles[0].x, handles[0].y) if handles else (0.5, 0.5)
            return f"bg-[conic-gradient(at_{fmt_num(cx * 100)}%_{fmt_num(cy * 100)}%,{cols})]"
        return None

    def fills(self, node: Node) -> tuple[list[str], bool]:
        """Background classes for the whole paint stack (bottom to top). Returns (classes,
        has an image fill)."""
        paints = _visible_paints(node.fills)
        if not paints:
            return [], False
        is_image = any(p.type in ("IMAGE", "VIDEO") for p in paints)
        top = self._image_index(paints)
        if top is not None:  # the image and the paints above it: image_child draws them
            paints = paints[:top]
            if not paints:
                return [], is_image
        if (
            len(paints) == 1
            and paints[0].type == "SOLID"
            and (paints[0].blendMode or "NORMAL") in ("NORMAL", "PASS_THROUGH")
        ):
            return [self.color("bg", paints[0], node.styles.get("fill"))], False
        layers: list[str] = []  # CSS background layers, top first
        blends: list[str] = []
        for p in reversed(paints):
            if p.type == "SOLID" and p.color is not None:
                c = color_hex(p.color, p.opacity)
                layers.append(f"linear-gradient({c},{c})")
            elif p.type.startswith("GRADIENT"):
                g = self.gradient(p, node)
                if g:
                    layers.append(g[len("bg-[") : -1])
            elif p.type == "IMAGE" and p.imageRef in self.images:
                if p.scaleMode != "TILE":
                    continue  # drawn by a next/image child (image_child)
                layers.append(f"url({self.images[p.imageRef]['src']})")
            elif p.type in ("IMAGE", "VIDEO"):
                layers.append("linear-gradient(#d9d9d9,#d9d9d9)")
                if p.scaleMode in ("CROP", "TILE") or p.imageTransform:
                    self.report(
                        node,
                        "fills.image.scaleMode",
                        f"the image's {p.scaleMode or 'crop'} placement is not applied to "
                        "the placeholder",
                    )
                self.report(
                    node,
                    "fills.image",
                    "image fills are placeholders until the "
                    "image is downloaded (GET /v1/files/:key/images)",
                )
            blends.append(BLEND.get(p.blendMode or "", "normal"))
        single = (
            re.fullmatch(r"linear-gradient\((#[0-9a-f]+),\1\)", layers[0])
            if len(layers) == 1
            else None
        )
        if not layers:
            return [], is_image
        cls = [f"bg-[{single.group(1)}]"] if single else [f"bg-[{','.join(layers)}]"]
        tile = next(
            (p for p in paints if p.scaleMode == "TILE" and p.imageRef in self.images), None
        )
        if tile is not None and tile.imageRef is not None:  # tiles at the image's pixel size
            asset = self.images[tile.imageRef]
            iw, ih = asset.get("width"), asset.get("height")
            if isinstance(iw, int) and isinstance(ih, int):
                cls.append(f"[background-size:{px(iw)}_{px(ih)}]")
            else:
                self.report(
                    node,
                    "fills.image.scaleMode",
                    "the tiled image's size is unknown: tiles drawn at their own pixel size",
                )
        if any(b != "normal" for b in blends):
            cls.append(f"[background-blend-mode:{','.join(blends)}]")
        return cls, is_image

    def strokes(self, node: Node) -> list[str]:
        paints = _visible_paints(node.strokes)
        weight = node.strokeWeight or 0
        iw = node.individualStrokeWeights
        if not paints or (weight <= 0 and not iw) or node.type == "TEXT":
            return []
        top = paints[-1]
        if len(paints) > 1:
            self.report(node, "strokes", f"{len(paints)} stroke paints; the top one is drawn")
        if top.type != "SOLID":
            self.report(node, "strokes", f"{top.type} strokes are drawn in their first stop")
            col = top.gradientStops[0].color if top.gradientStops else None
            top = Paint(type="SOLID", color=col, opacity=top.opacity) if col else top
        color = self.color("border", top, node.styles.get("stroke"))
        style = "border-dashed" if node.strokeDashes else ""
        if node.type == "LINE":
            # a vertical divider: its left border (turned a quarter, or, in files without
            # rotation, a bounding box with height and no width)
            bb = node.absoluteBoundingBox
            upright = bb is not None and bb.width < 0.01 < bb.height
            side = "l" if _quarter_turn(node) or upright else "t"
            return [f"border-{side}-[{px(weight)}]", color, style]
        align = node.strokeAlign or "INSIDE"
        if iw and any(iw.values()):
            if align != "INSIDE":
                self.report(node, "strokeAlign", "one-sided strokes are drawn inside")
            out = []
            for side, key in (("t", "top"), ("r", "right"), ("b", "bottom"), ("l", "left")):
                if iw.get(key):
                    out.append(f"border-{side}-[{px(iw[key])}]")
            return [*out, color, style]
        if align == "INSIDE":
            return [f"border-[{px(weight)}]", color, style]
        # OUTSIDE and CENTER do not take layout space: an outline (CENTER: half inside)
        oc = color.replace("border-", "outline-", 1)
        offset = [] if align == "OUTSIDE" else [f"-outline-offset-[{px(weight / 2)}]"]
        return [
            f"outline-[{px(weight)}]",
            "outline-dashed" if style else "outline-solid",
            oc,
            *offset,
        ]

    def radii(self, node: Node) -> list[str]:
        if node.type == "ELLIPSE":
            return ["rounded-full"]
        if node.rectangleCornerRadii and any(node.rectangleCornerRadii):
            rs = node.rectangleCornerRadii
            if len(set(rs)) == 1:
                return [self.radius("rounded", rs[0])]
            return [
                self.radius(f"rounded-{c}", v)
                for c, v in zip(("tl", "tr", "br", "bl"), rs, strict=False)
                if v
            ]
        if node.cornerRadius:
            return [self.radius("rounded", node.cornerRadius)]
        return []

    def effects(self, node: Node) -> list[str]:
        cls: list[str] = []
        css = effect_css(node.effects)
        if css:
            key = self.lookup.shadow_by_style.get(
                node.styles.get("effect", "")
            ) or self.lookup.shadow_by_value.get(css)
            if node.type == "TEXT":
                cls.append(f"[text-shadow:{arb(css.replace(', ', ','))}]")
            else:
                cls.append(f"shadow-{key}" if key else f"shadow-[{arb(css.replace(', ', ','))}]")
        for e in node.effects:
            if e.visible and e.type == "LAYER_BLUR" and e.radius:
                cls.append(f"blur-[{px(e.radius / 2)}]")
            elif e.visible and e.type == "BACKGROUND_BLUR" and e.radius:
                cls.append(f"backdrop-blur-[{px(e.radius / 2)}]")
        return cls

    def common(self, node: Node) -> list[str]:
        cls: list[str] = []
        if node.opacity < 0.999:
            pct = 100 * max(node.opacity, 0)
            # Tailwind 4 takes any whole percentage (opacity-50); others stay arbitrary
            whole = abs(pct - round(pct)) < 1e-6
            cls.append(f"opacity-{round(pct)}" if whole else f"opacity-[{fmt_num(node.opacity)}]")
        blend = BLEND.get(node.blendMode or "")
        if blend:
            cls.append(f"mix-blend-{blend}")
        return cls

    # ---------------------------------------------------------------------------------- text
    def text_style(self, st: TypeStyle, node: Node, base: bool = True) -> list[str]:
        """Classes for a type style; ``base=False`` for a run override (only its set fields)."""
        cls: list[str] = []
        fields = st.model_fields_set if not base else None

        def has(name: str) -> bool:
            return fields is None or name in fields

        if has("fontFamily") and st.fontFamily:
            fam = self.lookup.family.get(st.fontFamily)
            clean = "".join(ch for ch in st.fontFamily if ch.isalnum() or ch in " -")
            if fam:
                cls.append(f"font-{fam}")
            elif clean:
                cls.append(f"font-['{arb(clean)}']")
        tkey = None
        if base:
            tkey = self.lookup.typo_by_style.get(
                node.styles.get("text", "")
            ) or self.lookup.typo_by_sig.get(typo_sig_key(st))
        if tkey:
            cls.append(f"text-{tkey}")
        else:
            if has("fontSize"):
                cls.append(f"text-[{px(st.fontSize)}]")
            if has("lineHeightPx") or has("lineHeightUnit"):
                lh = line_height(st)
                if lh == "normal":
                    cls.append("leading-normal")
                elif lh:
                    cls.append(f"leading-[{lh}]")
            if has("fontWeight"):
                w = int(st.fontWeight)
                cls.append(WEIGHTS.get(w, f"font-[{w}]"))
            if has("letterSpacing") and st.letterSpacing:
                cls.append(f"tracking-[{px(st.letterSpacing)}]")
        if has("italic") and st.italic:
            cls.append("italic")
        if has("textCase"):
            case = {
                "UPPER": "uppercase",
                "LOWER": "lowercase",
                "TITLE": "capitalize",
                "SMALL_CAPS": "[font-variant-caps:small-caps]",
                "SMALL_CAPS_FORCED": "[font-variant-caps:all-small-caps]",
            }.get(st.textCase or "")
            if case:
                cls.append(case)
        if has("textDecoration"):
            deco = {"UNDERLINE": "underline", "STRIKETHROUGH": "line-through"}.get(
                st.textDecoration or ""
            )
            if deco:
                cls.append(deco)
        if not base and st.fills is not None:
            paints = _visible_paints(st.fills)
            if paints and paints[-1].type == "SOLID":
                cls.append(self.color("text", paints[-1]))
        return cls

    def text(self, node: Node, parent: Node | None, root: bool, phrasing: bool) -> El:
        st = node.style or TypeStyle()
        cls = self.position(node, parent, root)
        cls += self.text_style(st, node)
        align = {"CENTER": "text-center", "RIGHT": "text-right", "JUSTIFIED": "text-justify"}.get(
            st.textAlignHorizontal or ""
        )
        if align:
            cls.append(align)
        auto = st.textAutoResize or "NONE"
        lines_max = st.maxLines if st.textTruncation == "ENDING" else None
        if st.textTruncation == "ENDING" and (lines_max or 0) <= 1 and auto != "HEIGHT":
            cls += ["truncate"]
        elif st.textTruncation == "ENDING" and lines_max:
            cls.append(f"line-clamp-{lines_max}" if lines_max <= 6 else f"line-clamp-[{lines_max}]")
        elif st.textTruncation == "ENDING":
            cls.append("truncate")
        elif auto == "WIDTH_AND_HEIGHT" and self.fluid_root:
            # one line at the design width, wrapping below it
            cls += ["whitespace-pre-wrap", "max-w-full"]
        elif auto == "WIDTH_AND_HEIGHT":
            cls.append("whitespace-pre")
        else:
            cls.append("whitespace-pre-wrap")
            if auto in ("NONE", "TRUNCATE") and st.textAlignVertical in ("CENTER", "BOTTOM"):
                cls += [
                    "flex",
                    "flex-col",
                    "justify-center" if st.textAlignVertical == "CENTER" else "justify-end",
                ]
        paints = _visible_paints(node.fills)
        if len(paints) == 1 and paints[0].type == "SOLID":
            cls.append(self.color("text", paints[0], node.styles.get("fill")))
        elif paints:
            g = [p for p in paints if p.type.startswith("GRADIENT")]
            if g:
                grad = self.gradient(g[-1], node)
                if grad:
                    cls += [grad, "bg-clip-text", "text-transparent"]
            solid = [p for p in paints if p.type == "SOLID"]
            if solid and not g:
                cls.append(self.color("text", solid[-1]))
                if len(solid) > 1:
                    self.report(node, "fills", "several text fills; the top one is used")
        strokes = _visible_paints(node.strokes)
        if strokes and (node.strokeWeight or 0) > 0 and strokes[-1].color is not None:
            c = color_hex(strokes[-1].color, strokes[-1].opacity)
            cls.append(f"[-webkit-text-stroke:{px(node.strokeWeight or 0)}_{c}]")
        cls += self.effects(node) + self.common(node)

        ref = (node.componentPropertyReferences or {}).get("characters")
        prop = self.props.get(ref) if ref else None
        tag = "span" if phrasing else "p"
        style_name = ""
        sid = node.styles.get("text")
        if sid and sid in self.spec.styles:
            style_name = self.spec.styles[sid].name
        m = HEADING.search(style_name) or (HEADING.search(node.name) if not phrasing else None)
        if m and not phrasing:
            tag = f"h{m.group(1)}" if m.group(1) else "h2"
        el = El(tag=tag, node=node.id, name=node.name, kind="TEXT", cls=cls)
        if prop is not None and prop.kind == "text":
            self.used_props.add(prop.key)
            el.children = [Txt(text=str(prop.default or ""), expr=prop.ident)]
            return el
        chars = node.characters or ""
        for k, v in SOFT_BREAKS.items():
            chars = chars.replace(k, v)
        list_types = node.lineTypes or []
        if any(t in ("ORDERED", "UNORDERED") for t in list_types) and not phrasing:
            return self.list_text(el, node, chars)
        el.children = self.runs(node, chars, 0)
        return el

    def runs(self, node: Node, chars: str, offset: int) -> list[El | Txt]:
        """Styled runs (``characterStyleOverrides`` + ``styleOverrideTable``) as spans; a
        hyperlink run becomes an ``a``."""
        overrides = node.characterStyleOverrides or []
        table = node.styleOverrideTable or {}
        if not overrides or not table:
            return [Txt(text=chars)]
        out: list[El | Txt] = []
        i = 0
        while i < len(chars):
            key = overrides[offset + i] if offset + i < len(overrides) else 0
            j = i
            while (
                j < len(chars)
                and (overrides[offset + j] if offset + j < len(overrides) else 0) == key
            ):
                j += 1
            piece = chars[i:j]
            st = table.get(str(key))
            if key == 0 or st is None:
                out.append(Txt(text=piece))
            else:
                base_cls = set(self.text_style(node.style or TypeStyle(), node))
                rcls = [c for c in self.text_style(st, node, base=False) if c not in base_cls]
                link = st.hyperlink.url if st.hyperlink and st.hyperlink.type == "URL" else None
                tag = (
                    "a"
                    if link
                    else (
                        "strong"
                        if "font-bold" in rcls or "font-extrabold" in rcls or "font-black" in rcls
                        else ("em" if rcls == ["italic"] else "span")
                    )
                )
                run = El(tag=tag, cls=rcls, children=[Txt(text=piece)], kind="RUN")
                if link:
                    run.attrs["href"] = js_str(link)
                    self.semantics.add("link")
                out.append(run)
            i = j
        return out

    def list_text(self, el: El, node: Node, chars: str) -> El:
        """List text (``lineTypes``/``lineIndentations``): ``ul``/``ol`` with ``li`` per line."""
        lines = chars.split("\n")
        types = node.lineTypes or []
        ordered = sum(1 for t in types if t == "ORDERED") > sum(
            1 for t in types if t == "UNORDERED"
        )
        tag = "ol" if ordered else "ul"
        el.tag = tag
        el.cls += ["list-decimal" if ordered else "list-disc", "list-inside"]
        offset = 0
        for n, line in enumerate(lines):
            indent = node.lineIndentations[n] if n < len(node.lineIndentations) else 0
            li = El(
                tag="li",
                cls=[f"ml-[{px(24 * max(indent - 1, 0))}]"] if indent > 1 else [],
                children=self.runs(node, line, offset),
                kind="LIST_ITEM",
            )
            if n < len(types) and types[n] == "NONE":
                li.cls.append("list-none")
            el.children.append(li)
            offset += len(line) + 1
        return el

    # -------------------------------------------------------------------------------- images
    def _image_index(self, paints: list[Paint]) -> int | None:
        """Index of the topmost downloaded image paint drawn by next/image (not TILE)."""
        for i in range(len(paints) - 1, -1, -1):
            p = paints[i]
            if p.type == "IMAGE" and p.imageRef in self.images and p.scaleMode != "TILE":
                return i
        return None

    def image_overlay(self, node: Node) -> El | None:
        """The paints above the drawn image (a tint, a gradient) as a layer over it."""
        paints = _visible_paints(node.fills)
        top = self._image_index(paints)
        if top is None or top == len(paints) - 1:
            return None
        above, _ = self.fills(node.model_copy(update={"fills": paints[top + 1 :], "styles": {}}))
        if not above:
            return None
        return El(
            tag="span",
            kind="IMAGE",
            cls=["absolute", "inset-0", "-z-10", "block", *above, *self.radii(node)],
        )

    def image_child(self, node: Node, el_cls: list[str]) -> El | None:
        """A ``next/image`` filling ``node`` for its topmost downloaded image fill (FILL: cover,
        FIT: contain, STRETCH/CROP: stretched over the box ``imageTransform`` gives, in a
        clipping wrapper; TILE is a background, see ``fills``); ``el_cls`` gets ``relative
        isolate`` so that the image (``-z-10``) sits above the node's background and below its
        children. None: no image."""
        paint = next(
            (
                p
                for p in reversed(_visible_paints(node.fills))
                if p.type == "IMAGE" and p.imageRef in self.images and p.scaleMode != "TILE"
            ),
            None,
        )
        if paint is None or paint.imageRef is None:
            return None
        w, _h = _size(node)
        mode = paint.scaleMode or "FILL"
        fit = {"FIT": "object-contain", "STRETCH": "object-fill", "CROP": "object-fill"}
        cls = ["-z-10", fit.get(mode, "object-cover"), *self.radii(node)]
        if paint.opacity < 0.999:
            cls.append(f"opacity-[{fmt_num(paint.opacity)}]")
        attrs: dict[str, str | bool] = {
            "src": js_str(str(self.images[paint.imageRef]["src"])),
            "alt": js_str(" ".join(node.name.split()) or "image"),
            "fill": True,
            "sizes": js_str(f"{fmt_num(w)}px" if w > 0 else "100vw"),
        }
        if not any(c in ("absolute", "fixed", "sticky", "relative") for c in el_cls):
            el_cls.append("relative")
        el_cls.append("isolate")
        self.imports.add("next/image")
        image = El(tag="NextImage", name=node.name, kind="IMAGE", cls=cls, attrs=attrs)
        tf = paint.imageTransform
        if mode not in ("STRETCH", "CROP") or not tf or len(tf) != 2 or len(tf[0]) != 3:
            return image
        (a, b, tx), (c, d, ty) = tf[0], tf[1]
        if abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
            self.report(
                node,
                "fills.image.imageTransform",
                "the image's rotation or skew is not applied (stretched over the box)",
            )
            return image
        # imageTransform maps the box (0..1) into the image (0..1): the image spans 1/a box
        # widths, starting tx/a of them to the left; next/image's fill cannot be resized, so a
        # clipping wrapper holds a box of that size and place
        box = {"left": -tx / a * 100, "top": -ty / d * 100, "width": 100 / a, "height": 100 / d}
        style = ", ".join(f'{k}: "{fmt_num(round(v, 3))}%"' for k, v in box.items())
        image.cls = [c for c in image.cls if c != "-z-10"]
        crop = El(
            tag="span",
            cls=["absolute", "block"],
            attrs={"style": "{{ " + style + " }}"},
            children=[image],
        )
        return El(
            tag="span",
            name=node.name,
            kind="IMAGE",
            cls=["absolute", "inset-0", "-z-10", "block", "overflow-hidden", *self.radii(node)],
            children=[crop],
        )

    # -------------------------------------------------------------------------------- vectors
    def vector(self, node: Node, cls: list[str], phrasing: bool = False) -> El:
        bb = node.absoluteBoundingBox
        geom = node.fillGeometry or []
        strokes = node.strokeGeometry or []
        w, h = _size(node)
        if (geom or strokes) and w > 0 and h > 0:
            paints = _visible_paints(node.fills)
            spaints = _visible_paints(node.strokes)
            scol = (
                color_hex(spaints[-1].color, spaints[-1].opacity)
                if spaints and spaints[-1].color
                else None
            )
            # the fill is the svg's text colour (fill="currentColor"): a class, so a state
            # variant's colour (group-hover:text-...) reaches the paths like any other colour
            fill = "currentColor"
            colour = ""
            if paints and paints[-1].color:
                colour = self.color("text", paints[-1])
            elif not paints and spaints and spaints[-1].color and geom == []:
                colour = self.color("text", spaints[-1])
                scol = "currentColor"
            parts = [
                f"<path d={js_str(g.path)} fill={js_str(fill)}"
                + (' fillRule="evenodd"' if g.windingRule == "EVENODD" else "")
                + " />"
                for g in geom[:200]
            ]
            if scol:
                parts += [f"<path d={js_str(g.path)} fill={js_str(scol)} />" for g in strokes[:200]]
            svg_cls = [c for c in cls if not c.startswith(("bg-", "border", "outline"))]
            if colour:
                svg_cls = [c for c in svg_cls if not c.startswith("text-")] + [colour]
            return El(
                tag="svg",
                node=node.id,
                name=node.name,
                kind=node.type,
                cls=svg_cls,
                attrs={
                    "width": js_str(fmt_num(w)),
                    "height": js_str(fmt_num(h)),
                    "viewBox": js_str(f"0 0 {fmt_num(w)} {fmt_num(h)}"),
                    "aria-hidden": '"true"',
                },
                raw="".join(parts),
            )
        tag = "span" if phrasing else "div"
        if node.type != "LINE" and bb is not None:
            self.report(
                node,
                "fillGeometry",
                "vector without geometry (fetch the file with "
                "geometry=paths): drawn as a box of its size",
            )
        return El(
            tag=tag,
            node=node.id,
            name=node.name,
            kind=node.type,
            cls=cls,
            attrs={"aria-hidden": '"true"'},
        )

    # -------------------------------------------------------------------------------- nodes
    def lower(
        self,
        node: Node,
        parent: Node | None = None,
        *,
        root: bool = False,
        phrasing: bool = False,
        depth: int = 0,
        in_control: bool = False,
    ) -> El | None:
        """Lower ``node``; None when it renders nothing (hidden, a mask source, a slice)."""
        if depth > MAX_DEPTH:
            raise StageError(
                "DesignTooDeep",
                f"node {node.id} ({node.name[:40]!r}) is nested more than {MAX_DEPTH} levels deep",
            )
        bool_ref = (node.componentPropertyReferences or {}).get("visible")
        bool_prop = self.props.get(bool_ref) if bool_ref else None
        toggled = bool_prop is not None and bool_prop.kind == "boolean" and not root
        if not node.visible and not toggled:
            return None
        if node.type in NOT_RENDERED:
            self.report(node, "type", NOT_RENDERED[node.type])
            return None
        if node.isMask:
            return None  # applied by the parent (see mask())
        if not root and is_annotation(node.name):
            self.report(
                node,
                "visible",
                "a designer's annotation layer (name starts with '_' or 'Redlines'): "
                "hidden by convention, not drawn",
            )
            return None
        self.nodes += 1
        el = self._lower(
            node, parent, root=root, phrasing=phrasing, depth=depth, in_control=in_control
        )
        if root and el is not None:
            prefixes = tuple(p for p in (self.narrow(), "@max-sm:") if p)
            queried = any(c.startswith(prefixes) for e in el.walk() for c in e.cls)
            if "@container" in el.cls and not queried:
                el.cls.remove("@container")  # no layer asks for the component's width
            elif queried and "@container" not in el.cls:
                el.cls.insert(0, "@container")
        swap_ref = (node.componentPropertyReferences or {}).get("mainComponent")
        swap = self.props.get(swap_ref) if swap_ref else None
        if el is not None and swap is not None and swap.kind == "slot" and not root:
            self.used_props.add(swap.key)
            el.slot = swap.ident
        if el is not None and toggled and bool_prop is not None:
            self.used_props.add(bool_prop.key)
            el.cond = bool_prop.ident
        return el

    def _lower(
        self,
        node: Node,
        parent: Node | None,
        *,
        root: bool,
        phrasing: bool,
        depth: int,
        in_control: bool,
    ) -> El | None:
        if node.type == "TEXT":
            return self.text(node, parent, root, phrasing)
        if node.type == "TABLE" and not phrasing:
            return self.table(node, parent, root, depth)
        if node.type in FIGJAM_TEXT_TYPES or node.type == "CONNECTOR":
            return self.figjam(node, parent, root, phrasing)
        if node.type == "INSTANCE" and not root:
            used = self.instance(node, parent)
            if used is not None:
                return used
        only = self._no_op_wrapper(node, parent, root)
        if only is not None:
            # a frame that draws nothing and only holds one child of its own box: the child alone
            return self.lower(
                only, parent, phrasing=phrasing, depth=depth + 1, in_control=in_control
            )
        cls = self.position(node, parent, root)
        fills, is_image = self.fills(node)
        visual = (
            fills + self.strokes(node) + self.radii(node) + self.effects(node) + self.common(node)
        )
        if node.type in VECTOR_TYPES:
            return self.vector(node, cls + visual, phrasing)
        if node.type in SHAPE_TYPES and not node.children:
            el = El(
                tag="span" if phrasing else "div",
                node=node.id,
                name=node.name,
                kind=node.type,
                cls=cls + visual,
            )
            img = self.image_child(node, el.cls)
            if img is not None:
                over = self.image_overlay(node)
                el.children = [img, over] if over is not None else [img]
            elif is_image:
                el.attrs["role"] = '"img"'
                el.attrs["aria-label"] = js_str(" ".join(node.name.split()) or "image")
            return el
        if node.type not in CONTAINER_TYPES and node.type not in SHAPE_TYPES:
            self.report(
                node,
                "type",
                f"{node.type} is not a known node type: drawn as a box with its children",
            )
        # containers
        layout = self.own_layout(node)
        negative_gap = _negative_gap(node)
        kids = [c for c in node.children]
        flow = self.stack(node) if self.fluid_root and node.layoutMode is None else None
        if flow is not None:
            # a flex container at every width: the first child in its flow sits by its
            # margins; the others are absolute at the design width, in the flow below it
            layout = flow
        # placed absolutely: children of a parent that is not stacked, and those of a stacked
        # parent placed as in Figma at the design width (not when they flow at every width)
        placed_kids = node.id not in self.flow or (
            bool(self.design_width) and node.id not in self.flow_everywhere
        )
        absolute_kids = placed_kids and any(
            not (node.layoutMode in (*AUTO_LAYOUT, "GRID") and c.layoutPositioning != "ABSOLUTE")
            for c in kids
            if c.visible
        )
        if (absolute_kids or negative_gap) and "absolute" not in cls:
            cls.append("relative")
        if node.clipsContent and node.type != "GROUP":
            cls.append("overflow-hidden")
        tag = "span" if phrasing else "div"
        kind = (
            None
            if in_control or phrasing
            else semantic_kind(self.root_name if root and self.root_name else node.name)
        )
        if kind == "button" and self._is_control(node, 30):
            tag = "button"
            self.semantics.add("button")
        elif kind == "input" and node.type in INPUT_TYPES and self._is_control(node, 12):
            self.semantics.add("input")
        elif kind == "link" and self._is_control(node, 8):
            tag = "a"
            self.semantics.add("link")
        else:
            kind = None
        if node.type == "SECTION" and node.name.strip():
            self.report(
                node, "name", "a section's title is Figma's canvas label, not content: not drawn"
            )
        if node.type == "SECTION" and not root:
            tag = "section"
        el = El(tag=tag, node=node.id, name=node.name, kind=node.type, cls=cls + layout + visual)
        if tag == "button":
            el.attrs["type"] = '"button"'
        if tag == "a":
            url = self._link_url(node)
            if url is None:
                self.report(
                    node,
                    "hyperlink",
                    'a layer named like a link without a destination in the design: href="/"',
                )
            el.attrs["href"] = js_str(url or "/")
            if not url or url.startswith("/"):
                el.tag = "Link"  # a page of the app: next/link (client-side navigation)
                self.imports.add("Link")
        img = self.image_child(node, el.cls)
        if is_image and img is None and not any(c.visible for c in kids):
            el.attrs["role"] = '"img"'
            el.attrs["aria-label"] = js_str(" ".join(node.name.split()) or "image")
        child_phrasing = phrasing or tag in ("button", "a")
        mask_idx = next((i for i, c in enumerate(kids) if c.isMask and c.visible), None)
        rendered: list[El] = []
        for i, c in enumerate(kids):
            if mask_idx is not None and i > mask_idx:
                break  # masked siblings are rendered inside the mask wrapper below
            child = self.lower(
                c,
                node,
                phrasing=child_phrasing,
                depth=depth + 1,
                in_control=in_control or kind is not None,
            )
            if child is not None:
                rendered.append(child)
        if mask_idx is not None:
            rendered.append(
                self.mask(node, kids[mask_idx], kids[mask_idx + 1 :], child_phrasing, depth)
            )
        if negative_gap and rendered:
            row = node.layoutMode == "HORIZONTAL"
            for child in rendered[1:]:
                child.cls.append(self.space("ml" if row else "mt", negative_gap))
        if kind == "input":
            return self.input_control(el, node)
        over = self.image_overlay(node) if img is not None else None
        layers: list[El | Txt] = [x for x in (img, over) if x is not None]
        el.children = layers + list(rendered)
        return el

    def _no_op_wrapper(self, node: Node, parent: Node | None, root: bool) -> Node | None:
        """The child that stands in for ``node`` when ``node`` is a wrapper that draws nothing:
        a FRAME or GROUP (not the root) with no visible paint, effect, padding, clipping,
        opacity, blend, rotation, min/max size, property reference or semantic name, whose only
        child (visible, not a mask, not rotated, not bound to a property) has the same box. The
        child takes the wrapper's place: its sizing in the wrapper's parent is the wrapper's
        (a hugging wrapper passes on the child's own), so the page is the same with one element
        fewer (HTML-capture plugins nest dozens of such frames). None when ``node`` is kept."""
        if root or parent is None or node.type not in ("FRAME", "GROUP") or len(node.children) != 1:
            return None
        (child,) = node.children
        bb, cbb = node.absoluteBoundingBox, child.absoluteBoundingBox
        if (
            bb is None
            or cbb is None
            or not child.visible
            or child.isMask
            or child.type in ("TEXT", *FIGJAM_TEXT_TYPES, "CONNECTOR")
            or child.layoutPositioning == "ABSOLUTE"
            or node.componentPropertyReferences
            or child.componentPropertyReferences
            or _visible_paints(node.fills)
            or _visible_paints(node.strokes)
            or any(e.visible for e in node.effects)
            or node.clipsContent
            or node.opacity < 1
            or (node.blendMode or "PASS_THROUGH") not in ("PASS_THROUGH", "NORMAL")
            or node.rotation
            or child.rotation
            or any((node.paddingLeft, node.paddingRight, node.paddingTop, node.paddingBottom))
            or any(
                v is not None and v > 0
                for v in (node.minWidth, node.maxWidth, node.minHeight, node.maxHeight)
            )
            or semantic_kind(node.name) is not None
            or max(
                abs(bb.x - cbb.x),
                abs(bb.y - cbb.y),
                abs(bb.width - cbb.width),
                abs(bb.height - cbb.height),
            )
            > 0.5
        ):
            return None
        wh, wv = self.sizing(node, parent)
        ch, cv = self.sizing(child, node)

        def mode(wrapper: str, own: str) -> str:
            if wrapper != "HUG":
                return wrapper
            return "FIXED" if own == "FILL" else own

        merged = child.model_copy(
            update={
                "layoutSizingHorizontal": mode(wh, ch),
                "layoutSizingVertical": mode(wv, cv),
                **{
                    f: getattr(node, f)
                    for f in (
                        "layoutAlign",
                        "layoutGrow",
                        "layoutPositioning",
                        "constraints",
                        "gridColumnSpan",
                        "gridRowSpan",
                        "gridColumnAnchorIndex",
                        "gridRowAnchorIndex",
                        "gridChildHorizontalAlign",
                        "gridChildVerticalAlign",
                    )
                },
            }
        )
        placed = self.flow.get(parent.id)
        if placed is not None and node.id in placed:
            placed[child.id] = placed[node.id]
        return merged

    def instance(self, node: Node, parent: Node | None) -> El | None:
        """An INSTANCE of a component generated in this project becomes that component with
        its property values, when every override is one its properties express; else None
        (the instance is inlined)."""
        target = self.targets.get(node.componentId or "")
        if target is None or target.ident == self.component:
            return None
        refs: dict[str, set[str]] = {}
        stack = list(node.children)
        while stack:
            n = stack.pop()
            refs[n.id] = set((n.componentPropertyReferences or {}).keys())
            stack.extend(n.children)
        if node.overrides is None and not self._same_as_main(node, target):
            return None  # an older file without `overrides`: changed content is inlined
        for ov in node.overrides or []:
            allowed = REUSE_COVERED | refs.get(ov.id, set())
            if ov.id == node.id:
                allowed = allowed | {"componentProperties"}
            if any(f not in allowed for f in ov.overriddenFields):
                return None
        attrs: dict[str, str | bool] = {}
        values = dict(target.values)
        for key, cp in (node.componentProperties or {}).items():
            if cp.type == "VARIANT":
                values[key] = str(cp.value)
                continue
            spec = target.props.get(key)
            if spec is None:
                continue
            ident, _ = spec
            if cp.type == "BOOLEAN":
                code = "true" if cp.value else "false"
            elif cp.type == "TEXT":
                code = js_str(str(cp.value))
            else:
                return None  # an instance swap: inline it
            if target.defaults.get(ident) != code:
                attrs[ident] = True if code == "true" else ("{false}" if code == "false" else code)
        for name, option in values.items():
            spec = target.props.get(name)
            if spec is None or spec[1] is None:
                continue
            ident, codes = spec
            found = codes.get(option) if codes is not None else None
            if found is None:
                return None
            code = found
            if target.defaults.get(ident) != code:
                attrs[ident] = (
                    True
                    if code == "true"
                    else (
                        "{false}"
                        if code == "false"
                        else code
                        if code.startswith('"')
                        else "{" + code + "}"
                    )
                )
        cls = self.position(node, parent, False)
        self.imports.add(target.ident)
        el = El(tag=target.ident, node=node.id, name=node.name, kind="INSTANCE", cls=cls)
        if cls:
            el.attrs["className"] = js_str(" ".join(dict.fromkeys(cls)))
            el.cls = []
        el.attrs.update(attrs)
        return el

    def _same_as_main(self, inst: Node, target: InstanceTarget) -> bool:
        """Whether an instance shows its main component's content (texts, visibility, fills of
        the layers bound to no property), compared layer by layer; for files whose instances
        carry no ``overrides`` list. Sizes may differ (the instance is placed by className)."""
        main = self.index.get(inst.componentId or "")
        if main is None:
            return False
        stack = [(inst, main)]
        while stack:
            a, b = stack.pop()
            refs = set((a.componentPropertyReferences or {}).keys())
            if a is not inst:
                if "visible" not in refs and a.visible != b.visible:
                    return False
                if "characters" not in refs and (a.characters or "") != (b.characters or ""):
                    return False
                if a.fills != b.fills or a.strokes != b.strokes:
                    return False
            if len(a.children) != len(b.children):
                return False
            stack.extend(zip(a.children, b.children, strict=True))
        return True

    def _link_url(self, node: Node) -> str | None:
        stack = list(node.children)
        while stack:
            n = stack.pop()
            link = n.style.hyperlink if n.style is not None else None
            if link is not None and link.type == "URL" and link.url:
                return link.url
            stack.extend(n.children)
        return None

    def _is_control(self, node: Node, max_nodes: int) -> bool:
        stack, count, texts = list(node.children), 0, 0
        while stack:
            n = stack.pop()
            if not n.visible or is_annotation(n.name):
                continue
            count += 1
            texts += n.type == "TEXT"
            if n.type != "TEXT" and semantic_kind(n.name) in ("button", "input", "link"):
                return False
            stack.extend(n.children)
        return 0 < texts <= 3 and count <= max_nodes

    def input_control(self, el: El, node: Node) -> El:
        """A text field: the box becomes a labelled ``input`` (its last text the placeholder)."""
        texts: list[Node] = []
        stack = list(reversed(node.children))
        while stack:
            n = stack.pop()
            if not n.visible or is_annotation(n.name):
                continue
            if n.type == "TEXT":
                texts.append(n)
            stack.extend(reversed(n.children))
        placeholder = " ".join((texts[-1].characters or "").split()) if texts else ""
        label = (
            " ".join((texts[0].characters or "").split())
            if len(texts) > 1
            else (placeholder or " ".join(node.name.split()) or "input")
        )
        el.tag = "input"
        el.attrs = {"aria-label": js_str(label)}
        if placeholder:
            el.attrs["placeholder"] = js_str(placeholder)
        if texts and texts[-1].style is not None:
            el.cls += self.text_style(texts[-1].style, texts[-1])
            paints = _visible_paints(texts[-1].fills)
            if paints and paints[-1].type == "SOLID":
                el.cls.append(self.color("placeholder:text", paints[-1]))
        el.cls = [c for c in el.cls if not c.startswith(("flex", "items-", "justify-", "gap-"))]
        el.children = []
        stack = list(node.children)
        while stack:
            n = stack.pop()
            if not n.visible or is_annotation(n.name):
                continue  # hidden layers are not drawn anyway; annotations are reported
            if n.type != "TEXT":
                self.report(
                    n,
                    "children",
                    "a layer inside a text field: the field is an input "
                    "element with its own box and text, inner layers are not drawn",
                )
            stack.extend(n.children)
        for t in texts[:-1] if len(texts) > 1 else []:
            self.report(t, "characters", f"shown as the input's accessible name {label!r}")
        return el

    def mask(self, parent: Node, mask: Node, masked: list[Node], phrasing: bool, depth: int) -> El:
        """A mask layer clips the siblings above it: a wrapper the mask's size and shape."""
        cls = self.position(mask, parent, False)
        cls = [c for c in cls if not c.startswith("rotate")]
        cls += ["overflow-hidden", *self.radii(mask)]
        if mask.type not in SHAPE_TYPES and mask.type not in ("FRAME", "GROUP"):
            if mask.fillGeometry:
                cls.append("[clip-path:inset(0)]")
            self.report(mask, "isMask", f"a {mask.type} mask is applied as its bounding box")
        if mask.maskType == "LUMINANCE":
            self.report(mask, "maskType", "luminance masks are applied as alpha (shape) masks")
        wrapper = El(
            tag="span" if phrasing else "div", node=mask.id, name=mask.name, kind="MASK", cls=cls
        )
        mbb = mask.absoluteBoundingBox
        for c in masked:
            child = self.lower(c, mask if mbb else parent, phrasing=phrasing, depth=depth + 1)
            if child is not None:
                if "absolute" not in child.cls:
                    child.cls.insert(0, "absolute")
                wrapper.children.append(child)
        return wrapper

    def table(self, node: Node, parent: Node | None, root: bool, depth: int) -> El:
        """A FigJam TABLE: a ``<table>`` whose rows are its TABLE_CELLs grouped by their top
        edge (the REST API lists the cells without row or column indices), in reading order.
        A first row whose cells are all bolder than the rest is the header (``<th scope="col">``).
        Cells keep their Figma width and height; the table is as wide as its columns."""
        cls = self.position(node, parent, root)
        cls = [c for c in cls if not c.startswith(("h-[", "min-h-["))]  # rows give the height
        fills, _ = self.fills(node)
        cls += ["table-fixed", "border-collapse", *fills, *self.strokes(node), *self.common(node)]
        rows: dict[float, list[Node]] = {}
        for c in node.children:
            bb = c.absoluteBoundingBox
            rows.setdefault(round(bb.y) if bb else 0.0, []).append(c)
        ordered = [
            sorted(r, key=lambda c: c.absoluteBoundingBox.x if c.absoluteBoundingBox else 0.0)
            for _, r in sorted(rows.items())
        ]

        def weight(c: Node) -> float:
            return (c.style.fontWeight if c.style else None) or 400

        head = (
            len(ordered) > 1
            and all(c.type == "TABLE_CELL" for c in ordered[0])
            and min(weight(c) for c in ordered[0]) > max(weight(c) for r in ordered[1:] for c in r)
        )
        trs: list[El | Txt] = []
        for i, r in enumerate(ordered):
            tr = El(tag="tr")
            for c in r:
                cell = self.lower(c, node, depth=depth + 1)
                if cell is None:
                    continue
                w, h = _size(c)
                cell.tag = "th" if head and i == 0 else "td"
                if cell.tag == "th":
                    cell.attrs["scope"] = '"col"'
                cell.cls = [
                    f"w-[{px(w)}]",
                    f"h-[{px(h)}]",
                    "align-top",
                    "text-left",
                    *[k for k in cell.cls if not k.startswith(POSITION_PREFIXES)],
                ]
                tr.children.append(cell)
            trs.append(tr)
        sections: list[El | Txt] = []
        if head:
            sections.append(El(tag="thead", children=trs[:1]))
            trs = trs[1:]
        sections.append(El(tag="tbody", children=trs))
        return El(
            tag="table", node=node.id, name=node.name, kind=node.type, cls=cls, children=sections
        )

    def figjam(self, node: Node, parent: Node | None, root: bool, phrasing: bool) -> El:
        """STICKY, SHAPE_WITH_TEXT, TABLE_CELL and CONNECTOR labels: a box with its text."""
        cls = self.position(node, parent, root)
        fills, _ = self.fills(node)
        cls += fills + self.strokes(node) + self.radii(node) + self.effects(node)
        st = node.style or TypeStyle()
        if node.type == "STICKY" and node.authorVisible:
            self.report(node, "authorVisible", "the sticky's author name is not in the file")
        if node.type == "STICKY":
            cls += ["p-[24px]", "shadow-[0_1px_3px_#0000001f]"]
        elif node.type == "SHAPE_WITH_TEXT":
            cls += ["flex", "items-center", "justify-center", "p-[12px]", "text-center"]
            if node.shapeType in ("ELLIPSE",):
                cls.append("rounded-full")
            elif node.shapeType and node.shapeType not in ("SQUARE", "ROUNDED_RECTANGLE"):
                self.report(node, "shapeType", f"the {node.shapeType} outline is drawn as a box")
        elif node.type == "TABLE_CELL":
            cls += ["p-[8px]"]
        elif node.type == "CONNECTOR":
            self.report(node, "connector", "the connector line is not drawn; its label is")
            cls = [c for c in cls if not c.startswith(("border", "outline", "bg-"))]
            cls += ["flex", "items-center", "justify-center"]
        text_cls = self.text_style(st, node)
        text_fill = [p for p in _visible_paints(node.fills)] if node.type == "CONNECTOR" else []
        if text_fill and text_fill[-1].color is not None:
            text_cls.append(self.color("text", text_fill[-1]))
        chars = node.characters or ""
        el = El(
            tag="span" if phrasing else "div", node=node.id, name=node.name, kind=node.type, cls=cls
        )
        if chars:
            el.children = [
                El(
                    tag="span" if phrasing else "p",
                    cls=[*text_cls, "whitespace-pre-wrap"],
                    children=self.runs(node, chars, 0),
                    kind="TEXT",
                )
            ]
        return el
