"""A store a service cannot reach is a 503 (the gateway's breaker counts it); a bug is a 500."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import redis.exceptions
import sqlalchemy.exc
from fastapi import APIRouter, FastAPI

from tradewind.common.resilience.unavailable import is_dependency_unavailable
from unit.common.service_apps import served, service_app


def _wrapped_by_sqlalchemy(cause: Exception) -> Exception:
    try:
        try:
            raise cause
        except Exception as inner:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", None, inner) from inner
    except sqlalchemy.exc.DBAPIError as outer:
        return outer


UNAVAILABLE = [
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed"),
    asyncpg.TooManyConnectionsError("too many clients"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    redis.exceptions.ConnectionError("Connection refused"),
    _wrapped_by_sqlalchemy(asyncpg.ConnectionDoesNotExistError("closed")),
]
BUGS = [
    ValueError("invalid input"),
    OverflowError("date value out of range"),
    asyncpg.DataError("invalid byte sequence for encoding UTF8: 0x00"),
    _wrapped_by_sqlalchemy(asyncpg.NumericValueOutOfRangeError("bigint out of range")),
]


@pytest.mark.parametrize("error", UNAVAILABLE, ids=repr)
def test_unreachable_stores_are_dependency_failures(error: Exception) -> None:
    assert is_dependency_unavailable(error)


@pytest.mark.parametrize("error", BUGS, ids=repr)
def test_errors_about_one_request_are_not(error: Exception) -> None:
    assert not is_dependency_unavailable(error)


def _app_raising(error: Exception) -> FastAPI:
    router = APIRouter()

    @router.get("/fail")
    async def fail() -> None:
        raise error

    return service_app(router)


async def _status_of(application: FastAPI) -> httpx.Response:
    async with served(application) as client:
        return await client.get("/fail")


async def test_a_service_whose_store_is_down_answers_503_with_retry_after() -> None:
    response = await _status_of(_app_raising(redis.exceptions.ConnectionError("refused")))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "urn:tradewind:problem:dependency-unavailable"
    assert "refused" not in response.text


async def test_a_service_bug_still_answers_500() -> None:
    response = await _status_of(_app_raising(asyncpg.DataError("invalid byte sequence")))
    assert response.status_code == 500
