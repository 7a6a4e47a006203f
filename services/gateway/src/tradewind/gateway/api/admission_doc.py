"""What clients read about rate limits and Idempotency-Key: the API description and OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tradewind.gateway.api.idempotency import IDEMPOTENT_METHODS, MAX_KEY_LENGTH
from tradewind.gateway.domain.rate_limits import default_budgets
from tradewind.gateway.settings import GatewaySettings

# The Problem schema itself is declared by gateway.openapi, which completes the same document.
_PROBLEM: dict[str, Any] = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_RATE_HEADERS = {
    "RateLimit-Policy": {
        "description": 'The budget this request spends, e.g. `"orders";q=200;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it, e.g. `"orders";r=42;t=30`.',
        "schema": {"type": "string"},
    },
}


def describe(settings: GatewaySettings) -> str:
    budgets = default_budgets(settings)
    listed = ", ".join(f"`{b.name}` {b.quota}" for b in budgets.values())
    hours = settings.idempotency_ttl_s / 3600
    return (
        "**Rate limits** (draft-ietf-httpapi-ratelimit-headers-11), per API key and "
        f"{settings.rate_limit_window_s} s window: {listed} requests. Every answer names its "
        'budget and what is left: `RateLimit-Policy: "orders";q=200;w=60`, '
        '`RateLimit: "orders";r=42;t=30`. Over budget: 429 with `Retry-After`.\n\n'
        "**Idempotency-Key** (draft-ietf-httpapi-idempotency-key-header-07) on every POST, "
        'PATCH and DELETE: send `Idempotency-Key: "<unique value>"` (1 to '
        f"{MAX_KEY_LENGTH} printable ASCII characters). The first answer (unless 5xx) is kept "
        f"for {settings.idempotency_ttl_s} s ({hours:g} h) per account, and the same request "
        "with the same key gets it again (`Idempotent-Replayed: true`). The same key with another "
        "request (method, path, API key or body) is a 422; while the first is still running, 409."
    )


def document(settings: GatewaySettings, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The OpenAPI document of ``build``, with the headers and problems of admission."""
    schema = build()
    key = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the first answer is kept for "
        f"{settings.idempotency_ttl_s} s and replayed for the same request with the same key.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH + 2},
        "example": '"3f2b7c1e-8a4d-4b6e-9c0f-5d1a2e3b4c6d"',
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.setdefault(
                "429",
                {
                    "description": "Over the key's rate limit; retry after Retry-After seconds",
                    "content": _PROBLEM,
                },
            )
            for code, response in responses.items():
                if code != "401":
                    response.setdefault("headers", {}).update(_RATE_HEADERS)
            if method.upper() in IDEMPOTENT_METHODS:
                parameters = operation.setdefault("parameters", [])
                if all(p.get("name") != "Idempotency-Key" for p in parameters):
                    parameters.append(key)
                _mention(responses, "400", "the Idempotency-Key is malformed")
                _mention(responses, "409", "a request with this Idempotency-Key is in progress")
                _mention(responses, "422", "the Idempotency-Key was used for another request")
    return schema


def _mention(responses: dict[str, Any], code: str, reason: str) -> None:
    response = responses.setdefault(code, {"description": "", "content": _PROBLEM})
    described = response.get("description", "")
    response["description"] = f"{described}; or {reason}" if described else reason.capitalize()
