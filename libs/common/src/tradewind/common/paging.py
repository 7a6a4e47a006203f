"""Opaque page tokens: a cursor's fields as URL-safe base64 JSON, and their strict decoding.

A token is not signed: it only says where the previous page ended, and every field is checked
on the way back in, so a forged token is a 400 (``InvalidPageToken``), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


class InvalidPageToken(ValueError):
    """The page token was not issued by this API (or was altered)."""


def encode_page_token(fields: Sequence[str]) -> str:
    raw = json.dumps(list(fields)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, build: Callable[[list[Any]], T]) -> T:
    """``build`` applied to the token's fields; any failure, its own included, is invalid."""
    try:
        fields = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(fields, list):
            raise ValueError("not a list of fields")
        return build(fields)
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:
        raise InvalidPageToken("page_token is not a token this API issued") from exc


def utc_instant(text: str) -> datetime:
    """An ISO 8601 time with an offset, in UTC; a forged time past the UTC range raises here
    (OverflowError) instead of overflowing in the database driver."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)
