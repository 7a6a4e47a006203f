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

# Quote feeds of a providers chain (label provider: simulator, http, replay — bounded).
PROVIDER_UP = Gauge(
    "tradewind_market_data_provider_up",
    "1 healthy (every symbol it quotes is fresh), 0.5 degraded (some are stale), 0 stale or "
    "failing.",
    ["provider"],
)
PROVIDER_ACTIVE_SYMBOLS = Gauge(
    "tradewind_market_data_provider_active_symbols",
    "Symbols whose published quotes come from this feed (0: standby).",
    ["provider"],
)
PROVIDER_QUOTE_LATENCY = Gauge(
    "tradewind_market_data_provider_quote_latency_seconds",
    "Arrival time minus quote timestamp, of the feed's last quote.",
    ["provider"],
)
PROVIDER_QUOTE_AGE = Gauge(
    "tradewind_market_data_provider_last_quote_age_seconds",
    "Seconds since the feed's last quote (-1: none yet).",
    ["provider"],
)
PROVIDER_UPTIME = Gauge(
    "tradewind_market_data_provider_uptime_ratio",
    "Share of the time since start the feed was up (not failing, some symbol fresh).",
    ["provider"],
)
PROVIDER_GAPS = Counter(
    "tradewind_market_data_provider_gaps_total",
    "Times a feed went longer than the staleness without quoting a symbol.",
    ["provider"],
)
PROVIDER_ERRORS = Counter(
    "tradewind_market_data_provider_errors_total",
    "Unusable batches from a feed (refused by validation).",
    ["provider"],
)
PROVIDER_SWITCHES = Counter(
    "tradewind_market_data_provider_switches_total",
    "Symbols that moved to this feed, by reason (start, stale, failing, recovered).",
    ["provider", "reason"],
)
PROVIDER_QUOTES = Counter(
    "tradewind_market_data_provider_quotes_total",
    "Valid quotes from a feed, by outcome (published; standby: another feed is active for the "
    "symbol).",
    ["provider", "outcome"],
)
