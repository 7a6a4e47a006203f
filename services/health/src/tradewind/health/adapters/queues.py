"""Reading queue depths from RabbitMQ: through its management HTTP API when one is configured
(ready, unacked, consumers), else with passive declares over AMQP (ready and consumers).

Both read every queue of a round concurrently, each bounded by the check timeout, and report a
queue the broker does not know as missing, never as an exception. The watched queues are few
(``tradewind.common.broker.catalog``: two per consumed queue), so one round costs a handful of
requests, or of short-lived channels, every poll interval.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import aio_pika
import aiohttp

from tradewind.health.adapters.closing import close_quietly
from tradewind.health.adapters.probes import AmqpConnectivity
from tradewind.health.domain.readings import QueueReading

MAX_QUEUE_ANSWER_BYTES = 64 * 1024


class QueueReader(Protocol):
    async def read(self, names: Sequence[str]) -> dict[str, QueueReading]: ...


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names (``/`` when its path is empty)."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


class PassiveDeclareReader:
    """``queue.declare`` with ``passive``: the broker answers with the queue's ready count and
    consumers, or closes the channel with 404 when there is no such queue. A channel per queue,
    since a 404 closes it; the connection is the one the RabbitMQ check keeps."""

    def __init__(self, amqp: AmqpConnectivity, *, timeout_s: float) -> None:
        self.amqp = amqp
        self.timeout_s = timeout_s

    async def read(self, names: Sequence[str]) -> dict[str, QueueReading]:
        try:
            async with asyncio.timeout(self.timeout_s):
                connection = await self.amqp.connection()
        except Exception as exc:
            reading = QueueReading.unknown(f"broker not reachable: {_describe(exc)}")
            return dict.fromkeys(names, reading)
        readings = await asyncio.gather(*(self._read_one(connection, name) for name in names))
        return dict(zip(names, readings, strict=True))

    async def _read_one(self, connection: Any, name: str) -> QueueReading:
        channel = None
        try:
            async with asyncio.timeout(self.timeout_s):
                channel = await connection.channel(publisher_confirms=False)
                queue = await channel.declare_queue(name, passive=True)
                result = queue.declaration_result
                return QueueReading.found(
                    ready=int(result.message_count or 0),
                    consumers=int(result.consumer_count or 0),
                )
        except aio_pika.exceptions.ChannelNotFoundEntity:
            channel = None  # the broker closed it
            return QueueReading.missing()
        except TimeoutError:
            return QueueReading.unknown(f"no answer within {self.timeout_s:g} s")
        except Exception as exc:
            return QueueReading.unknown(_describe(exc))
        finally:
            if channel is not None and not channel.is_closed:
                await close_quietly(
                    channel, within_s=1.0, failure="closing a queue-reading channel failed"
                )


class ManagementApiReader:
    """``GET /api/queues/<vhost>/<name>`` on the management plugin, one request per queue.

    The management API refreshes its figures every few seconds (``collect_statistics_interval``,
    5 s by default), so they trail the broker by that much; in exchange it tells the unacked
    messages, which a passive declare cannot.
    """

    def __init__(
        self,
        base_url: str,
        vhost: str,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
    ) -> None:
        parts = urlsplit(base_url)
        self._headers = (
            {
                "Authorization": aiohttp.encode_basic_auth(
                    unquote(parts.username), unquote(parts.password or "")
                )
            }
            if parts.username is not None
            else {}
        )
        netloc = parts.hostname or ""
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        self.base_url = urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
        self.vhost = vhost
        self.session = session
        self.timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def queue_url(self, name: str) -> str:
        return f"{self.base_url}/api/queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}"

    async def read(self, names: Sequence[str]) -> dict[str, QueueReading]:
        readings = await asyncio.gather(*(self._read_one(name) for name in names))
        return dict(zip(names, readings, strict=True))

    async def _read_one(self, name: str) -> QueueReading:
        try:
            async with self.session.get(
                self.queue_url(name),
                params={"columns": "messages_ready,messages_unacknowledged,consumers"},
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                if response.status == 404:
                    return QueueReading.missing()
                if response.status != 200:
                    return QueueReading.unknown(f"management API answered {response.status}")
                body = await response.content.read(MAX_QUEUE_ANSWER_BYTES + 1)
        except TimeoutError:
            return QueueReading.unknown(f"no answer within {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return QueueReading.unknown(_describe(exc))
        return _reading_from(body)


def _reading_from(body: bytes) -> QueueReading:
    if len(body) > MAX_QUEUE_ANSWER_BYTES:
        return QueueReading.unknown("management API answer too large")
    try:
        data = json.loads(body)
    except ValueError:
        return QueueReading.unknown("management API answer is not JSON")
    if not isinstance(data, dict):
        return QueueReading.unknown("management API answer is not an object")

    def count(key: str) -> int | None:
        value = data.get(key)
        # A queue declared a moment ago has no statistics yet: its figures are simply unknown.
        return int(value) if isinstance(value, int | float) and value >= 0 else None

    consumers = count("consumers")
    if consumers is None:
        return QueueReading.unknown("management API gave no consumer count yet")
    return QueueReading.found(
        ready=count("messages_ready"),
        consumers=consumers,
        unacked=count("messages_unacknowledged"),
    )
