"""Servers of the drills' own (PostgreSQL, Redis, RabbitMQ), so restarting one disturbs no one.

The machine's PostgreSQL, Redis and RabbitMQ serve other test runs too: a drill restarts only a
server it started itself. A run on private servers also needs no broker lock, at the price of a
few seconds to start them (RabbitMQ about 3 s, PostgreSQL under 1 s, Redis at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Protocol

from support.infra import ServerOverrides
from support.private_postgres import PrivatePostgres, private_postgres
from support.private_rabbitmq import PrivateRabbitMQ, private_rabbitmq
from support.redis_server import RedisServer, private_redis

log = logging.getLogger(__name__)

SERVER_NAMES = ("postgresql", "redis", "rabbitmq")


class RestartableServer(Protocol):
    """A server a drill may stop and start again; both calls block (run them in a thread)."""

    @property
    def name(self) -> str: ...

    def stop(self) -> None: ...

    def start(self) -> object: ...


@dataclass(frozen=True)
class PrivateServers:
    postgres: PrivatePostgres | None = None
    redis: RedisServer | None = None
    rabbitmq: PrivateRabbitMQ | None = None

    def overrides(self) -> ServerOverrides:
        """The run's servers: these private ones, the shared ones for the rest."""
        return ServerOverrides(
            postgres_url=self.postgres.url if self.postgres else None,
            redis_url=self.redis.url if self.redis else None,
            amqp_url=self.rabbitmq.url if self.rabbitmq else None,
            rabbitmq_cli_options=self.rabbitmq.cli_options if self.rabbitmq else (),
        )

    def restartable(self) -> dict[str, RestartableServer]:
        """By name (``postgresql``, ``redis``, ``rabbitmq``): only these may be restarted."""
        servers: list[RestartableServer | None] = [self.postgres, self.redis, self.rabbitmq]
        return {server.name: server for server in servers if server is not None}


def unknown_servers(names: Collection[str]) -> list[str]:
    return sorted(set(names) - set(SERVER_NAMES))


@contextlib.asynccontextmanager
async def private_servers(names: Collection[str]) -> AsyncIterator[PrivateServers]:
    """Start the named private servers (none: an empty set); stop and delete them at the end."""
    if unknown := unknown_servers(names):
        raise ValueError(f"unknown servers {unknown}; known: {list(SERVER_NAMES)}")
    with contextlib.ExitStack() as stack:
        postgres = rabbitmq = redis = None
        if "postgresql" in names:
            postgres = await asyncio.to_thread(stack.enter_context, private_postgres())
        if "rabbitmq" in names:
            rabbitmq = await asyncio.to_thread(stack.enter_context, private_rabbitmq())
        if "redis" in names:
            redis = stack.enter_context(private_redis())
            await redis.wait_ready()
        if names:
            log.info("private servers up: %s", ", ".join(sorted(names)))
        yield PrivateServers(postgres, redis, rabbitmq)
