"""Order entry frames on the stream: read as the HTTP requests they stand for, or refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tradewind.gateway.api.idempotency import parse_key
from tradewind.gateway.domain.order_frames import (
    InvalidOrderFrame,
    OrderEntryRequest,
    answer_body,
    answer_headers,
    idempotency_header,
    is_order_frame,
    read_order_frame,
)

ORDER_ID = "6f1c2a4e-0000-4000-8000-00000000abcd"
LIMIT_ORDER = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "10", "limit_price": 1.5}


def request_of(message: dict[str, Any]) -> OrderEntryRequest:
    request = read_order_frame(message)
    assert isinstance(request, OrderEntryRequest), request
    return request


def refusal_of(message: dict[str, Any]) -> InvalidOrderFrame:
    refusal = read_order_frame(message)
    assert isinstance(refusal, InvalidOrderFrame), refusal
    return refusal


def test_a_place_is_a_post_of_the_order_as_compact_json_with_its_idempotency_key() -> None:
    request = request_of(
        {
            "action": "place_order",
            "request_id": "c-1",
            "order": LIMIT_ORDER,
            "idempotency_key": "k-1",
        }
    )
    assert (request.method, request.path, request.request_id) == ("POST", "/api/v1/orders", "c-1")
    assert json.loads(request.body) == LIMIT_ORDER
    assert b" " not in request.body
    assert request.idempotency_key == "k-1"


def test_the_same_frame_gives_the_same_body_bytes_so_a_retry_is_the_same_request() -> None:
    frame = {"action": "place_order", "request_id": "c-1", "order": LIMIT_ORDER}
    again = json.loads(json.dumps(frame))
    assert request_of(frame).body == request_of(again).body


def test_a_cancel_is_a_delete_without_a_body_and_a_replace_a_patch_of_the_changes() -> None:
    cancel = request_of({"action": "cancel_order", "request_id": "c-2", "order_id": ORDER_ID})
    assert (cancel.method, cancel.path, cancel.body) == (
        "DELETE",
        f"/api/v1/orders/{ORDER_ID}",
        b"",
    )
    replace = request_of(
        {
            "action": "replace_order",
            "request_id": "c-3",
            "order_id": ORDER_ID.upper(),
            "changes": {"qty": "5"},
        }
    )
    assert (replace.method, replace.path) == ("PATCH", f"/api/v1/orders/{ORDER_ID}")
    assert json.loads(replace.body) == {"qty": "5"}


@pytest.mark.parametrize("order_id", ["", "../keys", f"{ORDER_ID}/x", "not-a-uuid", 7])
def test_an_order_id_that_is_no_uuid_is_refused_before_it_could_reach_a_path(
    order_id: object,
) -> None:
    refusal = refusal_of({"action": "cancel_order", "request_id": "c-4", "order_id": order_id})
    assert refusal.request_id == "c-4"
    assert refusal.fields == ["order_id"]
    assert refusal.errors[0]["in"] == "message"


def test_missing_and_unknown_fields_are_named_without_the_action_in_front() -> None:
    refusal = refusal_of({"action": "replace_order", "request_id": "c-5", "price": "1"})
    assert refusal.action == "replace_order"
    assert refusal.fields == ["changes", "order_id", "price"]


@pytest.mark.parametrize("request_id", [None, "", 12, "x" * 129])
def test_a_frame_without_a_usable_request_id_cannot_be_answered_by_it(request_id: object) -> None:
    message: dict[str, Any] = {"action": "place_order", "order": LIMIT_ORDER}
    if request_id is not None:
        message["request_id"] = request_id
    assert refusal_of(message).request_id is None


def test_only_the_three_order_actions_are_order_frames() -> None:
    assert is_order_frame({"action": "place_order"})
    assert is_order_frame({"action": "cancel_order"})
    assert is_order_frame({"action": "replace_order"})
    assert not is_order_frame({"action": "subscribe"})
    assert not is_order_frame(["place_order"])


@pytest.mark.parametrize("key", ["plain", 'with "quotes"', "back\\slash", "a b"])
def test_an_idempotency_key_reaches_the_header_parser_unchanged(key: str) -> None:
    assert parse_key(idempotency_header(key).decode("latin-1")) == key


def test_the_answer_keeps_the_header_fields_a_client_needs_and_the_body_as_json() -> None:
    headers = answer_headers(
        [
            (b"Location", b"/api/v1/orders/x"),
            (b"RateLimit", b'"orders";r=1;t=5'),
            (b"idempotent-replayed", b"true"),
            (b"content-type", b"application/json"),
            (b"x-frame-options", b"DENY"),
        ]
    )
    assert headers == {
        "location": "/api/v1/orders/x",
        "ratelimit": '"orders";r=1;t=5',
        "idempotent-replayed": "true",
    }
    assert answer_body(b'{"id":"x","qty":"10"}') == {"id": "x", "qty": "10"}
    assert answer_body(b"Internal Server Error") == "Internal Server Error"
