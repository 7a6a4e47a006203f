"""Open-loop load: requests start on a fixed schedule, whatever the server's latency."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

# The order every HTTP benchmark places: a limit buy far below the simulated market, so it rests.
ORDER = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "1", "limit_price": "150"}


@dataclass(frozen=True)
class RunResult:
    label: str
    rate: float
    sent: int
    completed: int
    errors: int
    duration_s: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.completed / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


async def fixed_rate(
    rate: float, duration_s: float, fire: Callable[[int], Coroutine[None, None, None]]
) -> float:
    """Call ``fire(i)`` ``rate`` times a second for ``duration_s``; returns the elapsed time."""
    total = int(rate * duration_s)
    started = time.perf_counter()
    tasks = []
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i)))
    await asyncio.gather(*tasks, return_exceptions=True)
    return time.perf_counter() - started


def table(rows: list[tuple[RunResult, RunResult]]) -> str:
    header = (
        f"{'rate/s':>7} | {'system thr/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'err':>4} | "
        f"{'baseline thr/s':>14} {'p50 ms':>8} {'p99 ms':>8} | {'thr ratio':>9} {'p50 ratio':>9}"
    )
    lines = [header, "-" * len(header)]
    for system, base in rows:
        lines.append(
            f"{system.rate:>7.0f} | {system.throughput:>12.1f} {system.percentile(50):>8.1f} "
            f"{system.percentile(99):>8.1f} {system.errors:>4} | {base.throughput:>14.1f} "
            f"{base.percentile(50):>8.1f} {base.percentile(99):>8.1f} | "
            f"{system.throughput / base.throughput:>9.2f} "
            f"{system.percentile(50) / base.percentile(50):>9.1f}"
        )
    return "\n".join(lines)
