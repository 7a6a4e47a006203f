"""One API key's order budget, spent through four gateway processes at once, is exact.

Four gateways of the running system (one Redis namespace, one database, one broker) take a burst
of concurrent orders from a key whose own budget is a few orders per short window: exactly the
quota is granted between them, each grant told its own remaining count, the rest refused with a
429 problem and Retry-After, and exactly the granted orders are published. Once the window ends
the key is granted again, and its remaining count goes down by one per order whichever gateway
takes it.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
import pytest

from e2e.harness import Spy, System, auth
from support.polling import eventually
from support.services import ServiceProcess
from tradewind.gateway.domain.rate_limits import Budget

pytestmark = pytest.mark.e2e

ORDERS = "/api/v1/orders"
GATEWAYS = 4
START_TIMEOUT_S = 60
QUOTA = 8
WINDOW_S = 4
BURST = 4 * QUOTA  # clearly more than the budget, QUOTA per gateway
POLICY = f'"orders";q={QUOTA};w={WINDOW_S}'
# Not listed here: the orders service rejects each one, so none rests on a book after the test.
ORDER = {"symbol": "RATE", "side": "buy", "type": "limit", "qty": "1", "limit_price": "10"}
_STATE = re.compile(r'^"orders";r=(?P<r>[0-9]+);t=(?P<t>[0-9]+)$')


def rate_limit_state(response: httpx.Response) -> tuple[int, int]:
    """(r, t) of the answer's RateLimit field, which must name the orders budget and whose
    RateLimit-Policy must be the key's own."""
    assert response.headers.get("ratelimit-policy") == POLICY, response.headers
    found = _STATE.match(response.headers.get("ratelimit", ""))
    assert found is not None, response.headers.get("ratelimit")
    remaining, reset_s = int(found["r"]), int(found["t"])
    assert 1 <= reset_s <= WINDOW_S, response.headers["ratelimit"]
    return remaining, reset_s


def check_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tradewind:problem:rate-limited"
    assert problem["status"] == 429
    remaining, reset_s = rate_limit_state(response)
    assert remaining == 0
    assert response.headers["retry-after"] == str(reset_s)


@pytest.fixture
async def gateways(system: System, extra_gateway: list[ServiceProcess]) -> list[ServiceProcess]:
    """The system's gateway and three more like it."""
    started = [system.another_gateway(f"gateway-shared-{n}") for n in range(1, GATEWAYS)]
    extra_gateway.extend(started)
    # Generous: three gateways importing at once on a busy two-core machine start slowly.
    await asyncio.gather(*(gateway.wait_ready(timeout=START_TIMEOUT_S) for gateway in started))
    return [system.gateway, *started]


@pytest.fixture
async def limited_key(system: System) -> tuple[str, str]:
    """(account, key) of a key whose own order budget is QUOTA per WINDOW_S."""
    account = f"rate-{uuid.uuid4().hex[:8]}"
    async with system.key_store() as store:
        issued = await store.create(account, rate_budgets=(Budget("orders", QUOTA, WINDOW_S),))
    return account, issued.secret


async def test_four_gateways_grant_exactly_one_keys_budget_and_grant_again_after_the_window(
    gateways: list[ServiceProcess], limited_key: tuple[str, str], commands_spy: Spy
) -> None:
    account, key = limited_key
    async with httpx.AsyncClient(timeout=10, headers=auth(key)) as http:
        # Each gateway checks the key once before the burst (a read, from another budget), so
        # the burst is not spread out by first lookups in the database.
        for gateway in gateways:
            assert (await http.get(f"{gateway.url}/api/v1/auth/me")).status_code == 200

        burst_started = time.monotonic()
        burst = await asyncio.gather(
            *(http.post(f"{gateways[n % GATEWAYS].url}{ORDERS}", json=ORDER) for n in range(BURST))
        )
        burst_s = time.monotonic() - burst_started

        async def granted_again() -> tuple[float, httpx.Response] | None:
            sent_at = time.monotonic()
            response = await http.post(f"{gateways[0].url}{ORDERS}", json=ORDER)
            if response.status_code == 202:
                return sent_at, response
            check_refused(response)
            return None

        renewed_sent_at, renewed = await eventually(
            granted_again, timeout=WINDOW_S + 10, interval=0.1, message="never granted again"
        )
        # The rest of the new window, one order at a time, round the gateways.
        spent = [renewed]
        for n in range(1, QUOTA + 1):
            spent.append(await http.post(f"{gateways[n % GATEWAYS].url}{ORDERS}", json=ORDER))
        second_window_s = time.monotonic() - renewed_sent_at

    # A window opens with its first granted request, so each phase ran inside one window if it
    # ended sooner than a window lasts; otherwise a count of two windows would be judged as one.
    assert burst_s < WINDOW_S, f"the burst took {burst_s:.1f}s, longer than the window"
    assert second_window_s < WINDOW_S, f"the second window's orders took {second_window_s:.1f}s"

    granted = [response for response in burst if response.status_code == 202]
    refused = [response for response in burst if response.status_code != 202]
    assert len(granted) == QUOTA, sorted(response.status_code for response in burst)
    for response in refused:
        check_refused(response)
    # Every grant was told a count of its own: no unit of the budget was handed out twice.
    assert sorted(rate_limit_state(response)[0] for response in granted) == list(range(QUOTA))

    *granted_again_in_turn, over = spent
    assert [response.status_code for response in granted_again_in_turn] == [202] * QUOTA
    states = [rate_limit_state(response) for response in granted_again_in_turn]
    assert [remaining for remaining, _ in states] == list(reversed(range(QUOTA)))
    resets = [reset_s for _, reset_s in states]
    assert resets == sorted(resets, reverse=True), resets  # one window, running out
    check_refused(over)

    def placed() -> int:
        return len([e for e in commands_spy.events("orders.place") if e.accountid == account])

    await eventually(
        lambda: asyncio.sleep(0, placed() >= 2 * QUOTA), message="granted orders not published"
    )
    assert placed() == 2 * QUOTA
