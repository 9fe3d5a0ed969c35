"""Design tokens with names people use: W3C DTCG JSON and the Tailwind CSS 4 ``@theme`` block.

Where names come from, in order of precedence (docs/agents.md, "Design tokens"):

1. Figma variables (``GET /v1/files/:key/variables/local``, passed as ``variables``): the
   variable's name (``Colors/Primary/500`` -> ``primary-500``); the collection's default mode goes
   into ``@theme``, every other mode into a ``[data-theme="<mode>"]`` block (``.dark`` too for a
   mode named dark).
2. The file's style names (``styles``: ``Primary/Blue 500`` -> ``primary-blue-500``).
3. Derived, readable names for everything else worth a token (unnamed styles, repeated values):
   colours by hue family and lightness step in OKLCH (``blue-600``, ``gray-100``, ``white``,
   ``black-alpha-25``), spacing as Tailwind 4 multiples of 4px (``2`` = 8px) or ``<n>px``, radii
   and shadows on the Tailwind size ladder (``sm``, ``md``, ``lg`` ... in ascending order),
   typography by size (``heading-1`` ... , ``body``, ``body-sm``).

Names never contain node or style ids. Collisions are resolved deterministically: earlier
sources win, then more frequently used values, then a suffix (``-2``, or ``-alt``, ``-alt2`` after
a name that ends in a digit, so no name looks like an id such as ``52-38``).

Every DTCG token carries ``$extensions["com.pf-figma"]``: its Tailwind key (``tailwind``), where
the name came from (``source``: variable / style / derived, ``figmaName``), the style ids
(``styleId``, ``styleIds``) or variable id (``variableId``) it stands for, and mode values
(``modes``). The generator maps values back to keys with :func:`lookup_from_dtcg`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .analyze import DesignSpec, _walk
from .figma_models import Color, Effect, LocalVariables, Paint, TypeStyle, Variable
from .names import slug

EXT = "com.pf-figma"
MAX_AUTO_COLORS = 48
MAX_AUTO_TYPO = 24
MAX_AUTO_SPACING = 24
MAX_AUTO_RADII = 12
MAX_AUTO_SHADOWS = 12
GROUPS = ("color", "typography", "fontFamily", "spacing", "radius", "shadow")


def fmt_num(v: float) -> str:
    """Compact number: 8.0 -> '8', 0.125 -> '0.125'."""
    if not math.isfinite(v):
        return "0"
    r = round(v, 3)
    if r == int(r):
        return str(int(r))
    return f"{r:.3f}".rstrip("0").rstrip(".")


def _fin(v: float, default: float = 0.0) -> float:
    """``v`` when finite, else ``default`` (malformed input never raises)."""
    return v if isinstance(v, int | float) and math.isfinite(v) else default


def font_weight(style: TypeStyle) -> int:
    return int(_fin(style.fontWeight, 400))


def _size(style: TypeStyle) -> float:
    return round(_fin(style.fontSize, 16.0), 2)


def px(v: float) -> str:
    return f"{fmt_num(v)}px"


def color_hex(c: Color, opacity: float = 1.0) -> str:
    def ch(x: float) -> int:
        return round(max(0.0, min(1.0, _fin(x))) * 255)

    a = max(0.0, min(1.0, _fin(c.a, 1.0) * _fin(opacity, 1.0)))
    base = f"#{ch(c.r):02x}{ch(c.g):02x}{ch(c.b):02x}"
    return base if a >= 0.999 else base + f"{ch(a):02x}"


def solid_fill(paints: list[Paint]) -> Paint | None:
    """The topmost visible paint (Figma paints are bottom-to-top)."""
    for p in reversed(paints):
        if p.visible and p.opacity > 0:
            return p
    return None


def _visible_shadows(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if e.visible and e.type in ("DROP_SHADOW", "INNER_SHADOW")]


def effect_css(effects: list[Effect]) -> str | None:
    parts = []
    for e in _visible_shadows(effects):
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
    return (style.fontFamily or "", fmt_num(style.fontSize), font_weight(style),
            line_height(style), fmt_num(style.letterSpacing))


# ----------------------------------------------------------------------------- token set


@dataclass
class TokenSet:
    dtcg: dict[str, Any] = field(default_factory=dict)
    colors: dict[str, str] = field(default_factory=dict)  # tailwind key -> value
    font_family: dict[str, list[str]] = field(default_factory=dict)
    font_size: dict[str, Any] = field(default_factory=dict)  # key -> [size, {lineHeight, ...}]
    spacing: dict[str, str] = field(default_factory=dict)
    radius: dict[str, str] = field(default_factory=dict)
    shadow: dict[str, str] = field(default_factory=dict)
    # CSS selector ('[data-theme="dark"], .dark') -> CSS variable -> value, for variable modes
    modes: dict[str, dict[str, str]] = field(default_factory=dict)
    # CSS variable -> value written in @theme instead of the resolved value (variable aliases:
    # 'var(--color-gray-50)'), so a mode override of the target cascades
    css_refs: dict[str, str] = field(default_factory=dict)
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
        return [(name, self.css_refs.get(name, value)) for name, value in out]

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
        """The same theme as a Tailwind 3 ``theme.extend`` object."""
        return {
            "colors": self.colors, "fontFamily": self.font_family, "fontSize": self.font_size,
            "spacing": self.spacing, "borderRadius": self.radius, "boxShadow": self.shadow,
        }

    def names(self) -> list[str]:
        """Every token's Tailwind key, prefixed by its group (``color:blue-600``)."""
        return [f"{group}:{key}" for group in GROUPS for key in self.dtcg.get(group, {})]


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
    # Figma variable id (from a node's or paint's boundVariables) -> theme key, any group
    color_by_variable: dict[str, str] = field(default_factory=dict)
    spacing_by_variable: dict[str, str] = field(default_factory=dict)
    radius_by_variable: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- names

_ID_LIKE = re.compile(r"\d+-\d+")
_DIGIT_END = re.compile(r"\d$")


class Namespace:
    """Unique keys within one Tailwind namespace, handed out in call order (deterministic)."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(reserved)

    def free(self, name: str) -> bool:
        return bool(name) and name not in self.taken

    def claim(self, name: str) -> str:
        self.taken.add(name)
        return name

    def take(self, *candidates: str, avoid: frozenset[str] = frozenset()) -> str:
        """The first free candidate, else the first with a suffix (``-2``; ``-alt``, ``-alt2``
        after a trailing digit, so that no key reads like a node id). Names in ``avoid`` are
        never handed out; when every candidate is one, ``<candidate>-color`` is tried."""
        cands = [c for c in candidates if c and c not in avoid] or \
            [f"{c}-color" for c in candidates if c] or ["token"]
        for c in cands:
            if self.free(c):
                return self.claim(c)
        base = cands[0]
        n = 2
        while True:
            if _DIGIT_END.search(base):
                name = f"{base}-alt" if n == 2 else f"{base}-alt{n - 1}"
            else:
                name = f"{base}-{n}"
            if self.free(name):
                return self.claim(name)
            n += 1


_GROUP_WORDS = {
    "color": ("color", "colors", "colour", "colours", "fill", "fills", "palette"),
    "typography": ("typography", "text", "texts", "type", "font", "fonts", "text-styles",
                   "text-style", "typeface"),
    "shadow": ("shadow", "shadows", "effect", "effects", "box-shadow"),
    "spacing": ("spacing", "space", "spaces", "size", "sizes"),
    "radius": ("radius", "radii", "border-radius", "corner-radius", "corner", "corners",
               "rounded"),
    "fontFamily": ("font-family", "font-families", "family", "families", "font", "fonts"),
}


def key_from_name(name: str, group: str) -> str:
    """Tailwind key from a style / variable name: ``Primary/Blue 500`` -> ``primary-blue-500``.

    A leading word that only repeats the group (``Colors/``, ``Shadow ``) is dropped when
    something is left (``shadow-<key>`` rather than ``shadow-shadow-deep``).
    """
    parts = [slug(p, "") for p in re.split(r"[/\\]", name)]
    key = "-".join(p for p in parts if p)[:60].strip("-")
    for word in sorted(_GROUP_WORDS.get(group, ()), key=len, reverse=True):
        if key.startswith(word + "-") and len(key) > len(word) + 1:
            key = key[len(word) + 1:]
            break
    return key


def id_like(name: str, ids: Iterable[str] = ()) -> bool:
    """Does a token key look derived from a Figma node/style id (``fill-52-38``)?

    With ``ids`` (node and style ids of the file), only a key containing one of them counts
    (``52:38`` -> ``52-38``); without, any ``<digits>-<digits>`` run counts.
    """
    key = name.split(":", 1)[-1]
    id_set = ids if isinstance(ids, set | frozenset) else set(ids)
    if not id_set:
        return bool(_ID_LIKE.search(key))
    # every run of numbers joined by '-' ("5652-133", "1-2-3"), and each adjacent pair in it
    for run in re.findall(r"\d+(?:-\d+)+", key):
        nums = run.split("-")
        for i in range(len(nums) - 1):
            if f"{nums[i]}:{nums[i + 1]}" in id_set or f"{nums[i]}-{nums[i + 1]}" in id_set:
                return True
    return False


def count_id_derived_names(tokens: TokenSet | dict[str, Any],
                           spec: DesignSpec | None = None) -> int:
    """Number of distinct token names derived from node or style ids (target 0; ``make
    quality``). ``tokens`` is a TokenSet or the DTCG document; with ``spec``, only names that
    contain an actual id of the file (node ids, style ids, style ids nodes refer to) count."""
    dtcg = tokens.dtcg if isinstance(tokens, TokenSet) else tokens
    names = {f"{g}:{k}" for g, grp in dtcg.items() if isinstance(grp, dict) for k in grp}
    ids: set[str] = set()
    if spec is not None:
        index = spec.index()
        refs = {sid for n in index.values() for sid in n.styles.values()}
        for i in set(index) | set(spec.styles) | refs:
            ids.update(part.lstrip("I") for part in i.split(";"))  # instance ids: I1:2;3:4
    return sum(1 for n in names if id_like(n, ids))


# ----------------------------------------------------------------------------- colour names

# Tailwind CSS 4 default palette (MIT; tailwindcss/theme.css) in OKLCH (L, C, hue) for steps
# 50, 100, 200 ... 900, 950. A derived colour is named after the nearest entry (the five grey
# families all read "gray").
_PALETTE: dict[str, tuple[tuple[float, float, float], ...]] = {
    "red": ((0.971, 0.013, 17.4), (0.936, 0.032, 17.7), (0.885, 0.062, 18.3), (0.808, 0.114, 19.6),
        (0.704, 0.191, 22.2), (0.637, 0.237, 25.3), (0.577, 0.245, 27.3), (0.505, 0.213, 27.5),
        (0.444, 0.177, 26.9), (0.396, 0.141, 25.7), (0.258, 0.092, 26)),
    "orange": ((0.98, 0.016, 73.7), (0.954, 0.038, 75.2), (0.901, 0.076, 70.7),
        (0.837, 0.128, 66.3), (0.75, 0.183, 55.9), (0.705, 0.213, 47.6), (0.646, 0.222, 41.1),
        (0.553, 0.195, 38.4), (0.47, 0.157, 37.3), (0.408, 0.123, 38.2), (0.266, 0.079, 36.3)),
    "amber": ((0.987, 0.022, 95.3), (0.962, 0.059, 95.6), (0.924, 0.12, 95.7),
        (0.879, 0.169, 91.6), (0.828, 0.189, 84.4), (0.769, 0.188, 70.1), (0.666, 0.179, 58.3),
        (0.555, 0.163, 49), (0.473, 0.137, 46.2), (0.414, 0.112, 45.9), (0.279, 0.077, 45.6)),
    "yellow": ((0.987, 0.026, 102.2), (0.973, 0.071, 103.2), (0.945, 0.129, 101.5),
        (0.905, 0.182, 98.1), (0.852, 0.199, 91.9), (0.795, 0.184, 86), (0.681, 0.162, 75.8),
        (0.554, 0.135, 66.4), (0.476, 0.114, 61.9), (0.421, 0.095, 57.7), (0.286, 0.066, 53.8)),
    "lime": ((0.986, 0.031, 120.8), (0.967, 0.067, 122.3), (0.938, 0.127, 124.3),
        (0.897, 0.196, 126.7), (0.841, 0.238, 128.8), (0.768, 0.233, 130.8), (0.648, 0.2, 131.7),
        (0.532, 0.157, 131.6), (0.453, 0.124, 130.9), (0.405, 0.101, 131.1),
        (0.274, 0.072, 132.1)),
    "green": ((0.982, 0.018, 155.8), (0.962, 0.044, 156.7), (0.925, 0.084, 156),
        (0.871, 0.15, 154.4), (0.792, 0.209, 151.7), (0.723, 0.219, 149.6), (0.627, 0.194, 149.2),
        (0.527, 0.154, 150.1), (0.448, 0.119, 151.3), (0.393, 0.095, 152.5),
        (0.266, 0.065, 152.9)),
    "emerald": ((0.979, 0.021, 166.1), (0.95, 0.052, 163.1), (0.905, 0.093, 164.2),
        (0.845, 0.143, 165), (0.765, 0.177, 163.2), (0.696, 0.17, 162.5), (0.596, 0.145, 163.2),
        (0.508, 0.118, 165.6), (0.432, 0.095, 166.9), (0.378, 0.077, 168.9),
        (0.262, 0.051, 172.6)),
    "teal": ((0.984, 0.014, 180.7), (0.953, 0.051, 180.8), (0.91, 0.096, 180.4),
        (0.855, 0.138, 181.1), (0.777, 0.152, 181.9), (0.704, 0.14, 182.5), (0.6, 0.118, 184.7),
        (0.511, 0.096, 186.4), (0.437, 0.078, 188.2), (0.386, 0.063, 188.4),
        (0.277, 0.046, 192.5)),
    "cyan": ((0.984, 0.019, 200.9), (0.956, 0.045, 203.4), (0.917, 0.08, 205),
        (0.865, 0.127, 207.1), (0.789, 0.154, 211.5), (0.715, 0.143, 215.2), (0.609, 0.126, 221.7),
        (0.52, 0.105, 223.1), (0.45, 0.085, 224.3), (0.398, 0.07, 227.4), (0.302, 0.056, 229.7)),
    "sky": ((0.977, 0.013, 236.6), (0.951, 0.026, 236.8), (0.901, 0.058, 230.9),
        (0.828, 0.111, 230.3), (0.746, 0.16, 232.7), (0.685, 0.169, 237.3), (0.588, 0.158, 242),
        (0.5, 0.134, 242.7), (0.443, 0.11, 240.8), (0.391, 0.09, 240.9), (0.293, 0.066, 243.2)),
    "blue": ((0.97, 0.014, 254.6), (0.932, 0.032, 255.6), (0.882, 0.059, 254.1),
        (0.809, 0.105, 251.8), (0.707, 0.165, 254.6), (0.623, 0.214, 259.8), (0.546, 0.245, 262.9),
        (0.488, 0.243, 264.4), (0.424, 0.199, 265.6), (0.379, 0.146, 265.5),
        (0.282, 0.091, 267.9)),
    "indigo": ((0.962, 0.018, 272.3), (0.93, 0.034, 272.8), (0.87, 0.065, 274),
        (0.785, 0.115, 274.7), (0.673, 0.182, 276.9), (0.585, 0.233, 277.1), (0.511, 0.262, 277),
        (0.457, 0.24, 277), (0.398, 0.195, 277.4), (0.359, 0.144, 278.7), (0.257, 0.09, 281.3)),
    "violet": ((0.969, 0.016, 293.8), (0.943, 0.029, 294.6), (0.894, 0.057, 293.3),
        (0.811, 0.111, 293.6), (0.702, 0.183, 293.5), (0.606, 0.25, 292.7), (0.541, 0.281, 293),
        (0.491, 0.27, 292.6), (0.432, 0.232, 292.8), (0.38, 0.189, 293.7), (0.283, 0.141, 291.1)),
    "purple": ((0.977, 0.014, 308.3), (0.946, 0.033, 307.2), (0.902, 0.063, 306.7),
        (0.827, 0.119, 306.4), (0.714, 0.203, 305.5), (0.627, 0.265, 303.9), (0.558, 0.288, 302.3),
        (0.496, 0.265, 301.9), (0.438, 0.218, 303.7), (0.381, 0.176, 305), (0.291, 0.149, 302.7)),
    "fuchsia": ((0.977, 0.017, 320.1), (0.952, 0.037, 318.9), (0.903, 0.076, 319.6),
        (0.833, 0.145, 321.4), (0.74, 0.238, 322.2), (0.667, 0.295, 322.1), (0.591, 0.293, 322.9),
        (0.518, 0.253, 323.9), (0.452, 0.211, 324.6), (0.401, 0.17, 325.6), (0.293, 0.136, 325.7)),
    "pink": ((0.971, 0.014, 343.2), (0.948, 0.028, 342.3), (0.899, 0.061, 343.2),
        (0.823, 0.12, 346), (0.718, 0.202, 349.8), (0.656, 0.241, 354.3), (0.592, 0.249, 0.6),
        (0.525, 0.223, 4), (0.459, 0.187, 3.8), (0.408, 0.153, 2.4), (0.284, 0.109, 3.9)),
    "rose": ((0.969, 0.015, 12.4), (0.941, 0.03, 12.6), (0.892, 0.058, 10), (0.81, 0.117, 11.6),
        (0.712, 0.194, 13.4), (0.645, 0.246, 16.4), (0.586, 0.253, 17.6), (0.514, 0.222, 16.9),
        (0.455, 0.188, 13.7), (0.41, 0.159, 10.3), (0.271, 0.105, 12.1)),
    "slate": ((0.984, 0.003, 247.9), (0.968, 0.007, 247.9), (0.929, 0.013, 255.5),
        (0.869, 0.022, 252.9), (0.704, 0.04, 256.8), (0.554, 0.046, 257.4), (0.446, 0.043, 257.3),
        (0.372, 0.044, 257.3), (0.279, 0.041, 260), (0.208, 0.042, 265.8), (0.129, 0.042, 264.7)),
    "gray": ((0.985, 0.002, 247.8), (0.967, 0.003, 264.5), (0.928, 0.006, 264.5),
        (0.872, 0.01, 258.3), (0.707, 0.022, 261.3), (0.551, 0.027, 264.4), (0.446, 0.03, 256.8),
        (0.373, 0.034, 259.7), (0.278, 0.033, 256.8), (0.21, 0.034, 264.7), (0.13, 0.028, 261.7)),
    "zinc": ((0.985, 0, 0), (0.967, 0.001, 286.4), (0.92, 0.004, 286.3), (0.871, 0.006, 286.3),
        (0.705, 0.015, 286.1), (0.552, 0.016, 285.9), (0.442, 0.017, 285.8), (0.37, 0.013, 285.8),
        (0.274, 0.006, 286), (0.21, 0.006, 285.9), (0.141, 0.005, 285.8)),
    "neutral": ((0.985, 0, 0), (0.97, 0, 0), (0.922, 0, 0), (0.87, 0, 0), (0.708, 0, 0),
        (0.556, 0, 0), (0.439, 0, 0), (0.371, 0, 0), (0.269, 0, 0), (0.205, 0, 0), (0.145, 0, 0)),
    "stone": ((0.985, 0.001, 106.4), (0.97, 0.001, 106.4), (0.923, 0.003, 48.7),
        (0.869, 0.005, 56.4), (0.709, 0.01, 56.3), (0.553, 0.013, 58.1), (0.444, 0.011, 73.6),
        (0.374, 0.01, 67.6), (0.268, 0.007, 34.3), (0.216, 0.006, 56), (0.147, 0.004, 49.2)),
}
_STEPS = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 950)
_GREY_FAMILIES = frozenset({"slate", "gray", "zinc", "neutral", "stone"})


def _lab(L: float, C: float, h: float) -> tuple[float, float, float]:
    return L, C * math.cos(math.radians(h)), C * math.sin(math.radians(h))


_PALETTE_LAB = [(fam, i, _lab(*lch)) for fam, ladder in _PALETTE.items()
                for i, lch in enumerate(ladder)]


def _hex_rgba(value: str) -> tuple[float, float, float, float]:
    h = value.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))
    a = int(h[6:8], 16) / 255 if len(h) >= 8 else 1.0
    return r, g, b, a


def oklch(r: float, g: float, b: float) -> tuple[float, float, float]:
    """sRGB (0..1) -> OKLCH (L 0..1, C, hue in degrees)."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    lr, lg, lb = lin(r), lin(g), lin(b)
    l_ = (0.4122214708 * lr + 0.5363325363 * lg + 0.0514459929 * lb) ** (1 / 3)
    m_ = (0.2119034982 * lr + 0.6806995451 * lg + 0.1073969566 * lb) ** (1 / 3)
    s_ = (0.0883024619 * lr + 0.2817188376 * lg + 0.6299787005 * lb) ** (1 / 3)
    L = 0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_
    a = 1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_
    bb = 0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_
    return L, math.hypot(a, bb), math.degrees(math.atan2(bb, a)) % 360


def color_names(value: str) -> tuple[str, str]:
    """Readable name candidates for a colour: (step name, finer half-step name).

    The nearest colour of Tailwind's palette in OKLab gives the hue family and lightness step
    (``#2563eb`` -> ``blue-600``; low-chroma colours land on a grey family -> ``gray-<step>``);
    the half step (``blue-650``) lies towards the second-nearest step of that family. Pure
    white and black are ``white``/``black``; translucent colours get ``-alpha-<percent>``.
    """
    r, g, b, a = _hex_rgba(value)
    L, C, h = oklch(r, g, b)
    alpha = "" if a >= 0.999 else f"-alpha-{round(a * 100)}"
    if C < 0.01 and L >= 0.999:
        return "white" + alpha, "white" + alpha
    if C < 0.01 and L <= 0.001:
        return "black" + alpha, "black" + alpha
    p = _lab(L, C, h)

    def dist(lab: tuple[float, float, float]) -> float:
        return math.dist(p, lab)

    fam, i, _ = min(_PALETTE_LAB, key=lambda e: (dist(e[2]), e[0], e[1]))
    steps = sorted((dist(lab), j) for f, j, lab in _PALETTE_LAB if f == fam)
    j = next(j for _, j in steps if j != i)
    name = "gray" if fam in _GREY_FAMILIES else fam
    lo, hi = sorted((_STEPS[i], _STEPS[j]))
    half = (lo + hi) // 2 if abs(i - j) == 1 else _STEPS[i]
    return f"{name}-{_STEPS[i]}{alpha}", f"{name}-{half}{alpha}"


# ----------------------------------------------------------------------------- size ladders

# Tailwind CSS 4 default radius and shadow sizes (px / a "size" of y-offset + blur)
_RADIUS_LADDER = [("xs", 2), ("sm", 4), ("md", 6), ("lg", 8), ("xl", 12), ("2xl", 16),
                  ("3xl", 24), ("4xl", 32)]
_SHADOW_LADDER = [("2xs", 1), ("xs", 3), ("sm", 4), ("md", 10), ("lg", 25), ("xl", 45),
                  ("2xl", 75)]


def _ladder_name(ladder: list[tuple[str, float]], i: int) -> tuple[str, float]:
    if i < len(ladder):
        return ladder[i]
    last_n = len(ladder) - 1
    name, v = ladder[last_n]
    extra = i - last_n
    m = re.match(r"(\d*)xl$", name)
    n = int(m.group(1) or 1) + extra if m else extra + 1
    return f"{n}xl", v * (1.5 ** extra)


def ladder_names(values: list[float], ladder: list[tuple[str, float]]) -> list[str]:
    """Names for ascending ``values`` from a size ladder, in the same order (a larger value never
    gets a smaller name), each as close to the ladder's size for it as possible (log scale;
    the assignment with the smallest total distance)."""
    n = len(values)
    if not n:
        return []
    m = len(ladder) + n
    sizes = [_ladder_name(ladder, i)[1] for i in range(m)]

    def cost(v: float, j: int) -> float:
        return abs(math.log(max(v, 0.5)) - math.log(max(sizes[j], 0.5)))

    # best[i][j]: smallest cost of values[:i+1] with values[i] on ladder step j
    inf = math.inf
    best = [[inf] * m for _ in range(n)]
    prev = [[-1] * m for _ in range(n)]
    for j in range(m):
        best[0][j] = cost(values[0], j)
    for i in range(1, n):
        run, arg = inf, -1
        for j in range(m):
            if j > 0 and best[i - 1][j - 1] < run:
                run, arg = best[i - 1][j - 1], j - 1
            if arg >= 0:
                best[i][j] = run + cost(values[i], j)
                prev[i][j] = arg
    j = min(range(m), key=lambda k: (best[n - 1][k], k))
    idx = [0] * n
    for i in range(n - 1, -1, -1):
        idx[i] = j
        j = prev[i][j]
    return [_ladder_name(ladder, k)[0] for k in idx]


def spacing_key(v: float) -> str:
    """4px -> '1', 8px -> '2' (Tailwind 4 multiples of 4px); 1px -> 'px'; else '<n>px'."""
    if abs(v - 1) < 1e-6:
        return "px"
    if abs(v / 4 - round(v / 4)) < 1e-6:
        return str(round(v / 4))
    return fmt_num(v).replace(".", "_") + "px"


_WEIGHT_NAMES = {100: "thin", 200: "extralight", 300: "light", 400: "normal", 500: "medium",
                 600: "semibold", 700: "bold", 800: "extrabold", 900: "black"}


def weight_name(w: float) -> str:
    return _WEIGHT_NAMES.get(min(900, max(100, int(round(w / 100) * 100))), "normal")


# ----------------------------------------------------------------------------- extraction

# keys Tailwind already uses in the namespace a colour shares with font sizes (`text-<key>`)
_TEXT_SIZE_KEYS = frozenset({"xs", "sm", "base", "lg", "xl"} | {f"{n}xl" for n in range(2, 10)})
_COLOR_KEYWORDS = {"inherit", "current", "transparent", "initial"}
_WEIGHT_KEYS = set(_WEIGHT_NAMES.values()) | {"sans", "serif", "mono", "weight"}


class _Builder:
    def __init__(self, spec: DesignSpec) -> None:
        self.spec = spec
        self.tokens: dict[str, dict[str, dict[str, Any]]] = {g: {} for g in GROUPS}
        # colours and font sizes share `text-<key>`: one namespace for both
        textlike = Namespace(_COLOR_KEYWORDS)
        self.ns = {"color": textlike, "typography": textlike, "fontFamily": Namespace(_WEIGHT_KEYS),
                   "spacing": Namespace({"0"}), "radius": Namespace({"none", "full"}),
                   "shadow": Namespace({"none"})}
        self.by_value: dict[str, dict[str, str]] = {g: {} for g in GROUPS}

    def add(self, group: str, key: str, ttype: str, value: Any, source: str,
            figma_name: str = "", style_ids: list[str] | None = None,
            variable_id: str | None = None, description: str = "") -> dict[str, Any]:
        token: dict[str, Any] = {"$type": ttype, "$value": value}
        if description:
            token["$description"] = description
        ext: dict[str, Any] = {"tailwind": key, "source": source}
        if figma_name:
            ext["figmaName"] = figma_name
        if style_ids:
            ext["styleId"] = style_ids[0]
            if len(style_ids) > 1:
                ext["styleIds"] = list(style_ids)
        if variable_id:
            ext["variableId"] = variable_id
        token["$extensions"] = {EXT: ext}
        self.tokens[group][key] = token
        return token


def _css_family(fam: str) -> str:
    clean = "".join(ch for ch in fam if ch.isalnum() or ch in " -_")
    return f'"{clean}"' if " " in clean else clean


def _css_value(value: str) -> str:
    """A declaration value that cannot end the declaration or the block early."""
    v = " ".join(str(value).split())
    v = "".join(ch for ch in v if ch not in ";{}")
    return v or "initial"


def _dtcg_shadow(effects: list[Effect]) -> list[dict[str, Any]] | dict[str, Any]:
    out = []
    for e in _visible_shadows(effects):
        off = e.offset
        out.append({
            "color": color_hex(e.color) if e.color else "#00000040",
            "offsetX": px(off.x if off else 0), "offsetY": px(off.y if off else 0),
            "blur": px(e.radius), "spread": px(e.spread),
            "inset": e.type == "INNER_SHADOW",
        })
    return out[0] if len(out) == 1 else out


def _natural(key: str) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", key) if t]


def _typo_value(st: TypeStyle) -> dict[str, Any]:
    lh = line_height(st)
    return {"fontFamily": st.fontFamily or "sans-serif", "fontSize": px(st.fontSize),
            "fontWeight": font_weight(st), "letterSpacing": px(st.letterSpacing),
            "lineHeight": lh if lh is not None else "normal"}


def extract_tokens(spec: DesignSpec, variables: LocalVariables | None = None) -> TokenSet:
    """Tokens of a design: from ``variables`` (optional), named styles, and repeated values."""
    walked = [n for n, _, _ in _walk(spec.roots) if n.visible]
    b = _Builder(spec)
    if variables is not None:
        _variable_tokens(b, variables)

    styles = spec.styles

    def named(sid: str | None) -> str:
        meta = styles.get(sid or "")
        return meta.name.strip() if meta and meta.name and meta.name.strip() else ""

    def descr(sid: str) -> str:
        meta = styles.get(sid)
        return meta.description if meta else ""

    # ---------------------------------------------------------------- colours
    color_count: Counter[str] = Counter()
    style_color: dict[str, str] = {}  # style id -> value (first use)
    for n in walked:
        for kind in ("fill", "fills", "stroke", "strokes"):
            sid = n.styles.get(kind)
            p = solid_fill(n.fills if kind.startswith("fill") else n.strokes)
            if sid and sid not in style_color and p is not None and p.type == "SOLID" \
                    and p.color is not None:
                style_color[sid] = color_hex(p.color, p.opacity)
        run_fills = [st.fills or [] for st in (n.styleOverrideTable or {}).values()]
        for paints in (n.fills, n.strokes, *run_fills):  # styled text runs count too
            for p in paints:
                if p.visible and p.type == "SOLID" and p.color is not None:
                    color_count[color_hex(p.color, p.opacity)] += 1
    # named styles (sorted by name, so the file order does not matter)
    named_colors = sorted(((named(s), s, v) for s, v in style_color.items() if named(s)),
                          key=lambda t: (_natural(t[0]), t[1]))
    for name, sid, value in named_colors:
        key = b.ns["color"].take(key_from_name(name, "color") or "color", avoid=_TEXT_SIZE_KEYS)
        b.add("color", key, "color", value, "style", name, [sid], description=descr(sid))
        b.by_value["color"].setdefault(value, key)
    # derived: unnamed styles (one token per value) and repeated values
    unnamed_styles: dict[str, list[str]] = {}
    for sid, value in sorted(style_color.items()):
        if not named(sid):
            unnamed_styles.setdefault(value, []).append(sid)
    repeated = sorted((v for v, c in color_count.items()
                       if c >= 2 and v not in b.by_value["color"] and v not in unnamed_styles),
                      key=lambda v: (-color_count[v], v))[:MAX_AUTO_COLORS]
    derived = sorted({v for v in unnamed_styles if v not in b.by_value["color"]} | set(repeated),
                     key=lambda v: (-color_count[v], v))
    for value in derived:
        key = b.ns["color"].take(*color_names(value), avoid=_TEXT_SIZE_KEYS)
        b.add("color", key, "color", value, "derived", style_ids=unnamed_styles.get(value))
        b.by_value["color"].setdefault(value, key)
    for value, sids in unnamed_styles.items():  # unnamed style with the value of a named token
        if value not in derived:
            tok = b.tokens["color"][b.by_value["color"][value]]
            ext = tok["$extensions"][EXT]
            all_ids = ([ext["styleId"]] if "styleId" in ext else []) + sids
            ext["styleId"] = all_ids[0]
            if len(all_ids) > 1:
                ext["styleIds"] = all_ids

    # ---------------------------------------------------------------- typography
    text_nodes = [n for n in walked if n.type == "TEXT" and n.style is not None]
    families: list[str] = []
    for n in text_nodes:
        assert n.style is not None
        if n.style.fontFamily and n.style.fontFamily not in families:
            families.append(n.style.fontFamily)
    style_typo: dict[str, TypeStyle] = {}
    sig_count: Counter[tuple[str, str, int, str | None, str]] = Counter()
    sig_style: dict[tuple[str, str, int, str | None, str], TypeStyle] = {}
    size_count: Counter[float] = Counter()
    for n in text_nodes:
        assert n.style is not None
        sid = n.styles.get("text")
        if sid and sid not in style_typo:
            style_typo[sid] = n.style
        sig = typo_signature(n.style)
        sig_count[sig] += 1
        sig_style.setdefault(sig, n.style)
        size_count[_size(n.style)] += 1
    styled_sigs: set[tuple[str, str, int, str | None, str]] = set()
    for name, sid in sorted(((named(s), s) for s in style_typo if named(s)),
                            key=lambda t: (_natural(t[0]), t[1])):
        st = style_typo[sid]
        key = b.ns["typography"].take(key_from_name(name, "typography") or "text")
        b.add("typography", key, "typography", _typo_value(st), "style", name, [sid],
              description=descr(sid))
        styled_sigs.add(typo_signature(st))
    unnamed_typo: dict[tuple[str, str, int, str | None, str], list[str]] = {}
    for sid, st in sorted(style_typo.items()):
        if not named(sid):
            sig = typo_signature(st)
            sig_style.setdefault(sig, st)
            unnamed_typo.setdefault(sig, []).append(sid)
    def sig_order(s: tuple[str, str, int, str | None, str]) -> tuple[Any, ...]:
        return (-sig_count[s], s[0], float(s[1]), s[2], str(s[3]), s[4])

    repeated_sigs = sorted((s for s, c in sig_count.items()
                            if c >= 2 and s not in styled_sigs and s not in unnamed_typo),
                           key=sig_order)[:MAX_AUTO_TYPO]
    auto_sigs = sorted({s for s in unnamed_typo if s not in styled_sigs} | set(repeated_sigs),
                       key=sig_order)
    for sig, key in _typo_names(auto_sigs, sig_style, sig_count, size_count, b.ns["typography"]):
        st = sig_style[sig]
        b.add("typography", key, "typography", _typo_value(st), "derived",
              style_ids=unnamed_typo.get(sig))
    for fam in families:
        if fam in b.by_value["fontFamily"]:
            continue
        key = b.ns["fontFamily"].take(key_from_name(fam, "fontFamily") or "font")
        b.add("fontFamily", key, "fontFamily", [fam, "sans-serif"], "derived", fam)
        b.by_value["fontFamily"][fam] = key

    # ---------------------------------------------------------------- spacing and radii
    space: Counter[float] = Counter()
    radii: Counter[float] = Counter()
    for n in walked:
        if n.layoutMode in ("HORIZONTAL", "VERTICAL"):
            for v in (n.itemSpacing, n.paddingLeft, n.paddingRight, n.paddingTop, n.paddingBottom):
                if _fin(v) > 0:
                    space[round(v, 2)] += 1
        if n.cornerRadius and _fin(n.cornerRadius) > 0:
            radii[round(n.cornerRadius, 2)] += 1
        elif n.rectangleCornerRadii:
            for v in set(n.rectangleCornerRadii):
                if _fin(v) > 0:
                    radii[round(v, 2)] += 1
    for v in sorted(v for v, c in space.most_common(MAX_AUTO_SPACING) if c >= 2):
        if px(v) in b.by_value["spacing"] or not (spacing_key(v).isdigit() or v == 1):
            continue  # a key named after its pixels ('10px'): the generator writes the scale
        key = b.ns["spacing"].take(spacing_key(v))
        b.add("spacing", key, "dimension", px(v), "derived")
        b.by_value["spacing"][px(v)] = key
    rvals = sorted(v for v, c in radii.most_common(MAX_AUTO_RADII)
                   if c >= 2 and px(v) not in b.by_value["radius"])
    for v, name in zip(rvals, ladder_names(rvals, _RADIUS_LADDER), strict=True):
        key = b.ns["radius"].take(name)
        b.add("radius", key, "dimension", px(v), "derived")
        b.by_value["radius"][px(v)] = key

    # ---------------------------------------------------------------- shadows
    style_fx: dict[str, list[Effect]] = {}
    fx_count: Counter[str] = Counter()
    fx_of: dict[str, list[Effect]] = {}
    for n in walked:
        css = effect_css(n.effects)
        if css is None:
            continue
        sid = n.styles.get("effect")
        if sid and sid not in style_fx:
            style_fx[sid] = n.effects
        fx_count[css] += 1
        fx_of.setdefault(css, n.effects)
    for name, sid in sorted(((named(s), s) for s in style_fx if named(s)),
                            key=lambda t: (_natural(t[0]), t[1])):
        fx = style_fx[sid]
        css = effect_css(fx) or ""
        key = b.ns["shadow"].take(key_from_name(name, "shadow") or "shadow")
        b.add("shadow", key, "shadow", _dtcg_shadow(fx), "style", name, [sid],
              description=descr(sid))
        b.by_value["shadow"].setdefault(css, key)
    unnamed_fx: dict[str, list[str]] = {}
    for sid, fx in sorted(style_fx.items()):
        if not named(sid):
            css = effect_css(fx) or ""
            fx_of.setdefault(css, fx)
            unnamed_fx.setdefault(css, []).append(sid)
    repeated_fx = sorted((c for c, k in fx_count.items()
                          if k >= 2 and c not in b.by_value["shadow"] and c not in unnamed_fx),
                         key=lambda c: (-fx_count[c], c))[:MAX_AUTO_SHADOWS]
    auto_fx = sorted({c for c in unnamed_fx if c not in b.by_value["shadow"]} | set(repeated_fx),
                     key=lambda c: (-fx_count[c], c))
    for css, key in _shadow_names(auto_fx, fx_of, b.ns["shadow"]):
        b.add("shadow", key, "shadow", _dtcg_shadow(fx_of[css]), "derived",
              style_ids=unnamed_fx.get(css))
        b.by_value["shadow"].setdefault(css, key)
    for css, sids in unnamed_fx.items():
        if css not in auto_fx and css in b.by_value["shadow"]:
            ext = b.tokens["shadow"][b.by_value["shadow"][css]]["$extensions"][EXT]
            ext.setdefault("styleId", sids[0])

    return _finish(b)


def _typo_names(sigs: list[tuple[str, str, int, str | None, str]],
                sig_style: dict[tuple[str, str, int, str | None, str], TypeStyle],
                sig_count: Counter[tuple[str, str, int, str | None, str]],
                size_count: Counter[float], ns: Namespace,
                ) -> list[tuple[tuple[str, str, int, str | None, str], str]]:
    """``heading-1`` (largest) ... for sizes above the body size (the size most text uses),
    ``body``, then ``body-sm``, ``body-xs``, ``body-2xs`` ... below it; several styles of one
    size: the most used takes the plain name, the others add their weight (``body-bold``)."""
    if not sigs:
        return []
    body = min(size_count, key=lambda s: (-size_count[s], abs(s - 16), s)) if size_count \
        else 16.0
    sizes = sorted({_size(sig_style[s]) for s in sigs}, reverse=True)
    above = [s for s in sizes if s > body + 1e-6]
    below = [s for s in sizes if s < body - 1e-6]
    base: dict[float, str] = {s: f"heading-{i}" for i, s in enumerate(above, 1)}
    base.update({s: "body" for s in sizes if abs(s - body) <= 1e-6})
    small = ["body-sm", "body-xs"] + [f"body-{n}xs" for n in range(2, 10)]
    base.update({s: small[min(i, len(small) - 1)] for i, s in enumerate(below)})
    out = []
    by_size: dict[float, list[tuple[str, str, int, str | None, str]]] = {}
    for s in sigs:
        by_size.setdefault(_size(sig_style[s]), []).append(s)
    for size in sizes:
        group = sorted(by_size[size], key=lambda s: (-sig_count[s], s[2], s[0], str(s[3]), s[4]))
        first = group[0]
        for i, sig in enumerate(group):
            name = base[size]
            if i == 0:
                out.append((sig, ns.take(name)))
                continue
            named_w = f"{name}-{weight_name(sig[2])}" if sig[2] != first[2] else name
            cands = [named_w] if named_w != name else []
            if sig[3] != first[3]:
                cands.append(f"{named_w}-{leading_name(sig_style[sig])}")
            if sig[4] != first[4]:
                cands.append(f"{named_w}-{tracking_name(sig_style[sig])}")
            if sig[0] != first[0]:
                cands.append(f"{named_w}-{slug(sig[0], 'font')}")
            out.append((sig, ns.take(*cands, named_w)))
    return out


_LEADING = [("none", 1.0), ("tight", 1.25), ("snug", 1.375), ("normal", 1.5),
            ("relaxed", 1.625), ("loose", 2.0)]


_TRACKING = [("tighter", -0.05), ("tight", -0.025), ("normal", 0.0), ("wide", 0.025),
             ("wider", 0.05), ("widest", 0.1)]


def tracking_name(st: TypeStyle) -> str:
    """Tailwind's name for a letter spacing relative to the font size (``wide`` = 0.025em ...)."""
    size = _fin(st.fontSize)
    em = _fin(st.letterSpacing) / size if size > 0 else 0.0
    return "tracking-" + min(_TRACKING, key=lambda t: (abs(t[1] - em), t[1]))[0]


def leading_name(st: TypeStyle) -> str:
    """Tailwind's name for a line height relative to the font size (``tight`` = 1.25 ...)."""
    lh = line_height(st)
    if lh is None or lh == "normal":
        return "auto"
    size = _fin(st.fontSize)
    if lh.endswith("px"):
        ratio = float(lh[:-2]) / size if size > 0 else 1.0
    else:
        ratio = float(lh)
    return min(_LEADING, key=lambda t: (abs(t[1] - ratio), t[1]))[0]


def _shadow_size(effects: list[Effect]) -> float:
    return max((abs(e.offset.y if e.offset else 0) + e.radius + max(e.spread, 0)
                for e in _visible_shadows(effects)), default=0.0)


def _shadow_names(css_list: list[str], fx_of: dict[str, list[Effect]], ns: Namespace,
                  ) -> list[tuple[str, str]]:
    """Drop shadows on the ladder ``2xs`` ... ``2xl`` by size, inner shadows as ``inset-<size>``;
    stacks of the same geometry in several colours add the colour's name."""
    def geometry(css: str) -> str:
        return re.sub(r"#[0-9a-f]{6,8}", "", css)

    def first_color(css: str) -> str:
        m = re.search(r"#[0-9a-f]{6,8}", css)
        return m.group(0) if m else "#000000"

    out: list[tuple[str, str]] = []
    for inset in (False, True):
        items = [c for c in css_list
                 if all(e.type == "INNER_SHADOW" for e in _visible_shadows(fx_of[c])) == inset]
        size_of = {geometry(c): _shadow_size(fx_of[c]) for c in sorted(items, reverse=True)}
        geos = sorted(size_of, key=lambda g: (size_of[g], g))
        sizes = [size_of[g] for g in geos]
        names = dict(zip(geos, ladder_names(sizes, _SHADOW_LADDER), strict=True))
        for css in sorted(items, key=lambda c: (geos.index(geometry(c)), c)):
            name = ("inset-" if inset else "") + names[geometry(css)]
            same = [c for c in items if geometry(c) == geometry(css)]
            if len(same) > 1:
                name = f"{name}-{color_names(first_color(css))[0]}"
            out.append((css, ns.take(name)))
    return out


# ----------------------------------------------------------------------------- variables

_ALIAS_DEPTH = 16


def _var_group(v: Variable) -> str | None:
    """The token group of a variable, from its type, scopes and name."""
    words = set(re.findall(r"[a-z]+", v.name.lower()))
    scopes = set(v.scopes or ["ALL_SCOPES"])
    if v.resolvedType == "COLOR":
        return "color"
    if v.resolvedType == "STRING":
        if "FONT_FAMILY" in scopes or words & {"font", "family", "typeface"}:
            return "fontFamily"
        return None
    if v.resolvedType != "FLOAT":
        return None
    if scopes == {"CORNER_RADIUS"}:
        return "radius"
    if scopes and scopes <= {"GAP", "WIDTH_HEIGHT"}:
        return "spacing"
    if scopes == {"FONT_SIZE"}:
        return "fontSize"
    if "ALL_SCOPES" in scopes or not scopes:
        if words & {"radius", "radii", "corner", "rounded"}:
            return "radius"
        if words & {"spacing", "space", "gap", "padding", "margin", "inset", "gutter"}:
            return "spacing"
        if "size" in words and words & {"font", "text"}:
            return "fontSize"
    return None


def _mode_selector(mode_name: str) -> str:
    m = slug(mode_name, "mode")
    sel = f'[data-theme="{m}"]'
    return f"{sel}, .dark" if "dark" in m.split("-") else sel


def _variable_tokens(b: _Builder, lv: LocalVariables) -> None:
    cols = lv.variableCollections
    variables = lv.variables
    # stable order: collections by name, variables in the collection's order, then by name
    ordered: list[Variable] = []
    seen: set[str] = set()
    for col in sorted(cols.values(), key=lambda c: (_natural(c.name), c.id)):
        for vid in col.variableIds:
            v = variables.get(vid)
            if v is not None and vid not in seen:
                ordered.append(v)
                seen.add(vid)
    ordered += sorted((v for k, v in variables.items() if k not in seen),
                      key=lambda v: (_natural(v.name), v.id))
    var_key: dict[str, tuple[str, str]] = {}  # variable id -> (css prefix, key)
    prefixes = {"color": "color", "fontFamily": "font", "spacing": "spacing",
                "radius": "radius", "fontSize": "text"}
    groups: dict[str, str] = {}
    for v in ordered:
        g = _var_group(v)
        if g is None or (v.remote and not v.valuesByMode):
            continue
        groups[v.id] = g
        ns_group = "typography" if g == "fontSize" else g
        base = key_from_name(v.name, ns_group) or "token"
        col = cols.get(v.variableCollectionId)
        alt = f"{slug(col.name, '')}-{base}" if col and col.name else base
        var_key[v.id] = (prefixes[g], b.ns[ns_group].take(
            base, alt, avoid=_TEXT_SIZE_KEYS if g == "color" else frozenset()))

    def mode_value(v: Variable, mode_id: str, mode_name: str, depth: int = 0
                   ) -> tuple[Any, str | None]:
        """(resolved value, id of the variable it aliases)."""
        raw = v.valuesByMode.get(mode_id)
        if raw is None and v.valuesByMode:
            col = cols.get(v.variableCollectionId)
            raw = v.valuesByMode.get(col.defaultModeId if col else "") \
                or next(iter(v.valuesByMode.values()))
        if isinstance(raw, dict) and raw.get("type") == "VARIABLE_ALIAS":
            target = variables.get(str(raw.get("id")))
            if target is None or depth > _ALIAS_DEPTH:
                return None, None
            tcol = cols.get(target.variableCollectionId)
            tmode = tcol.defaultModeId if tcol else ""
            for m in tcol.modes if tcol else []:
                if m.name == mode_name:
                    tmode = m.modeId
            value, _ = mode_value(target, tmode, mode_name, depth + 1)
            return value, target.id
        return raw, None

    def css_of(g: str, value: Any) -> str | None:
        if value is None:
            return None
        if g == "color" and isinstance(value, dict):
            try:
                c = Color.model_validate(value)
            except ValidationError:
                return None
            if not all(math.isfinite(x) for x in (c.r, c.g, c.b, c.a)):
                return None
            return color_hex(c)
        if g in ("spacing", "radius", "fontSize") and isinstance(value, int | float) \
                and not isinstance(value, bool) and math.isfinite(value):
            return px(float(value))
        if g == "fontFamily" and isinstance(value, str) and value.strip():
            return value.strip()
        return None

    for v in ordered:
        if v.id not in var_key:
            continue
        g = groups[v.id]
        prefix, key = var_key[v.id]
        col = cols.get(v.variableCollectionId)
        modes = col.modes if col else []
        default_id = (col.defaultModeId if col else "") or (modes[0].modeId if modes else "")
        default_name = next((m.name for m in modes if m.modeId == default_id), "")
        value, alias = mode_value(v, default_id, default_name)
        css = css_of(g, value)
        if css is None:
            continue
        var_name = f"--{prefix}-{key}"
        theme_ref = None
        if alias and alias in var_key and var_key[alias][0] == prefix:
            theme_ref = f"var(--{prefix}-{var_key[alias][1]})"
        mode_vals: dict[str, str] = {}
        mode_decls: dict[str, str] = {}
        for m in modes:
            if m.modeId == default_id:
                continue
            mv, malias = mode_value(v, m.modeId, m.name)
            mcss = css_of(g, mv)
            if mcss is None:
                continue
            mode_vals[m.name] = mcss
            if malias and malias in var_key and var_key[malias][0] == prefix:
                decl = f"var(--{prefix}-{var_key[malias][1]})"
            else:
                decl = f"{_css_family(mcss)}, sans-serif" if g == "fontFamily" else mcss
            if mcss != css or decl != (theme_ref or css):
                mode_decls[_mode_selector(m.name)] = decl
        if g == "color":
            tok = b.add("color", key, "color", css, "variable", v.name, variable_id=v.id,
                        description=v.description)
            b.by_value["color"].setdefault(css, key)
        elif g == "spacing":
            tok = b.add("spacing", key, "dimension", css, "variable", v.name, variable_id=v.id,
                        description=v.description)
            b.by_value["spacing"].setdefault(css, key)
        elif g == "radius":
            tok = b.add("radius", key, "dimension", css, "variable", v.name, variable_id=v.id,
                        description=v.description)
            b.by_value["radius"].setdefault(css, key)
        elif g == "fontSize":
            tok = b.add("typography", key, "dimension", css, "variable", v.name,
                        variable_id=v.id, description=v.description)
        else:
            tok = b.add("fontFamily", key, "fontFamily", [css, "sans-serif"], "variable",
                        v.name, variable_id=v.id, description=v.description)
            b.by_value["fontFamily"].setdefault(css, key)
        if mode_vals:
            tok["$extensions"][EXT]["modes"] = {default_name or "default": css, **mode_vals}
        if alias and alias in var_key:
            tok["$extensions"][EXT]["alias"] = var_key[alias][1]
        if theme_ref or mode_decls:  # the CSS written for this variable (theme_css)
            css_ext: dict[str, Any] = {"var": var_name}
            if theme_ref:
                css_ext["theme"] = theme_ref
            if mode_decls:
                css_ext["modes"] = mode_decls
            tok["$extensions"][EXT]["css"] = css_ext


def variables_from_json(data: Any) -> LocalVariables | None:
    """Local variables from a ``GET /v1/files/:key/variables/local`` response (``{"meta":
    {...}}``) or its ``meta`` object; None when ``data`` carries none."""
    if not isinstance(data, dict):
        return None
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else data
    if not isinstance(meta, dict) or not isinstance(meta.get("variables"), dict):
        return None
    try:
        return LocalVariables.model_validate(meta)
    except ValidationError:
        return None


# ----------------------------------------------------------------------------- finish


def _finish(b: _Builder) -> TokenSet:
    """Order every group (variables, then styles, then derived; naturally by key within each);
    the Tailwind maps are filled from the DTCG document alone (see :func:`tokenset_from_dtcg`)."""
    rank = {"variable": 0, "style": 1, "derived": 2}
    dtcg: dict[str, Any] = {}
    for group in GROUPS:
        toks = b.tokens[group]
        if toks:
            keys = sorted(toks, key=lambda k: (rank[toks[k]["$extensions"][EXT]["source"]],
                                               _natural(k)))
            dtcg[group] = {k: toks[k] for k in keys}
    return tokenset_from_dtcg(dtcg)


def tokenset_from_dtcg(dtcg: dict[str, Any]) -> TokenSet:
    """The TokenSet (Tailwind maps, variable modes, ``theme_css()``) of a DTCG document written
    by :func:`extract_tokens`: the generate stage builds the project's theme from analyze's
    ``tokens.json`` with it, so variables and modes survive without the Figma source."""
    ts = TokenSet(dtcg=dtcg)
    for group in GROUPS:
        for k, tok in (dtcg.get(group) or {}).items():
            if not isinstance(tok, dict) or "$value" not in tok:
                continue
            v = tok["$value"]
            ext = (tok.get("$extensions") or {}).get(EXT) or {}
            if group == "color":
                ts.colors[k] = str(v)
            elif group == "typography":
                if isinstance(v, dict):
                    ts.font_size[k] = [str(v.get("fontSize", "16px")), {
                        "fontWeight": str(v.get("fontWeight", 400)),
                        "letterSpacing": str(v.get("letterSpacing", "0px")),
                        "lineHeight": str(v.get("lineHeight", "normal"))}]
                else:
                    ts.font_size[k] = [str(v), {}]
            elif group == "fontFamily":
                fam = str(v[0]) if isinstance(v, list) and v else str(v)
                ts.font_family[k] = [_css_family(fam), "sans-serif"]
            elif group == "spacing":
                ts.spacing[k] = str(v)
            elif group == "radius":
                ts.radius[k] = str(v)
            elif group == "shadow":
                ts.shadow[k] = _shadow_css_from_dtcg(v)
            css = ext.get("css")
            if isinstance(css, dict) and isinstance(css.get("var"), str):
                if isinstance(css.get("theme"), str):
                    ts.css_refs[css["var"]] = css["theme"]
                for selector, decl in (css.get("modes") or {}).items():
                    ts.modes.setdefault(str(selector), {})[css["var"]] = str(decl)
            ts.count += 1
    return ts


def lookup_from_dtcg(dtcg: dict[str, Any]) -> TokenLookup:
    """Rebuild value -> theme key maps from a DTCG document written by :func:`extract_tokens`."""
    lk = TokenLookup()

    def visit(group: str, node: dict[str, Any]) -> None:
        if "$value" in node:
            ext = node.get("$extensions", {}).get(EXT, {})
            tw = ext.get("tailwind")
            sids = list(ext.get("styleIds") or ([ext["styleId"]] if ext.get("styleId") else []))
            vid = ext.get("variableId")
            if not tw:
                return
            v = node["$value"]
            if group == "color" and isinstance(v, str):
                for sid in sids:
                    lk.color_by_style[sid] = tw
                if vid:
                    lk.color_by_variable[vid] = tw
                lk.color_by_value.setdefault(v, tw)
            elif group == "typography" and isinstance(v, dict):
                for sid in sids:
                    lk.typo_by_style[sid] = tw
                sig = json.dumps([v.get("fontFamily"), v.get("fontSize"), v.get("fontWeight"),
                                  v.get("lineHeight"), v.get("letterSpacing")])
                lk.typo_by_sig.setdefault(sig, tw)
            elif group == "fontFamily" and isinstance(v, list) and v:
                lk.family.setdefault(str(v[0]), tw)
            elif group == "spacing":
                lk.spacing.setdefault(str(v), tw)
                if vid:
                    lk.spacing_by_variable[vid] = tw
            elif group == "radius":
                lk.radius.setdefault(str(v), tw)
                if vid:
                    lk.radius_by_variable[vid] = tw
            elif group == "shadow":
                css = _shadow_css_from_dtcg(v)
                for sid in sids:
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
                       font_weight(style), lh if lh is not None else "normal",
                       px(style.letterSpacing)])


def _shadow_css_from_dtcg(v: Any) -> str:
    items = v if isinstance(v, list) else [v]
    parts = []
    for s in items:
        inset = "inset " if s.get("inset") else ""
        parts.append(f"{inset}{s['offsetX']} {s['offsetY']} {s['blur']} {s['spread']} {s['color']}")
    return ", ".join(parts)


def bound_variable_id(bound: dict[str, Any] | None, field_name: str) -> str | None:
    """The variable id bound to ``field_name`` in a node's or paint's ``boundVariables``
    (``{"color": {"type": "VARIABLE_ALIAS", "id": "VariableID:..."}}``; lists and per-corner
    maps such as ``rectangleCornerRadii`` take the first):
    the key into ``TokenLookup.color_by_variable`` and friends."""
    if not bound:
        return None
    v = bound.get(field_name)
    if isinstance(v, list):
        v = v[0] if v else None
    if isinstance(v, dict) and "type" not in v and v:  # per corner / side: the first one
        v = v[sorted(v)[0]]
    if isinstance(v, dict) and v.get("type") == "VARIABLE_ALIAS" and v.get("id"):
        return str(v["id"])
    return None
