"""Asyncio circuit breaker: fail fast while a dependency is down, probe before trusting it again."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_GAUGE_VALUE: dict[BreakerState, int] = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.OPEN: 2,
}

BREAKER_STATE = Gauge(
    "tradewind_circuit_breaker_state",
    "Circuit breaker state: 0 = closed, 1 = half_open, 2 = open.",
    ["breaker"],
)
BREAKER_TRANSITIONS = Counter(
    "tradewind_circuit_breaker_transitions_total",
    "Circuit breaker state transitions, by the state entered.",
    ["breaker", "to_state"],
)


class CircuitOpenError(Exception):
    """Raised instead of calling the dependency while its breaker rejects calls.

    `retry_after` is the number of seconds until the breaker admits a probe; it is 0.0 when
    the breaker is already half-open and only waiting for the probes in flight to finish.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(name, retry_after)
        self.name = name
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"circuit breaker {self.name!r} is open; retry after {self.retry_after:.3f}s"


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    name: str
    state: BreakerState
    failures: int
    # On the breaker's clock (time.monotonic by default), so only comparable within the process.
    opened_at: float | None


class CallPermit:
    """One call admitted by `CircuitBreaker.guard()`; its outcome is recorded exactly once.

    Use `record_success()` / `record_failure()` inside the guarded block when the outcome is
    judged by something other than an exception, e.g. an HTTP status code.
    """

    __slots__ = ("_breaker", "_epoch", "_is_probe", "_settled")

    def __init__(self, breaker: CircuitBreaker, *, epoch: int, is_probe: bool) -> None:
        self._breaker = breaker
        self._epoch = epoch
        self._is_probe = is_probe
        self._settled = False

    def record_success(self) -> None:
        self._settle(failed=False)

    def record_failure(self) -> None:
        self._settle(failed=True)

    def _settle(self, *, failed: bool | None) -> None:
        if self._settled:
            return
        self._settled = True
        self._breaker._settle(epoch=self._epoch, is_probe=self._is_probe, failed=failed)


def _every_exception_is_a_failure(_: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Per-dependency circuit breaker for asyncio code (not thread-safe).

    Closed: consecutive failures are counted; `failure_threshold` of them open the breaker.
    Open: calls raise `CircuitOpenError` until `recovery_timeout` seconds have passed.
    Half-open: up to `half_open_max_probes` calls run concurrently; `success_threshold`
    consecutive successful probes close the breaker, one failed probe reopens it.

    Exceptions for which `is_failure` returns False propagate but count as successes, and
    cancellation never counts either way.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 10.0,
        half_open_max_probes: int = 1,
        success_threshold: int = 1,
        is_failure: Callable[[BaseException], bool] = _every_exception_is_a_failure,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if recovery_timeout < 0:
            raise ValueError("recovery_timeout must not be negative")
        if half_open_max_probes < 1:
            raise ValueError("half_open_max_probes must be at least 1")
        if success_threshold < 1:
            raise ValueError("success_threshold must be at least 1")
        self.name = name
        self._failure_threshold = failure_threshold
        self._recovery_timeout = recovery_timeout
        self._half_open_max_probes = half_open_max_probes
        self._success_threshold = success_threshold
        self._is_failure = is_failure
        self._clock = clock

        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: float | None = None
        self._probes_in_flight = 0
        self._probe_successes = 0
        # Bumped on every transition so outcomes of calls admitted under an earlier state
        # (e.g. a slow call started while closed, finishing while half-open) are ignored.
        self._epoch = 0
        # A second breaker with the same name shares (and resets) this series; that is allowed.
        BREAKER_STATE.labels(breaker=name).set(_GAUGE_VALUE[BreakerState.CLOSED])

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} state={self.state} failures={self._failures}>"

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._seconds_until_probe() <= 0:
            self._transition(BreakerState.HALF_OPEN)
        return self._state

    def snapshot(self) -> BreakerSnapshot:
        return BreakerSnapshot(
            name=self.name, state=self.state, failures=self._failures, opened_at=self._opened_at
        )

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await `fn(*args, **kwargs)` unless the breaker rejects it with `CircuitOpenError`."""
        async with self.guard():
            return await fn(*args, **kwargs)

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[CallPermit]:
        """Admit one call (or raise `CircuitOpenError`) and record the outcome of the block.

        An exception leaving the block is judged by `is_failure`; a block that exits normally
        is a success unless the permit was settled explicitly inside it.
        """
        permit = self._admit()
        failed: bool | None = None
        try:
            yield permit
        except Exception as exc:
            # Stays a failure if `is_failure` itself raises, so a probe slot is never leaked.
            failed = True
            failed = self._is_failure(exc)
            raise
        else:
            failed = False
        finally:
            # CancelledError and other BaseExceptions leave `failed` as None: no outcome.
            permit._settle(failed=failed)

    def record_success(self) -> None:
        """Record a success observed outside `call()` / `guard()`."""
        if self.state is not BreakerState.OPEN:
            self._on_success()

    def record_failure(self) -> None:
        """Record a failure observed outside `call()` / `guard()`."""
        if self.state is not BreakerState.OPEN:
            self._on_failure()

    def _admit(self) -> CallPermit:
        state = self.state
        if state is BreakerState.OPEN:
            raise CircuitOpenError(self.name, self._seconds_until_probe())
        if state is BreakerState.HALF_OPEN:
            if self._probes_in_flight >= self._half_open_max_probes:
                raise CircuitOpenError(self.name, 0.0)
            self._probes_in_flight += 1
            return CallPermit(self, epoch=self._epoch, is_probe=True)
        return CallPermit(self, epoch=self._epoch, is_probe=False)

    def _settle(self, *, epoch: int, is_probe: bool, failed: bool | None) -> None:
        if epoch != self._epoch:
            return
        if is_probe:
            self._probes_in_flight -= 1
        if failed is None:
            return
        if failed:
            self._on_failure()
        else:
            self._on_success()

    def _on_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._probe_successes += 1
            if self._probe_successes >= self._success_threshold:
                self._transition(BreakerState.CLOSED)
        else:
            self._failures = 0

    def _on_failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._failure_threshold:
            self._transition(BreakerState.OPEN)

    def _seconds_until_probe(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._recovery_timeout - self._clock())

    def _transition(self, to_state: BreakerState) -> None:
        from_state = self._state
        self._state = to_state
        self._epoch += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        if to_state is BreakerState.OPEN:
            self._opened_at = self._clock()
        elif to_state is BreakerState.CLOSED:
            self._opened_at = None
            self._failures = 0

        BREAKER_STATE.labels(breaker=self.name).set(_GAUGE_VALUE[to_state])
        BREAKER_TRANSITIONS.labels(breaker=self.name, to_state=to_state.value).inc()
        logger.log(
            logging.WARNING if to_state is BreakerState.OPEN else logging.INFO,
            "circuit breaker %s: %s -> %s",
            self.name,
            from_state.value,
            to_state.value,
            extra={
                "breaker": self.name,
                "from_state": from_state.value,
                "to_state": to_state.value,
                "consecutive_failures": self._failures,
            },
        )
