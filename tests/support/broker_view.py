"""What the broker itself says: a queue's bindings, and which events it could route nowhere."""

from __future__ import annotations

import asyncio
import json
import shutil
from urllib.parse import quote, urlsplit

import aio_pika
import httpx
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from support.cli import run_cli
from support.infra import Infra
from support.polling import eventually


async def queue_bindings(infra: Infra, exchange: str, queue: str) -> set[str]:
    """The routing keys that bind ``queue`` to ``exchange``, as the broker lists them.

    AMQP 0-9-1 cannot list bindings, so this asks rabbitmqctl or the management API, like the
    rest of the test infrastructure.
    """
    return await asyncio.to_thread(_queue_bindings, infra, exchange, queue)


def _queue_bindings(infra: Infra, exchange: str, queue: str) -> set[str]:
    if shutil.which("rabbitmqctl") is not None:
        listed = run_cli(
            [
                "rabbitmqctl",
                *infra.rabbitmq_cli_options,
                "-q",
                "list_bindings",
                "-p",
                infra.vhost,
                "source_name",
                "destination_name",
                "routing_key",
                "--formatter",
                "json",
            ],
            check=True,
        ).stdout
        return {
            b["routing_key"]
            for b in json.loads(listed)
            if b["source_name"] == exchange and b["destination_name"] == queue
        }
    if infra.management_url is None:
        raise RuntimeError("listing bindings needs rabbitmqctl or the management API")
    parts = urlsplit(infra.amqp_base_url)
    vhost, source, destination = (quote(name, safe="") for name in (infra.vhost, exchange, queue))
    response = httpx.get(
        f"{infra.management_url}/api/bindings/{vhost}/e/{source}/q/{destination}",
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    )
    response.raise_for_status()
    return {b["routing_key"] for b in response.json()}


async def queue_names(infra: Infra, prefix: str) -> set[str]:
    """The names of this run's queues that start with ``prefix``, as the broker lists them."""
    return await asyncio.to_thread(_queue_names, infra, prefix)


def _queue_names(infra: Infra, prefix: str) -> set[str]:
    if shutil.which("rabbitmqctl") is not None:
        listed = run_cli(
            [
                "rabbitmqctl",
                *infra.rabbitmq_cli_options,
                "-q",
                "list_queues",
                "-p",
                infra.vhost,
                "name",
                "--formatter",
                "json",
            ],
            check=True,
        ).stdout
        names = {q["name"] for q in json.loads(listed)}
    else:
        if infra.management_url is None:
            raise RuntimeError("listing queues needs rabbitmqctl or the management API")
        parts = urlsplit(infra.amqp_base_url)
        response = httpx.get(
            f"{infra.management_url}/api/queues/{quote(infra.vhost, safe='')}",
            auth=(parts.username or "guest", parts.password or "guest"),
            timeout=10,
        )
        response.raise_for_status()
        names = {q["name"] for q in response.json()}
    return {name for name in names if name.startswith(prefix)}


class UnroutedEvents:
    """The events exchange's alternate queue: an event found here was routed to no queue at all,
    so in particular not to the webhooks service's."""

    def __init__(self, amqp_url: str, queue: str) -> None:
        self.amqp_url = amqp_url
        self.queue_name = queue
        self.seen: set[str] = set()
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None

    async def wait_for(self, event_id: str, timeout: float = 10.0) -> None:
        queue = await self._opened()

        async def arrived() -> bool:
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                self.seen.add(message.message_id or "")
            return event_id in self.seen

        await eventually(arrived, timeout=timeout, message=f"event {event_id} not unrouted")

    async def _opened(self) -> AbstractQueue:
        # Declared by the service's broker client when it connects; only looked up here.
        if self._queue is None:
            self._connection = await aio_pika.connect_robust(self.amqp_url)
            channel = await self._connection.channel()
            self._queue = await channel.declare_queue(self.queue_name, passive=True)
        return self._queue

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def delete_queue(amqp_url: str, name: str) -> None:
    """Delete a queue as an operator would (a quorum queue refuses the if-unused flag)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(name, if_unused=False, if_empty=False)
    finally:
        await connection.close()
