"""Internal HTTP API: an account's activities, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradewind.common.contracts.activities import (
    ACTIVITY_TYPES,
    ACTIVITY_TYPES_PATTERN,
    ActivityPageView,
    ActivityView,
    CashActivityView,
    FillActivityView,
)
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, UtcDateTime
from tradewind.common.http_paging import page_cursor
from tradewind.common.problems import Problem
from tradewind.orders.adapters.activities import ActivityCursor
from tradewind.orders.api.routes import PROBLEM, AccountIdPath, Runtime
from tradewind.orders.domain.activities import (
    CASH_ACTIVITY_TYPES,
    Activity,
    ActivityType,
    FillActivity,
    merge_newest_first,
)

router = APIRouter(prefix="/internal/v1/accounts/{account_id}/activities", tags=["activities"])


def wanted_types(activity_types: str | None) -> set[ActivityType]:
    """The types asked for (all when none); an unknown type is a 422 naming it."""
    if activity_types is None:
        return set(ActivityType)
    names = activity_types.split(",")
    unknown = [name for name in names if name not in ACTIVITY_TYPES]
    if unknown:
        raise Problem(
            422,
            "Unknown activity type",
            f"Unknown activity type(s): {', '.join(unknown)}. Known: {', '.join(ACTIVITY_TYPES)}.",
            kind="validation-error",
            extensions={
                "errors": [
                    {"field": "activity_types", "in": "query", "message": f"unknown: {name}"}
                    for name in unknown
                ]
            },
        )
    return {ActivityType(name) for name in names}


def view_of(activity: Activity) -> ActivityView:
    if isinstance(activity, FillActivity):
        return FillActivityView.model_validate(activity, from_attributes=True)
    return CashActivityView.model_validate(activity, from_attributes=True)


@router.get(
    "",
    summary="The account's activities, newest first",
    responses={400: {"description": "page_token is not valid", **PROBLEM}},
)
async def list_activities(
    account_id: AccountIdPath,
    runtime: Runtime,
    activity_types: Annotated[
        str | None,
        Query(
            pattern=ACTIVITY_TYPES_PATTERN,
            description="Comma-separated activity types (FILL, CSD, CSW); all if unset.",
        ),
    ] = None,
    after: Annotated[
        UtcDateTime | None, Query(description="Only activities at or after this time.")
    ] = None,
    until: Annotated[
        UtcDateTime | None, Query(description="Only activities before this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
) -> ActivityPageView:
    cursor = page_cursor(page_token, ActivityCursor.decode)
    wanted = wanted_types(activity_types)
    # Fills and cash movements live in tables of their own; each gives its newest page after
    # the cursor, and the newest of both make this page.
    pages: list[list[Activity]] = []
    more = False
    if ActivityType.FILL in wanted:
        fills = await runtime.activities.page(
            account_id, limit=limit, cursor=cursor, after=after, until=until
        )
        pages.append(list(fills.activities))
        more = fills.next_cursor is not None
    if wanted & CASH_ACTIVITY_TYPES:
        movements, more_movements = await runtime.ledgers.cash_activities(
            account_id,
            types=wanted & CASH_ACTIVITY_TYPES,
            limit=limit,
            cursor=cursor,
            after=after,
            until=until,
        )
        pages.append(list(movements))
        more = more or more_movements
    data, cut = merge_newest_first(pages, limit)
    next_cursor = (
        ActivityCursor(data[-1].transaction_time, data[-1].id) if data and (more or cut) else None
    )
    return ActivityPageView(
        data=[view_of(activity) for activity in data],
        next_page_token=next_cursor.encode() if next_cursor else None,
    )
