"""The webhooks service's app: its internal API on the shared app factory, wired by
``bootstrap``."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from tradewind.common.app import create_service_app, package_version, runtime_lifespan
from tradewind.webhooks.api.routes import ROUTERS
from tradewind.webhooks.bootstrap import SERVICE, bootstrap
from tradewind.webhooks.settings import WebhooksSettings


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()
    return create_service_app(
        service=SERVICE,
        title="Tradewind webhooks (internal API)",
        version=package_version("tradewind-webhooks"),
        shared=settings.shared,
        lifespan=runtime_lifespan(partial(bootstrap, settings)),
        routers=ROUTERS,
        internal=True,
    )
