import base64
import time

import pytest

from tradewind.webhooks.domain.signing import (
    build_headers,
    decode_secret,
    generate_secret,
    sign,
    signature_header,
)
from unit.webhooks.spec_verifier import VerificationError, verify

# Test vector from the reference library's suite (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py::test_sign_function); the spec document
# itself only shows a signature without the secret that produced it.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = b'{"type":"order.filled","timestamp":"2024-05-01T12:00:00Z","data":{"id":"o-1"}}'


def test_sign_reproduces_spec_test_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_sign_accepts_secret_without_prefix() -> None:
    bare_secret = VECTOR_SECRET.removeprefix("whsec_")
    assert sign(bare_secret, VECTOR_MSG_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_spec_verifier_accepts_test_vector() -> None:
    headers = {
        "webhook-id": VECTOR_MSG_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_generated_secret_has_prefix_and_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(decode_secret(secret)) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_", "empty"),
        ("", "empty"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "at least 24"),
    ],
)
def test_decode_secret_rejects_malformed(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_secret(secret)


def test_sign_rejects_message_id_containing_full_stop() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        sign(generate_secret(), "msg.1", 1, b"{}")


def test_signature_header_has_one_signature_per_secret() -> None:
    old_secret, new_secret = generate_secret(), generate_secret()
    header = signature_header([old_secret, new_secret], MSG_ID, 1700000000, BODY)
    assert header.split(" ") == [
        sign(old_secret, MSG_ID, 1700000000, BODY),
        sign(new_secret, MSG_ID, 1700000000, BODY),
    ]


def test_signature_header_requires_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], MSG_ID, 1700000000, BODY)


def test_build_headers_contents() -> None:
    secret = generate_secret()
    headers = build_headers([secret], MSG_ID, 1700000000, BODY)
    assert headers == {
        "content-type": "application/json",
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1700000000",
        "webhook-signature": sign(secret, MSG_ID, 1700000000, BODY),
    }


def test_signed_delivery_verifies() -> None:
    secret = generate_secret()
    timestamp = int(time.time())
    verify(secret, build_headers([secret], MSG_ID, timestamp, BODY), BODY)


def test_each_secret_alone_verifies_during_rotation() -> None:
    old_secret, new_secret = generate_secret(), generate_secret()
    timestamp = 1700000000
    headers = build_headers([old_secret, new_secret], MSG_ID, timestamp, BODY)
    verify(old_secret, headers, BODY, now=timestamp)
    verify(new_secret, headers, BODY, now=timestamp)


def test_tampered_body_is_rejected() -> None:
    secret = generate_secret()
    headers = build_headers([secret], MSG_ID, 1700000000, BODY)
    with pytest.raises(VerificationError):
        verify(secret, headers, BODY.replace(b"o-1", b"o-2"), now=1700000000)


def test_tampered_message_id_is_rejected() -> None:
    secret = generate_secret()
    headers = build_headers([secret], MSG_ID, 1700000000, BODY)
    headers["webhook-id"] = "msg_other"
    with pytest.raises(VerificationError):
        verify(secret, headers, BODY, now=1700000000)


def test_wrong_secret_is_rejected() -> None:
    headers = build_headers([generate_secret()], MSG_ID, 1700000000, BODY)
    with pytest.raises(VerificationError):
        verify(generate_secret(), headers, BODY, now=1700000000)


@pytest.mark.parametrize("skew", [-301, 301])
def test_timestamp_outside_tolerance_is_rejected(skew: int) -> None:
    secret = generate_secret()
    headers = build_headers([secret], MSG_ID, 1700000000, BODY)
    with pytest.raises(VerificationError, match="tolerance"):
        verify(secret, headers, BODY, now=1700000000 + skew)


def test_timestamp_at_tolerance_edge_is_accepted() -> None:
    secret = generate_secret()
    headers = build_headers([secret], MSG_ID, 1700000000, BODY)
    verify(secret, headers, BODY, now=1700000300)
