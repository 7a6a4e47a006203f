"""Every internal route of orders, market-data and webhooks requires the internal token.

The routes are enumerated from each app, so a route added later is covered without anyone
listing it here; only the probes' endpoints stay open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from tradewind.common.internal_auth import INTERNAL_TOKEN_HEADER, OPEN_PATHS
from tradewind.common.settings import SharedSettings
from tradewind.market_data.app import create_app as market_data_app
from tradewind.market_data.settings import MarketDataSettings
from tradewind.orders.app import create_app as orders_app
from tradewind.orders.settings import OrdersSettings
from tradewind.webhooks.app import create_app as webhooks_app
from tradewind.webhooks.settings import WebhooksSettings

TOKEN = "the-right-token"
PREVIOUS = "the-previous-token"
_PARAMETER = re.compile(r"\{[^}]+\}")


def _shared(**overrides: object) -> SharedSettings:
    values: dict[str, object] = {
        "internal_token": SecretStr(TOKEN),
        "internal_token_previous": SecretStr(PREVIOUS),
    }
    values.update(overrides)
    return SharedSettings.model_validate(values)


FACTORIES: dict[str, Callable[[SharedSettings], FastAPI]] = {
    "orders": lambda shared: orders_app(OrdersSettings(shared=shared)),
    "market-data": lambda shared: market_data_app(MarketDataSettings(shared=shared)),
    "webhooks": lambda shared: webhooks_app(WebhooksSettings(shared=shared)),
}


def _operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    """Every operation of the OpenAPI document, and the document and its viewers."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), _PARAMETER.sub("x1", path)
    for extra in (app.openapi_url, app.docs_url, app.redoc_url):
        if extra:
            yield "GET", extra


def _locked_operations() -> list[tuple[str, str, str]]:
    cases = []
    for service, factory in FACTORIES.items():
        app = factory(_shared())
        cases += [(service, m, p) for m, p in _operations(app) if p not in OPEN_PATHS]
    return cases


LOCKED = _locked_operations()


def test_every_service_has_internal_routes_to_lock() -> None:
    # The enumeration itself could silently find nothing; it must see the known routes.
    paths = {(service, path) for service, _, path in LOCKED}
    assert ("orders", "/internal/v1/accounts/x1/orders") in paths
    assert ("market-data", "/internal/v1/quotes:batch") in paths
    assert ("webhooks", "/internal/v1/operator/webhooks/endpoints/x1") in paths
    assert ("webhooks", "/openapi.json") in paths


async def _call(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        return await client.request(method, path, headers=headers, json={})


@pytest.mark.parametrize(("service", "method", "path"), LOCKED)
@pytest.mark.parametrize(
    "headers",
    [{}, {INTERNAL_TOKEN_HEADER: "wrong"}, {INTERNAL_TOKEN_HEADER: ""}],
    ids=["missing", "wrong", "empty"],
)
async def test_internal_route_without_the_token_is_a_401_problem(
    service: str, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await _call(FACTORIES[service](_shared()), method, path, headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:tradewind:problem:internal-credential-required"


@pytest.mark.parametrize("service", sorted(FACTORIES))
@pytest.mark.parametrize("token", [TOKEN, PREVIOUS], ids=["current", "previous"])
async def test_current_and_previous_token_pass(service: str, token: str) -> None:
    app = FACTORIES[service](_shared())
    response = await _call(app, "GET", "/internal/v1/no-such-route", {INTERNAL_TOKEN_HEADER: token})
    assert response.status_code == 404  # past the lock, to the router


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_without_a_configured_token_nothing_passes(service: str) -> None:
    app = FACTORIES[service](_shared(internal_token=None, internal_token_previous=None))
    response = await _call(app, "GET", "/openapi.json", {INTERNAL_TOKEN_HEADER: ""})
    assert response.status_code == 401


@pytest.mark.parametrize("service", sorted(FACTORIES))
@pytest.mark.parametrize("path", ["/health/live", "/metrics"])
async def test_probe_endpoints_stay_open(service: str, path: str) -> None:
    response = await _call(FACTORIES[service](_shared()), "GET", path, {})
    assert response.status_code == 200
