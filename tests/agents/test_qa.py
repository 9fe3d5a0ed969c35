"""The qa stage for real (npm ci from the stored lockfile, cached; tsc, vitest, eslint,
prettier --check, next build on Node.js 24), and the stack it checks (fast: no Node)."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest
from pfa_support import fixture

from pf_agents import project, qa
from pf_agents.artifacts import FileArtifactStore
from pf_agents.config import PipelineConfig
from pf_agents.files import pack_files, unpack_files, write_tree
from pf_agents.generate import manifests_from_json
from pf_agents.stages import StageEnv, run_stage


def _major(v: str) -> int:
    return int(v.split(".")[0])


def _generator_file(path: str) -> bool:
    """Written by generate/testgen (components/**/<Name>.tsx, .test.tsx: bases and wrappers),
    not by the scaffold (components/ui/*, stories, app/, lib/, configs)."""
    return (path.startswith("components/") and not path.startswith("components/ui/")
            and path.endswith(".tsx") and not path.endswith(".stories.tsx"))


def test_the_stack_is_current_and_pinned():
    deps = {**project.DEPENDENCIES, **project.DEV_DEPENDENCIES, **project.STORYBOOK_DEPENDENCIES}
    assert all(v[0].isdigit() and set(v) <= set("0123456789.") for v in deps.values()), \
        "exact versions only"
    assert _major(deps["next"]) == 16 and _major(deps["react"]) == 19
    assert _major(deps["tailwindcss"]) == 4 and "@tailwindcss/postcss" in deps
    assert "autoprefixer" not in deps  # Tailwind CSS 4 (Lightning CSS) prefixes itself
    assert _major(deps["vitest"]) >= 4 and _major(deps["storybook"]) == 10
    assert {"eslint", "eslint-config-next", "eslint-plugin-jsx-a11y", "prettier"} <= set(deps)
    assert _major(project.NODE_VERSION) == 24 and _major(deps["@types/node"]) == 24
    # the stored lockfile resolves exactly these lists
    assert project.lock_matches_template()


def test_every_project_is_a_subset_of_the_installed_set_and_its_lockfile_is_consistent():
    full = project.install_package_json()
    for storybook in (True, False):
        pkg = project.package_json("p", storybook, project.font_packages(["Inter", "Acme Sans"]))
        assert pkg["dependencies"]["@fontsource-variable/inter"] == "5.3.0"
        for field in ("dependencies", "devDependencies"):
            assert pkg[field].items() <= full[field].items()
        install, lock = qa.install_spec(pkg)
        assert install == full and lock == project.lock_text()  # one shared node_modules
        lock_json = project.package_lock(pkg)
        pkgs = lock_json["packages"]
        assert pkgs[""]["dependencies"] == pkg["dependencies"]
        assert pkgs[""]["devDependencies"] == pkg["devDependencies"]
        assert ("node_modules/storybook" in pkgs) is storybook
        assert "node_modules/@fontsource-variable/roboto" not in pkgs
        # every dependency of every kept package resolves inside the pruned lockfile
        for loc, entry in pkgs.items():
            for dep in entry.get("dependencies", {}):
                assert project._resolve(pkgs, loc, dep) is not None, (loc, dep)
    # a hand-edited package.json outside the set installs its own lists (npm install, no lock)
    own, lock = qa.install_spec({"dependencies": {"left-pad": "1.3.0"}})
    assert lock is None and own["dependencies"] == {"left-pad": "1.3.0"}


def test_project_files_tailwind4_css_first_theme_and_deterministic(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work",
                   source_file=str(fixture("figma-rust__button")))
    cfg = PipelineConfig()
    assert run_stage("analyze", cfg, env).outcome == "Succeeded"
    generated = []
    for _ in range(2):
        res = run_stage("generate", cfg, env)
        assert res.outcome == "Succeeded"
        ref = next(a for a in res.artifacts if a.name == "project.tar.gz")
        generated.append({k: v.decode() if isinstance(v, bytes) else v
                          for k, v in unpack_files(store.get(ref.uri)).items()})
    files = generated[0]
    assert files == generated[1]  # regeneration is byte-identical
    assert "tailwind.config.ts" not in files and "package-lock.json" in files
    css = files["app/globals.css"]
    assert css.startswith('@import "tailwindcss";') and "\n@theme {\n" in css
    assert "@tailwindcss/postcss" in files["postcss.config.mjs"]
    for var in ("--color-", "--font-", "--text-", "--spacing-", "--shadow-"):
        assert f"  {var}" in css
    # the design font has no @fontsource package: its metric-adjusted fallback face, then a
    # documented fallback stack
    assert ('"GDS Transport Website", "GDS Transport Website Fallback", Arial, Helvetica, '
            "ui-sans-serif, system-ui, sans-serif;") in " ".join(css.split())
    assert "fallback stack" in files["README.md"]
    pkg = json.loads(files["package.json"])
    assert {"lint", "format:check", "typecheck", "test", "build"} <= set(pkg["scripts"])
    assert json.loads(files["package-lock.json"])["packages"][""]["name"] == pkg["name"]
    assert "jsx-a11y" in files["eslint.config.mjs"]
    assert 'data-slot="button"' in files["components/ui/button.tsx"]


def test_fonts_with_a_fontsource_package_are_self_hosted():
    assert project.font_stack(['"Inter"', "sans-serif"]).startswith('"Inter Variable", "Inter",')
    assert project.font_stack(['"Fira Code"']).endswith("monospace")
    layout = project.layout("T", project.font_packages(["Inter"]))
    assert 'import "@fontsource-variable/inter";' in layout


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["figma-rust__cookie-banner", "code-connect", "deepchat"])
def test_generated_project_passes_every_check(stem: str, tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(fixture(stem)))
    cfg = PipelineConfig()
    for st in ("analyze", "generate", "test", "qa"):
        res = run_stage(st, cfg, env)
        assert res.outcome == "Succeeded", f"{st}: {res.reason}: {res.message}"
    report = json.loads(store.get(next(a for a in res.artifacts
                                       if a.name == "qa-report.json").uri))
    assert _major(report["node"]) == 24 and report["install"]["lockfile"] is True
    assert report["tsc"]["ok"] and report["tsc"]["errors"] == 0
    tests = report["tests"]
    assert tests["ok"] and tests["failed"] == 0 and tests["passed"] == tests["total"] > 0
    # the scaffold (agents/project.py) is always clean; the generator's and testgen's files
    # (components/<Name>.tsx, .test.tsx) are meant to be too: until they are, a warning
    lint_files = {p.split(":", 1)[0] for p in report["lint"]["problems"]}
    style = sorted(lint_files | set(report["format"]["unformatted"]))
    assert [f for f in style if not _generator_file(f)] == [], (report["lint"]["problems"],
                                                                report["format"]["unformatted"])
    if style:
        warnings.warn(f"{stem}: generated components not clean: lint "
                      f"{report['lint']['rules']}, unformatted {report['format']['unformatted']}",
                      stacklevel=1)
    assert report["build"]["ok"] and "/" in report["build"]["routes"], report["build"]
    assert report["ok"] is (not style)
    # every generated test case ran
    gen_tests = run_stage("test", cfg, env).summary["testCases"]
    assert tests["total"] == gen_tests
    assert res.summary["testsPassed"] == tests["passed"] and res.summary["tscOk"] is True
    assert res.summary["buildOk"] and res.summary["lintOk"] is report["lint"]["ok"]
    assert len(res.to_json().encode()) <= 4096
    manifests = manifests_from_json(store.get(next(
        a for a in store.list(cfg.pipeline_key, "generate") if a.name == "manifest.json").uri))
    assert tests["total"] >= len(manifests)
    # qa restored the project's own next.config after the build
    assert not (tmp_path / "work" / "qa-project" / ".pf-qa-next.config.mjs").exists()
    files = unpack_files(store.get(next(a for a in store.list(cfg.pipeline_key, "test")
                                        if a.name == "project.tar.gz").uri))
    assert (tmp_path / "work" / "qa-project" / "next.config.mjs").read_bytes() == \
        files["next.config.mjs"]


@pytest.mark.slow
def test_qa_reports_type_errors_failing_tests_lint_and_format(tmp_path: Path):
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(fixture("deepchat")))
    cfg = PipelineConfig()
    for st in ("analyze", "generate", "test"):
        assert run_stage(st, cfg, env).outcome == "Succeeded"
    ref = next(a for a in store.list(cfg.pipeline_key, "test") if a.name == "project.tar.gz")
    files = unpack_files(store.get(ref.uri))
    # break the project: a type error, a failing assertion, an a11y error, unformatted code
    files["components/Broken.tsx"] = b'export const n: number = "not a number";\n'
    files["components/NoAlt.tsx"] = (b'export function NoAlt() {\n  return <img src="/x.png" />;'
                                     b"\n}\n")
    files["components/Ugly.tsx"] = b"export const  ugly = {a:1};\n"
    test_name = next(n for n in files if n.endswith(".test.tsx"))
    text = files[test_name]
    assert b'toHaveClass("pf-extra")' in text
    files[test_name] = text.replace(b'toHaveClass("pf-extra")', b'toHaveClass("pf-missing")', 1)
    store.put(cfg.pipeline_key, "test", "project.tar.gz", pack_files(dict(files)))
    res = run_stage("qa", cfg, env)
    assert res.outcome == "Failed" and res.reason == "TypeCheckFailed"
    assert "Broken.tsx" in res.message
    report = json.loads(store.get(next(a for a in res.artifacts
                                       if a.name == "qa-report.json").uri))
    assert report["tsc"]["errors"] == 1
    assert report["tests"]["failed"] == 1
    assert report["tests"]["passed"] == report["tests"]["total"] - 1
    assert report["install"]["cached"] is True  # node_modules shared by the dependency set
    assert report["lint"]["ok"] is False
    assert "jsx-a11y/alt-text" in report["lint"]["rules"]
    assert "components/Ugly.tsx" in report["format"]["unformatted"]
    assert report["ok"] is False
    assert qa.first_failure(report, strict=False)[0] == "TypeCheckFailed"
    # only the style checks failing: the stage fails with qaStrict, passes without
    ok_report = {**report, "tsc": {"ok": True}, "tests": {"ok": True}}
    assert qa.first_failure(ok_report, strict=True)[0] == "LintFailed"
    assert qa.first_failure(ok_report, strict=False) is None


@pytest.mark.slow
def test_a_local_run_leaves_a_project_that_builds_on_its_own(tmp_path: Path):
    """``pf-figma run --out DIR`` keeps the project: its node_modules must be its own tree, so
    the project's own ``next build`` (no qa wrapper) finds Next.js inside the project."""
    store = FileArtifactStore(tmp_path / "store")
    env = StageEnv(store=store, workdir=tmp_path / "work", source_file=str(fixture("code-connect")))
    cfg = PipelineConfig()
    for st in ("analyze", "generate", "test"):
        res = run_stage(st, cfg, env)
        assert res.outcome == "Succeeded", f"{st}: {res.reason}: {res.message}"
    files = unpack_files(store.get(next(a for a in res.artifacts
                                        if a.name == "project.tar.gz").uri))
    out = tmp_path / "out"
    out.mkdir()
    write_tree(out, files)
    modules, _, _ = qa.ensure_node_modules(json.loads(files["package.json"]), env.workdir)
    qa._link_node_modules(out, modules, standalone=True)
    assert not (out / "node_modules").is_symlink()
    nxt = (out / "node_modules" / "next" / "package.json").resolve()
    assert nxt.is_relative_to(out.resolve()), nxt
    assert not (out / "node_modules" / ".pf-figma-complete").exists()
    # the cache itself is untouched by the copy
    assert (modules / ".pf-figma-complete").exists()
    proc = subprocess.run([str(out / "node_modules" / ".bin" / "next"), "build"], cwd=out,
                          env=qa._env(env.workdir), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
