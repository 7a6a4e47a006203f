"""POST /api/v1/orders fuzzed end to end: every answer is a 202 or a 4xx problem, and every 202
is decided by the orders service, never parked.

hypothesis sends near-valid and hostile bodies (every field of the order request, wrong types,
odd decimals, non-ASCII digits, control and bidi characters, missing and extra fields, bodies that
are not JSON objects) to the running gateway. An order it accepted must then leave
``pending_new`` in the orders service, as the gateway announced it, and its command must not be
in the orders command queue's parking lot: a 202 promises that nothing the gateway could have
seen keeps the order from being decided. Decisions are checked once, in bulk, after the run.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aio_pika
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from e2e.harness import DEFAULT_SYMBOLS, System, auth
from support.polling import eventually
from tradewind.common.contracts.types import OrderType, Side, TimeInForce

pytestmark = pytest.mark.e2e

ORDERS = "/api/v1/orders"
JSON = "application/json"
MAX_EXAMPLES = 200
DECISION_TIMEOUT_S = 30
ORDER_FIELDS = (
    "symbol",
    "side",
    "type",
    "qty",
    "limit_price",
    "stop_price",
    "time_in_force",
    "client_order_id",
    "notional",
    "trail_price",
    "trail_percent",
)
DECIMAL_FIELDS = ("qty", "limit_price", "stop_price", "notional", "trail_price", "trail_percent")
TRAILING_TIMES_IN_FORCE = (TimeInForce.DAY, TimeInForce.GTC)

# --- what is sent ---------------------------------------------------------------------------

symbols = st.one_of(
    st.sampled_from(DEFAULT_SYMBOLS),
    st.sampled_from(DEFAULT_SYMBOLS).map(str.lower),
    st.sampled_from(["BRK.B", "ZZZZ", "A", "Q" * 16]),  # valid, but not traded here
    st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,15}", fullmatch=True),
)
hostile_symbols = st.sampled_from(
    [
        "",
        "Q" * 17,
        "\u00df",  # str.upper() would make it "SS"
        "\uff21\uff21\uff30\uff2c",  # fullwidth AAPL
        "AAPL\x00",
        "\u202eLPAA",
        " AAPL",
        "1AAPL",
        "AA-PL",
    ]
)

typical_decimals = st.sampled_from(["1", "10", "0.5", "150.25", "1000", "0.01", "2.000"])


@st.composite
def bounded_decimals(draw: st.DrawFn) -> str:
    """A decimal string within what the contracts accept: up to 18 digits, up to 9 places."""
    unscaled = draw(st.integers(min_value=1, max_value=10**18 - 1))
    places = draw(st.integers(min_value=0, max_value=9))
    return format(Decimal(unscaled).scaleb(-places), "f")


@st.composite
def long_written_decimals(draw: st.DrawFn) -> str:
    """A bounded decimal written with many zeros after it: the same value, a longer number."""
    written = draw(st.one_of(typical_decimals, bounded_decimals()))
    # PostgreSQL's numeric holds 16,383 places: on either side of that, and far below.
    count = draw(st.one_of(st.integers(1, 30), st.sampled_from([16_383, 16_384, 20_000])))
    zeros = "0" * count
    return f"{written}{zeros}" if "." in written else f"{written}.{zeros}"


decimals = st.one_of(typical_decimals, bounded_decimals(), long_written_decimals())
hostile_decimals = st.one_of(
    st.sampled_from(
        [
            "0",
            "-1",
            "0.0",
            "-0",
            "0.0000000001",  # 10 places
            "9" * 19,  # 19 digits
            "9" * 18 + ".9",
            "1" + "0" * 30,
            "1e3",
            "1E-3",
            " 10",
            "10 ",
            "1_000",
            "+1",
            ".5",
            "5.",
            "0x10",
            "NaN",
            "Infinity",
            "\uff11\uff10",  # fullwidth 10
            "\u0661\u0660",  # Arabic-Indic 10
            "\u0967\u0966",  # Devanagari 10
            "\U0001d7cf\U0001d7ce",  # mathematical bold 10
            "\u00b2",  # superscript two
            "1\u00a0000",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),  # JSON integers: exact, yet bounded
    st.floats(),  # JSON numbers with a fraction (and NaN, Infinity): never money
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)

client_order_ids = st.one_of(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=128
    ),
    st.sampled_from(["x" * 128, "a b", '"quoted"', "back\\slash", "{}"]),
)
hostile_client_order_ids = st.one_of(
    st.sampled_from(
        [
            "",
            "x" * 129,
            "bad\x00id",
            "tab\tid",
            "esc\x1bid",
            "del\x7fid",
            "\u202eevil",  # right-to-left override
            "\u2066isolate\u2069",
            "zero\u200bwidth",
            "\ufeffbom",
            "caf\u00e9",
            "\ud800",  # a lone surrogate: not UTF-8 at all
            "\U0001f680",
            "line\u2028sep",
        ]
    ),
    st.text(max_size=130),
)

anything = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

hostile_values: dict[str, st.SearchStrategy[Any]] = {
    "symbol": st.one_of(hostile_symbols, anything),
    "side": st.one_of(st.sampled_from(["BUY", "Sell", "short", "", "buy "]), anything),
    "type": st.one_of(st.sampled_from(["MARKET", "stop-limit", "trailing_stop", ""]), anything),
    "qty": st.one_of(hostile_decimals, anything),
    "limit_price": st.one_of(decimals, hostile_decimals, anything),
    "stop_price": st.one_of(decimals, hostile_decimals, anything),
    "time_in_force": st.one_of(st.sampled_from(["GTC", "opg", "cls", "gtd", ""]), anything),
    "client_order_id": st.one_of(hostile_client_order_ids, anything),
    "notional": st.one_of(decimals, hostile_decimals, anything),
    "trail_price": st.one_of(decimals, hostile_decimals, anything),
    "trail_percent": st.one_of(
        st.sampled_from(["2", "0.5", "99.999999999", "100", "0", "-1"]), hostile_decimals, anything
    ),
}


@st.composite
def valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    """An order the gateway should accept: prices as its type requires."""
    order_type = draw(st.sampled_from(OrderType))
    body: dict[str, Any] = {
        "symbol": draw(symbols),
        "side": draw(st.sampled_from(Side)).value,
        "type": order_type.value,
        "qty": draw(decimals),
    }
    if order_type.needs_limit_price:
        body["limit_price"] = draw(decimals)
    if order_type.needs_stop_price:
        body["stop_price"] = draw(decimals)
    if draw(st.booleans()):
        body["time_in_force"] = draw(st.sampled_from(TimeInForce)).value
    if order_type.is_trailing:
        if draw(st.booleans()):
            body["trail_price"] = draw(decimals)
        else:
            body["trail_percent"] = draw(st.sampled_from(["2", "0.5", "99.999999999", "1"]))
        if "time_in_force" in body:
            body["time_in_force"] = draw(st.sampled_from(TRAILING_TIMES_IN_FORCE)).value
    elif order_type is OrderType.MARKET and draw(st.booleans()):
        body["notional"] = body.pop("qty")
        body.pop("time_in_force", None)  # a notional order is day (the default)
    if draw(st.booleans()):
        body["client_order_id"] = draw(client_order_ids)
    return body


@st.composite
def near_valid_orders(draw: st.DrawFn) -> dict[str, Any]:
    """A valid order with a few fields dropped, made hostile or added: where the bugs live."""
    body = draw(valid_orders())
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        change = draw(st.sampled_from(["drop", "hostile", "extra"]))
        if change == "drop" and body:
            del body[draw(st.sampled_from(sorted(body)))]
        elif change == "hostile":
            name = draw(st.sampled_from(ORDER_FIELDS))
            body[name] = draw(hostile_values[name])
        else:
            body[draw(st.text(max_size=12))] = draw(anything)
    return body


def _json(value: Any) -> bytes:
    # json.dumps, not httpx's encoder: it escapes lone surrogates and writes NaN and Infinity,
    # both of which a hostile client can send.
    return json.dumps(value).encode()


payloads = st.one_of(
    valid_orders().map(_json),
    near_valid_orders().map(_json),
    st.dictionaries(st.sampled_from(ORDER_FIELDS), anything, max_size=8).map(_json),
    anything.map(_json),  # not an object at all
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"qty": 1e999}',
            b'{"symbol": "AAPL", "symbol": "MSFT"}',
            b"\xff\xfe{}",
            b"[" * 20_000 + b"]" * 20_000,
            b'{"qty": ' + b"9" * 5_000 + b"}",
        ]
    ),
    st.binary(max_size=64),
)
content_types = st.one_of(
    st.just(JSON),
    st.sampled_from(["application/json; charset=utf-8", "application/order+json", "text/plain"]),
)


def _order(**fields: str) -> bytes:
    return _json({"symbol": "AAPL", "side": "buy", "qty": "1", **fields})


# Sent whatever hypothesis draws: every order type with every time in force (each must be
# accepted), and requests that once went wrong elsewhere.
EXPLICIT_EXAMPLES: list[tuple[bytes, str, bool]] = [
    *(
        (_order(type=order_type.value, time_in_force=tif.value, **prices), JSON, False)
        for order_type, prices in (
            (OrderType.MARKET, {}),
            (OrderType.LIMIT, {"limit_price": "150.25"}),
            (OrderType.STOP, {"stop_price": "140"}),
            (OrderType.STOP_LIMIT, {"stop_price": "140", "limit_price": "139.5"}),
        )
        for tif in TimeInForce
    ),
    *(
        (_order(type="trailing_stop", time_in_force=tif.value, trail_price="1.5"), JSON, False)
        for tif in TRAILING_TIMES_IN_FORCE
    ),
    (_json({"symbol": "AAPL", "side": "buy", "type": "market", "notional": "500"}), JSON, False),
    (_order(type="market", client_order_id="bad\x00id"), JSON, False),
    (_order(type="market", qty="\uff11\uff10"), JSON, True),
    # More zeros than PostgreSQL's numeric holds places: once accepted, then parked by orders.
    (_order(type="market", qty="1." + "0" * 20_000), JSON, False),
    (_order(type="limit", limit_price="2." + "0" * 17_000), JSON, False),
    (_json({"symbol": "AAPL", "side": "buy", "type": "market"}), JSON, False),
]


# --- what is checked ------------------------------------------------------------------------


def _check_problem(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/problem+json", response.text
    problem = response.json()
    assert isinstance(problem, dict), problem
    assert isinstance(problem.get("type"), str), problem
    assert isinstance(problem.get("title"), str), problem
    assert problem.get("status") == response.status_code, problem


def _check_announced(response: httpx.Response) -> dict[str, Any]:
    order = response.json()
    assert isinstance(order, dict), order
    assert order["status"] == "pending_new", order
    assert response.headers["location"] == f"{ORDERS}/{order['id']}"
    return order


def _same_order(announced: dict[str, Any], decided: dict[str, Any]) -> bool:
    """The order the orders service decided on is the one the gateway announced."""
    for name in ORDER_FIELDS:
        before, after = announced[name], decided[name]
        if name == "stop_price" and announced["type"] == OrderType.TRAILING_STOP:
            continue  # a trailing stop's stop follows its mark, from the first quote on
        if name == "qty" and before is None:
            continue  # a notional order is sized when it trades
        if name in DECIMAL_FIELDS and before is not None and after is not None:
            before, after = Decimal(before), Decimal(after)
        if before != after:
            return False
    return bool(announced["id"] == decided["id"])


async def _parked_commands_of(system: System, account: str) -> list[str]:
    """Message ids in the orders command queue's parking lot that name ``account``; read
    without taking them (the lot is shared with other tests, which park on purpose)."""
    connection = await aio_pika.connect(system.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"{system.namespace}.orders.commands.parked", passive=True
        )
        ids = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            if account.encode() in message.body:
                ids.append(message.message_id or "")
        return ids


@dataclass
class Answers:
    """What the gateway answered during the run: the orders it accepted, every status."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)


def fuzzer(http: httpx.Client, key: str, answers: Answers) -> Callable[[], None]:
    """The hypothesis run: every request sent and its answer checked as it comes."""

    def post(payload: bytes, content_type: str, idempotent: bool) -> None:
        headers = {**auth(key), "Content-Type": content_type}
        if idempotent:
            headers["Idempotency-Key"] = f'"{uuid.uuid4()}"'
        response = http.post(ORDERS, content=payload, headers=headers)
        status = response.status_code
        answers.statuses.append(status)
        assert status == 202 or 400 <= status < 500, f"{status}: {response.text}"
        if status == 202:
            order = _check_announced(response)
            answers.accepted[order["id"]] = order
        else:
            _check_problem(response)

    for payload, content_type, idempotent in EXPLICIT_EXAMPLES:
        post = example(payload=payload, content_type=content_type, idempotent=idempotent)(post)
    run: Callable[[], None] = settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )(given(payload=payloads, content_type=content_types, idempotent=st.booleans())(post))
    return run


@dataclass(frozen=True)
class Trader:
    account: str
    key: str


@pytest.fixture
async def trader(system: System) -> AsyncIterator[Trader]:
    """An account of the fuzzer's own; its orders still open afterwards are canceled, so no
    later test's quote trades against them."""
    account = f"fuzz-{uuid.uuid4().hex[:8]}"
    trader = Trader(account, (await system.create_key(account)).secret)
    yield trader
    async with httpx.AsyncClient(
        base_url=system.gateway.url, timeout=10, headers=auth(trader.key)
    ) as client:
        canceling: set[str] = set()

        async def none_open() -> bool:
            page = await client.get(ORDERS, params={"status": "open", "limit": 500})
            assert page.status_code == 200, page.text
            open_ids = {order["id"] for order in page.json()["data"]}
            for order_id in open_ids - canceling:
                canceled = await client.delete(f"{ORDERS}/{order_id}")
                assert canceled.status_code in (202, 422), canceled.text  # 422: ended meanwhile
                canceling.add(order_id)
            return not open_ids

        await eventually(none_open, timeout=DECISION_TIMEOUT_S, interval=0.2)


async def test_every_order_body_is_refused_with_a_problem_or_accepted_and_decided(
    system: System, trader: Trader
) -> None:
    answers = Answers()
    with httpx.Client(base_url=system.gateway.url, timeout=10) as http:
        # In a thread: hypothesis drives a synchronous test, and the event loop stays free.
        await asyncio.to_thread(fuzzer(http, trader.key, answers))

    accepted = answers.accepted
    kinds = {(order["type"], order["time_in_force"]) for order in accepted.values()}
    assert kinds == {
        (t.value, tif.value)
        for t in OrderType
        for tif in TimeInForce
        if not t.is_trailing or tif in TRAILING_TIMES_IN_FORCE
    }
    assert any(400 <= status < 500 for status in answers.statuses)

    decided: dict[str, dict[str, Any]] = {}
    undecided = set(accepted)
    async with httpx.AsyncClient(
        base_url=system.gateway.url, timeout=10, headers=auth(trader.key)
    ) as client:
        reads = asyncio.Semaphore(16)

        async def read(order_id: str) -> None:
            async with reads:
                response = await client.get(f"{ORDERS}/{order_id}")
            assert response.status_code == 200, response.text
            order = response.json()
            if order["status"] != "pending_new":
                decided[order_id] = order
                undecided.discard(order_id)

        async def all_decided() -> bool:
            await asyncio.gather(*(read(order_id) for order_id in sorted(undecided)))
            return not undecided

        try:
            await eventually(all_decided, timeout=DECISION_TIMEOUT_S, interval=0.2)
        except AssertionError:
            parked = await _parked_commands_of(system, trader.account)
            raise AssertionError(
                f"{len(undecided)} of {len(accepted)} accepted orders still pending_new after "
                f"{DECISION_TIMEOUT_S}s, e.g. {[accepted[i] for i in sorted(undecided)[:3]]}; "
                f"parked commands of the account: {parked}"
            ) from None

    changed = [
        (accepted[i], decided[i]) for i in accepted if not _same_order(accepted[i], decided[i])
    ]
    assert changed == [], "the orders service decided on another order than the gateway announced"
    assert await _parked_commands_of(system, trader.account) == []
