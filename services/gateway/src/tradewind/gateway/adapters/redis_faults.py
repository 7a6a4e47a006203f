"""The fault flag gateway.redisFailure: while it is on, every Redis call of the gateway fails.

The calls fail where a connection is taken from the pool, before anything is sent, with the
error an unreachable Redis gives (``redis.exceptions.ConnectionError``), so every caller takes
the path it takes in a real outage: order writes and webhook changes fail closed (503), reads
fail open, readiness reports Redis down, and the key-change subscription drops (keys are then
checked in PostgreSQL). Off again, the next call connects as usual.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from tradewind.common import flags
from tradewind.common.flags import Fault


def injected_redis_failure() -> RedisConnectionError | None:
    """The error to raise instead of calling Redis, while the fault flag is on."""
    if not flags.fault_on(Fault.GATEWAY_REDIS_FAILURE):
        return None
    return RedisConnectionError("Redis unreachable: the fault flag gateway.redisFailure is on")


class FaultFlaggedPool(BlockingConnectionPool):
    """The gateway's pool: a blocking pool whose connections cannot be had during the fault."""

    async def get_connection(self, *args: Any, **options: Any) -> AbstractConnection:
        failure = injected_redis_failure()
        if failure is not None:
            raise failure
        # Passed on as given: redis-py warns about arguments it has deprecated.
        connection: AbstractConnection = await super().get_connection(  # type: ignore[no-untyped-call]
            *args, **options
        )
        return connection
