"""The services' asyncpg pools (``tradewind.common.db.create_pool``) against a real PostgreSQL:
a connection goes back to the pool whole, without its releaser waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from support.infra import Infra
from support.polling import eventually
from tradewind.common.db import asyncpg_dsn, create_pool


@pytest.fixture(scope="module")
async def database_url(infra: Infra) -> str:
    url = await infra.create_database("pools")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("CREATE TABLE notes (n integer PRIMARY KEY)")
    finally:
        await connection.close()
    return url


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=1)
    yield pool
    await pool.close()


async def test_a_release_returns_at_once_and_the_connection_is_back_in_the_pool(
    pool: asyncpg.Pool,
) -> None:
    connection = await pool.acquire()
    assert await connection.fetchval("SELECT 1") == 1
    # Driven by hand, a coroutine that never suspends finishes on its first step. asyncpg's own
    # release waits for a task of its own: two turns of the event loop for every query.
    releasing = pool.release(connection)
    with pytest.raises(StopIteration):
        releasing.send(None)
    async with asyncio.timeout(5), pool.acquire() as again:  # the pool's only connection
        assert await again.fetchval("SELECT 2") == 2


async def test_a_caller_cancelled_after_its_query_still_gives_the_connection_back(
    pool: asyncpg.Pool,
) -> None:
    queried = asyncio.Event()

    async def query_then_wait() -> None:
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1")
            queried.set()
            await asyncio.Event().wait()

    caller = asyncio.ensure_future(query_then_wait())
    await asyncio.wait_for(queried.wait(), 5)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    async with asyncio.timeout(5), pool.acquire() as again:
        assert await again.fetchval("SELECT 3") == 3


async def test_a_transaction_left_open_is_rolled_back_before_the_next_caller_gets_it(
    pool: asyncpg.Pool,
) -> None:
    connection = await pool.acquire()
    await connection.execute("BEGIN")
    await connection.execute("INSERT INTO notes (n) VALUES (1)")
    await pool.release(connection)
    async with asyncio.timeout(5), pool.acquire() as again:
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT count(*) FROM notes WHERE n = 1") == 0


async def test_many_callers_share_a_small_pool_and_leave_it_whole(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=2)
    try:

        async def write(n: int) -> None:
            async with pool.acquire() as connection, connection.transaction():
                await connection.execute("INSERT INTO notes (n) VALUES ($1)", n)

        await asyncio.wait_for(asyncio.gather(*(write(n) for n in range(100, 300))), 30)
        assert await pool.fetchval("SELECT count(*) FROM notes WHERE n >= 100") == 200

        async def all_idle() -> bool:
            return bool(pool.get_idle_size() == pool.get_size())

        await eventually(all_idle, message="a connection was not given back")
    finally:
        await pool.close()
