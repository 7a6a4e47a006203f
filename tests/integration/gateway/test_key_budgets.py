"""A key's own rate-limit budgets are part of its record in PostgreSQL: the operator's CLI and an
admin over HTTP write them there, and every gateway's admission spends from them, whatever
Redis has forgotten, from the change on."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from integration.gateway.harness import Gateway, GatewayFactory, bearer
from support.infra import Infra
from support.polling import eventually
from tradewind.gateway.domain.auth_model import ALL_SCOPES
from tradewind.gateway.domain.rate_limits import Budget
from tradewind.gateway.handlers.api_keys import ApiKeyStore


async def _cli(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradewind.gateway.keys",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_cli_budget_is_stored_in_the_database_and_spent_by_the_gateway(
    infra: Infra,
    gateway_database: str,
    namespace: str,
    account: str,
    keys: ApiKeyStore,
    gateway: Gateway,
    redis: Redis,
) -> None:
    env = {
        "TRADEWIND_GATEWAY_DATABASE_URL": gateway_database,
        "TRADEWIND_REDIS_URL": infra.redis_url,
        "TRADEWIND_NAMESPACE": namespace,
    }
    printed = await _cli(
        env, "create", "--account", account, "--budget", "reads=2/3600", "--budget", "keys=9/60"
    )
    fields = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    record = await keys.find_key(account, fields["key_id"])
    assert record is not None
    assert set(record.rate_budgets) == {Budget("reads", 2, 3600), Budget("keys", 9, 60)}

    # Redis forgets the key's cached state: the budgets come back from PostgreSQL.
    await redis.delete(f"{namespace}:apikey:{fields['key_id']}")
    headers = {"Authorization": f"Bearer {fields['api_key']}"}
    answers = [await gateway.client.get("/api/v1/auth/me", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"reads";q=2;w=3600'
    assert answers[1].headers["ratelimit"].startswith('"reads";r=0;')


# --- over HTTP: an admin sets its keys' budgets ---------------------------------------------


@pytest.fixture
async def admin_key(keys: ApiKeyStore, account: str) -> str:
    return (await keys.create(account, ALL_SCOPES)).secret


async def _policy_becomes(gateway: Gateway, credential: str, policy: str) -> httpx.Response:
    """The first answer of ``gateway`` to the key that spends ``policy`` (a change announced
    over Redis reaches another in-process gateway when its listener next runs)."""

    async def answer() -> httpx.Response | None:
        response = await gateway.client.get("/api/v1/auth/me", headers=bearer(credential))
        return response if response.headers.get("ratelimit-policy") == policy else None

    return await eventually(answer, timeout=1.0, message=f"the policy did not become {policy}")


async def test_an_admin_creates_a_key_with_budgets_of_its_own(
    gateway: Gateway, admin_key: str, account: str, keys: ApiKeyStore
) -> None:
    body = {"rate_budgets": {"reads": {"quota": 7, "window_s": 90}, "keys": None}}
    created = await gateway.client.post("/api/v1/keys", json=body, headers=bearer(admin_key))
    assert created.status_code == 201, created.text
    key_id, secret = created.json()["key_id"], created.json()["api_key"]
    assert created.json()["rate_budgets"] == {"reads": {"quota": 7, "window_s": 90}}

    record = await keys.find_key(account, key_id)
    assert record is not None
    assert record.rate_budgets == (Budget("reads", 7, 90),)
    shown = await gateway.client.get(f"/api/v1/keys/{key_id}", headers=bearer(admin_key))
    assert shown.json()["rate_budgets"] == {"reads": {"quota": 7, "window_s": 90}}
    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(secret))
    assert me.headers["ratelimit-policy"] == '"reads";q=7;w=90'


async def test_a_budget_changed_over_http_is_spent_at_once_by_every_gateway(
    gateway_factory: GatewayFactory, admin_key: str
) -> None:
    async with gateway_factory() as first, gateway_factory() as second:
        created = await first.client.post("/api/v1/keys", json={}, headers=bearer(admin_key))
        key_id, secret = created.json()["key_id"], created.json()["api_key"]
        # The second gateway verifies the key and keeps it in memory, defaults and all.
        before = await second.client.get("/api/v1/auth/me", headers=bearer(secret))
        assert before.headers["ratelimit-policy"] == '"reads";q=200;w=60'

        changed = await first.client.patch(
            f"/api/v1/keys/{key_id}",
            json={"rate_budgets": {"reads": {"quota": 3, "window_s": 120}}},
            headers=bearer(admin_key),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["rate_budgets"] == {"reads": {"quota": 3, "window_s": 120}}

        # A new window length starts a new window: the first answer under it spent one of 3.
        first_answer = await _policy_becomes(second, secret, '"reads";q=3;w=120')
        assert first_answer.headers["ratelimit"].startswith('"reads";r=2;')
        rest = [await second.client.get("/api/v1/auth/me", headers=bearer(secret)) for _ in "abc"]
        assert [r.status_code for r in rest] == [200, 200, 429]
        assert rest[2].headers["content-type"] == "application/problem+json"
        assert int(rest[2].headers["retry-after"]) > 0

        # Null returns the budget to the gateway's default, on every gateway too.
        restored = await first.client.patch(
            f"/api/v1/keys/{key_id}",
            json={"rate_budgets": {"reads": None}},
            headers=bearer(admin_key),
        )
        assert restored.json()["rate_budgets"] == {}
        await _policy_becomes(second, secret, '"reads";q=200;w=60')


async def test_a_change_keeps_the_budgets_and_scopes_it_does_not_name(
    gateway: Gateway, admin_key: str, account: str, keys: ApiKeyStore
) -> None:
    issued = await keys.create(
        account,
        frozenset({"market:read"}),
        rate_budgets=(Budget("reads", 50, 60), Budget("orders", 10, 60)),
    )
    path = f"/api/v1/keys/{issued.key_id}"
    orders_only = {"rate_budgets": {"orders": {"quota": 20, "window_s": 30}}}
    changed = await gateway.client.patch(path, json=orders_only, headers=bearer(admin_key))
    assert changed.status_code == 200, changed.text
    assert changed.json()["scopes"] == ["market:read"]
    record = await keys.find_key(account, issued.key_id)
    assert record is not None
    assert set(record.rate_budgets) == {Budget("reads", 50, 60), Budget("orders", 20, 30)}

    scopes_only = {"scopes": ["orders:read"]}
    changed = await gateway.client.patch(path, json=scopes_only, headers=bearer(admin_key))
    assert changed.json()["scopes"] == ["orders:read"]
    assert changed.json()["rate_budgets"] == {
        "orders": {"quota": 20, "window_s": 30},
        "reads": {"quota": 50, "window_s": 60},
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate_budgets": {"trading": {"quota": 5, "window_s": 60}}}, "rate_budgets.trading"),
        ({"rate_budgets": {"orders": {"quota": 0, "window_s": 60}}}, "rate_budgets.orders.quota"),
        (
            {"rate_budgets": {"orders": {"quota": 5, "window_s": 86401}}},
            "rate_budgets.orders.window_s",
        ),
        ({"rate_budgets": {"orders": {"quota": "5", "window_s": 60}}}, "rate_budgets.orders.quota"),
    ],
)
async def test_a_budget_that_is_not_one_is_refused_with_the_field_named(
    gateway: Gateway,
    admin_key: str,
    account: str,
    keys: ApiKeyStore,
    body: dict[str, Any],
    field: str,
) -> None:
    issued = await keys.create(account)
    path = f"/api/v1/keys/{issued.key_id}"
    refused = await gateway.client.patch(path, json=body, headers=bearer(admin_key))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in refused.json()["errors"]] == [field]
    created = await gateway.client.post("/api/v1/keys", json=body, headers=bearer(admin_key))
    assert created.status_code == 422, created.text
    record = await keys.find_key(account, issued.key_id)
    assert record is not None
    assert record.rate_budgets == ()


async def test_a_revoked_key_is_not_changed(
    gateway: Gateway, admin_key: str, account: str, keys: ApiKeyStore
) -> None:
    issued = await keys.create(account)
    assert await keys.revoke(account, issued.key_id)
    body = {"rate_budgets": {"orders": {"quota": 5, "window_s": 60}}}
    answer = await gateway.client.patch(
        f"/api/v1/keys/{issued.key_id}", json=body, headers=bearer(admin_key)
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"].endswith("key-revoked")
    record = await keys.find_key(account, issued.key_id)
    assert record is not None
    assert record.rate_budgets == ()
