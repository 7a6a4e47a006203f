"""One drill per fault: load, the fault, recovery, a quiet period, the invariants; then the table.

Each drill has an account of its own (a key, a webhook endpoint, a ledger), so its figures are
its own; the last row checks every account again once all drills are done, since a later fault
may still reach the orders an earlier drill left resting.

Phases are counted in requests, not seconds, so a busy machine stretches them instead of
cutting them short: the fault comes after ``warmup_orders`` answers 202, the outage lasts
``outage_requests`` requests, the load goes on for ``tail_orders`` 202s after recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from chaos.faults import Fault, slug
from chaos.invariants import Verdict, judge, judge_parking_lots, snapshot
from chaos.load import Ledger, LoadGenerator, Market, QuoteFeed, Trader
from chaos.receiver import WebhookReceiver
from chaos.servers import RestartableServer
from chaos.system import ChaosSystem, chaos_system
from support.infra import Infra, ServerOverrides, provision
from support.polling import eventually

log = logging.getLogger(__name__)

# What a harness read may meet while PostgreSQL restarts (only with --with-infra-restarts).
STORE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


@dataclass(frozen=True)
class DrillTiming:
    rate: float
    """Load actions (places, cancels, replaces) a second."""
    quote_interval_s: float
    warmup_orders: int
    outage_requests: int
    tail_orders: int
    recover_timeout_s: float
    quiet_timeout_s: float


SHORT_TIMING = DrillTiming(
    rate=12,
    quote_interval_s=0.2,
    warmup_orders=15,
    outage_requests=10,
    tail_orders=15,
    recover_timeout_s=60,
    quiet_timeout_s=45,
)
FULL_TIMING = DrillTiming(
    rate=25,
    quote_interval_s=0.15,
    warmup_orders=100,
    outage_requests=50,
    tail_orders=100,
    recover_timeout_s=120,
    quiet_timeout_s=120,
)


@dataclass
class FaultReport:
    fault: str
    placed: int
    """Orders asked for: POSTs and PATCHes (replaces), answered or not."""
    accepted: int
    """Of those, answered 202: orders that must exist."""
    verdict: Verdict
    recover_s: float | None
    """From the fault until an order placed after it was decided and its webhook arrived, and
    a quote was ingested; None if that never happened."""
    recovers: bool = True
    """False for the closing check of every account, which follows no fault of its own."""

    @property
    def lost(self) -> int:
        return self.verdict.count("lost")

    @property
    def duplicated(self) -> int:
        return self.verdict.count("duplicated")

    @property
    def wrong(self) -> int:
        return self.verdict.count("wrong")

    @property
    def clean(self) -> bool:
        return not self.verdict.findings and (self.recover_s is not None or not self.recovers)


@dataclass
class Drill:
    """What a fault sees of the drill it is injected into."""

    system: ChaosSystem
    market: Market
    timing: DrillTiming
    account: str
    ledger: Ledger
    trader: Trader
    requests_at_fault: int = 0

    async def outage(self) -> None:
        """Until the load has sent ``outage_requests`` more requests into the fault."""
        target = self.requests_at_fault + self.timing.outage_requests

        async def lasted() -> bool:
            return self.ledger.requests >= target

        await eventually(lasted, timeout=120, interval=0.05, message="the load stalled")


class ChaosRun:
    def __init__(
        self,
        system: ChaosSystem,
        receiver: WebhookReceiver,
        timing: DrillTiming,
        seed: int,
    ) -> None:
        self.system = system
        self.receiver = receiver
        self.timing = timing
        self.rng = random.Random(seed)
        self.market = Market(self.rng)
        self.feed = QuoteFeed(
            system.processes.market_data.url, self.market, timing.quote_interval_s
        )
        self.ledgers: dict[str, Ledger] = {}
        self.traders: list[Trader] = []

    async def close(self) -> None:
        await self.feed.close()
        for trader in self.traders:
            await trader.close()

    async def drill(self, number: int, fault: Fault) -> FaultReport:
        account = account_of(number, fault)
        key = await self.system.create_key(account)
        await self.system.register_webhook(key, self.receiver.url_for(account))
        ledger = self.ledgers[account] = Ledger()
        trader = Trader(
            self.system.processes.gateway.url,
            key,
            ledger,
            self.market,
            self.rng,
        )
        self.traders.append(trader)
        drill = Drill(self.system, self.market, self.timing, account, ledger, trader)
        log.info("drill %d: %s", number, fault.name)
        await fault.prepare(drill)
        load = LoadGenerator(trader, self.timing.rate)
        async with _running(self.feed.run, load.run):
            await _until(lambda: ledger.accepted, self.timing.warmup_orders, "the warm-up")
            drill.requests_at_fault = ledger.requests
            started = time.monotonic()
            await fault.inject(drill)
            # Recovery and its measure run together; if either fails, the other is cancelled.
            async with asyncio.TaskGroup() as group:
                group.create_task(fault.recover(drill))
                measured = group.create_task(self._time_to_recover(drill, started))
            recover_s = measured.result()
            log.info("drill %d: recovered in %s s", number, recover_s)
            tail_target = ledger.accepted + self.timing.tail_orders
            await _until(lambda: ledger.accepted, tail_target, "the load after recovery")
        log.info(
            "drill %d: load stopped (answers: %s; quotes ingested %d, failed %s); settling",
            number,
            dict(ledger.answers),
            self.feed.ingested,
            dict(self.feed.failures),
        )
        verdict = await self._settled_verdict([account])
        return FaultReport(fault.name, ledger.requests, ledger.accepted, verdict, recover_s)

    async def final_check(self) -> FaultReport:
        """Every drill's account again, after the last drill: nothing lost or doubled since."""
        log.info("all drills done: checking every account once more")
        verdict = await self._settled_verdict(list(self.ledgers))
        placed = sum(ledger.requests for ledger in self.ledgers.values())
        accepted = sum(ledger.accepted for ledger in self.ledgers.values())
        return FaultReport(
            "all drills, at the end", placed, accepted, verdict, recover_s=None, recovers=False
        )

    async def _time_to_recover(self, drill: Drill, started: float) -> float | None:
        """Seconds from the fault until the whole path works again for an order placed after
        it: answered 202, decided by orders, its order.accepted at the partner; and a quote
        accepted by market-data. The canary buys at 1.00: it rests, nothing fills it."""
        canary = {
            "symbol": self.market.symbols[0],
            "side": "buy",
            "type": "limit",
            "qty": "1",
            "limit_price": "1.00",
            "time_in_force": "gtc",
        }
        deadline = started + self.timing.recover_timeout_s

        async def placed() -> uuid.UUID | None:
            return await drill.trader.place(canary)

        async def through(order_id: uuid.UUID) -> bool:
            try:
                status = await self.system.orders_db.fetchval(
                    "SELECT status FROM orders WHERE id = $1", order_id
                )
            except STORE_ERRORS:
                return False
            return (
                status not in (None, "pending_new")
                and self.receiver.has(drill.account, "order.accepted", str(order_id))
                and self.feed.last_success > started
            )

        try:
            order_id = await eventually(
                placed, timeout=deadline - time.monotonic(), interval=0.2, message="no canary"
            )
            await eventually(
                lambda: through(order_id),
                timeout=max(0.0, deadline - time.monotonic()),
                interval=0.05,
                message="the canary never went through",
            )
        except AssertionError as exc:
            log.error("not recovered: %s", exc)
            return None
        return time.monotonic() - started

    async def _settled_verdict(self, accounts: Sequence[str]) -> Verdict:
        """Wait (with a deadline) until nothing is missing any more, then judge."""

        async def settled() -> bool:
            try:
                for account in accounts:
                    state = await snapshot(self.system, self.receiver, account)
                    if judge(state, self.ledgers[account]).count("lost"):
                        return False
                parked = await self.system.parked_counts()
            except STORE_ERRORS:
                return False
            expected = Counter(poison.parking_lot for poison in self.system.poisons)
            return all(parked.get(lot, 0) >= count for lot, count in expected.items())

        try:
            await eventually(settled, timeout=self.timing.quiet_timeout_s, interval=0.25)
        except AssertionError:
            log.error(
                "the system did not settle within %s s; judging what is there",
                self.timing.quiet_timeout_s,
            )
        verdict = Verdict()
        for account in accounts:
            state = await snapshot(self.system, self.receiver, account)
            verdict.extend(judge(state, self.ledgers[account]))
        parked = await self.system.parked_messages()
        verdict.extend(judge_parking_lots(parked, self.system.poisons))
        return verdict


def account_of(number: int, fault: Fault) -> str:
    """The account a drill trades in: its own, so its figures are its own."""
    return f"chaos-{number}-{slug(fault.name)}"


async def _until(count: Callable[[], int], target: int, phase: str) -> None:
    async def reached() -> bool:
        return count() >= target

    await eventually(reached, timeout=180, interval=0.05, message=f"{phase} never ended")


@contextlib.asynccontextmanager
async def _running(*loops: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Run the loops in the background for the block's duration; cancel them after it."""
    tasks = [asyncio.create_task(loop()) for loop in loops]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                log.error("a background loop of the drill failed", exc_info=outcome)


@contextlib.asynccontextmanager
async def private_infra(overrides: ServerOverrides | None = None) -> AsyncIterator[Infra]:
    """A run of its own on the shared servers (or those of ``overrides``, the run's private
    ones): vhost, databases and Redis namespace, all removed at the end."""
    with contextlib.ExitStack() as stack:
        infra = await asyncio.to_thread(stack.enter_context, provision(overrides))
        try:
            yield infra
        finally:
            await infra.drop_databases()
            await infra.delete_redis_keys()


async def run_drills(
    infra: Infra,
    faults: Sequence[Fault],
    timing: DrillTiming,
    seed: int,
    servers: Mapping[str, RestartableServer] | None = None,
) -> list[FaultReport]:
    """Start the system, run one drill per fault, check everything once more at the end.
    ``servers``: the run's private servers, which restart drills restart (chaos.servers)."""
    receiver = await WebhookReceiver().start()
    try:
        async with chaos_system(infra, servers) as system:
            run = ChaosRun(system, receiver, timing, seed)
            reports: list[FaultReport] = []
            try:
                for number, fault in enumerate(faults, 1):
                    try:
                        reports.append(await run.drill(number, fault))
                    except Exception as exc:
                        # A drill that could not finish (a process that never came back) makes
                        # the later ones meaningless: report it and stop, the table still shows.
                        log.exception("drill %d (%s) failed", number, fault.name)
                        failed = Verdict()
                        failed.add("wrong", f"the drill could not finish: {exc!r}")
                        ledger = run.ledgers.get(account_of(number, fault), Ledger())
                        reports.append(
                            FaultReport(fault.name, ledger.requests, ledger.accepted, failed, None)
                        )
                        break
                else:
                    reports.append(await run.final_check())
            finally:
                await run.close()
    finally:
        await receiver.stop()
    return reports


COLUMNS = (
    ("fault", 26),
    ("placed", 7),
    ("accepted", 9),
    ("lost", 5),
    ("duplicated", 11),
    ("wrong", 6),
    ("webhooks", 9),
    ("redelivered", 12),
    ("recover s", 10),
)


def format_table(reports: Sequence[FaultReport], findings_per_fault: int = 10) -> str:
    """The figures, one row per drill, then what each drill found (a few lines each)."""
    header = "".join(
        name.ljust(width) if i == 0 else name.rjust(width)
        for i, (name, width) in enumerate(COLUMNS)
    )
    lines = [header, "-" * len(header)]
    for report in reports:
        recover = (
            ""
            if not report.recovers
            else "-"
            if report.recover_s is None
            else f"{report.recover_s:.1f}"
        )
        cells = (
            report.fault,
            report.placed,
            report.accepted,
            report.lost,
            report.duplicated,
            report.wrong,
            report.verdict.webhooks_received,
            report.verdict.redelivered_webhooks,
            recover,
        )
        lines.append(
            "".join(
                str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    for report in reports:
        if report.recovers and report.recover_s is None:
            lines.append(f"{report.fault}: did not recover within the deadline")
        for finding in report.verdict.findings[:findings_per_fault]:
            lines.append(f"{report.fault}: {finding.kind}: {finding.what}")
        hidden = len(report.verdict.findings) - findings_per_fault
        if hidden > 0:
            lines.append(f"{report.fault}: ... and {hidden} more")
    return "\n".join(lines)
