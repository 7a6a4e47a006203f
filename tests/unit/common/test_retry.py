"""Retry policies: what is retried, how often, and how long the waits are (without sleeping)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tradewind.common.resilience import (
    CONNECT,
    HTTP_IDEMPOTENT,
    PUBLISH,
    RetryPolicy,
    backoff_delays,
    retry_async,
)

PRESETS = {"CONNECT": CONNECT, "PUBLISH": PUBLISH, "HTTP_IDEMPOTENT": HTTP_IDEMPOTENT}


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Flaky:
    """Raises the given errors in order, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


async def test_returns_once_a_retried_error_stops(sleep: RecordingSleep) -> None:
    flaky = Flaky(ConnectionRefusedError(), TimeoutError())

    assert await retry_async(PUBLISH, flaky, sleep=sleep) == "done"

    assert flaky.calls == 3
    assert len(sleep.delays) == 2


@pytest.mark.parametrize("preset_name", PRESETS)
async def test_gives_up_after_the_policys_attempts_and_reraises_the_last_error(
    preset_name: str, sleep: RecordingSleep
) -> None:
    policy = PRESETS[preset_name]
    last_error = ConnectionResetError("still down")
    flaky = Flaky(*[ConnectionRefusedError()] * (policy.attempts - 1), last_error, ValueError())

    with pytest.raises(ConnectionResetError) as raised:
        await retry_async(policy, flaky, sleep=sleep)

    assert raised.value is last_error
    assert flaky.calls == policy.attempts
    assert len(sleep.delays) == policy.attempts - 1


async def test_does_not_retry_errors_outside_retry_on(sleep: RecordingSleep) -> None:
    flaky = Flaky(ValueError("bad request"))

    with pytest.raises(ValueError, match="bad request"):
        await retry_async(CONNECT, flaky, retry_on=(ConnectionError,), sleep=sleep)

    assert flaky.calls == 1
    assert sleep.delays == []


async def test_retry_on_selects_the_retried_errors(sleep: RecordingSleep) -> None:
    class BrokerUnavailable(Exception):
        pass

    flaky = Flaky(BrokerUnavailable(), BrokerUnavailable())

    assert await retry_async(PUBLISH, flaky, retry_on=(BrokerUnavailable,), sleep=sleep) == "done"
    assert flaky.calls == 3

    with pytest.raises(ConnectionRefusedError):
        await retry_async(
            PUBLISH, Flaky(ConnectionRefusedError()), retry_on=(BrokerUnavailable,), sleep=sleep
        )


async def test_cancellation_is_not_retried(sleep: RecordingSleep) -> None:
    flaky = Flaky(asyncio.CancelledError())

    with pytest.raises(asyncio.CancelledError):
        await retry_async(CONNECT, flaky, retry_on=(Exception,), sleep=sleep)

    assert flaky.calls == 1


async def test_retrying_can_be_used_as_an_async_for_loop(sleep: RecordingSleep) -> None:
    flaky = Flaky(ConnectionRefusedError())
    result = None

    async for attempt in HTTP_IDEMPOTENT.retrying((ConnectionError,), sleep=sleep):
        with attempt:
            result = await flaky()

    assert result == "done"
    assert flaky.calls == 2


@pytest.mark.parametrize("preset_name", PRESETS)
async def test_actual_waits_follow_the_schedule_within_jitter(
    preset_name: str, sleep: RecordingSleep
) -> None:
    policy = PRESETS[preset_name]
    flaky = Flaky(*[ConnectionRefusedError()] * policy.attempts)

    with pytest.raises(ConnectionRefusedError):
        await retry_async(policy, flaky, sleep=sleep)

    schedule = backoff_delays(policy)
    assert len(sleep.delays) == len(schedule)
    for slept, scheduled in zip(sleep.delays, schedule, strict=True):
        assert scheduled <= slept <= min(scheduled + policy.jitter, policy.maximum)


def test_backoff_delays_grow_exponentially_up_to_the_maximum() -> None:
    policy = RetryPolicy(attempts=7, initial=0.5, maximum=5.0, multiplier=2.0, jitter=1.0)

    assert backoff_delays(policy) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_single_attempt_policy_has_no_waits() -> None:
    assert backoff_delays(RetryPolicy(attempts=1, initial=1.0, maximum=1.0)) == []


@pytest.mark.parametrize("preset_name", PRESETS)
def test_preset_waits_start_at_initial_and_never_shrink(preset_name: str) -> None:
    policy = PRESETS[preset_name]
    delays = backoff_delays(policy)

    assert delays[0] == policy.initial
    assert delays == sorted(delays)
    assert max(delays) <= policy.maximum


def test_preset_budgets() -> None:
    def worst_case_total_wait(policy: RetryPolicy) -> float:
        return sum(min(d + policy.jitter, policy.maximum) for d in backoff_delays(policy))

    assert CONNECT.attempts >= 8
    assert 20.0 <= sum(backoff_delays(CONNECT)) <= worst_case_total_wait(CONNECT) <= 32.0
    assert PUBLISH.attempts <= 4
    assert worst_case_total_wait(PUBLISH) <= 1.0
    assert 2 <= HTTP_IDEMPOTENT.attempts <= 3
    assert worst_case_total_wait(HTTP_IDEMPOTENT) <= 1.5


async def test_each_retry_is_logged_with_structured_fields(
    sleep: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = Flaky(ConnectionRefusedError("refused"))

    with caplog.at_level(logging.WARNING, logger="tradewind.common.resilience.retry"):
        await retry_async(PUBLISH, flaky, name="publish order.created", sleep=sleep)

    [record] = caplog.records
    assert getattr(record, "operation", None) == "publish order.created"
    assert getattr(record, "attempt", None) == 1
    assert getattr(record, "retry_in_s", None) == pytest.approx(sleep.delays[0], abs=1e-3)
    assert "ConnectionRefusedError" in getattr(record, "error", "")


@pytest.mark.parametrize(
    "settings",
    [
        {"attempts": 0, "initial": 0.1, "maximum": 1.0},
        {"attempts": 3, "initial": -0.1, "maximum": 1.0},
        {"attempts": 3, "initial": 2.0, "maximum": 1.0},
        {"attempts": 3, "initial": 0.1, "maximum": 1.0, "multiplier": 0.5},
        {"attempts": 3, "initial": 0.1, "maximum": 1.0, "jitter": -1.0},
    ],
)
def test_rejects_nonsensical_policies(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**settings)
