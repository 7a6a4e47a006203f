"""The edge layer's server span: named by route, continuing the caller's trace, current while the
app runs, marked as an error only for an exception or a 5xx, absent for untraced paths."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from tradewind.common.edge import EdgeMiddleware
from tradewind.common.security_headers import SecurityHeaders


class Route:
    """What routing leaves in the scope: the matched route's template."""

    def __init__(self, path: str) -> None:
        self.path = path


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """/orders/<id> answers with the current span's ids; /fail raises; /busy answers 503."""
    path = scope["path"]
    if path == "/fail":
        scope["route"] = Route("/fail")
        raise RuntimeError("broken")
    status = 503 if path == "/busy" else 200
    if path.startswith("/orders/"):
        scope["route"] = Route("/orders/{order_id}")
    current = trace.get_current_span().get_span_context()
    body = f"{current.trace_id:032x} {current.span_id:016x}"
    await PlainTextResponse(body, status_code=status)(scope, receive, send)


async def request(
    path: str, headers: dict[str, str] | None = None
) -> tuple[httpx.Response | None, list[ReadableSpan]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    edge = EdgeMiddleware(
        app,
        max_header_bytes=8_192,
        max_body_bytes=1_024,
        security_headers=SecurityHeaders(hsts_max_age_s=0),
        untraced_paths=frozenset({"/health/ready"}),
        tracer=provider.get_tracer("tests"),
    )
    transport = httpx.ASGITransport(edge)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test:8080") as client:
        try:
            response: httpx.Response | None = await client.get(path, headers=headers)
        except RuntimeError:
            response = None
    return response, list(exporter.get_finished_spans())


async def test_a_request_gets_one_server_span_named_by_its_route_and_current_in_the_app() -> None:
    response, spans = await request("/orders/42?sig=secret&page=2")
    assert response is not None
    assert response.status_code == 200
    [span] = spans
    assert (span.name, span.kind) == ("GET /orders/{order_id}", SpanKind.SERVER)
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "url.scheme": "http",
        "url.path": "/orders/42",
        "url.query": "sig=REDACTED&page=2",
        "http.request.method": "GET",
        "network.protocol.version": "1.1",
        "server.address": "api.test",
        "server.port": 8080,
        "http.route": "/orders/{order_id}",
        "http.response.status_code": 200,
    }
    trace_id, span_id = response.text.split()
    assert span.context is not None
    assert (trace_id, span_id) == (
        f"{span.context.trace_id:032x}",
        f"{span.context.span_id:016x}",
    )


async def test_the_span_continues_the_callers_trace() -> None:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    _, [span] = await request("/orders/1", {"traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert span.context is not None
    assert span.parent is not None
    assert f"{span.context.trace_id:032x}" == trace_id
    assert f"{span.parent.span_id:016x}" == parent_id


@pytest.mark.parametrize(
    ("path", "error_type", "status"),
    [("/fail", "RuntimeError", None), ("/busy", "503", 503)],
    ids=["an exception", "a 5xx answer"],
)
async def test_an_exception_or_a_5xx_is_an_error(
    path: str, error_type: str, status: int | None
) -> None:
    _, [span] = await request(path)
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == error_type
    assert attributes.get("http.response.status_code") == status
    assert span.status.status_code is StatusCode.ERROR


async def test_an_unmatched_path_is_named_by_its_method_alone() -> None:
    _, [span] = await request("/nowhere")
    assert span.name == "GET"
    assert "http.route" not in (span.attributes or {})


async def test_an_untraced_path_has_no_span_and_no_trace() -> None:
    response, spans = await request("/health/ready")
    assert spans == []
    assert response is not None
    assert response.text == f"{0:032x} {0:016x}"


async def test_a_websocket_connection_gets_one_span_for_as_long_as_it_lasts() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def echo(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route("/stream")
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})
        await receive()  # until the client goes

    edge = EdgeMiddleware(
        echo,
        max_header_bytes=8_192,
        max_body_bytes=1_024,
        security_headers=SecurityHeaders(hsts_max_age_s=0),
        tracer=provider.get_tracer("tests"),
    )
    client: asyncio.Queue[Message] = asyncio.Queue()
    echoed = asyncio.Event()

    async def server_sends(message: Message) -> None:
        if message["type"] == "websocket.send":
            echoed.set()

    scope: Scope = {"type": "websocket", "path": "/stream", "headers": [], "scheme": "ws"}
    client.put_nowait({"type": "websocket.connect"})
    client.put_nowait({"type": "websocket.receive", "text": "ping"})
    connection = asyncio.create_task(edge(scope, client.get, server_sends))
    await asyncio.wait_for(echoed.wait(), timeout=5)
    assert exporter.get_finished_spans() == ()  # open while the connection is
    client.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(connection, timeout=5)
    [span] = exporter.get_finished_spans()
    assert (span.name, span.kind) == ("WS /stream", SpanKind.SERVER)
    assert (span.attributes or {})["network.protocol.name"] == "websocket"
    assert span.status.status_code is StatusCode.UNSET
