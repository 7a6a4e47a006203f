"""The health service's app: its routes on the shared app factory, wired by ``bootstrap``."""

from __future__ import annotations

from fastapi import FastAPI

from tradewind.common.app import create_bootstrapped_app
from tradewind.health.api import routes as api
from tradewind.health.bootstrap import SERVICE, bootstrap
from tradewind.health.settings import HealthSettings


def create_app(settings: HealthSettings | None = None) -> FastAPI:
    return create_bootstrapped_app(
        settings or HealthSettings(),
        bootstrap,
        service=SERVICE,
        title="Tradewind health",
        distribution="tradewind-health",
        routers=[api.router],
        description="Aggregated health of every Tradewind service and dependency, for operators.",
    )
