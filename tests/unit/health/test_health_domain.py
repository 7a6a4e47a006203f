"""Aggregation rules: how answers are judged, how statuses roll up, when a status changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradewind.health.domain.status import (
    GAUGE_VALUE,
    MAX_DETAIL_CHARS,
    CheckResult,
    Observation,
    Status,
    StatusBoard,
    TargetKind,
    advance,
    read_readiness,
    rollup,
)

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
SERVICE = TargetKind.SERVICE


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.UP),
        ([Status.UP, Status.UP], Status.UP),
        ([Status.UP, Status.DEGRADED], Status.DEGRADED),
        ([Status.DEGRADED, Status.DOWN, Status.UP], Status.DOWN),
        ([Status.UP, Status.UNREACHABLE], Status.DOWN),
        ([Status.DEGRADED, Status.UNREACHABLE], Status.DOWN),
    ],
)
def test_rollup_is_the_worst_status_with_unreachable_counting_as_down(
    statuses: list[Status], expected: Status
) -> None:
    assert rollup(statuses) is expected


def test_gauge_values_give_degraded_half_credit() -> None:
    assert GAUGE_VALUE == {
        Status.UP: 1.0,
        Status.DEGRADED: 0.5,
        Status.DOWN: 0.0,
        Status.UNREACHABLE: 0.0,
    }


class TestReadReadiness:
    def test_200_carries_the_services_own_verdict_and_checks(self) -> None:
        body = {
            "status": "degraded",
            "checks": {
                "postgres": {"status": "up"},
                "redis": {"status": "degraded", "detail": "serving stale quotes"},
            },
        }
        verdict = read_readiness(200, body)
        assert verdict.status is Status.DEGRADED
        assert verdict.detail is None
        assert verdict.checks == {
            "postgres": CheckResult("up"),
            "redis": CheckResult("degraded", "serving stale quotes"),
        }

    def test_503_is_down_with_the_checks_that_failed(self) -> None:
        body = {"status": "down", "checks": {"broker": {"status": "down", "detail": "refused"}}}
        verdict = read_readiness(503, body)
        assert verdict.status is Status.DOWN
        assert verdict.detail is None
        assert verdict.checks["broker"] == CheckResult("down", "refused")

    def test_503_without_a_tradewind_body_is_down_and_says_so(self) -> None:
        verdict = read_readiness(503, None)
        assert (verdict.status, verdict.detail, dict(verdict.checks)) == (
            Status.DOWN,
            "answered 503",
            {},
        )

    @pytest.mark.parametrize(
        ("http_status", "body", "detail"),
        [
            (200, None, "answered 200 without a readiness status"),
            (200, {"status": "fine"}, "answered 200 without a readiness status"),
            (200, {"status": "unreachable"}, "answered 200 without a readiness status"),
            (200, ["up"], "answered 200 without a readiness status"),
            (404, {"title": "Not Found"}, "answered 404"),
            (500, {"status": "up"}, "answered 500"),
            (302, None, "answered 302"),
        ],
    )
    def test_anything_else_is_down(self, http_status: int, body: object, detail: str) -> None:
        verdict = read_readiness(http_status, body)
        assert (verdict.status, verdict.detail) == (Status.DOWN, detail)

    def test_odd_checks_are_kept_as_unknown_and_long_details_are_cut(self) -> None:
        body = {
            "status": "up",
            "checks": {
                "weird": "yes",
                "numeric": {"status": 3},
                "long": {"status": "up", "detail": "x" * 10_000},
            },
        }
        checks = read_readiness(200, body).checks
        assert checks["weird"] == CheckResult("unknown")
        assert checks["numeric"] == CheckResult("unknown")
        assert len(checks["long"].detail or "") == MAX_DETAIL_CHARS


class TestTransitions:
    def test_the_first_observation_is_no_transition(self) -> None:
        state, transition = advance(None, SERVICE, "orders", Observation(Status.UP), T0)
        assert transition is None
        assert (state.status, state.since, state.checked_at) == (Status.UP, T0, T0)
        assert state.changed_at is None
        assert state.previous_status is None

    def test_the_same_status_keeps_its_start_and_refreshes_the_observation(self) -> None:
        first, _ = advance(None, SERVICE, "orders", Observation(Status.UP, latency_s=0.01), T0)
        later = T0 + timedelta(seconds=5)
        second, transition = advance(
            first, SERVICE, "orders", Observation(Status.UP, latency_s=0.02), later
        )
        assert transition is None
        assert second.since == T0
        assert second.checked_at == later
        assert second.observation.latency_s == 0.02
        assert second.status_duration(later + timedelta(seconds=1)) == timedelta(seconds=6)

    def test_a_change_is_a_transition_and_restarts_the_duration(self) -> None:
        first, _ = advance(None, SERVICE, "orders", Observation(Status.UP), T0)
        change_at = T0 + timedelta(minutes=3)
        second, transition = advance(
            first, SERVICE, "orders", Observation(Status.DOWN, detail="answered 503"), change_at
        )
        assert transition is not None
        assert (transition.from_status, transition.to_status, transition.at) == (
            Status.UP,
            Status.DOWN,
            change_at,
        )
        assert (second.since, second.changed_at, second.previous_status) == (
            change_at,
            change_at,
            Status.UP,
        )
        assert second.status_duration(change_at + timedelta(seconds=10)) == timedelta(seconds=10)

    def test_the_last_change_is_remembered_while_the_status_holds(self) -> None:
        state, _ = advance(None, SERVICE, "orders", Observation(Status.UP), T0)
        changed = T0 + timedelta(seconds=5)
        state, _ = advance(state, SERVICE, "orders", Observation(Status.DEGRADED), changed)
        state, transition = advance(
            state, SERVICE, "orders", Observation(Status.DEGRADED), changed + timedelta(seconds=5)
        )
        assert transition is None
        assert (state.changed_at, state.previous_status) == (changed, Status.UP)

    def test_a_duration_is_never_negative_when_clocks_step_back(self) -> None:
        state, _ = advance(None, SERVICE, "orders", Observation(Status.UP), T0)
        assert state.status_duration(T0 - timedelta(seconds=1)) == timedelta(0)


class TestStatusBoard:
    def test_overall_rolls_up_services_and_dependencies(self) -> None:
        board = StatusBoard()
        board.record(SERVICE, "orders", Observation(Status.UP), T0)
        board.record(TargetKind.DEPENDENCY, "redis", Observation(Status.UP), T0)
        assert board.overall() is Status.UP
        board.record(SERVICE, "gateway", Observation(Status.DEGRADED), T0)
        assert board.overall() is Status.DEGRADED
        board.record(TargetKind.DEPENDENCY, "redis", Observation(Status.DOWN), T0)
        assert board.overall() is Status.DOWN

    def test_states_are_listed_by_kind_in_first_seen_order(self) -> None:
        board = StatusBoard()
        for name in ("gateway", "orders"):
            board.record(SERVICE, name, Observation(Status.UP), T0)
        board.record(TargetKind.DEPENDENCY, "orders", Observation(Status.DOWN), T0)
        assert [s.name for s in board.states(SERVICE)] == ["gateway", "orders"]
        assert [s.status for s in board.states(TargetKind.DEPENDENCY)] == [Status.DOWN]

    def test_recent_transitions_are_newest_first_and_bounded(self) -> None:
        board = StatusBoard(transitions_kept=2)
        statuses = [Status.UP, Status.DOWN, Status.UP, Status.DEGRADED]
        for second, status in enumerate(statuses):
            board.record(SERVICE, "orders", Observation(status), T0 + timedelta(seconds=second))
        assert [(t.from_status, t.to_status) for t in board.recent_transitions()] == [
            (Status.UP, Status.DEGRADED),
            (Status.DOWN, Status.UP),
        ]
