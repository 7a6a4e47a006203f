"""The 202 of an order is the answer Starlette's Response would make of the same view, message
for message."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.responses import Response
from starlette.types import Message

from tradewind.gateway.api.orders import AcceptedOrder

ORDER_ID = uuid.UUID("1b4e28ba-2fa1-41d2-883f-0016d3cca427")


async def _messages(response: Response) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("an answer reads nothing")

    async def send(message: Message) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)
    return sent


@pytest.mark.parametrize("order_id", [ORDER_ID, str(ORDER_ID)], ids=["uuid", "text"])
@pytest.mark.parametrize("view", [b'{"id":"x","status":"pending_new"}', b"", b"{}" * 600])
def test_the_answer_is_starlette_s_for_the_same_view(
    order_id: uuid.UUID | str, view: bytes
) -> None:
    expected = Response(
        view,
        status_code=202,
        media_type="application/json",
        headers={"Location": f"/api/v1/orders/{ORDER_ID}"},
    )
    accepted = AcceptedOrder(view, order_id)
    assert asyncio.run(_messages(accepted)) == asyncio.run(_messages(expected))
    assert accepted.headers == expected.headers
    assert accepted.background is None
