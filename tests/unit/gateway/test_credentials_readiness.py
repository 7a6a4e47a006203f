"""A credentials database that cannot be read: the gateway says degraded (generically), and the
health service, reading that answer, reports the gateway degraded with the reason."""

from __future__ import annotations

from typing import cast

from tradewind.common.health import Readiness
from tradewind.gateway.adapters.credentials import AuthStoreUnavailable, Credentials
from tradewind.gateway.auth_setup import UNREADABLE, credentials_check
from tradewind.health.domain.status import Status, read_readiness


class UnreadableCredentials:
    async def check(self) -> None:
        raise AuthStoreUnavailable("connection to 10.0.0.7:5432 refused: password for user x")


class ReadableCredentials:
    async def check(self) -> None:
        return None


async def _gateway_readiness(credentials: object) -> dict[str, object]:
    readiness = Readiness()
    readiness.add("credentials", credentials_check(cast(Credentials, credentials)))
    return await readiness.report()


async def test_an_unreadable_credentials_store_makes_the_gateway_degraded_for_health() -> None:
    report = await _gateway_readiness(UnreadableCredentials())
    assert report == {
        "status": "degraded",
        "checks": {"credentials": {"status": "degraded", "detail": UNREADABLE}},
    }
    assert "10.0.0.7" not in str(report)  # no exception text reaches the answer
    verdict = read_readiness(200, report)  # degraded answers 200
    assert verdict.status is Status.DEGRADED
    assert verdict.checks["credentials"].detail == UNREADABLE


async def test_a_readable_credentials_store_is_up() -> None:
    report = await _gateway_readiness(ReadableCredentials())
    assert read_readiness(200, report).status is Status.UP
