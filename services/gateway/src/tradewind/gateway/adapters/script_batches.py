"""Redis work of concurrent requests, sent together: one pipeline per round trip.

Every request's admission is one script call, and every order's pending view one SET. Sent one
by one, each costs the gateway a pooled connection, a write and a read of its own; here every
command queued while the previous pipeline was in flight goes into the next one (a group commit,
as the webhooks success batcher does). Each caller still gets its own reply, or its own error,
and returns only once it has it.

The gateway sends its admission scripts and its pending views through one ``ScriptBatches``:
one request's admission and another's view share a round trip, so under load an order costs
fewer pipelines (bench/gateway_bench.py, docs/performance.md).

Scripts are called by their SHA (EVALSHA); a Redis that does not know one (restarted, flushed)
gets it loaded and the calls that missed it sent again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

from tradewind.gateway.adapters.redis_batches import PipelinedBatches


class BatcherStopped(RuntimeError):
    """The batch sender is not running."""


class Command(Protocol):
    """One caller's Redis command: it adds itself to the pipeline it is sent in."""

    def add_to(self, pipe: Pipeline) -> None: ...


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

    def add_to(self, pipe: Pipeline) -> None:
        pipe.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)


class ScriptBatches:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._commands = PipelinedBatches[Command, Any](
            self._send, stopped=BatcherStopped, what="Redis commands"
        )

    async def call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; raises what Redis or the connection raised for this call."""
        return await self._commands.submit(_Call(script, keys, args))

    async def run(self, command: Command) -> Any:
        """The command's reply; raises what Redis or the connection raised for this command."""
        return await self._commands.submit(command)

    async def send_batches(self) -> None:
        """Send what ``call`` and ``run`` queue until cancelled (run it as a background task)."""
        await self._commands.run()

    async def _send(self, batch: list[Command]) -> list[Any]:
        replies = await self._pipeline(batch)
        missing = [
            (command, index)
            for index, (command, reply) in enumerate(zip(batch, replies, strict=True))
            if isinstance(command, _Call) and isinstance(reply, NoScriptError)
        ]
        if missing:
            for source in {command.script.source for command, _ in missing}:
                await self.redis.script_load(source)
            again = await self._pipeline([command for command, _ in missing])
            for (_, index), reply in zip(missing, again, strict=True):
                replies[index] = reply
        return replies

    async def _pipeline(self, batch: list[Command]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for command in batch:
                command.add_to(pipe)
            return list(await pipe.execute(raise_on_error=False))
