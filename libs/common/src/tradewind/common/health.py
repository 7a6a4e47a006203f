"""Readiness checks a service registers for its own dependencies.

The report is public (probes, load balancers): it names each dependency and gives a generic
reason, never the exception's text, which can carry hosts, users or driver internals. The
exception goes to the log, at WARNING when a check changes state and at DEBUG while it stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Check = Callable[[], Awaitable[None]]
Status = Literal["up", "down", "degraded"]

log = logging.getLogger(__name__)

UNAVAILABLE = "unavailable"
TIMED_OUT = "no answer in time"


class Degraded(Exception):
    """A check's verdict that the service still works, with reduced quality (e.g. stale data).

    Its message is shown publicly: write a fixed reason, not another exception's text.
    """


@dataclass
class Readiness:
    timeout_s: float = 2.0
    checks: dict[str, Check] = field(default_factory=dict)
    _last: dict[str, Status] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def _run(self, name: str, check: Check) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.timeout_s):
                await check()
        except Degraded as exc:
            self._log(name, "degraded", exc)
            return {"status": "degraded", "detail": str(exc)}
        except TimeoutError as exc:
            self._log(name, "down", exc)
            return {"status": "down", "detail": TIMED_OUT}
        except Exception as exc:
            self._log(name, "down", exc)
            return {"status": "down", "detail": UNAVAILABLE}
        self._log(name, "up", None)
        return {"status": "up"}

    def _log(self, name: str, status: Status, exc: BaseException | None) -> None:
        changed = self._last.get(name, "up") != status
        self._last[name] = status
        if exc is None:
            if changed:
                log.info("readiness check recovered", extra={"check": name})
            return
        log.log(
            logging.WARNING if changed else logging.DEBUG,
            "readiness check failed",
            extra={"check": name, "status": status, "error": repr(exc)},
        )

    async def report(self) -> dict[str, Any]:
        # The checks run concurrently, the first in this task: gather would start each in a task
        # of its own and wake this one when the last is done, two event-loop turns more for a
        # probe, and under full load a turn is every ready callback of the process.
        names = list(self.checks)
        rest = [asyncio.ensure_future(self._run(n, self.checks[n])) for n in names[1:]]
        try:
            results = [await self._run(n, self.checks[n]) for n in names[:1]]
            results += [await task for task in rest]
        finally:
            for task in rest:
                task.cancel()
        checks = dict(zip(names, results, strict=True))
        statuses = {r["status"] for r in results}
        overall = "down" if "down" in statuses else "degraded" if "degraded" in statuses else "up"
        return {"status": overall, "checks": checks}
