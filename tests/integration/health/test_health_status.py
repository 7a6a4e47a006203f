"""The health service against fake services on loopback and the real RabbitMQ, Redis, PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from integration.health.health_fakes import FakeService, HealthClientFactory, breaker_metrics
from support.infra import Infra
from support.polling import eventually
from support.services import free_port
from support.tcp_proxy import TcpProxy
from tradewind.common.settings import SharedSettings

HOSTILE = '<script>alert("pwned")</script>'


async def status_of(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/status")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_the_status_rolls_up_every_service_and_dependency(
    health_client: HealthClientFactory,
    alpha: FakeService,
    beta: FakeService,
    nothing_listening_url: str,
) -> None:
    alpha.metrics = breaker_metrics({"orders": 0, "market_data": 2, "webhooks": 1})
    beta.answer("degraded", {"redis": {"status": "degraded", "detail": "serving stale quotes"}})
    services = {"alpha": alpha.url, "beta": beta.url, "ghost": nothing_listening_url}

    async with health_client(services=services) as client:
        report = await status_of(client)
        metrics = (await client.get("/metrics")).text

    assert report["status"] == "down"
    assert list(report["services"]) == ["alpha", "beta", "ghost"]
    up, degraded, unreachable = (report["services"][name] for name in ("alpha", "beta", "ghost"))
    assert up["status"] == "up"
    assert up["latency_ms"] > 0
    assert up["breakers"] == {"market_data": "open", "orders": "closed", "webhooks": "half_open"}
    assert up["url"] == alpha.url
    assert degraded["status"] == "degraded"
    assert degraded["checks"] == {"redis": {"status": "degraded", "detail": "serving stale quotes"}}
    assert degraded["breakers"] == {}
    assert unreachable["status"] == "unreachable"
    assert unreachable["latency_ms"] is None
    assert unreachable["breakers"] is None
    assert str(urlsplit(nothing_listening_url).port) in unreachable["detail"]
    for view in report["services"].values():
        assert datetime.fromisoformat(view["since"]) <= datetime.fromisoformat(view["checked_at"])
        assert view["status_for_s"] >= 0
        assert view["changed_at"] is None
    assert {name: dep["status"] for name, dep in report["dependencies"].items()} == {
        "rabbitmq": "up",
        "redis": "up",
        "postgresql": "up",
    }
    assert report["transitions"] == []
    assert 'tradewind_service_up{service="alpha"} 1.0' in metrics
    assert 'tradewind_service_up{service="beta"} 0.5' in metrics
    assert 'tradewind_service_up{service="ghost"} 0.0' in metrics
    assert 'tradewind_dependency_up{dependency="redis"} 1.0' in metrics


async def test_a_service_going_down_and_back_shows_on_the_page_and_in_the_transitions(
    health_client: HealthClientFactory, alpha: FakeService, beta: FakeService
) -> None:
    async with health_client(services={"alpha": alpha.url, "beta": beta.url}) as client:
        assert (await status_of(client))["status"] == "up"

        beta.answer("down", {"broker": {"status": "down", "detail": "not connected"}})

        async def page_shows_beta_down() -> str | None:
            page = (await client.get("/")).text
            beta_row = re.search(r"<tr><td><strong>beta</strong>.*?</tr>", page)
            return page if beta_row and 'class="badge down"' in beta_row.group(0) else None

        page = await eventually(page_shows_beta_down, message="page shows beta down")
        assert "<title>Tradewind health: down</title>" in page
        assert "broker: down</span> — not connected" in page
        report = await status_of(client)
        assert report["status"] == "down"
        down = report["services"]["beta"]
        assert (down["status"], down["previous_status"]) == ("down", "up")
        assert down["changed_at"] == down["since"]
        assert report["services"]["alpha"]["status"] == "up"

        beta.answer("up")

        async def beta_recovered() -> dict[str, Any] | None:
            report = await status_of(client)
            return report if report["status"] == "up" else None

        report = await eventually(beta_recovered, message="beta back up")
        assert report["services"]["beta"]["previous_status"] == "down"
        assert [(t["name"], t["from_status"], t["to_status"]) for t in report["transitions"]] == [
            ("beta", "down", "up"),
            ("beta", "up", "down"),
        ]


async def test_the_page_escapes_what_services_report(
    health_client: HealthClientFactory, alpha: FakeService
) -> None:
    alpha.answer("degraded", {HOSTILE: {"status": "degraded", "detail": HOSTILE}})
    alpha.metrics = breaker_metrics({HOSTILE: 2})

    async with health_client(services={"alpha": alpha.url}) as client:
        response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert '<meta http-equiv="refresh" content="1">' in page
    assert "<strong>alpha</strong>" in page
    assert "<script" not in page
    escaped = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"
    assert page.count(escaped) == 3  # the check's name, its detail, the breaker's name
    for heading in ("Services", "Dependencies", "Recent changes"):
        assert f"<h2>{heading}</h2>" in page


async def test_a_service_that_does_not_answer_in_time_is_unreachable(
    health_client: HealthClientFactory, alpha: FakeService
) -> None:
    alpha.hanging = True
    async with health_client(services={"alpha": alpha.url}, check_timeout_s=0.3) as client:
        view = (await status_of(client))["services"]["alpha"]
    assert (view["status"], view["detail"]) == ("unreachable", "no answer within 0.3 s")


async def test_unreachable_dependencies_are_down_but_the_monitor_stays_ready(
    health_client: HealthClientFactory, infra: Infra
) -> None:
    nowhere = free_port()
    shared = SharedSettings(
        amqp_url=f"amqp://guest:guest@127.0.0.1:{nowhere}/",
        redis_url=f"redis://127.0.0.1:{nowhere}/0",
        log_json=False,
    )
    postgres = urlunsplit(
        urlsplit(infra.postgres_admin_url)._replace(netloc=f"127.0.0.1:{nowhere}")
    )

    async with health_client(
        services={}, shared=shared, postgres_dsns={"orders-db": postgres}
    ) as client:
        report = await status_of(client)
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")

    assert report["status"] == "down"
    assert report["services"] == {}
    assert list(report["dependencies"]) == ["rabbitmq", "redis", "orders-db"]
    for dependency in report["dependencies"].values():
        assert dependency["status"] == "down"
        assert dependency["detail"]
        assert dependency["latency_ms"] is None
    assert ready.status_code == 200
    assert ready.json() == {"status": "up", "checks": {"poller": {"status": "up"}}}
    assert live.status_code == 200


async def test_the_broker_and_redis_checks_follow_a_lost_and_restored_connection(
    health_client: HealthClientFactory, infra: Infra
) -> None:
    amqp, redis = urlsplit(infra.amqp_url), urlsplit(infra.redis_url)
    amqp_proxy = await TcpProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672).start()
    redis_proxy = await TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379).start()
    shared = SharedSettings(
        amqp_url=urlunsplit(amqp._replace(netloc=f"guest:guest@127.0.0.1:{amqp_proxy.port}")),
        redis_url=urlunsplit(redis._replace(netloc=f"127.0.0.1:{redis_proxy.port}")),
        log_json=False,
    )

    async def dependencies_are(client: httpx.AsyncClient, status: str) -> dict[str, Any] | None:
        dependencies = (await status_of(client))["dependencies"]
        wanted = all(dependencies[name]["status"] == status for name in ("rabbitmq", "redis"))
        return dependencies if wanted else None

    try:
        async with health_client(services={}, shared=shared) as client:
            assert await dependencies_are(client, "up")

            amqp_proxy.cut()
            redis_proxy.cut()
            down = await eventually(
                lambda: dependencies_are(client, "down"), message="dependencies down"
            )
            assert down["rabbitmq"]["previous_status"] == "up"

            amqp_proxy.restore()
            redis_proxy.restore()
            back = await eventually(lambda: dependencies_are(client, "up"), message="back up")
            assert back["rabbitmq"]["previous_status"] == "down"
            assert back["redis"]["previous_status"] == "down"
    finally:
        await amqp_proxy.stop()
        await redis_proxy.stop()
