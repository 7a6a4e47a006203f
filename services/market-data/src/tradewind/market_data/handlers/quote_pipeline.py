"""The one path every quote takes, from the simulator or a feed: validate, sequence and keep the
latest (Redis), publish ``market.quote``, then buffer it for the bars.

Quotes are published directly with confirms, not through the outbox: a quote is worth something
for a second or so and the next one supersedes it, so the outbox's guarantee (publish eventually,
even after a crash) buys nothing, while its cost (a database write per quote before the publish,
and relay latency) is paid on the hottest path. A quote that cannot be published is reported to
the caller instead, who may resend the batch: the resend gets new sequence numbers, does not
replace a newer latest quote, and is not counted twice in the bars.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from tradewind.common.broker import Broker
from tradewind.common.contracts import Instrument, Quote, quote_routing_key
from tradewind.common.envelope import event_source, new_event
from tradewind.market_data.adapters.bar_writer import BarWriter
from tradewind.market_data.adapters.latest import LatestQuotes, QuoteSource
from tradewind.market_data.domain.quotes import InvalidQuotes, QuoteInput, validate_batch
from tradewind.market_data.metrics import QUOTE_BATCHES_REJECTED, QUOTES_INGESTED, QUOTES_PUBLISHED

log = logging.getLogger(__name__)

EVENT_SOURCE = event_source("market-data")


class QuotesNotPublished(RuntimeError):
    """Some quotes were recorded but the broker did not confirm their events."""

    def __init__(self, failed: int, total: int, error: BaseException) -> None:
        super().__init__(f"{failed} of {total} quote events were not published: {error!r}")
        self.failed = failed
        self.total = total


class QuotePipeline:
    def __init__(
        self,
        *,
        instruments: Mapping[str, Instrument],
        latest: LatestQuotes,
        broker: Broker,
        bars: BarWriter,
        clock: Callable[[], datetime],
        max_future_skew: timedelta,
    ) -> None:
        self.instruments = instruments
        self.latest = latest
        self.broker = broker
        self.bars = bars
        self.clock = clock
        self.max_future_skew = max_future_skew

    async def ingest(
        self, quotes: Sequence[QuoteInput], source: QuoteSource = "ingest"
    ) -> list[Quote]:
        """Process a batch; InvalidQuotes (nothing done) or QuotesNotPublished (all else done)."""
        return await self.publish(self.validate(quotes, source), source)

    def validate(self, quotes: Sequence[QuoteInput], source: QuoteSource) -> list[QuoteInput]:
        """The batch with UTC timestamps, or InvalidQuotes (counted as a rejected batch)."""
        try:
            return validate_batch(
                quotes, self.instruments, now=self.clock(), max_future_skew=self.max_future_skew
            )
        except InvalidQuotes:
            QUOTE_BATCHES_REJECTED.labels(source=source).inc()
            raise

    async def publish(self, valid: Sequence[QuoteInput], source: QuoteSource) -> list[Quote]:
        """Sequence, keep, publish and aggregate quotes ``validate`` returned. Each quote takes
        its sequence number here, so quotes that never reach this step (a standby feed's) leave
        no gap in a symbol's sequence."""
        sequences = await self.latest.record(valid, source)
        events = [
            Quote(
                symbol=quote.symbol,
                bid_price=quote.bid_price,
                bid_size=quote.bid_size,
                ask_price=quote.ask_price,
                ask_size=quote.ask_size,
                timestamp=quote.timestamp,
                sequence=sequence,
                source=source,
            )
            for quote, sequence in zip(valid, sequences, strict=True)
        ]
        outcomes = await asyncio.gather(
            *(self._publish(event) for event in events), return_exceptions=True
        )
        self.bars.add(valid)
        QUOTES_INGESTED.labels(source=source).inc(len(valid))
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        QUOTES_PUBLISHED.labels(outcome="confirmed").inc(len(events) - len(failures))
        if failures:
            QUOTES_PUBLISHED.labels(outcome="failed").inc(len(failures))
            raise QuotesNotPublished(len(failures), len(events), failures[0])
        return events

    async def _publish(self, quote: Quote) -> None:
        event = new_event(
            source=EVENT_SOURCE,
            data=quote,
            event_type=Quote.TYPE,
            subject=quote.symbol,
            time=quote.timestamp,
        )
        # Quotes are superseded within seconds: not worth a disk write in classic queues.
        await self.broker.publish_event(
            event, routing_key=quote_routing_key(quote.symbol), persistent=False
        )
