"""A broker connection cut under the client (its TCP connection reset, not closed by the broker
as in test_broker.py): the consumer resumes once it is back, and the client then stops at once,
not after its shutdown grace."""

from __future__ import annotations

import asyncio
import time

import pytest

from integration.common.test_broker import Ping, commands_queue, ping, published
from support.polling import eventually
from support.tcp_proxy import TcpProxy
from tradewind.common.broker import Broker, Delivery, QueueSpec, Topology
from tradewind.common.envelope import CloudEvent


@pytest.mark.parametrize("exclusive", [False, True])
async def test_after_a_cut_consumers_resume_and_stopping_does_not_wait_out_the_grace(
    broker: Broker, topology: Topology, amqp_proxy: tuple[TcpProxy, str], exclusive: bool
) -> None:
    proxy, url = amqp_proxy
    cut_broker = Broker(
        url + "?reconnect_interval=0.2", topology, service="cut", publish_timeout_s=1
    )
    await cut_broker.connect()
    received: list[int] = []

    async def handler(event: CloudEvent, delivery: Delivery) -> None:
        received.append(event.data_as(Ping).n)

    try:
        spec = commands_queue(topology)
        if exclusive:
            spec = QueueSpec(spec.name + ".exclusive", spec.bindings, exclusive=True)
        await cut_broker.consume(spec, handler)
        await broker.publish_command(ping(1))
        await eventually(lambda: asyncio.sleep(0, received == [1]))
        proxy.cut()
        proxy.restore()

        await eventually(lambda: published(cut_broker, ping(2)), timeout=30, interval=0.2)
        await eventually(lambda: asyncio.sleep(0, 2 in received), timeout=30)
    finally:
        started = time.monotonic()
        await cut_broker.close()
        took = time.monotonic() - started
    assert took < cut_broker.shutdown_grace_s / 2, f"close took {took:.1f} s"
