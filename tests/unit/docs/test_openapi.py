"""Every service publishes a complete OpenAPI document; public routes document their bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from tradewind.gateway.app import create_app as gateway_app
from tradewind.health.app import create_app as health_app
from tradewind.market_data.app import create_app as market_data_app
from tradewind.orders.app import create_app as orders_app
from tradewind.webhooks.app import create_app as webhooks_app


@pytest.mark.parametrize(
    "factory", [gateway_app, orders_app, market_data_app, webhooks_app, health_app]
)
def test_openapi_document_builds(factory: Callable[[], FastAPI]) -> None:
    document = factory().openapi()
    assert document["paths"]
    assert "/health/ready" in document["paths"]


# Routes whose success is a file, not JSON.
FILE_DOWNLOADS = {("get", "/api/v1/jobs/{job_id}/file")}


def test_every_public_gateway_route_documents_its_success_body_and_problems() -> None:
    document: dict[str, Any] = gateway_app().openapi()
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, f"{method} {path} documents no success response"
            for code in success:
                if (method, path) in FILE_DOWNLOADS:
                    assert "text/csv" in responses[code].get("content", {}), f"{method} {path}"
                elif code != "204":
                    assert "application/json" in responses[code].get("content", {}), (
                        f"{method} {path} {code} has no body schema"
                    )
            assert "401" in responses, f"{method} {path} does not document 401"
            assert "503" in responses, f"{method} {path} does not document 503"


def _bounded(schema: dict[str, Any]) -> bool:
    """Whether a parameter's schema bounds it as the stores need (see contracts.types)."""
    options = schema.get("anyOf", [schema])
    for option in options:
        kind = option.get("type")
        if kind == "null" or kind == "boolean" or "enum" in option or "$ref" in option:
            continue
        if kind == "integer" and "minimum" in option and "maximum" in option:
            continue
        if kind == "string" and (
            option.get("format") in {"uuid", "date-time"} or "pattern" in option
        ):
            continue
        if option.get("format") == "date" and {"formatMinimum", "formatMaximum"} <= {
            *option,
            *schema,
        }:
            continue
        return False
    return True


def test_every_gateway_parameter_declares_bounds_the_stores_accept() -> None:
    document: dict[str, Any] = gateway_app().openapi()
    unbounded = [
        f"{method.upper()} {path} {parameter['in']} {parameter['name']}"
        for path, operations in document["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] in {"query", "path"} and not _bounded(parameter["schema"])
    ]
    assert unbounded == []


# Answered by the gateway alone (its credentials database), never by a service behind it.
GATEWAY_OWN_PREFIXES = ("/api/v1/keys", "/api/v1/auth/")


def test_every_gateway_route_documents_502_for_a_service_failing_on_the_request() -> None:
    document: dict[str, Any] = gateway_app().openapi()
    proxied = [
        (method, path, operation)
        for path, operations in document["paths"].items()
        if path.startswith("/api/v1/") and "/stream" not in path
        if not path.startswith(GATEWAY_OWN_PREFIXES)
        for method, operation in operations.items()
    ]
    assert len(proxied) >= 15
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in proxied
        if "502" not in operation["responses"]
    ]
    assert missing == []


def test_the_gateways_own_routes_do_not_document_a_502() -> None:
    document: dict[str, Any] = gateway_app().openapi()
    own = [
        (method, path)
        for path, operations in document["paths"].items()
        if path.startswith(GATEWAY_OWN_PREFIXES)
        for method, operation in operations.items()
        if "502" not in operation["responses"]
    ]
    assert len(own) == 8  # keys: create, list, get, change, set scopes, revoke; token; me
