"""The gateway's bootstrap leaves nothing open behind it: a Redis client given a pool by its
constructor kept the pool's connections open when it closed (issue 9)."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool

from support.infra import Infra
from tradewind.common.health import Readiness
from tradewind.common.settings import SharedSettings
from tradewind.gateway.bootstrap import bootstrap
from tradewind.gateway.settings import GatewaySettings


def connected(pool: BlockingConnectionPool) -> int:
    return sum(
        connection.is_connected
        for connection in (*pool._available_connections, *pool._in_use_connections)
    )


async def test_closing_the_runtime_closes_the_redis_pool(
    infra: Infra, gateway_database: str, namespace: str
) -> None:
    settings = GatewaySettings(
        database_url=gateway_database,
        migrate_on_start=False,
        shared=SharedSettings(
            namespace=namespace,
            amqp_url=infra.amqp_url,
            redis_url=infra.redis_url,
            log_json=False,
        ),
    )
    async with bootstrap(settings, Readiness()) as runtime:
        await runtime.redis.ping()
        pool = runtime.redis.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert connected(pool) > 0
    assert connected(pool) == 0
