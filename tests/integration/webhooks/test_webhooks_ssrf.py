"""The SSRF guard in the running service: refused at registration and at connect time."""

from __future__ import annotations

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import Receiver, order_accepted
from support.polling import eventually


async def test_private_destinations_are_refused_and_recorded(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    async with service_factory(allow_subnets=["127.0.0.0/8"]) as permissive:
        # Registered while the allow-list admitted loopback; the policy is tightened below.
        literal = await permissive.create_endpoint("acc-1", receiver.url("literal"))

    async with service_factory(allow_subnets=[]) as strict:
        refused = await strict.api.post(
            "/internal/v1/accounts/acc-1/webhooks/endpoints",
            json={"url": "http://10.0.0.5/hook"},
        )
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {
                "field": "url",
                "in": "body",
                "message": "destination refused: 10.0.0.5 is private (10.0.0.0/8)",
            }
        ]
        # A hostname is only resolved at delivery, so registering it succeeds...
        named = await strict.create_endpoint("acc-1", receiver.url("named", host="localhost"))
        await strict.publish(order_accepted("acc-1"))

        async def attempted() -> bool:
            return bool(
                await strict.attempts("acc-1", named["id"])
                and await strict.attempts("acc-1", literal["id"])
            )

        await eventually(attempted)
        by_name = (await strict.attempts("acc-1", named["id"]))[0]
        by_literal = (await strict.attempts("acc-1", literal["id"]))[0]

    # ...and refused when it resolves to a loopback address; nothing reached the receiver.
    assert receiver.requests == []
    assert by_name["status_code"] is None
    assert by_name["succeeded"] is False
    assert by_name["error"].startswith("destination refused: localhost resolves only to")
    assert "loopback" in by_name["error"]
    assert by_literal["error"] == "destination refused: 127.0.0.1 is loopback (127.0.0.0/8)"
