"""Value types shared by every contract: decimals travel as strings, times as UTC RFC 3339.

These types are the one definition of what the stores accept: the gateway validates requests
with them and the services validate the same fields with them again, so a value the gateway
accepted can never fail later for a reason the gateway could have seen (a NUL PostgreSQL cannot
store, a date that overflows, a number ``Decimal`` reads but a client did not mean).
"""

from __future__ import annotations

import re
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
DECIMAL_STRING_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


def _decimal_from_string(value: Any) -> Any:
    # JSON numbers are floats to most clients; accepting them would let 0.1 become
    # 0.1000000000000000055511151231257827 before it reaches our books. Integers are exact.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str) or not _ASCII_DECIMAL.fullmatch(value):
        raise ValueError('must be a decimal string of ASCII digits, e.g. "10.5"')
    return Decimal(value)


_SMALLEST_PLACE = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
# Enough for any bounded value written with all its places: 18 integer digits and 9 places.
_BOUNDED = Context(prec=MAX_DECIMAL_DIGITS + MAX_DECIMAL_PLACES)


def _finite_and_bounded(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
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


DecimalStr = Annotated[
    Decimal,
    BeforeValidator(
        _decimal_from_string,
        json_schema_input_type=Annotated[str, Field(pattern=DECIMAL_STRING_PATTERN)],
    ),
    AfterValidator(_finite_and_bounded),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


PositiveDecimalStr = Annotated[DecimalStr, AfterValidator(_positive)]


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


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
"""An RFC 3339 time with an offset, held in UTC; one past the range of a UTC datetime is refused."""

UtcQueryDateTime = Annotated[
    datetime,
    AfterValidator(_assume_utc),
    Field(description="RFC 3339 time, UTC if it has no offset; years 0001 to 9999 in UTC."),
]
"""A time in a query parameter: as UtcDateTime, but one without an offset is read as UTC."""

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


SafeText = Annotated[str, AfterValidator(_safe_text)]
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

    @property
    def needs_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT)

    @property
    def needs_stop_price(self) -> bool:
        return self in (OrderType.STOP, OrderType.STOP_LIMIT)


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    """Alpaca's order status names."""

    PENDING_NEW = "pending_new"
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
