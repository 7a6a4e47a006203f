"""The direct order entry answers exactly as FastAPI's own route would, for POST /api/v1/orders.

The same route (the gateway's real ``place_order``) is served by two apps built by the same
factory, one with ``DirectOrderEntry`` as its innermost layer and one without; every request of
the corpus goes to both, under every admission outcome, and the answers (status, headers, body),
what reached the broker, the pending views, the admissions run and the answers stored for an
Idempotency-Key must be the same. A request the layer hands to the route must not be admitted
twice: the budget would count it twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from support.gateway_runtime import partial_runtime
from tradewind.common.app import create_service_app, runtime_lifespan
from tradewind.common.broker import BrokerUnavailable
from tradewind.common.envelope import CloudEvent, EncodedEvent
from tradewind.common.health import Readiness
from tradewind.common.settings import SharedSettings
from tradewind.gateway.adapters.credentials import Credentials
from tradewind.gateway.adapters.key_states import KeyState, SharedKeyCache
from tradewind.gateway.api import admission
from tradewind.gateway.api.admission import Outcome, Reservation
from tradewind.gateway.api.direct_orders import direct_order_entry
from tradewind.gateway.api.idempotency import IdempotentRequest, StoredResponse
from tradewind.gateway.api.orders import PROBLEM_RESPONSES, list_orders, place_order
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.auth_model import Principal, key_digest, key_id_of
from tradewind.gateway.domain.rate_limits import Budget, BudgetName, Usage
from tradewind.gateway.domain.schemas import Order, OrderPage
from tradewind.gateway.handlers.api_keys import ApiKeyStore
from tradewind.gateway.settings import GatewaySettings

WRITER, READER = "tw_writer", "tw_reader"
LIMIT = {"symbol": "AAPL", "side": "buy", "type": "limit", "qty": "10", "limit_price": "150.25"}


class KeyRecords:
    """The shared key cache as ApiKeyStore reads it: one lookup per key."""

    def __init__(self) -> None:
        self.states = {}
        for secret, scopes in ((WRITER, {"orders:write"}), (READER, {"orders:read"})):
            digest = key_digest(secret)
            key_id = key_id_of(digest)
            principal = Principal(account_id="alice", key_id=key_id, scopes=frozenset(scopes))
            self.states[key_id] = KeyState(1, digest, principal)

    async def get(self, key_id: str) -> KeyState | None:
        return self.states.get(key_id)


class NoCredentials:
    """The database behind the cache: nothing the cache does not hold."""

    async def find(self, key_id: str) -> None:
        return None


class Broker:
    def __init__(self) -> None:
        self.commands: list[CloudEvent] = []
        self.down = False

    async def publish_command(
        self, command: CloudEvent | EncodedEvent, *, priority: int | None = None
    ) -> None:
        if self.down:
            raise BrokerUnavailable("connection refused")
        self.commands.append(CloudEvent.from_json(command.to_json()))


class PendingViews:
    def __init__(self) -> None:
        self.views: dict[str, str | bytes] = {}

    async def remember(self, account_id: str, order_id: UUID, view: str | bytes) -> None:
        self.views[f"{account_id}:{order_id}"] = view


STORED = StoredResponse(201, ((b"content-type", b"application/json"),), b'{"first": true}')


class Budgets:
    """Admission as the routes see it, without Redis: each run counted, its outcome by ``mode``
    (``grant``, ``refuse``, or for a request with an Idempotency-Key ``stored``, ``in-flight``,
    ``reused``); a granted idempotent request reserves its key, and its answer is recorded."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.used = 0
        self.routed = 0  # requests that reached the route itself
        self.settled: list[tuple[str, int | None]] = []

    async def admit(
        self, principal: Principal, name: BudgetName, request: IdempotentRequest | None
    ) -> Outcome:
        self.used += 1
        granted = self.mode != "refuse"
        usage = Usage(Budget(name, 100, 60), granted, 100 - self.used, 30_000)
        if not granted or request is None:
            return Outcome(usage)
        if self.mode == "grant":
            return Outcome(usage, "reserved", reservation=Reservation("record", "token"))
        return Outcome(usage, self.mode, STORED if self.mode == "stored" else None)

    async def complete(self, reservation: Reservation, response: StoredResponse) -> bool:
        self.settled.append(("complete", response.status))
        return True

    async def release(self, reservation: Reservation) -> None:
        self.settled.append(("release", None))


def orders_app(*, direct: bool, mode: str) -> tuple[FastAPI, Broker, PendingViews, Budgets]:
    router = APIRouter(prefix="/api/v1/orders")
    router.add_api_route(
        "",
        place_order,
        methods=["POST"],
        status_code=202,
        response_model=Order,
        responses=PROBLEM_RESPONSES,
    )
    router.add_api_route("", list_orders, methods=["GET"], response_model=OrderPage)
    broker, pending, budgets = Broker(), PendingViews(), Budgets(mode)

    @asynccontextmanager
    async def bootstrap(readiness: Readiness) -> AsyncIterator[GatewayRuntime]:
        yield partial_runtime(
            api_keys=ApiKeyStore(
                cast(Credentials, NoCredentials()), cast(SharedKeyCache, KeyRecords())
            ),
            broker=broker,
            pending_orders=pending,
            admission=budgets,
        )

    app = create_service_app(
        service="test",
        title="t",
        version="0",
        shared=SharedSettings(max_request_bytes=2_048),
        lifespan=runtime_lifespan(bootstrap),
        routers=[router],
    )
    place = next(r for r in router.routes if isinstance(r, APIRoute) and r.methods == {"POST"})
    if direct:  # where the gateway's app puts it: innermost, admission outside it
        app.user_middleware.append(direct_order_entry(place))
    admission.install(app, GatewaySettings())
    handle = place.handle

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        budgets.routed += 1
        await handle(scope, receive, send)

    place.handle = counted  # type: ignore[method-assign]
    return app, broker, pending, budgets


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


JSON = {"content-type": "application/json"}
CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("valid limit", {**auth(WRITER), **JSON}, json.dumps(LIMIT).encode()),
    (
        "valid stop_limit, lower-case symbol, client order id",
        {**auth(WRITER), **JSON},
        json.dumps(
            {
                "symbol": " msft ",
                "side": "sell",
                "type": "stop_limit",
                "qty": "1.5",
                "limit_price": "99",
                "stop_price": "100",
                "time_in_force": "gtc",
                "client_order_id": "c-1",
            }
        ).encode(),
    ),
    (
        "valid market",
        {**auth(WRITER), **JSON},
        b'{"symbol":"SPY","side":"buy","type":"market","qty":"3"}',
    ),
    ("qty zero", {**auth(WRITER), **JSON}, json.dumps({**LIMIT, "qty": "0"}).encode()),
    ("qty a float", {**auth(WRITER), **JSON}, json.dumps({**LIMIT, "qty": 1.5}).encode()),
    (
        "limit without price",
        {**auth(WRITER), **JSON},
        json.dumps({**LIMIT, "limit_price": None}).encode(),
    ),
    (
        "market with price",
        {**auth(WRITER), **JSON},
        json.dumps({**LIMIT, "type": "market"}).encode(),
    ),
    (
        "bad enums",
        {**auth(WRITER), **JSON},
        json.dumps({**LIMIT, "side": "hold", "time_in_force": "forever"}).encode(),
    ),
    ("fields missing", {**auth(WRITER), **JSON}, b'{"symbol": "AAPL"}'),
    ("unknown field", {**auth(WRITER), **JSON}, json.dumps({**LIMIT, "surprise": 1}).encode()),
    ("NaN", {**auth(WRITER), **JSON}, json.dumps({**LIMIT, "qty": "NaN"}).encode()),
    ("malformed JSON", {**auth(WRITER), **JSON}, b'{"symbol": "AAPL",'),
    ("truncated literal", {**auth(WRITER), **JSON}, b"nul"),
    ("nested past the recursion limit", {**auth(WRITER), **JSON}, b"[" * 1_020 + b"]" * 1_020),
    ("a list", {**auth(WRITER), **JSON}, b"[]"),
    ("a string", {**auth(WRITER), **JSON}, b'"order"'),
    ("a number", {**auth(WRITER), **JSON}, b"1"),
    ("null", {**auth(WRITER), **JSON}, b"null"),
    ("empty body", {**auth(WRITER), **JSON}, b""),
    ("not UTF-8", {**auth(WRITER), **JSON}, b'{"symbol": "\xff"}'),
    ("UTF-16", {**auth(WRITER), **JSON}, json.dumps(LIMIT).encode("utf-16")),
    ("no content type", auth(WRITER), json.dumps(LIMIT).encode()),
    ("text/plain", {**auth(WRITER), "content-type": "text/plain"}, json.dumps(LIMIT).encode()),
    (
        "a form",
        {**auth(WRITER), "content-type": "application/x-www-form-urlencoded"},
        b"symbol=AAPL&side=buy",
    ),
    (
        "json with charset",
        {**auth(WRITER), "content-type": "application/json; charset=utf-8"},
        json.dumps(LIMIT).encode(),
    ),
    (
        "+json",
        {**auth(WRITER), "content-type": "application/vnd.order+json"},
        json.dumps(LIMIT).encode(),
    ),
    (
        "upper case",
        {**auth(WRITER), "content-type": "APPLICATION/JSON"},
        json.dumps(LIMIT).encode(),
    ),
    ("no slash", {**auth(WRITER), "content-type": "json"}, json.dumps(LIMIT).encode()),
    (
        "two slashes",
        {**auth(WRITER), "content-type": "application/json/x"},
        json.dumps(LIMIT).encode(),
    ),
    ("no key", JSON, json.dumps(LIMIT).encode()),
    ("basic auth", {"authorization": "Basic abc", **JSON}, json.dumps(LIMIT).encode()),
    ("empty bearer", {"authorization": "Bearer  ", **JSON}, json.dumps(LIMIT).encode()),
    ("unknown key", {**auth("tw_nope"), **JSON}, json.dumps(LIMIT).encode()),
    ("read-only key", {**auth(READER), **JSON}, json.dumps(LIMIT).encode()),
    ("no key and malformed JSON", JSON, b"{"),
    ("no key and invalid fields", JSON, json.dumps({**LIMIT, "qty": "0"}).encode()),
    ("read-only key and invalid fields", {**auth(READER), **JSON}, b'{"qty": "0"}'),
    ("read-only key and malformed JSON", {**auth(READER), **JSON}, b"[1,"),
    ("too large", {**auth(WRITER), **JSON}, b'{"symbol": "' + b"A" * 4_000 + b'"}'),
]


Answer = tuple[
    int, dict[str, str], Any, list[dict[str, Any]], list[Any], int, list[tuple[str, int | None]]
]


async def answer(
    direct: bool,
    method: str,
    headers: dict[str, str],
    body: bytes,
    *,
    mode: str = "grant",
    broker_down: bool = False,
    routed: list[int] | None = None,
) -> Answer:
    """What the app answered and did; ``routed``, if given, gets how many requests reached the
    route itself (not the direct entry)."""
    app, broker, pending, budgets = orders_app(direct=direct, mode=mode)
    broker.down = broker_down
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.request(
                method,
                "/api/v1/orders",
                content=body,
                headers={**headers, "x-request-id": "same-request"},
            )
    if routed is not None:
        routed.append(budgets.routed)
    return (
        response.status_code,
        _comparable_headers(response),
        _comparable_body(response),
        [_without_ids(command.data) for command in broker.commands],
        [_without_ids(json.loads(view)) for view in pending.views.values()],
        budgets.used,
        budgets.settled,
    )


def _comparable_headers(response: httpx.Response) -> dict[str, str]:
    headers = dict(response.headers)
    if "location" in headers:
        assert headers["location"] == f"/api/v1/orders/{response.json()['id']}"
        headers["location"] = "/api/v1/orders/<id>"
    headers.pop("content-length", None)  # follows from the body, compared below
    return headers


def _comparable_body(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text
    return _without_ids(body) if response.status_code == 202 else body


def _without_ids(document: dict[str, Any]) -> dict[str, Any]:
    """Generated ids and clock readings differ between two requests; everything else must not."""
    generated = {"id", "order_id", "submitted_at", "created_at", "updated_at"}
    return {key: "<generated>" if key in generated else value for key, value in document.items()}


@pytest.mark.parametrize(("headers", "body"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_the_direct_entry_answers_as_the_route_does(
    headers: dict[str, str], body: bytes
) -> None:
    expected = await answer(False, "POST", headers, body)
    assert await answer(True, "POST", headers, body) == expected


IDEMPOTENT = {**auth(WRITER), **JSON, "idempotency-key": '"k-1"'}
ADMISSION_CASES: list[tuple[str, str, dict[str, str], bytes]] = [
    (mode + ", " + name, mode, headers, body)
    for mode in ("grant", "refuse", "stored", "in-flight", "reused")
    for name, headers, body in [
        ("valid", {**auth(WRITER), **JSON}, json.dumps(LIMIT).encode()),
        ("valid, idempotent", IDEMPOTENT, json.dumps(LIMIT).encode()),
        ("invalid fields, idempotent", IDEMPOTENT, json.dumps({**LIMIT, "qty": "0"}).encode()),
        ("malformed JSON, idempotent", IDEMPOTENT, b"{"),
        (
            "an order class refused, idempotent",
            IDEMPOTENT,
            json.dumps({**LIMIT, "order_class": "oco"}).encode(),
        ),
        (
            "malformed Idempotency-Key",
            {**IDEMPOTENT, "idempotency-key": '"unterminated'},
            json.dumps(LIMIT).encode(),
        ),
        (
            "malformed Idempotency-Key, invalid fields",
            {**IDEMPOTENT, "idempotency-key": '"unterminated'},
            json.dumps({**LIMIT, "qty": "0"}).encode(),
        ),
        ("read-only key, idempotent", {**IDEMPOTENT, **auth(READER)}, json.dumps(LIMIT).encode()),
    ]
]


@pytest.mark.parametrize(
    ("mode", "headers", "body"),
    [c[1:] for c in ADMISSION_CASES],
    ids=[c[0] for c in ADMISSION_CASES],
)
async def test_every_admission_outcome_is_answered_and_counted_as_the_route_does(
    mode: str, headers: dict[str, str], body: bytes
) -> None:
    expected = await answer(False, "POST", headers, body, mode=mode)
    assert await answer(True, "POST", headers, body, mode=mode) == expected


async def test_a_granted_idempotent_order_is_admitted_once_and_its_answer_stored() -> None:
    """The corpus' comparisons could hold with both paths wrong; this one says what is right."""
    status, _, _, commands, views, used, settled = await answer(
        True, "POST", IDEMPOTENT, json.dumps(LIMIT).encode()
    )
    assert (status, len(commands), len(views), used, settled) == (
        202,
        1,
        1,
        1,
        [("complete", 202)],
    )


@pytest.mark.parametrize(
    ("headers", "body", "reaching_the_route"),
    [
        ({**auth(WRITER), **JSON}, json.dumps(LIMIT).encode(), 0),
        (IDEMPOTENT, json.dumps(LIMIT).encode(), 0),
        ({**auth(WRITER), **JSON}, json.dumps({**LIMIT, "qty": "0"}).encode(), 1),
        ({**auth(READER), **JSON}, json.dumps(LIMIT).encode(), 1),
        (JSON, json.dumps(LIMIT).encode(), 1),
    ],
    ids=["valid", "valid, idempotent", "invalid fields", "read-only key", "no key"],
)
async def test_an_order_it_can_take_is_served_directly_and_any_other_by_the_route(
    headers: dict[str, str], body: bytes, reaching_the_route: int
) -> None:
    routed: list[int] = []
    await answer(True, "POST", headers, body, routed=routed)
    assert routed == [reaching_the_route]


async def test_an_unreachable_broker_is_the_same_503_and_nothing_is_remembered() -> None:
    headers, body = IDEMPOTENT, json.dumps(LIMIT).encode()
    expected = await answer(False, "POST", headers, body, broker_down=True)
    assert expected[0] == 503
    assert expected[4] == []
    assert expected[6] == [("release", None)]  # a 5xx is not kept for the key: a retry runs
    assert await answer(True, "POST", headers, body, broker_down=True) == expected


async def test_another_method_is_the_same_405() -> None:
    headers, body = {**auth(WRITER), **JSON}, json.dumps(LIMIT).encode()
    expected = await answer(False, "PUT", headers, body)
    assert expected[0] == 405
    assert await answer(True, "PUT", headers, body) == expected
