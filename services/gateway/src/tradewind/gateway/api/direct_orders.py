"""POST /api/v1/orders served in one step, beneath the gateway's middleware but without FastAPI's
routing and request machinery.

The hottest route of the gateway is declared like any other (``api/orders.py``: its OpenAPI
operation, its dependencies), and every layer the app puts around a request still runs around
it: the error middleware, CORS, compression, admission, the edge with its server span. What
this layer skips is what lies between the innermost of those and the endpoint: the exception
middleware, the router's matching, the request/response wrapper, dependency solving, the body's
validation through FastAPI's model field. It reads the few headers it needs from the raw ASGI
scope, checks the body with the route's own pydantic model, and calls the route's own endpoint,
``place_order``, with the runtime's parts.

It serves only what it can answer exactly as the route would. A request it would not accept
(not JSON, a body the model refuses, no credential, an unknown key, a key without the
``orders:write`` scope) is handed, body and all, to the route, which answers it: these checks
change nothing, so a request that took that way has spent nothing here. From the admission on
(the rate limit's unit, the Idempotency-Key's reservation), everything the request raises is
answered by the app's own exception handlers, as the exception middleware would answer it, and
what none handles goes up to the error middleware. tests/unit/gateway/test_direct_orders.py sends
the same requests to the app with and without this layer and compares the answers, what reached
the broker and what the budgets counted.
"""

from __future__ import annotations

import inspect
from collections import deque
from typing import TYPE_CHECKING, cast

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, HTTPExceptionHandler, Message, Receive, Scope, Send

from tradewind.gateway.api.admission import admit_scope, idempotent_request, reserved_idempotency
from tradewind.gateway.api.auth import bearer_token
from tradewind.gateway.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from tradewind.gateway.api.orders import WRITE_BUDGET, WRITE_SCOPE, place_order
from tradewind.gateway.domain.schemas import OrderRequest

if TYPE_CHECKING:
    from tradewind.gateway.bootstrap import GatewayRuntime

_AUTHORIZATION = b"authorization"
_CONTENT_TYPE = b"content-type"
_IDEMPOTENCY_KEY = IDEMPOTENCY_HEADER.encode("ascii")


class DirectOrderEntry:
    """Pure ASGI: POST to ``route``'s path served here, everything else passed on."""

    def __init__(self, app: ASGIApp, *, route: APIRoute) -> None:
        self.app = app
        self.route = route
        self._handlers: dict[type, HTTPExceptionHandler] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != self.route.path
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        received = await _read_body(receive)
        body = _body_of(received)
        authorization, content_type, idempotency_key = _headers(scope)
        order = _acceptable_order(body, content_type)
        token = None if order is None else bearer_token(authorization)
        if order is None or token is None or body is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        # What routing would set: the edge names the span and the metrics by it.
        scope["route"] = self.route
        runtime: GatewayRuntime = scope["app"].state.runtime
        try:
            principal = await runtime.api_keys.authenticate(token)
            if principal is None or WRITE_SCOPE not in principal.scopes:
                await self.app(scope, _replaying(received, receive), send)
                return
            idempotent = (
                None
                if idempotency_key is None
                else idempotent_request(scope, idempotency_key, principal, body)
            )
            await admit_scope(scope, principal, WRITE_BUDGET, idempotent)
            response: Response = await place_order(
                order,
                principal,
                runtime.broker,
                runtime.pending_orders,
                reserved_idempotency(scope),
            )
        except Exception as exc:
            handler = self._handler_for(scope["app"], exc)
            if handler is None:
                raise  # the error middleware's 500, as for any route
            request = Request(scope, _replaying(received, receive))
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _handler_for(self, app: FastAPI, exc: Exception) -> HTTPExceptionHandler | None:
        """The handler the exception middleware would pick: the nearest class in ``exc``'s MRO
        (the catch-all ``Exception`` handler is the error middleware's, not its)."""
        if self._handlers is None:
            self._handlers = {
                kind: cast(HTTPExceptionHandler, handler)
                for kind, handler in app.exception_handlers.items()
                if isinstance(kind, type) and kind is not Exception
            }
        for kind in type(exc).__mro__:
            if kind in self._handlers:
                return self._handlers[kind]
        return None


def direct_order_entry(route: APIRoute) -> Middleware:
    """The layer, to be the innermost of the app's middleware (see ``app.create_app``)."""
    return Middleware(DirectOrderEntry, route=route)


async def _read_body(receive: Receive) -> list[Message]:
    """The request's messages up to its last body part, or up to a disconnect."""
    received: list[Message] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return received


def _body_of(received: list[Message]) -> bytes | None:
    """The whole body, or None if the client went away before sending it."""
    if received[-1]["type"] != "http.request":
        return None
    if len(received) == 1:
        body: bytes = received[0].get("body", b"")
        return body
    return b"".join(message.get("body", b"") for message in received)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read again, then the client's own."""
    pending = deque(received)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def _headers(scope: Scope) -> tuple[str, str | None, str | None]:
    """Authorization ("" if absent), Content-Type and Idempotency-Key: the first of each, as
    Starlette's ``Headers.get`` reads them."""
    authorization: str | None = None
    content_type: str | None = None
    idempotency_key: str | None = None
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == _CONTENT_TYPE:
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == _IDEMPOTENCY_KEY and idempotency_key is None:
            idempotency_key = value.decode("latin-1")
    return authorization or "", content_type, idempotency_key


def _acceptable_order(body: bytes | None, content_type: str | None) -> OrderRequest | None:
    """The order the route would validate from this body, or None where it would refuse it."""
    if not body or not is_json(content_type):
        return None
    try:
        # Parsed by pydantic-core, not json.loads then validated (as the route does): 15% less
        # time. For these fields both read a body the same way or not at all; a body only the
        # route can read (UTF-16, NaN, a lone surrogate) goes to the route, which answers it.
        # tests/unit/gateway/test_order_body_parsing.py holds the two ways to that.
        return OrderRequest.model_validate_json(body)
    except Exception:  # whatever it is, the route answers it (400, 422) as it always has
        # Not only ValidationError: the route's json.loads raises RecursionError on JSON nested
        # past the interpreter's limit, and answers it with its own 400 (found by the e2e fuzzer).
        return None


def is_json(content_type: str | None) -> bool:
    """application/json or application/*+json, the header parsed as FastAPI parses it."""
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.count("/") != 1:
        return False
    main, sub = kind.split("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))
