"""Keeps `make run`'s services running, as compose's `restart: unless-stopped` would.

A service that exits is started again after a delay that doubles with each exit in a row (1 s,
2 s, 4 s, … up to 30 s), so a service that cannot start (its database is down) is retried without
spinning; a service that then ran for a minute is considered healthy again and its next exit is
retried after 1 s. Stopping goes in the reverse of the start order: the gateway first, so no new
work arrives while the services behind it finish theirs.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("tradewind.run")

Start = Callable[[], subprocess.Popen[bytes]]


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 30.0
    stable_after_s: float = 60.0

    def delay(self, exits_in_a_row: int) -> float:
        """The wait before the next start after the ``exits_in_a_row``-th exit in a row."""
        doublings = max(0, exits_in_a_row - 1)
        return min(self.max_s, self.initial_s * float(2**doublings))


@dataclass
class Supervised:
    name: str
    start: Start
    process: subprocess.Popen[bytes]
    started_at: float
    exits_in_a_row: int = 0
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    def __init__(
        self, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._services: list[Supervised] = []
        self._stopping = False

    def start(self, name: str, start: Start) -> subprocess.Popen[bytes]:
        process = start()
        self._services.append(Supervised(name, start, process, started_at=self.clock()))
        return process

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {service.name: service.process for service in self._services}

    def tick(self) -> None:
        """Notice exits, schedule their restarts, and start those that are due."""
        if self._stopping:
            return
        now = self.clock()
        for service in self._services:
            if service.restart_at is None:
                code = service.process.poll()
                if code is None:
                    continue
                if now - service.started_at >= self.backoff.stable_after_s:
                    service.exits_in_a_row = 0
                service.exits_in_a_row += 1
                delay = self.backoff.delay(service.exits_in_a_row)
                service.restart_at = now + delay
                log.error("%s exited with %s; restarting it in %.0f s", service.name, code, delay)
            if service.restart_at is not None and now >= service.restart_at:
                service.process = service.start()
                service.started_at = now
                service.restart_at = None
                service.restarts += 1
                log.info("%s restarted (restart %d)", service.name, service.restarts)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM in the reverse of the start order, then wait for each; kill what hangs."""
        self._stopping = True
        for service in reversed(self._services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in reversed(self._services):
            try:
                service.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", service.name)
                service.process.kill()
                service.process.wait()
