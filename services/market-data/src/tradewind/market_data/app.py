"""The market-data service's app: its internal routes on the shared app factory, wired by
``bootstrap``."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from tradewind.common.app import create_service_app, package_version, runtime_lifespan
from tradewind.market_data.api import providers
from tradewind.market_data.api import routes as api
from tradewind.market_data.bootstrap import SERVICE, bootstrap
from tradewind.market_data.settings import MarketDataSettings

# services/market-data: where alembic.ini and migrations/ live (for upgrade_database).
SERVICE_DIR = Path(__file__).resolve().parents[3]


def create_app(settings: MarketDataSettings | None = None) -> FastAPI:
    settings = settings or MarketDataSettings()
    return create_service_app(
        service=SERVICE,
        title="Tradewind market data",
        version=package_version("tradewind-market-data"),
        shared=settings.shared,
        lifespan=runtime_lifespan(partial(bootstrap, settings)),
        routers=[api.router, providers.router],
        internal=True,
    )
