"""Value types shared by every contract: decimals travel as strings, times as UTC RFC 3339.

These types are the one definition of what the stores accept: the gateway validates requests
with them and the services validate the same fields with them again, so a value the gateway
accepted can never fail later for a reason the gateway could have seen (a NUL PostgreSQL cannot
store, a date that overflows, a number ``Decimal`` reads but a client did not mean).
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from datetime import UTC, datetime
from decimal import Context, Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer

MAX_DECIMAL_DIGITS = 18
MAX_DECIMAL_PLACES = 9

# Python's Decimal() also reads fullwidth "10" (any Unicode digit), "1_000", " 10 ", "1e3"
# and "NaN"; a client means none of those, so only this plain ASCII form is a decimal string.
_ASCII_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def _decimal_string_pattern(*, positive: bool) -> str:
    """The decimal strings the validators below accept, as one regular expression.

    A value may have leading zeros and trailing fractional zeros; what counts is its
    significant digits: those of the integer part without leading zeros (``i``) and of the
    fraction without trailing zeros (``f``), with ``f <= MAX_DECIMAL_PLACES`` and ``i + f <=
    MAX_DECIMAL_DIGITS``. One alternative per ``f``, so a schema-driven client (or fuzzer) can
    tell every accepted value from every refused one without running our code.
    """
    if positive:  # a significant digit in the integer part, else the fraction has one
        whole = rf"0*[1-9][0-9]{{0,{MAX_DECIMAL_DIGITS - 1}}}"
    else:
        whole = rf"0*[0-9]{{1,{MAX_DECIMAL_DIGITS}}}"
    alternatives = [whole + r"(\.0+)?"]
    for places in range(1, MAX_DECIMAL_PLACES + 1):
        integer = rf"0*[0-9]{{1,{MAX_DECIMAL_DIGITS - places}}}"
        inner = rf"[0-9]{{{places - 1}}}" if places > 1 else ""
        fraction = rf"\.{inner}[1-9]0*"
        alternatives.append(integer + fraction)
    sign = "" if positive else "-?"
    return f"^{sign}({'|'.join(alternatives)})$"


DECIMAL_STRING_PATTERN = _decimal_string_pattern(positive=False)
POSITIVE_DECIMAL_STRING_PATTERN = _decimal_string_pattern(positive=True)
# A JSON number is accepted when it is an integer every JSON parser reads exactly: below 2**53
# in magnitude (JavaScript's safe integers). JSON Schema's "integer" is a value, not a spelling:
# 173, 173.0 and 1.73e2 are one number, so all three are accepted; a larger one may already
# have been rounded by the parser (9007199254740993 reads as ...992 as a double) and must be
# sent as a string.
EXACT_JSON_INTEGER_BOUND = 2**53


def _decimal_from_string(value: Any) -> Any:
    # JSON numbers are floats to most clients; accepting them would let 0.1 become
    # 0.1000000000000000055511151231257827 before it reaches our books. Integers are exact.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        integral = isinstance(value, int) or value.is_integer()  # inf and nan are not
        if integral and abs(value) < EXACT_JSON_INTEGER_BOUND:
            return Decimal(int(value))
        raise ValueError(
            'must be a decimal string of ASCII digits, e.g. "10.5" '
            "(a JSON number only if it is an integer below 2^53 in magnitude)"
        )
    if not isinstance(value, str) or not _ASCII_DECIMAL.fullmatch(value):
        raise ValueError('must be a decimal string of ASCII digits, e.g. "10.5"')
    return Decimal(value)


_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
# Enough for any bounded value written with all its places: 18 integer digits and 9 places.
_BOUNDED = Context(prec=MAX_DECIMAL_DIGITS + MAX_DECIMAL_PLACES)


def _finite_and_bounded(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if exponent >= -MAX_DECIMAL_PLACES and len(digits) + max(0, exponent) <= MAX_DECIMAL_DIGITS:
        # Within bounds as written, so within them normalized too (dropping trailing zeros
        # never adds places or digits): the common case, without a normalized copy.
        return value
    _sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    places = max(0, -exponent)
    if places > MAX_DECIMAL_PLACES:
        raise ValueError(f"must have at most {MAX_DECIMAL_PLACES} decimal places")
    if len(digits) + max(0, exponent) > MAX_DECIMAL_DIGITS:
        raise ValueError(f"must have at most {MAX_DECIMAL_DIGITS} significant digits")
    written_exponent = value.as_tuple().exponent
    assert isinstance(written_exponent, int)
    if written_exponent < -MAX_DECIMAL_PLACES:
        # Only zeros lie past the last place allowed (checked above), but a Decimal keeps every
        # one it was written with: "1." and 20,000 zeros passed the gateway and was parked by
        # orders, since PostgreSQL's numeric holds 16,383 places at most. Dropping them is exact.
        return value.quantize(_SMALLEST_PLACE, context=_BOUNDED)
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _serialized(value: Decimal) -> str:
    return format(value, "f")


_DecimalInput = (
    Annotated[str, Field(pattern=DECIMAL_STRING_PATTERN)]
    | Annotated[int, Field(gt=-EXACT_JSON_INTEGER_BOUND, lt=EXACT_JSON_INTEGER_BOUND)]
)
_PositiveDecimalInput = (
    Annotated[str, Field(pattern=POSITIVE_DECIMAL_STRING_PATTERN)]
    | Annotated[int, Field(ge=1, lt=EXACT_JSON_INTEGER_BOUND)]
)

DecimalStr = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string, json_schema_input_type=_DecimalInput),
    AfterValidator(_finite_and_bounded),
    PlainSerializer(_serialized, return_type=str, when_used="json"),
]
"""A decimal carried as a string (or a JSON integer below 2**53); its schema declares both."""

PositiveDecimalStr = Annotated[
    Decimal,
    BeforeValidator(_decimal_from_string, json_schema_input_type=_PositiveDecimalInput),
    AfterValidator(_finite_and_bounded),
    AfterValidator(_positive),
    PlainSerializer(_serialized, return_type=str, when_used="json"),
]
"""A DecimalStr greater than 0, declared as such: its own pattern and integer range."""


def _trail_percent_pattern() -> str:
    """Decimal strings above 0 and below 100 with at most MAX_DECIMAL_PLACES places."""
    alternatives = [r"0*[1-9][0-9]?(\.0+)?"]
    for places in range(1, MAX_DECIMAL_PLACES + 1):
        inner = rf"[0-9]{{{places - 1}}}" if places > 1 else ""
        alternatives.append(rf"0*[0-9]{{1,2}}\.{inner}[1-9]0*")
    return f"^({'|'.join(alternatives)})$"


TRAIL_PERCENT_PATTERN = _trail_percent_pattern()
_HUNDRED = Decimal(100)


def _below_hundred(value: Decimal) -> Decimal:
    if value >= _HUNDRED:
        raise ValueError("must be below 100 (a percentage of the price)")
    return value


TrailPercent = Annotated[
    Decimal,
    BeforeValidator(
        _decimal_from_string,
        json_schema_input_type=Annotated[str, Field(pattern=TRAIL_PERCENT_PATTERN)]
        | Annotated[int, Field(ge=1, le=99)],
    ),
    AfterValidator(_finite_and_bounded),
    AfterValidator(_positive),
    AfterValidator(_below_hundred),
    PlainSerializer(_serialized, return_type=str, when_used="json"),
]
"""A percentage above 0 and below 100, as a decimal string (a trailing stop's trail)."""


# RFC 3339's date-time (section 5.6), the `format: date-time` of JSON Schema. Pydantic also
# reads a bare number as a Unix timestamp ("0.5"), a date alone, a time without seconds and a
# space for the "T": a schema-driven client means none of those by a date-time.
_RFC3339 = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_RFC3339_OFFSET = r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
_DATE_TIME = re.compile(_RFC3339 + _RFC3339_OFFSET, re.ASCII)
_QUERY_DATE_TIME = re.compile(_RFC3339 + _RFC3339_OFFSET + "?", re.ASCII)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # built in Python, not read from a client
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-02T14:30:00Z")
    return value


def _rfc3339_offset_optional(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _QUERY_DATE_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-02T14:30:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-23:59 is a valid RFC 3339 time that is past datetime.max in UTC.
        raise ValueError("must be between 0001-01-01 and 9999-12-31 in UTC") from None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone offset")
    return _in_utc(value)


def _assume_utc(value: datetime) -> datetime:
    return _in_utc(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


UtcDateTime = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_as_utc)]
"""An RFC 3339 time with an offset, held in UTC; one past the range of a UTC datetime is refused."""

UtcQueryDateTime = Annotated[
    datetime,
    BeforeValidator(_rfc3339_offset_optional),
    AfterValidator(_assume_utc),
    Field(
        description="RFC 3339 date-time, UTC if it has no offset (e.g. 2026-01-02T14:30:00Z); "
        "years 0001 to 9999 in UTC."
    ),
]
"""A time in a query parameter: as UtcDateTime, but one without an offset is read as UTC."""

_QUERY_BOOLEANS = {"true": True, "false": False}


def _query_boolean(value: Any) -> Any:
    # Pydantic also reads "1", "yes", "on", "t" (and their opposites) as booleans; a query
    # parameter of `type: boolean` is written true or false.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _QUERY_BOOLEANS:
        return _QUERY_BOOLEANS[value]
    raise ValueError("must be true or false")


QueryBool = Annotated[bool, BeforeValidator(_query_boolean)]
"""A boolean query parameter: exactly ``true`` or ``false``, as its schema (boolean) says."""


def _json_integer(value: Any) -> Any:
    # Pydantic's lax int also reads "5" and true; its strict int refuses 5.0, which JSON Schema
    # (and so the schema we publish) calls the integer 5.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    return value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]
"""An integer in a JSON body, as JSON Schema's ``integer``: 5 and 5.0, never "5" or true."""

MAX_BIGINT = 2**63 - 1
"""The largest PostgreSQL bigint: ids and cursors past it make the database refuse the query."""

BigintId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]

OPAQUE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
"""Ids a service issues (webhook endpoints and messages): one URL path segment, VARCHAR(40)."""

PAGE_TOKEN_PATTERN = r"^[A-Za-z0-9_=-]{1,512}$"
"""Page tokens are base64url; the service that issued one checks the rest (a 400 if forged)."""

# --- identifiers and text -------------------------------------------------------------------

SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.]{0,15}$"
SYMBOL_INPUT_PATTERN = r"^[A-Za-z][A-Za-z0-9.]{0,15}$"
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _ascii_upper(value: Any) -> Any:
    # str.upper() folds with Unicode rules ("ß" -> "SS", "ﬁ" -> "FI"): a symbol a client never
    # typed. Only a-z are folded; anything else outside [A-Z0-9.] is refused by the pattern.
    return value.translate(_ASCII_UPPER) if isinstance(value, str) else value


Symbol = Annotated[
    str,
    Field(
        pattern=SYMBOL_PATTERN,
        description="Instrument symbol: A-Z, 0-9 and '.', up to 16.",
        examples=["AAPL"],
    ),
]
"""A symbol in its one canonical form, as commands, events and the services carry it: the
services match symbols exactly and fold nothing."""

SymbolInput = Annotated[
    str,
    BeforeValidator(
        _ascii_upper,
        json_schema_input_type=Annotated[str, Field(pattern=SYMBOL_INPUT_PATTERN)],
    ),
    Field(
        pattern=SYMBOL_PATTERN,
        description="Instrument symbol: A-Z, 0-9 and '.', up to 16; a-z are read as A-Z.",
        examples=["AAPL"],
    ),
]
"""A symbol as a client may write it at the gateway: a-z are folded to A-Z (and nothing else)."""


ACCOUNT_ID_PATTERN = r"^[a-z0-9_-]{1,64}$"
_ACCOUNT_ID = re.compile(r"[a-z0-9_-]{1,64}", re.ASCII)


def is_account_id(value: str) -> bool:
    return _ACCOUNT_ID.fullmatch(value) is not None


AccountId = Annotated[
    str,
    Field(
        pattern=ACCOUNT_ID_PATTERN,
        description="Account id: 1 to 64 of a-z, 0-9, '_' and '-' (it is a URL path segment).",
    ),
]

CLIENT_ORDER_ID_PATTERN = r"^[\x20-\x7E]{1,128}$"
ClientOrderId = Annotated[
    str,
    Field(
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="Your id for the order: 1 to 128 printable ASCII characters (Alpaca's limit).",
        examples=["my-order-42"],
    ),
]

# Cc control (NUL included: PostgreSQL text cannot hold it), Cf format (bidi overrides and
# isolates, zero-width characters), Cs lone surrogates (not UTF-8, so not storable), Co private
# use, Cn unassigned, Zl/Zp line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _safe_text(value: str) -> str:
    for position, char in enumerate(value):
        if unicodedata.category(char) in _UNSAFE_CATEGORIES:
            raise ValueError(
                f"must not contain control, format (bidi) or unassigned characters; "
                f"U+{ord(char):04X} at position {position}"
            )
    return value


def _class_member(code_point: int) -> str:
    # \uXXXX reads the same in Python's re, ECMA-262 and Rust's regex (jsonschema-rs); beyond
    # the BMP only the character itself does.
    return f"\\u{code_point:04x}" if code_point <= 0xFFFF else chr(code_point)


@functools.cache
def safe_text_pattern() -> str:
    """SafeText as a regular expression: one character class of every safe character.

    Built from the same categories as the check (with this Python's Unicode tables, as the
    check) when a schema asks for it, since walking every code point takes a moment.
    """
    ranges: list[str] = []
    start: int | None = None
    for code_point in range(sys.maxunicode + 2):
        safe = (
            code_point <= sys.maxunicode
            and unicodedata.category(chr(code_point)) not in _UNSAFE_CATEGORIES
        )
        if safe and start is None:
            start = code_point
        elif not safe and start is not None:
            last = code_point - 1
            ranges.append(
                _class_member(start)
                if start == last
                else f"{_class_member(start)}-{_class_member(last)}"
            )
            start = None
    return f"^[{''.join(ranges)}]*$"


def _declare_safe_text(schema: dict[str, Any]) -> None:
    schema["pattern"] = safe_text_pattern()
    schema.setdefault(
        "description",
        "Printable Unicode text: no control, format (bidi, zero-width), private-use, "
        "unassigned or line/paragraph separator characters.",
    )


SafeText = Annotated[
    str,
    AfterValidator(_safe_text),
    Field(json_schema_extra=_declare_safe_text),
]
"""Text that is stored and shown again: printable Unicode, no control/format/bidi characters."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"

    @property
    def needs_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        """The client names the stop price (a trailing stop's moves with the market instead)."""
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)

    @property
    def is_trailing(self) -> bool:
        """Its stop price trails the market by ``trail_price`` or ``trail_percent``."""
        return self is OrderType.TRAILING_STOP


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderClass(StrEnum):
    """Alpaca's order classes: how an order's legs depend on each other (docs/orders.md)."""

    SIMPLE = "simple"
    BRACKET = "bracket"
    """An entry, then a take-profit and a stop-loss that cancel each other."""
    OCO = "oco"
    """A take-profit limit and a stop-loss that cancel each other (both exits)."""
    OTO = "oto"
    """An entry, then one exit (a take-profit or a stop-loss)."""


class OrderStatus(StrEnum):
    """Alpaca's order status names."""

    PENDING_NEW = "pending_new"
    HELD = "held"
    """An exit leg of a bracket or oto order waiting for its entry to fill: it cannot trade."""
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REJECTED,
        OrderStatus.REPLACED,
    }
)
