"""Prometheus metrics of the market-data service (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

QUOTES_INGESTED = Counter(
    "tradewind_market_data_quotes_ingested_total",
    "Quotes accepted into the pipeline, by source (simulator, ingest).",
    ["source"],
)
QUOTE_BATCHES_REJECTED = Counter(
    "tradewind_market_data_quote_batches_rejected_total",
    "Quote batches refused by validation, by source.",
    ["source"],
)
QUOTES_PUBLISHED = Counter(
    "tradewind_market_data_quotes_published_total",
    "market.quote events, by outcome (confirmed, failed).",
    ["outcome"],
)
BAR_FLUSH_SECONDS = Histogram(
    "tradewind_market_data_bar_flush_seconds",
    "Time to write one buffer of quotes into the bars, by outcome (ok, failed).",
    ["outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BAR_QUOTES = Counter(
    "tradewind_market_data_bar_quotes_total",
    "Quotes written into bars, by outcome (counted, duplicate, dropped).",
    ["outcome"],
)
REDIS_DEGRADED = Gauge(
    "tradewind_market_data_redis_degraded",
    "1 while Redis is unreachable and latest quotes are served from memory (stale).",
)
