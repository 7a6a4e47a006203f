"""The rules of aggregated health: what an answer means, how statuses roll up, when one changes.

Pure: no I/O, no clock of its own (callers pass the time), nothing from FastAPI or aiohttp.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tradewind.health.domain.readings import OutboxReading, QueueObservation, WebhookReading


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    # No usable HTTP answer at all (refused, reset, timed out): the process may not even run.
    UNREACHABLE = "unreachable"


class TargetKind(StrEnum):
    SERVICE = "service"
    DEPENDENCY = "dependency"


# Value of the tradewind_service_up gauge: an alert can use `< 1` for "not fully up".
GAUGE_VALUE: Mapping[Status, float] = {
    Status.UP: 1.0,
    Status.DEGRADED: 0.5,
    Status.DOWN: 0.0,
    Status.UNREACHABLE: 0.0,
}

# A service's own words are shown to operators; bound them so one bad answer cannot bloat the page.
MAX_DETAIL_CHARS = 500
MAX_CHECKS = 50


def rollup(statuses: Iterable[Status]) -> Status:
    """Overall status: down if any is down (or unreachable), else degraded if any is, else up.

    Nothing to watch is vacuously up.
    """
    seen = set(statuses)
    if Status.DOWN in seen or Status.UNREACHABLE in seen:
        return Status.DOWN
    if Status.DEGRADED in seen:
        return Status.DEGRADED
    return Status.UP


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One entry of a service's readiness `checks`, as the service reported it."""

    status: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check of a service or dependency found."""

    status: Status
    detail: str | None = None
    latency_s: float | None = None
    checks: Mapping[str, CheckResult] = field(default_factory=dict)
    # None: the breaker states could not be read (no /metrics, or not parseable).
    breakers: Mapping[str, str] | None = None
    # The service's work (backlogs.assess judges it): its queues from the broker; its outbox
    # and webhook figures from /metrics, None when it has none or they were unreadable.
    queues: tuple[QueueObservation, ...] = ()
    outbox: OutboxReading | None = None
    webhooks: WebhookReading | None = None
    # Why a service that reports itself up is degraded anyway (a queue nobody consumes, an
    # outbox falling behind); and what deserves a look without degrading it (parked messages,
    # endpoints the webhooks service disabled).
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    outbox_behind: bool = False  # the outbox lag is one of the reasons


@dataclass(frozen=True, slots=True)
class ReadinessVerdict:
    status: Status
    detail: str | None
    checks: Mapping[str, CheckResult]


def _bounded(text: object) -> str:
    value = str(text)
    return value if len(value) <= MAX_DETAIL_CHARS else value[: MAX_DETAIL_CHARS - 1] + "…"


def _reported_checks(body: object) -> dict[str, CheckResult]:
    raw = body.get("checks") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        return {}
    checks: dict[str, CheckResult] = {}
    for name, entry in list(raw.items())[:MAX_CHECKS]:
        if isinstance(entry, dict):
            status = entry.get("status")
            detail = entry.get("detail")
            checks[_bounded(name)] = CheckResult(
                status=_bounded(status) if isinstance(status, str) else "unknown",
                detail=_bounded(detail) if detail is not None else None,
            )
        else:
            checks[_bounded(name)] = CheckResult(status="unknown")
    return checks


def read_readiness(http_status: int, body: object) -> ReadinessVerdict:
    """Judge a `/health/ready` answer in the Tradewind format ``{"status", "checks"}``.

    200 carries the service's own verdict (up or degraded); 503 means down. Anything else, or a
    200 without a readable status, is down: the service answered, but not as a Tradewind service.
    """
    checks = _reported_checks(body)
    reported = body.get("status") if isinstance(body, dict) else None
    known = reported if reported in {s.value for s in Status} - {Status.UNREACHABLE} else None
    if http_status == 200:
        if known is None:
            return ReadinessVerdict(Status.DOWN, "answered 200 without a readiness status", checks)
        return ReadinessVerdict(Status(known), None, checks)
    if http_status == 503:
        detail = None if known == Status.DOWN else "answered 503"
        return ReadinessVerdict(Status.DOWN, detail, checks)
    return ReadinessVerdict(Status.DOWN, f"answered {http_status}", checks)


@dataclass(frozen=True, slots=True)
class TargetState:
    """The latest observation of one service or dependency and how long its status has held."""

    kind: TargetKind
    name: str
    observation: Observation
    checked_at: datetime
    # When the current status was first seen (the first check, or the last change).
    since: datetime
    changed_at: datetime | None = None
    previous_status: Status | None = None
    # Breaker -> when it was first seen in its current state (its last change, as far as the
    # health service saw it).
    breaker_since: Mapping[str, datetime] = field(default_factory=dict)
    # The last breaker states read (kept across an unreadable /metrics page).
    breaker_states: Mapping[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return self.observation.status

    def status_duration(self, now: datetime) -> timedelta:
        return max(now - self.since, timedelta(0))


@dataclass(frozen=True, slots=True)
class Transition:
    kind: TargetKind
    name: str
    from_status: Status
    to_status: Status
    at: datetime


def breaker_changes(
    current: TargetState | None, observation: Observation, at: datetime
) -> tuple[dict[str, str], dict[str, datetime]]:
    """Each breaker's last known state, and when it entered it: kept while the state holds.

    An unreadable /metrics page (breakers None) changes nothing: the next page read with the
    same states keeps their times.
    """
    states = dict(current.breaker_states) if current is not None else {}
    since = dict(current.breaker_since) if current is not None else {}
    if observation.breakers is None:
        return states, since
    new_since = {
        name: since[name] if states.get(name) == state and name in since else at
        for name, state in observation.breakers.items()
    }
    return dict(observation.breakers), new_since


def advance(
    current: TargetState | None,
    kind: TargetKind,
    name: str,
    observation: Observation,
    at: datetime,
) -> tuple[TargetState, Transition | None]:
    """The state after a new observation, and the transition it makes, if any.

    The first observation is no transition: nothing was known before it.
    """
    breaker_states, breaker_since = breaker_changes(current, observation, at)
    if current is None:
        first = TargetState(
            kind,
            name,
            observation,
            checked_at=at,
            since=at,
            breaker_since=breaker_since,
            breaker_states=breaker_states,
        )
        return first, None
    if current.status == observation.status:
        unchanged = TargetState(
            kind,
            name,
            observation,
            checked_at=at,
            since=current.since,
            changed_at=current.changed_at,
            previous_status=current.previous_status,
            breaker_since=breaker_since,
            breaker_states=breaker_states,
        )
        return unchanged, None
    changed = TargetState(
        kind,
        name,
        observation,
        checked_at=at,
        since=at,
        changed_at=at,
        previous_status=current.status,
        breaker_since=breaker_since,
        breaker_states=breaker_states,
    )
    return changed, Transition(kind, name, current.status, observation.status, at)


class StatusBoard:
    """Everything known about the watched services and dependencies, plus recent changes."""

    def __init__(self, *, transitions_kept: int = 50) -> None:
        self._states: dict[tuple[TargetKind, str], TargetState] = {}
        self._transitions: deque[Transition] = deque(maxlen=transitions_kept)

    def record(
        self, kind: TargetKind, name: str, observation: Observation, at: datetime
    ) -> Transition | None:
        state, transition = advance(self._states.get((kind, name)), kind, name, observation, at)
        self._states[(kind, name)] = state
        if transition is not None:
            self._transitions.append(transition)
        return transition

    def states(self, kind: TargetKind) -> list[TargetState]:
        return [state for (state_kind, _), state in self._states.items() if state_kind is kind]

    def overall(self) -> Status:
        return rollup(state.status for state in self._states.values())

    def recent_transitions(self) -> list[Transition]:
        """Newest first."""
        return list(reversed(self._transitions))
