"""qa: install the generated project's packages (cached), run ``tsc --noEmit`` and vitest.

node_modules are shared between projects with the same dependencies: they live under
``${XDG_CACHE_HOME:-~/.cache}/pf-figma/npm/<hash of the dependency lists>/node_modules`` and
the project gets a symlink. npm itself is configured only through its standard environment
(``npm_config_cache``, ``npm_config_registry``, proxies, ``NODE_EXTRA_CA_CERTS`` ...).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import StageError
from .files import write_tree
from .result import redact

INSTALL_TIMEOUT = 900
TSC_TIMEOUT = 600
TEST_TIMEOUT = 900
OUTPUT_CHARS = 4000


def _writable_dir(p: Path) -> bool:
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p):
            pass
        return True
    except OSError:
        return False


def cache_root(workdir: Path | None = None) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(base) / "pf-figma" / "npm"
    if _writable_dir(root):
        return root
    if workdir is not None:  # read-only home (pods): fall back to the scratch directory
        root = workdir / ".cache" / "pf-figma" / "npm"
        root.mkdir(parents=True, exist_ok=True)
        return root
    raise StageError("CacheUnwritable", f"cannot write the npm cache directory {root}")


def deps_key(package_json: dict[str, Any]) -> str:
    node = _node_version()
    data = json.dumps({"dependencies": package_json.get("dependencies", {}),
                       "devDependencies": package_json.get("devDependencies", {}),
                       "node": node.split(".")[0]}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:20]


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        raise StageError("NodeMissing", "node is not installed (qa needs Node.js 20+ and npm)")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().lstrip("v") or "0"


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CI", "1")
    env["NO_UPDATE_NOTIFIER"] = "1"
    env.setdefault("npm_config_update_notifier", "false")
    env.setdefault("npm_config_fund", "false")
    env.setdefault("npm_config_audit", "false")
    if "npm_config_cache" not in env and "NPM_CONFIG_CACHE" not in env:
        home_npm = Path(os.path.expanduser("~")) / ".npm"
        if not _writable_dir(home_npm):
            env["npm_config_cache"] = str(workdir / ".npm")
    return env


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_node_modules(package_json: dict[str, Any], workdir: Path) -> tuple[Path, bool, float]:
    """Shared node_modules for these dependencies: (path, was cached, seconds)."""
    start = time.perf_counter()
    npm = shutil.which("npm")
    if npm is None:
        raise StageError("NodeMissing", "npm is not installed (qa needs Node.js 20+ and npm)")
    key = deps_key(package_json)
    prebuilt = os.environ.get("PF_NPM_PREBUILT")  # baked into the agent image: no network
    if prebuilt:
        modules = Path(prebuilt) / key / "node_modules"
        if (modules / ".pf-figma-complete").exists():
            return modules, True, time.perf_counter() - start
    root = cache_root(workdir)
    target = root / key
    done = target / "node_modules" / ".pf-figma-complete"
    if done.exists():
        return target / "node_modules", True, time.perf_counter() - start
    with _lock(root / f"{key}.lock"):
        if done.exists():
            return target / "node_modules", True, time.perf_counter() - start
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared (e.g. baked in images)
        try:
            pkg = {"name": "pf-figma-deps", "private": True, "version": "0.0.0",
                   "dependencies": package_json.get("dependencies", {}),
                   "devDependencies": package_json.get("devDependencies", {})}
            (staging / "package.json").write_text(json.dumps(pkg, indent=2))
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=staging, env=_env(workdir), capture_output=True, text=True,
                timeout=INSTALL_TIMEOUT,
            )
            if proc.returncode != 0:
                tail = redact((proc.stderr or proc.stdout)[-600:])
                raise StageError("InstallFailed", f"npm install failed ({proc.returncode}): {tail}")
            (staging / "node_modules" / ".pf-figma-complete").write_text(key)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except subprocess.TimeoutExpired:
            raise StageError("InstallFailed", f"npm install timed out after {INSTALL_TIMEOUT}s"
                             ) from None
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules", False, time.perf_counter() - start


def _link_node_modules(project: Path, modules: Path) -> None:
    """Give the project the shared packages.

    A writable cache is linked as a whole. A read-only one (baked into the agent image) gets a
    real node_modules directory of links to its packages, because vite and vitest write their
    own scratch directories (.vite, .vite-temp) into the project's node_modules.
    """
    link = project / "node_modules"
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    if os.access(modules, os.W_OK):
        link.symlink_to(modules, target_is_directory=True)
        return
    link.mkdir()
    for entry in modules.iterdir():
        if entry.name != ".pf-figma-complete":
            (link / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())


def run_tsc(project: Path, workdir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    tsc = project / "node_modules" / ".bin" / "tsc"
    try:
        proc = subprocess.run([str(tsc), "--noEmit", "-p", "."], cwd=project, env=_env(workdir),
                              capture_output=True, text=True, timeout=TSC_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "errors": -1, "seconds": TSC_TIMEOUT,
                "firstError": f"tsc timed out after {TSC_TIMEOUT}s", "output": ""}
    out = proc.stdout + proc.stderr
    errors = re.findall(r"^.+\(\d+,\d+\): error TS\d+: .*$", out, re.M)
    return {
        "ok": proc.returncode == 0,
        "errors": len(errors) if proc.returncode != 0 else 0,
        "exitCode": proc.returncode,
        "firstError": (errors[0] if errors else out.strip()[:300]) if proc.returncode else None,
        "output": out[:OUTPUT_CHARS],
        "seconds": round(time.perf_counter() - start, 3),
    }


def run_vitest(project: Path, workdir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    vitest = project / "node_modules" / ".bin" / "vitest"
    report_file = workdir / "vitest-report.json"
    report_file.unlink(missing_ok=True)
    try:
        proc = subprocess.run(
            [str(vitest), "run", "--reporter=json", f"--outputFile={report_file}"],
            cwd=project, env=_env(workdir), capture_output=True, text=True, timeout=TEST_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "passed": 0, "failed": 0, "total": 0, "seconds": TEST_TIMEOUT,
                "firstFailure": f"vitest timed out after {TEST_TIMEOUT}s", "failures": []}
    result: dict[str, Any] = {"exitCode": proc.returncode,
                              "seconds": round(time.perf_counter() - start, 3)}
    try:
        data = json.loads(report_file.read_text())
    except (OSError, json.JSONDecodeError):
        out = (proc.stderr or proc.stdout)[-1500:]
        result.update({"ok": False, "passed": 0, "failed": 0, "total": 0, "failures": [],
                       "firstFailure": out.strip()[-300:] or "vitest produced no report",
                       "output": out})
        return result
    failures = []
    for f in data.get("testResults", []):
        for a in f.get("assertionResults", []):
            if a.get("status") == "failed":
                failures.append({"file": os.path.relpath(f.get("name", ""), project),
                                 "test": a.get("fullName", ""),
                                 "message": " ".join(a.get("failureMessages", []))[:400]})
        if f.get("status") == "failed" and not f.get("assertionResults"):
            failures.append({"file": os.path.relpath(f.get("name", ""), project),
                             "test": "(file)", "message": str(f.get("message", ""))[:400]})
    passed = int(data.get("numPassedTests", 0))
    total = int(data.get("numTotalTests", 0))
    result.update({
        "ok": proc.returncode == 0 and bool(data.get("success")) and total > 0,
        "passed": passed, "failed": int(data.get("numFailedTests", 0)), "total": total,
        "files": int(data.get("numTotalTestSuites", 0)),
        "failures": failures[:20],
        "firstFailure": (f"{failures[0]['test']}: {failures[0]['message'][:200]}"
                         if failures else None),
    })
    if total == 0 and proc.returncode == 0:
        result["firstFailure"] = "no tests were found"
    return result


def run_qa(files: dict[str, bytes], project_dir: Path, workdir: Path) -> dict[str, Any]:
    """Write the project, install, type-check and test it. Returns the qa report."""
    if "package.json" not in files:
        raise StageError("InvalidArtifact", "the project archive has no package.json")
    try:
        pkg = json.loads(files["package.json"])
    except json.JSONDecodeError:
        raise StageError("InvalidArtifact", "the project's package.json is not JSON") from None
    workdir.mkdir(parents=True, exist_ok=True)
    project_dir.mkdir(parents=True, exist_ok=True)
    write_tree(project_dir, files)
    modules, cached, install_s = ensure_node_modules(pkg, workdir)
    _link_node_modules(project_dir, modules)
    tsc = run_tsc(project_dir, workdir)
    tests = run_vitest(project_dir, workdir)
    return {
        "v": 1,
        "install": {"cached": cached, "seconds": round(install_s, 3), "key": modules.parent.name},
        "tsc": tsc,
        "tests": tests,
        "ok": bool(tsc["ok"] and tests["ok"]),
    }


def prebuild(dest: Path) -> list[str]:
    """Install the node_modules of every dependency set the generator writes into ``dest``
    (used when building the agent image, so that qa runs without a registry)."""
    from .project import package_json

    keys = []
    os.environ["XDG_CACHE_HOME"] = str(dest.parent.parent)  # -> dest = <cache>/pf-figma/npm
    for storybook in (True, False):
        modules, _, _ = ensure_node_modules(package_json("prebuild", storybook=storybook), dest)
        keys.append(modules.parent.name)
    return keys


if __name__ == "__main__":  # python -m pf_agents.qa --prebuild DIR
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--prebuild":
        print(" ".join(prebuild(Path(sys.argv[2]))))
    else:
        sys.exit("usage: python -m pf_agents.qa --prebuild DIR")
