"""The edge of every service: what each HTTP request and response passes through, in one layer.

- a head over ``max_header_bytes`` is refused with 431 (a WebSocket with close code 1009);
- ``X-Request-ID`` is taken when valid, else generated, set for the logs and echoed;
- a body over ``max_body_bytes`` is refused with 413, declared or streamed (chunked);
- every HTTP response carries the security headers (and a deprecated route's own);
- requests and their latency are counted for Prometheus, by route;
- each request (and WebSocket connection) gets its server span (``server_spans``).

One pure-ASGI layer instead of four: each layer is a coroutine call per request and a ``send``
wrapper per message, and the headers were turned into a dict twice per request. Measured on the
gateway's POST /api/v1/orders in docs/performance.md ("One edge layer").
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Tracer
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewind.common.logging import request_id_var
from tradewind.common.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from tradewind.common.problems import problem_response
from tradewind.common.random_ids import random_hex
from tradewind.common.security_headers import SecurityHeaders
from tradewind.common.server_spans import TRACE_HEADERS, TRACER_NAME, ServerSpan

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode("ascii")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_body_bytes: int,
        security_headers: SecurityHeaders,
        untraced_paths: frozenset[str] = frozenset(),
        tracer: Tracer | None = None,
    ) -> None:
        """``untraced_paths``: paths answered without a server span (health probes, metrics);
        ``tracer``: the spans' (the global provider's by default)."""
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.security_headers = security_headers
        self.untraced_paths = untraced_paths
        self.tracer = tracer or trace.get_tracer(TRACER_NAME)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._connect(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        head_bytes = 0
        incoming = b""
        declared_length: bytes | None = None
        trace_headers: dict[str, str] | None = None
        for name, value in scope["headers"]:
            head_bytes += len(name) + len(value)
            if name == _REQUEST_ID:
                incoming = value
            elif name == b"content-length":
                declared_length = value
            elif name in TRACE_HEADERS:
                trace_headers = trace_headers or {}
                trace_headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        request_id = incoming.decode("latin-1")
        if not _VALID_REQUEST_ID.match(request_id):
            request_id = random_hex()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        span = (
            None
            if scope["path"] in self.untraced_paths
            else ServerSpan.start(self.tracer, scope, trace_headers)
        )
        status: int | None = None
        error: BaseException | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *self.security_headers.for_response(
                        message.get("headers", ()), scope.get("route")
                    ),
                    (_REQUEST_ID, request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            if head_bytes > self.max_header_bytes:
                await _refuse(
                    _HEADERS_TOO_LARGE, self.max_header_bytes, scope, receive, send_with_headers
                )
            elif declared_length is not None:
                if declared_length.isdigit() and int(declared_length) > self.max_body_bytes:
                    await _refuse(
                        _BODY_TOO_LARGE, self.max_body_bytes, scope, receive, send_with_headers
                    )
                else:
                    await self.app(scope, receive, send_with_headers)
            else:
                await self._read_limited_body(scope, receive, send_with_headers)
        except BaseException as exc:
            error = exc
            raise
        finally:
            route = _route_of(scope)
            if span is not None:
                span.finish(route, status, error)
            requests, seconds = _series(
                scope.get("method", ""), route or "unmatched", status or 500
            )
            requests.inc()
            seconds.observe(time.perf_counter() - started)
            request_id_var.reset(token)

    async def _connect(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket connection: refused over the head limit, else one span while it lasts."""
        if _head_size(scope) > self.max_header_bytes:
            await send({"type": "websocket.close", "code": 1009})
            return
        trace_headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])  # the first of a repeated one wins
            if name in TRACE_HEADERS
        }
        span = ServerSpan.start(self.tracer, scope, trace_headers or None)
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            span.finish(_route_of(scope), None, exc)
            raise
        span.finish(_route_of(scope), None, None)

    async def _read_limited_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A body without a declared length is read here, up to the limit, and replayed to the
        app: FastAPI turns any error raised while it reads a body into its own 400."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app will see that on its own receive
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                await _refuse(_BODY_TOO_LARGE, self.max_body_bytes, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


@dataclass(frozen=True)
class _Refusal:
    """A request over one of the edge's limits, as a problem; ``detail`` takes the limit."""

    status: int
    title: str
    kind: str
    detail: str


_HEADERS_TOO_LARGE = _Refusal(
    431,
    "Request Header Fields Too Large",
    "headers-too-large",
    "The request headers exceed {limit} bytes.",
)
_BODY_TOO_LARGE = _Refusal(
    413, "Content Too Large", "body-too-large", "The request body exceeds {limit} bytes."
)


async def _refuse(
    refusal: _Refusal, limit: int, scope: Scope, receive: Receive, send: Send
) -> None:
    detail = refusal.detail.format(limit=limit)
    response = problem_response(refusal.status, refusal.title, detail, kind=refusal.kind)
    await response(scope, receive, send)


@functools.cache
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of one method, route template and status.

    Cached: prometheus_client's ``labels`` takes a lock and checks its arguments on every call.
    Bounded: routes are templates ("unmatched" otherwise), methods those the server parses.
    """
    return (
        HTTP_REQUESTS.labels(method=method, route=route, status=str(status)),
        HTTP_REQUEST_SECONDS.labels(method=method, route=route),
    )


def _route_of(scope: Scope) -> str | None:
    """The template of the route that served the request, once routing has matched one."""
    path: str | None = getattr(scope.get("route"), "path", None)
    return path


def _head_size(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])
