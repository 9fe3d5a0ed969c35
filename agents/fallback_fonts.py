"""Metric-adjusted fallback faces for design fonts the project cannot bundle.

A design family without an ``@fontsource`` package (GDS Transport, Helvetica Neue, SF Pro, a
brand's own face) renders in the browser's fallback (Arial, Times New Roman or Courier New, and
their metric-compatible Liberation faces on Linux). Their glyphs are wider or narrower than the
design's, so texts wrap differently and every box that hugs a text changes size. As ``next/font``
does for its fallbacks (and Capsize/fontaine), the project declares a fallback face per family,
``"<Family> Fallback"``: the system face through ``local()`` with a CSS ``size-adjust`` so its
glyphs take the design font's widths. The ratio is measured on the design itself: each visible,
single-line TEXT that hugs its content (``style.textAutoResize == "WIDTH_AND_HEIGHT"``) in one
style gives its Figma width against the width of the same characters in the fallback's metrics
(``font_metrics``); the median ratio, per weight class (regular: weight <= 500, bold above), is
the ``size-adjust`` (each distinct text votes once).

CSS: ``size-adjust`` (CSS Fonts 5, https://www.w3.org/TR/css-fonts-5/#size-adjust-desc) scales
glyph outlines and advances, not the computed ``font-size`` or an explicit line height.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from .figma_models import Node
from .font_metrics import CHARS, FACES

MIN_SAMPLES = 2
# outside this range the design face is not a text face the fallback can stand in for
MIN_RATIO, MAX_RATIO = 0.75, 1.33
# below this difference the fallback already matches (Arial for Arial, Helvetica for Arial)
NOOP = 0.01

MONO_HINT = re.compile(r"mono|code|courier|consol", re.I)
SERIF_HINT = re.compile(r"serif|times|georgia|garamond|merriweather|playfair", re.I)

# kind -> the system face and its metric-compatible Linux faces (Liberation, Croscore), each as
# (full name, PostScript name of the regular, PostScript pattern of the other styles)
_SYSTEM_FACES = {
    "sans": (
        ("Arial", "ArialMT", "Arial-{}MT"),
        ("Liberation Sans", "LiberationSans", "LiberationSans-{}"),
        ("Arimo", "Arimo-Regular", "Arimo-{}"),
    ),
    "serif": (
        ("Times New Roman", "TimesNewRomanPSMT", "TimesNewRomanPS-{}MT"),
        ("Liberation Serif", "LiberationSerif", "LiberationSerif-{}"),
        ("Tinos", "Tinos-Regular", "Tinos-{}"),
    ),
    "mono": (
        ("Courier New", "CourierNewPSMT", "CourierNewPS-{}MT"),
        ("Liberation Mono", "LiberationMono", "LiberationMono-{}"),
        ("Cousine", "Cousine-Regular", "Cousine-{}"),
    ),
}


def local_names(kind: str, *, bold: bool, italic: bool) -> list[str]:
    """The ``local()`` names (full and PostScript) of the system faces for one style."""
    style = ("Bold" if bold else "") + ("Italic" if italic else "")
    out = []
    for full, ps_regular, ps_pattern in _SYSTEM_FACES[kind]:
        out.append(f"{full} {'Bold ' if bold else ''}{'Italic' if italic else ''}".strip())
        out.append(ps_pattern.format(style) if style else ps_regular)
    return out


_INDEX = {ch: i for i, ch in enumerate(CHARS)}


def font_kind(family: str) -> str:
    """``"mono"``, ``"serif"`` or ``"sans"`` for a family name (from words in it)."""
    if MONO_HINT.search(family):
        return "mono"
    if SERIF_HINT.search(family) and "sans" not in family.lower():
        return "serif"
    return "sans"


def text_width(text: str, size: float, *, kind: str = "sans", bold: bool = False) -> float | None:
    """Advance width in px of ``text`` at ``size`` px in the fallback face of ``kind`` (no
    kerning, no letter spacing); None when a character is outside the metrics table."""
    key = kind if kind == "mono" else f"{kind}-bold" if bold else kind
    upm, _, widths = FACES[key]
    total = 0
    for ch in text:
        i = _INDEX.get(ch)
        if i is None:
            return None
        total += widths[i]
    return total * size / upm


@dataclass(frozen=True)
class FallbackFace:
    """The fallback face of one design family: ``size_adjust`` per weight class (1.0 = the
    system face as it is), how many texts measured it."""

    family: str
    kind: str
    regular: float
    bold: float
    samples: int

    @property
    def adjusts(self) -> bool:
        """Whether the project declares this face: measured on enough texts, and differing from
        the system face by at least 1%."""
        return self.samples >= MIN_SAMPLES and (
            abs(self.regular - 1) >= NOOP or abs(self.bold - 1) >= NOOP
        )

    @property
    def name(self) -> str:
        """The CSS family name of the fallback face (``"GDS Transport Fallback"``)."""
        return f"{self.family} Fallback"

    def css(self) -> str:
        """``@font-face`` rules: regular, bold, italic and bold italic faces."""
        rules = [
            f"/* {self.family} is not bundled: {_SYSTEM_FACES[self.kind][0][0]}'s metrics scaled "
            f"to its widths in the design ({self.samples} texts measured) */"
        ]
        for bold in (False, True):
            for italic in (False, True):
                names = local_names(self.kind, bold=bold, italic=italic)
                src = ", ".join(f'local("{n}")' for n in names)
                adjust = self.bold if bold else self.regular
                rules.append(
                    "@font-face {\n"
                    f'  font-family: "{self.name}";\n'
                    f"  src: {src};\n"
                    f"  font-weight: {'600 900' if bold else '100 500'};\n"
                    f"  font-style: {'italic' if italic else 'normal'};\n"
                    f"  size-adjust: {adjust * 100:.1f}%;\n"
                    "}"
                )
        return "\n".join(rules) + "\n"


def cased(text: str, case: str | None) -> str:
    """``text`` as drawn with Figma's ``textCase`` (UPPER, LOWER, TITLE; CSS text-transform)."""
    if case == "UPPER":
        return text.upper()
    if case == "LOWER":
        return text.lower()
    if case == "TITLE":
        return text.title()
    return text


def _samples(nodes: Iterable[Node], family: str, kind: str) -> tuple[list[float], list[float]]:
    regular: list[float] = []
    bold: list[float] = []
    seen: set[tuple[str, float, bool]] = set()  # a text repeated in variants votes once
    for n in nodes:
        st = n.style
        if (
            n.type != "TEXT"
            or not n.visible
            or st is None
            or st.fontFamily != family
            or st.textAutoResize != "WIDTH_AND_HEIGHT"
            or st.italic
            or any(n.characterStyleOverrides)
            or abs(n.rotation) > 1e-3
            or n.absoluteBoundingBox is None
        ):
            continue
        text = cased(n.characters or "", st.textCase)
        if len(text.strip()) < 3 or any(c in text for c in "\n\u2028\u2029"):
            continue
        heavy = st.fontWeight > 500
        if (text, st.fontSize, heavy) in seen:
            continue
        seen.add((text, st.fontSize, heavy))
        natural = text_width(text, st.fontSize, kind=kind, bold=heavy)
        if not natural:
            continue
        ratio = (n.absoluteBoundingBox.width - st.letterSpacing * len(text)) / natural
        if MIN_RATIO <= ratio <= MAX_RATIO:
            (bold if heavy else regular).append(ratio)
    return regular, bold


def fallback_faces(nodes: Iterable[Node], families: Iterable[str]) -> dict[str, FallbackFace]:
    """The fallback face of each of ``families`` (design family names without a bundled font),
    keyed by family: the measured ``size-adjust`` per weight class, 1.0 where nothing measures
    it. Only faces that ``adjust`` are declared in the project's CSS; the others still tell the
    generator how wide the browser draws a text (``Lowering.sizing``)."""
    pool = list(nodes)
    out: dict[str, FallbackFace] = {}
    for family in families:
        kind = font_kind(family)
        regular, bold = _samples(pool, family, kind)
        measured = len(regular) + len(bold)
        if measured < MIN_SAMPLES:
            out[family] = FallbackFace(family, kind, 1.0, 1.0, measured)
            continue
        r = statistics.median(regular) if regular else statistics.median(bold)
        b = statistics.median(bold) if bold else r
        out[family] = FallbackFace(family, kind, round(r, 3), round(b, 3), measured)
    return out


__all__ = ["FallbackFace", "cased", "fallback_faces", "font_kind", "local_names", "text_width"]
