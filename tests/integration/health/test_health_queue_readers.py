"""Reading queue figures: passive declares on the real RabbitMQ, and the management API's answers.

RabbitMQ's management plugin is not enabled on the test broker, so the management reader talks to
a stand-in that answers ``GET /api/queues/<vhost>/<name>`` the way the plugin documents it
(https://www.rabbitmq.com/docs/http-api-reference); the passive reader needs nothing but AMQP.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import aio_pika
import aiohttp
import pytest
from aiohttp import web

from support.infra import Infra
from support.loopback_server import LoopbackServer
from support.polling import eventually
from support.services import free_port
from tradewind.health.adapters.probes import AmqpConnectivity
from tradewind.health.adapters.queues import ManagementApiReader, PassiveDeclareReader, vhost_of
from tradewind.health.domain.readings import QueuePresence, QueueReading


@pytest.fixture
async def amqp(infra: Infra) -> AsyncIterator[AmqpConnectivity]:
    connectivity = AmqpConnectivity(infra.amqp_url, connection_name="health-test")
    yield connectivity
    await connectivity.close()


async def test_passive_declares_read_depth_and_consumers_and_report_a_missing_queue(
    infra: Infra, amqp: AmqpConnectivity
) -> None:
    name = f"{infra.namespace}.health-test.{uuid.uuid4().hex[:8]}"
    missing = f"{name}.nobody-declared-this"
    reader = PassiveDeclareReader(amqp, timeout_s=5)
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.declare_queue(name, durable=False, auto_delete=False)
        for n in range(3):
            await channel.default_exchange.publish(aio_pika.Message(b"%d" % n), routing_key=name)

        # The missing queue closes its own channel only: the other queue is still read.
        readings = await reader.read([missing, name])
        assert readings == {
            missing: QueueReading.missing(),
            name: QueueReading.found(ready=3, consumers=0),
        }

        held: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def hold(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            held.append(message)  # never acked: prefetch 1 keeps two ready

        await queue.consume(hold)

        async def consumed() -> QueueReading | None:
            reading = (await reader.read([name]))[name]
            return reading if reading.consumers == 1 and reading.ready == 2 else None

        assert (await eventually(consumed, timeout=15)).unacked is None  # not known this way
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


async def test_an_unreachable_broker_makes_every_queue_unknown_not_an_error() -> None:
    amqp = AmqpConnectivity(f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    try:
        readings = await PassiveDeclareReader(amqp, timeout_s=2).read(["a", "a.parked"])
    finally:
        await amqp.close()

    assert {reading.presence for reading in readings.values()} == {QueuePresence.UNKNOWN}
    assert all(reading.detail for reading in readings.values())


class FakeManagementApi:
    """Answers GET /api/queues/{vhost}/{name} like the management plugin; records the auth."""

    def __init__(self, queues: dict[tuple[str, str], dict[str, object]]) -> None:
        self.queues = queues
        self.authorizations: list[str | None] = []
        self.port = free_port()
        self._server = LoopbackServer(self.port)

    async def start(self) -> FakeManagementApi:
        app = web.Application()
        app.router.add_get("/api/queues/{vhost}/{name}", self._queue)
        await self._server.start(app)
        return self

    async def stop(self) -> None:
        await self._server.stop()

    async def _queue(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        key = (request.match_info["vhost"], request.match_info["name"])
        if key[1] == "broken":
            return web.Response(status=500)
        if key not in self.queues:
            return web.json_response({"error": "Object Not Found"}, status=404)
        return web.json_response(self.queues[key])


async def test_the_management_api_gives_unacked_too_and_404_is_a_missing_queue() -> None:
    api = await FakeManagementApi(
        {
            ("/", "tw.orders.commands"): {
                "messages_ready": 40,
                "messages_unacknowledged": 3,
                "consumers": 0,
            },
            # Declared a moment ago: the plugin has no statistics for it yet.
            ("/", "tw.orders.commands.parked"): {"name": "tw.orders.commands.parked"},
        }
    ).start()
    try:
        async with aiohttp.ClientSession() as http:
            reader = ManagementApiReader(
                f"http://ops:s%40cret@127.0.0.1:{api.port}/",
                vhost_of("amqp://guest:guest@localhost:5672"),
                http,
                timeout_s=2,
            )
            readings = await reader.read(
                ["tw.orders.commands", "tw.orders.commands.parked", "tw.gone", "broken"]
            )
    finally:
        await api.stop()

    assert readings["tw.orders.commands"] == QueueReading.found(ready=40, consumers=0, unacked=3)
    assert readings["tw.orders.commands.parked"].presence is QueuePresence.UNKNOWN
    assert readings["tw.gone"] == QueueReading.missing()
    assert readings["broken"] == QueueReading.unknown("management API answered 500")
    assert set(api.authorizations) == {"Basic " + base64.b64encode(b"ops:s@cret").decode()}


def test_the_vhost_comes_from_the_amqp_url() -> None:
    assert vhost_of("amqp://guest:guest@localhost:5672") == "/"
    assert vhost_of("amqp://guest:guest@localhost:5672/") == "/"
    assert vhost_of("amqp://guest:guest@localhost:5672/tw%2Ftest") == "tw/test"
