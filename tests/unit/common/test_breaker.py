"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tradewind.common.resilience import (
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DependencyDown(Exception):
    pass


class NotFound(Exception):
    pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    # One metric series per test, so gauge and counter assertions cannot see other tests.
    return f"test-{request.node.name}"


async def succeed() -> str:
    return "ok"


async def fail() -> str:
    raise DependencyDown("connection refused")


async def fail_times(breaker: CircuitBreaker, count: int) -> None:
    for _ in range(count):
        with pytest.raises(DependencyDown):
            await breaker.call(fail)


def current_state(breaker: CircuitBreaker) -> BreakerState:
    # A call, unlike `breaker.state`, is not narrowed by mypy across the awaits in between.
    return breaker.state


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("tradewind_circuit_breaker_state", {"breaker": name})


def transitions(name: str, to_state: str) -> float:
    value = REGISTRY.get_sample_value(
        "tradewind_circuit_breaker_transitions_total", {"breaker": name, "to_state": to_state}
    )
    return value or 0.0


async def open_breaker(breaker: CircuitBreaker, failure_threshold: int) -> None:
    await fail_times(breaker, failure_threshold)
    assert current_state(breaker) is BreakerState.OPEN


async def half_open_breaker(name: str, clock: FakeClock, **settings: Any) -> CircuitBreaker:
    """A breaker one failure opened, its recovery timeout of a second passed: the next call is a
    probe."""
    breaker = CircuitBreaker(
        name, clock=clock, failure_threshold=1, recovery_timeout=1.0, **settings
    )
    await open_breaker(breaker, 1)
    clock.advance(1.0)
    return breaker


class HeldCall:
    """A call that stays in flight until released, to test concurrency limits."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.error: BaseException | None = None

    async def __call__(self) -> str:
        self.started.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return "held"


async def start_held_call(breaker: CircuitBreaker) -> tuple[HeldCall, asyncio.Task[str]]:
    held = HeldCall()
    task = asyncio.create_task(breaker.call(held))
    await held.started.wait()
    return held, task


async def test_starts_closed_and_passes_results_through(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock)

    assert await breaker.call(succeed) == "ok"
    assert current_state(breaker) is BreakerState.CLOSED
    assert gauge(name) == 0.0


async def test_call_forwards_arguments(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock)

    async def join(a: str, b: str, *, sep: str) -> str:
        return f"{a}{sep}{b}"

    assert await breaker.call(join, "x", "y", sep="-") == "x-y"


async def test_opens_after_failure_threshold_consecutive_failures(
    name: str, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=3)

    await fail_times(breaker, 2)
    assert current_state(breaker) is BreakerState.CLOSED
    assert gauge(name) == 0.0

    await fail_times(breaker, 1)
    assert current_state(breaker) is BreakerState.OPEN
    assert gauge(name) == 2.0
    assert transitions(name, "open") == 1.0


async def test_success_while_closed_resets_the_failure_count(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=3)

    await fail_times(breaker, 2)
    await breaker.call(succeed)
    await fail_times(breaker, 2)

    assert current_state(breaker) is BreakerState.CLOSED
    assert breaker.snapshot().failures == 2


async def test_open_breaker_fails_fast_with_retry_after(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1, recovery_timeout=10.0)
    await open_breaker(breaker, 1)
    clock.advance(4.0)
    calls = 0

    async def counted() -> str:
        nonlocal calls
        calls += 1
        return "ok"

    with pytest.raises(CircuitOpenError) as raised:
        await breaker.call(counted)

    assert calls == 0
    assert raised.value.name == name
    assert raised.value.retry_after == pytest.approx(6.0)
    assert name in str(raised.value)


async def test_becomes_half_open_once_recovery_timeout_elapses(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1, recovery_timeout=10.0)
    await open_breaker(breaker, 1)

    clock.advance(9.99)
    assert current_state(breaker) is BreakerState.OPEN
    clock.advance(0.01)
    assert current_state(breaker) is BreakerState.HALF_OPEN
    assert gauge(name) == 1.0
    assert transitions(name, "half_open") == 1.0


async def test_successful_probe_closes_the_breaker(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=2, recovery_timeout=5.0)
    await open_breaker(breaker, 2)
    clock.advance(5.0)

    assert await breaker.call(succeed) == "ok"

    assert current_state(breaker) is BreakerState.CLOSED
    assert gauge(name) == 0.0
    assert breaker.snapshot() == BreakerSnapshot(
        name=name, state=BreakerState.CLOSED, failures=0, opened_at=None
    )
    # Closed again means the full threshold applies afresh.
    await fail_times(breaker, 1)
    assert current_state(breaker) is BreakerState.CLOSED


async def test_failed_probe_reopens_and_restarts_the_timer(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1, recovery_timeout=10.0)
    await open_breaker(breaker, 1)
    clock.advance(10.0)

    await fail_times(breaker, 1)

    assert current_state(breaker) is BreakerState.OPEN
    assert gauge(name) == 2.0
    assert transitions(name, "open") == 2.0
    with pytest.raises(CircuitOpenError) as raised:
        await breaker.call(succeed)
    assert raised.value.retry_after == pytest.approx(10.0)
    clock.advance(9.0)
    assert current_state(breaker) is BreakerState.OPEN


async def test_half_open_admits_only_max_probes_concurrently(name: str, clock: FakeClock) -> None:
    breaker = await half_open_breaker(name, clock, half_open_max_probes=1)
    held, probe = await start_held_call(breaker)

    with pytest.raises(CircuitOpenError) as raised:
        await breaker.call(succeed)
    assert raised.value.retry_after == 0.0
    assert current_state(breaker) is BreakerState.HALF_OPEN

    held.release.set()
    assert await probe == "held"
    assert current_state(breaker) is BreakerState.CLOSED
    assert await breaker.call(succeed) == "ok"


async def test_half_open_probe_limit_above_one(name: str, clock: FakeClock) -> None:
    breaker = await half_open_breaker(name, clock, half_open_max_probes=2, success_threshold=2)
    first, first_task = await start_held_call(breaker)
    second, second_task = await start_held_call(breaker)

    with pytest.raises(CircuitOpenError):
        await breaker.call(succeed)

    first.release.set()
    await first_task
    assert current_state(breaker) is BreakerState.HALF_OPEN
    second.release.set()
    await second_task
    assert current_state(breaker) is BreakerState.CLOSED


async def test_success_threshold_needs_consecutive_successful_probes(
    name: str, clock: FakeClock
) -> None:
    breaker = await half_open_breaker(name, clock, success_threshold=3)

    await breaker.call(succeed)
    await breaker.call(succeed)
    assert current_state(breaker) is BreakerState.HALF_OPEN
    await breaker.call(succeed)
    assert current_state(breaker) is BreakerState.CLOSED


async def test_failure_after_some_successful_probes_reopens(name: str, clock: FakeClock) -> None:
    breaker = await half_open_breaker(name, clock, success_threshold=2)

    await breaker.call(succeed)
    await fail_times(breaker, 1)
    assert current_state(breaker) is BreakerState.OPEN

    clock.advance(1.0)
    await breaker.call(succeed)
    assert current_state(breaker) is BreakerState.HALF_OPEN, (
        "probe successes must start again from zero"
    )


async def test_exceptions_that_are_not_failures_pass_through_and_count_as_success(
    name: str, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(
        name,
        clock=clock,
        failure_threshold=2,
        is_failure=lambda error: not isinstance(error, NotFound),
    )

    async def not_found() -> str:
        raise NotFound("order 42")

    for _ in range(5):
        with pytest.raises(NotFound):
            await breaker.call(not_found)
    assert current_state(breaker) is BreakerState.CLOSED

    await fail_times(breaker, 1)
    with pytest.raises(NotFound):
        await breaker.call(not_found)
    await fail_times(breaker, 1)
    assert current_state(breaker) is BreakerState.CLOSED, "the NotFound reset the failure count"


async def test_probe_raising_a_non_failure_closes_the_breaker(name: str, clock: FakeClock) -> None:
    breaker = await half_open_breaker(
        name, clock, is_failure=lambda error: not isinstance(error, NotFound)
    )

    async def not_found() -> str:
        raise NotFound("order 42")

    with pytest.raises(NotFound):
        await breaker.call(not_found)
    assert current_state(breaker) is BreakerState.CLOSED


async def test_cancellation_is_not_a_failure(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1)
    _, task = await start_held_call(breaker)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert current_state(breaker) is BreakerState.CLOSED
    assert breaker.snapshot().failures == 0


async def test_cancelled_probe_frees_its_slot_without_deciding(name: str, clock: FakeClock) -> None:
    breaker = await half_open_breaker(name, clock)
    _, probe = await start_held_call(breaker)

    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe

    assert current_state(breaker) is BreakerState.HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert current_state(breaker) is BreakerState.CLOSED


async def test_outcome_of_a_call_admitted_before_a_transition_is_ignored(
    name: str, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1, recovery_timeout=1.0)
    slow, slow_task = await start_held_call(breaker)
    await open_breaker(breaker, 1)
    clock.advance(1.0)
    assert current_state(breaker) is BreakerState.HALF_OPEN

    slow.release.set()
    assert await slow_task == "held"

    assert current_state(breaker) is BreakerState.HALF_OPEN, "a pre-outage success is not a probe"
    probe, probe_task = await start_held_call(breaker)
    with pytest.raises(CircuitOpenError):
        await breaker.call(succeed)
    probe.release.set()
    await probe_task
    assert current_state(breaker) is BreakerState.CLOSED


async def test_guard_records_exceptions_and_explicit_outcomes(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=2)

    async with breaker.guard() as permit:
        permit.record_failure()  # e.g. the dependency answered 503
    assert breaker.snapshot().failures == 1

    with pytest.raises(DependencyDown):
        async with breaker.guard():
            raise DependencyDown
    assert current_state(breaker) is BreakerState.OPEN

    with pytest.raises(CircuitOpenError):
        async with breaker.guard():
            pytest.fail("the guarded block must not run while open")


async def test_explicit_outcome_wins_over_the_blocks_exit(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=3)
    await fail_times(breaker, 2)

    async def judged_healthy_despite_raising() -> None:
        async with breaker.guard() as permit:
            permit.record_success()
            raise DependencyDown

    with pytest.raises(DependencyDown):
        await judged_healthy_despite_raising()

    assert breaker.snapshot().failures == 0


async def test_record_failure_and_record_success_drive_the_state(
    name: str, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=2, recovery_timeout=3.0)

    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert current_state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert current_state(breaker) is BreakerState.OPEN

    clock.advance(3.0)
    breaker.record_success()
    assert current_state(breaker) is BreakerState.CLOSED


async def test_record_failure_while_open_keeps_the_timer(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1, recovery_timeout=3.0)
    breaker.record_failure()
    clock.advance(2.0)

    breaker.record_failure()
    clock.advance(1.0)

    assert current_state(breaker) is BreakerState.HALF_OPEN


async def test_snapshot_while_open(name: str, clock: FakeClock) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=2)
    opened_at = clock.now
    await open_breaker(breaker, 2)

    assert breaker.snapshot() == BreakerSnapshot(
        name=name, state=BreakerState.OPEN, failures=2, opened_at=opened_at
    )


async def test_transitions_are_logged_with_structured_fields(
    name: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = CircuitBreaker(name, clock=clock, failure_threshold=1)

    with caplog.at_level(logging.INFO, logger="tradewind.common.resilience.breaker"):
        await open_breaker(breaker, 1)

    [record] = [r for r in caplog.records if getattr(r, "breaker", None) == name]
    assert record.levelno == logging.WARNING
    assert getattr(record, "from_state", None) == "closed"
    assert getattr(record, "to_state", None) == "open"


def test_breakers_with_distinct_names_have_their_own_series(request: pytest.FixtureRequest) -> None:
    names = [f"many-{request.node.name}-{index}" for index in range(20)]
    breakers = [CircuitBreaker(name, failure_threshold=1) for name in names]

    breakers[3].record_failure()

    assert gauge(names[3]) == 2.0
    assert all(gauge(name) == 0.0 for index, name in enumerate(names) if index != 3)


def test_two_breakers_may_share_a_name(name: str, clock: FakeClock) -> None:
    first = CircuitBreaker(name, clock=clock, failure_threshold=1)
    second = CircuitBreaker(name, clock=clock, failure_threshold=1)

    first.record_failure()

    assert current_state(first) is BreakerState.OPEN
    assert current_state(second) is BreakerState.CLOSED
    assert gauge(name) == 2.0


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (lambda: CircuitBreaker("invalid", failure_threshold=0), "failure_threshold"),
        (lambda: CircuitBreaker("invalid", recovery_timeout=-1.0), "recovery_timeout"),
        (lambda: CircuitBreaker("invalid", half_open_max_probes=0), "half_open_max_probes"),
        (lambda: CircuitBreaker("invalid", success_threshold=0), "success_threshold"),
    ],
)
def test_rejects_nonsensical_settings(build: Callable[[], CircuitBreaker], setting: str) -> None:
    with pytest.raises(ValueError, match=setting):
        build()
