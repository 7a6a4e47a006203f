"""Short-lived access tokens (JWT, HS256) exchanged for an API key at /api/v1/auth/token.

HS256 with one secret shared by the gateways: the gateways are the only issuer and the only
audience, so a key pair (EdDSA) would add key distribution and buy nothing; nobody else needs to
verify a token without being able to mint one. A token names the key it was exchanged for
(``key_id``); on every use the gateway checks that key as it checks an API key, so revoking the
key ends its tokens at once, and the token's scopes are cut to the key's current ones.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "tradewind-gateway"
AUDIENCE = "tradewind-api"
# Tolerated clock difference between the gateway that issued a token and the one checking it.
LEEWAY_S = 5
MIN_SIGNING_KEY_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash output


@dataclass(frozen=True, slots=True)
class TokenClaims:
    account_id: str
    key_id: str
    scopes: frozenset[str]
    expires_at: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    scopes: frozenset[str]


def looks_like_token(credential: str) -> bool:
    """A JWS in compact form (base64url header starting ``{"``); API keys never contain dots."""
    return credential.startswith("eyJ") and credential.count(".") == 2


class TokenSigner:
    def __init__(
        self, signing_key: bytes, *, ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"the signing key needs at least {MIN_SIGNING_KEY_BYTES} bytes")
        self._key = signing_key
        self.ttl_s = ttl_s
        self._clock = clock

    def issue(self, account_id: str, key_id: str, scopes: frozenset[str]) -> IssuedToken:
        now = int(self._clock())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": account_id,
            "key_id": key_id,
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token=token, expires_in=self.ttl_s, scopes=scopes)

    def verify(self, token: str) -> TokenClaims | None:
        """The claims of a token this gateway family signed and that has not expired, or None."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.InvalidTokenError:
            return None
        key_id, scope, subject = claims.get("key_id"), claims.get("scope"), claims["sub"]
        if not isinstance(key_id, str) or not isinstance(scope, str) or not subject:
            return None
        return TokenClaims(
            account_id=str(subject),
            key_id=key_id,
            scopes=frozenset(scope.split()),
            expires_at=int(claims["exp"]),
        )
