"""Settings: the instrument list from the defaults, the environment or a file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from tradewind.market_data.settings import DEFAULT_INSTRUMENTS, MarketDataSettings

CUSTOM = [{"symbol": "NVDA", "name": "NVIDIA Corp.", "tick_size": "0.01", "lot_size": "1"}]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TRADEWIND_MARKET_DATA_INSTRUMENTS",
        "TRADEWIND_MARKET_DATA_INSTRUMENTS_FILE",
        "TRADEWIND_MARKET_DATA_SIMULATOR_SYMBOLS",
        "TRADEWIND_MARKET_DATA_SIMULATOR_ENABLED",
        "TRADEWIND_MARKET_DATA_PROVIDERS",
        "TRADEWIND_MARKET_DATA_REPLAY_FILE",
        "TRADEWIND_MARKET_DATA_PROVIDER_STALENESS_S",
        "TRADEWIND_MARKET_DATA_PROVIDER_HOLD_S",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_default_instruments_are_the_six_usd_ones() -> None:
    settings = MarketDataSettings()

    assert [i.symbol for i in settings.instruments] == [
        "AAPL",
        "MSFT",
        "GOOGL",
        "AMZN",
        "TSLA",
        "SPY",
    ]
    assert all(i.tick_size == Decimal("0.01") and i.lot_size == 1 for i in settings.instruments)
    assert all(i.currency == "USD" and i.name for i in settings.instruments)
    assert settings.port == 8002


def test_instruments_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_INSTRUMENTS", json.dumps(CUSTOM))

    assert [i.symbol for i in MarketDataSettings().instruments] == ["NVDA"]


def test_instruments_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "instruments.json"
    path.write_text(json.dumps(CUSTOM))
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_INSTRUMENTS_FILE", str(path))

    (instrument,) = MarketDataSettings().instruments

    assert instrument.name == "NVIDIA Corp."


def test_an_instrument_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed twice: AAPL"):
        MarketDataSettings(instruments=[DEFAULT_INSTRUMENTS[0], DEFAULT_INSTRUMENTS[0]])


def test_simulator_symbols_take_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_SIMULATOR_SYMBOLS", "aapl, MSFT")

    settings = MarketDataSettings()

    assert [i.symbol for i in settings.simulated_instruments()] == ["AAPL", "MSFT"]


def test_simulator_symbols_must_be_instruments() -> None:
    with pytest.raises(ValidationError, match="not among the instruments: NOPE"):
        MarketDataSettings(simulator_symbols=["NOPE"])


def test_without_a_providers_chain_every_feed_publishes_as_before() -> None:
    settings = MarketDataSettings()

    assert settings.providers == []
    assert settings.failover_policy() is None
    assert settings.simulator_runs()


def test_the_providers_chain_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_PROVIDERS", "simulator, http,replay")
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_REPLAY_FILE", str(tmp_path / "quotes.csv"))
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_PROVIDER_STALENESS_S", "1.5")
    monkeypatch.setenv("TRADEWIND_MARKET_DATA_PROVIDER_HOLD_S", "4")

    policy = MarketDataSettings().failover_policy()

    assert policy is not None
    assert (policy.chain, policy.staleness_s, policy.hold_s, policy.failure_threshold) == (
        ("simulator", "http", "replay"),
        1.5,
        4.0,
        3,
    )


def test_with_a_chain_the_simulator_runs_only_if_the_chain_lists_it() -> None:
    assert MarketDataSettings(providers=["simulator"], simulator_enabled=False).simulator_runs()
    assert not MarketDataSettings(providers=["http"], simulator_enabled=True).simulator_runs()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"providers": ["http", "http"]}, "lists a feed twice"),
        ({"providers": ["carrier-pigeon"]}, "simulator', 'http' or 'replay'"),
        ({"providers": ["http", "replay"]}, "set replay_file"),
        (
            {"providers": ["simulator"], "simulator_rate_hz": 1, "provider_staleness_s": 1},
            "must exceed the simulator's quote interval",
        ),
    ],
)
def test_a_providers_chain_that_cannot_work_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        MarketDataSettings(**fields)  # type: ignore[arg-type]


def test_every_setting_is_described() -> None:
    undescribed = [
        name for name, field in MarketDataSettings.model_fields.items() if not field.description
    ]

    assert undescribed == []
