"""The webhooks service's app: its internal API on the shared app factory, wired by
``bootstrap``."""

from __future__ import annotations

from fastapi import FastAPI

from tradewind.common.app import create_bootstrapped_app
from tradewind.webhooks.api.routes import ROUTERS
from tradewind.webhooks.bootstrap import SERVICE, bootstrap
from tradewind.webhooks.settings import WebhooksSettings


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    return create_bootstrapped_app(
        settings or WebhooksSettings(),
        bootstrap,
        service=SERVICE,
        title="Tradewind webhooks (internal API)",
        distribution="tradewind-webhooks",
        routers=ROUTERS,
        internal=True,
    )
