"""Design tokens: names people use (styles, variables, derived), Tailwind 4 theme CSS, DTCG."""

from __future__ import annotations

import re

import pytest
from pfa_support import FIXTURES, fixture_ids

from pf_agents.analyze import analyze_source
from pf_agents.figma_client import load_figma_file
from pf_agents.tokens import extract_tokens

DECL = re.compile(r"^\s*(--[a-z0-9][a-z0-9-]*(?:--[a-z-]+)?)\s*:\s*([^;{}]+);\s*$")


def tokens_of(path):
    return extract_tokens(analyze_source(load_figma_file(str(path))))


@pytest.mark.parametrize("path", FIXTURES, ids=fixture_ids())
def test_theme_css_is_well_formed(path) -> None:
    css = tokens_of(path).theme_css()
    assert css.startswith("@theme {\n")
    depth = 0
    for line in css.splitlines():
        s = line.strip()
        if not s:
            continue
        if s.endswith("{"):
            depth += 1
            continue
        if s == "}":
            depth -= 1
            continue
        assert depth == 1 and DECL.match(line), line
    assert depth == 0
