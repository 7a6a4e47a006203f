"""Every route of the gateway's OpenAPI document refuses whom it must, before doing anything.

The routes are enumerated from the running gateway's own document, so a route added tomorrow is
checked too: a missing, invalid or revoked key is a 401; a key without the route's scope
(``x-required-scopes``) a 403; and another account's order, endpoint, message or key a 404.

Two routes are handled here by name. ``GET /api/v1/auth/me`` takes any valid credential, whatever
its scopes (it tells the caller what they are): it is checked for 401s but has no scope to lack.
``POST /api/v1/auth/token`` is left out: it authenticates with the API key itself as an OAuth
client secret (HTTP Basic or form fields, never a bearer), and its refusals are OAuth errors
tested in tests/integration/gateway/test_token_exchange.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from support.services import free_port
from tradewind.gateway.domain.auth_model import ALL_SCOPES
from tradewind.gateway.handlers.api_keys import ApiKeyStore

pytestmark = pytest.mark.e2e

# Path parameters that name an object of one account; the others (symbol) name public data.
OWNED_IDS = ("order_id", "endpoint_id", "message_id", "key_id")
# Routes for any valid credential, whatever its scopes.
ANY_CREDENTIAL = {("get", "/api/v1/auth/me")}
# Routes that authenticate otherwise than by a bearer credential (see the module's docstring).
OWN_AUTHENTICATION = {("post", "/api/v1/auth/token")}
# The routes that change credentials: were one missing from the document, nothing here would
# check who may call it.
CREDENTIAL_CHANGES = {
    ("post", "/api/v1/keys"),
    ("patch", "/api/v1/keys/{key_id}"),
    ("put", "/api/v1/keys/{key_id}/scopes"),
    ("delete", "/api/v1/keys/{key_id}"),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    scopes: frozenset[str]
    parameters: list[dict[str, Any]]
    body: Any

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def takes_owned_id(self) -> bool:
        return any(f"{{{name}}}" in self.path for name in OWNED_IDS)

    def request(self, ids: dict[str, str]) -> tuple[str, dict[str, str], Any]:
        """URL, query and body of a request that is valid apart from who sends it."""
        path = self.path
        query: dict[str, str] = {}
        for parameter in self.parameters:
            name = parameter["name"]
            if parameter["in"] == "path":
                path = path.replace(f"{{{name}}}", ids.get(name, str(parameter["example"])))
            elif parameter["in"] == "query" and parameter.get("required"):
                query[name] = str(parameter["example"])
        return path, query, self.body


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = [
        Operation(
            method=method,
            path=path,
            scopes=frozenset(operation.get("x-required-scopes", ())),
            parameters=operation.get("parameters", []),
            body=operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("example"),
        )
        for path, by_method in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in by_method.items()
        if (method, path) not in OWN_AUTHENTICATION
    ]
    assert len(found) >= 20, "the gateway's document lost its routes"
    missing = CREDENTIAL_CHANGES - {(operation.method, operation.path) for operation in found}
    assert not missing, f"credential routes missing from the document: {missing}"
    for operation in found:
        if (operation.method, operation.path) not in ANY_CREDENTIAL:
            assert operation.scopes, f"{operation} declares no scope: it would be open to anyone"
    return found


@dataclass
class Accounts:
    store: ApiKeyStore
    owner: str  # the owner's key, every scope
    stranger: str  # another account's key, every scope
    owned: dict[str, str]  # an object of each kind the owner has: order, endpoint, message, key


@pytest.fixture(scope="module")
async def accounts(system: System) -> AsyncIterator[Accounts]:
    async with system.key_store() as store:
        owner_account = f"own-{uuid.uuid4().hex[:8]}"
        owner = (await store.create(owner_account, ALL_SCOPES)).secret
        stranger = (await store.create(f"str-{uuid.uuid4().hex[:8]}", ALL_SCOPES)).secret
        # A key of the owner's that the key routes may name (the stranger's revoke must miss it).
        owned_key = await store.create(owner_account)
        yield await _owned_objects(system, store, owner, stranger, owned_key.key_id)


async def _owned_objects(
    system: System, store: ApiKeyStore, owner: str, stranger: str, key_id: str
) -> Accounts:
    async with httpx.AsyncClient(base_url=system.gateway.url, timeout=10) as http:
        order = await http.post(
            "/api/v1/orders",
            json={"symbol": "SPY", "side": "buy", "type": "limit", "qty": "1", "limit_price": "1"},
            headers=auth(owner),
        )
        assert order.status_code == 202, order.text
        endpoint = await http.post(
            "/api/v1/webhooks/endpoints",
            # Nothing listens there: deliveries fail, which these tests do not look at.
            json={"url": f"http://127.0.0.1:{free_port()}/hook", "event_types": ["order.*"]},
            headers=auth(owner),
        )
        assert endpoint.status_code == 201, endpoint.text
        message = await http.post(
            f"/api/v1/webhooks/endpoints/{endpoint.json()['id']}/test", headers=auth(owner)
        )
        assert message.status_code == 202, message.text
    return Accounts(
        store,
        owner,
        stranger,
        {
            "order_id": order.json()["id"],
            "endpoint_id": endpoint.json()["id"],
            "message_id": message.json()["message_id"],
            "key_id": key_id,
        },
    )


@pytest.fixture(scope="module")
async def operations(system: System) -> list[Operation]:
    async with httpx.AsyncClient(base_url=system.gateway.url, timeout=10) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    return _operations(response.json())


async def _send(
    client: httpx.AsyncClient,
    operation: Operation,
    ids: dict[str, str],
    headers: dict[str, str],
) -> httpx.Response:
    path, query, body = operation.request(ids)
    return await client.request(operation.method, path, params=query, json=body, headers=headers)


def _assert_problem(response: httpx.Response, status: int, operation: Operation) -> None:
    assert response.status_code == status, f"{operation}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json", str(operation)
    assert response.json()["status"] == status


async def test_every_route_refuses_a_missing_or_invalid_key(
    client: httpx.AsyncClient, operations: list[Operation], accounts: Accounts
) -> None:
    refusals = {
        "no header": {},
        "no key": {"Authorization": "Bearer"},
        "another scheme": {"Authorization": f"Basic {accounts.owner}"},
        "unknown key": auth("tw_" + uuid.uuid4().hex),
    }
    for operation in operations:
        for why, headers in refusals.items():
            response = await _send(client, operation, accounts.owned, headers)
            _assert_problem(response, 401, operation)
            assert response.headers["www-authenticate"].startswith("Bearer"), why


async def test_every_route_refuses_a_revoked_key(
    client: httpx.AsyncClient, operations: list[Operation], accounts: Accounts
) -> None:
    account = f"rev-{uuid.uuid4().hex[:8]}"
    issued = await accounts.store.create(account)
    # Used once, so the gateway holds it as verified: revocation must reach that too.
    used = await client.get("/api/v1/orders", headers=auth(issued.secret))
    assert used.status_code == 200, used.text
    assert await accounts.store.revoke(account, issued.key_id)
    for operation in operations:
        response = await _send(client, operation, accounts.owned, auth(issued.secret))
        _assert_problem(response, 401, operation)


async def test_every_route_refuses_a_key_without_its_scope(
    client: httpx.AsyncClient, operations: list[Operation], accounts: Accounts
) -> None:
    account = f"scp-{uuid.uuid4().hex[:8]}"
    keys: dict[frozenset[str], str] = {}
    for operation in operations:
        if not operation.scopes:
            continue  # any credential (ANY_CREDENTIAL)
        if operation.scopes not in keys:
            others = ALL_SCOPES - operation.scopes
            keys[operation.scopes] = (await accounts.store.create(account, others)).secret
        response = await _send(client, operation, accounts.owned, auth(keys[operation.scopes]))
        _assert_problem(response, 403, operation)
        assert sorted(operation.scopes)[0] in response.json()["detail"]


async def test_every_route_taking_an_object_id_hides_other_accounts_objects(
    client: httpx.AsyncClient, operations: list[Operation], accounts: Accounts
) -> None:
    owned = [operation for operation in operations if operation.takes_owned_id]
    assert len(owned) >= 10
    for operation in owned:
        response = await _send(client, operation, accounts.owned, auth(accounts.stranger))
        _assert_problem(response, 404, operation)
    # The same reads by the owner find the objects: the 404s were about whose they are.
    for operation in owned:
        if operation.method == "get":
            response = await _send(client, operation, accounts.owned, auth(accounts.owner))
            assert response.status_code == 200, f"{operation}: {response.text}"
