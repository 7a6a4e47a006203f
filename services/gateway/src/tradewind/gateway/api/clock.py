"""/api/v1/clock and /api/v1/calendar: the market's sessions, as Alpaca's Trading API names them.

Answered by the gateway itself from the calendar in the settings (the same one the orders
service expires day orders by); times are given in the market's time zone, with their offset.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from tradewind.common.contracts.types import utc_now
from tradewind.common.problems import Problem
from tradewind.gateway.api.deps import MarketCalendarDep
from tradewind.gateway.api.market import ReadMarket
from tradewind.gateway.api.orders import PROBLEM_RESPONSES

router = APIRouter(tags=["market clock"])

EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
DEFAULT_DAYS = 30
LONGEST_RANGE_DAYS = 366

CalendarDate = Annotated[
    date | None,
    Query(
        ge=EARLIEST,
        le=LATEST,
        description="A date in the market's time zone (YYYY-MM-DD), 2000-01-01 to 2100-12-31.",
        # JSON Schema has no minimum for dates; these are the keywords validators use for it.
        json_schema_extra={
            "formatMinimum": EARLIEST.isoformat(),
            "formatMaximum": LATEST.isoformat(),
        },
    ),
]


class Clock(BaseModel):
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


class CalendarDay(BaseModel):
    date: date
    open: str  # HH:MM, local to the market
    close: str


@router.get("/api/v1/clock", response_model=Clock, responses=PROBLEM_RESPONSES, summary="Clock")
async def clock(_: ReadMarket, calendar: MarketCalendarDep) -> Clock:
    """Whether the market is open now, and when it next opens and closes."""
    now = utc_now()
    return Clock(
        timestamp=calendar.local(now),
        is_open=calendar.is_open(now),
        next_open=calendar.local(calendar.next_open(now)),
        next_close=calendar.local(calendar.next_close(now)),
    )


@router.get(
    "/api/v1/calendar",
    response_model=list[CalendarDay],
    responses=PROBLEM_RESPONSES,
    summary="Trading days",
)
async def trading_days(
    _: ReadMarket,
    calendar: MarketCalendarDep,
    start: CalendarDate = None,
    end: CalendarDate = None,
) -> list[CalendarDay]:
    """The sessions from ``start`` (default: today) to ``end`` (default: 30 days on), both
    included, at most 366 days at once; days without a session are left out."""
    first = start or calendar.local(utc_now()).date()
    last = end or min(first + timedelta(days=DEFAULT_DAYS), LATEST)
    if last < first:
        raise Problem(422, "Invalid date range", "end is before start.", kind="invalid-range")
    if (last - first).days >= LONGEST_RANGE_DAYS:
        raise Problem(
            422,
            "Invalid date range",
            f"At most {LONGEST_RANGE_DAYS} days at once; ask for the rest in another request.",
            kind="invalid-range",
        )
    return [
        CalendarDay(
            date=session.day,
            open=calendar.local(session.opens_at).strftime("%H:%M"),
            close=calendar.local(session.closes_at).strftime("%H:%M"),
        )
        for session in calendar.sessions(first, last)
    ]
