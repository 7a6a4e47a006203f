"""Background work that fails is logged with its traceback; work that is stopped is not."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

import pytest

from tradewind.common.tasks import cancel_and_wait, start_background, start_supervised


async def _fails() -> None:
    raise ValueError("the dispatcher lost its database")


async def _runs_until_stopped() -> None:
    await asyncio.Event().wait()


async def test_a_supervised_task_that_fails_is_logged_with_its_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="tradewind.common.tasks"):
        task = start_supervised(_fails(), "dispatcher")
        # Done callbacks run in the order they were added: the report's before the wait's.
        await asyncio.wait({task})
    [record] = caplog.records
    assert record.getMessage() == "background task stopped"
    assert getattr(record, "task", None) == "dispatcher"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


async def test_stopping_background_work_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="tradewind.common.tasks"):
        supervised = start_supervised(_runs_until_stopped(), "poller")
        async with AsyncExitStack() as resources:
            background = start_background(resources, _runs_until_stopped(), "relay")
        await cancel_and_wait(supervised)
    assert background.cancelled()
    assert supervised.cancelled()
    assert caplog.records == []
