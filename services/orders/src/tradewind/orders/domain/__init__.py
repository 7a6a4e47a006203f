"""The orders domain: order state machine, risk checks, matching against quotes, positions.

Pure code only: nothing here touches the database, the broker, HTTP or the clock.
"""

from tradewind.orders.domain.decimals import EXACT, contract_decimal
from tradewind.orders.domain.matching import (
    Execution,
    Match,
    OrderChange,
    Settlement,
    StagedEvent,
    SymbolBook,
    execution_id,
    match_quote,
    settle,
    time_priority,
)
from tradewind.orders.domain.orders import (
    WORKING_STATUSES,
    CancelOutcome,
    Expiry,
    MarketView,
    Order,
    Placement,
    ReplaceOutcome,
    RiskRules,
    cancel,
    expire,
    expires_at_session_end,
    latest_session_end,
    notional,
    place,
    replace,
    to_snapshot,
)
from tradewind.orders.domain.positions import Position, apply_fill, to_position_snapshot

__all__ = [
    "EXACT",
    "WORKING_STATUSES",
    "CancelOutcome",
    "Execution",
    "Expiry",
    "MarketView",
    "Match",
    "Order",
    "OrderChange",
    "Placement",
    "Position",
    "ReplaceOutcome",
    "RiskRules",
    "Settlement",
    "StagedEvent",
    "SymbolBook",
    "apply_fill",
    "cancel",
    "contract_decimal",
    "execution_id",
    "expire",
    "expires_at_session_end",
    "latest_session_end",
    "match_quote",
    "notional",
    "place",
    "replace",
    "settle",
    "time_priority",
    "to_position_snapshot",
    "to_snapshot",
]
