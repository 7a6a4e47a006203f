"""The market-data service's app: its internal routes on the shared app factory, wired by
``bootstrap``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from tradewind.common.app import create_bootstrapped_app
from tradewind.market_data.api import providers
from tradewind.market_data.api import routes as api
from tradewind.market_data.bootstrap import SERVICE, bootstrap
from tradewind.market_data.settings import MarketDataSettings

# services/market-data: where alembic.ini and migrations/ live (for upgrade_database).
SERVICE_DIR = Path(__file__).resolve().parents[3]


def create_app(settings: MarketDataSettings | None = None) -> FastAPI:
    return create_bootstrapped_app(
        settings or MarketDataSettings(),
        bootstrap,
        service=SERVICE,
        title="Tradewind market data",
        distribution="tradewind-market-data",
        routers=[api.router, providers.router],
        internal=True,
    )
