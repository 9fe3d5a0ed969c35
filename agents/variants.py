"""Merging the variants of a component set into one component body.

A component set's variants are lowered one by one (:mod:`pf_agents.lower`); this module

1. folds interaction-state variants (hover, focus, pressed, disabled) into CSS state classes of
   their resting variant (``hover:bg-…``), so they are not props;
2. aligns the remaining trees by layer name and merges them: an element present in every variant
   is written once, classes that differ become ``cva`` variants (attributed to the one prop that
   explains them, else compound variants), an element present in some variants only is rendered
   under a condition on the props, and elements that really differ are switched.

The merge is exact: for every variant the merged tree renders the same elements with the same
class sets as that variant's own tree (tested in tests/agents/test_generator.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

from .jsx import PRINT_WIDTH, El, Txt, class_string, js_str

STATE_WORDS = {
    "hover": "hover",
    "hovered": "hover",
    "hovering": "hover",
    "mouseover": "hover",
    "focus": "focus",
    "focused": "focus",
    "focusvisible": "focus",
    "focusring": "focus",
    "pressed": "active",
    "press": "active",
    "active": "active",
    "down": "active",
    "disabled": "disabled",
    "inactive": "disabled",
}
REST_WORDS = {
    "default",
    "rest",
    "resting",
    "normal",
    "enabled",
    "idle",
    "none",
    "base",
    "static",
    "initial",
    "off",
    "false",
    "no",
    "regular",
}
TRUE_WORDS = {"true", "yes", "on"}
FALSE_WORDS = {"false", "no", "off"}
STATE_PROP_NAMES = {"state", "states", "interaction", "interactionstate", "status", "mode"}
PSEUDO = {
    "hover": ":hover",
    "focus": ":focus-visible",
    "active": ":active",
    "disabled": ":disabled",
}


def _word(s: str) -> str:
    return re.sub(r"[^a-z]", "", s.lower())


def is_boolean_options(options: Iterable[str]) -> bool:
    words = {_word(o) for o in options}
    return (
        len(words) == 2
        and any(w in TRUE_WORDS for w in words)
        and any(w in FALSE_WORDS for w in words)
    )


@dataclass(frozen=True)
class StateProp:
    """A variant property that encodes interaction states. ``states``: option -> state name
    (hover | focus | active | disabled) for the non-resting options; ``rest``: resting option."""

    name: str
    rest: str
    states: dict[str, str]


def state_props(props: dict[str, list[str]]) -> list[StateProp]:
    """The variant properties that are interaction states (Figma name -> options)."""
    out = []
    for name, options in props.items():
        w = _word(name)
        if is_boolean_options(options) and w in STATE_WORDS:
            rest = next(o for o in options if _word(o) in FALSE_WORDS)
            on = next(o for o in options if _word(o) in TRUE_WORDS)
            out.append(StateProp(name, rest, {on: STATE_WORDS[w]}))
            continue
        if w in STATE_PROP_NAMES or all(
            _word(o) in STATE_WORDS or _word(o) in REST_WORDS for o in options
        ):
            rest_opts = [o for o in options if _word(o) in REST_WORDS]
            states = {o: STATE_WORDS[_word(o)] for o in options if _word(o) in STATE_WORDS}
            if rest_opts and states and len(rest_opts) + len(states) == len(options):
                out.append(StateProp(name, rest_opts[0], states))
    return out


# ------------------------------------------------------------------------------- tree alignment


def _keys(children: list[El | Txt]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    out = []
    for c in children:
        name = c.name if isinstance(c, El) else "#text"
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append((name, n))
    return out


def pair_walk(a: El, b: El) -> tuple[list[tuple[El, El]], list[El]]:
    """Elements of ``a`` and ``b`` matched by their path of layer names; and ``b``'s elements
    without a partner in ``a``."""
    pairs: list[tuple[El, El]] = []
    extra: list[El] = []
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        pairs.append((x, y))
        xs = {k: c for k, c in zip(_keys(x.children), x.children, strict=True) if isinstance(c, El)}
        for k, c in zip(_keys(y.children), y.children, strict=True):
            if not isinstance(c, El):
                continue
            if k in xs and xs[k].tag == c.tag:
                stack.append((xs[k], c))
            else:
                extra.append(c)
    return pairs, extra


def fold_states(rest: El, state_tree: El, state: str, prefix: str) -> list[El]:
    """Add ``state_tree``'s class differences to ``rest`` as ``prefix`` classes (``hover:``).
    Returns the state tree's elements that have no partner (layers shown only in that state)."""
    pairs, extra = pair_walk(rest, state_tree)
    grouped = False
    for x, y in pairs:
        have = set(x.cls)
        # a descendant reacts to the root's state: group-hover:, group-focus-visible:, ...
        pre = prefix if x is rest else "group-" + prefix
        for c in y.cls:
            if c not in have and ":" not in c.split("[")[0]:
                x.cls.append(pre + c)
                grouped = grouped or x is not rest
    if grouped and "group" not in rest.cls:
        rest.cls.insert(0, "group")
    return extra


# ----------------------------------------------------------------------------------- merging

Values = dict[str, str]  # prop ident -> option code (a JS literal: '"primary"' or 'true')


@dataclass
class ClassVariants:
    """How one element's classes depend on props (the arguments of a ``cva`` call)."""

    base: list[str]
    by_prop: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    compound: list[tuple[dict[str, list[str]], list[str]]] = field(default_factory=list)

    def varies(self) -> bool:
        return bool(self.by_prop or self.compound)


def attribute_classes(
    per_variant: list[tuple[Values, list[str]]], prop_order: list[str]
) -> ClassVariants:
    """Split class lists into a base and per-prop (or compound) additions, exactly.

    ``per_variant``: (prop values, classes) for the variants where the element exists."""
    sets = [set(c) for _, c in per_variant]
    order: list[str] = []
    for _, cls in per_variant:
        for c in cls:
            if c not in order:
                order.append(c)
    base = [c for c in order if all(c in s for s in sets)]
    out = ClassVariants(base=base)
    Key = tuple[tuple[str, tuple[str, ...]], ...]
    compound: dict[Key, list[str]] = {}
    for c in order:
        if c in base:
            continue
        having = [i for i, s in enumerate(sets) if c in s]
        placed = False
        for p in prop_order:
            opts = {per_variant[i][0].get(p) for i in having}
            if None in opts:
                continue
            explained = [i for i, (vals, _) in enumerate(per_variant) if vals.get(p) in opts]
            if explained == having:
                for o in sorted(opts, key=str):
                    assert o is not None
                    out.by_prop.setdefault(p, {}).setdefault(o, []).append(c)
                placed = True
                break
        if placed:
            continue
        # a rectangle over two props: one compound variant with option lists
        for p, q in combinations(prop_order, 2):
            op = {per_variant[i][0].get(p) for i in having}
            oq = {per_variant[i][0].get(q) for i in having}
            if None in op or None in oq:
                continue
            explained = [
                i
                for i, (vals, _) in enumerate(per_variant)
                if vals.get(p) in op and vals.get(q) in oq
            ]
            if explained == having:
                key: Key = (
                    (p, tuple(sorted(str(o) for o in op))),
                    (q, tuple(sorted(str(o) for o in oq))),
                )
                compound.setdefault(key, []).append(c)
                placed = True
                break
        if placed:
            continue
        for i in having:  # one compound entry per variant that has it
            one: Key = tuple((k, (v,)) for k, v in sorted(per_variant[i][0].items()))
            compound.setdefault(one, []).append(c)
    out.compound = [({k: list(v) for k, v in key}, cls) for key, cls in compound.items()]
    return out


def predicate(
    present: list[int],
    variants: list[Values],
    prop_order: list[str],
    booleans: set[str],
    among: list[int] | None = None,
) -> str | None:
    """A JS condition true exactly for the variants in ``present`` among those in ``among``
    (default all: ``among`` is where the enclosing element already renders, so its condition is
    not repeated); None when it is all of them."""
    scope = set(range(len(variants)) if among is None else among)
    if len(set(present) & scope) == len(scope):
        return None
    target = set(present)

    def term(p: str, opts: set[str]) -> str:
        if p in booleans and len(opts) == 1:
            (o,) = opts
            return p if o == "true" else f"!{p}"
        parts = [f"{p} === {o}" for o in sorted(opts)]
        return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"

    for width in (1, 2):
        for ps in combinations(prop_order, width):
            opts = {p: {variants[i].get(p, "") for i in present} for p in ps}
            match = {
                i
                for i, v in enumerate(variants)
                if i in scope and all(v.get(p, "") in opts[p] for p in ps)
            }
            if match == target:
                return " && ".join(term(p, opts[p]) for p in ps)
    combos = []
    for i in present:
        combos.append(
            "("
            + " && ".join(term(p, {variants[i][p]}) for p in prop_order if p in variants[i])
            + ")"
        )
    return " || ".join(combos)


@dataclass
class Merge:
    """Merges aligned variant trees. ``variants``: prop values of each tree, same order."""

    variants: list[Values]
    prop_order: list[str]
    booleans: set[str]
    cva: list[tuple[str, ClassVariants]] = field(default_factory=list)  # (const name, spec)
    _names: set[str] = field(default_factory=set)

    def const_name(self, base: str) -> str:
        words = re.findall(r"[A-Za-z0-9]+", base) or ["part"]
        name = words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
        if name[0].isdigit():
            name = "part" + name
        name += "Variants"
        n, out = 2, str(name)
        while out in self._names:
            out, n = f"{name}{n}", n + 1
        self._names.add(out)
        return out

    def merge(
        self, trees: list[El | None], idx: list[int] | None = None, root_const: str | None = None
    ) -> list[El]:
        """Merge one aligned position. ``trees[k]`` is variant ``idx[k]``'s element (or None).
        Returns the elements to emit there (several when variants really differ)."""
        if idx is None:
            idx = list(range(len(trees)))
        present = [(i, t) for i, t in zip(idx, trees, strict=True) if t is not None]
        if not present:
            return []
        groups: dict[str, list[tuple[int, El]]] = {}
        for i, t in present:
            groups.setdefault(self._shape(t), []).append((i, t))
        out = []
        for members in groups.values():
            out.append(self._merge_group(members, root_const if len(groups) == 1 else None, idx))
        return out

    def _shape(self, el: El) -> str:
        """What must be equal for two variants' elements to be written once."""
        texts = "|".join(c.expr or c.text for c in el.children if isinstance(c, Txt))
        attrs = ";".join(f"{k}={v}" for k, v in sorted(el.attrs.items()))
        return f"{el.tag}/{el.raw or ''}/{texts}/{attrs}"

    def _merge_group(
        self, members: list[tuple[int, El]], root_const: str | None, among: list[int]
    ) -> El:
        first = members[0][1]
        el = El(
            tag=first.tag,
            node=first.node,
            name=first.name,
            kind=first.kind,
            attrs=dict(first.attrs),
            raw=first.raw,
        )
        per_variant = [(self.variants[i], t.cls) for i, t in members]
        spec = attribute_classes(per_variant, self.prop_order)
        if spec.varies():
            name = root_const or self.const_name(first.name or first.tag)
            self.cva.append((name, spec))
            args = [
                p
                for p in self.prop_order
                if p in spec.by_prop or any(p in v for v, _ in spec.compound)
            ]
            el.cls_expr = f"{name}({{ {', '.join(args)} }})"
        else:
            el.cls = spec.base
        present = [i for i, _ in members]
        where = predicate(present, self.variants, self.prop_order, self.booleans, among)
        own = first.cond  # a layer toggled by a BOOLEAN property
        if where and own and ") || (" in where:
            where = f"({where})"
        el.cond = f"{where} && {own}" if where and own else (where or own)
        el.slot = first.slot
        # children: align by key across members
        keys: list[tuple[str, int]] = []
        per: list[dict[tuple[str, int], El | Txt]] = []
        for _, t in members:
            ks = _keys(t.children)
            per.append(dict(zip(ks, t.children, strict=True)))
            prev = -1
            for k in ks:
                if k in keys:
                    prev = keys.index(k)
                else:
                    keys.insert(prev + 1, k)
                    prev += 1
        for k in keys:
            items = [m.get(k) for m in per]
            if all(isinstance(x, Txt) or x is None for x in items):
                txt = next(x for x in items if x is not None)
                el.children.append(txt)
                continue
            elems = [x if isinstance(x, El) else None for x in items]
            for child in self.merge(elems, present):
                if child.cond and el.cond and child.cond == el.cond:
                    child.cond = None
                el.children.append(child)
        return el


def print_cva(
    name: str, spec: ClassVariants, defaults: Values, options: dict[str, list[str]]
) -> list[str]:
    """``const name = cva("base", { variants, compoundVariants, defaultVariants });``

    ``options``: prop -> every option code; each prop the call takes lists all of its options
    (empty classes where an option adds none), as cva's types require."""
    base = js_str(class_string(spec.base))
    used_props = [p for p in options if p in spec.by_prop or any(p in v for v, _ in spec.compound)]
    spec = ClassVariants(
        base=spec.base,
        by_prop={
            p: {o: spec.by_prop.get(p, {}).get(o, []) for o in options[p]} for p in used_props
        },
        compound=spec.compound,
    )
    if not spec.varies():
        one = f"const {name} = cva({base});"
        return [one] if len(one) <= PRINT_WIDTH else [f"const {name} = cva(", f"  {base},", ");"]
    head = f"const {name} = cva({base}, {{"
    # Prettier: when the call does not fit, every argument goes on its own line
    broken = len(head) > PRINT_WIDTH
    ind = "  " if broken else ""
    lines = [f"const {name} = cva(", f"  {base},", "  {"] if broken else [head]
    lines.append(f"{ind}  variants: {{")
    for p, opts in spec.by_prop.items():
        inline = ", ".join(f"{_key(o)}: {js_str(class_string(cls))}" for o, cls in opts.items())
        one = f"{ind}    {p}: {{ {inline} }},"
        if len(one) <= PRINT_WIDTH:
            lines.append(one)  # Prettier keeps an object on one line when written so and it fits
            continue
        lines.append(f"{ind}    {p}: {{")
        for o, cls in opts.items():
            lines.append(_prop_line(f"{ind}      ", _key(o), js_str(class_string(cls))))
        lines.append(f"{ind}    }},")
    lines.append(f"{ind}  }},")
    if spec.compound:
        lines.append(f"{ind}  compoundVariants: [")
        for vals, cls in spec.compound:
            body = ", ".join(f"{k}: {_opts(v)}" for k, v in vals.items())
            one = f"{ind}    {{ {body}, class: {js_str(class_string(cls))} }},"
            if len(one) <= PRINT_WIDTH:
                lines.append(one)
            else:
                lines.append(f"{ind}    {{")
                lines.extend(f"{ind}      {k}: {_opts(v)}," for k, v in vals.items())
                lines.append(_prop_line(f"{ind}      ", "class", js_str(class_string(cls))))
                lines.append(f"{ind}    }},")
        lines.append(f"{ind}  ],")
    used = set(spec.by_prop) | {k for v, _ in spec.compound for k in v}
    dv = ", ".join(f"{k}: {v}" for k, v in defaults.items() if k in used)
    if dv:
        lines.append(f"{ind}  defaultVariants: {{ {dv} }},")
    if broken:
        lines += ["  },", ");"]
    else:
        lines.append("});")
    return lines


def _opts(codes: list[str]) -> str:
    return codes[0] if len(codes) == 1 else "[" + ", ".join(codes) + "]"


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def _key(code: str) -> str:
    """An object key for an option literal: unquoted when it is an identifier (Prettier)."""
    if code.startswith('"'):
        inner = code[1:-1]
        return inner if _IDENT.match(inner) else code
    return code


def _prop_line(pad: str, key: str, value: str) -> str:
    one = f"{pad}{key}: {value},"
    return one if len(one) <= PRINT_WIDTH else f"{pad}{key}:\n{pad}  {value},"
