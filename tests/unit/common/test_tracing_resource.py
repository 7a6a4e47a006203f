"""What every span says about its process: service, release, deployment."""

from __future__ import annotations

import pytest

from tradewind.common.tracing import service_resource


def test_spans_name_the_service_its_release_and_the_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    attributes = service_resource("orders", version="1.4.0", environment="staging").attributes
    assert attributes["service.name"] == "orders"
    assert attributes["service.namespace"] == "tradewind"
    assert attributes["service.version"] == "1.4.0"
    assert attributes["deployment.environment.name"] == "staging"


def test_the_platform_overrides_them_with_otel_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=production,k8s.pod.name=orders-1"
    )
    attributes = service_resource("orders", version="1.4.0", environment="staging").attributes
    assert attributes["deployment.environment.name"] == "production"
    assert attributes["k8s.pod.name"] == "orders-1"
    assert attributes["service.version"] == "1.4.0"
