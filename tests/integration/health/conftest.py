"""Fake services on loopback ports and the health service in-process on this run's infra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from integration.health.health_fakes import FakeService, HealthClientFactory
from support.infra import Infra
from support.services import free_port
from tradewind.common.settings import SharedSettings
from tradewind.health.app import create_app
from tradewind.health.settings import HealthSettings

POLL_INTERVAL_S = 0.1


@pytest.fixture
async def alpha() -> AsyncIterator[FakeService]:
    service = await FakeService().start()
    yield service
    await service.stop()


@pytest.fixture
async def beta() -> AsyncIterator[FakeService]:
    service = await FakeService().start()
    yield service
    await service.stop()


@pytest.fixture
def nothing_listening_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def health_client(infra: Infra) -> HealthClientFactory:
    """``async with health_client(services={...}, **overrides) as client:`` runs the service."""

    @asynccontextmanager
    async def running(
        *, services: dict[str, str], shared: SharedSettings | None = None, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        values: dict[str, Any] = {
            "postgres_dsns": {"postgresql": infra.postgres_admin_url},
            "poll_interval_s": POLL_INTERVAL_S,
            "check_timeout_s": 1.0,
            **overrides,
        }
        settings = HealthSettings(
            services=services,
            shared=shared
            or SharedSettings(
                namespace=infra.namespace,
                amqp_url=infra.amqp_url,
                redis_url=infra.redis_url,
                log_json=False,
            ),
            **values,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://health") as client:
                yield client

    return running
