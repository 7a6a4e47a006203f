"""The delivery backlog and disabled-endpoint gauges follow the database (the health service and
Prometheus read them from /metrics)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import Receiver, always, order_accepted
from support.polling import eventually


def pending() -> float | None:
    return REGISTRY.get_sample_value("tradewind_webhook_deliveries_pending")


def disabled(by: str) -> float | None:
    return REGISTRY.get_sample_value("tradewind_webhook_disabled_endpoints", {"disabled_by": by})


async def gauge_is(read: Callable[[], float | None], expected: float, what: str) -> None:
    async def matches() -> bool:
        return read() == expected

    await eventually(matches, timeout=15, interval=0.05, message=f"{what} never became {expected}")


async def test_pending_deliveries_and_disabled_endpoints_show_in_the_gauges(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("down", always(500))
    receiver.on("gone", always(410))
    async with service_factory(backlog_sample_interval_s=0.1, retry_schedule="1h,1h") as service:
        await gauge_is(pending, 0, "pending deliveries")
        failing = await service.create_endpoint("acc-1", receiver.url("down"))
        for _ in range(3):
            await service.publish(order_accepted("acc-1"))
        # Each failed once and waits an hour for its retry: a backlog of three.
        await gauge_is(pending, 3, "pending deliveries")

        await service.create_endpoint("acc-2", receiver.url("gone"))
        await service.publish(order_accepted("acc-2"))
        await gauge_is(lambda: disabled("service"), 1, "endpoints disabled by the service")
        await service.update_endpoint("acc-1", failing["id"], enabled=False)
        await gauge_is(lambda: disabled("account"), 1, "endpoints disabled by their account")

        await service.delete_endpoint("acc-1", failing["id"])
        await gauge_is(pending, 0, "pending deliveries")
        await gauge_is(lambda: disabled("account"), 0, "endpoints disabled by their account")
        assert disabled("service") == 1
