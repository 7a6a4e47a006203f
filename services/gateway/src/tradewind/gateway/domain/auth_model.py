"""Who a request acts for, and what API keys look like: the vocabulary of authentication.

Keys are 256-bit random tokens, so a fast hash (SHA-256) is enough: there is nothing to brute
force, and a slow password hash would cost every request milliseconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from tradewind.gateway.domain.rate_limits import Budget

KEY_PREFIX = "tw_"
ADMIN_SCOPE = "admin"
# What a key may do unless its creator says otherwise: everything but managing keys.
DEFAULT_SCOPES = frozenset(
    {
        "orders:read",
        "orders:write",
        "positions:read",
        "market:read",
        "webhooks:read",
        "webhooks:write",
        "stream",
    }
)
ALL_SCOPES = DEFAULT_SCOPES | {ADMIN_SCOPE}

Credential = Literal["api_key", "access_token"]


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    key_id: str
    scopes: frozenset[str]
    # The key's own rate-limit budgets (from its record), over the gateway's defaults.
    rate_budgets: tuple[Budget, ...] = ()
    credential: Credential = "api_key"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key_id: str
    secret: str  # the only time the plain key exists outside the client


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_id_of(digest: str) -> str:
    """A key's id derives from its digest, so a request finds its key's row by primary key."""
    return "key_" + digest[:16]
