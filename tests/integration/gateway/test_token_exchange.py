"""POST /api/v1/auth/token: an API key buys a short-lived JWT accepted like the key itself."""

from __future__ import annotations

import time

import httpx
import jwt

from integration.gateway.harness import (
    SIGNING_KEY,
    Gateway,
    GatewayFactory,
    bearer,
    refused_soon,
)
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES, IssuedKey
from tradewind.gateway.domain.tokens import TokenSigner
from tradewind.gateway.handlers.api_keys import ApiKeyStore

TOKEN = "/api/v1/auth/token"
GRANT = {"grant_type": "client_credentials"}


async def _token(client: httpx.AsyncClient, key: IssuedKey, **extra: str) -> str:
    response = await client.post(TOKEN, data={**GRANT, "client_secret": key.secret, **extra})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == error


async def test_a_key_buys_a_token_accepted_like_the_key(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    response = await gateway.client.post(TOKEN, data={**GRANT, "client_secret": key.secret})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == gateway.settings.token_ttl_s == 900
    assert body["scope"] == " ".join(sorted(DEFAULT_SCOPES))
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == account
    assert claims["key_id"] == key.key_id
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]

    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == {
        "account_id": account,
        "key_id": key.key_id,
        "scopes": sorted(DEFAULT_SCOPES),
        "credential": "access_token",
    }


async def test_the_key_may_come_by_http_basic_with_its_id(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    response = await gateway.client.post(TOKEN, data=GRANT, auth=(key.key_id, key.secret))
    assert response.status_code == 200, response.text
    wrong_id = await gateway.client.post(
        TOKEN, data=GRANT, auth=("key_0000000000000000", key.secret)
    )
    _oauth_error(wrong_id, 401, "invalid_client")
    assert wrong_id.headers["www-authenticate"].startswith("Basic")


async def test_a_token_may_carry_fewer_scopes_never_more(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account, frozenset({"market:read", "orders:read"}))
    token = await _token(gateway.client, key, scope="market:read")
    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.json()["scopes"] == ["market:read"]
    orders = await gateway.client.get("/api/v1/orders", headers=bearer(token))
    assert orders.status_code == 403
    more = await gateway.client.post(
        TOKEN, data={**GRANT, "client_secret": key.secret, "scope": "orders:write"}
    )
    _oauth_error(more, 400, "invalid_scope")


async def test_bad_client_credentials_are_invalid_client(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    wrong = await gateway.client.post(TOKEN, data={**GRANT, "client_secret": key.secret + "x"})
    _oauth_error(wrong, 401, "invalid_client")
    missing = await gateway.client.post(TOKEN, data=GRANT)
    _oauth_error(missing, 401, "invalid_client")
    token = await _token(gateway.client, key)
    # A token cannot buy another token.
    again = await gateway.client.post(TOKEN, data={**GRANT, "client_secret": token})
    _oauth_error(again, 401, "invalid_client")


async def test_malformed_token_requests_are_invalid_request_or_unsupported_grant(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    secret = {"client_secret": key.secret}
    cases = [
        (gateway.client.post(TOKEN, json={**GRANT, **secret}), 400, "invalid_request"),
        (gateway.client.post(TOKEN, data=secret), 400, "invalid_request"),
        (
            gateway.client.post(TOKEN, data={"grant_type": "password", **secret}),
            400,
            "unsupported_grant_type",
        ),
        (
            gateway.client.post(TOKEN, data={**GRANT, **secret}, auth=(key.key_id, key.secret)),
            400,
            "invalid_request",
        ),
        (
            gateway.client.post(
                TOKEN,
                content=f"grant_type=client_credentials&grant_type=x&client_secret={key.secret}",
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
            400,
            "invalid_request",
        ),
    ]
    for request, status, error in cases:
        _oauth_error(await request, status, error)


async def test_an_expired_or_forged_token_is_refused(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    an_hour_ago = TokenSigner(SIGNING_KEY.encode(), ttl_s=900, clock=lambda: time.time() - 3600)
    expired = an_hour_ago.issue(account, key.key_id, DEFAULT_SCOPES).token
    forged = TokenSigner(b"another-signing-key-0123456789abcdef", ttl_s=900).issue(
        account, key.key_id, DEFAULT_SCOPES
    )
    other_account = TokenSigner(SIGNING_KEY.encode(), ttl_s=900).issue(
        f"{account}-other", key.key_id, DEFAULT_SCOPES
    )
    for token in (expired, forged.token, other_account.token):
        response = await gateway.client.get("/api/v1/auth/me", headers=bearer(token))
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    fresh = TokenSigner(SIGNING_KEY.encode(), ttl_s=900).issue(account, key.key_id, DEFAULT_SCOPES)
    assert (await gateway.client.get("/api/v1/auth/me", headers=bearer(fresh.token))).is_success


async def test_revoking_the_key_ends_its_tokens_on_every_gateway(
    gateway_factory: GatewayFactory, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    async with gateway_factory() as first, gateway_factory() as second:
        token = await _token(first.client, key)
        for gateway in (first, second):
            me = await gateway.client.get("/api/v1/auth/me", headers=bearer(token))
            assert me.status_code == 200
        assert await keys.revoke(account, key.key_id)
        for gateway in (first, second):
            await refused_soon(gateway, token, 401)


async def test_scopes_taken_from_the_key_are_gone_from_its_tokens(
    gateway: Gateway, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    token = await _token(gateway.client, key)
    await keys.set_scopes(account, key.key_id, frozenset({"market:read"}))
    me = await gateway.client.get("/api/v1/auth/me", headers=bearer(token))
    assert me.json()["scopes"] == ["market:read"]


async def test_without_a_signing_key_there_is_no_token_exchange(
    gateway_factory: GatewayFactory, keys: ApiKeyStore, account: str
) -> None:
    key = await keys.create(account)
    async with gateway_factory(token_signing_key=None) as gateway:
        response = await gateway.client.post(TOKEN, data={**GRANT, "client_secret": key.secret})
        _oauth_error(response, 503, "temporarily_unavailable")
        token = TokenSigner(SIGNING_KEY.encode(), ttl_s=900).issue(
            account, key.key_id, DEFAULT_SCOPES
        )
        me = await gateway.client.get("/api/v1/auth/me", headers=bearer(token.token))
        assert me.status_code == 401
