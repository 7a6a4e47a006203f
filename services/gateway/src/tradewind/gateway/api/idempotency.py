"""Idempotency-Key (draft-ietf-httpapi-idempotency-key-header-07): the key, the request's
fingerprint, and the stored first answer.

A client sends ``Idempotency-Key: "<unique value>"`` with a POST, PATCH or DELETE. The gateway
reserves the key (per account) together with the request's fingerprint before the request runs,
stores the first answer under it, and for the idempotency TTL answers a retry of the same request
with that answer again. ``admission.py`` does the reserving, in the same Redis script as the rate
limit; ``AdmissionMiddleware`` stores the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from tradewind.common.problems import Problem

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH", "DELETE"})
# Not part of the answer a retry should see again: they describe this exchange, not the result.
_NOT_STORED = frozenset({b"content-length", b"x-request-id", b"ratelimit", b"ratelimit-policy"})
_BARE_KEY = re.compile(r"^[\x21\x23-\x7e]+$")  # visible ASCII except the double quote
_QUOTED_KEY = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$')


def _invalid(detail: str) -> Problem:
    return Problem(
        400,
        "Invalid Idempotency-Key",
        detail,
        kind="invalid-idempotency-key",
        errors=[{"field": "Idempotency-Key", "in": "header", "message": detail}],
    )


def parse_key(raw: str) -> str:
    """The key from its header: a Structured Field String (``"abc"``), or the bare value."""
    value = raw.strip()
    quoted = _QUOTED_KEY.match(value)
    if quoted is not None:
        key = re.sub(r"\\(.)", r"\1", quoted.group(1))
    elif _BARE_KEY.match(value):
        key = value
    else:
        raise _invalid('Send a quoted string of printable ASCII, e.g. Idempotency-Key: "a1b2".')
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _invalid(f"An Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters.")
    return key


def fingerprint(method: str, target: bytes, key_id: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and query, API key, exact body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), target, key_id.encode(), hashlib.sha256(body).digest()):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.hexdigest()


def record_key(namespace: str, account_id: str, key: str) -> str:
    """Per account, so two accounts using the same key never meet; hashed to bound its length.

    The account in braces is a Redis Cluster hash tag: the record and the account's rate-limit
    counters live in one slot, as the admission script needs.
    """
    hashed = hashlib.sha256(key.encode()).hexdigest()
    return f"{namespace}:idempotency:{{{account_id}}}:{hashed}"


@dataclass(frozen=True)
class IdempotentRequest:
    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @classmethod
    def of(cls, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> StoredResponse:
        kept = tuple((name, value) for name, value in headers if name.lower() not in _NOT_STORED)
        return cls(status, kept, body)

    def encoded_headers(self) -> str:
        return json.dumps([[n.decode("latin-1"), v.decode("latin-1")] for n, v in self.headers])

    @classmethod
    def decode(cls, status: bytes, headers: bytes, body: bytes) -> StoredResponse:
        pairs = json.loads(headers)
        return cls(
            int(status),
            tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs),
            body,
        )


def in_flight() -> Problem:
    return Problem(
        409,
        "Request in progress",
        "A request with this Idempotency-Key is still being processed; retry after it completes.",
        kind="idempotency-key-in-use",
        headers={"Retry-After": "1"},
    )


def reused() -> Problem:
    return Problem(
        422,
        "Idempotency-Key reused",
        "This Idempotency-Key was used for a different request (method, path, API key or body); "
        "use a new key for a new request.",
        kind="idempotency-key-reused",
    )
