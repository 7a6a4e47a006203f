"""The quote feeds' one way into the pipeline. Each feed (the simulator, HTTP ingest, the replay)
offers its batches here; with a providers chain, only the quotes of the feed that is active for
their symbol go on to be sequenced and published, and the feed supervisor
(``domain.feed_supervisor``) decides which feed that is. Without a chain every batch goes on, as
before chains existed.

Why the choice is made before the pipeline's ``publish``: a quote takes its sequence number
there, so a standby feed's quotes take none, and a symbol's published sequence has no gap and
no repeat across switches (one feed is active per symbol at any instant, and each admitted quote
takes the next number).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tradewind.common.contracts import Quote
from tradewind.common.health import Check, Degraded
from tradewind.market_data.adapters.latest import QuoteSource
from tradewind.market_data.domain.feed_supervisor import (
    FeedSupervisor,
    Gap,
    ProviderHealth,
    ProviderName,
    Switch,
)
from tradewind.market_data.domain.quotes import InvalidQuotes, QuoteInput
from tradewind.market_data.handlers.quote_pipeline import QuotePipeline
from tradewind.market_data.metrics import (
    PROVIDER_ACTIVE_SYMBOLS,
    PROVIDER_ERRORS,
    PROVIDER_GAPS,
    PROVIDER_QUOTE_AGE,
    PROVIDER_QUOTE_LATENCY,
    PROVIDER_QUOTES,
    PROVIDER_SWITCHES,
    PROVIDER_UP,
    PROVIDER_UPTIME,
)

log = logging.getLogger(__name__)

# The contract's ``source`` of each feed's quotes (``ingest`` predates the chain's names).
SOURCE_OF: dict[ProviderName, QuoteSource] = {
    "simulator": "simulator",
    "http": "ingest",
    "replay": "replay",
}
_UP_VALUE = {"healthy": 1.0, "degraded": 0.5, "stale": 0.0, "failing": 0.0}
# The health gauges are refreshed at least this often (and twice per staleness period).
MAX_REPORT_INTERVAL_S = 1.0


class ProviderNotInChain(LookupError):
    """A feed offered quotes that the configured chain does not list."""


@dataclass(frozen=True)
class Offered:
    published: list[Quote]
    # Valid quotes not published because another feed is active for their symbol.
    standby: int


class FeedChain:
    def __init__(
        self,
        pipeline: QuotePipeline,
        supervisor: FeedSupervisor | None,
        *,
        monotonic: Callable[[], float],
        clock: Callable[[], datetime],
    ) -> None:
        self.pipeline = pipeline
        self.supervisor = supervisor
        self.monotonic = monotonic
        self.clock = clock

    @property
    def chain(self) -> tuple[str, ...]:
        return () if self.supervisor is None else self.supervisor.policy.chain

    async def offer(self, provider: ProviderName, quotes: Sequence[QuoteInput]) -> Offered:
        """Publish what ``provider`` may publish of ``quotes``: InvalidQuotes (nothing done; a
        failure of the feed), QuotesNotPublished (as ``QuotePipeline.publish``) or
        ProviderNotInChain."""
        source = SOURCE_OF[provider]
        supervisor = self.supervisor
        if supervisor is None:
            return Offered(await self.pipeline.ingest(quotes, source), standby=0)
        if provider not in supervisor.policy.chain:
            raise ProviderNotInChain(f"{provider} is not in the providers chain {self.chain}")
        try:
            valid = self.pipeline.validate(quotes, source)
        except InvalidQuotes:
            supervisor.failed(provider, now=self.monotonic())
            PROVIDER_ERRORS.labels(provider=provider).inc()
            raise
        newest = max(quote.timestamp for quote in valid)
        offer = supervisor.offer(
            provider,
            [quote.symbol for quote in valid],
            now=self.monotonic(),
            latency_s=(self.clock() - newest).total_seconds(),
        )
        self._record(offer.switches, offer.gaps)
        admitted = [quote for quote in valid if quote.symbol in offer.admitted]
        standby = len(valid) - len(admitted)
        PROVIDER_QUOTES.labels(provider=provider, outcome="published").inc(len(admitted))
        PROVIDER_QUOTES.labels(provider=provider, outcome="standby").inc(standby)
        published = await self.pipeline.publish(admitted, source) if admitted else []
        return Offered(published, standby)

    def health(self) -> list[ProviderHealth]:
        return [] if self.supervisor is None else self.supervisor.health(self.monotonic())

    def readiness_check(self, provider: str) -> Check:
        """A readiness check (``feed.<provider>``): degraded while the feed is not healthy, so
        the health service's page shows a chain running on a fallback."""

        async def check() -> None:
            for health in self.health():
                if health.name == provider and health.state != "healthy":
                    raise Degraded(f"{health.state} ({health.role})")

        return check

    async def report_health(self) -> None:
        """Until cancelled: count silences that became gaps and refresh the health gauges."""
        supervisor = self.supervisor
        if supervisor is None:
            return
        interval_s = min(MAX_REPORT_INTERVAL_S, supervisor.policy.staleness_s / 2)
        while True:
            self._record((), supervisor.tick(self.monotonic()))
            for health in self.health():
                labels = {"provider": health.name}
                PROVIDER_UP.labels(**labels).set(_UP_VALUE[health.state])
                PROVIDER_ACTIVE_SYMBOLS.labels(**labels).set(len(health.active_symbols))
                PROVIDER_UPTIME.labels(**labels).set(health.uptime_ratio)
                PROVIDER_QUOTE_AGE.labels(**labels).set(
                    -1 if health.last_quote_age_s is None else health.last_quote_age_s
                )
                if health.last_latency_s is not None:
                    PROVIDER_QUOTE_LATENCY.labels(**labels).set(health.last_latency_s)
            await asyncio.sleep(interval_s)

    def _record(self, switches: Sequence[Switch], gaps: Sequence[Gap]) -> None:
        for gap in gaps:
            PROVIDER_GAPS.labels(provider=gap.provider).inc()
        for switch in switches:
            PROVIDER_SWITCHES.labels(provider=switch.to_provider, reason=switch.reason).inc()
            log.log(
                logging.INFO if switch.reason in ("start", "recovered") else logging.WARNING,
                "quote provider switched",
                extra={
                    "symbol": switch.symbol,
                    "from_provider": switch.from_provider,
                    "to_provider": switch.to_provider,
                    "reason": switch.reason,
                },
            )
