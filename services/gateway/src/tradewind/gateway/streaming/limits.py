"""How many streams one API key may hold open at once, in this gateway process."""

from __future__ import annotations

from collections import Counter


class ConnectionsPerKey:
    """Counts open streams per key. Per process: with N gateways a key may hold N times the
    limit, a bound that needs no shared state a crashed process could leave behind."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, key_id: str) -> bool:
        """Count one more stream for ``key_id``, unless the key is at its limit."""
        if self._open[key_id] >= self.limit:
            return False
        self._open[key_id] += 1
        return True

    def release(self, key_id: str) -> None:
        self._open[key_id] -= 1
        if self._open[key_id] <= 0:
            del self._open[key_id]

    def open_for(self, key_id: str) -> int:
        return self._open[key_id]
