import ipaddress
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from tradewind.webhooks.domain.ids import new_endpoint_id, new_message_id
from tradewind.webhooks.domain.schedule import DEFAULT_SCHEDULE, parse_duration, parse_schedule
from tradewind.webhooks.settings import WebhooksSettings


def test_defaults() -> None:
    settings = WebhooksSettings()
    assert settings.port == 8003
    assert settings.schedule == DEFAULT_SCHEDULE
    assert settings.request_timeout_s == 15
    assert settings.secret_rotation_overlap == timedelta(hours=24)
    assert settings.disable_after == timedelta(days=5)
    assert settings.https_only is True
    assert settings.destination_policy.allow_subnets == ()


def test_every_field_is_described() -> None:
    undocumented = [
        name for name, info in WebhooksSettings.model_fields.items() if not info.description
    ]
    assert undocumented == []


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_WEBHOOKS_ALLOW_SUBNETS", "127.0.0.0/8, ::1/128")
    monkeypatch.setenv("TRADEWIND_WEBHOOKS_HTTPS_ONLY", "false")
    monkeypatch.setenv("TRADEWIND_WEBHOOKS_RETRY_SCHEDULE", "200ms,1s")
    monkeypatch.setenv("TRADEWIND_WEBHOOKS_SECRET_ROTATION_OVERLAP", "90m")
    monkeypatch.setenv("TRADEWIND_NAMESPACE", "elsewhere")
    settings = WebhooksSettings()
    assert settings.destination_policy.allow_subnets == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert settings.destination_policy.https_only is False
    assert settings.schedule == (timedelta(milliseconds=200), timedelta(seconds=1))
    assert settings.secret_rotation_overlap == timedelta(minutes=90)
    assert settings.shared.namespace == "elsewhere"


def test_allow_subnets_accepts_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_WEBHOOKS_ALLOW_SUBNETS", '["10.1.0.0/16"]')
    assert WebhooksSettings().allow_subnets == ["10.1.0.0/16"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retry_schedule", "5s,soon"),
        ("allow_subnets", ["not-a-network"]),
        ("delivery_lease", "10s"),  # not longer than the 15 s request timeout
    ],
)
def test_invalid_settings_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        WebhooksSettings.model_validate({field: value})


def test_schedule_accepts_milliseconds() -> None:
    assert parse_schedule("200ms,400ms,1s") == (
        timedelta(milliseconds=200),
        timedelta(milliseconds=400),
        timedelta(seconds=1),
    )
    assert parse_duration("24h") == timedelta(hours=24)
    with pytest.raises(ValueError, match="greater than zero"):
        parse_schedule("0ms")


def test_ids_are_prefixed_sortable_and_safe_to_sign() -> None:
    first, second = new_message_id(), new_message_id()
    assert first.startswith("msg_")
    assert new_endpoint_id().startswith("ep_")
    assert len(first) == len("msg_") + 26
    assert "." not in first
    assert first[:12] <= second[:12]  # the time part orders them
    assert first != second
