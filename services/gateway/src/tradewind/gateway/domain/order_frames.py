"""Order entry on the stream: the frames that place, cancel and replace orders, read as the HTTP
requests they stand for, and the frame that carries the HTTP answer back.

A frame names its action and carries what the HTTP request would: the order (the body of
POST /api/v1/orders), the order's id (the path of DELETE and PATCH /api/v1/orders/{id}), the
changes (the body of the PATCH) and, optionally, the Idempotency-Key. The gateway serves the
request with its HTTP routes (``api.stream_orders``), so everything about the order itself
(validation, scopes, rate limits, idempotency, flags) is decided there, once, for both doors.
This module decides only what makes a frame a request: an action, a request id to answer to,
an order id that is a UUID, the parts present, nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

ORDER_ACTIONS = frozenset({"place_order", "cancel_order", "replace_order"})
ORDERS_PATH = "/api/v1/orders"
# A client's own id for a request, echoed on the answer; as long as an X-Request-ID may be.
MAX_REQUEST_ID_LENGTH = 128
# The HTTP answer's header fields a stream client needs: where the order is, when to retry, how
# much of the budget is left, whether the answer is a replay, and the gateway's id of the request.
ANSWER_HEADERS = (
    "location",
    "retry-after",
    "ratelimit",
    "ratelimit-policy",
    "idempotent-replayed",
    "x-request-id",
)

RequestId = Annotated[str, Field(min_length=1, max_length=MAX_REQUEST_ID_LENGTH)]


class _OrderFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: RequestId
    # Checked as the Idempotency-Key header is, by the HTTP route (400 invalid-idempotency-key).
    idempotency_key: str | None = None


class PlaceOrderFrame(_OrderFrame):
    action: Literal["place_order"]
    order: JsonValue


class CancelOrderFrame(_OrderFrame):
    action: Literal["cancel_order"]
    order_id: UUID


class ReplaceOrderFrame(_OrderFrame):
    action: Literal["replace_order"]
    order_id: UUID
    changes: JsonValue


OrderFrame = Annotated[
    PlaceOrderFrame | CancelOrderFrame | ReplaceOrderFrame, Field(discriminator="action")
]
_ORDER_FRAME: TypeAdapter[PlaceOrderFrame | CancelOrderFrame | ReplaceOrderFrame] = TypeAdapter(
    OrderFrame
)


@dataclass(frozen=True)
class OrderEntryRequest:
    """The HTTP request a valid frame stands for."""

    action: str
    request_id: str
    method: Literal["POST", "DELETE", "PATCH"]
    path: str
    body: bytes  # empty for DELETE
    idempotency_key: str | None


@dataclass(frozen=True)
class InvalidOrderFrame:
    """A frame that is no request. ``request_id`` is None when the frame has no usable one: it
    is then answered with an error frame, since no order_response could be matched to it.
    ``errors`` are a validation problem's entries: ``{"field", "in": "message", "message"}``."""

    action: str
    request_id: str | None
    errors: tuple[dict[str, str], ...]

    @property
    def fields(self) -> list[str]:
        return sorted({error["field"] for error in self.errors})


def is_order_frame(message: object) -> bool:
    return isinstance(message, dict) and message.get("action") in ORDER_ACTIONS


def read_order_frame(message: Mapping[str, Any]) -> OrderEntryRequest | InvalidOrderFrame:
    try:
        frame = _ORDER_FRAME.validate_python(message)
    except ValidationError as invalid:
        return InvalidOrderFrame(
            str(message.get("action")),
            _usable_request_id(message.get("request_id")),
            tuple(_field_error(error) for error in invalid.errors(include_url=False)),
        )
    if isinstance(frame, PlaceOrderFrame):
        return OrderEntryRequest(
            frame.action,
            frame.request_id,
            "POST",
            ORDERS_PATH,
            _json(frame.order),
            frame.idempotency_key,
        )
    path = f"{ORDERS_PATH}/{frame.order_id}"  # a UUID: nothing of the client's reaches the path
    if isinstance(frame, CancelOrderFrame):
        return OrderEntryRequest(
            frame.action, frame.request_id, "DELETE", path, b"", frame.idempotency_key
        )
    return OrderEntryRequest(
        frame.action, frame.request_id, "PATCH", path, _json(frame.changes), frame.idempotency_key
    )


def idempotency_header(key: str) -> bytes:
    """The key as a Structured Field String, the header's form: any key a client may send over
    HTTP (printable ASCII) arrives unchanged; anything else is refused there, as over HTTP."""
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'.encode()


def order_response(
    request_id: str, status: int, headers: Mapping[str, str], body: JsonValue
) -> dict[str, Any]:
    return {
        "type": "order_response",
        "request_id": request_id,
        "status": status,
        "headers": dict(headers),
        "body": body,
    }


def answer_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The header fields of ``ANSWER_HEADERS`` an HTTP answer has, by their lower-case names."""
    kept: dict[str, str] = {}
    for name, value in headers:
        lowered = name.decode("latin-1").lower()
        if lowered in ANSWER_HEADERS:
            kept[lowered] = value.decode("latin-1")
    return kept


def answer_body(body: bytes) -> JsonValue:
    """The HTTP answer's JSON as a value of the frame; text in the unexpected case it is not."""
    try:
        value: JsonValue = json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")
    return value


def _json(value: JsonValue) -> bytes:
    # Compact and deterministic: the same frame gives the same bytes, so the same request with
    # the same Idempotency-Key has the same fingerprint and is answered by a replay.
    return json.dumps(value, separators=(",", ":")).encode()


def _field_error(error: Mapping[str, Any]) -> dict[str, str]:
    # The first location is the action, the union's tag: the field is what follows it.
    location = [str(part) for part in error.get("loc", ())[1:]]
    return {
        "field": ".".join(location) or "message",
        "in": "message",
        "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
    }


def _usable_request_id(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= MAX_REQUEST_ID_LENGTH:
        return value
    return None
