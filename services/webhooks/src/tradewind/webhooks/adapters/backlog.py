"""The delivery backlog and disabled endpoints, sampled from the database into gauges.

The health service and Prometheus read them from /metrics: how much waits to be sent, and how
many partners receive nothing because an endpoint is switched off. A count per sample, capped,
so a huge backlog costs a bounded index scan; endpoints are few (a handful per account).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg

from tradewind.webhooks import metrics
from tradewind.webhooks.adapters.records import DISABLED_BY_ACCOUNT

log = logging.getLogger(__name__)

PENDING_COUNT_CAP = 100_000


@dataclass(frozen=True)
class Backlog:
    pending_deliveries: int
    disabled_by_service: int
    disabled_by_account: int


async def read_backlog(connection: asyncpg.Connection) -> Backlog:
    row = await connection.fetchrow(_BACKLOG, PENDING_COUNT_CAP, DISABLED_BY_ACCOUNT)
    return Backlog(
        pending_deliveries=row["pending"],
        disabled_by_service=row["by_service"],
        disabled_by_account=row["by_account"],
    )


def publish(backlog: Backlog) -> None:
    metrics.DELIVERIES_PENDING.set(backlog.pending_deliveries)
    metrics.DISABLED_ENDPOINTS.labels(disabled_by="service").set(backlog.disabled_by_service)
    metrics.DISABLED_ENDPOINTS.labels(disabled_by="account").set(backlog.disabled_by_account)


async def sample_backlog(pool: asyncpg.Pool, interval_s: float) -> None:
    """Every ``interval_s``: read the backlog and set the gauges, until cancelled."""
    while True:
        try:
            async with pool.acquire() as connection:
                publish(await read_backlog(connection))
        except Exception:
            # The gauges keep their last values; readiness already says when the database is down.
            log.warning("sampling the delivery backlog failed", exc_info=True)
        await asyncio.sleep(interval_s)


_BACKLOG = """
    SELECT
        (SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE status = 'pending' LIMIT $1) AS p)
            AS pending,
        count(*) FILTER (WHERE disabled_reason IS DISTINCT FROM $2) AS by_service,
        count(*) FILTER (WHERE disabled_reason = $2) AS by_account
    FROM endpoints WHERE NOT enabled
"""
