from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from tradewind.webhooks.domain.schedule import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    delay_for_response,
    next_attempt_delay,
    parse_schedule,
    retry_after_delay,
)
from tradewind.webhooks.settings import DEFAULT_RETRY_SCHEDULE

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SHORT_SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(hours=2))


def no_jitter() -> float:
    return 0.5


def test_default_schedule() -> None:
    expected = (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    )
    assert expected == DEFAULT_SCHEDULE


def test_parse_schedule() -> None:
    assert parse_schedule("5s,5m,30m,2h") == (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    assert parse_schedule(" 1d , 90s ") == (timedelta(days=1), timedelta(seconds=90))


def test_parse_schedule_round_trips_default() -> None:
    assert parse_schedule("5s,5m,30m,2h,5h,10h,10h") == DEFAULT_SCHEDULE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("5s,,5m", "invalid retry delay ''"),
        ("5x", "invalid retry delay '5x'"),
        ("5", "invalid retry delay '5'"),
        ("-5s", "invalid retry delay"),
        ("1.5h", "invalid retry delay"),
        ("0s", "greater than zero"),
    ],
)
def test_parse_schedule_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_next_attempt_delay_follows_schedule_without_jitter() -> None:
    delays = [
        next_attempt_delay(DEFAULT_SCHEDULE, attempt, rand=no_jitter)
        for attempt in range(1, len(DEFAULT_SCHEDULE) + 1)
    ]
    assert delays == list(DEFAULT_SCHEDULE)


def test_next_attempt_delay_is_none_when_exhausted() -> None:
    assert next_attempt_delay(DEFAULT_SCHEDULE, len(DEFAULT_SCHEDULE) + 1) is None
    assert next_attempt_delay((), 1) is None


@pytest.mark.parametrize(
    ("random_value", "expected"),
    [(0.0, timedelta(minutes=4, seconds=30)), (1.0, timedelta(minutes=5, seconds=30))],
)
def test_next_attempt_delay_jitter_bounds(random_value: float, expected: timedelta) -> None:
    delay = next_attempt_delay(DEFAULT_SCHEDULE, 2, rand=lambda: random_value)
    assert delay == expected


def test_next_attempt_delay_jitter_stays_within_fraction() -> None:
    for _ in range(200):
        delay = next_attempt_delay(DEFAULT_SCHEDULE, 4, jitter_fraction=0.2)
        assert delay is not None
        assert timedelta(hours=1.6) <= delay <= timedelta(hours=2.4)


def test_next_attempt_delay_without_jitter_fraction_is_exact() -> None:
    delay = next_attempt_delay(DEFAULT_SCHEDULE, 1, jitter_fraction=0, rand=lambda: 0.0)
    assert delay == timedelta(seconds=5)


@pytest.mark.parametrize("attempt", [0, -1])
def test_next_attempt_delay_rejects_non_positive_attempt(attempt: int) -> None:
    with pytest.raises(ValueError, match="1-based"):
        next_attempt_delay(DEFAULT_SCHEDULE, attempt)


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_next_attempt_delay_rejects_bad_jitter_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="jitter_fraction"):
        next_attempt_delay(DEFAULT_SCHEDULE, 1, jitter_fraction=fraction)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("0", timedelta(0)),
        ("120", timedelta(seconds=120)),
        (" 120 ", timedelta(seconds=120)),
        ("999999999999999999999999", MAX_RETRY_AFTER),
        ("Wed, 01 May 2024 12:10:00 GMT", timedelta(minutes=10)),
        ("Wed, 01 May 2024 11:00:00 GMT", timedelta(0)),
        ("Sat, 01 Jun 2024 12:00:00 GMT", MAX_RETRY_AFTER),
    ],
)
def test_retry_after_delay(header: str | None, expected: timedelta | None) -> None:
    assert retry_after_delay(header, NOW) == expected


def test_retry_after_delay_http_date_with_offset_is_normalised() -> None:
    retry_at = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    header = format_datetime(retry_at.astimezone(timezone(timedelta(hours=2))))
    assert header.endswith("+0200")
    assert retry_after_delay(header, NOW) == timedelta(hours=2, minutes=30)


def test_retry_after_delay_custom_maximum() -> None:
    assert retry_after_delay("3600", NOW, maximum=timedelta(minutes=1)) == timedelta(minutes=1)


def test_retry_after_delay_requires_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        retry_after_delay("10", datetime(2024, 5, 1, 12, 0))


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_delay_for_response_honours_retry_after_when_throttled(status: int) -> None:
    delay = delay_for_response(SHORT_SCHEDULE, 1, status, "60", NOW, rand=no_jitter)
    assert delay == timedelta(seconds=60)


def test_delay_for_response_honours_shorter_retry_after() -> None:
    delay = delay_for_response(SHORT_SCHEDULE, 3, 503, "30", NOW, rand=no_jitter)
    assert delay == timedelta(seconds=30)


def test_delay_for_response_caps_retry_after_at_schedule_maximum() -> None:
    delay = delay_for_response(SHORT_SCHEDULE, 1, 429, "86400", NOW, rand=no_jitter)
    assert delay == timedelta(hours=2)


def test_delay_for_response_accepts_http_date() -> None:
    delay = delay_for_response(
        SHORT_SCHEDULE, 1, 503, "Wed, 01 May 2024 12:00:45 GMT", NOW, rand=no_jitter
    )
    assert delay == timedelta(seconds=45)


@pytest.mark.parametrize(
    ("status", "header"),
    [(500, "60"), (404, "60"), (None, "60"), (429, None), (503, "garbage")],
)
def test_delay_for_response_falls_back_to_schedule(status: int | None, header: str | None) -> None:
    delay = delay_for_response(SHORT_SCHEDULE, 2, status, header, NOW, rand=no_jitter)
    assert delay == timedelta(minutes=5)


def test_delay_for_response_retry_after_does_not_extend_attempts() -> None:
    assert delay_for_response(SHORT_SCHEDULE, 4, 429, "10", NOW) is None


def test_the_default_retry_setting_spells_the_default_schedule() -> None:
    assert parse_schedule(DEFAULT_RETRY_SCHEDULE) == DEFAULT_SCHEDULE
