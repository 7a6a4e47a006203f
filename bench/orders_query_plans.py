"""The query plans of matching, on a book of 100,000 resting orders (for docs/orders.md).

A database of this run's own, migrated; 100,000 resting gtc limit orders, pending stops and
waiting ioc orders far from the market on one symbol, 20,000 trailing stops whose marks the quote
neither moves nor whose stops it crosses, plus a few orders the quote can change (among them three
trailing stops: one mark it raises, one it lowers, one stop it crosses); ANALYZE; then EXPLAIN
(ANALYZE, BUFFERS) of the statements a quote runs (adapters/unit_of_work.py).

    uv run python bench/orders_query_plans.py [--resting 100000] [--trailing 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.infra import provision  # noqa: E402
from tradewind.common.contracts import Quote  # noqa: E402
from tradewind.common.migrations import upgrade_database  # noqa: E402
from tradewind.orders.adapters.unit_of_work import matching_queries  # noqa: E402
from tradewind.orders.app import SERVICE_DIR  # noqa: E402

SYMBOL = "AAPL"

SEED = """
INSERT INTO orders (id, account_id, symbol, side, type, qty, limit_price, stop_price,
    time_in_force, status, filled_qty, filled_notional, submitted_at, created_at, updated_at,
    accepted_at, version)
SELECT gen_random_uuid(), 'acct-' || (g % 100), $1,
    CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END,
    CASE WHEN g % 10 = 9 THEN 'stop' ELSE 'limit' END,
    1,
    CASE WHEN g % 10 = 9 THEN NULL WHEN g % 2 = 0 THEN 50 + (g % 5000) / 100.0
        ELSE 300 + (g % 5000) / 100.0 END,
    CASE WHEN g % 10 = 9 THEN (CASE WHEN g % 2 = 0 THEN 400 ELSE 20 END) ELSE NULL END,
    CASE WHEN g % 20000 = 7 THEN 'ioc' ELSE 'gtc' END,
    'new', 0, 0, now(), now() - interval '1 hour' + g * interval '1 microsecond', now(),
    now(), 1
FROM generate_series(1, $2) AS g
"""

# Trailing stops at rest: sells whose mark is above the quote's bid (189.90) with their stop far
# below it, buys whose mark is below its ask (190.10) with their stop far above it.
TRAILING = """
INSERT INTO orders (id, account_id, symbol, side, type, qty, stop_price, trail_price, hwm,
    time_in_force, status, filled_qty, filled_notional, submitted_at, created_at, updated_at,
    accepted_at, version)
SELECT gen_random_uuid(), 'acct-' || (g % 100), $1, side, 'trailing_stop', 1,
    CASE WHEN side = 'sell' THEN hwm - 20 ELSE hwm + 20 END, 20, hwm, 'gtc', 'new', 0, 0, now(),
    now(), now(), now(), 1
FROM (
    SELECT g, CASE WHEN g % 2 = 0 THEN 'sell' ELSE 'buy' END AS side,
        CASE WHEN g % 2 = 0 THEN 190 + (g % 500) / 100.0 ELSE 190.10 - (g % 500) / 100.0 END
            AS hwm
    FROM generate_series(1, $2) AS g
) AS trails
"""

# Three trailing stops the quote changes: a sell mark it raises (189.50 -> 189.90), a buy mark
# it lowers (190.50 -> 190.10), a sell whose stop (189.95) its bid crosses.
TRAILING_CHANGED = """
INSERT INTO orders (id, account_id, symbol, side, type, qty, stop_price, trail_price, hwm,
    time_in_force, status, filled_qty, filled_notional, submitted_at, created_at, updated_at,
    accepted_at, version)
SELECT gen_random_uuid(), 'acct-x', $1, side, 'trailing_stop', 1, stop, 1, hwm, 'gtc', 'new', 0,
    0, now(), now(), now(), now(), 1
FROM (VALUES ('sell', 189.50, 188.50), ('buy', 190.50, 191.50), ('sell', 190.95, 189.95))
    AS changed(side, hwm, stop)
"""

# A few the quote below can change: 3 buys at or above its ask, 2 sells at or below its bid.
MARKETABLE = """
INSERT INTO orders (id, account_id, symbol, side, type, qty, limit_price, time_in_force, status,
    filled_qty, filled_notional, submitted_at, created_at, updated_at, accepted_at, version)
SELECT gen_random_uuid(), 'acct-x', $1, side, 'limit', 1, price, 'gtc', 'new', 0, 0, now(),
    now(), now(), now(), 1
FROM (VALUES ('buy', 190.10), ('buy', 190.20), ('buy', 191), ('sell', 189.90), ('sell', 189))
    AS marketable(side, price)
"""


async def plans(resting: int, trailing: int) -> str:
    with provision() as infra:
        url = await infra.create_database("plans")
        try:
            await asyncio.to_thread(upgrade_database, SERVICE_DIR, url)
            connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
            try:
                await connection.execute(SEED, SYMBOL, resting)
                await connection.execute(MARKETABLE, SYMBOL)
                await connection.execute(TRAILING, SYMBOL, trailing)
                await connection.execute(TRAILING_CHANGED, SYMBOL)
                await connection.execute("ANALYZE orders")
                quote = Quote(
                    symbol=SYMBOL,
                    bid_price=Decimal("189.90"),
                    bid_size=Decimal(100),
                    ask_price=Decimal("190.10"),
                    ask_size=Decimal(100),
                    timestamp=datetime.now(UTC),
                    sequence=1,
                )
                sections = []
                for name, (statement, args) in matching_queries(quote).items():
                    async with connection.transaction():
                        rows = await connection.fetch(
                            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) "
                            + statement,
                            *args,
                        )
                    plan = "\n".join(row[0] for row in rows)
                    sections.append(f"-- {name}\n{plan}")
                return "\n\n".join(sections)
            finally:
                await connection.close()
        finally:
            await infra.drop_databases()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resting", type=int, default=100_000)
    parser.add_argument("--trailing", type=int, default=20_000)
    args = parser.parse_args()
    sys.stdout.write(asyncio.run(plans(args.resting, args.trailing)) + "\n")


if __name__ == "__main__":
    main()
