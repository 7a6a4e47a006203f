"""The status report: one view of the board, served as JSON and rendered as the status page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

from tradewind.health.domain.readings import (
    OutboxReading,
    QueueObservation,
    QueuePresence,
    QueueStatus,
    WebhookReading,
)
from tradewind.health.domain.status import Status, StatusBoard, TargetKind, TargetState

OverallStatus = Literal["up", "degraded", "down"]
_OVERALL: dict[Status, OverallStatus] = {
    Status.UP: "up",
    Status.DEGRADED: "degraded",
    Status.DOWN: "down",
}


class CheckView(BaseModel):
    status: str = Field(description="As the service reported it: up, degraded, down (or unknown).")
    detail: str | None = None


class TimingView(BaseModel):
    status: Status
    detail: str | None = Field(default=None, description="Why the status is not up, when known.")
    latency_ms: float | None = Field(
        default=None, description="Duration of the last check; null when nothing answered."
    )
    checked_at: datetime = Field(description="When the last check finished.")
    since: datetime = Field(description="When the current status was first seen.")
    status_for_s: float = Field(description="How long the current status has lasted, in seconds.")
    changed_at: datetime | None = Field(
        default=None, description="The last status change; null if none since monitoring began."
    )
    previous_status: Status | None = None


QueueSource = Literal["management_api", "passive_declare"]


class QueueView(BaseModel):
    name: str
    status: QueueStatus = Field(
        description="ok (consumed), no_consumer, missing (the broker has no such queue), or "
        "unknown (the broker could not be asked)."
    )
    ready: int | None = Field(description="Messages waiting to be delivered.")
    unacked: int | None = Field(
        description="Delivered to a consumer, not yet acknowledged; null unless read through "
        "the management API."
    )
    consumers: int | None
    parking_lot: str
    parked: int | None = Field(
        description="Messages in the parking lot, waiting for an operator; null when unknown."
    )
    detail: str | None = Field(default=None, description="Why a figure is unknown.")


class OutboxView(BaseModel):
    lag_s: float = Field(
        description="Age of the oldest row the relay's last pass claimed (0: nothing waited)."
    )
    backlog: int = Field(description="Rows not yet published (counted up to 100000).")
    behind: bool = Field(
        description="The lag degrades the service: over the limit, or growing round after round."
    )


class WebhooksView(BaseModel):
    pending_deliveries: int = Field(description="Deliveries not finished (counted up to 100000).")
    disabled_endpoints: int = Field(
        description="Endpoints the service disabled (failing for too long, or 410)."
    )
    disabled_by_account: int = Field(description="Endpoints their account switched off.")


class ServiceView(TimingView):
    url: str
    checks: dict[str, CheckView] = Field(
        default_factory=dict, description="The service's own readiness checks."
    )
    breakers: dict[str, str] | None = Field(
        default=None,
        description="Breaker -> closed, half_open or open; null when /metrics was unreadable.",
    )
    breaker_changes: dict[str, datetime] = Field(
        default_factory=dict,
        description="Breaker -> when it was first seen in its current state.",
    )
    reasons: list[str] = Field(
        default_factory=list,
        description="Why the service is degraded although it reports itself up (queues, outbox).",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Worth a look, without degrading it: parked messages, disabled endpoints.",
    )
    queues: list[QueueView] = Field(default_factory=list, description="The queues it consumes.")
    outbox: OutboxView | None = Field(
        default=None, description="Its outbox relay; null when it has none (or /metrics failed)."
    )
    webhooks: WebhooksView | None = Field(
        default=None, description="Delivery backlog; only the webhooks service has one."
    )


class DependencyView(TimingView):
    pass


class TransitionView(BaseModel):
    kind: TargetKind
    name: str
    from_status: Status
    to_status: Status
    at: datetime


class StatusReport(BaseModel):
    status: OverallStatus = Field(
        description="up if all are up; down if any is down or unreachable; else degraded."
    )
    generated_at: datetime
    poll_interval_s: float
    queue_source: QueueSource = Field(
        description="Where queue figures come from: RabbitMQ's management API (with unacked) or "
        "passive declares over AMQP."
    )
    services: dict[str, ServiceView]
    dependencies: dict[str, DependencyView]
    transitions: list[TransitionView] = Field(description="Recent status changes, newest first.")


def displayable_url(url: str) -> str:
    """The URL without credentials, should an operator have put some in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit(parts._replace(netloc=netloc))


def _timing(state: TargetState, now: datetime) -> dict[str, object]:
    observation = state.observation
    return {
        "status": state.status,
        "detail": observation.detail,
        "latency_ms": (
            round(observation.latency_s * 1000, 1) if observation.latency_s is not None else None
        ),
        "checked_at": state.checked_at,
        "since": state.since,
        "status_for_s": round(state.status_duration(now).total_seconds(), 3),
        "changed_at": state.changed_at,
        "previous_status": state.previous_status,
    }


def _queue_view(observed: QueueObservation) -> QueueView:
    reading = observed.reading
    details = [
        f"{what}: {r.detail}"
        for what, r in (("queue", reading), ("parking lot", observed.parking_lot))
        if r.presence is QueuePresence.UNKNOWN and r.detail
    ]
    return QueueView(
        name=observed.queue.name,
        status=observed.status,
        ready=reading.ready,
        unacked=reading.unacked,
        consumers=reading.consumers,
        parking_lot=observed.queue.parking_lot,
        parked=observed.parked,
        detail="; ".join(details) or None,
    )


def _outbox_view(outbox: OutboxReading | None, *, behind: bool) -> OutboxView | None:
    if outbox is None:
        return None
    return OutboxView(lag_s=round(outbox.lag_s, 3), backlog=outbox.backlog, behind=behind)


def _webhooks_view(webhooks: WebhookReading | None) -> WebhooksView | None:
    if webhooks is None:
        return None
    return WebhooksView(
        pending_deliveries=webhooks.pending_deliveries,
        disabled_endpoints=webhooks.disabled_by_service,
        disabled_by_account=webhooks.disabled_by_account,
    )


def _service_view(state: TargetState, url: str, now: datetime) -> ServiceView:
    observation = state.observation
    breakers = dict(observation.breakers) if observation.breakers is not None else None
    return ServiceView.model_validate(
        {
            **_timing(state, now),
            "url": displayable_url(url),
            "checks": {
                name: CheckView(status=check.status, detail=check.detail)
                for name, check in observation.checks.items()
            },
            "breakers": breakers,
            "breaker_changes": {
                name: at for name, at in state.breaker_since.items() if name in (breakers or {})
            },
            "reasons": list(observation.reasons),
            "notes": list(observation.notes),
            "queues": [_queue_view(observed) for observed in observation.queues],
            "outbox": _outbox_view(observation.outbox, behind=observation.outbox_behind),
            "webhooks": _webhooks_view(observation.webhooks),
        }
    )


def build_report(
    board: StatusBoard,
    *,
    service_urls: dict[str, str],
    poll_interval_s: float,
    now: datetime,
    queue_source: QueueSource = "passive_declare",
) -> StatusReport:
    services = {
        state.name: _service_view(state, service_urls.get(state.name, ""), now)
        for state in board.states(TargetKind.SERVICE)
    }
    dependencies = {
        state.name: DependencyView.model_validate(_timing(state, now))
        for state in board.states(TargetKind.DEPENDENCY)
    }
    transitions = [
        TransitionView(
            kind=transition.kind,
            name=transition.name,
            from_status=transition.from_status,
            to_status=transition.to_status,
            at=transition.at,
        )
        for transition in board.recent_transitions()
    ]
    return StatusReport(
        status=_OVERALL[board.overall()],
        generated_at=now,
        poll_interval_s=poll_interval_s,
        queue_source=queue_source,
        services=services,
        dependencies=dependencies,
        transitions=transitions,
    )
