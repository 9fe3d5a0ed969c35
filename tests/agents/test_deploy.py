"""deploy against real local git repositories (bare file:// and an HTTP server with auth)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pf_agents.config import PipelineConfig
from pf_agents.deploy import deploy, public_url
from pf_agents.errors import StageError

FILES = {"package.json": b"{}\n", "components/A.tsx": b"export const a = 1;\n"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def bare(tmp_path: Path) -> Path:
    repo = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(repo))
    return repo


def cfg(url: str, branch: str = "pf-figma/landing") -> PipelineConfig:
    return PipelineConfig.model_validate({"namespace": "ns", "pipeline": "landing", "uid": "u",
                                          "git": {"url": url, "branch": branch}})


def test_push_to_bare_repo_then_update_then_noop(tmp_path: Path):
    repo = bare(tmp_path)
    url = repo.as_uri()
    info = deploy(FILES, cfg(url), tmp_path / "w", None)
    assert info["changed"]
    assert git("rev-parse", "refs/heads/pf-figma/landing", cwd=repo).strip() == info["commit"]
    assert git("show", "pf-figma/landing:components/A.tsx", cwd=repo) == "export const a = 1;\n"
    # second deploy with a change: a new commit on top of the first
    info2 = deploy({**FILES, "components/A.tsx": b"export const a = 2;\n"}, cfg(url),
                   tmp_path / "w", None)
    assert info2["changed"] and info2["commit"] != info["commit"]
    assert git("rev-parse", "pf-figma/landing~1", cwd=repo).strip() == info["commit"]
    # third deploy with the same content: nothing pushed
    info3 = deploy({**FILES, "components/A.tsx": b"export const a = 2;\n"}, cfg(url),
                   tmp_path / "w", None)
    assert not info3["changed"] and info3["commit"] == info2["commit"]


def test_regeneration_keeps_hand_edits_and_drops_stale_generated_files(tmp_path: Path):
    from pf_agents.generate import WRAPPER_MARK

    repo = bare(tmp_path)
    url = repo.as_uri()
    wrapper = f'{WRAPPER_MARK}\nexport {{ A }} from "./generated/A";\n'.encode()
    first = {"components/generated/A.tsx": b"export const A = 1;\n",
             "components/generated/B.tsx": b"export const B = 1;\n",
             "components/A.tsx": wrapper, "package.json": b"{}\n"}
    deploy(first, cfg(url), tmp_path / "w", None)
    # a person edits the wrapper and adds a file of their own on the branch
    work = tmp_path / "clone"
    git("clone", "-q", "-b", "pf-figma/landing", url, str(work))
    (work / "components" / "A.tsx").write_text('export { A } from "./generated/A"; // edited\n')
    (work / "lib").mkdir()
    (work / "lib" / "mine.ts").write_text("export const mine = true;\n")
    git("-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qam", "edit", cwd=work)
    git("add", "lib/mine.ts", cwd=work)
    git("-c", "user.name=p", "-c", "user.email=p@x", "commit", "-qm", "mine", cwd=work)
    git("push", "-q", "origin", "pf-figma/landing", cwd=work)
    # the design changed: A regenerated, B gone
    second = {"components/generated/A.tsx": b"export const A = 2;\n",
              "components/A.tsx": wrapper, "package.json": b"{}\n"}
    info = deploy(second, cfg(url), tmp_path / "w", None)
    assert info["changed"]
    show = lambda p: git("show", f"pf-figma/landing:{p}", cwd=repo)  # noqa: E731
    assert show("components/generated/A.tsx") == "export const A = 2;\n"
    assert show("components/A.tsx").endswith("// edited\n")  # the hand edit survives
    assert show("lib/mine.ts") == "export const mine = true;\n"
    files = git("ls-tree", "-r", "--name-only", "pf-figma/landing", cwd=repo).split()
    assert "components/generated/B.tsx" not in files


def test_bad_remote_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StageError) as e:
        deploy(FILES, cfg((tmp_path / "missing.git").as_uri()), tmp_path / "w", None)
    assert e.value.reason in ("GitFailed", "GitAuthFailed")


def test_credentials_in_url_refused(tmp_path: Path):
    with pytest.raises(StageError) as e:
        deploy(FILES, cfg("https://u:p@example.com/r.git"), tmp_path / "w", None)
    assert e.value.reason == "CredentialsInURL" and "u:p" not in e.value.message
    assert public_url("https://u:p@example.com/r.git") == "https://example.com/r.git"


class _GitHTTP(BaseHTTPRequestHandler):
    """Smart-HTTP git server (git http-backend as CGI) with Basic auth."""

    root: Path
    user = "deployer"
    password = "s3cret-pass-word"

    def log_message(self, *a: object) -> None:
        pass

    def _handle(self) -> None:
        want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {"GIT_PROJECT_ROOT": str(self.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": self.user,
               "PATH": os.environ["PATH"]}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                              timeout=60)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            if not line:
                continue
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def git_http(tmp_path: Path):
    root = tmp_path / "srv"
    root.mkdir()
    git("init", "-q", "--bare", str(root / "repo.git"))
    git("config", "http.receivepack", "true", cwd=root / "repo.git")
    handler = type("H", (_GitHTTP,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_port}/repo.git", root / "repo.git"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_push_over_http_with_credentials_never_leaks_them(tmp_path: Path, git_http):
    url, repo = git_http
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "username").write_text(_GitHTTP.user)
    (creds / "password").write_text(_GitHTTP.password + "\n")
    info = deploy(FILES, cfg(url), tmp_path / "w", str(creds))
    assert info["changed"] and info["remote"] == url
    assert git("rev-parse", "refs/heads/pf-figma/landing", cwd=repo).strip() == info["commit"]
    # the secret is not in the clone's config or anywhere in the result
    assert _GitHTTP.password not in str(info)
    cfg_text = (tmp_path / "w" / "repo" / ".git" / "config").read_text()
    assert _GitHTTP.password not in cfg_text
    # wrong password: a clear auth error without the secret
    (creds / "password").write_text("wrong-password-xyz")
    with pytest.raises(StageError) as e:
        deploy({**FILES, "x.txt": b"1"}, cfg(url), tmp_path / "w2", str(creds))
    assert e.value.reason == "GitAuthFailed"
    assert "wrong-password-xyz" not in str(e.value)
