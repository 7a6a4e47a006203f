"""A publish's bounded wait: the caller gets the outcome, a TimeoutError, or its own
cancellation, and the publish itself is never cancelled (aiormq must not be interrupted between
counting a delivery tag and queueing the frame)."""

from __future__ import annotations

import asyncio

import pytest

from tradewind.common.broker.client import _outcome_within


async def _publish(done: asyncio.Event, outcome: BaseException | None = None) -> None:
    await done.wait()
    if outcome is not None:
        raise outcome


async def test_the_wait_ends_with_the_publish() -> None:
    done = asyncio.Event()
    publishing = asyncio.ensure_future(_publish(done))
    asyncio.get_running_loop().call_soon(done.set)
    await _outcome_within(publishing, 5)
    assert publishing.done()


async def test_the_publish_error_is_raised_to_the_caller() -> None:
    done = asyncio.Event()
    done.set()
    publishing = asyncio.ensure_future(_publish(done, LookupError("refused")))
    with pytest.raises(LookupError, match="refused"):
        await _outcome_within(publishing, 5)


async def test_a_timeout_leaves_the_publish_running_to_its_end() -> None:
    done = asyncio.Event()
    publishing = asyncio.ensure_future(_publish(done))
    with pytest.raises(TimeoutError):
        await _outcome_within(publishing, 0.01)
    assert not publishing.cancelled()
    done.set()
    await publishing  # completes normally: it was never cancelled


async def test_the_callers_cancellation_does_not_reach_the_publish() -> None:
    done = asyncio.Event()
    publishing = asyncio.ensure_future(_publish(done))
    waiting = asyncio.ensure_future(_outcome_within(publishing, 5))
    await asyncio.sleep(0)  # the caller is now waiting
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not publishing.cancelled()
    done.set()
    await publishing
