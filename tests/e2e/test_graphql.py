"""POST /graphql against the running system: own orders only, page by page; the REST scopes per
field; the 401 problem and the reads rate limit before any parsing; depth and cost limits.

Each test has accounts of its own, so what a connection lists is exactly what the test placed.
Orders rest (a buy limit far under the market), so nothing changes while the test reads them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from e2e.harness import System, auth
from support.polling import eventually
from tradewind.gateway.domain.rate_limits import Budget

pytestmark = pytest.mark.e2e

ORDERS_PAGE = """
query Orders($first: Int!, $after: String, $symbol: String, $status: OrderStatusFilter! = ALL) {
  orders(first: $first, after: $after, symbol: $symbol, status: $status) {
    edges { cursor node { id symbol status qty limitPrice } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass(frozen=True)
class Account:
    name: str
    key: str


async def _account(system: System, scopes: frozenset[str] | None = None) -> Account:
    name = f"gql-{uuid.uuid4().hex[:8]}"
    issued = await (system.create_key(name) if scopes is None else system.create_key(name, scopes))
    return Account(name, issued.secret)


async def graphql(
    client: httpx.AsyncClient, key: str, query: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def _resting_order(client: httpx.AsyncClient, key: str, symbol: str) -> str:
    response = await client.post(
        "/api/v1/orders",
        json={
            "symbol": symbol,
            "side": "buy",
            "type": "limit",
            "qty": "1",
            "limit_price": "1.00",
            "time_in_force": "gtc",
        },
        headers=auth(key),
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def _listed(client: httpx.AsyncClient, key: str, count: int) -> list[dict[str, Any]]:
    """The account's orders once the orders service has decided all ``count`` of them."""

    async def probe() -> list[dict[str, Any]] | None:
        body = await graphql(client, key, ORDERS_PAGE, first=50)
        assert "errors" not in body, body
        nodes = [edge["node"] for edge in body["data"]["orders"]["edges"]]
        return nodes if len(nodes) == count and all(n["status"] == "NEW" for n in nodes) else None

    return await eventually(probe, timeout=30, message=f"{count} orders never listed as NEW")


@pytest.fixture
async def alice(system: System, client: httpx.AsyncClient) -> tuple[Account, list[str]]:
    """An account with three resting orders (AAPL, MSFT, AAPL, placed in that order). Each is
    placed once the previous one is stored: the orders service dates an order when it decides
    it, and the connection lists newest first."""
    account = await _account(system)
    placed = []
    for symbol in ("AAPL", "MSFT", "AAPL"):
        placed.append(await _resting_order(client, account.key, symbol))
        await _listed(client, account.key, len(placed))
    return account, placed


async def test_orders_are_paged_newest_first_by_cursor_and_filtered(
    client: httpx.AsyncClient, alice: tuple[Account, list[str]]
) -> None:
    account, placed = alice
    first = await graphql(client, account.key, ORDERS_PAGE, first=2)
    page = first["data"]["orders"]
    assert [edge["node"]["id"] for edge in page["edges"]] == placed[::-1][:2]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["edges"][1]["node"] == {
        "id": placed[1],
        "symbol": "MSFT",
        "status": "NEW",
        "qty": "1",
        "limitPrice": "1.00",
    }

    rest = await graphql(
        client, account.key, ORDERS_PAGE, first=2, after=page["pageInfo"]["endCursor"]
    )
    assert [edge["node"]["id"] for edge in rest["data"]["orders"]["edges"]] == [placed[0]]
    assert rest["data"]["orders"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest["data"]["orders"]["edges"][0]["cursor"],
    }
    # After the first edge of the first page: the second and third orders.
    after_first_edge = await graphql(
        client, account.key, ORDERS_PAGE, first=5, after=page["edges"][0]["cursor"]
    )
    assert [e["node"]["id"] for e in after_first_edge["data"]["orders"]["edges"]] == [
        placed[1],
        placed[0],
    ]

    aapl = await graphql(client, account.key, ORDERS_PAGE, first=10, symbol="aapl")
    assert [e["node"]["id"] for e in aapl["data"]["orders"]["edges"]] == [placed[2], placed[0]]
    closed = await graphql(client, account.key, ORDERS_PAGE, first=10, status="CLOSED")
    assert closed["data"]["orders"]["edges"] == []


async def test_an_account_never_reads_another_accounts_orders(
    system: System, client: httpx.AsyncClient, alice: tuple[Account, list[str]]
) -> None:
    account, placed = alice
    bob = await _account(system)
    own = await _resting_order(client, bob.key, "AAPL")
    await _listed(client, bob.key, 1)

    query = "query($id: ID!) { order(id: $id) { id symbol } }"
    theirs = await graphql(client, bob.key, query, id=placed[0])
    assert theirs == {"data": {"order": None}}
    mine = await graphql(client, bob.key, query, id=own)
    assert mine == {"data": {"order": {"id": own, "symbol": "AAPL"}}}
    listed = await graphql(client, bob.key, ORDERS_PAGE, first=50)
    assert [e["node"]["id"] for e in listed["data"]["orders"]["edges"]] == [own]
    # The account is the credential's: a query cannot name another.
    named = await client.post(
        "/graphql",
        json={"query": f'{{ orders(accountId: "{account.name}") {{ edges {{ cursor }} }} }}'},
        headers=auth(bob.key),
    )
    assert named.json()["data"] is None
    assert "accountId" in named.json()["errors"][0]["message"]


async def test_each_field_needs_the_scope_of_its_rest_route(
    system: System, client: httpx.AsyncClient
) -> None:
    market_only = await _account(system, frozenset({"market:read"}))
    body = await graphql(
        client,
        market_only.key,
        "{ orders(first: 1) { edges { cursor } } positions { symbol } instruments { symbol } }",
    )
    assert body["data"]["orders"] is None
    assert body["data"]["positions"] is None
    assert "AAPL" in {instrument["symbol"] for instrument in body["data"]["instruments"]}
    refused = {tuple(e["path"]): e["extensions"] for e in body["errors"]}
    assert refused[("orders",)]["code"] == "FORBIDDEN"
    assert refused[("orders",)]["scope"] == "orders:read"
    assert refused[("positions",)]["scope"] == "positions:read"
    assert len(body["errors"]) == 2

    writer = await _account(system, frozenset({"orders:write"}))
    nothing = await graphql(client, writer.key, '{ instruments { symbol } order(id: "x") { id } }')
    assert nothing["data"] == {"instruments": None, "order": None}
    assert {e["extensions"]["code"] for e in nothing["errors"]} == {"FORBIDDEN"}


async def test_credentials_and_the_rate_limit_are_checked_as_on_rest_routes(
    system: System, client: httpx.AsyncClient
) -> None:
    query = {"query": "{ instruments { symbol } }"}
    missing = await client.post("/graphql", json=query)
    wrong = await client.post("/graphql", json=query, headers=auth("tw_not_a_key"))
    for response in (missing, wrong):
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer realm="tradewind"'
        assert response.json()["type"] == "urn:tradewind:problem:unauthorized"

    name = f"gql-{uuid.uuid4().hex[:8]}"
    async with system.key_store() as store:
        issued = await store.create(name, rate_budgets=(Budget("reads", 2, 3600),))
    answers = [
        await client.post("/graphql", json=query, headers=auth(issued.secret)) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit"].startswith('"reads";r=1;')
    assert answers[2].headers["content-type"] == "application/problem+json"
    assert int(answers[2].headers["retry-after"]) > 0


async def test_too_deep_or_too_costly_queries_are_refused_before_any_read(
    system: System, client: httpx.AsyncClient
) -> None:
    account = await _account(system)
    chain = "replacedBy { " * 4 + "id" + " }" * 4
    deep = f"{{ orders {{ edges {{ node {{ {chain} }} }} }} }}"
    body = await graphql(client, account.key, deep)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "'anonymous' exceeds maximum operation depth of 6"

    costly = "{ orders(first: 100) { edges { node { replaces { id } replacedBy { id } } } } }"
    body = await graphql(client, account.key, costly)
    assert body == {
        "data": None,
        "errors": [
            {
                "message": "The query may read the services 201 times; the limit is 100. "
                "Ask for fewer items or fields.",
                "extensions": {"code": "QUERY_TOO_COSTLY", "cost": 201, "max_cost": 100},
            }
        ],
    }
    many = "{ " + " ".join(f"a{i}: instruments {{ symbol }}" for i in range(16)) + " }"
    body = await graphql(client, account.key, many)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"]


async def test_market_data_reads(system: System, client: httpx.AsyncClient) -> None:
    account = await _account(system)
    body = await graphql(
        client,
        account.key,
        """{ instrument(symbol: "aapl") { symbol tickSize lotSize currency }
             missing: instrument(symbol: "NOPE") { symbol }
             quotes(symbols: ["AAPL"]) { symbol bidPrice askPrice }
             bars(symbol: "AAPL", timeframe: ONE_MINUTE, first: 5) {
               edges { cursor node { time open close } } pageInfo { hasNextPage } } }""",
    )
    assert "errors" not in body, body
    assert body["data"]["instrument"]["symbol"] == "AAPL"
    assert body["data"]["missing"] is None
    assert all(quote["symbol"] == "AAPL" for quote in body["data"]["quotes"])
    assert len(body["data"]["bars"]["edges"]) <= 5
