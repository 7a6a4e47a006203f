"""Order entry on /api/v1/stream: place, cancel and replace orders with the HTTP routes' answers.

  client → {"action": "place_order", "request_id": "c-1", "order": {…POST /api/v1/orders body…},
            "idempotency_key": "…"}                                   (idempotency_key optional)
  client → {"action": "cancel_order", "request_id": "c-2", "order_id": "<uuid>"}
  client → {"action": "replace_order", "request_id": "c-3", "order_id": "<uuid>",
            "changes": {…PATCH /api/v1/orders/{id} body…}}
  server → {"seq": n, "type": "order_response", "request_id": "c-1", "status": 202,
            "headers": {"location": …, "ratelimit": …, …}, "body": <the order, or the problem>}

Each frame is served as the HTTP request it stands for, by the gateway's own HTTP app, in
process (``api.loopback``): with the stream's credential as its ``Authorization``, its
``idempotency_key`` as its ``Idempotency-Key``. So the answer is the HTTP answer, byte for byte
in its body: the scope check (orders:write, else 403), the key's `orders` rate budget shared with
HTTP (429 with retry-after), Idempotency-Key replays (headers ``idempotent-replayed``), 409 and
422 on a key in flight or reused (keys are shared with HTTP, per account), the order entry flag,
validation problems, and the kill switch in the orders service. The credential is checked again
on every request: a key revoked or a token expired since the stream opened gets 401.

A connection's order frames are served one at a time, in the order they arrive, and answered in
that order; the stream's other frames keep flowing meanwhile. A frame that is no request (no
order_id that is a UUID, a field unknown or missing) is answered 422 without spending budget, or
with an ``error`` frame (``invalid_message``) when it has no usable ``request_id`` to answer to.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import Counter
from starlette.types import ASGIApp, Scope

from tradewind.common.problems import problem_response
from tradewind.gateway.api.loopback import NoAnswer, call, http_scope
from tradewind.gateway.domain.order_frames import (
    MAX_REQUEST_ID_LENGTH,
    InvalidOrderFrame,
    OrderEntryRequest,
    answer_body,
    answer_headers,
    idempotency_header,
    order_response,
    read_order_frame,
)
from tradewind.gateway.domain.stream_session import StreamSession

log = logging.getLogger(__name__)

STREAM_ORDER_REQUESTS = Counter(
    "tradewind_stream_order_requests_total",
    "Order entry requests received on WebSocket streams, by action and answer status.",
    ["action", "status"],
)
STREAM_PATH = "/api/v1/stream"
# Forwarded from the handshake: they say who the client is, as they would on its HTTP requests.
_HANDSHAKE_HEADERS = frozenset({b"host", b"user-agent", b"x-forwarded-for", b"forwarded"})


class OrderEntry:
    """One stream connection's order entry, answering on its ``session``."""

    def __init__(
        self, app: ASGIApp, handshake: Scope, credential: str, session: StreamSession
    ) -> None:
        self._app = app
        self._handshake = handshake
        self._authorization = f"Bearer {credential}".encode("latin-1", errors="replace")
        self._session = session
        self._forwarded = [
            (name, value)
            for name, value in handshake.get("headers", ())
            if name.lower() in _HANDSHAKE_HEADERS
        ]

    async def handle(self, message: dict[str, Any]) -> None:
        """Answer one order-entry frame (``domain.order_frames.is_order_frame``)."""
        request = read_order_frame(message)
        if isinstance(request, InvalidOrderFrame):
            self._refuse(request)
            return
        try:
            answer = await call(self._app, self._scope(request), request.body)
        except NoAnswer:
            log.exception("order entry request got no answer", extra={"path": request.path})
            problem = problem_response(
                500,
                "Internal Server Error",
                "An unexpected error occurred. Quote the request_id when you report it.",
                instance=request.path,
            )
            status, headers, body = 500, {}, answer_body(bytes(problem.body))
        else:
            status, headers = answer.status, answer_headers(answer.headers)
            body = answer_body(answer.body)
        STREAM_ORDER_REQUESTS.labels(action=request.action, status=str(status)).inc()
        self._session.push(order_response(request.request_id, status, headers, body))

    def _scope(self, request: OrderEntryRequest) -> Scope:
        headers = [*self._forwarded, (b"authorization", self._authorization)]
        if request.method != "DELETE":
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(request.body)).encode()),
            ]
        if request.idempotency_key is not None:
            headers.append((b"idempotency-key", idempotency_header(request.idempotency_key)))
        return http_scope(self._handshake, request.method, request.path, headers)

    def _refuse(self, invalid: InvalidOrderFrame) -> None:
        fields = ", ".join(invalid.fields)
        if invalid.request_id is None:
            self._session.push(
                {
                    "type": "error",
                    "code": "invalid_message",
                    "message": "An order request needs a request_id of 1 to "
                    f"{MAX_REQUEST_ID_LENGTH} characters to be answered; "
                    f"invalid field(s): {fields}.",
                }
            )
            return
        problem = problem_response(
            422,
            "Your request is not valid.",
            f"Invalid field(s): {fields}.",
            kind="validation-error",
            instance=STREAM_PATH,
            extensions={"errors": list(invalid.errors)},
        )
        STREAM_ORDER_REQUESTS.labels(action=invalid.action, status="422").inc()
        self._session.push(
            order_response(invalid.request_id, 422, {}, answer_body(bytes(problem.body)))
        )
