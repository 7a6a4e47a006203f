"""An aiohttp application served on loopback for a test's fakes and receivers: start, stop."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """Serves one application on 127.0.0.1:``port`` between ``start`` and ``stop``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
