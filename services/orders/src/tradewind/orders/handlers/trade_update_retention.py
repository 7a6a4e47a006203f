"""Keep the newest N trade updates per account: what a reconnecting stream client can resume
from. Run every few seconds on the write path's pool; each pass looks only at the accounts whose
counter moved since the previous pass (with a margin), so its cost follows the activity, not the
number of accounts or the history."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tradewind.orders.adapters.trade_updates import TradeUpdates

log = logging.getLogger(__name__)

# A counter's updated_at is the start of the transaction that moved it, which can precede the
# previous pass and still commit after it; transactions of the write path last milliseconds.
_MARGIN = timedelta(minutes=5)


class TradeUpdateRetention:
    def __init__(self, store: TradeUpdates, retained_per_account: int) -> None:
        self.store = store
        self.retained = retained_per_account
        self._last_pass: datetime | None = None

    async def prune(self) -> int:
        since = None if self._last_pass is None else self._last_pass - _MARGIN
        dropped, self._last_pass = await self.store.prune(self.retained, since)
        if dropped:
            log.debug("trade updates pruned", extra={"dropped": dropped})
        return dropped
