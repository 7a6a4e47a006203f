"""The rules that turn a service's queues and outbox into a status, with the reasons."""

from __future__ import annotations

from tradewind.health.domain.backlogs import (
    BacklogPolicy,
    LagHistory,
    assess,
    outbox_growing,
)
from tradewind.health.domain.readings import (
    OutboxReading,
    QueueObservation,
    QueueReading,
    QueueStatus,
    WatchedQueue,
    WebhookReading,
)
from tradewind.health.domain.status import Status

POLICY = BacklogPolicy(outbox_lag_limit_s=60, outbox_growing_from_s=10, growth_rounds=3)
COMMANDS = WatchedQueue("tw.orders.commands", "tw.orders.commands.parked")
EMPTY_LOT = QueueReading.found(ready=0, consumers=0)


def queue(reading: QueueReading, parked: QueueReading = EMPTY_LOT) -> QueueObservation:
    return QueueObservation(COMMANDS, reading, parked)


def judged(
    reported: Status = Status.UP,
    *,
    queues: tuple[QueueObservation, ...] = (),
    outbox: OutboxReading | None = None,
    lags: tuple[float, ...] = (),
    webhooks: WebhookReading | None = None,
) -> tuple[Status, tuple[str, ...], tuple[str, ...]]:
    assessment = assess(
        reported, queues=queues, outbox=outbox, lags=lags, webhooks=webhooks, policy=POLICY
    )
    return assessment.status, assessment.reasons, assessment.notes


def test_a_consumed_queue_and_a_quiet_outbox_leave_the_service_up() -> None:
    consumed = queue(QueueReading.found(ready=12, consumers=2))

    assert consumed.status is QueueStatus.OK
    assert judged(queues=(consumed,), outbox=OutboxReading(0.01, 0)) == (Status.UP, (), ())


def test_a_queue_without_consumer_degrades_its_service_with_the_reason() -> None:
    idle = queue(QueueReading.found(ready=40, consumers=0))

    assert idle.status is QueueStatus.NO_CONSUMER
    assert judged(queues=(idle,)) == (
        Status.DEGRADED,
        ("no consumer on tw.orders.commands, 40 waiting",),
        (),
    )


def test_a_missing_queue_degrades_and_an_unreadable_one_does_not() -> None:
    missing = queue(QueueReading.missing())
    unknown = queue(QueueReading.unknown("broker not reachable"))

    assert judged(queues=(missing,))[:2] == (
        Status.DEGRADED,
        ("queue tw.orders.commands does not exist",),
    )
    # The rabbitmq dependency already says the broker is down; the service is not blamed.
    assert unknown.status is QueueStatus.UNKNOWN
    assert judged(queues=(unknown,)) == (Status.UP, (), ())


def test_parked_messages_are_noted_without_degrading() -> None:
    parked = queue(
        QueueReading.found(ready=0, consumers=1), QueueReading.found(ready=3, consumers=0)
    )

    assert parked.parked == 3
    assert judged(queues=(parked,)) == (
        Status.UP,
        (),
        ("3 parked in tw.orders.commands.parked",),
    )


def test_an_outbox_over_the_lag_limit_degrades() -> None:
    outbox = OutboxReading(lag_s=75.0, backlog=1200)
    status, reasons, _ = judged(outbox=outbox, lags=(75.0,))

    assert status is Status.DEGRADED
    assert assess(
        Status.UP, queues=(), outbox=outbox, lags=(75.0,), webhooks=None, policy=POLICY
    ).outbox_behind
    assert reasons == ("outbox lag 75 s is over the 60 s limit (1200 rows waiting)",)


def test_a_growing_outbox_lag_degrades_before_the_limit() -> None:
    lags = (2.0, 5.0, 5.0, 12.0)
    status, reasons, _ = judged(outbox=OutboxReading(lag_s=12.0, backlog=4), lags=lags)

    assert status is Status.DEGRADED
    assert reasons == ("outbox lag growing: 12 s, up from 2.0 s 3 rounds ago (4 rows waiting)",)


def test_a_lag_is_growing_only_if_it_rose_never_fell_and_reached_the_floor() -> None:
    assert outbox_growing((2.0, 5.0, 5.0, 12.0), POLICY)
    assert not outbox_growing((5.0, 12.0, 15.0), POLICY)  # too few rounds yet
    assert not outbox_growing((2.0, 9.0, 4.0, 12.0), POLICY)  # fell in between: draining
    assert not outbox_growing((1.0, 2.0, 3.0, 4.0), POLICY)  # rising, but only seconds
    assert not outbox_growing((12.0, 12.0, 12.0, 12.0), POLICY)  # steady


def test_a_down_service_stays_down_and_still_lists_its_reasons() -> None:
    idle = queue(QueueReading.found(ready=5, consumers=0))

    assert judged(Status.UNREACHABLE, queues=(idle,))[:2] == (
        Status.UNREACHABLE,
        ("no consumer on tw.orders.commands, 5 waiting",),
    )
    assert judged(Status.DEGRADED, queues=(idle,))[0] is Status.DEGRADED


def test_endpoints_disabled_by_the_service_are_noted_not_degrading() -> None:
    webhooks = WebhookReading(pending_deliveries=30, disabled_by_service=2, disabled_by_account=5)

    assert judged(webhooks=webhooks) == (
        Status.UP,
        (),
        ("2 webhook endpoints disabled after failures",),
    )
    assert judged(webhooks=WebhookReading(30, 0, 5)) == (Status.UP, (), ())


def test_the_lag_history_keeps_the_last_rounds_and_restarts_after_a_gap() -> None:
    history = LagHistory(POLICY)
    for lag in (1.0, 2.0, 3.0, 4.0, 5.0):
        kept = history.add("orders", OutboxReading(lag, 1))

    assert kept == (2.0, 3.0, 4.0, 5.0)
    assert history.add("orders", None) == ()  # metrics unreadable: no series to judge
    assert history.add("orders", OutboxReading(6.0, 1)) == (6.0,)
