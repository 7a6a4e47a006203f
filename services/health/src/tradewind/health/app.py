"""The health service's app: its routes on the shared app factory, wired by ``bootstrap``."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from tradewind.common.app import create_service_app, package_version, runtime_lifespan
from tradewind.health.api import routes as api
from tradewind.health.bootstrap import SERVICE, bootstrap
from tradewind.health.settings import HealthSettings


def create_app(settings: HealthSettings | None = None) -> FastAPI:
    settings = settings or HealthSettings()
    return create_service_app(
        service=SERVICE,
        title="Tradewind health",
        version=package_version("tradewind-health"),
        shared=settings.shared,
        lifespan=runtime_lifespan(partial(bootstrap, settings)),
        routers=[api.router],
        description="Aggregated health of every Tradewind service and dependency, for operators.",
    )
