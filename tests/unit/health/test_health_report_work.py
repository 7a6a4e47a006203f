"""Queues, outbox, webhooks and breaker change times in the report and on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tradewind.health.api.page import render_status_page
from tradewind.health.api.schemas import build_report
from tradewind.health.domain.readings import (
    OutboxReading,
    QueueObservation,
    QueueReading,
    WatchedQueue,
    WebhookReading,
)
from tradewind.health.domain.status import Observation, Status, StatusBoard, TargetKind

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>'


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def breakers_seen(*pages: dict[str, str] | None) -> StatusBoard:
    board = StatusBoard()
    for second, breakers in enumerate(pages):
        board.record(
            TargetKind.SERVICE, "gateway", Observation(Status.UP, breakers=breakers), at(second)
        )
    return board


def test_a_breaker_keeps_its_change_time_while_its_state_holds() -> None:
    board = breakers_seen({"orders": "closed"}, {"orders": "open"}, {"orders": "open"}, None)

    (state,) = board.states(TargetKind.SERVICE)
    assert state.breaker_since == {"orders": at(1)}  # the change, not the last reading

    board.record(
        TargetKind.SERVICE, "gateway", Observation(Status.UP, breakers={"orders": "open"}), at(9)
    )
    (state,) = board.states(TargetKind.SERVICE)
    assert state.breaker_since == {"orders": at(1)}  # an unreadable page in between forgot nothing


def _work_board() -> StatusBoard:
    board = StatusBoard()
    commands = QueueObservation(
        WatchedQueue("tw.orders.commands", "tw.orders.commands.parked"),
        QueueReading.found(ready=40, consumers=0, unacked=3),
        QueueReading.found(ready=2, consumers=0),
    )
    quotes = QueueObservation(
        WatchedQueue(HOSTILE, f"{HOSTILE}.parked"),
        QueueReading.unknown("broker not reachable"),
        QueueReading.unknown("broker not reachable"),
    )
    board.record(
        TargetKind.SERVICE,
        "orders",
        Observation(
            Status.DEGRADED,
            breakers={"market_data": "half_open"},
            queues=(commands, quotes),
            outbox=OutboxReading(lag_s=75.25, backlog=1200),
            reasons=("no consumer on tw.orders.commands, 40 waiting", "outbox lag 75 s …"),
            notes=("2 parked in tw.orders.commands.parked",),
            outbox_behind=True,
        ),
        T0,
    )
    board.record(
        TargetKind.SERVICE,
        "webhooks",
        Observation(
            Status.UP,
            outbox=OutboxReading(lag_s=0.0, backlog=0),
            webhooks=WebhookReading(
                pending_deliveries=17, disabled_by_service=1, disabled_by_account=4
            ),
        ),
        T0,
    )
    return board


def test_the_report_carries_each_services_queues_outbox_and_webhooks() -> None:
    report = build_report(
        _work_board(),
        service_urls={},
        poll_interval_s=5,
        now=at(3),
        queue_source="management_api",
    )
    orders, webhooks = report.services["orders"], report.services["webhooks"]

    assert report.queue_source == "management_api"
    commands, unknown = orders.queues
    assert commands.model_dump() == {
        "name": "tw.orders.commands",
        "status": "no_consumer",
        "ready": 40,
        "unacked": 3,
        "consumers": 0,
        "parking_lot": "tw.orders.commands.parked",
        "parked": 2,
        "detail": None,
    }
    assert unknown.status == "unknown"
    assert unknown.parked is None
    assert unknown.detail == "queue: broker not reachable; parking lot: broker not reachable"
    assert orders.reasons == ["no consumer on tw.orders.commands, 40 waiting", "outbox lag 75 s …"]
    assert orders.notes == ["2 parked in tw.orders.commands.parked"]
    assert orders.outbox is not None
    assert (orders.outbox.lag_s, orders.outbox.backlog, orders.outbox.behind) == (75.25, 1200, True)
    assert orders.breaker_changes == {"market_data": T0}
    assert orders.webhooks is None
    assert webhooks.queues == []
    assert webhooks.webhooks is not None
    assert webhooks.webhooks.model_dump() == {
        "pending_deliveries": 17,
        "disabled_endpoints": 1,
        "disabled_by_account": 4,
    }


def test_the_page_shows_queues_backlogs_and_reasons_and_escapes_names() -> None:
    report = build_report(_work_board(), service_urls={}, poll_interval_s=5, now=at(3))
    html = render_status_page(report)

    assert "<h2>Queues</h2>" in html
    assert "passive declares over AMQP" in html
    assert '<td>tw.orders.commands</td><td><span class="q q-no_consumer">no consumer</span>' in html
    assert '<td class="num attention">2</td>' in html  # the parked count stands out
    assert "no consumer on tw.orders.commands, 40 waiting" in html
    assert "2 parked in tw.orders.commands.parked" in html
    assert '<td class="num attention">75 s</td>' in html  # the lag that degrades it
    assert '<td class="num">1200</td>' in html
    assert '<td class="num">17</td>' in html
    assert "market_data: half_open <small>since 2025-03-01 12:00:00 UTC</small>" in html
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
