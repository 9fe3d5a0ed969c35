"""Formatting the generated project with Prettier (the project's own pinned version and
``.prettierrc.json``), in the test stage: it holds no credentials, and the code it runs is the
same npm packages qa runs. The printer already follows Prettier's layout for what it emits;
Prettier settles the rest (JSX text fill, long expressions), so every project passes
``prettier --check``. Deterministic: the same input gives the same output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .files import write_tree

TIMEOUT = 120  # seconds
FORMATTED = (".ts", ".tsx", ".mts", ".js", ".mjs", ".css", ".json", ".md")


def format_project(
    files: dict[str, str | bytes], workdir: Path
) -> tuple[dict[str, str | bytes], dict[str, Any]]:
    """Run ``prettier --write`` over ``files`` (project path -> content).

    Returns the files (formatted where Prettier changed them) and a report: ``formatted``
    (bool), ``changed`` (paths), ``seconds``, or ``skipped`` with the reason when the packages
    cannot be had (qa then reports the formatting). Never raises for a formatting problem."""
    from . import qa  # the npm install and Node.js that qa uses

    start = time.perf_counter()
    if "package.json" not in files:
        return files, {"formatted": False, "skipped": "no package.json"}
    project = workdir / "fmt-project"
    if project.exists():
        shutil.rmtree(project)
    try:
        pkg = json.loads(files["package.json"])
        write_tree(project, files)
        modules, _, _ = qa.ensure_node_modules(pkg, workdir)
        qa._link_node_modules(project, modules)
        proc = subprocess.run(
            [
                str(project / "node_modules" / ".bin" / "prettier"),
                "--write",
                "--log-level",
                "warn",
                ".",
            ],
            cwd=project,
            env=qa._env(workdir),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except Exception as exc:
        return files, {"formatted": False, "skipped": f"{type(exc).__name__}: {exc}"[:300]}
    if proc.returncode != 0:
        return files, {"formatted": False, "skipped": (proc.stderr or proc.stdout).strip()[-300:]}
    out: dict[str, str | bytes] = {}
    changed = []
    for path, data in files.items():
        if not path.endswith(FORMATTED):
            out[path] = data
            continue
        new = (project / path).read_bytes()
        old = data.encode() if isinstance(data, str) else data
        if new != old:
            changed.append(path)
        out[path] = new
    return out, {
        "formatted": True,
        "changed": sorted(changed),
        "seconds": round(time.perf_counter() - start, 3),
    }
