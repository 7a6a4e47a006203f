"""The status report and page built from a board, and the settings read from the environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradewind.health.api.page import format_duration, render_status_page
from tradewind.health.api.schemas import build_report, displayable_url
from tradewind.health.domain.status import (
    CheckResult,
    Observation,
    Status,
    StatusBoard,
    TargetKind,
)
from tradewind.health.settings import HealthSettings

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def _board() -> StatusBoard:
    board = StatusBoard()
    board.record(
        TargetKind.SERVICE,
        "orders",
        Observation(Status.UP, latency_s=0.0123, breakers={"market_data": "closed"}),
        T0,
    )
    board.record(
        TargetKind.SERVICE,
        "orders",
        Observation(
            Status.DEGRADED,
            latency_s=0.02,
            checks={"redis": CheckResult("degraded", HOSTILE)},
            breakers={HOSTILE: "open"},
        ),
        T0 + timedelta(seconds=10),
    )
    board.record(
        TargetKind.DEPENDENCY, "redis", Observation(Status.DOWN, detail="refused & gone"), T0
    )
    return board


def test_the_report_carries_status_timing_checks_and_breakers() -> None:
    report = build_report(
        _board(),
        service_urls={"orders": "http://user:secret@orders.internal:8001"},
        poll_interval_s=5,
        now=T0 + timedelta(seconds=70),
    )
    assert report.status == "down"
    orders = report.services["orders"]
    assert (orders.status, orders.previous_status) == (Status.DEGRADED, Status.UP)
    assert orders.since == orders.changed_at == T0 + timedelta(seconds=10)
    assert orders.status_for_s == 60
    assert orders.latency_ms == 20.0
    assert orders.url == "http://orders.internal:8001"
    assert orders.checks["redis"].detail == HOSTILE
    assert orders.breakers == {HOSTILE: "open"}
    assert report.dependencies["redis"].detail == "refused & gone"
    assert [(t.name, t.from_status, t.to_status) for t in report.transitions] == [
        ("orders", Status.UP, Status.DEGRADED)
    ]


def test_the_page_escapes_what_services_say_and_refreshes_itself() -> None:
    report = build_report(
        _board(),
        service_urls={"orders": "http://127.0.0.1:8001"},
        poll_interval_s=2.5,
        now=T0 + timedelta(seconds=70),
    )
    page = render_status_page(report)
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "refused &amp; gone" in page
    assert "1m 00s" in page
    assert "<title>Tradewind health: down</title>" in page


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (65, "1m 05s"), (7_260, "2h 01m"), (273_600, "3d 04h")],
)
def test_durations_read_like_a_person_would_say_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_url_without_credentials_is_shown_as_it_is() -> None:
    assert displayable_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_settings_default_to_the_local_services() -> None:
    settings = HealthSettings()
    assert settings.port == 8004
    assert settings.service_urls() == {
        "gateway": "http://127.0.0.1:8000",
        "orders": "http://127.0.0.1:8001",
        "market-data": "http://127.0.0.1:8002",
        "webhooks": "http://127.0.0.1:8003",
    }
    assert (settings.poll_interval_s, settings.check_timeout_s) == (5.0, 2.0)
    assert list(settings.postgres_dsns) == ["postgresql"]


def test_settings_read_services_and_databases_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRADEWIND_HEALTH_SERVICES", '{"orders": "http://orders:8001/", "gateway": "http://gw"}'
    )
    monkeypatch.setenv("TRADEWIND_HEALTH_POSTGRES_DSNS", "{}")
    monkeypatch.setenv("TRADEWIND_HEALTH_POLL_INTERVAL_S", "1.5")
    settings = HealthSettings()
    assert settings.service_urls() == {"orders": "http://orders:8001", "gateway": "http://gw"}
    assert settings.postgres_dsns == {}
    assert settings.poll_interval_s == 1.5


def test_a_service_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_HEALTH_SERVICES", '{"orders": "ftp://orders"}')
    with pytest.raises(ValueError, match="URL scheme"):
        HealthSettings()
