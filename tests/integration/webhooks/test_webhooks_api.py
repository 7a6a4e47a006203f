"""The internal API against a real database: endpoint management, validation and isolation."""

from __future__ import annotations

from typing import Any

import pytest

from integration.webhooks.conftest import ServiceFactory
from integration.webhooks.harness import Receiver, Service, always, order_accepted
from support.polling import eventually

BASE = "/internal/v1/accounts/{account}/webhooks"


def path(account: str, suffix: str = "") -> str:
    return BASE.format(account=account) + suffix


async def test_endpoint_lifecycle(service: Service, receiver: Receiver) -> None:
    created = await service.create_endpoint(
        "acc-1", receiver.url("hook"), description="orders", event_types=["order.*"]
    )
    assert created["id"].startswith("ep_")
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    assert created["health"]["circuit"] == "closed"
    endpoint_path = path("acc-1", f"/endpoints/{created['id']}")

    fetched = (await service.api.get(endpoint_path)).json()
    assert "secret" not in fetched
    assert fetched["event_types"] == ["order.*"]

    patched = await service.api.patch(
        endpoint_path, json={"description": "all", "event_types": ["*"], "enabled": False}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["disabled_reason"] == "disabled by the account"
    assert patched.json()["event_types"] == ["*"]

    listed = (await service.api.get(path("acc-1", "/endpoints"))).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]]

    deleted = await service.api.delete(endpoint_path)
    assert deleted.status_code == 204
    missing = await service.api.get(endpoint_path)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_rotation_returns_a_new_secret_once(service: Service, receiver: Receiver) -> None:
    created = await service.create_endpoint("acc-1", receiver.url("hook"))
    rotated = await service.api.post(path("acc-1", f"/endpoints/{created['id']}/rotate-secret"))
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    assert body["previous_secret_expires_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "http://10.0.0.5/hook"}, "url"),
        ({"url": "http://169.254.169.254/latest"}, "url"),
        ({"url": "https://example.com/", "event_types": ["order.*x"]}, "event_types"),
        ({"url": "https://example.com/", "unknown": 1}, "unknown"),
        ({"url": "https://example.com/", "description": "x" * 501}, "description"),
    ],
)
async def test_invalid_endpoints_are_rejected_naming_the_field(
    service: Service, body: dict[str, Any], field: str
) -> None:
    response = await service.api.post(path("acc-1", "/endpoints"), json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "urn:tradewind:problem:validation-error"
    assert [error["field"] for error in problem["errors"]] == [field]


async def test_https_only_refuses_plain_http(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    async with service_factory(https_only=True) as strict:
        response = await strict.api.post(
            path("acc-1", "/endpoints"), json={"url": receiver.url("hook")}
        )
    assert response.status_code == 422
    assert "only https" in response.json()["errors"][0]["message"]


async def test_patch_validates_url_and_refuses_nulls(service: Service, receiver: Receiver) -> None:
    created = await service.create_endpoint("acc-1", receiver.url("hook"))
    endpoint_path = path("acc-1", f"/endpoints/{created['id']}")
    private = await service.api.patch(endpoint_path, json={"url": "http://192.168.1.1/"})
    assert private.status_code == 422
    assert "private" in private.json()["errors"][0]["message"]
    nulls = await service.api.patch(endpoint_path, json={"url": None})
    assert nulls.status_code == 422


async def test_endpoint_limit_per_account(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    async with service_factory(max_endpoints_per_account=2) as limited:
        for _ in range(2):
            await limited.create_endpoint("acc-1", receiver.url("hook"))
        third = await limited.api.post(
            path("acc-1", "/endpoints"), json={"url": receiver.url("hook")}
        )
        assert third.status_code == 409
        other_account = await limited.api.post(
            path("acc-2", "/endpoints"), json={"url": receiver.url("hook")}
        )
        assert other_account.status_code == 201


async def test_accounts_never_see_each_others_endpoints_or_attempts(
    service: Service, receiver: Receiver
) -> None:
    mine = await service.create_endpoint("acc-a", receiver.url("a"))
    theirs = await service.create_endpoint("acc-b", receiver.url("b"))
    await service.publish(order_accepted("acc-a"))
    await service.publish(order_accepted("acc-b"))

    async def both_attempted() -> bool:
        return bool(
            await service.attempts("acc-a", mine["id"])
            and await service.attempts("acc-b", theirs["id"])
        )

    await eventually(both_attempted, message="deliveries not attempted")
    assert len(receiver.at("a")) == 1
    assert len(receiver.at("b")) == 1  # acc-a's event never reaches acc-b's endpoint

    foreign = f"/endpoints/{theirs['id']}"
    message_id = (await service.attempts("acc-b", theirs["id"]))[0]["message_id"]
    requests = [
        ("GET", foreign, None),
        ("PATCH", foreign, {"description": "mine now"}),
        ("DELETE", foreign, None),
        ("POST", f"{foreign}/rotate-secret", None),
        ("POST", f"{foreign}/test", None),
        ("GET", f"{foreign}/attempts", None),
        ("POST", f"{foreign}/recover", {"since": "2020-01-01T00:00:00Z"}),
        ("POST", f"{foreign}/messages/{message_id}/resend", None),
        ("GET", f"/messages/{message_id}/attempts", None),
        # acc-a's own endpoint, but acc-b's message
        ("POST", f"/endpoints/{mine['id']}/messages/{message_id}/resend", None),
    ]
    for method, suffix, body in requests:
        response = await service.api.request(method, path("acc-a", suffix), json=body)
        assert response.status_code == 404, (method, suffix, response.text)

    listed = (await service.api.get(path("acc-a", "/endpoints"))).json()["items"]
    assert [e["id"] for e in listed] == [mine["id"]]
    own_attempts = await service.attempts("acc-a", mine["id"])
    assert {a["endpoint_id"] for a in own_attempts} == {mine["id"]}
    # The other account's endpoint is untouched.
    still_there = await service.api.get(path("acc-b", foreign))
    assert still_there.json()["description"] == ""


async def test_operator_sees_any_endpoints_attempts(service: Service, receiver: Receiver) -> None:
    endpoint = await service.create_endpoint("acc-1", receiver.url("hook"))
    await service.publish(order_accepted("acc-1"))
    await eventually(lambda: service.attempts("acc-1", endpoint["id"]))
    operator = f"/internal/v1/operator/webhooks/endpoints/{endpoint['id']}"
    attempts = (await service.api.get(f"{operator}/attempts")).json()["items"]
    assert len(attempts) == 1
    assert attempts[0]["status_code"] == 200
    assert (await service.api.get(operator)).json()["id"] == endpoint["id"]
    assert (await service.api.get(operator.replace(endpoint["id"], "ep_nope"))).status_code == 404


async def test_attempts_are_paged_newest_first(
    service_factory: ServiceFactory, receiver: Receiver
) -> None:
    receiver.on("hook", always(500))
    async with service_factory(retry_schedule="50ms,50ms,50ms,50ms") as fast:
        endpoint = await fast.create_endpoint("acc-1", receiver.url("hook"))
        await fast.publish(order_accepted("acc-1"))
        attempts_path = path("acc-1", f"/endpoints/{endpoint['id']}/attempts")

        async def five_attempts() -> bool:
            return len((await fast.api.get(attempts_path)).json()["items"]) == 5

        await eventually(five_attempts)
        first = (await fast.api.get(attempts_path, params={"limit": 2})).json()
        assert [a["attempt_number"] for a in first["items"]] == [5, 4]
        second = (
            await fast.api.get(attempts_path, params={"limit": 2, "before": first["next_before"]})
        ).json()
        assert [a["attempt_number"] for a in second["items"]] == [3, 2]
        failed_only = (await fast.api.get(attempts_path, params={"succeeded": "false"})).json()
        assert len(failed_only["items"]) == 5
