"""Redis work of concurrent requests, sent together: one round trip per batch.

Every request's admission is one script call, and every order's pending view one SET. Sent one
by one, each costs the gateway a pooled connection, a write and a read of its own; here every
command queued while the previous batch was in flight goes into the next one (a group commit, as
the webhooks success batcher does). Each caller still gets its own reply, or its own error, and
returns only once it has it. The gateway sends its admission scripts and its pending views
through one ``ScriptBatches``: one request's admission and another's view share a round trip.

A batch is written on a connection the sender holds, packed and read by hand, not through a
redis-py pipeline: only one batch is ever in flight, and a pipeline's pool checkout, command
stack and reset cost 90 to 100 µs of CPU per round trip against 31 µs for the same two SETs
packed on a held connection (docs/performance.md). The fault flag gateway.redisFailure is
checked per batch, as the pool checks it per checkout (``redis_faults``).

Scripts are called by their SHA (EVALSHA); a Redis that does not know one (restarted, flushed)
gets it loaded and the calls that missed it sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tradewind.gateway.adapters.redis_batches import PipelinedBatches
from tradewind.gateway.adapters.redis_faults import injected_redis_failure

# One caller's Redis command, as its arguments: ("SET", key, value, "EX", 60).
Command = tuple[Any, ...]


class BatcherStopped(RuntimeError):
    """The batch sender is not running."""


@dataclass(frozen=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # Redis names a script by the SHA-1 of its source.
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


class ScriptBatches:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._connection: AbstractConnection | None = None
        self._scripts: dict[str, str] = {}  # SHA -> source, to load what Redis lacks
        self._commands = PipelinedBatches[Command, Any](
            self._send, stopped=BatcherStopped, what="Redis commands"
        )

    async def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; raises what Redis or the connection raised for this call."""
        self._scripts.setdefault(script.sha, script.source)
        return await self._commands.submit(("EVALSHA", script.sha, len(keys), *keys, *args))

    async def run(self, *command: Any) -> Any:
        """The command's raw reply; raises what Redis or the connection raised for it."""
        return await self._commands.submit(command)

    async def send_batches(self) -> None:
        """Send what ``call`` and ``run`` queue until cancelled (run it as a background task)."""
        try:
            await self._commands.run()
        finally:
            connection, self._connection = self._connection, None
            if connection is not None:
                await self.redis.connection_pool.release(connection)

    async def _send(self, batch: list[Command]) -> list[Any]:
        replies = await self._round_trip(batch)
        missing = [
            (command, index)
            for index, (command, reply) in enumerate(zip(batch, replies, strict=True))
            if isinstance(reply, NoScriptError) and command[0] == "EVALSHA"
        ]
        if missing:
            for sha in {command[1] for command, _ in missing}:
                await self.redis.script_load(self._scripts[sha])
            again = await self._round_trip([command for command, _ in missing])
            for (_, index), reply in zip(missing, again, strict=True):
                replies[index] = reply
        return replies

    async def _round_trip(self, batch: list[Command]) -> list[Any]:
        """Every command's reply, or its error (a script's error belongs to its caller alone)."""
        failure = injected_redis_failure()
        if failure is not None:
            raise failure
        pool = self.redis.connection_pool
        if self._connection is None:
            self._connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        connection = self._connection
        try:
            # The check the pool makes on every checkout: a socket Redis closed (a restart, a
            # killed client) is replaced before the batch is written, not failed by it.
            await pool.ensure_connection(connection)  # type: ignore[no-untyped-call]
            return await _exchange(connection, batch)
        except BaseException:
            # Where the replies stand is unknown: the next batch starts on a new socket.
            await connection.disconnect(nowait=True)
            raise


def packed(batch: list[Command]) -> bytes:
    """The batch in Redis's protocol, packed by hiredis (C), byte for byte what redis-py's own
    packer writes (tests/unit/gateway/test_redis_packing.py) in a fifth of its time: 1.6 against
    8.0 µs for an order's admission script and pending view. A command's name is one word (the
    Python packer would split "CONFIG GET"; none is sent here)."""
    return b"".join(hiredis.pack_command(command) for command in batch)


async def _exchange(connection: AbstractConnection, batch: list[Command]) -> list[Any]:
    """Write the batch, read its replies. The connection's socket timeout bounds the batch's
    replies together, not each one: redis-py's per-read timeout (an asyncio timeout entered and
    left per reply) was a few per cent of the gateway's CPU per order, two replies per order."""
    await connection.send_packed_command(packed(batch), check_health=False)
    replies: list[Any] = []
    try:
        async with asyncio.timeout(connection.socket_timeout):
            for _ in batch:
                try:
                    # math.inf: no timeout of this read's own (redis-py's documented opt-out).
                    replies.append(await connection.read_response(timeout=math.inf))
                except ResponseError as error:  # read whole: the connection stays in step
                    replies.append(error)
    except TimeoutError as exc:
        # What redis-py raises when its own read timeout expires; the caller disconnects.
        raise RedisTimeoutError(f"no reply from Redis within {connection.socket_timeout}s") from exc
    return replies
