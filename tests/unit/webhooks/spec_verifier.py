"""Receiver-side Standard Webhooks verifier, written from the spec text alone.

Deliberately shares no code with ``tradewind.webhooks.domain.signing`` so the signing tests
check our output against an independent reading of the spec, not against itself.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping


class VerificationError(Exception):
    pass


def _secret_key(secret: str) -> bytes:
    encoded = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise VerificationError("secret is not base64") from exc


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = 300,
    now: int | None = None,
) -> None:
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signature_text = lowered.get("webhook-signature")
    if not msg_id or not timestamp_text or not signature_text:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")

    try:
        timestamp = int(timestamp_text)
    except ValueError as exc:
        raise VerificationError(f"timestamp is not an integer: {timestamp_text!r}") from exc
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise VerificationError(f"timestamp {timestamp} outside tolerance of {current}")

    signed_content = msg_id.encode() + b"." + timestamp_text.encode() + b"." + body
    expected = hmac.new(_secret_key(secret), signed_content, hashlib.sha256).digest()

    for entry in signature_text.split(" "):
        version, separator, encoded_signature = entry.partition(",")
        if version != "v1" or not separator:
            continue
        try:
            candidate = base64.b64decode(encoded_signature, validate=True)
        except binascii.Error:
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise VerificationError("no v1 signature matches")
