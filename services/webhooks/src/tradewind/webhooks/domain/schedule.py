"""Retry schedule for failed webhook deliveries.

A schedule lists the delay before each retry: ``schedule[0]`` follows the first
(failed) attempt, ``schedule[1]`` the second, and so on. A delivery therefore gets
``len(schedule) + 1`` attempts in total.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)

# A receiver cannot park a delivery for longer than this, whatever Retry-After says.
MAX_RETRY_AFTER = timedelta(hours=24)

# Statuses the spec treats as "slow down" signals, for which Retry-After is honoured.
THROTTLING_STATUSES = frozenset({429, 502, 503, 504})

_UNIT_MILLISECONDS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_SCHEDULE_ITEM = re.compile(r"(?P<amount>[0-9]+)(?P<unit>ms|[smhd])")
_DELTA_SECONDS = re.compile(r"[0-9]+")


def parse_duration(text: str) -> timedelta:
    """Parse one duration such as ``"200ms"``, ``"5s"``, ``"24h"`` or ``"5d"``."""
    item = text.strip()
    match = _SCHEDULE_ITEM.fullmatch(item)
    if match is None:
        raise ValueError(f"invalid duration {item!r}: expected <integer><ms|s|m|h|d>")
    return timedelta(milliseconds=int(match["amount"]) * _UNIT_MILLISECONDS[match["unit"]])


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """Parse a configured schedule such as ``"5s,5m,30m,2h,1d"`` (``ms`` is for tests)."""
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise ValueError("retry schedule is empty")
    schedule: list[timedelta] = []
    for item in items:
        try:
            delay = parse_duration(item)
        except ValueError:
            raise ValueError(
                f"invalid retry delay {item!r} in {text!r}: expected <integer><ms|s|m|h|d>"
            ) from None
        if delay <= timedelta(0):
            raise ValueError(f"retry delay {item!r} in {text!r} must be greater than zero")
        schedule.append(delay)
    return tuple(schedule)


def next_attempt_delay(
    schedule: Sequence[timedelta],
    attempt_number: int,
    *,
    jitter_fraction: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> timedelta | None:
    """Delay before the attempt after ``attempt_number`` (1-based) failed.

    Returns ``None`` once the schedule is exhausted. The delay is spread uniformly by
    up to ``±jitter_fraction`` so endpoints recovering from an outage are not hit by
    every queued delivery at the same instant.
    """
    if attempt_number < 1:
        raise ValueError(f"attempt_number is 1-based, got {attempt_number}")
    if not 0 <= jitter_fraction < 1:
        raise ValueError(f"jitter_fraction must be in [0, 1), got {jitter_fraction}")
    if attempt_number > len(schedule):
        return None
    base_delay = schedule[attempt_number - 1]
    return base_delay * (1 + jitter_fraction * (2 * rand() - 1))


def retry_after_delay(
    header_value: str | None, now: datetime, *, maximum: timedelta = MAX_RETRY_AFTER
) -> timedelta | None:
    """Parse ``Retry-After`` (delta-seconds or HTTP-date) into a delay from ``now``.

    Returns ``None`` when the header is absent or unparseable; the result is clamped
    to ``[0, maximum]``.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if header_value is None or not header_value.strip():
        return None
    value = header_value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        # Clamp before building the timedelta: an absurd value would overflow it.
        return timedelta(seconds=min(int(value), int(maximum.total_seconds())))
    try:
        retry_at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if retry_at.tzinfo is None:
        # HTTP-dates are always GMT; email.utils reports "-0000" zones as naive.
        retry_at = retry_at.replace(tzinfo=UTC)
    return max(timedelta(0), min(retry_at - now, maximum))


def delay_for_response(
    schedule: Sequence[timedelta],
    attempt_number: int,
    status: int | None,
    retry_after_header: str | None,
    now: datetime,
    *,
    jitter_fraction: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> timedelta | None:
    """Delay before retrying after attempt ``attempt_number`` got ``status``.

    ``status`` is ``None`` when no response arrived (timeout, connection error).
    For throttling statuses a valid ``Retry-After`` replaces the scheduled delay,
    capped at the schedule's longest delay; it never grants attempts beyond the
    schedule. Whether to retry at all (2xx, 410 Gone) is the caller's decision.
    """
    scheduled = next_attempt_delay(
        schedule, attempt_number, jitter_fraction=jitter_fraction, rand=rand
    )
    if scheduled is None:
        return None
    if status in THROTTLING_STATUSES:
        requested = retry_after_delay(retry_after_header, now)
        if requested is not None:
            return min(requested, max(schedule))
    return scheduled
