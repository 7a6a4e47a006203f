"""The optional YAML config file: each settings class reads its section, the environment wins,
and a key or section nobody knows stops the service instead of being ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from tradewind.common.settings import (
    CONFIG_FILE_SECTIONS,
    CONFIG_FILE_VARIABLE,
    ConfigFileError,
    SharedSettings,
    config_section_of,
)
from tradewind.gateway.settings import GatewaySettings
from tradewind.health.settings import HealthSettings
from tradewind.market_data.settings import MarketDataSettings
from tradewind.orders.settings import OrdersSettings
from tradewind.webhooks.settings import WebhooksSettings

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "deploy" / "config.sample.yaml"
SERVICE_SETTINGS: tuple[type[BaseSettings], ...] = (
    GatewaySettings,
    OrdersSettings,
    MarketDataSettings,
    WebhooksSettings,
    HealthSettings,
)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tradewind.yaml"
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(path))
    for variable in ("TRADEWIND_NAMESPACE", "TRADEWIND_ORDERS_COMMAND_BATCH_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    return path


def test_a_service_reads_its_own_section_and_the_shared_one(config_file: Path) -> None:
    config_file.write_text(
        "shared:\n  namespace: from-file\n  retry_delays_ms: [10, 20]\n"
        "orders:\n  command_batch_size: 17\n  port: 9101\n"
        "market_data:\n  port: 9102\n"
    )
    settings = OrdersSettings()
    assert settings.command_batch_size == 17
    assert settings.port == 9101, "market_data's port is not the orders service's"
    assert settings.shared.namespace == "from-file"
    assert settings.shared.retry_delays_ms == [10, 20]


def test_the_environment_overrides_the_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text("shared:\n  namespace: from-file\norders:\n  command_batch_size: 17\n")
    monkeypatch.setenv("TRADEWIND_NAMESPACE", "from-env")
    monkeypatch.setenv("TRADEWIND_ORDERS_COMMAND_BATCH_SIZE", "33")
    settings = OrdersSettings()
    assert settings.command_batch_size == 33
    assert settings.shared.namespace == "from-env"


def test_without_a_file_the_defaults_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_FILE_VARIABLE, raising=False)
    monkeypatch.delenv("TRADEWIND_ORDERS_COMMAND_BATCH_SIZE", raising=False)
    assert OrdersSettings().command_batch_size == 128


def test_values_from_the_file_are_validated_as_from_the_environment(config_file: Path) -> None:
    config_file.write_text("orders:\n  command_batch_size: 0\n")
    with pytest.raises(ValueError, match="command_batch_size"):
        OrdersSettings()


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("orders:\n  comand_batch_size: 17\n", "has no settings \\['comand_batch_size'\\]"),
        ("order:\n  command_batch_size: 17\n", "unknown sections \\['order'\\]"),
        ("- orders\n", "must be a mapping of sections"),
        ("orders: 17\n", "section 'orders' must be a mapping"),
        ("orders: [\n", "not valid YAML"),
    ],
)
def test_a_file_the_services_cannot_use_stops_them_with_the_reason(
    config_file: Path, content: str, complaint: str
) -> None:
    config_file.write_text(content)
    with pytest.raises(ConfigFileError, match=complaint):
        OrdersSettings()


def test_a_missing_file_is_an_error_not_an_empty_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigFileError, match="no such file"):
        SharedSettings()


def test_every_service_has_a_known_section() -> None:
    classes: tuple[type[BaseSettings], ...] = (SharedSettings, *SERVICE_SETTINGS)
    sections = {config_section_of(cls) for cls in classes}
    assert sections == CONFIG_FILE_SECTIONS


def test_the_sample_file_configures_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(SAMPLE))
    # Secrets the services insist on come from the environment, as the sample says.
    monkeypatch.setenv("TRADEWIND_GATEWAY_TOKEN_SIGNING_KEY", "k" * 40)
    for settings_class in SERVICE_SETTINGS:
        settings_class()
    assert OrdersSettings().command_batch_size == 128
