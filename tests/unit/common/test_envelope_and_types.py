"""CloudEvents envelope and the value types every contract uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from tradewind.common.contracts.types import DecimalStr, PositiveDecimalStr, UtcDateTime
from tradewind.common.envelope import CloudEvent, EnvelopeError, new_event


class Amounts(BaseModel):
    price: PositiveDecimalStr
    change: DecimalStr | None = None
    at: UtcDateTime | None = None


def test_decimals_travel_as_exact_strings() -> None:
    amounts = Amounts(price="0.1", change="-12.500")  # type: ignore[arg-type]
    assert json.loads(amounts.model_dump_json()) == {
        "price": "0.1",
        "change": "-12.500",
        "at": None,
    }
    assert amounts.price + Decimal("0.2") == Decimal("0.3")


@pytest.mark.parametrize("bad", [0.1, "abc", "NaN", "-Infinity", "0", "-1", "1e-12", True])
def test_bad_positive_decimals_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        Amounts(price=bad)  # type: ignore[arg-type]


def test_times_must_carry_an_offset_and_become_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    amounts = Amounts(price="1", at=datetime(2026, 1, 1, 12, tzinfo=plus_two))  # type: ignore[arg-type]
    assert amounts.at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert amounts.at is not None
    assert amounts.at.tzinfo == UTC
    with pytest.raises(ValidationError):
        Amounts(price="1", at=datetime(2026, 1, 1, 12))  # type: ignore[arg-type]


def test_event_round_trips_and_keeps_unknown_extensions() -> None:
    event = new_event(
        source="/tests",
        data=Amounts(price="1.5"),  # type: ignore[arg-type]
        event_type="test.priced",
        subject="AAPL",
        account_id="acme",
    )
    raw = json.loads(event.to_json())
    assert raw["specversion"] == "1.0"
    assert raw["data"] == {"price": "1.5", "change": None, "at": None}
    assert "traceparent" not in raw  # unset optional attributes are omitted, not null
    raw["futureextension"] = "kept"
    again = CloudEvent.from_json(json.dumps(raw).encode())
    assert again.id == event.id
    assert again.model_extra == {"futureextension": "kept"}
    assert again.data_as(Amounts).price == Decimal("1.5")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b'{"specversion": "0.3", "id": "1", "source": "/", "type": "t",'
        b' "time": "2026-01-01T00:00:00Z", "data": {}}',
    ],
)
def test_unreadable_envelopes_raise_envelope_error(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        CloudEvent.from_json(raw)


def test_data_that_does_not_fit_the_schema_is_an_envelope_error() -> None:
    event = new_event(source="/t", data=Amounts(price="1"), event_type="t")  # type: ignore[arg-type]
    broken = event.model_copy(update={"data": {"price": "-5"}})
    with pytest.raises(EnvelopeError):
        broken.data_as(Amounts)
