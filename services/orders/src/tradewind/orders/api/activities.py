"""Internal HTTP API: an account's activities, newest first, a page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradewind.common.contracts.activities import (
    ACTIVITY_TYPES,
    ACTIVITY_TYPES_PATTERN,
    ActivityPageView,
    FillActivityView,
)
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, UtcDateTime
from tradewind.common.http_paging import page_cursor
from tradewind.common.problems import Problem
from tradewind.orders.adapters.activities import ActivityCursor
from tradewind.orders.api.routes import PROBLEM, AccountIdPath, Runtime
from tradewind.orders.domain.activities import ActivityType, FillActivity

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


def view_of(activity: FillActivity) -> FillActivityView:
    return FillActivityView.model_validate(activity, from_attributes=True)


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
            description="Comma-separated activity types (only FILL exists so far); all if unset.",
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
    if ActivityType.FILL not in wanted_types(activity_types):
        return ActivityPageView(data=[], next_page_token=None)
    page = await runtime.activities.page(
        account_id, limit=limit, cursor=cursor, after=after, until=until
    )
    return ActivityPageView(
        data=[view_of(activity) for activity in page.activities],
        next_page_token=page.next_cursor.encode() if page.next_cursor else None,
    )
