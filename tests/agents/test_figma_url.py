"""Figma links -> file key, branch key and REST node ids."""

from __future__ import annotations

import dataclasses

import pytest

from pf_agents.figma_url import FigmaUrl, normalize_node_ids, parse_figma_url

KEY = "aBcDeF0123456789xyzQWE"


@pytest.mark.parametrize(
    ("url", "kind", "ids"),
    [
        (f"https://www.figma.com/design/{KEY}/My-File?node-id=12-34", "design", ("12:34",)),
        (f"https://figma.com/file/{KEY}/My-File?node-id=12%3A34&t=abc-1", "file", ("12:34",)),
        (
            f"https://www.figma.com/proto/{KEY}/P?node-id=1-2&starting-point-node-id=1%3A2",
            "proto",
            ("1:2",),
        ),
        (f"https://www.figma.com/board/{KEY}/Board", "board", ()),
        (f"www.figma.com/design/{KEY}", "design", ()),
        (
            f"https://www.figma.com/design/{KEY}/F?node-id=1-2,3-4&node-id=5:6&node-id=1-2",
            "design",
            ("1:2", "3:4", "5:6"),
        ),
        (
            f"https://www.figma.com/design/{KEY}/F?node-id=I12-34%3B56-78",
            "design",
            ("I12:34;56:78",),
        ),
    ],
)
def test_shapes(url: str, kind: str, ids: tuple[str, ...]) -> None:
    u = parse_figma_url(url)
    assert u.file_key == KEY
    assert u.kind == kind
    assert u.node_ids == ids
    assert u.branch_key is None
    assert u.fetch_key == KEY


def test_branch_url_fetches_the_branch_key() -> None:
    u = parse_figma_url(
        f"https://www.figma.com/design/{KEY}/branch/BRanch42/Name%20Here?node-id=7-8"
    )
    assert (u.file_key, u.branch_key, u.fetch_key) == (KEY, "BRanch42", "BRanch42")
    assert u.name == "Name Here" and u.node_ids == ("7:8",)


def test_frozen() -> None:
    u = parse_figma_url(f"https://www.figma.com/design/{KEY}/x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.file_key = "other"  # type: ignore[misc]
    assert u == FigmaUrl(file_key=KEY, name="x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty Figma URL"),
        (f"https://figma.com.evil.example/design/{KEY}/x", "not a Figma URL: host"),
        (f"https://example.com/design/{KEY}/x", "not a Figma URL: host 'example.com'"),
        (f"ftp://www.figma.com/design/{KEY}/x", "must use https"),
        ("https://www.figma.com/design/", "no file key after /design/"),
        ("https://www.figma.com/files/recent", "must start with /design/"),
        ("https://www.figma.com/", "must start with /design/"),
        ("https://www.figma.com/design/ab$cd/x", "is not alphanumeric"),
        (f"https://www.figma.com/design/{KEY}/branch/", "no branch key"),
        (f"https://www.figma.com/design/{KEY}/x?node-id=header", "node-id: not a Figma node id"),
    ],
)
def test_errors_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("?", r"\?")):
        parse_figma_url(url)


def test_normalize_node_ids_for_the_cli() -> None:
    assert normalize_node_ids(["12-34,12:34", "5%3A6", " "]) == ("12:34", "5:6")
    with pytest.raises(ValueError, match="not a Figma node id"):
        normalize_node_ids(["12"])
