"""One HTTP attempt: a POST through the SSRF-guarded connector, no redirects, a hard timeout.

Whatever happens is turned into an ``AttemptResult``; ``post`` never raises for the receiver's
behaviour (only cancellation propagates).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

from tradewind.common import flags
from tradewind.common.flags import Fault
from tradewind.webhooks.adapters.ssrf import (
    DestinationPolicy,
    DestinationRefused,
    guarded_connector,
)
from tradewind.webhooks.domain.delivery_rules import AttemptResult

USER_AGENT = "Tradewind-Webhooks/1"
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class SendOutcome:
    result: AttemptResult
    started_at: datetime
    duration_ms: int
    response_body: str | None


class Sender:
    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        timeout_s: float,
        body_limit: int,
        max_connections: int,
    ) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.body_limit = body_limit
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        session = aiohttp.ClientSession(
            connector=guarded_connector(self.policy, limit=self.max_connections),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"user-agent": USER_AGENT},
            # An environment proxy would resolve the target itself, around the SSRF guard.
            trust_env=False,
        )
        # Our trace context stays inside Tradewind: partners get no traceparent from us.
        AioHttpClientInstrumentor.uninstrument_session(session)
        self._session = session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendOutcome:
        if self._session is None:
            raise RuntimeError("Sender.start() has not been called")
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        response_body: str | None = None
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                response_body = _text(await self._read_bounded(response))
                result = _result_for(response)
        except TimeoutError:
            result = AttemptResult(None, f"timed out after {self.timeout_s:g}s")
        except aiohttp.ClientConnectorError as exc:
            result = AttemptResult(None, _connect_error(exc))
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: aiohttp's verdict on a URL it cannot request (e.g. an invalid host).
            result = AttemptResult(None, _bounded(f"{type(exc).__name__}: {exc}"))
        duration_ms = round((time.perf_counter() - started) * 1000)
        return SendOutcome(result, started_at, duration_ms, response_body)

    async def _read_bounded(self, response: aiohttp.ClientResponse) -> bytes:
        # Never read more than we keep: a receiver cannot make us buffer a huge body.
        chunks: list[bytes] = []
        remaining = self.body_limit
        while remaining > 0:
            chunk = await response.content.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)


def injected_failure(account_id: str) -> SendOutcome | None:
    """The fault flag webhooks.deliveryFailureShare (docs/operations.md, Flags): for that share
    of the attempts, a 500 as if the partner had answered it, without sending anything. The
    attempt then takes the path of any 5xx: recorded, retried on schedule, counted by the
    endpoint's circuit breaker."""
    if not flags.fault_fires(Fault.WEBHOOKS_DELIVERY_FAILURE_SHARE, account=account_id):
        return None
    return SendOutcome(
        AttemptResult(500), datetime.now(UTC), 0, "injected by a fault flag; not sent"
    )


def _result_for(response: aiohttp.ClientResponse) -> AttemptResult:
    status = response.status
    retry_after = response.headers.get("retry-after")
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        return AttemptResult(
            status,
            _bounded(f"redirect {status} to {location!r} not followed: answer 2xx at the URL"),
            retry_after,
        )
    return AttemptResult(status, None, retry_after)


def _connect_error(exc: aiohttp.ClientConnectorError) -> str:
    if isinstance(exc.os_error, DestinationRefused):
        return _bounded(str(exc.os_error.strerror))
    return _bounded(f"cannot connect to {exc.host}:{exc.port}: {exc.os_error}")


def _text(raw: bytes) -> str:
    # PostgreSQL text cannot hold NUL.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _bounded(message: str) -> str:
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"
