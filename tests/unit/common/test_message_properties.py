"""The broker's message properties marshal byte for byte as pamqp marshals them, and the
encoder itself, not pamqp's fallback, writes the properties the broker's publishes carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiormq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradewind.common.broker.properties import MessageProperties

short_text = st.one_of(st.just(""), st.text(max_size=90), st.text(min_size=80, max_size=120))
header_value = st.one_of(
    st.text(max_size=300),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.booleans(),
    st.floats(allow_nan=False),
    st.datetimes(timezones=st.just(UTC)),
)
header_name = st.one_of(st.text(max_size=20), st.text(min_size=125, max_size=135))
times = st.one_of(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), UTC]),
    ),
    st.datetimes(min_value=datetime(1971, 1, 1)),  # naive: pamqp takes it as UTC
)
octets = st.one_of(st.integers(min_value=0, max_value=255), st.integers(256, 300))


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


properties = st.fixed_dictionaries(
    {},
    optional={
        "content_type": _maybe(short_text),
        "content_encoding": _maybe(short_text),
        "headers": _maybe(
            st.one_of(
                st.dictionaries(header_name, st.text(max_size=300), max_size=4),
                st.dictionaries(header_name, header_value, max_size=4),
            )
        ),
        "delivery_mode": _maybe(octets),
        "priority": _maybe(octets),
        "correlation_id": _maybe(short_text),
        "reply_to": _maybe(short_text),
        "expiration": _maybe(st.sampled_from(["", "60000"])),
        "message_id": _maybe(short_text),
        "timestamp": _maybe(times),
        "message_type": _maybe(short_text),
        "user_id": _maybe(st.sampled_from(["", "guest"])),
        "app_id": _maybe(short_text),
        "cluster_id": _maybe(st.sampled_from(["", "c1"])),
    },
)


def _pamqp(fields: dict[str, Any]) -> bytes | type[BaseException]:
    try:
        return aiormq.spec.Basic.Properties(**fields).marshal()
    except Exception as exc:
        return type(exc)


def _ours(fields: dict[str, Any]) -> bytes | type[BaseException]:
    try:
        return MessageProperties(**fields).marshal()
    except Exception as exc:
        return type(exc)


@settings(max_examples=1500, deadline=None)
@given(fields=properties)
def test_properties_marshal_as_pamqp_marshals_them(fields: dict[str, Any]) -> None:
    assert _ours(fields) == _pamqp(fields)


def _published(**overrides: Any) -> dict[str, Any]:
    """What ``Broker._properties`` sets on a command's publish."""
    return {
        "content_type": "application/cloudevents+json",
        "headers": {"traceparent": "00-eaab343d0fc7b29bcea21edd290e39b0-84ced9736b874cb0-01"},
        "delivery_mode": 2,
        "message_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        "timestamp": datetime(2026, 12, 6, 9, 30, 1, 250_000, tzinfo=UTC),
        "message_type": "tradewind.orders.place_order.v1",
        "app_id": "gateway",
        "correlation_id": "9f86d081884c7d659a2feaa0c55ad015",
        "priority": None,
    } | overrides


@pytest.mark.parametrize(
    "fields",
    [
        _published(),
        _published(headers={}, correlation_id=None),
        _published(
            headers={"traceparent": "00-1-2-01", "tracestate": "a=b", "baggage": "k=v"},
            priority=7,
            delivery_mode=1,
        ),
    ],
    ids=["command", "no trace context", "all trace headers and a priority"],
)
def test_the_broker_s_publishes_are_written_by_the_encoder_itself(fields: dict[str, Any]) -> None:
    """Not a fallback to pamqp: the encoder itself writes what the broker sends."""
    written = MessageProperties(**fields)._marshal_known()
    assert written == aiormq.spec.Basic.Properties(**fields).marshal()


def test_properties_read_back_as_they_were_set() -> None:
    """pamqp's decoder reads the encoder's bytes back into the same properties."""
    fields = _published()
    decoded = aiormq.spec.Basic.Properties()
    flags = int.from_bytes(MessageProperties(**fields).marshal()[:2], "big")
    decoded.unmarshal(flags, MessageProperties(**fields).marshal()[2:])
    assert {name: getattr(decoded, name) for name in fields} == fields | {
        "timestamp": datetime(2026, 12, 6, 9, 30, 1, tzinfo=UTC)
    }
