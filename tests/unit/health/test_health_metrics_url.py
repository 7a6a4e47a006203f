"""Where the health service reads a service's breaker states (its metrics)."""

from __future__ import annotations

from pydantic import HttpUrl

from tradewind.health.settings import HealthSettings


def test_metrics_are_read_at_the_base_url_unless_a_service_serves_them_elsewhere() -> None:
    settings = HealthSettings(
        services={"gateway": HttpUrl("http://gw:8000"), "orders": HttpUrl("http://orders:8001")},
        metrics_urls={"gateway": HttpUrl("http://gw:9100/metrics")},
    )
    assert settings.metrics_url("gateway") == "http://gw:9100/metrics"
    assert settings.metrics_url("orders") == "http://orders:8001/metrics"
