"""The typed runtime a service's bootstrap yields reaches its routes, and only as its own type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI

from tradewind.common.app import runtime_lifespan, runtime_of
from tradewind.common.health import Readiness


@dataclass(frozen=True)
class ToyRuntime:
    greeting: str


@dataclass(frozen=True)
class OtherRuntime:
    greeting: str


def app_with(runtime: object) -> FastAPI:
    @asynccontextmanager
    async def bootstrap(readiness: Readiness) -> AsyncIterator[object]:
        yield runtime

    lifespan = runtime_lifespan(bootstrap)

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app, Readiness()):
            yield

    app = FastAPI(lifespan=app_lifespan)

    @app.get("/greeting")
    async def greeting(
        runtime: Annotated[ToyRuntime, Depends(runtime_of(ToyRuntime))],
    ) -> str:
        return runtime.greeting

    return app


async def get_greeting(app: FastAPI) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/greeting")


async def test_a_route_reads_the_runtime_the_bootstrap_yielded() -> None:
    response = await get_greeting(app_with(ToyRuntime("hello")))
    assert (response.status_code, response.json()) == (200, "hello")


async def test_a_runtime_of_another_type_is_an_error_not_a_silent_mismatch() -> None:
    response = await get_greeting(app_with(OtherRuntime("hello")))
    assert response.status_code == 500
