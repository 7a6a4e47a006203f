"""What a fault flag does when it fires: counted in a metric, and said in the log.

An operator who left a fault on must see it: every injection counts in
``tradewind_fault_injections_total{flag}``, and the log says so at WARNING, on the first
injection and then at most every ``LOG_EVERY_S`` per flag with the count since (a fault firing
on every message must not drown the log).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from prometheus_client import Counter

from tradewind.common.flags.names import Fault

log = logging.getLogger(__name__)

FAULT_INJECTIONS = Counter(
    "tradewind_fault_injections_total",
    "Failures injected by fault flags (docs/operations.md, Flags), by flag.",
    ["flag"],
)
LOG_EVERY_S = 10.0


@dataclass
class FaultLog:
    every_s: float = LOG_EVERY_S
    _last_logged: dict[Fault, float] = field(default_factory=dict)
    _unlogged: dict[Fault, int] = field(default_factory=dict)

    def fired(self, fault: Fault, *, account: str | None = None) -> None:
        FAULT_INJECTIONS.labels(flag=fault.value).inc()
        count = self._unlogged.get(fault, 0) + 1
        now = time.monotonic()
        last = self._last_logged.get(fault)
        if last is not None and now - last < self.every_s:
            self._unlogged[fault] = count
            return
        self._last_logged[fault] = now
        self._unlogged[fault] = 0
        log.warning(
            "fault injected by a flag",
            extra={"flag": fault.value, "injections": count, "account_id": account},
        )
