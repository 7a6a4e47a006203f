"""The market's trading sessions: which days trade, when each opens and closes (pure, no I/O).

One calendar for every service that needs it: the gateway answers ``/api/v1/clock`` and
``/api/v1/calendar`` from it, and the orders service expires day orders at its closes. Times are
wall-clock times in the market's time zone (09:30 to 16:00 in New York by default), so a session
opens at the same local time across a daylight-saving change and at a different UTC time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A calendar with no session in this many days is a configuration error, not a long weekend.
_LONGEST_GAP = timedelta(days=30)


@dataclass(frozen=True)
class MarketSession:
    """One trading day: its date in the market's time zone and its opening and closing instants."""

    day: date
    opens_at: datetime
    closes_at: datetime

    def is_open_at(self, at: datetime) -> bool:
        return self.opens_at <= at < self.closes_at


@dataclass(frozen=True)
class MarketCalendar:
    zone: ZoneInfo
    opens: time
    closes: time
    trading_weekdays: frozenset[int] = frozenset(range(5))  # Monday (0) to Friday (4)
    holidays: frozenset[date] = frozenset()
    early_closes: Mapping[date, time] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("a session must open before it closes")
        if not self.trading_weekdays:
            raise ValueError("a calendar needs at least one trading weekday")
        late = [day for day, closes in self.early_closes.items() if not self.opens < closes]
        if late:
            raise ValueError(f"early closes before the open: {sorted(late)}")

    def session_on(self, day: date) -> MarketSession | None:
        """The session of ``day`` (a date in the market's zone), or None if it does not trade."""
        if day.weekday() not in self.trading_weekdays or day in self.holidays:
            return None
        closes = self.early_closes.get(day, self.closes)
        return MarketSession(
            day=day,
            opens_at=datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC),
            closes_at=datetime.combine(day, closes, tzinfo=self.zone).astimezone(UTC),
        )

    def sessions(self, first: date, last: date) -> list[MarketSession]:
        """Every session from ``first`` to ``last``, both included."""
        return [
            session
            for offset in range((last - first).days + 1)
            if (session := self.session_on(first + timedelta(days=offset))) is not None
        ]

    def is_open(self, at: datetime) -> bool:
        session = self.session_on(self._local_day(at))
        return session is not None and session.is_open_at(at)

    def next_open(self, at: datetime) -> datetime:
        """The first opening strictly after ``at`` (while open: the next session's)."""
        return next(s.opens_at for s in self._sessions_from(self._local_day(at)) if s.opens_at > at)

    def next_close(self, at: datetime) -> datetime:
        """The first close after ``at``: today's while open, else the next session's."""
        return next(
            s.closes_at for s in self._sessions_from(self._local_day(at)) if s.closes_at > at
        )

    def latest_close(self, at: datetime) -> datetime:
        """The most recent close at or before ``at``: day orders submitted before it expire."""
        day = self._local_day(at)
        for offset in range(_LONGEST_GAP.days + 1):
            session = self.session_on(day - timedelta(days=offset))
            if session is not None and session.closes_at <= at:
                return session.closes_at
        raise ValueError(f"no session in the {_LONGEST_GAP.days} days before {at.isoformat()}")

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def _local_day(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("an instant needs its time zone")
        return at.astimezone(self.zone).date()

    def _sessions_from(self, day: date) -> Iterator[MarketSession]:
        for offset in range(_LONGEST_GAP.days + 2):
            session = self.session_on(day + timedelta(days=offset))
            if session is not None:
                yield session
        raise ValueError(f"no session in the {_LONGEST_GAP.days} days after {day.isoformat()}")
