"""The status report: one view of the board, served as JSON and rendered as the status page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field

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


class ServiceView(TimingView):
    url: str
    checks: dict[str, CheckView] = Field(
        default_factory=dict, description="The service's own readiness checks."
    )
    breakers: dict[str, str] | None = Field(
        default=None,
        description="Breaker -> closed, half_open or open; null when /metrics was unreadable.",
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


def build_report(
    board: StatusBoard,
    *,
    service_urls: dict[str, str],
    poll_interval_s: float,
    now: datetime,
) -> StatusReport:
    services = {
        state.name: ServiceView.model_validate(
            {
                **_timing(state, now),
                "url": displayable_url(service_urls.get(state.name, "")),
                "checks": {
                    name: CheckView(status=check.status, detail=check.detail)
                    for name, check in state.observation.checks.items()
                },
                "breakers": (
                    dict(state.observation.breakers)
                    if state.observation.breakers is not None
                    else None
                ),
            }
        )
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
        services=services,
        dependencies=dependencies,
        transitions=transitions,
    )
