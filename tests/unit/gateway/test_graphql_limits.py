"""The GraphQL guards, on the real schema: what a query costs, and which queries are refused
before any resolver runs (cost, depth, aliases, tokens, introspection when turned off)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from tradewind.gateway.api.graphql.context import GraphQLContext
from tradewind.gateway.api.graphql.cost import query_cost
from tradewind.gateway.api.graphql.schema import build_schema
from tradewind.gateway.domain.auth_model import DEFAULT_SCOPES, Principal
from tradewind.gateway.settings import GatewaySettings

SCHEMA = build_schema()
GRAPHQL_SCHEMA = SCHEMA._schema


class NoReads:
    """Reads that fail the test if a refused query got as far as a resolver."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a refused query read {name}")


def _context() -> GraphQLContext:
    principal = Principal("acct", "key_1", DEFAULT_SCOPES)
    return GraphQLContext(principal, NoReads(), NoReads())  # type: ignore[arg-type]


def cost(query: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return query_cost(GRAPHQL_SCHEMA, parse(query), name, variables)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ instruments { symbol } }", 1),
        ('{ instruments { symbol } positions { symbol } quotes(symbols: ["A"]) { symbol } }', 3),
        ("{ a: instruments { symbol } b: instruments { symbol } }", 2),
        ("{ orders { edges { node { id status } } pageInfo { endCursor } } }", 1),
        # Each order of the page may read the order it replaced: 50 (the default page) more.
        ("{ orders { edges { node { replaces { id } } } } }", 51),
        ("{ orders(first: 10) { edges { node { replaces { id } replacedBy { id } } } } }", 21),
        ('{ order(id: "x") { replacedBy { replacedBy { id } } } }', 3),
        # Fragments, named or inline, count where they are spread.
        (
            "query { orders(first: 5) { edges { node { ...links } } } } "
            "fragment links on Order { replaces { id } }",
            6,
        ),
        ("{ orders(first: 5) { edges { node { ... on Order { replacedBy { id } } } } } }", 6),
        ("{ __schema { types { name fields { name } } } }", 0),
    ],
)
def test_a_query_costs_the_reads_it_may_make(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_a_page_size_given_as_a_variable_counts_with_its_value_or_its_default() -> None:
    query = "query Page($n: Int! = 20) { orders(first: $n) { edges { node { replaces { id } } } } }"
    assert cost(query, {"n": 3}) == 4
    assert cost(query) == 21


def test_the_cost_is_the_named_operations() -> None:
    document = (
        "query Cheap { instruments { symbol } } "
        "query Dear { positions { symbol } orders { edges { cursor } } }"
    )
    assert cost(document, name="Cheap") == 1
    assert cost(document, name="Dear") == 2


async def execute(query: str, settings: GatewaySettings | None = None) -> dict[str, Any]:
    schema = build_schema(settings) if settings else SCHEMA
    result = await schema.execute(query, context_value=_context())
    return {"data": result.data, "errors": [error.formatted for error in result.errors or []]}


async def test_a_query_over_the_cost_limit_is_refused_whole_before_any_read() -> None:
    answer = await execute(
        "{ instruments { symbol } orders(first: 100) { edges { node { replaces { id } } } } }"
    )
    assert answer == {
        "data": None,
        "errors": [
            {
                "message": "The query may read the services 102 times; the limit is 100. "
                "Ask for fewer items or fields.",
                "extensions": {"code": "QUERY_TOO_COSTLY", "cost": 102, "max_cost": 100},
            }
        ],
    }


async def test_the_cost_limit_is_a_setting() -> None:
    answer = await execute(
        "{ instruments { symbol } positions { symbol } }", GatewaySettings(graphql_max_cost=1)
    )
    assert answer["data"] is None
    assert answer["errors"][0]["extensions"]["cost"] == 2


async def test_a_query_deeper_than_the_limit_is_refused_before_any_read() -> None:
    # orders is at depth 0, edges 1, node 2: the id under three replacedBy is at depth 6.
    allowed = "replacedBy { " * 3 + "id" + " }" * 3
    too_deep = "replacedBy { " * 4 + "id" + " }" * 4
    ok = await execute(
        f'{{ order(id: "x") {{ id }} orders(first: 1) {{ edges {{ node {{ {allowed} }} }} }} }}',
        GatewaySettings(graphql_max_cost=1),
    )
    # Under the depth limit it got as far as the cost limit (cost 1 + 1 + 3).
    assert ok["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    refused = await execute(f"{{ orders {{ edges {{ node {{ {too_deep} }} }} }} }}")
    assert refused["data"] is None
    assert [error["message"] for error in refused["errors"]] == [
        "'anonymous' exceeds maximum operation depth of 6"
    ]


async def test_too_many_aliases_or_tokens_are_refused() -> None:
    aliases = " ".join(f"a{i}: instruments {{ symbol }}" for i in range(16))
    refused = await execute(f"{{ {aliases} }}")
    assert refused["data"] is None
    assert refused["errors"][0]["message"] == "16 aliases found. Allowed: 15"

    long_query = "{ instruments { " + " ".join(["symbol"] * 2_000) + " } }"
    refused = await execute(long_query)
    assert refused["data"] is None
    assert "more than 2000 tokens" in refused["errors"][0]["message"]


async def test_introspection_is_answered_unless_turned_off() -> None:
    query = "{ __schema { queryType { name } } }"
    assert await execute(query) == {
        "data": {"__schema": {"queryType": {"name": "Query"}}},
        "errors": [],
    }
    off = await execute(query, GatewaySettings(graphql_introspection=False))
    assert off["data"] is None
    assert "introspection" in off["errors"][0]["message"]
