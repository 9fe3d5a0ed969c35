"""Design tokens (W3C DTCG format) from styles and repeated values, and the Tailwind theme.

Token groups: color, typography, fontFamily, spacing, radius, shadow. Every token carries
``$extensions["com.pf-figma"]`` with the Tailwind theme key it maps to (and the Figma style id
when it came from a named style), so the generator can map values back to theme keys.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .analyze import DesignSpec, _walk
from .figma_models import Color, Effect, Node, Paint, TypeStyle
from .names import UniqueNames, slug

EXT = "com.pf-figma"
MAX_AUTO_COLORS = 48
MAX_AUTO_TYPO = 24
MAX_AUTO_SPACING = 24
MAX_AUTO_RADII = 12
MAX_AUTO_SHADOWS = 12


def fmt_num(v: float) -> str:
    """Compact number: 8.0 -> '8', 0.125 -> '0.125'."""
    if not math.isfinite(v):
        return "0"
    r = round(v, 3)
    if r == int(r):
        return str(int(r))
    return f"{r:.3f}".rstrip("0").rstrip(".")


def px(v: float) -> str:
    return f"{fmt_num(v)}px"


def color_hex(c: Color, opacity: float = 1.0) -> str:
    def ch(x: float) -> int:
        return max(0, min(255, round(x * 255)))

    a = max(0.0, min(1.0, c.a * opacity))
    base = f"#{ch(c.r):02x}{ch(c.g):02x}{ch(c.b):02x}"
    return base if a >= 0.999 else base + f"{ch(a):02x}"


def solid_fill(paints: list[Paint]) -> Paint | None:
    """The topmost visible paint (Figma paints are bottom-to-top)."""
    for p in reversed(paints):
        if p.visible and p.opacity > 0:
            return p
    return None


def effect_css(effects: list[Effect]) -> str | None:
    parts = []
    for e in effects:
        if not e.visible or e.type not in ("DROP_SHADOW", "INNER_SHADOW"):
            continue
        off = e.offset or None
        x, y = (off.x, off.y) if off else (0.0, 0.0)
        col = color_hex(e.color) if e.color else "#00000040"
        inset = "inset " if e.type == "INNER_SHADOW" else ""
        parts.append(f"{inset}{px(x)} {px(y)} {px(e.radius)} {px(e.spread)} {col}")
    return ", ".join(parts) if parts else None


def line_height(style: TypeStyle) -> str | None:
    """CSS line-height for a Figma type style.

    PIXELS -> px; FONT_SIZE_% -> unitless ratio of the font size; INTRINSIC_% (Figma's 'Auto')
    -> normal. Figma's ``lineHeightPercent`` is relative to the *intrinsic* height and must not
    be used as a CSS percentage.
    """
    unit = style.lineHeightUnit
    if unit == "INTRINSIC_%":
        return "normal"
    if unit == "FONT_SIZE_%" and style.lineHeightPercentFontSize:
        return fmt_num(style.lineHeightPercentFontSize / 100)
    if style.lineHeightPx:
        return px(style.lineHeightPx)
    return None


def typo_signature(style: TypeStyle) -> tuple[str, str, int, str | None, str]:
    return (style.fontFamily or "", fmt_num(style.fontSize), int(style.fontWeight),
            line_height(style), fmt_num(style.letterSpacing))


@dataclass
class TokenSet:
    dtcg: dict[str, Any] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)  # tailwind key -> value
    font_family: dict[str, list[str]] = field(default_factory=dict)
    font_size: dict[str, Any] = field(default_factory=dict)
    spacing: dict[str, str] = field(default_factory=dict)
    radius: dict[str, str] = field(default_factory=dict)
    shadow: dict[str, str] = field(default_factory=dict)
    # CSS selector ('[data-theme="dark"], .dark') -> CSS variable -> value, for variable modes
    modes: dict[str, dict[str, str]] = field(default_factory=dict)
    count: int = 0

    def css_variables(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs of the Tailwind CSS 4 theme variables, in a stable order."""
        out: list[tuple[str, str]] = []
        for k, v in self.colors.items():
            out.append((f"--color-{k}", v))
        for k, fam in self.font_family.items():
            out.append((f"--font-{k}", ", ".join(fam)))
        for k, fs in self.font_size.items():
            size, extra = (fs[0], fs[1]) if isinstance(fs, list | tuple) else (fs, {})
            out.append((f"--text-{k}", str(size)))
            for prop, suffix in (("lineHeight", "line-height"),
                                 ("letterSpacing", "letter-spacing"),
                                 ("fontWeight", "font-weight")):
                if prop in extra:
                    out.append((f"--text-{k}--{suffix}", str(extra[prop])))
        for k, v in self.spacing.items():
            out.append((f"--spacing-{k}", v))
        for k, v in self.radius.items():
            out.append((f"--radius-{k}", v))
        for k, v in self.shadow.items():
            out.append((f"--shadow-{k}", v))
        return out

    def theme_css(self) -> str:
        """The Tailwind CSS 4 ``@theme`` block, then one block per non-default variable mode.

        ``bg-<key>``/``text-<key>``/``border-<key>`` come from ``--color-*``, ``font-<key>`` from
        ``--font-*``, ``text-<key>`` (size, line height, weight) from ``--text-*``,
        ``gap-<key>``/``p-<key>`` from ``--spacing-*``, ``rounded-<key>`` from ``--radius-*`` and
        ``shadow-<key>`` from ``--shadow-*``. Modes override the same variables under
        ``[data-theme="<mode>"]`` (and ``.dark`` for a mode named dark).
        """
        lines = ["@theme {"]
        lines += [f"  {name}: {_css_value(value)};" for name, value in self.css_variables()]
        lines.append("}")
        for selector, decls in self.modes.items():
            if not decls:
                continue
            lines.append("")
            lines.append(f"{selector} {{")
            lines += [f"  {name}: {_css_value(value)};" for name, value in decls.items()]
            lines.append("}")
        return "\n".join(lines) + "\n"

    def tailwind_extend(self) -> dict[str, Any]:
        return {
            "colors": self.colors, "fontFamily": self.font_family, "fontSize": self.font_size,
            "spacing": self.spacing, "borderRadius": self.radius, "boxShadow": self.shadow,
        }


@dataclass
class TokenLookup:
    """Value -> Tailwind theme key maps used by the generator."""

    color_by_style: dict[str, str] = field(default_factory=dict)
    color_by_value: dict[str, str] = field(default_factory=dict)
    typo_by_style: dict[str, str] = field(default_factory=dict)
    typo_by_sig: dict[str, str] = field(default_factory=dict)
    family: dict[str, str] = field(default_factory=dict)
    spacing: dict[str, str] = field(default_factory=dict)
    radius: dict[str, str] = field(default_factory=dict)
    shadow_by_style: dict[str, str] = field(default_factory=dict)
    shadow_by_value: dict[str, str] = field(default_factory=dict)


def _set_path(tree: dict[str, Any], path: list[str], token: dict[str, Any]) -> None:
    cur = tree
    for p in path[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict) or "$value" in nxt:
            nxt = {}
            cur[p] = nxt
        cur = nxt
    cur[path[-1]] = token


def _has_path(tree: dict[str, Any], path: list[str]) -> bool:
    cur: Any = tree
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return False
        cur = cur[p]
    return True


def _style_path(name: str) -> list[str]:
    parts = [slug(p) for p in name.split("/") if p.strip()]
    return parts or ["token"]


def extract_tokens(spec: DesignSpec) -> TokenSet:
    walked = [n for n, _, _ in _walk(spec.roots) if n.visible]
    styles = spec.styles
    ts = TokenSet()
    dtcg: dict[str, Any] = {}
    keys = UniqueNames(sep="-")

    def style_name(sid: str, prefix: str) -> str:
        meta = styles.get(sid)
        return meta.name if meta and meta.name else f"{prefix} {sid}"

    def add(group: str, name_path: list[str], ttype: str, value: Any, tw_key: str,
            style_id: str | None = None, description: str = "") -> str:
        tw = keys.take(f"{group}:{tw_key}").split(":", 1)[1]
        token: dict[str, Any] = {"$type": ttype, "$value": value}
        if description:
            token["$description"] = description
        ext: dict[str, Any] = {"tailwind": tw}
        if style_id:
            ext["styleId"] = style_id
        token["$extensions"] = {EXT: ext}
        path = [group, *name_path]
        n = 2
        while _has_path(dtcg, path):
            path = [group, *name_path[:-1], f"{name_path[-1]}-{n}"]
            n += 1
        _set_path(dtcg, path, token)
        ts.count += 1
        return tw

    # ---- colors: named fill styles first, then repeated solid values
    seen_color_styles: set[str] = set()
    color_values: Counter[str] = Counter()
    styled_values: set[str] = set()
    for n in walked:
        for kind in ("fill", "fills", "stroke", "strokes"):
            sid = n.styles.get(kind)
            paints = n.fills if kind.startswith("fill") else n.strokes
            p = solid_fill(paints)
            if sid and sid not in seen_color_styles and p is not None and p.type == "SOLID" \
                    and p.color is not None:
                seen_color_styles.add(sid)
                value = color_hex(p.color, p.opacity)
                path = _style_path(style_name(sid, "fill"))
                tw = add("color", path, "color", value, "-".join(path), sid,
                         (styles[sid].description if sid in styles else ""))
                ts.colors[tw] = value
                styled_values.add(value)
        for paints in (n.fills, n.strokes):
            for p in paints:
                if p.visible and p.type == "SOLID" and p.color is not None:
                    color_values[color_hex(p.color, p.opacity)] += 1
    auto_colors = [v for v, c in color_values.most_common() if c >= 2 and v not in styled_values]
    for i, value in enumerate(auto_colors[:MAX_AUTO_COLORS], 1):
        tw = add("color", ["palette", f"c{i}"], "color", value, f"palette-{i}")
        ts.colors[tw] = value

    # ---- typography
    families: dict[str, str] = {}

    def family_key(fam: str) -> str:
        if fam not in families:
            k = slug(fam, "font")
            tw = add("fontFamily", [k], "fontFamily", [fam, "sans-serif"], k)
            families[fam] = tw
            ts.font_family[tw] = [_css_family(fam), "sans-serif"]
        return families[fam]

    def typo_value(st: TypeStyle) -> dict[str, Any]:
        v: dict[str, Any] = {
            "fontFamily": st.fontFamily or "sans-serif", "fontSize": px(st.fontSize),
            "fontWeight": int(st.fontWeight), "letterSpacing": px(st.letterSpacing),
        }
        lh = line_height(st)
        v["lineHeight"] = lh if lh is not None else "normal"
        return v

    def add_typo(path: list[str], st: TypeStyle, sid: str | None) -> None:
        if st.fontFamily:
            family_key(st.fontFamily)
        tw = add("typography", path, "typography", typo_value(st), "-".join(path), sid)
        lh = line_height(st)
        extra: dict[str, str] = {"fontWeight": str(int(st.fontWeight)),
                                 "letterSpacing": px(st.letterSpacing)}
        if lh is not None:
            extra["lineHeight"] = lh
        ts.font_size[tw] = [px(st.fontSize), extra]

    seen_text_styles: set[str] = set()
    sig_count: Counter[tuple[str, str, int, str | None, str]] = Counter()
    sig_style: dict[tuple[str, str, int, str | None, str], TypeStyle] = {}
    styled_sigs: set[tuple[str, str, int, str | None, str]] = set()
    for n in walked:
        if n.type != "TEXT" or n.style is None:
            continue
        if n.style.fontFamily:
            family_key(n.style.fontFamily)
        sig = typo_signature(n.style)
        sid = n.styles.get("text")
        if sid and sid not in seen_text_styles:
            seen_text_styles.add(sid)
            styled_sigs.add(sig)
            add_typo(_style_path(style_name(sid, "type")), n.style, sid)
        sig_count[sig] += 1
        sig_style.setdefault(sig, n.style)
    auto_sigs = [s for s, c in sig_count.most_common() if c >= 2 and s not in styled_sigs]
    for sig in auto_sigs[:MAX_AUTO_TYPO]:
        add_typo(["type", f"{sig[1]}-{sig[2]}"], sig_style[sig], None)

    # ---- spacing and radii (repeated values)
    space: Counter[float] = Counter()
    radii: Counter[float] = Counter()
    for n in walked:
        if n.layoutMode in ("HORIZONTAL", "VERTICAL"):
            for v in (n.itemSpacing, n.paddingLeft, n.paddingRight, n.paddingTop, n.paddingBottom):
                if v > 0:
                    space[round(v, 2)] += 1
        if n.cornerRadius:
            radii[round(n.cornerRadius, 2)] += 1
    for v, c in sorted(space.most_common(MAX_AUTO_SPACING)):
        if c >= 2:
            key = "space-" + fmt_num(v).replace(".", "_")
            tw = add("spacing", [key], "dimension", px(v), key)
            ts.spacing[tw] = px(v)
    for v, c in sorted(radii.most_common(MAX_AUTO_RADII)):
        if c >= 2:
            key = "radius-" + fmt_num(v).replace(".", "_")
            tw = add("radius", [key], "dimension", px(v), key)
            ts.radius[tw] = px(v)

    # ---- shadows: effect styles first, then repeated effect stacks
    seen_effect_styles: set[str] = set()
    shadow_values: Counter[str] = Counter()
    shadow_effects: dict[str, list[Effect]] = {}
    styled_shadows: set[str] = set()
    for n in walked:
        css = effect_css(n.effects)
        if css is None:
            continue
        sid = n.styles.get("effect")
        if sid and sid not in seen_effect_styles:
            seen_effect_styles.add(sid)
            styled_shadows.add(css)
            path = _style_path(style_name(sid, "shadow"))
            tw = add("shadow", path, "shadow", _dtcg_shadow(n.effects), "-".join(path), sid)
            ts.shadow[tw] = css
        shadow_values[css] += 1
        shadow_effects.setdefault(css, n.effects)
    auto_sh = [v for v, c in shadow_values.most_common() if c >= 2 and v not in styled_shadows]
    for i, css in enumerate(auto_sh[:MAX_AUTO_SHADOWS], 1):
        tw = add("shadow", ["elevation", f"e{i}"], "shadow", _dtcg_shadow(shadow_effects[css]),
                 f"elevation-{i}")
        ts.shadow[tw] = css

    ts.dtcg = dtcg
    return ts


def _css_value(value: str) -> str:
    """A declaration value that cannot end the declaration or the block early."""
    v = " ".join(str(value).split())
    v = "".join(ch for ch in v if ch not in ";{}")
    return v or "initial"


def _css_family(fam: str) -> str:
    clean = "".join(ch for ch in fam if ch.isalnum() or ch in " -_")
    return f'"{clean}"' if " " in clean else clean


def _dtcg_shadow(effects: list[Effect]) -> list[dict[str, Any]] | dict[str, Any]:
    out = []
    for e in effects:
        if not e.visible or e.type not in ("DROP_SHADOW", "INNER_SHADOW"):
            continue
        off = e.offset
        out.append({
            "color": color_hex(e.color) if e.color else "#00000040",
            "offsetX": px(off.x if off else 0), "offsetY": px(off.y if off else 0),
            "blur": px(e.radius), "spread": px(e.spread),
            "inset": e.type == "INNER_SHADOW",
        })
    return out[0] if len(out) == 1 else out


def lookup_from_dtcg(dtcg: dict[str, Any]) -> TokenLookup:
    """Rebuild value -> theme key maps from a DTCG document written by :func:`extract_tokens`."""
    lk = TokenLookup()

    def visit(group: str, node: dict[str, Any]) -> None:
        if "$value" in node:
            ext = node.get("$extensions", {}).get(EXT, {})
            tw = ext.get("tailwind")
            sid = ext.get("styleId")
            if not tw:
                return
            v = node["$value"]
            if group == "color" and isinstance(v, str):
                if sid:
                    lk.color_by_style[sid] = tw
                lk.color_by_value.setdefault(v, tw)
            elif group == "typography" and isinstance(v, dict):
                if sid:
                    lk.typo_by_style[sid] = tw
                sig = json.dumps([v.get("fontFamily"), v.get("fontSize"), v.get("fontWeight"),
                                  v.get("lineHeight"), v.get("letterSpacing")])
                lk.typo_by_sig.setdefault(sig, tw)
            elif group == "fontFamily" and isinstance(v, list) and v:
                lk.family[str(v[0])] = tw
            elif group == "spacing":
                lk.spacing[str(v)] = tw
            elif group == "radius":
                lk.radius[str(v)] = tw
            elif group == "shadow":
                css = _shadow_css_from_dtcg(v)
                if sid:
                    lk.shadow_by_style[sid] = tw
                lk.shadow_by_value.setdefault(css, tw)
            return
        for k, child in node.items():
            if not k.startswith("$") and isinstance(child, dict):
                visit(group, child)

    for group, node in dtcg.items():
        if isinstance(node, dict):
            visit(group, node)
    return lk


def typo_sig_key(style: TypeStyle) -> str:
    lh = line_height(style)
    return json.dumps([style.fontFamily or "sans-serif", px(style.fontSize),
                       int(style.fontWeight), lh if lh is not None else "normal",
                       px(style.letterSpacing)])


def _shadow_css_from_dtcg(v: Any) -> str:
    items = v if isinstance(v, list) else [v]
    parts = []
    for s in items:
        inset = "inset " if s.get("inset") else ""
        parts.append(f"{inset}{s['offsetX']} {s['offsetY']} {s['blur']} {s['spread']} {s['color']}")
    return ", ".join(parts)


def node_count_with_tokens(nodes: list[Node]) -> int:  # pragma: no cover - helper for debugging
    return len(nodes)
