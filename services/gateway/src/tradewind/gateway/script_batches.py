"""Redis script calls of concurrent requests, sent together: one pipeline per round trip.

Every request's admission is one script call. Sent one by one, each costs the gateway a pooled
connection, a write and a read of its own; here every call made while the previous pipeline was
in flight goes into the next one (a group commit, as ``pending.PendingOrders`` does for views).
Each caller still gets its own reply, or its own error, and returns only once it has it.

Scripts are called by their SHA (EVALSHA); a Redis that does not know one (restarted, flushed)
gets it loaded and the calls that missed it sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

MAX_BATCH = 500


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
    done: asyncio.Future[Any]


class ScriptBatches:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._queued: list[_Call] = []
        self._wake = asyncio.Event()
        self._stopped = False

    async def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; raises what Redis or the connection raised for this call."""
        if self._stopped:
            raise BatcherStopped("script calls are no longer sent")
        call = _Call(script, keys, args, asyncio.get_running_loop().create_future())
        self._queued.append(call)
        self._wake.set()
        return await call.done

    async def send_batches(self) -> None:
        """Send what ``call`` queues until cancelled (run it as a background task)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queued:
                    batch = self._queued[:MAX_BATCH]
                    del self._queued[:MAX_BATCH]
                    await self._send(batch)
        finally:
            self._stopped = True
            _fail(self._queued, BatcherStopped("the script batch sender stopped"))
            self._queued.clear()

    async def _send(self, batch: list[_Call]) -> None:
        try:
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
        except Exception as exc:
            _fail(batch, exc)
            return
        except BaseException:
            _fail(batch, BatcherStopped("the script batch sender stopped"))
            raise
        for call, reply in zip(batch, replies, strict=True):
            if call.done.done():
                continue  # its caller gave up waiting
            if isinstance(reply, Exception):
                call.done.set_exception(reply)
            else:
                call.done.set_result(reply)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for call in batch:
                pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
            return list(await pipe.execute(raise_on_error=False))


def _fail(calls: list[_Call], error: Exception) -> None:
    for call in calls:
        if not call.done.done():
            call.done.set_exception(error)
