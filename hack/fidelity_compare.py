#!/usr/bin/env python3
"""Compare the visual stage's box scores with the independent fidelity instrument
(../shared/tools/fidelity) on the instrument's population: its renders (Figma roots it measured)
and the nodes it matched. Prints one row per file and exits 1 when any differs by more than
2 percentage points. The last columns repeat the comparison on the nodes the instrument paired
by structure: it pairs a text with the k-th element showing the same characters, which swaps
repeated texts (e.g. digits in a colour table), while the visual stage's mapping is by
construction.

    python3 hack/fidelity_compare.py INSTRUMENT.json VISUAL-REPORT.json [more pairs ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOLERANCE_PP = 2.0
WITHIN_PX = 4.0


def compare(instrument: dict, report: dict, how: str | None = None
            ) -> tuple[float | None, float | None, float | None, int, int]:
    """(instrument's within-4-px % on all its nodes, on the nodes both measured, ours on those,
    nodes compared, its nodes the manifest does not map)."""
    ours = {}
    for row in report["renders"]:
        if row.get("state") is None and "errors" in row:
            ours.setdefault(row["figmaNode"], row["errors"])
    theirs_ok = theirs_n = both_ok = ours_ok = compared = missing = 0
    for comp in instrument["components"]:
        for case in comp.get("cases", []):
            errors = ours.get(case.get("figmaRoot"))
            for box in case.get("boxes", []):
                if how is not None and box.get("how") != how:
                    continue
                theirs_n += 1
                theirs_ok += box["err"] <= WITHIN_PX
                if errors is None or box["id"] not in errors:
                    missing += 1
                    continue
                compared += 1
                both_ok += box["err"] <= WITHIN_PX
                err = errors[box["id"]]
                ours_ok += err is not None and err <= WITHIN_PX
    if not theirs_n:
        return None, None, None, 0, missing
    if not compared:
        return 100.0 * theirs_ok / theirs_n, None, None, 0, missing
    return (100.0 * theirs_ok / theirs_n, 100.0 * both_ok / compared,
            100.0 * ours_ok / compared, compared, missing)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    print("| file | instrument, all its nodes | instrument, common nodes | visual stage, common "
          "nodes | common nodes | its nodes not mapped | within 2 pp | structure-paired: "
          "instrument / visual (nodes) |")
    print("|---|---|---|---|---|---|---|---|")
    for inst_path, rep_path in zip(argv[::2], argv[1::2], strict=True):
        inst = json.loads(Path(inst_path).read_text())
        rep = json.loads(Path(rep_path).read_text())
        all_theirs, theirs, ours, n, missing = compare(inst, rep)
        ok = all_theirs is None or (
            theirs is not None and ours is not None and abs(theirs - ours) <= TOLERANCE_PP)
        _, s_theirs, s_ours, s_n, _ = compare(inst, rep, how="structure")
        bad += not ok
        fmt = lambda v: "-" if v is None else f"{v:.1f}%"  # noqa: E731
        print(f"| {Path(inst_path).stem} | {fmt(all_theirs)} | {fmt(theirs)} | {fmt(ours)} | {n} "
              f"| {missing} | {'yes' if ok else 'NO'} | {fmt(s_theirs)} / {fmt(s_ours)} ({s_n}) |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
