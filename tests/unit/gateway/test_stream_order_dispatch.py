"""A stream's order frames become HTTP requests of the stream's credential; answers become
order_response frames on the stream, in sequence."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tradewind.gateway.api.stream_orders import OrderEntry
from tradewind.gateway.domain.stream_session import StreamSession

HANDSHAKE: Scope = {
    "type": "websocket",
    "scheme": "ws",
    "path": "/api/v1/stream",
    "client": ("10.0.0.7", 51000),
    "server": ("127.0.0.1", 8000),
    "headers": [(b"host", b"gw:8000"), (b"cookie", b"not-forwarded")],
}
ORDER_ID = "6f1c2a4e-0000-4000-8000-00000000abcd"


class RecordingApp:
    """Answers every request 202 with the order it was sent, and keeps what it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[Scope, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message: Message = await receive()
        self.requests.append((scope, message["body"]))
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [(b"location", b"/api/v1/orders/x"), (b"x-frame-options", b"DENY")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id":"x"}'})


async def frames(session: StreamSession) -> list[dict[str, Any]]:
    received = []
    while session.backlog:
        frame = await session.next_frame()
        assert frame is not None
        received.append(json.loads(frame))
    return received


async def test_a_place_is_sent_with_the_streams_credential_and_answered_in_sequence() -> None:
    app, session = RecordingApp(), StreamSession("acct", max_backlog=10)
    session.push({"type": "authenticated"})
    entry = OrderEntry(app, HANDSHAKE, "tw_secret", session)
    await entry.handle(
        {
            "action": "place_order",
            "request_id": "c-1",
            "order": {"symbol": "AAPL"},
            "idempotency_key": 'a "b"',
        }
    )
    ((scope, body),) = app.requests
    assert (scope["method"], scope["path"], body) == (
        "POST",
        "/api/v1/orders",
        b'{"symbol":"AAPL"}',
    )
    headers = dict(scope["headers"])
    assert headers[b"authorization"] == b"Bearer tw_secret"
    assert headers[b"idempotency-key"] == b'"a \\"b\\""'
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"host"] == b"gw:8000"
    assert b"cookie" not in headers
    assert scope["client"] == ("10.0.0.7", 51000)
    assert (await frames(session))[1] == {
        "seq": 2,
        "type": "order_response",
        "request_id": "c-1",
        "status": 202,
        "headers": {"location": "/api/v1/orders/x"},
        "body": {"id": "x"},
    }


async def test_a_cancel_is_a_delete_of_the_order_without_a_body() -> None:
    app, session = RecordingApp(), StreamSession("acct", max_backlog=10)
    entry = OrderEntry(app, HANDSHAKE, "tw_secret", session)
    await entry.handle({"action": "cancel_order", "request_id": "c-2", "order_id": ORDER_ID})
    ((scope, body),) = app.requests
    assert (scope["method"], scope["path"], body) == ("DELETE", f"/api/v1/orders/{ORDER_ID}", b"")
    assert b"content-type" not in dict(scope["headers"])


async def test_a_frame_that_is_no_request_is_a_422_problem_and_reaches_no_route() -> None:
    app, session = RecordingApp(), StreamSession("acct", max_backlog=10)
    entry = OrderEntry(app, HANDSHAKE, "tw_secret", session)
    await entry.handle({"action": "cancel_order", "request_id": "c-3", "order_id": "../keys"})
    await entry.handle({"action": "place_order", "order": {}})
    assert app.requests == []
    answer, error = await frames(session)
    assert (answer["type"], answer["request_id"], answer["status"]) == (
        "order_response",
        "c-3",
        422,
    )
    problem = answer["body"]
    assert problem["type"] == "urn:tradewind:problem:validation-error"
    assert problem["instance"] == "/api/v1/stream"
    assert [(e["field"], e["in"]) for e in problem["errors"]] == [("order_id", "message")]
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert "request_id" in error["message"]
