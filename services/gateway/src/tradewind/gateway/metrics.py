"""Prometheus metrics of the gateway (default registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

API_KEY_CHECKS = Counter(
    "tradewind_gateway_api_key_checks_total",
    "API keys checked, by where the answer came from (memory: verified recently, redis).",
    ["source"],
)
# Bound once: a labelled child's lookup costs more than its increment.
KEY_FROM_MEMORY = API_KEY_CHECKS.labels(source="memory")
KEY_FROM_REDIS = API_KEY_CHECKS.labels(source="redis")
