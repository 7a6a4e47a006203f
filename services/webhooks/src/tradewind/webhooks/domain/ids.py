"""Identifiers: a type prefix and a time-ordered random part (ULID layout, Crockford base32)."""

from __future__ import annotations

import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENDPOINT_PREFIX = "ep_"
MESSAGE_PREFIX = "msg_"


def _ulid() -> str:
    # 48 bits of milliseconds then 80 random bits: sorts by creation time, never contains "."
    # (the Standard Webhooks signed content is "{id}.{timestamp}.{body}").
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_endpoint_id() -> str:
    return ENDPOINT_PREFIX + _ulid()


def new_message_id() -> str:
    return MESSAGE_PREFIX + _ulid()
