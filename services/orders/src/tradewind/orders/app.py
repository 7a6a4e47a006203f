"""The orders service's app: its routes on the shared app factory, wired by ``bootstrap``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from tradewind.common.app import create_bootstrapped_app
from tradewind.orders.api import account, activities, jobs, trade_updates
from tradewind.orders.api import routes as api
from tradewind.orders.bootstrap import bootstrap
from tradewind.orders.handlers import SERVICE
from tradewind.orders.settings import OrdersSettings

# services/orders: where alembic.ini and migrations/ live (for upgrade_database).
SERVICE_DIR = Path(__file__).resolve().parents[3]


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    return create_bootstrapped_app(
        settings or OrdersSettings(),
        bootstrap,
        service=SERVICE,
        title="Tradewind orders",
        distribution="tradewind-orders",
        routers=[
            api.router,
            api.positions_router,
            api.trading_block_router,
            api.instruments_router,
            activities.router,
            jobs.router,
            account.router,
            trade_updates.router,
        ],
        internal=True,
    )
