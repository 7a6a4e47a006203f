"""Deliveries end to end: bus event → signed POST to a local receiver, retries, failures."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import (
    Received,
    Receiver,
    Service,
    always,
    fail_times,
    order_accepted,
)
from support.polling import eventually
from tradewind.webhooks.domain.events import WebhookEndpointDisabled, WebhookMessageFailed
from unit.webhooks.spec_verifier import VerificationError, verify


def path(account: str, suffix: str) -> str:
    return f"/internal/v1/accounts/{account}/webhooks{suffix}"


async def received(receiver: Receiver, hook: str, count: int, timeout: float = 10.0) -> None:
    async def enough() -> bool:
        return len(receiver.at(hook)) >= count

    await eventually(enough, timeout=timeout, message=f"{count} requests at /{hook}")


async def test_delivery_is_a_standard_webhook(service: Service, receiver: Receiver) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
    event = order_accepted("acc-1")
    await service.publish(event)
    await received(receiver, "hook", 1)

    delivery = receiver.at("hook")[0]
    verify(endpoint["secret"], delivery.headers, delivery.body)
    assert delivery.webhook_id.startswith("msg_")
    assert delivery.headers["Content-Type"] == "application/json"
    assert "traceparent" not in {name.lower() for name in delivery.headers}
    payload = json.loads(delivery.body)  # not the CloudEvent envelope: small and stable
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "order.accepted"
    assert payload["data"] == event.data
    assert datetime.fromisoformat(payload["timestamp"]) == event.time


async def test_real_delivery_verifies_with_both_secrets_during_rotation(
    service: Service, receiver: Receiver
) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
    old_secret = endpoint["secret"]
    rotated = await service.api.post(path("acc-1", f"/endpoints/{endpoint['id']}/rotate-secret"))
    new_secret = rotated.json()["secret"]

    await service.publish(order_accepted("acc-1"))
    await received(receiver, "hook", 1)
    delivery = receiver.at("hook")[0]

    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    verify(old_secret, delivery.headers, delivery.body)
    verify(new_secret, delivery.headers, delivery.body)
    tampered = delivery.body.replace(b'"AAPL"', b'"MSFT"')
    assert tampered != delivery.body
    for secret in (old_secret, new_secret):
        with pytest.raises(VerificationError):
            verify(secret, delivery.headers, tampered)


async def test_after_the_overlap_only_the_new_secret_signs(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    async with service_factory(secret_rotation_overlap=timedelta(0)) as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
        rotated = await service.api.post(
            path("acc-1", f"/endpoints/{endpoint['id']}/rotate-secret")
        )
        await service.publish(order_accepted("acc-1"))
        await received(receiver, "hook", 1)
    delivery = receiver.at("hook")[0]
    assert len(delivery.headers["webhook-signature"].split(" ")) == 1
    verify(rotated.json()["secret"], delivery.headers, delivery.body)
    with pytest.raises(VerificationError):
        verify(endpoint["secret"], delivery.headers, delivery.body)


async def test_failing_receiver_gets_retries_with_one_webhook_id_on_schedule(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    schedule = [0.2, 0.4, 0.8]
    receiver.on("hook", fail_times(3))
    async with service_factory(retry_schedule="200ms,400ms,800ms,1600ms") as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
        await service.publish(order_accepted("acc-1"))
        await received(receiver, "hook", 4)

        async def recorded() -> list[dict[str, object]] | None:
            attempts = await service.attempts("acc-1", endpoint["id"])
            return attempts if len(attempts) == 4 else None

        attempts = await eventually(recorded)
        deliveries = await service.deliveries()

    requests = receiver.at("hook")
    assert len({r.webhook_id for r in requests}) == 1
    assert len(receiver.successes("hook")) == 1
    for earlier, later, delay in zip(requests, requests[1:], schedule, strict=False):
        gap = later.at - earlier.at
        assert delay * 0.9 <= gap <= delay * 1.1 + 0.5, (delay, gap)
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3, 4]
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 200]
    assert attempts[0]["response_body"] == "failure 1"
    assert [d["status"] for d in deliveries] == ["succeeded"]
    assert len(requests) == 4  # nothing after the success


async def test_gone_disables_the_endpoint(service: Service, receiver: Receiver) -> None:
    receiver.on("gone", always(410))
    endpoint = await service.create_endpoint("acc-1", receiver.url("gone"))
    await service.publish(order_accepted("acc-1"))

    disabled = WebhookEndpointDisabled.model_validate(
        (await service.wait_for_event(WebhookEndpointDisabled.TYPE)).data
    )
    assert disabled.endpoint_id == endpoint["id"]
    assert "410" in disabled.reason
    failed = WebhookMessageFailed.model_validate(
        (await service.wait_for_event(WebhookMessageFailed.TYPE)).data
    )
    assert failed.attempts == 1
    assert failed.last_status_code == 410
    state = (await service.api.get(path("acc-1", f"/endpoints/{endpoint['id']}"))).json()
    assert state["enabled"] is False
    assert "410" in state["disabled_reason"]

    # A disabled endpoint receives nothing more, and a test call is refused.
    await service.publish(order_accepted("acc-1"))
    test_call = await service.api.post(path("acc-1", f"/endpoints/{endpoint['id']}/test"))
    assert test_call.status_code == 409
    assert len(receiver.at("gone")) == 1


async def test_retry_after_is_honoured(service_factory: ServiceFactory, receiver: Receiver) -> None:
    async def throttle_once(_received: Received, earlier: int) -> web.StreamResponse:
        if earlier == 0:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(text="ok")

    receiver.on("hook", throttle_once)
    # The schedule's tiers are far from the 1 s asked for, so the gap tells which one was used
    # even when a busy machine delays the retry by a second.
    async with service_factory(retry_schedule="100ms,10s") as service:
        await service.create_endpoint("acc-1", receiver.url("hook"))
        await service.publish(order_accepted("acc-1"))
        await received(receiver, "hook", 2)
    first, second = receiver.at("hook")
    assert 1.0 <= second.at - first.at < 10.0  # neither the scheduled 100 ms nor the 10 s tier


async def test_a_redirect_is_a_failure_and_is_not_followed(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("moved", always(302, headers={"Location": receiver.url("elsewhere")}))
    async with service_factory(retry_schedule="50ms,50ms") as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("moved"))
        await service.publish(order_accepted("acc-1"))
        failed = await service.wait_for_event(WebhookMessageFailed.TYPE)
        attempts = await service.attempts("acc-1", endpoint["id"])
    assert receiver.at("elsewhere") == []
    assert len(receiver.at("moved")) == 3
    assert [a["status_code"] for a in attempts] == [302, 302, 302]
    assert all("redirect" in a["error"] for a in attempts)
    assert failed.data["attempts"] == 3


async def test_a_timeout_is_a_failure(service_factory: ServiceFactory, receiver: Receiver) -> None:
    receiver.on("slow", receiver.hang)
    async with service_factory(request_timeout_s=0.3, retry_schedule="50ms") as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("slow"))
        await service.publish(order_accepted("acc-1"))
        await service.wait_for_event(WebhookMessageFailed.TYPE)
        attempts = await service.attempts("acc-1", endpoint["id"])
    assert len(attempts) == 2
    for attempt in attempts:
        assert attempt["status_code"] is None
        assert attempt["error"] == "timed out after 0.3s"
        assert 250 <= attempt["duration_ms"] < 2000


async def test_a_hanging_endpoint_does_not_slow_a_healthy_one(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("hanging", receiver.hang)
    events = 30
    async with service_factory(
        request_timeout_s=8.0,
        delivery_lease=timedelta(seconds=12),
        max_in_flight=8,
        endpoint_concurrency=2,
    ) as service:
        await service.create_endpoint("acc-1", receiver.url("hanging"))
        await service.create_endpoint("acc-1", receiver.url("healthy"))
        published: dict[str, float] = {}
        for _ in range(events):
            event = order_accepted("acc-1")
            published[event.data["order"]["id"]] = time.monotonic()
            await service.publish(event)
        await received(receiver, "healthy", events)

    latencies = [
        r.at - published[json.loads(r.body)["data"]["order"]["id"]] for r in receiver.at("healthy")
    ]
    # The hanging endpoint holds two of the eight slots until its 8 s timeout; the healthy one
    # keeps going meanwhile. Without the per-endpoint bound it would wait for the timeouts.
    assert len(receiver.at("hanging")) == 2
    assert max(latencies) < 3.0, sorted(latencies)[-5:]
    assert statistics.median(latencies) < 1.0


async def test_test_call_reaches_only_its_endpoint(service: Service, receiver: Receiver) -> None:
    target = await service.create_endpoint("acc-1", receiver.url("target"))
    await service.create_endpoint("acc-1", receiver.url("other"))
    response = await service.api.post(path("acc-1", f"/endpoints/{target['id']}/test"))
    assert response.status_code == 202
    await received(receiver, "target", 1)
    delivery = receiver.at("target")[0]
    verify(target["secret"], delivery.headers, delivery.body)
    payload = json.loads(delivery.body)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == target["id"]
    assert delivery.webhook_id == response.json()["message_id"]
    assert receiver.at("other") == []


async def test_fan_out_follows_filters_and_a_redelivered_event_is_sent_once(
    service: Service, receiver: Receiver
) -> None:
    await service.create_endpoint("acc-1", receiver.url("orders"), event_types=["order.*"])
    await service.create_endpoint("acc-1", receiver.url("rejects"), event_types=["order.rejected"])
    await service.create_endpoint("acc-1", receiver.url("off"), enabled=False)
    everything = await service.create_endpoint("acc-1", receiver.url("all"))
    event = order_accepted("acc-1")
    await service.publish(event)
    await service.publish(event)  # the broker may deliver an event twice
    quote = event.model_copy(update={"id": "q-1", "type": "market.quote.aapl"})
    await service.publish(quote)
    await received(receiver, "all", 2)
    await received(receiver, "orders", 1)

    async def settled() -> bool:
        deliveries = await service.deliveries()
        return len(deliveries) == 3 and all(d["status"] == "succeeded" for d in deliveries)

    await eventually(settled)
    assert len(receiver.at("orders")) == 1
    assert receiver.at("rejects") == []
    assert receiver.at("off") == []
    types = sorted(json.loads(r.body)["type"] for r in receiver.at("all"))
    assert types == ["market.quote.aapl", "order.accepted"]
    assert len(await service.attempts("acc-1", everything["id"])) == 2


async def test_resend_and_recover(service_factory: ServiceFactory, receiver: Receiver) -> None:
    receiver.on("hook", always(500))
    async with service_factory(retry_schedule="50ms") as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
        since = datetime.now(UTC) - timedelta(seconds=1)
        for _ in range(3):
            await service.publish(order_accepted("acc-1"))

        async def all_failed() -> bool:
            deliveries = await service.deliveries()
            return len(deliveries) == 3 and all(d["status"] == "failed" for d in deliveries)

        await eventually(all_failed)
        receiver.on("hook", always(200))
        first_id = receiver.at("hook")[0].webhook_id
        endpoint_path = path("acc-1", f"/endpoints/{endpoint['id']}")

        resent = await service.api.post(f"{endpoint_path}/messages/{first_id}/resend")
        assert resent.status_code == 202, resent.text
        await eventually(lambda: _succeeded(service, 1))
        assert [r.webhook_id for r in receiver.successes("hook")] == [first_id]

        recovered = await service.api.post(
            f"{endpoint_path}/recover", json={"since": since.isoformat()}
        )
        assert recovered.json() == {"endpoint_id": endpoint["id"], "recovered": 2}
        await eventually(lambda: _succeeded(service, 3))
        assert len({r.webhook_id for r in receiver.successes("hook")}) == 3
        assert len(receiver.successes("hook")) == 3
        attempts = await service.attempts("acc-1", endpoint["id"])
        resent_attempts = [a for a in attempts if a["message_id"] == first_id]
        assert [a["attempt_number"] for a in resent_attempts] == [1, 2, 3]


async def _succeeded(service: Service, count: int) -> bool:
    deliveries = await service.deliveries()
    return sum(1 for d in deliveries if d["status"] == "succeeded") == count


async def test_endpoint_failing_for_too_long_is_disabled(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("hook", always(503))
    async with service_factory(
        retry_schedule="100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms",
        disable_after=timedelta(milliseconds=300),
    ) as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
        await service.publish(order_accepted("acc-1"))
        event = await service.wait_for_event(WebhookEndpointDisabled.TYPE)
        state = (await service.api.get(path("acc-1", f"/endpoints/{endpoint['id']}"))).json()
    assert event.data["endpoint_id"] == endpoint["id"]
    assert "every attempt failed since" in event.data["reason"]
    assert state["enabled"] is False
    assert 3 <= len(receiver.at("hook")) < 9


async def test_the_circuit_opens_and_holds_back_deliveries(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("hook", always(500))
    async with service_factory(
        breaker_failure_threshold=2,
        breaker_open_for=timedelta(minutes=5),
        endpoint_concurrency=1,
        retry_schedule="50ms",
    ) as service:
        endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
        for _ in range(5):
            await service.publish(order_accepted("acc-1"))

        async def opened() -> bool:
            state = (await service.api.get(path("acc-1", f"/endpoints/{endpoint['id']}"))).json()
            return bool(state["health"]["circuit"] == "open")

        await eventually(opened)
        attempts_before = len(receiver.at("hook"))
        # A healthy endpoint is the sentinel: once its delivery arrives, the dispatcher has made
        # claim passes with the open endpoint's retries long due, and must have skipped them.
        receiver.on("sentinel", always(204))
        await service.create_endpoint("acc-1", receiver.url("sentinel"))
        await service.publish(order_accepted("acc-1"))
        await eventually(lambda: asyncio.sleep(0, receiver.at("sentinel")))
        deliveries = await service.deliveries()
    assert attempts_before == 2
    assert len(receiver.at("hook")) == 2
    held = [d for d in deliveries if d["endpoint_id"] == endpoint["id"]]
    assert sum(d["status"] == "pending" for d in held) >= 5
