"""Readiness checks a service registers for its own dependencies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Check = Callable[[], Awaitable[None]]
Status = Literal["up", "down", "degraded"]


class Degraded(Exception):
    """A check's verdict that the service still works, with reduced quality (e.g. stale data)."""


@dataclass
class Readiness:
    timeout_s: float = 2.0
    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def _run(self, check: Check) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.timeout_s):
                await check()
        except Degraded as exc:
            return {"status": "degraded", "detail": str(exc)}
        except Exception as exc:
            return {"status": "down", "detail": str(exc) or type(exc).__name__}
        return {"status": "up"}

    async def report(self) -> dict[str, Any]:
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        statuses = {r["status"] for r in results}
        overall = "down" if "down" in statuses else "degraded" if "degraded" in statuses else "up"
        return {"status": overall, "checks": checks}
