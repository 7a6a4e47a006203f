from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest

from integration.webhooks.harness import (
    RETRY_DELAYS_MS,
    Receiver,
    Service,
    running_service,
    test_settings,
)
from support.broker_view import UnroutedEvents
from support.infra import Infra
from support.namespace_cleanup import delete_namespace
from tradewind.common.broker import Topology
from tradewind.webhooks.bootstrap import migrate

_databases = itertools.count(1)


@pytest.fixture(scope="session")
async def template_database(infra: Infra) -> str:
    """A migrated database every test copies (CREATE DATABASE ... TEMPLATE is fast)."""
    url = await infra.create_database("webhooks_template")
    await migrate(url)
    return infra.database_name("webhooks_template")


@pytest.fixture
async def database_url(infra: Infra, template_database: str) -> str:
    service = f"webhooks_{next(_databases)}"
    name = infra.database_name(service)
    connection = await asyncpg.connect(infra.postgres_admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await connection.close()
    infra.databases.append(name)
    return infra.database_url(service)


@pytest.fixture
async def namespace(infra: Infra) -> AsyncIterator[str]:
    # A namespace per test: queues of one test never see another's messages. Its queues are
    # deleted after the test, once the services of the fixtures that use this one have stopped.
    namespace = f"{infra.namespace}-w{next(_databases)}"
    yield namespace
    await delete_namespace(infra.amqp_url, Topology(namespace, RETRY_DELAYS_MS))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await started.stop()


ServiceFactory = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture
def service_factory(infra: Infra, database_url: str, namespace: str) -> ServiceFactory:
    """``async with service_factory(**setting_overrides) as service:`` — start and stop the app."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[Service]:
        settings = test_settings(database_url, infra.amqp_url, namespace, **overrides)
        return running_service(settings)

    return factory


@pytest.fixture
async def service(service_factory: ServiceFactory) -> AsyncIterator[Service]:
    async with service_factory() as running:
        yield running


@pytest.fixture
async def unrouted(infra: Infra, namespace: str) -> AsyncIterator[UnroutedEvents]:
    """Events of this test's namespace that the broker could route to no queue."""
    probe = UnroutedEvents(infra.amqp_url, Topology(namespace).unrouted_events)
    yield probe
    await probe.close()
