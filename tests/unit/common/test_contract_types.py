"""The shared contract types refuse what the stores cannot hold or a client did not mean."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from tradewind.common.contracts.types import (
    MAX_BIGINT,
    MAX_DECIMAL_DIGITS,
    MAX_DECIMAL_PLACES,
    AccountId,
    BigintId,
    ClientOrderId,
    DecimalStr,
    SafeText,
    Symbol,
    SymbolInput,
    UtcDateTime,
    UtcQueryDateTime,
)
from tradewind.common.contracts.webhooks import EndpointIn, EndpointPatch

DECIMAL: TypeAdapter[Decimal] = TypeAdapter(DecimalStr)
SYMBOL: TypeAdapter[str] = TypeAdapter(SymbolInput)
CANONICAL_SYMBOL: TypeAdapter[str] = TypeAdapter(Symbol)
ACCOUNT: TypeAdapter[str] = TypeAdapter(AccountId)
CLIENT_ORDER_ID: TypeAdapter[str] = TypeAdapter(ClientOrderId)
TEXT: TypeAdapter[str] = TypeAdapter(SafeText)


@pytest.mark.parametrize(
    "bad",
    [
        "\uff11\uff10",  # fullwidth "10": Decimal() reads it as 10
        "\u0661\u0660",  # Arabic-Indic "10"
        "1_000",  # Decimal() reads it as 1000
        " 10",
        "10 ",
        "1 0",
        "+10",
        "1e3",
        "1E-2",
        ".5",
        "5.",
        "NaN",
        "Infinity",
        "0x10",
        "",
        "10\x00",
        1.5,
    ],
)
def test_only_plain_ascii_decimal_strings_are_decimals(bad: Any) -> None:
    with pytest.raises(ValidationError):
        DECIMAL.validate_python(bad)
    with pytest.raises(ValidationError):
        DECIMAL.validate_json(f'"{bad}"' if isinstance(bad, str) else str(bad))


@pytest.mark.parametrize(
    ("text", "value"),
    [("10", Decimal(10)), ("-12.500", Decimal("-12.5")), ("0.000000001", Decimal("1e-9"))],
)
def test_plain_decimal_strings_are_exact(text: str, value: Decimal) -> None:
    assert DECIMAL.validate_json(f'"{text}"') == value


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("1." + "0" * 20_000, "1.000000000"),  # PostgreSQL's numeric holds 16,383 places
        ("2.5" + "0" * 16_383, "2.500000000"),
        ("-3.0000000000", "-3.000000000"),
        ("1.50", "1.50"),  # within nine places, written as given
        ("7.000000000", "7.000000000"),
    ],
)
def test_zeros_past_the_ninth_place_are_dropped_so_the_stores_can_hold_the_value(
    text: str, written: str
) -> None:
    value = DECIMAL.validate_json(f'"{text}"')
    assert value == Decimal(text)
    assert DECIMAL.dump_json(value).decode() == f'"{written}"'


@pytest.mark.parametrize(
    ("given", "stored"), [("AAPL", "AAPL"), ("aapl", "AAPL"), ("brk.b", "BRK.B"), ("X1", "X1")]
)
def test_symbols_fold_ascii_letters_only(given: str, stored: str) -> None:
    assert SYMBOL.validate_python(given) == stored


def test_canonical_symbols_fold_nothing() -> None:
    assert CANONICAL_SYMBOL.validate_python("BRK.B") == "BRK.B"
    with pytest.raises(ValidationError):
        CANONICAL_SYMBOL.validate_python("aapl")


@pytest.mark.parametrize(
    "bad",
    [
        "\u00df",  # "ß".upper() is "SS"
        "\ufb01",  # "ﬁ".upper() is "FI"
        "\uff21\uff21\uff30\uff2c",  # fullwidth AAPL
        "A\u0307",  # combining dot
        " AAPL",
        "AAPL\n",
        "AA PL",
        "1AAPL",
        "AAPL-W",
        "A" * 17,
        "",
    ],
)
def test_symbols_outside_ascii_letters_digits_and_dots_are_refused(bad: str) -> None:
    for adapter in (SYMBOL, CANONICAL_SYMBOL):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


@pytest.mark.parametrize("good", ["acme", "acct-9", "a_b", "0", "a" * 64])
def test_account_ids_are_lower_case_ascii_tokens(good: str) -> None:
    assert ACCOUNT.validate_python(good) == good


@pytest.mark.parametrize(
    "bad", ["", "ACME", "a/b", "..", "a.b", "a%2Fb", "a b", "\u00e4", "a\x00", "a" * 65, "a\n"]
)
def test_account_ids_that_could_change_a_url_path_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        ACCOUNT.validate_python(bad)


@pytest.mark.parametrize("good", ["x", "my order #42 (retry)", "~" * 128])
def test_client_order_ids_are_printable_ascii(good: str) -> None:
    assert CLIENT_ORDER_ID.validate_python(good) == good


@pytest.mark.parametrize("bad", ["", "bad\x00id", "tab\there", "\u00e9t\u00e9", "x" * 129, "a\x7f"])
def test_client_order_ids_outside_printable_ascii_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        CLIENT_ORDER_ID.validate_python(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "nul\x00",
        "bell\x07",
        "new\nline",
        "\u202eevil",  # right-to-left override
        "\u2066isolate\u2069",
        "zero\u200bwidth",
        "line\u2028separator",
        "\ud800",  # lone surrogate: not UTF-8, PostgreSQL cannot store it
        "private\ue000",
    ],
)
def test_stored_text_refuses_control_format_and_bidi_characters(bad: str) -> None:
    with pytest.raises(ValidationError, match="U\\+"):
        TEXT.validate_python(bad)


def test_stored_text_keeps_any_printable_unicode() -> None:
    assert (
        TEXT.validate_python("Caf\u00e9 \u6771\u4eac \U0001f642")
        == "Caf\u00e9 \u6771\u4eac \U0001f642"
    )


@pytest.mark.parametrize("description", ["nul\x00here", "\u202egnp.exe"])
def test_endpoint_descriptions_refuse_nul_and_bidi(description: str) -> None:
    with pytest.raises(ValidationError):
        EndpointIn(url="https://hooks.example.com/", description=description)
    with pytest.raises(ValidationError):
        EndpointPatch(description=description)


@pytest.mark.parametrize("overflowing", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_times_past_the_utc_range_are_validation_errors(overflowing: str) -> None:
    for adapter in (TypeAdapter(UtcDateTime), TypeAdapter(UtcQueryDateTime)):
        with pytest.raises(ValidationError, match="between 0001-01-01 and 9999-12-31"):
            adapter.validate_python(overflowing)


def test_query_times_without_an_offset_are_utc() -> None:
    assert TypeAdapter(UtcQueryDateTime).validate_python("2026-01-02T03:04:05") == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )


def test_bigint_ids_stop_at_the_postgresql_bigint() -> None:
    adapter: TypeAdapter[int] = TypeAdapter(BigintId)
    assert adapter.validate_python(MAX_BIGINT) == MAX_BIGINT
    for bad in (MAX_BIGINT + 1, 0, -1):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


def _bounded_by_normal_form(text: str) -> Decimal | None:
    """The bound as first written: checked on the normalized value, extra zeros dropped."""
    value = Decimal(text)
    _sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    if max(0, -exponent) > MAX_DECIMAL_PLACES:
        return None
    if len(digits) + max(0, exponent) > MAX_DECIMAL_DIGITS:
        return None
    return value.quantize(Decimal(1).scaleb(-MAX_DECIMAL_PLACES)).normalize()


@given(
    whole=st.text("0123456789", min_size=1, max_size=22),
    fraction=st.text("0123456789", max_size=14),
    trailing_zeros=st.integers(0, 12),
)
def test_a_decimal_is_bounded_exactly_as_its_normal_form_is(
    whole: str, fraction: str, trailing_zeros: int
) -> None:
    """The check skips normalizing a value within bounds as written; it must never decide
    otherwise than on the normalized value."""
    text = whole + ("." + fraction + "0" * trailing_zeros if fraction or trailing_zeros else "")
    expected = _bounded_by_normal_form(text)
    try:
        parsed: Decimal | None = DECIMAL.validate_python(text)
    except ValidationError:
        parsed = None
    assert (parsed is None) == (expected is None)
    if parsed is not None:
        assert parsed == expected
        assert max(0, -int(parsed.as_tuple().exponent)) <= MAX_DECIMAL_PLACES
