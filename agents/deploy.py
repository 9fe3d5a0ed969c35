"""deploy: commit the generated project to a branch and push it to the pipeline's Git remote.

Credentials come from ``PF_GIT_CREDENTIALS_DIR/{username,password}`` and reach git only through
a ``GIT_ASKPASS`` helper that reads those files: they are never put in the URL, on a command
line, in logs or in the result.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .config import PipelineConfig
from .errors import StageError
from .files import write_tree
from .generate import WRAPPER_MARK
from .result import redact

GIT_TIMEOUT = 300

ASKPASS = """#!/bin/sh
case "$1" in
  Username*|username*) cat "$PF_GIT_CREDENTIALS_DIR/username" ;;
  *) cat "$PF_GIT_CREDENTIALS_DIR/password" ;;
esac
"""


def public_url(url: str) -> str:
    """The remote URL without any user info, safe to print."""
    parts = urlsplit(url)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def _read_secret(cred_dir: str | None, name: str) -> str | None:
    if not cred_dir:
        return None
    try:
        return (Path(cred_dir) / name).read_text().strip() or None
    except OSError:
        return None


class Git:
    def __init__(self, repo: Path, env: dict[str, str], secrets: tuple[str, ...]) -> None:
        self.repo = repo
        self.env = env
        self.secrets = secrets

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=self.repo,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise StageError(
                "GitTimeout", f"git {args[0]} timed out after {GIT_TIMEOUT}s"
            ) from None
        if check and proc.returncode != 0:
            msg = redact((proc.stderr or proc.stdout).strip()[-400:], self.secrets)
            reason = (
                "GitAuthFailed"
                if any(
                    s in msg.lower()
                    for s in (
                        "authentication",
                        "403",
                        "401",
                        "could not read username",
                        "permission denied",
                    )
                )
                else "GitFailed"
            )
            raise StageError(reason, f"git {args[0]} failed: {msg}")
        return proc


GENERATED_DIR = "components/generated/"


def merge_generated(repo: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """What regeneration writes over a branch people also edit (``repo`` holds the branch):
    generated files are replaced and generated files of components that no longer exist are
    removed; a hand-editable file (it starts with ``WRAPPER_MARK``) is written only where the
    branch does not have it; every other file of the branch is left as it is."""
    out: dict[str, bytes] = {}
    for path, data in files.items():
        if data.startswith(WRAPPER_MARK.encode()) and (repo / path).exists():
            continue
        out[path] = data
    gen_dir = repo / GENERATED_DIR
    if gen_dir.is_dir():
        for old in gen_dir.rglob("*"):
            rel = old.relative_to(repo).as_posix()
            if old.is_file() and rel not in files:
                old.unlink()
    return out


def deploy(
    files: dict[str, bytes], cfg: PipelineConfig, workdir: Path, cred_dir: str | None
) -> dict[str, Any]:
    url = cfg.git.url or ""
    branch = cfg.git.branch
    if shutil.which("git") is None:
        raise StageError("GitMissing", "git is not installed")
    if not branch or branch.startswith("-") or ".." in branch or " " in branch:
        raise StageError("InvalidBranch", f"invalid branch name {branch!r}")
    if urlsplit(url).username or urlsplit(url).password:
        raise StageError(
            "CredentialsInURL",
            "git.url must not contain credentials; use the pipeline's git.secretRef",
        )
    if workdir.exists():
        shutil.rmtree(workdir)
    repo = workdir / "repo"
    repo.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(workdir),
            "GIT_AUTHOR_NAME": "pf-figma",
            "GIT_AUTHOR_EMAIL": "pf-figma@localhost",
            "GIT_COMMITTER_NAME": "pf-figma",
            "GIT_COMMITTER_EMAIL": "pf-figma@localhost",
        }
    )
    secrets: tuple[str, ...] = ()
    if cred_dir and Path(cred_dir).is_dir():
        askpass = workdir / "askpass.sh"
        askpass.write_text(ASKPASS)
        askpass.chmod(stat.S_IRWXU)
        env["GIT_ASKPASS"] = str(askpass)
        env["PF_GIT_CREDENTIALS_DIR"] = str(Path(cred_dir).resolve())
        secrets = tuple(
            s for s in (_read_secret(cred_dir, "password"), _read_secret(cred_dir, "username")) if s
        )
    git = Git(repo, env, secrets)
    git("init", "-q", "-b", branch)
    git("config", "core.autocrlf", "false")
    git("config", "credential.helper", "")
    remote = git("ls-remote", "--heads", url, f"refs/heads/{branch}")
    exists = bool(remote.stdout.strip())
    if exists:
        git("fetch", "-q", "--depth=1", url, f"refs/heads/{branch}")
        git("reset", "-q", "--hard", "FETCH_HEAD")
    write_tree(repo, merge_generated(repo, files))
    git("add", "-A")
    changed = True
    if exists:
        changed = git("diff", "--cached", "--quiet", check=False).returncode != 0
    if changed:
        msg = (
            f"pf-figma: generate {cfg.pipeline} ({cfg.namespace})\n\n"
            f"Pipeline {cfg.pipeline_key}, attempt {cfg.attempt}."
        )
        git("commit", "-q", "-m", msg)
        git("push", "-q", url, f"HEAD:refs/heads/{branch}")
    commit = git("rev-parse", "HEAD").stdout.strip()
    return {
        "commit": commit,
        "branch": branch,
        "remote": public_url(url),
        "changed": changed,
        "files": len(files),
    }
