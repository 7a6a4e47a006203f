"""The service defaults: one call gives a service logging, tracing, errors, health and metrics."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tradewind.common import flags
from tradewind.common.api_docs import install_api_docs
from tradewind.common.edge import EdgeMiddleware
from tradewind.common.health import Readiness
from tradewind.common.internal_auth import InternalTokenMiddleware
from tradewind.common.logging import configure_logging
from tradewind.common.problems import install_problem_handlers
from tradewind.common.security_headers import SecurityHeaders
from tradewind.common.service_settings import ServiceSettings
from tradewind.common.settings import SharedSettings
from tradewind.common.tracing import configure_tracing, shutdown_tracing

log = logging.getLogger(__name__)

ServiceLifespan = Callable[[FastAPI, Readiness], AbstractAsyncContextManager[None]]
Runtime = TypeVar("Runtime")
Settings = TypeVar("Settings", bound=ServiceSettings)
RUNTIME_STATE = "runtime"

# Operations endpoints are polled all day; a trace of each would drown the ones that matter.
_UNTRACED_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})


def _operations_router(readiness: Readiness, *, metrics: bool) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live", summary="The process is running")
    async def live() -> dict[str, str]:
        return {"status": "up"}

    @router.get("/health/ready", summary="The service and its own dependencies can serve")
    async def ready() -> JSONResponse:
        report = await readiness.report()
        return JSONResponse(report, status_code=503 if report["status"] == "down" else 200)

    if metrics:

        @router.get("/metrics", include_in_schema=False)
        async def metrics_endpoint() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def package_version(distribution: str) -> str:
    """The installed version of ``distribution`` (the service's pyproject.toml), for the OpenAPI
    document and telemetry; one source of truth instead of a string per service."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0.0.0+source"  # run from a source tree (PYTHONPATH) that is not installed


def create_service_app(
    *,
    service: str,
    title: str,
    version: str,
    shared: SharedSettings,
    lifespan: ServiceLifespan,
    routers: Sequence[APIRouter] = (),
    internal: bool = False,
    metrics_on_app: bool = True,
    **fastapi_kwargs: Any,
) -> FastAPI:
    """The service's app. ``internal``: every route but health and metrics requires the internal
    token (services only other services call). ``metrics_on_app``: serve /metrics here (off when
    the process serves its metrics on a port of their own)."""
    readiness = Readiness()

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, level=shared.log_level, json_lines=shared.log_json)
        configure_tracing(service, version=version, environment=shared.environment)
        if internal and not shared.accepted_internal_tokens():
            log.warning(
                "no internal token configured (TRADEWIND_INTERNAL_TOKEN): every internal route "
                "refuses every call"
            )
        try:
            with flags.configured(service, shared):
                async with lifespan(app, readiness):
                    _tune_garbage_collector()
                    try:
                        yield
                    finally:
                        # Frozen objects would never be collected; a process that starts apps
                        # one after another (the tests) would keep every one's heap.
                        gc.unfreeze()
        finally:
            shutdown_tracing()

    # Requests are traced by the edge layer (common/server_spans.py): one server span per
    # request, continuing the W3C context of its headers and current while the route runs (so
    # commands, events and outbound calls carry the trace). FastAPI's own telemetry did the
    # same at about a tenth of the gateway's CPU per order, and its metrics and logs would
    # repeat our Prometheus series (EdgeMiddleware) and JSON lines: all of it stays off.
    telemetry: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title=title,
        version=version,
        lifespan=app_lifespan,
        telemetry=telemetry,
        docs_url=None,
        redoc_url=None,
        **fastapi_kwargs,
    )
    app.state.readiness = readiness
    app.state.service = service
    install_problem_handlers(app)
    install_api_docs(app)
    app.include_router(_operations_router(readiness, metrics=metrics_on_app))
    for router in routers:
        app.include_router(router)
    if internal:
        app.add_middleware(InternalTokenMiddleware, accepted=shared.accepted_internal_tokens())
    app.add_middleware(
        EdgeMiddleware,
        max_header_bytes=shared.max_header_bytes,
        max_body_bytes=shared.max_request_bytes,
        security_headers=SecurityHeaders(hsts_max_age_s=shared.hsts_max_age_s),
        untraced_paths=_UNTRACED_PATHS,
    )
    return app


def _tune_garbage_collector() -> None:
    """Fewer and cheaper cyclic collections once the service has started (refcounting is unchanged).

    Startup leaves a large heap (FastAPI, pydantic, OpenTelemetry, clients) that every full
    collection walked again; frozen, it is never scanned. And at the default threshold (700) a
    collection ran every few requests and scanned the objects of every request in flight; at
    50,000 most of them are freed by refcounting before any collection sees them. Measured on
    the gateway under wrk -c64: 273 young, 25 middle and 2 full collections took 0.43 s over
    about 4,000 requests before; 7.7% less CPU per POST /api/v1/orders after.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000)


def runtime_lifespan(
    bootstrap: Callable[[Readiness], AbstractAsyncContextManager[Any]],
) -> ServiceLifespan:
    """The lifespan of a service wired by its ``bootstrap``: the typed runtime object it yields
    (pools, broker, stores, background tasks, all closed when it exits) is what the API reads,
    through ``runtime_of``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI, readiness: Readiness) -> AsyncIterator[None]:
        async with bootstrap(readiness) as runtime:
            setattr(app.state, RUNTIME_STATE, runtime)
            yield

    return lifespan


def create_bootstrapped_app(
    settings: Settings,
    bootstrap: Callable[[Settings, Readiness], AbstractAsyncContextManager[Any]],
    *,
    service: str,
    title: str,
    distribution: str,
    routers: Sequence[APIRouter] = (),
    **options: Any,
) -> FastAPI:
    """A service's app as every service wires it: ``create_service_app`` with the settings'
    shared part, the version of the service's ``distribution``, and a lifespan that opens the
    runtime ``bootstrap(settings, readiness)`` yields. ``options`` go to ``create_service_app``
    (``internal``, ``description``...)."""
    return create_service_app(
        service=service,
        title=title,
        version=package_version(distribution),
        shared=settings.shared,
        lifespan=runtime_lifespan(partial(bootstrap, settings)),
        routers=routers,
        **options,
    )


def runtime_of(kind: type[Runtime]) -> Callable[[Request], Awaitable[Runtime]]:
    """A dependency returning the service's runtime, typed: ``Annotated[OrdersRuntime,
    Depends(runtime_of(OrdersRuntime))]``. Async on purpose: FastAPI runs a plain ``def``
    dependency in its thread pool, a thread hop per request for what is an attribute read."""

    async def dependency(request: Request) -> Runtime:
        runtime = getattr(request.app.state, RUNTIME_STATE)
        if not isinstance(runtime, kind):
            raise TypeError(f"the app's runtime is a {type(runtime).__name__}, not a {kind}")
        return runtime

    dependency.__name__ = f"runtime_{kind.__name__}"
    return dependency
