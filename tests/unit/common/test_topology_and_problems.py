"""Topology naming and retry tiers; RFC 9457 problem documents from the app factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from tradewind.common.broker import QueueSpec, Topology
from tradewind.common.health import Check, Degraded, Readiness
from tradewind.common.problems import Problem
from tradewind.common.settings import SharedSettings
from unit.common.service_apps import served, service_app


def test_every_name_derives_from_the_namespace() -> None:
    topology = Topology("acme", (100, 1_000))
    assert topology.commands == "acme.commands"
    assert topology.events == "acme.events"
    assert topology.queue_name("orders", "commands") == "acme.orders.commands"
    assert QueueSpec(topology.queue_name("orders", "commands")).parking_lot == (
        "acme.orders.commands.parked"
    )
    assert topology.wait_queue(100) == "acme.retry.100ms"


def test_retry_delays_grow_through_the_tiers_then_hold() -> None:
    topology = Topology("t", (100, 1_000, 10_000))
    assert [topology.delay_for_attempt(n) for n in range(1, 6)] == [
        100,
        1_000,
        10_000,
        10_000,
        10_000,
    ]


class Body(BaseModel):
    qty: int = Field(gt=0)
    side: str


router = APIRouter()


@router.post("/things")
async def create(body: Body) -> dict[str, int]:
    return {"qty": body.qty}


@router.get("/teapot")
async def teapot() -> None:
    raise Problem(418, "I'm a teapot", "Short and stout.", kind="teapot", flavour="earl grey")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


def app(readiness_checks: dict[str, Check] | None = None) -> FastAPI:
    return service_app(router, readiness_checks=readiness_checks)


async def call(application: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with served(application) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_validation_errors_are_problems_listing_each_field() -> None:
    response = await call(app(), "POST", "/things", json={"qty": 0})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tradewind:problem:validation-error"
    assert {e["field"] for e in problem["errors"]} == {"qty", "side"}
    assert problem["instance"] == "/things"
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_raised_problems_keep_their_extensions() -> None:
    response = await call(app(), "GET", "/teapot")
    assert response.status_code == 418
    assert response.json()["flavour"] == "earl grey"


async def test_unexpected_errors_reveal_no_internals() -> None:
    response = await call(app(), "GET", "/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text


async def test_unknown_route_is_a_404_problem() -> None:
    response = await call(app(), "GET", "/nowhere")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


async def test_readiness_reports_each_check() -> None:
    async def up() -> None:
        return None

    async def down() -> None:
        raise ConnectionError("refused by postgresql://admin:hunter2@db-7.internal:5432")

    async def degraded() -> None:
        raise Degraded("serving stale data")

    ok = await call(app({"db": up}), "GET", "/health/ready")
    assert ok.status_code == 200
    assert ok.json() == {"status": "up", "checks": {"db": {"status": "up"}}}
    soft = await call(app({"db": up, "cache": degraded}), "GET", "/health/ready")
    assert soft.status_code == 200
    assert soft.json()["status"] == "degraded"
    hard = await call(app({"db": down, "cache": degraded}), "GET", "/health/ready")
    assert hard.status_code == 503
    # Public: a generic reason, nothing of the exception (hosts, users, secrets).
    assert hard.json()["checks"]["db"] == {"status": "down", "detail": "unavailable"}
    assert "hunter2" not in hard.text
    assert "db-7" not in hard.text
    assert "ConnectionError" not in hard.text


async def test_readiness_logs_the_exception_it_does_not_show(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def down() -> None:
        raise ConnectionError("refused by db-7.internal:5432")

    async def slow() -> None:
        await asyncio.Event().wait()

    readiness = Readiness(timeout_s=0.05)
    readiness.add("db", down)
    readiness.add("cache", slow)
    with caplog.at_level(logging.DEBUG, logger="tradewind.common.health"):
        report = await readiness.report()
    assert report["checks"] == {
        "db": {"status": "down", "detail": "unavailable"},
        "cache": {"status": "down", "detail": "no answer in time"},
    }
    logged = [r for r in caplog.records if r.getMessage() == "readiness check failed"]
    assert {r.levelno for r in logged} == {logging.WARNING}
    assert any("db-7.internal" in str(getattr(r, "error", "")) for r in logged)


async def test_malformed_json_is_a_400_problem_saying_where() -> None:
    response = await call(
        app(),
        "POST",
        "/things",
        content=b'{"qty": 1,',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tradewind:problem:malformed-json"
    assert "at character 10" in problem["detail"]


async def test_a_body_over_the_limit_is_a_413_problem_declared_or_streamed() -> None:
    huge = b'{"qty": 1, "side": "' + b"x" * 2_000_000 + b'"}'
    declared = await call(
        app(), "POST", "/things", content=huge, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 65_536):
            yield huge[start : start + 65_536]

    streamed = await call(
        app(), "POST", "/things", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    small = await call(app(), "POST", "/things", json={"qty": 1, "side": "buy"})
    assert small.status_code == 200


async def test_headers_over_the_limit_are_a_431_problem_before_routing() -> None:
    limit = SharedSettings().max_header_bytes
    within = await call(app(), "GET", "/health/live", headers={"x-pad": "a" * (limit // 2)})
    over = await call(app(), "GET", "/nowhere", headers={"x-pad": "a" * limit})
    assert within.status_code == 200
    assert over.status_code == 431
    assert over.headers["content-type"] == "application/problem+json"
    assert over.json()["type"] == "urn:tradewind:problem:headers-too-large"
