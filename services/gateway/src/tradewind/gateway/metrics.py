"""Prometheus metrics of the gateway (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

API_KEY_CHECKS = Counter(
    "tradewind_gateway_api_key_checks_total",
    "API keys and tokens checked, by where the key's state came from "
    "(memory: verified recently, redis: the shared cache, database: PostgreSQL).",
    ["source"],
)
# Bound once: a labelled child's lookup costs more than its increment.
KEY_FROM_MEMORY = API_KEY_CHECKS.labels(source="memory")
KEY_FROM_REDIS = API_KEY_CHECKS.labels(source="redis")
KEY_FROM_DATABASE = API_KEY_CHECKS.labels(source="database")
