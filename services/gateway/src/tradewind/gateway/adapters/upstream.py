"""Calls from the gateway to the services that own the data: timeouts, retries, breakers."""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from tradewind.common.problems import Problem
from tradewind.common.resilience import CircuitBreaker, CircuitOpenError
from tradewind.common.resilience.retry import HTTP_IDEMPOTENT, retry_async

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpstreamResponse:
    status: int
    body: Any


# What a dependency failure looks like over HTTP: the service says it is unavailable
# (503, e.g. its database is down), or a proxy in front of it says so (502, 504). A 500 is a
# bug triggered by that one request: it says nothing about the service's health, and the
# request that caused it may be any account's (see docs/architecture.md, "Isolation of failure").
DEPENDENCY_FAILURE_STATUSES = frozenset({502, 503, 504})


class UpstreamFailure(ConnectionError):
    """The service is unavailable (502/503/504, timeout, no connection); worth a retry."""


class UpstreamError(Exception):
    """The service answered another 5xx: its bug, on this request; neither retried nor counted."""

    def __init__(self, service: str, status: int) -> None:
        super().__init__(f"{service} answered {status}")
        self.status = status


class ServiceClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        session: aiohttp.ClientSession,
        breaker: CircuitBreaker,
        *,
        attempt_timeout_s: float,
        budget_s: float,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.breaker = breaker
        self.timeout = aiohttp.ClientTimeout(total=attempt_timeout_s)
        self.budget_s = budget_s

    def unavailable(self, retry_after_s: float = 1.0) -> Problem:
        return Problem(
            503,
            "Service Unavailable",
            f"The {self.name} service is not answering; try again shortly.",
            kind="upstream-unavailable",
            headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        )

    def failed(self) -> Problem:
        return Problem(
            502,
            "Bad Gateway",
            f"The {self.name} service could not answer this request. "
            "Quote the request_id when you report it.",
            kind="upstream-error",
        )

    async def _attempt(
        self, method: str, path: str, params: dict[str, str] | None, json: Any, raw: bool = False
    ) -> UpstreamResponse:
        async with self.breaker.guard() as permit:
            try:
                async with self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    params=params,
                    json=json,
                    timeout=self.timeout,
                    allow_redirects=False,
                ) as response:
                    if response.status in DEPENDENCY_FAILURE_STATUSES:
                        permit.record_failure()
                        raise UpstreamFailure(f"{self.name} answered {response.status}")
                    if response.status >= 500:
                        # It answered, so it is up: the failure is about this one request.
                        permit.record_success()
                        raise UpstreamError(self.name, response.status)
                    if raw and 200 <= response.status < 300:
                        return UpstreamResponse(response.status, await response.read())
                    try:
                        body = (
                            await response.json(content_type=None)
                            if response.content_length != 0
                            else None
                        )
                    except ValueError as exc:
                        permit.record_success()
                        raise UpstreamError(self.name, response.status) from exc
                    return UpstreamResponse(response.status, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                permit.record_failure()
                raise UpstreamFailure(f"{self.name}: {exc!r}") from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        raw: bool = False,
    ) -> UpstreamResponse:
        """Call the service; idempotent methods are retried. ``raw``: a 2xx body is the bytes
        as sent (a file), not JSON; problems are JSON either way.

        The service unavailable becomes a 503 problem; any other 5xx a 502 (see UpstreamError).
        """
        idempotent = method in {"GET", "HEAD", "PUT", "DELETE"}
        try:
            async with asyncio.timeout(self.budget_s):
                if not idempotent:
                    return await self._attempt(method, path, params, json, raw)
                return await retry_async(
                    HTTP_IDEMPOTENT,
                    lambda: self._attempt(method, path, params, json, raw),
                    retry_on=(UpstreamFailure,),
                    name=f"{self.name} {method}",
                )
        except CircuitOpenError as exc:
            raise self.unavailable(exc.retry_after) from exc
        except UpstreamError as exc:
            log.error("upstream call failed", extra={"upstream": self.name, "error": str(exc)})
            raise self.failed() from exc
        except (UpstreamFailure, TimeoutError) as exc:
            log.warning("upstream call failed", extra={"upstream": self.name, "error": repr(exc)})
            raise self.unavailable() from exc


def relay_problem(response: UpstreamResponse) -> Problem:
    """Turn a service's 4xx problem into the same problem for the client."""
    body = response.body if isinstance(response.body, dict) else {}
    return Problem(
        response.status,
        str(body.get("title", "Request failed")),
        body.get("detail"),
        kind=str(body["type"]).removeprefix("urn:tradewind:problem:")
        if "type" in body and body["type"] != "about:blank"
        else None,
        extensions={k: v for k, v in body.items() if k in {"errors", "order_status", "job_status"}},
    )


def unwrap(response: UpstreamResponse) -> Any:
    """The body of a 2xx answer; a 4xx becomes the same problem for the client."""
    if 200 <= response.status < 300:
        return response.body
    raise relay_problem(response)


QueryValue = str | int | bool | datetime


def query_params(**values: QueryValue | None) -> dict[str, str]:
    """The query string of a call to a service: the values that are set, in the order given;
    booleans as ``true``/``false``, times in ISO 8601."""
    return {name: _query_text(value) for name, value in values.items() if value is not None}


def _query_text(value: QueryValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
