from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from support.infra import Infra
from support.namespace_cleanup import RecordingTopology, delete_namespace
from support.tcp_proxy import TcpProxy
from tradewind.common.broker import Broker, Topology

FAST_RETRY_MS = (50, 100, 200)


@pytest.fixture
async def topology(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[Topology]:
    # A namespace per test keeps queues of one test from seeing another's messages. Its queues
    # are deleted after the test (and after the clients of the fixtures that use this one).
    suffix = abs(hash(request.node.nodeid)) % 10**8
    topology = RecordingTopology(f"{infra.namespace}-{suffix}", FAST_RETRY_MS)
    yield topology
    await delete_namespace(infra.amqp_url, topology)


@pytest.fixture
async def broker(infra: Infra, topology: Topology) -> AsyncIterator[Broker]:
    client = Broker(infra.amqp_url, topology, service="test", max_attempts=3, publish_timeout_s=3)
    await client.connect()
    yield client
    await client.close()


@pytest.fixture
async def amqp_proxy(infra: Infra) -> AsyncIterator[tuple[TcpProxy, str]]:
    """A proxy in front of RabbitMQ and the AMQP URL that goes through it."""
    parts = urlsplit(infra.amqp_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672).start()
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit(parts._replace(netloc=netloc))
    await proxy.stop()
