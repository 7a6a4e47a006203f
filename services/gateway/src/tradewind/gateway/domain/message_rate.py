"""How fast one WebSocket client's messages are served: a token bucket per connection.

Every message a client sends costs the gateway a parse, and some of them more (a subscription
changes the broker's bindings, an order entry request reads Redis and publishes). Order entry
also counts against the key's `orders` budget, as over HTTP; this bound is the connection's own,
on every message, so that no kind of message is free to flood with. A client over the rate is
not refused but read more slowly: its next message waits its turn, and TCP's flow control
holds the rest on the client's side.
"""

from __future__ import annotations


class MessageRate:
    """``per_second`` messages on average, bursts of up to ``burst`` at once."""

    def __init__(self, per_second: float, burst: int, now: float) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a message rate needs per_second > 0 and burst >= 1")
        self.per_second = per_second
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def delay(self, now: float) -> float:
        """Count a message received at ``now`` (monotonic seconds): how long it must wait before
        it is served, 0 within the rate. The caller waits that long before reading another."""
        elapsed = max(0.0, now - self._at)
        self._at = max(self._at, now)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.per_second) - 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second
