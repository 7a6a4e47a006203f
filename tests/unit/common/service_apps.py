"""A service made by the app factory around a test's routes, and a client that calls it in
process with its lifespan running: the shared part of the tests of ``create_service_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI

from tradewind.common.app import create_service_app
from tradewind.common.health import Check, Readiness
from tradewind.common.settings import SharedSettings


def service_app(
    router: APIRouter,
    *,
    title: str = "t",
    shared: SharedSettings | None = None,
    readiness_checks: Mapping[str, Check] | None = None,
) -> FastAPI:
    """The service ``test`` serving ``router``, whose readiness runs ``readiness_checks``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
        for name, check in (readiness_checks or {}).items():
            readiness.add(name, check)
        yield

    return create_service_app(
        service="test",
        title=title,
        version="0",
        shared=shared or SharedSettings(log_json=True),
        lifespan=lifespan,
        routers=[router],
    )


@asynccontextmanager
async def served(app: FastAPI, base_url: str = "http://t") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` while its lifespan runs; an error the app raises is answered as the
    server would answer it (a 500), not raised into the test."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
