"""Each shared value type declares in its JSON schema exactly what its validators accept.

A schema-driven client (or schemathesis) reads only the schema: a value the schema allows must
be accepted, and one it forbids must be refused. Each test draws values on both sides of a rule
and compares the type's own validation with a JSON Schema validator's verdict on its schema.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tradewind.common.contracts.types import (
    DecimalStr,
    PositiveDecimalStr,
    QueryBool,
    SafeText,
    UtcDateTime,
    UtcQueryDateTime,
)


def accepts(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@functools.cache
def _validator(schema: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads(schema), validate_formats=True)


def declared(adapter: TypeAdapter[Any]) -> jsonschema_rs.Validator:
    """A JSON Schema validator of the type's schema (compiled once per schema)."""
    return _validator(json.dumps(adapter.json_schema(), sort_keys=True))


DECIMAL: TypeAdapter[Any] = TypeAdapter(DecimalStr)
POSITIVE_DECIMAL: TypeAdapter[Any] = TypeAdapter(PositiveDecimalStr)

# Near the limits: up to 25 integer and 15 fractional digits, with leading and trailing zeros.
decimal_texts = st.from_regex(r"\A-?0{0,3}[0-9]{0,22}(\.[0-9]{0,12}0{0,3})?\Z")
decimal_values = (
    decimal_texts
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.floats(min_value=-(2.0**54), max_value=2.0**54).map(
        lambda f: float(round(f)) if f > 1 else f
    )
    | st.integers(min_value=10**18, max_value=10**400)
    | st.sampled_from(["1e3", "+1", " 1", "1.", ".1", "NaN", "\uff11", 1.5, True, None])
)


@given(decimal_values)
def test_a_decimal_is_accepted_exactly_when_its_schema_allows_it(value: Any) -> None:
    assert accepts(DECIMAL, value) == declared(DECIMAL).is_valid(value), value


@given(decimal_values)
def test_a_positive_decimal_is_accepted_exactly_when_its_schema_allows_it(value: Any) -> None:
    assert accepts(POSITIVE_DECIMAL, value) == declared(POSITIVE_DECIMAL).is_valid(value), value


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("999999999999999999", True),  # 18 significant digits
        ("1000000000000000000", False),  # 19
        ("000000000000000000000001", True),  # leading zeros are not significant
        ("1.000000000000", True),  # nor are trailing fractional ones
        ("0.000000001", True),  # 9 places
        ("0.0000000001", False),  # 10
        ("123456789.123456789", True),
        ("1234567890.123456789", False),
        (2**53 - 1, True),  # a JSON integer every parser reads exactly
        (2**53, False),  # may already be another number once parsed: send a string
        (173.0, True),  # JSON Schema's integer is a value: 173.0 is 173
        (2.0**53, False),
        (0.5, False),
        (float("inf"), False),
        ("0", False),
        ("0.000", False),
        ("-1", False),
    ],
)
def test_the_positive_decimal_schema_draws_the_limits_where_the_validator_does(
    value: Any, valid: bool
) -> None:
    assert accepts(POSITIVE_DECIMAL, value) is valid
    assert declared(POSITIVE_DECIMAL).is_valid(value) is valid


UTC_DATE_TIME: TypeAdapter[Any] = TypeAdapter(UtcDateTime)
QUERY_DATE_TIME: TypeAdapter[Any] = TypeAdapter(UtcQueryDateTime)

NOT_DATE_TIMES = [
    "0.5",  # Pydantic reads a number as a Unix timestamp
    "0",
    "1767225600",
    0.5,
    1767225600,
    "2026-01-02",
    "2026-01-02T14:30Z",  # no seconds
    "2026-01-02 14:30:00Z",  # a space for the T
    "2026-01-02T14:30:00+0100",
    "2026-01-02T14:30:00.Z",
    "2026-13-02T14:30:00Z",
    "",
    True,
]


@pytest.mark.parametrize("value", NOT_DATE_TIMES)
def test_only_rfc3339_date_times_are_times(value: Any) -> None:
    assert not accepts(UTC_DATE_TIME, value)
    assert not accepts(QUERY_DATE_TIME, value)
    assert not declared(UTC_DATE_TIME).is_valid(value)


@pytest.mark.parametrize(
    "value",
    ["2026-01-02T14:30:00Z", "2026-01-02t14:30:00.123z", "2026-01-02T14:30:00.123456789-05:30"],
)
def test_rfc3339_date_times_are_read_in_utc(value: str) -> None:
    assert declared(UTC_DATE_TIME).is_valid(value)
    assert UTC_DATE_TIME.validate_python(value).tzinfo is UTC
    assert QUERY_DATE_TIME.validate_json(f'"{value}"').tzinfo is UTC


def test_a_query_time_without_an_offset_is_utc_and_a_body_time_needs_one() -> None:
    assert QUERY_DATE_TIME.validate_python("2026-01-02T14:30:00") == datetime(
        2026, 1, 2, 14, 30, tzinfo=UTC
    )
    assert not accepts(UTC_DATE_TIME, "2026-01-02T14:30:00")


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_every_time_the_schema_format_generates_is_read(moment: datetime, offset_min: int) -> None:
    """What a client builds from `format: date-time` (schemathesis does the same)."""
    text = moment.replace(tzinfo=timezone(timedelta(minutes=offset_min))).isoformat()
    assert declared(UTC_DATE_TIME).is_valid(text)
    assert accepts(UTC_DATE_TIME, text), text


def test_times_built_in_python_are_taken_as_they_are() -> None:
    moment = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)
    assert UTC_DATE_TIME.validate_python(moment) == moment


SAFE_TEXT: TypeAdapter[Any] = TypeAdapter(SafeText)
declared(SAFE_TEXT)  # its pattern walks every code point once: not inside a timed example


@given(st.text(max_size=8) | st.sampled_from(["\x00", "a\u202eb", "\u200b", "\ue000", "\u2028"]))
def test_safe_text_is_accepted_exactly_when_its_pattern_allows_it(value: str) -> None:
    assert accepts(SAFE_TEXT, value) == declared(SAFE_TEXT).is_valid(value), repr(value)


def test_the_safe_text_pattern_keeps_every_printable_script() -> None:
    assert declared(SAFE_TEXT).is_valid("Zürich desk — 東京 🚀 ledger")


QUERY_BOOL: TypeAdapter[Any] = TypeAdapter(QueryBool)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False)])
def test_a_boolean_query_parameter_is_true_or_false(text: str, value: bool) -> None:
    assert QUERY_BOOL.validate_python(text) is value


@pytest.mark.parametrize("text", ["1", "0", "yes", "no", "on", "True", "FALSE", "t", ""])
def test_other_spellings_of_a_boolean_are_refused(text: str) -> None:
    assert not accepts(QUERY_BOOL, text)
