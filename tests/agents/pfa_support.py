"""Shared helpers for the agents tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parents[3] / "shared" / "figma-fixtures"
if not FIXTURES_DIR.is_dir():
    FIXTURES_DIR = Path("/work/shared/figma-fixtures")
FIXTURES = sorted(FIXTURES_DIR.glob("*.json"))


def fixture_ids() -> list[str]:
    return [p.stem for p in FIXTURES]


def fixture(stem_prefix: str) -> Path:
    return next(p for p in FIXTURES if p.stem.startswith(stem_prefix))
