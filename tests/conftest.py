"""Session-wide infrastructure for integration and e2e tests (unit tests never touch it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from support.infra import Infra, provision


@pytest.fixture(scope="session")
def infra_sync() -> Iterator[Infra]:
    with provision() as infra:
        yield infra


@pytest.fixture(scope="session")
async def infra(infra_sync: Infra) -> AsyncIterator[Infra]:
    try:
        yield infra_sync
    finally:
        await infra_sync.drop_databases()
        await infra_sync.delete_redis_keys()
