"""Named retry policies (exponential backoff with jitter) built on tenacity."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

ExceptionTypes = tuple[type[BaseException], ...]
Sleep = Callable[[float], Awaitable[None]]

# ConnectionRefusedError, ConnectionResetError, BrokenPipeError, ... and asyncio timeouts.
TRANSIENT_ERRORS: ExceptionTypes = (ConnectionError, TimeoutError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The wait after failed attempt n is `initial * multiplier ** (n - 1)` plus a random
    jitter in [0, jitter], capped at `maximum` seconds. `attempts` counts the first call.
    """

    attempts: int
    initial: float
    maximum: float
    multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial < 0 or self.jitter < 0:
            raise ValueError("initial and jitter must not be negative")
        if self.maximum < self.initial:
            raise ValueError("maximum must be at least initial")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def retrying(
        self,
        retry_on: ExceptionTypes = TRANSIENT_ERRORS,
        *,
        name: str | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> AsyncRetrying:
        """A fresh tenacity `AsyncRetrying` that re-raises the last error when attempts run out.

        Use as `async for attempt in policy.retrying(...): with attempt: ...`.
        `name` labels the retry log lines; `sleep` is injectable for tests.
        """
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=_wait_strategy(self),
            retry=retry_if_exception_type(retry_on),
            before_sleep=_log_before_sleep,
            reraise=True,
            name=name,
            sleep=sleep,
        )


# For connecting to the broker / database at startup: about 30 s of waiting in total.
CONNECT = RetryPolicy(attempts=10, initial=0.25, maximum=5.0, jitter=0.25)
# For publishing a message: a brief hiccup is worth riding out, an outage is not.
PUBLISH = RetryPolicy(attempts=3, initial=0.1, maximum=1.0, jitter=0.1)
# For idempotent HTTP requests (GET, PUT with a key) made while serving a request.
HTTP_IDEMPOTENT = RetryPolicy(attempts=3, initial=0.2, maximum=1.0, jitter=0.1)


async def retry_async(
    policy: RetryPolicy,
    fn: Callable[[], Awaitable[T]],
    *,
    retry_on: ExceptionTypes = TRANSIENT_ERRORS,
    name: str | None = None,
    sleep: Sleep = asyncio.sleep,
) -> T:
    """Await `fn()` until it succeeds or `policy` gives up, then re-raise the last error.

    `fn` takes no arguments (bind them with a lambda or `functools.partial`) because each
    attempt needs a fresh awaitable.
    """
    label = name if name is not None else getattr(fn, "__qualname__", repr(fn))
    async for attempt in policy.retrying(retry_on, name=label, sleep=sleep):
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity re-raises once the attempts are exhausted")


def backoff_delays(policy: RetryPolicy) -> list[float]:
    """The waits between attempts without jitter: one per retry, `attempts - 1` in total.

    With jitter each actual wait lies in [delay, min(delay + jitter, maximum)].
    """
    wait = _wait_strategy(replace(policy, jitter=0.0))
    state = RetryCallState(retry_object=AsyncRetrying(), fn=None, args=(), kwargs={})
    delays: list[float] = []
    for failed_attempt in range(1, policy.attempts):
        state.attempt_number = failed_attempt
        delays.append(wait(state))
    return delays


def _wait_strategy(policy: RetryPolicy) -> wait_exponential_jitter:
    # tenacity calls the first wait `multiplier` and the growth factor `exp_base`.
    return wait_exponential_jitter(
        multiplier=policy.initial,
        exp_base=policy.multiplier,
        max=policy.maximum,
        jitter=policy.jitter,
    )


def _log_before_sleep(retry_state: RetryCallState) -> None:
    outcome = retry_state.outcome
    error = outcome.exception() if outcome is not None else None
    delay = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
    operation = retry_state.get_fn_name()
    logger.warning(
        "retrying %s in %.2fs after attempt %d failed: %r",
        operation,
        delay,
        retry_state.attempt_number,
        error,
        extra={
            "operation": operation,
            "attempt": retry_state.attempt_number,
            "retry_in_s": round(delay, 3),
            "error": repr(error),
        },
    )
