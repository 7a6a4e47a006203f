"""Redis script calls of concurrent requests, sent together: one pipeline per round trip.

Every request's admission is one script call. Sent one by one, each costs the gateway a pooled
connection, a write and a read of its own; here every call made while the previous pipeline was
in flight goes into the next one (a group commit, as ``pending.PendingOrders`` does for views).
Each caller still gets its own reply, or its own error, and returns only once it has it.

Scripts are called by their SHA (EVALSHA); a Redis that does not know one (restarted, flushed)
gets it loaded and the calls that missed it sent again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from tradewind.gateway.adapters.redis_batches import PipelinedBatches


class BatcherStopped(RuntimeError):
    """The batch sender is not running."""


@dataclass(frozen=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # Redis names a script by the SHA-1 of its source.
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


@dataclass(frozen=True)
class _Call:
    script: Script
    keys: list[str]
    args: list[Any]


class ScriptBatches:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._calls = PipelinedBatches[_Call, Any](
            self._send, stopped=BatcherStopped, what="script calls"
        )

    async def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; raises what Redis or the connection raised for this call."""
        return await self._calls.submit(_Call(script, keys, args))

    async def send_batches(self) -> None:
        """Send what ``call`` queues until cancelled (run it as a background task)."""
        await self._calls.run()

    async def _send(self, batch: list[_Call]) -> list[Any]:
        replies = await self._pipeline(batch)
        missing = [
            (call, index)
            for index, (call, reply) in enumerate(zip(batch, replies, strict=True))
            if isinstance(reply, NoScriptError)
        ]
        if missing:
            for source in {call.script.source for call, _ in missing}:
                await self.redis.script_load(source)
            again = await self._pipeline([call for call, _ in missing])
            for (_, index), reply in zip(missing, again, strict=True):
                replies[index] = reply
        return replies

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in batch:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            return list(await pipe.execute(raise_on_error=False))
