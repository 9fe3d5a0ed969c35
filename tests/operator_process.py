"""The operator as a real process (`pf-figma operator`), for tests, benchmarks and chaos runs.

No pytest in here: `hack/bench.py` and `hack/chaos.py` use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.prometheus_text import total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OperatorProcess:
    """One operator process: started, probed, sampled (CPU, RSS) and stopped or killed.

    ``settings`` become ``PF_*`` environment variables (``global_max_concurrent="40"`` ->
    ``PF_GLOBAL_MAX_CONCURRENT=40``); ``env`` adds plain variables such as ``KUBECONFIG``.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        log_level: str = "INFO",
        env: dict[str, str] | None = None,
        **settings: str,
    ) -> None:
        self.log_path = log_path
        self.env = dict(os.environ)
        self.env.update(
            PF_METRICS_PORT=str(free_port()),
            PF_HEALTH_PORT=str(free_port()),
            PF_LOG_LEVEL=log_level,
        )
        self.env.update(env or {})
        self.env.update({f"PF_{k.upper()}": v for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss_mib = 0.0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PF_METRICS_PORT']}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PF_HEALTH_PORT']}/healthz"

    @property
    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PF_HEALTH_PORT']}/readyz"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        """Start the process and wait until it is ready (see :meth:`role`)."""
        assert not self.alive, "already running"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pf_operator", "operator"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"operator exited {self.proc.returncode}:\n{self.log_tail()}")
            if self.role() is not None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"operator not ready after {timeout} s:\n{self.log_tail()}")

    def role(self) -> str | None:
        """"leader" (cache primed) or "standby" once ready, else None."""
        try:
            r = httpx.get(self.ready_url, timeout=1)
            return str(r.json().get("role")) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if not self.alive:
            return
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def sample(self) -> tuple[float, float]:
        """(CPU seconds, RSS MiB) from /proc; also tracks the peak RSS."""
        assert self.proc is not None
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        rss = 0.0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        self.peak_rss_mib = max(self.peak_rss_mib, rss)
        return cpu, rss

    def metric(self, name: str) -> float:
        """The sum of a metric's samples over all label sets, scraped from /metrics."""
        return total(httpx.get(self.metrics_url, timeout=5).text, name)
