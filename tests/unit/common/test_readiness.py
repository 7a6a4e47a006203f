"""The readiness report (``tradewind.common.health.Readiness``): checks run concurrently, and a
report costs its caller no event-loop turn beyond what the checks themselves wait for."""

from __future__ import annotations

import asyncio

import pytest

from tradewind.common.health import Check, Readiness


async def test_a_report_of_checks_that_do_not_wait_finishes_without_the_loop_turning() -> None:
    async def answers_at_once() -> None:
        return None

    readiness = Readiness()
    readiness.add("db", answers_at_once)
    # Driven by hand, a coroutine that never suspends finishes on its first step. Under full load
    # every turn is all the ready work of the process: a probe must not wait for turns it does
    # not need (each check in a task of its own, and a wake-up when they are all done).
    reporting = readiness.report()
    with pytest.raises(StopIteration) as finished:
        reporting.send(None)
    assert finished.value.value == {"status": "up", "checks": {"db": {"status": "up"}}}


async def test_checks_run_concurrently() -> None:
    # Each check waits until the other has started: run one after the other, both would time out.
    started = {"db": asyncio.Event(), "broker": asyncio.Event()}

    def waiting_for(other: str, name: str) -> Check:
        async def check() -> None:
            started[name].set()
            await started[other].wait()

        return check

    readiness = Readiness(timeout_s=2)
    readiness.add("db", waiting_for("broker", "db"))
    readiness.add("broker", waiting_for("db", "broker"))
    report = await asyncio.wait_for(readiness.report(), 5)
    assert report == {
        "status": "up",
        "checks": {"db": {"status": "up"}, "broker": {"status": "up"}},
    }


async def test_a_cancelled_report_cancels_the_checks_it_started() -> None:
    first_started = asyncio.Event()
    second_cancelled = asyncio.Event()

    async def first() -> None:
        first_started.set()
        await asyncio.Event().wait()

    async def second() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            second_cancelled.set()
            raise

    readiness = Readiness(timeout_s=30)
    readiness.add("first", first)
    readiness.add("second", second)
    reporting = asyncio.ensure_future(readiness.report())
    await asyncio.wait_for(first_started.wait(), 5)
    reporting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reporting
    await asyncio.wait_for(second_cancelled.wait(), 5)
