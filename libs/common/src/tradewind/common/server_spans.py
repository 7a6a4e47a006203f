"""The server span of each request a service answers, opened and closed by the edge layer.

One span per HTTP request (or WebSocket connection), continuing the W3C trace context of the
request's headers and current while the app runs, so the commands, events and calls it makes
carry the trace. Named and described as OpenTelemetry's HTTP server semantic conventions say:
``POST /api/v1/orders`` (method and route template), ``url.scheme``, ``url.path``,
``url.query`` (signatures redacted), ``http.request.method``, ``http.route``,
``http.response.status_code``, ``server.address`` and ``server.port``, and ``error.type`` with
an error status for an exception or a 5xx.

*Why not FastAPI's own telemetry, which did the same:* it parsed the headers, the Host and the
query into new objects and walked the middleware stack on every request, recorded or not; that
layer was about a tenth of the gateway's CPU per order (docs/performance.md, "The server span
in the edge layer"). Here the edge layer, which reads every header once anyway, hands over the
three trace headers, and attributes are built only for a span that is recorded.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from starlette.types import Scope

TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
# https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server-span
_SENSITIVE_QUERY_PARAMETERS = frozenset(
    {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "sig", "X-Goog-Signature"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
TRACER_NAME = "tradewind.server"


class ServerSpan:
    """One request's span, current from ``start`` until ``finish``."""

    __slots__ = ("_method", "_span", "_token")

    def __init__(self, span: Span, method: str, token: Token[Context]) -> None:
        self._span = span
        self._method = method
        self._token = token

    @classmethod
    def start(
        cls, tracer: Tracer, scope: Scope, trace_headers: dict[str, str] | None
    ) -> ServerSpan:
        """``trace_headers``: the request's traceparent, tracestate and baggage, if it sent any."""
        parent = None if trace_headers is None else propagate.extract(trace_headers)
        websocket = scope["type"] == "websocket"
        original = scope.get("method", "")
        method = "WS" if websocket else original if original in _KNOWN_METHODS else "HTTP"
        span = tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        if span.is_recording():
            span.set_attributes(_request_attributes(scope, original, websocket))
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return cls(span, method, token)

    def finish(self, route: str | None, status: int | None, error: BaseException | None) -> None:
        """End the span: ``route`` the template matched (None if none), ``status`` the answer's
        status (None if none was sent), ``error`` what the app raised, if it did."""
        otel_context.detach(self._token)
        span = self._span
        if span.is_recording():
            if route is not None:
                span.update_name(f"{self._method} {route}")
                span.set_attribute("http.route", route)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if error is not None or (status is not None and status >= 500):
                kind = type(error).__qualname__ if error is not None else str(status)
                span.set_attribute("error.type", kind)
                span.set_status(StatusCode.ERROR)
        span.end()


def _request_attributes(scope: Scope, original_method: str, websocket: bool) -> dict[str, Any]:
    scheme = scope.get("scheme", "ws" if websocket else "http")
    attributes: dict[str, Any] = {"url.scheme": scheme, "url.path": scope["path"]}
    if websocket:
        attributes["network.protocol.name"] = "websocket"
    else:
        known = original_method in _KNOWN_METHODS
        attributes["http.request.method"] = original_method if known else "_OTHER"
        if not known:
            attributes["http.request.method_original"] = original_method
        if scope.get("http_version"):
            attributes["network.protocol.version"] = scope["http_version"]
    if scope.get("query_string"):
        attributes["url.query"] = _redacted_query(scope["query_string"].decode("latin-1"))
    attributes.update(_server_address(scope, scheme))
    return attributes


def _redacted_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [(key, "REDACTED" if key in _SENSITIVE_QUERY_PARAMETERS else value) for key, value in pairs]
    )


def _server_address(scope: Scope, scheme: str) -> dict[str, Any]:
    """server.address and server.port from the Host header, else from the socket."""
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    if host is None:
        address, port = scope.get("server") or (None, None)
    else:
        try:
            url = urlsplit("//" + host.decode("latin-1"))
            address, port = url.hostname, url.port or _DEFAULT_PORTS.get(scheme)
        except ValueError:
            return {}  # a malformed Host must not fail the request
    if address is None:
        return {}
    return {"server.address": address} | ({} if port is None else {"server.port": port})
