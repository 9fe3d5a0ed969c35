"""Liveness and readiness endpoints (aiohttp, on the operator's event loop).

/healthz answers 200 while the event loop runs and none of the operator's tasks has died.
/readyz answers 200 once this replica is either a standby (waiting for the lease) or the leader
with its cache primed; 503 before that.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


class HealthServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.alive: Callable[[], bool] = lambda: True
        self.ready: Callable[[], bool] = lambda: False
        self.role = "starting"
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "0.0.0.0", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        ok = self.alive()
        return web.json_response(
            {"status": "ok" if ok else "failing", "role": self.role}, status=200 if ok else 500
        )

    async def _readyz(self, _: web.Request) -> web.Response:
        ok = self.ready()
        return web.json_response({"ready": ok, "role": self.role}, status=200 if ok else 503)
