"""Valid, unique TypeScript identifiers and file-safe slugs from arbitrary layer names."""

from __future__ import annotations

import re
import unicodedata

# Words that can never be identifiers, plus globals / names used by the generated code that a
# component must not shadow.
TS_RESERVED = frozenset(
    """break case catch class const continue debugger default delete do else enum export extends
    false finally for function if import in instanceof new null return super switch this throw true
    try typeof var void while with as implements interface let package private protected public
    static yield any boolean constructor declare get module require number set string symbol type
    from of async await never unknown object undefined keyof readonly infer is asserts satisfies
    accessor abstract global namespace out override""".split()
)
RESERVED_COMPONENT_NAMES = frozenset(
    """Object Array String Number Boolean Symbol Function Promise Error Date Map Set WeakMap WeakSet
    Math JSON Intl Reflect Proxy RegExp Record Partial Required Readonly Pick Omit Exclude Extract
    NaN Infinity React JSX Image Text Node Element Document Window Event Option Audio Video Request
    Response Headers URL Blob File Storage Location History Navigator Screen Range Selection
    Page RootLayout Metadata Meta StoryObj Story UiButton UiInput UiCard UiBadge Fragment Default
    Primary Props Variants Link
    """.split()
)
RESERVED_PROP_NAMES = frozenset({"className", "children", "key", "ref", "style", "disabled"})
# Figma property names that mean "which variant" and read best as shadcn/ui's `variant` prop
VARIANT_ALIASES = frozenset(
    {"type", "kind", "style", "variant", "appearance", "hierarchy", "emphasis", "intent"}
)

_WORD = re.compile(r"[A-Za-z0-9]+")


def _ascii_words(name: str) -> list[str]:
    norm = unicodedata.normalize("NFKD", name)
    norm = norm.encode("ascii", "ignore").decode("ascii")
    # split camelCase boundaries ("myButton" -> my Button, "HTMLParser" -> HTML Parser) but keep
    # runs of digits and capitals such as hex codes ("25333D") together
    norm = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", norm)
    return _WORD.findall(norm)


def pascal_case(name: str, fallback: str = "Component") -> str:
    words = _ascii_words(name)
    ident = "".join(w[:1].upper() + w[1:] for w in words)
    if not ident:
        ident = fallback
    if ident[0].isdigit():
        ident = fallback[:1].upper() + fallback[1:] + ident
    return ident


def camel_case(name: str, fallback: str = "prop") -> str:
    words = _ascii_words(name)
    if not words:
        ident = fallback
    else:
        ident = words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])
    if ident[0].isdigit():
        ident = fallback + ident
    if ident in TS_RESERVED or ident in RESERVED_PROP_NAMES:
        ident = ident + "Prop"
    return ident


def component_name(name: str) -> str:
    ident = pascal_case(name)
    if ident in RESERVED_COMPONENT_NAMES:
        ident = ident + "Component"
    return ident[:64]


def slug(name: str, fallback: str = "token") -> str:
    words = [w.lower() for w in _ascii_words(name)]
    s = "-".join(words)[:60].strip("-")
    return s or fallback


class UniqueNames:
    """Hands out unique names: ``Button``, ``Button2``, ``Button3`` ..."""

    def __init__(self, taken: set[str] | None = None, sep: str = "") -> None:
        # compared case-insensitively so file names stay unique on case-insensitive file systems
        self._taken: set[str] = {t.lower() for t in taken or ()}
        self._sep = sep

    def take(self, base: str) -> str:
        name = base
        n = 2
        while name.lower() in self._taken:
            name = f"{base}{self._sep}{n}"
            n += 1
        self._taken.add(name.lower())
        return name
