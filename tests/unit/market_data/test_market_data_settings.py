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


def test_every_setting_is_described() -> None:
    undescribed = [
        name for name, field in MarketDataSettings.model_fields.items() if not field.description
    ]

    assert undescribed == []
