"""The gateway's OpenAPI document, completed: security, problems, examples and links per route.

FastAPI derives paths and schemas from the routes; this adds what it cannot know:
- the API key scheme (``Authorization: Bearer``) on every route that checks a credential, and
  the scope it needs (``x-required-scopes``), so Swagger's Authorize button works. Two routes
  differ: ``GET /api/v1/auth/me`` takes any credential, whatever its scopes, and
  ``POST /api/v1/auth/token`` takes the API key as an OAuth client secret (HTTP Basic or form
  fields), so it documents its own 400/401/503 and carries no bearer scheme;
- every problem answer a route can give, as ``application/problem+json`` with one schema;
- a request example per route (body, path and query parameters, and a curl command);
- links from a created object to the routes that act on it (clients and stateful tests follow
  them), and the Deprecation/Sunset headers of deprecated routes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import RouteContext, iter_route_contexts

from tradewind.common.deprecation import EXTENSION as DEPRECATION
from tradewind.common.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from tradewind.gateway.api.auth import checks_credential, required_scope

SECURITY_SCHEME = "ApiKey"
PROBLEM_SCHEMA = "Problem"
_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 0},
    }
}

# Every route that checks a key can answer these.
AUTHENTICATED_PROBLEMS: dict[int, str] = {
    401: "Missing, invalid or revoked API key",
    403: "The API key lacks the scope this route requires",
    404: "No such object in this account (another account's objects do not exist for you)",
    422: "Invalid request: the problem lists each invalid field",
    429: "Rate limit exceeded; retry after Retry-After seconds",
    503: "A dependency is unavailable; retry after Retry-After seconds",
}
# And these when they take a body.
BODY_PROBLEMS: dict[int, str] = {
    400: "The body is not valid JSON",
    413: "The body is too large",
}

# Conflicts some routes answer with 409, from the state of the object (webhooks service rules).
CONFLICTS: dict[tuple[str, str], str] = {
    ("post", "/api/v1/webhooks/endpoints"): "The account has as many endpoints as it may",
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/test"): "The endpoint is disabled",
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/messages/{message_id}/resend"): (
        "The endpoint is disabled"
    ),
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/recover"): "The endpoint is disabled",
}

EXAMPLE_ORDER_ID = "0b9d5e1c-7f53-4c1e-9a57-1f2d3c4b5a69"
EXAMPLE_ENDPOINT_ID = "ep_5f2b8c1d9e"
EXAMPLE_MESSAGE_ID = "msg_8a7b6c5d4e"
EXAMPLE_KEY_ID = "key_3f1c2a9b8d7e6f50"
EXAMPLE_JOB_ID = "5d2c7a10-93b4-4f6e-8c21-7a9e0b3c4d58"
# One example per parameter name, wherever it appears.
PARAMETER_EXAMPLES: dict[str, object] = {
    "order_id": EXAMPLE_ORDER_ID,
    "endpoint_id": EXAMPLE_ENDPOINT_ID,
    "message_id": EXAMPLE_MESSAGE_ID,
    "key_id": EXAMPLE_KEY_ID,
    "job_id": EXAMPLE_JOB_ID,
    "activity_types": "FILL",
    "after": "2026-01-02T00:00:00Z",
    "until": "2026-01-03T00:00:00Z",
    "include_revoked": False,
    "symbol": "AAPL",
    "symbols": "AAPL,MSFT",
    "status": "open",
    "limit": 50,
    "page_token": "eyJ1IjoiMjAyNi0wMS0wMlQxNDozMDowMFoiLCJpZCI6IjAifQ",
    "updated_since": "2026-01-02T14:30:00Z",
    "timeframe": "1Min",
    "start": "2026-01-02T14:30:00Z",
    "end": "2026-01-02T21:00:00Z",
    "succeeded": False,
    "before": 1200,
}
# Where a name means something else on one route (dates, not instants), by (path, name).
ROUTE_PARAMETER_EXAMPLES: dict[tuple[str, str], object] = {
    ("/api/v1/calendar", "start"): "2026-12-01",
    ("/api/v1/calendar", "end"): "2026-12-31",
}
# One example body per route that takes one, by (method, path).
BODY_EXAMPLES: dict[tuple[str, str], dict[str, object]] = {
    ("post", "/api/v1/orders"): {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "qty": "10",
        "limit_price": "189.50",
        "time_in_force": "day",
        "client_order_id": "my-order-0001",
    },
    ("patch", "/api/v1/orders/{order_id}"): {"qty": "5", "limit_price": "188.00"},
    ("post", "/api/v1/account/statements"): {
        "start": "2026-01-01",
        "end": "2026-03-31",
        "priority": "normal",
    },
    ("post", "/api/v1/webhooks/endpoints"): {
        "url": "https://hooks.example.com/tradewind",
        "description": "fills to our ledger",
        "event_types": ["order.*"],
        "enabled": True,
    },
    ("patch", "/api/v1/webhooks/endpoints/{endpoint_id}"): {"enabled": False},
    ("post", "/api/v1/webhooks/endpoints/{endpoint_id}/recover"): {"since": "2026-01-02T00:00:00Z"},
    ("post", "/api/v1/keys"): {
        "scopes": ["orders:read", "orders:write"],
        "rate_budgets": {"orders": {"quota": 500, "window_s": 60}},
    },
    ("put", "/api/v1/keys/{key_id}/scopes"): {"scopes": ["orders:read"]},
    ("put", "/api/v1/account/trading-block"): {"reason": "stepping away from the desk"},
    ("patch", "/api/v1/keys/{key_id}"): {
        "scopes": ["orders:read", "orders:write"],
        "rate_budgets": {"orders": {"quota": 500, "window_s": 60}, "reads": None},
    },
}
# Where a created object's id leads: (method, path of the creation) -> id field, parameter name,
# and the path prefix of the routes that take it.
_LINKS: dict[tuple[str, str], tuple[str, str]] = {
    ("post", "/api/v1/orders"): ("order_id", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/account/statements"): ("job_id", "/api/v1/jobs/{job_id}"),
    ("post", "/api/v1/webhooks/endpoints"): (
        "endpoint_id",
        "/api/v1/webhooks/endpoints/{endpoint_id}",
    ),
}

PROBLEM_JSON_SCHEMA: dict[str, object] = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "urn:tradewind:problem:<kind> or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 422: each invalid field.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "in": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        complete(document, list(iter_route_contexts(app.routes)))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], routes: list[RouteContext]) -> None:
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "Your API key, sent as `Authorization: Bearer tw_…` "
        "(`python -m tradewind.gateway.keys create --account <id>` issues one).",
    }
    components.setdefault("schemas", {})[PROBLEM_SCHEMA] = PROBLEM_JSON_SCHEMA
    for route in routes:
        dependant: Dependant | None = getattr(route, "dependant", None)
        if dependant is None or route.path_format is None:
            continue  # not an API route (the docs' assets)
        calls = list(_dependency_calls(dependant))
        scopes = sorted({s for s in map(required_scope, calls) if s})
        authenticated = any(map(checks_credential, calls))
        for method in sorted(route.methods or ()):
            operation = document["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue  # not in the schema (include_in_schema=False)
            key = (method.lower(), route.path_format)
            if key in CONFLICTS:
                operation["responses"].setdefault("409", {"description": CONFLICTS[key]})
            _complete_problems(operation, authenticated=authenticated)
            if authenticated:
                operation["security"] = [{SECURITY_SCHEME: []}]
            if scopes:
                operation["x-required-scopes"] = scopes
                needed = ", ".join(f"`{s}`" for s in scopes)
                operation["description"] = (
                    operation.get("description", "") + f"\n\nRequires the {needed} scope."
                ).strip()
            _add_examples(operation, key)
            _add_links(document["paths"], operation, key)
            _document_deprecation(operation)


def _dependency_calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


def _problem(description: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _complete_problems(operation: dict[str, Any], *, authenticated: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = dict(AUTHENTICATED_PROBLEMS) if authenticated else {}
    if "requestBody" in operation:
        wanted.update(BODY_PROBLEMS)
    if any(p["name"] == "page_token" for p in operation.get("parameters", [])):
        wanted[400] = "The page_token is not one this API issued"
    for code, description in wanted.items():
        responses.setdefault(str(code), _problem(description, code))
    for status, response in responses.items():
        if not status.startswith(("4", "5")):
            continue
        content = response.setdefault("content", {})
        # FastAPI documents its 422 as application/json; the app answers a problem document.
        content.pop("application/json", None)
        content[PROBLEM_MEDIA_TYPE] = {"schema": _PROBLEM_REF}
        if status in ("429", "503"):
            response.setdefault("headers", {}).update(_RETRY_AFTER)


def _parameter_example(path: str, name: str) -> object | None:
    return ROUTE_PARAMETER_EXAMPLES.get((path, name), PARAMETER_EXAMPLES.get(name))


def _add_examples(operation: dict[str, Any], key: tuple[str, str]) -> None:
    for parameter in operation.get("parameters", []):
        example = _parameter_example(key[1], parameter["name"])
        if example is not None:
            parameter["example"] = example
    body = BODY_EXAMPLES.get(key)
    if body is not None:
        for media in operation.get("requestBody", {}).get("content", {}).values():
            media["example"] = body
    operation["x-codeSamples"] = [{"lang": "curl", "source": _curl(operation, key, body)}]


def _curl(operation: dict[str, Any], key: tuple[str, str], body: object) -> str:
    method, path = key
    query: list[str] = []
    for parameter in operation.get("parameters", []):
        example = _parameter_example(key[1], parameter["name"])
        if example is None:
            continue
        text = json.dumps(example) if isinstance(example, bool) else str(example)
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", text)
        elif parameter["in"] == "query" and parameter.get("required"):
            query.append(f"{parameter['name']}={text}")
    url = "http://127.0.0.1:8000" + path + ("?" + "&".join(query) if query else "")
    lines = [f"curl -X {method.upper()} '{url}'"]
    if "security" in operation or operation.get("x-required-scopes"):
        lines.append('  -H "Authorization: Bearer $TRADEWIND_API_KEY"')
    if body is not None:
        lines.append("  -H 'Content-Type: application/json'")
        lines.append(f"  -d '{json.dumps(body)}'")
    return " \\\n".join(lines)


def _add_links(paths: dict[str, Any], operation: dict[str, Any], key: tuple[str, str]) -> None:
    target = _LINKS.get(key)
    if target is None:
        return
    parameter, prefix = target
    links: dict[str, Any] = {}
    for path, operations in sorted(paths.items()):
        if path != prefix and not path.startswith(prefix + "/"):
            continue
        for method, linked in sorted(operations.items()):
            links[linked["operationId"]] = {
                "operationId": linked["operationId"],
                "parameters": {parameter: "$response.body#/id"},
                "description": f"{method.upper()} {path} of the created object",
            }
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response["links"] = links


def _document_deprecation(operation: dict[str, Any]) -> None:
    headers: dict[str, str] | None = operation.get(DEPRECATION)
    if not headers:
        return
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(
                {
                    name: {"description": f"{name} of this route", "schema": {"type": "string"}}
                    for name in headers
                }
            )
