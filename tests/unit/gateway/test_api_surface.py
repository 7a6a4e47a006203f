"""The gateway surface: a complete OpenAPI document, gzip over 1 KB, CORS only when configured."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from tradewind.gateway.api.openapi import BODY_EXAMPLES
from tradewind.gateway.app import create_app
from tradewind.gateway.domain.auth_model import ALL_SCOPES
from tradewind.gateway.settings import GatewaySettings

PROBLEMS_OF_EVERY_ROUTE = {"401", "403", "404", "422", "429", "503"}
# Takes any valid credential, whatever its scopes (it tells the caller what they are).
ANY_CREDENTIAL = {("get", "/api/v1/auth/me")}
# Writes that only ask for a read: a statement job builds a file of what the key may read
# anyway, and changes nothing of the account.
READING_WRITES = {("post", "/api/v1/account/statements")}
# OAuth 2.0 token exchange: the API key is the client secret, sent by HTTP Basic or as form
# fields, never as a bearer; its answers are OAuth errors (400, 401, 503), which it documents.
TOKEN_EXCHANGE = ("post", "/api/v1/auth/token")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every route that takes a bearer credential: all but the token exchange."""
    found = [
        (method, path, operation)
        for path, by_method in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in by_method.items()
        if (method, path) != TOKEN_EXCHANGE
    ]
    assert len(found) >= 20, "the gateway's routes went missing from its OpenAPI document"
    return found


def test_every_route_declares_the_api_key_and_the_scope_it_needs(
    document: dict[str, Any],
) -> None:
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # as auth.py reads it
    for method, path, operation in operations(document):
        assert operation.get("security") == [{"ApiKey": []}], f"{method} {path}"
        scopes = operation.get("x-required-scopes")
        if (method, path) in ANY_CREDENTIAL:
            assert scopes is None, f"{method} {path}"
            continue
        assert scopes, f"{method} {path} names no scope"
        assert set(scopes) <= ALL_SCOPES
        if method != "get" and (method, path) not in READING_WRITES:
            # a write never needs only a read scope
            assert not all(s.endswith(":read") for s in scopes), f"{method} {path} {scopes}"


def test_the_token_exchange_documents_its_own_authentication_and_oauth_errors(
    document: dict[str, Any],
) -> None:
    method, path = TOKEN_EXCHANGE
    operation = document["paths"][path][method]
    assert "security" not in operation  # no bearer: the key is the client secret
    assert "x-required-scopes" not in operation
    assert {"400", "401", "503"} <= set(operation["responses"])
    for status in ("400", "401", "503"):
        assert operation["responses"][status]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["example"]["grant_type"] == "client_credentials"


def test_every_route_documents_its_problems_as_problem_documents(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert set(responses) >= PROBLEMS_OF_EVERY_ROUTE, f"{method} {path}"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{method} {path} {status}"
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], f"{method} {path} {status}"


def test_every_route_has_a_request_example(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        sample = operation["x-codeSamples"][0]["source"]
        assert sample.startswith(f"curl -X {method.upper()} "), f"{method} {path}"
        assert "Authorization: Bearer" in sample
        assert "{" not in sample.split("'")[1], f"{method} {path}: a path parameter unfilled"
        for parameter in operation.get("parameters", []):
            assert "example" in parameter, f"{method} {path} {parameter['name']}"
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert media.get("example"), f"{method} {path} has a body but no example"


def test_every_body_example_is_a_valid_request() -> None:
    """The examples are checked by the routes' own models, so they cannot drift from them."""
    app = create_app()
    bodies: dict[tuple[str, str], type[BaseModel]] = {}
    for route in iter_route_contexts(app.routes):
        body = getattr(route, "body_field", None)
        if body is None or not route.path_format:
            continue
        for method in route.methods or ():
            bodies[(method.lower(), route.path_format)] = body.field_info.annotation
    assert set(bodies) == set(BODY_EXAMPLES)
    for key, model in bodies.items():
        model.model_validate(BODY_EXAMPLES[key])


def test_created_objects_link_to_the_routes_that_take_their_id(
    document: dict[str, Any],
) -> None:
    placed = document["paths"]["/api/v1/orders"]["post"]["responses"]["202"]["links"]
    assert {link["operationId"] for link in placed.values()} == {
        operation["operationId"]
        for operation in document["paths"]["/api/v1/orders/{order_id}"].values()
    }
    created = document["paths"]["/api/v1/webhooks/endpoints"]["post"]["responses"]["201"]
    assert len(created["links"]) >= 7  # get, patch, delete, rotate, test, attempts, recover...


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: these answers need neither Redis nor the broker.
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as http:
        yield http


async def test_answers_over_a_kilobyte_are_compressed_and_smaller_ones_are_not() -> None:
    async with client(create_app()) as http:
        large = await http.get("/openapi.json", headers={"accept-encoding": "gzip"})
        small = await http.get("/health/live", headers={"accept-encoding": "gzip"})
        unasked = await http.get("/openapi.json", headers={"accept-encoding": "identity"})
    assert large.headers["content-encoding"] == "gzip"
    assert int(large.headers["content-length"]) < len(large.content) / 4
    assert large.json()["paths"]
    assert large.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in small.headers
    assert small.json() == {"status": "up"}
    assert "content-encoding" not in unasked.headers


PREFLIGHT = {
    "origin": "https://app.example.com",
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


async def test_cors_is_off_by_default() -> None:
    async with client(create_app()) as http:
        preflight = await http.options("/api/v1/orders", headers=PREFLIGHT)
        simple = await http.get("/health/live", headers={"origin": PREFLIGHT["origin"]})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_the_configured_origins_only() -> None:
    settings = GatewaySettings(cors_allow_origins=["https://app.example.com"])
    async with client(create_app(settings)) as http:
        allowed = await http.options("/api/v1/orders", headers=PREFLIGHT)
        other = await http.options(
            "/api/v1/orders", headers={**PREFLIGHT, "origin": "https://evil.example.net"}
        )
        simple = await http.get("/health/live", headers={"origin": PREFLIGHT["origin"]})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


async def test_a_405_allows_every_method_served_at_the_path() -> None:
    """Not only the methods of the first route the router tried (POST /orders said POST)."""
    async with client(create_app()) as http:
        orders = await http.request("PUT", "/api/v1/orders")
        order = await http.request("PUT", f"/api/v1/orders/{uuid.uuid4()}")
    assert orders.status_code == 405
    assert orders.headers["allow"] == "DELETE, GET, POST"
    assert orders.headers["content-type"] == "application/problem+json"
    assert order.headers["allow"] == "DELETE, GET, PATCH"
