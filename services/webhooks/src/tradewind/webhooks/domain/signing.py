"""Standard Webhooks (v1, HMAC-SHA256) signing for outgoing deliveries.

The signed content is ``{msg_id}.{timestamp}.{body}`` and the signature header is a
space-delimited list of ``v1,<base64 signature>`` entries, one per active secret, so a
receiver keeps verifying while an endpoint's secret is being rotated.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
GENERATED_SECRET_BYTES = 32
# The spec requires symmetric secrets of at least 24 bytes (192 bits).
MIN_SECRET_BYTES = 24

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


def generate_secret() -> str:
    """Return a fresh endpoint secret in the ``whsec_<base64>`` form shown to customers."""
    raw_secret = token_bytes(GENERATED_SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw_secret).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """Return the raw key bytes of a ``whsec_``-prefixed (or bare) base64 secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    if not encoded:
        raise ValueError("webhook secret is empty")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"webhook secret is not valid base64: {exc}") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(
            f"webhook secret decodes to {len(key)} bytes; at least {MIN_SECRET_BYTES} required"
        )
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``v1,<base64 HMAC-SHA256>`` signature of one delivery attempt."""
    # A "." inside the id would make "{id}.{ts}.{body}" ambiguous, letting one signature
    # stand for a different id/timestamp split; the spec forbids it.
    if "." in msg_id:
        raise ValueError(f"message id must not contain '.': {msg_id!r}")
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed_content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value: one signature per active secret."""
    if not secrets:
        raise ValueError("at least one signing secret is required")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def build_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the Standard Webhooks headers (plus JSON content type) for one attempt."""
    return {
        "content-type": "application/json",
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: signature_header(secrets, msg_id, timestamp, body),
    }
