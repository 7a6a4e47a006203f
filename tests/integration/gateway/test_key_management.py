"""/api/v1/keys: an admin manages its own account's keys; changes apply at once on every gateway."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from integration.gateway.harness import Gateway, GatewayFactory, bearer, refused_soon
from tradewind.gateway.domain.auth_model import ALL_SCOPES, DEFAULT_SCOPES
from tradewind.gateway.handlers.api_keys import ApiKeyStore


@pytest.fixture
async def admin_key(keys: ApiKeyStore, account: str) -> str:
    return (await keys.create(account, ALL_SCOPES)).secret


async def _create(client: httpx.AsyncClient, admin: str, **body: object) -> dict[str, object]:
    response = await client.post("/api/v1/keys", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


async def test_a_created_key_is_shown_once_and_never_listed(
    gateway: Gateway, admin_key: str, account: str
) -> None:
    response = await gateway.client.post("/api/v1/keys", json={}, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    created = response.json()
    secret, key_id = created["api_key"], created["key_id"]
    assert secret.startswith("tw_")
    assert created["account_id"] == account
    assert created["scopes"] == sorted(DEFAULT_SCOPES)  # admin is never a default
    assert response.headers["location"] == f"/api/v1/keys/{key_id}"
    assert response.headers["cache-control"] == "no-store"

    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(secret))
    assert me.json() == {
        "account_id": account,
        "key_id": key_id,
        "scopes": sorted(DEFAULT_SCOPES),
        "credential": "api_key",
    }
    listing = await gateway.client.get("/api/v1/keys", headers=bearer(admin_key))
    assert listing.status_code == 200
    assert key_id in [k["key_id"] for k in listing.json()["data"]]
    one = await gateway.client.get(f"/api/v1/keys/{key_id}", headers=bearer(admin_key))
    assert one.status_code == 200
    for answer in (listing, one):
        assert secret not in answer.text
        assert "api_key" not in answer.text


async def test_an_admin_may_create_a_key_with_chosen_scopes(
    gateway: Gateway, admin_key: str
) -> None:
    created = await _create(gateway.client, admin_key, scopes=["market:read", "admin"])
    assert created["scopes"] == ["admin", "market:read"]
    unknown = await gateway.client.post(
        "/api/v1/keys", json={"scopes": ["root"]}, headers=bearer(admin_key)
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_revoking_a_key_refuses_it_on_every_gateway_at_once(
    gateway_factory: GatewayFactory, admin_key: str
) -> None:
    async with gateway_factory() as first, gateway_factory() as second:
        created = await _create(first.client, admin_key)
        secret, key_id = str(created["api_key"]), str(created["key_id"])
        for gateway in (first, second):
            me = await gateway.client.get("/api/v1/auth/me", headers=bearer(secret))
            assert me.status_code == 200
        revoked = await first.client.delete(f"/api/v1/keys/{key_id}", headers=bearer(admin_key))
        assert revoked.status_code == 204
        me = await first.client.get("/api/v1/auth/me", headers=bearer(secret))
        assert me.status_code == 401, me.text
        await refused_soon(second, secret, 401)
        listing = await first.client.get("/api/v1/keys", headers=bearer(admin_key))
        assert key_id not in [k["key_id"] for k in listing.json()["data"]]
        everything = await first.client.get(
            "/api/v1/keys?include_revoked=true", headers=bearer(admin_key)
        )
        [shown] = [k for k in everything.json()["data"] if k["key_id"] == key_id]
        assert shown["revoked_at"] is not None
        # Revoking again changes nothing; changing a revoked key's scopes is a conflict.
        again = await second.client.delete(f"/api/v1/keys/{key_id}", headers=bearer(admin_key))
        assert again.status_code == 204
        scopes = await second.client.put(
            f"/api/v1/keys/{key_id}/scopes", json={"scopes": []}, headers=bearer(admin_key)
        )
        assert scopes.status_code == 409


async def test_new_scopes_apply_at_once_on_every_gateway(
    gateway_factory: GatewayFactory, admin_key: str
) -> None:
    async with gateway_factory() as first, gateway_factory() as second:
        created = await _create(first.client, admin_key)
        secret, key_id = str(created["api_key"]), str(created["key_id"])
        for gateway in (first, second):
            me = await gateway.client.get("/api/v1/auth/me", headers=bearer(secret))
            assert "orders:read" in me.json()["scopes"]
        changed = await first.client.put(
            f"/api/v1/keys/{key_id}/scopes",
            json={"scopes": ["market:read"]},
            headers=bearer(admin_key),
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["scopes"] == ["market:read"]
        # The scope check comes before any upstream call: 403 needs no orders service.
        orders = await first.client.get("/api/v1/orders", headers=bearer(secret))
        assert orders.status_code == 403, orders.text
        await refused_soon(second, secret, 403, path="/api/v1/orders")


async def test_key_management_needs_the_admin_scope(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    ordinary = await keys.create(account)  # default scopes: everything but admin
    other = await keys.create(account)
    for method, path, body in (
        ("POST", "/api/v1/keys", {}),
        ("GET", "/api/v1/keys", None),
        ("GET", f"/api/v1/keys/{other.key_id}", None),
        ("PUT", f"/api/v1/keys/{other.key_id}/scopes", {"scopes": ["admin"]}),
        ("DELETE", f"/api/v1/keys/{other.key_id}", None),
    ):
        response = await gateway.client.request(
            method, path, json=body, headers=bearer(ordinary.secret)
        )
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        missing = await gateway.client.request(method, path, json=body)
        assert missing.status_code == 401, (method, path)
    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(other.secret))
    assert me.status_code == 200  # nothing was revoked


async def test_another_accounts_key_is_not_found(
    gateway: Gateway, keys: ApiKeyStore, admin_key: str, account: str
) -> None:
    theirs = await keys.create(f"{account}-other")
    for method, path, body in (
        ("GET", f"/api/v1/keys/{theirs.key_id}", None),
        ("PUT", f"/api/v1/keys/{theirs.key_id}/scopes", {"scopes": ["market:read"]}),
        ("DELETE", f"/api/v1/keys/{theirs.key_id}", None),
    ):
        response = await gateway.client.request(method, path, json=body, headers=bearer(admin_key))
        assert response.status_code == 404, (method, path, response.text)
    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(theirs.secret))
    assert me.json()["scopes"] == sorted(DEFAULT_SCOPES)


async def test_an_idempotency_key_never_keeps_a_new_keys_secret_in_redis(
    gateway: Gateway, admin_key: str, redis: Redis, namespace: str
) -> None:
    headers = {**bearer(admin_key), "Idempotency-Key": '"create-key-1"'}
    first = await gateway.client.post("/api/v1/keys", json={}, headers=headers)
    second = await gateway.client.post("/api/v1/keys", json={}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert "idempotent-replayed" not in second.headers
    assert first.json()["key_id"] != second.json()["key_id"]
    assert first.headers["ratelimit-policy"].startswith('"keys";')
    secrets = (first.json()["api_key"].encode(), second.json()["api_key"].encode())
    async for name in redis.scan_iter(match=f"{namespace}:*"):
        if await redis.type(name) == b"string":
            value = await redis.get(name)
            assert value is not None
            assert not any(secret in value for secret in secrets), name
