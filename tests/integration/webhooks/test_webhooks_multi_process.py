"""Two service instances on one database and queue: competing consumers, shared bounds."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp import web

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import Received, Receiver, order_accepted
from support.polling import eventually


async def test_two_instances_share_the_work_and_the_per_endpoint_bound(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    concurrent = 0
    peak = 0

    async def slow(_received: Received, _earlier: int) -> web.StreamResponse:
        nonlocal concurrent, peak
        concurrent += 1
        peak = max(peak, concurrent)
        try:
            await asyncio.sleep(0.05)  # the partner's processing time
        finally:
            concurrent -= 1
        return web.Response(text="ok")

    receiver.on("hook", slow)
    settings = {"endpoint_concurrency": 2, "max_in_flight": 8}
    async with service_factory(**settings) as first, service_factory(**settings) as second:
        endpoint = await first.create_endpoint("acc-1", receiver.url("hook"))
        for index in range(30):
            await (first if index % 2 else second).publish(order_accepted("acc-1"))

        async def all_delivered() -> bool:
            return len(receiver.successes("hook")) >= 30

        await eventually(all_delivered, timeout=15)

        # An attempt is recorded after its answer arrives (in batches), so the last ones can
        # still be on their way when the receiver has seen every delivery.
        async def all_recorded() -> list[dict[str, Any]] | None:
            attempts = await first.attempts("acc-1", endpoint["id"])
            return attempts if len(attempts) >= 30 else None

        attempts = await eventually(all_recorded, timeout=15)

    assert set(Counter(r.webhook_id for r in receiver.at("hook")).values()) == {1}
    assert len(attempts) == 30
    assert peak == 2  # never more than the bound, although two processes claim
