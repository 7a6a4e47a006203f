"""Rate-limit budgets per API key, and how their use is told to clients.

Each request spends one unit of one budget of its key: ``orders`` (place, replace, cancel),
``reads`` (every GET), ``webhooks`` (endpoint changes), ``webhook-tests`` (test sends) or ``keys``
(an admin's key changes: create, change scopes, revoke). A budget
is a quota per fixed window of its own per key: the window opens with the first request that
counts and lasts ``window_s``; the counter then starts again from zero. Counting happens in Redis
(``admission.py``), so every gateway process spends from the same budget.

The answers carry the fields of draft-ietf-httpapi-ratelimit-headers-11:
``RateLimit-Policy: "orders";q=200;w=60`` and ``RateLimit: "orders";r=42;t=30`` (``r`` units
remain, the window ends in ``t`` seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tradewind.gateway.settings import GatewaySettings

BudgetName = Literal["orders", "reads", "webhooks", "webhook-tests", "keys"]
BUDGET_NAMES: tuple[BudgetName, ...] = ("orders", "reads", "webhooks", "webhook-tests", "keys")
# What an admin may give one of its keys over HTTP: at least one request per window (a key
# that may do nothing is a scope matter), at most a million, in a window of up to a day.
MAX_KEY_QUOTA = 1_000_000
MAX_KEY_WINDOW_S = 86_400


@dataclass(frozen=True)
class Budget:
    name: BudgetName
    quota: int
    window_s: int

    def policy_header(self) -> bytes:
        return f'"{self.name}";q={self.quota};w={self.window_s}'.encode()


def default_budgets(settings: GatewaySettings) -> dict[BudgetName, Budget]:
    window = settings.rate_limit_window_s
    quotas: dict[BudgetName, int] = {
        "orders": settings.rate_limit_orders,
        "reads": settings.rate_limit_reads,
        "webhooks": settings.rate_limit_webhooks,
        "webhook-tests": settings.rate_limit_webhook_tests,
        "keys": settings.rate_limit_keys,
    }
    return {name: Budget(name, quota, window) for name, quota in quotas.items()}


def budgets_from_record(raw: object) -> tuple[Budget, ...]:
    """A key record's own budgets: ``{"orders": {"quota": 500, "window_s": 60}, …}``.

    Unknown names and malformed entries are ignored: a record written by a newer gateway must not
    lock a key out of an older one.
    """
    if not isinstance(raw, dict):
        return ()
    budgets = []
    for name in BUDGET_NAMES:
        entry = raw.get(name)
        if not isinstance(entry, dict):
            continue
        quota, window_s = entry.get("quota"), entry.get("window_s")
        if isinstance(quota, int) and quota >= 0 and isinstance(window_s, int) and window_s >= 1:
            budgets.append(Budget(name, quota, window_s))
    return tuple(budgets)


def budgets_to_record(budgets: tuple[Budget, ...]) -> dict[str, dict[str, int]]:
    return {b.name: {"quota": b.quota, "window_s": b.window_s} for b in budgets}


@dataclass(frozen=True)
class Usage:
    """What one request's admission left of its budget."""

    budget: Budget
    granted: bool
    remaining: int
    reset_ms: int

    @property
    def reset_s(self) -> int:
        """Whole seconds until the window ends (a partial second counts as one)."""
        return max(1, math.ceil(self.reset_ms / 1000))

    def headers(self) -> list[tuple[bytes, bytes]]:
        state = f'"{self.budget.name}";r={self.remaining};t={self.reset_s}'
        return [
            (b"ratelimit-policy", self.budget.policy_header()),
            (b"ratelimit", state.encode()),
        ]
