"""The kill switch's rules: what a block cancels, who may weaken or lift it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tradewind.common.contracts import BlockTrading, TradingBlockedBy, UnblockTrading
from tradewind.common.contracts.types import OrderStatus, OrderType
from tradewind.orders.domain import (
    MarketView,
    RiskRules,
    TradingBlock,
    block_trading,
    place,
    replace,
    unblock_trading,
)
from unit.orders.builders import T0, place_command, working_order
from unit.orders.test_orders_replace import replace_command

ACCOUNT, OPERATOR = TradingBlockedBy.ACCOUNT, TradingBlockedBy.OPERATOR
NOW = T0 + timedelta(minutes=5)


def block(by: TradingBlockedBy, reason: str = "desk closed") -> BlockTrading:
    return BlockTrading(account_id="acct-1", reason=reason, blocked_by=by, requested_at=NOW)


def unblock(by: TradingBlockedBy) -> UnblockTrading:
    return UnblockTrading(account_id="acct-1", unblocked_by=by, requested_at=NOW)


def held(by: TradingBlockedBy) -> TradingBlock:
    return TradingBlock("acct-1", "earlier", by, T0)


def test_a_block_cancels_every_open_order_and_leaves_terminal_ones() -> None:
    open_orders = [working_order(), working_order(status=OrderStatus.PARTIALLY_FILLED)]
    filled = working_order(status=OrderStatus.FILLED)

    blocking = block_trading(None, block(ACCOUNT), [*open_orders, filled], NOW)

    assert [order.id for order, _ in blocking.canceled] == [order.id for order in open_orders]
    assert {order.status for order, _ in blocking.canceled} == {OrderStatus.CANCELED}
    assert blocking.block == TradingBlock("acct-1", "desk closed", ACCOUNT, NOW)
    assert (blocking.event.canceled_orders, blocking.event.blocked_at) == (2, NOW)


def test_a_block_never_cancels_another_accounts_order() -> None:
    with pytest.raises(ValueError, match="is not an order of"):
        block_trading(None, block(ACCOUNT), [working_order(account="acct-2")], NOW)


@pytest.mark.parametrize(
    ("current", "requested", "kept_by", "reason"),
    [
        (OPERATOR, ACCOUNT, OPERATOR, "earlier"),  # an account cannot weaken an operator's block
        (ACCOUNT, OPERATOR, OPERATOR, "desk closed"),  # an operator's block replaces the account's
        (ACCOUNT, ACCOUNT, ACCOUNT, "desk closed"),
        (OPERATOR, OPERATOR, OPERATOR, "desk closed"),
    ],
)
def test_blocking_a_blocked_account_keeps_the_stronger_block_and_its_time(
    current: TradingBlockedBy, requested: TradingBlockedBy, kept_by: TradingBlockedBy, reason: str
) -> None:
    blocking = block_trading(held(current), block(requested), [], NOW)
    assert (blocking.block.blocked_by, blocking.block.reason) == (kept_by, reason)
    assert blocking.block.blocked_at == T0


@pytest.mark.parametrize(
    ("current", "requested", "lifted"),
    [
        (None, ACCOUNT, False),
        (ACCOUNT, ACCOUNT, True),
        (ACCOUNT, OPERATOR, True),
        (OPERATOR, OPERATOR, True),
        (OPERATOR, ACCOUNT, False),
    ],
)
def test_only_an_operator_lifts_an_operators_block(
    current: TradingBlockedBy | None, requested: TradingBlockedBy, lifted: bool
) -> None:
    event = unblock_trading(None if current is None else held(current), unblock(requested), NOW)
    assert (event is not None) is lifted


def test_a_blocked_accounts_orders_and_replaces_are_rejected_with_the_reason() -> None:
    order = working_order(order_type=OrderType.LIMIT, limit="50")
    rules = RiskRules(reference_prices={"ACME": Decimal("50")}, max_notional=Decimal("1000000"))
    market = MarketView(listed=True)

    placed = place(
        place_command(),
        rules,
        market,
        client_order_id_in_use=False,
        now=NOW,
        trading_blocked=True,
    )
    replaced = replace(
        order,
        replace_command(order, qty=Decimal("5")),
        rules,
        market,
        client_order_id_in_use=False,
        now=NOW,
        trading_blocked=True,
    )

    assert (placed.order.status, placed.order.reject_reason) == (
        OrderStatus.REJECTED,
        "account_blocked",
    )
    assert replaced.replacement is None
    assert replaced.refused_replacement is not None
    assert replaced.refused_replacement.reject_reason == "account_blocked"
