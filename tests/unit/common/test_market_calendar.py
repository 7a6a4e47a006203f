"""The market calendar: sessions in the market's own time, weekends, holidays, early closes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.common.market_calendar import MarketCalendar
from tradewind.common.settings import SharedSettings

NEW_YORK = ZoneInfo("America/New_York")
CALENDAR = SharedSettings().market_calendar()


def ny(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=NEW_YORK).astimezone(UTC)


def test_a_session_opens_and_closes_at_the_same_local_time_across_daylight_saving() -> None:
    before = CALENDAR.session_on(date(2026, 3, 6))  # a Friday, standard time (UTC-5)
    after = CALENDAR.session_on(date(2026, 3, 9))  # the Monday after the change (UTC-4)
    assert before is not None
    assert after is not None
    assert before.opens_at == datetime(2026, 3, 6, 14, 30, tzinfo=UTC)
    assert after.opens_at == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    assert after.closes_at == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)


def test_weekends_and_holidays_do_not_trade_and_early_closes_close_early() -> None:
    assert CALENDAR.session_on(date(2026, 12, 5)) is None  # Saturday
    assert CALENDAR.session_on(date(2026, 11, 26)) is None  # Thanksgiving
    early = CALENDAR.session_on(date(2026, 11, 27))
    assert early is not None
    assert early.closes_at == ny(date(2026, 11, 27), time(13, 0))
    days = [session.day for session in CALENDAR.sessions(date(2026, 11, 23), date(2026, 11, 29))]
    assert days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]


def test_open_from_the_opening_instant_until_just_before_the_close() -> None:
    day = date(2026, 12, 4)
    assert not CALENDAR.is_open(ny(day, time(9, 29, 59)))
    assert CALENDAR.is_open(ny(day, time(9, 30)))
    assert CALENDAR.is_open(ny(day, time(15, 59, 59)))
    assert not CALENDAR.is_open(ny(day, time(16, 0)))


def test_next_open_and_next_close_while_open_and_while_closed() -> None:
    friday, monday = date(2026, 12, 4), date(2026, 12, 7)
    during = ny(friday, time(11, 0))
    assert CALENDAR.next_close(during) == ny(friday, time(16, 0))
    assert CALENDAR.next_open(during) == ny(monday, time(9, 30)), "the next session's"
    early_morning = ny(friday, time(7, 0))
    assert CALENDAR.next_open(early_morning) == ny(friday, time(9, 30))
    assert CALENDAR.next_close(early_morning) == ny(friday, time(16, 0))
    weekend = ny(date(2026, 12, 5), time(12, 0))
    assert CALENDAR.next_open(weekend) == ny(monday, time(9, 30))


def test_the_latest_close_skips_weekends_and_holidays() -> None:
    monday_morning = ny(date(2026, 11, 30), time(8, 0))
    assert CALENDAR.latest_close(monday_morning) == ny(date(2026, 11, 27), time(13, 0))
    at_the_close = ny(date(2026, 12, 4), time(16, 0))
    assert CALENDAR.latest_close(at_the_close) == at_the_close
    thanksgiving = ny(date(2026, 11, 26), time(17, 0))
    assert CALENDAR.latest_close(thanksgiving) == ny(date(2026, 11, 25), time(16, 0))


@pytest.mark.parametrize(
    ("opens", "closes", "weekdays", "early", "complaint"),
    [
        (time(16, 0), time(9, 30), range(5), {}, "open before it closes"),
        (time(9, 30), time(16, 0), (), {}, "at least one trading weekday"),
        (time(9, 30), time(16, 0), range(5), {date(2026, 1, 2): time(9, 0)}, "before the open"),
    ],
)
def test_a_calendar_that_cannot_be_is_refused(
    opens: time,
    closes: time,
    weekdays: range | tuple[int, ...],
    early: dict[date, time],
    complaint: str,
) -> None:
    with pytest.raises(ValueError, match=complaint):
        MarketCalendar(
            zone=NEW_YORK,
            opens=opens,
            closes=closes,
            trading_weekdays=frozenset(weekdays),
            early_closes=early,
        )


def test_the_settings_refuse_an_unknown_zone_and_weekday() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        SharedSettings(market_timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="weekdays"):
        SharedSettings(market_weekdays=[7])


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)
    )
)
def test_the_clock_agrees_with_itself_at_any_instant(at: datetime) -> None:
    next_open, next_close = CALENDAR.next_open(at), CALENDAR.next_close(at)
    assert next_open > at
    assert next_close > at
    assert CALENDAR.latest_close(at) <= at
    # Open exactly when the next close comes before the next open.
    assert CALENDAR.is_open(at) == (next_close < next_open)
    assert next_open - at < timedelta(days=5)
    assert next_close - at < timedelta(days=5)
