"""Script calls sent in pipelines: each caller gets its own reply or error, unknown scripts load."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from support.infra import Infra
from tradewind.gateway.adapters.script_batches import BatcherStopped, Script, ScriptBatches

# A comment of its own makes the script unknown to Redis: the first pipeline misses it.
ECHO_OR_FAIL = """
-- {marker}
if ARGV[1] == 'fail' then
  return redis.error_reply('asked to fail')
end
return {{KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}}
"""


@pytest.fixture
async def batches(infra: Infra) -> AsyncIterator[tuple[ScriptBatches, asyncio.Task[None]]]:
    redis = Redis.from_url(infra.redis_url)
    batches = ScriptBatches(redis)
    sender = asyncio.create_task(batches.send_batches())
    yield batches, sender
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    await redis.aclose()


async def test_concurrent_calls_each_get_their_own_reply_even_for_a_script_redis_lacks(
    batches: tuple[ScriptBatches, asyncio.Task[None]], infra: Infra
) -> None:
    sender, _ = batches
    script = Script(ECHO_OR_FAIL.format(marker=uuid.uuid4().hex))
    counter = f"{infra.namespace}:batches:{uuid.uuid4().hex}"
    args = [f"a{n}" if n % 7 else "fail" for n in range(60)]

    replies = await asyncio.gather(
        *(sender.call(script, [counter], [arg]) for arg in args), return_exceptions=True
    )

    succeeded = []
    for arg, reply in zip(args, replies, strict=True):
        if arg == "fail":
            assert isinstance(reply, ResponseError)
            assert "asked to fail" in str(reply)
        else:
            assert not isinstance(reply, BaseException)
            assert reply[:2] == [counter.encode(), arg.encode()]
            succeeded.append(int(reply[2]))
    # Every successful call ran exactly once.
    assert sorted(succeeded) == list(range(1, len(succeeded) + 1))


async def test_calls_after_the_sender_stopped_are_refused(
    batches: tuple[ScriptBatches, asyncio.Task[None]],
) -> None:
    sender, task = batches
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with pytest.raises(BatcherStopped):
        await sender.call(Script("return 1"), [], [])


async def test_a_dropped_connection_fails_at_most_the_next_batch_and_runs_nothing_twice(
    batches: tuple[ScriptBatches, asyncio.Task[None]], infra: Infra
) -> None:
    sender, _ = batches
    held = int(await sender.run("CLIENT", "ID"))
    admin = Redis.from_url(infra.redis_url)
    try:
        assert await admin.client_kill_filter(_id=str(held)) == 1
    finally:
        await admin.aclose()
    counter = f"{infra.namespace}:batches:{uuid.uuid4().hex}"

    # The check before a batch replaces a socket it sees closed; one whose close has not reached
    # the gateway yet fails that batch (as a pooled connection checked out then would), and
    # Redis ran none of it.
    try:
        first: int | None = int(await sender.run("INCR", counter))
    except RedisConnectionError:
        first = None
    second = int(await sender.run("INCR", counter))

    assert second == (1 if first is None else 2)
    assert int(await sender.run("CLIENT", "ID")) != held


async def test_a_batch_redis_leaves_unanswered_fails_within_the_socket_timeout(
    infra: Infra,
) -> None:
    redis = Redis.from_url(infra.redis_url, socket_timeout=0.25)
    sender = ScriptBatches(redis)
    sending = asyncio.create_task(sender.send_batches())
    admin = Redis.from_url(infra.redis_url)
    counter = f"{infra.namespace}:batches:{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    try:
        assert int(await sender.run("INCR", counter)) == 1
        await admin.client_pause(5000, all=False)  # writes wait; replies to them too
        try:
            started = loop.time()
            with pytest.raises(RedisTimeoutError):
                await sender.run("INCR", counter)
            # Bounded by the socket timeout, not by how long Redis stays silent.
            assert loop.time() - started < 4
        finally:
            await admin.client_unpause()
        # A new socket; the timed-out INCR may or may not have run once Redis resumed.
        assert int(await sender.run("INCR", counter)) in (2, 3)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        await admin.aclose()
        await redis.aclose()
