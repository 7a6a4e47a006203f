"""Access tokens: what they carry, and what makes one invalid."""

from __future__ import annotations

import time

import jwt
import pytest

from tradewind.gateway.domain.tokens import ALGORITHM, TokenSigner, looks_like_token

KEY = b"unit-tests-signing-key-0123456789abcdef"
SCOPES = frozenset({"orders:read", "market:read"})


def test_a_token_round_trips_its_claims() -> None:
    signer = TokenSigner(KEY, ttl_s=900)
    issued = signer.issue("acme", "key_0123456789abcdef", SCOPES)
    assert looks_like_token(issued.token)
    claims = signer.verify(issued.token)
    assert claims is not None
    assert claims.account_id == "acme"
    assert claims.key_id == "key_0123456789abcdef"
    assert claims.scopes == SCOPES
    assert claims.expires_at - time.time() == pytest.approx(900, abs=5)


@pytest.mark.parametrize(
    "token",
    [
        TokenSigner(KEY, ttl_s=60, clock=lambda: time.time() - 120).issue("a", "k", SCOPES).token,
        TokenSigner(b"x" * 32, ttl_s=60).issue("a", "k", SCOPES).token,
        jwt.encode({"sub": "a", "key_id": "k", "scope": ""}, KEY, algorithm=ALGORITHM),
        jwt.encode(
            {
                "iss": "tradewind-gateway",
                "aud": "tradewind-api",
                "sub": "a",
                "key_id": "k",
                "scope": "orders:read",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "jti": "j",
            },
            KEY * 2,  # long enough for HS512: the algorithm alone must make it invalid
            algorithm="HS512",
        ),
        "eyJ.not.atoken",
    ],
    ids=["expired", "other signing key", "claims missing", "other algorithm", "garbage"],
)
def test_an_invalid_token_has_no_claims(token: str) -> None:
    assert TokenSigner(KEY, ttl_s=900).verify(token) is None


def test_api_keys_do_not_look_like_tokens() -> None:
    assert not looks_like_token("tw_abc-DEF_123")


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short", ttl_s=900)
