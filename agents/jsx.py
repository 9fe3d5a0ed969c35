"""The generator's intermediate form: a tree of JSX elements, and its printer.

The lowering step (:mod:`pf_agents.lower`) turns one Figma node tree into an :class:`El` tree;
:mod:`pf_agents.variants` merges the trees of a component set's variants into one tree whose
classes vary by prop (``cva``); :func:`print_jsx` prints a tree as TSX lines. Keeping the tree
as data (not strings) is what lets variants be compared, tests be derived from the design, and
the visual check map elements back to Figma nodes.

Printing follows Prettier's JSX layout (2-space indent, double quotes, one attribute per line
when an element does not fit in :data:`PRINT_WIDTH` columns) so the output needs no reformatting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

PRINT_WIDTH = 100
# JSX text without characters JSX or ESLint's react/no-unescaped-entities would object to
_SAFE_TEXT = re.compile(r"^[^{}<>&'\"\n\r\u2028\u2029]+$")


def js_str(s: str) -> str:
    """A TypeScript string literal (JSON is a subset of JS string syntax)."""
    return json.dumps(s, ensure_ascii=False)


@dataclass
class Txt:
    """A text child: a literal string, or a JS expression (``expr``) such as a prop name."""

    text: str = ""
    expr: str | None = None


@dataclass
class El:
    """One JSX element.

    ``tag``: an HTML/SVG tag or a component name. ``node``: the Figma node id it renders (None for
    elements the generator adds). ``name``: the Figma layer name (aligns variants). ``cls``:
    Tailwind classes in output order. ``cls_expr``: a JS expression used instead of ``cls`` (a
    ``cva`` call). ``attrs``: attribute -> JS code (``'"x"'`` for a string, ``'{v}'`` for an
    expression) or ``True`` for a bare attribute. ``cond``: a JS expression; the element renders
    only when it is truthy. ``kind``: the Figma node type, for tests and reports.
    """

    tag: str
    node: str | None = None
    name: str = ""
    kind: str = ""
    cls: list[str] = field(default_factory=list)
    cls_expr: str | None = None
    attrs: dict[str, str | bool] = field(default_factory=dict)
    children: list[El | Txt] = field(default_factory=list)
    cond: str | None = None
    slot: str | None = None  # a ReactNode prop that replaces this element when given
    raw: str | None = None  # pre-printed inner markup (SVG paths), printed as is

    def walk(self) -> list[El]:
        """This element and every element below it, pre-order (iterative)."""
        out: list[El] = []
        stack: list[El] = [self]
        while stack:
            el = stack.pop()
            out.append(el)
            stack.extend(c for c in reversed(el.children) if isinstance(c, El))
        return out

    def texts(self) -> list[str]:
        """Literal texts in document order (``Txt.text`` of non-expression children)."""
        out: list[str] = []
        stack: list[El | Txt] = [self]
        while stack:
            cur = stack.pop()
            if isinstance(cur, Txt):
                if cur.expr is None and cur.text:
                    out.append(cur.text)
            else:
                stack.extend(reversed(cur.children))
        return out


def class_string(cls: list[str]) -> str:
    return " ".join(dict.fromkeys(c for c in cls if c))


def _attr_code(el: El) -> list[str]:
    out: list[str] = []
    if el.cls_expr:
        out.append(f"className={{{el.cls_expr}}}")
    else:
        s = class_string(el.cls)
        if s:
            out.append(f"className={js_str(s)}")
    for k, v in el.attrs.items():
        if v is True:
            out.append(k)
        elif v is False:
            continue
        else:
            out.append(f"{k}={v}")
    return out


_CN_CALL = re.compile(r"^className=\{cn\((.*), className\)\}$")


def _attr_lines(pad: str, attrs: list[str]) -> list[str]:
    """One attribute per line; a ``cn(...)`` call too long for its line gets one argument per
    line, as Prettier prints it."""
    out: list[str] = []
    for a in attrs:
        m = _CN_CALL.match(a)
        if m and len(pad + a) > PRINT_WIDTH:
            out += [
                f"{pad}className={{cn(",
                f"{pad}  {m.group(1)},",
                f"{pad}  className,",
                f"{pad})}}",
            ]
        else:
            out.append(pad + a)
    return out


def _open_tag(pad: str, tag: str, attrs: list[str], head: str, end: str, single: bool) -> list[str]:
    """``<tag attrs>`` (or ``/>``) on one line when it fits or has one attribute, else one
    attribute per line."""
    one = f"{pad}<{head}{end}"
    if len(one) <= PRINT_WIDTH or single:
        return [one]
    return [f"{pad}<{tag}", *_attr_lines(pad + "  ", attrs), f"{pad}{end.strip()}"]


def _text_code(t: Txt) -> str:
    if t.expr is not None:
        return f"{{{t.expr}}}"
    s = t.text
    if _SAFE_TEXT.match(s) and s == s.strip() and "  " not in s:
        return s
    return f"{{{js_str(s)}}}"


def print_jsx(el: El, indent: int = 0) -> list[str]:
    """Print an element (and its subtree) as TSX lines at ``indent`` levels of 2 spaces."""
    # iterative: Figma trees can be hundreds of levels deep
    lines: list[str] = []
    # work items: ("open", el, indent) | ("line", text, indent)
    work: list[tuple[str, object, int]] = [("el", el, indent)]
    while work:
        kind, item, ind = work.pop()
        pad = "  " * ind
        if kind == "line":
            lines.append(pad + str(item))
            continue
        assert isinstance(item, El)
        cur = item
        if cur.cond or cur.slot:
            op = f"{cur.cond} && " if cur.cond else f"{cur.slot} ?? "
            inner = El(
                **{**cur.__dict__, "cond": None} if cur.cond else {**cur.__dict__, "slot": None}
            )
            inner_lines = print_jsx(inner, ind + 1)
            one = f"{pad}{{{op}{inner_lines[0].strip()}}}"
            if len(inner_lines) == 1 and len(one) <= PRINT_WIDTH:
                lines.append(one)  # Prettier: no parentheses around a one-line element
                continue
            lines.append(f"{pad}{{{op}(")
            lines.extend(inner_lines)
            lines.append(f"{pad})}}")
            continue
        attrs = _attr_code(cur)
        kids = cur.children
        if cur.raw is not None:
            body_inline = cur.raw
        elif len(kids) == 1 and isinstance(kids[0], Txt):
            body_inline = _text_code(kids[0])
        else:
            body_inline = None
        head = " ".join([cur.tag, *attrs])
        # Prettier keeps an element with one attribute on one line, whatever its length
        single = len(attrs) <= 1
        if not kids and cur.raw is None:
            lines.extend(_open_tag(pad, cur.tag, attrs, head, " />", single))
            continue
        if body_inline is not None:
            one = f"{pad}<{head}>{body_inline}</{cur.tag}>"
            if len(one) <= PRINT_WIDTH:
                lines.append(one)
                continue
        lines.extend(_open_tag(pad, cur.tag, attrs, head, ">", single))
        if body_inline is not None:
            lines.append(f"{pad}  {body_inline}")
            lines.append(f"{pad}</{cur.tag}>")
            continue
        work.append(("line", f"</{cur.tag}>", ind))
        for child in reversed(kids):
            if isinstance(child, Txt):
                work.append(("line", _text_code(child), ind + 1))
            else:
                work.append(("el", child, ind + 1))
    return lines
