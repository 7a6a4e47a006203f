"""A private ``redis-server`` a test may kill and start again, unlike the run's shared Redis."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from support.polling import eventually
from support.services import free_port


class RedisServer:
    """One ``redis-server`` on a fixed port, without persistence: a restart loses everything,
    as a production Redis without persistence (or an evicting one) does."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def start(self) -> RedisServer:
        """Launch it; ``wait_ready`` waits until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("these tests start a private redis-server: install Redis's server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    async def wait_ready(self) -> None:
        await eventually(self._answers, timeout=10, message=f"redis-server on {self.port} silent")

    @property
    def name(self) -> str:
        return "redis"

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (nothing is saved: there is no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; the port closes at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    async def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            raise RuntimeError(f"redis-server exited ({self.process.returncode}):\n{log[-2000:]}")
        client = aioredis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            with contextlib.suppress(RedisError, OSError):
                return bool(await client.ping())
            return False
        finally:
            await client.aclose()


@contextlib.contextmanager
def private_redis() -> Iterator[RedisServer]:
    """A private ``redis-server`` launched on a free port (``wait_ready`` waits until it
    answers); killed and its directory deleted at the end."""
    directory = Path(tempfile.mkdtemp(prefix="tw-private-redis-"))
    server = RedisServer(free_port(), directory)
    try:
        yield server.start()
    finally:
        server.kill()
        shutil.rmtree(directory, ignore_errors=True)
