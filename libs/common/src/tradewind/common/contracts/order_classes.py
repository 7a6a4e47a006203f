"""What an order of each class must look like (Alpaca's rules): one definition for the gateway,
which answers 422 with the field, and the orders service, which rejects a command that breaks
them whoever sent it (``invalid_order``).

- ``simple``: no ``take_profit`` nor ``stop_loss``.
- every other class: a ``qty``, not a ``notional`` (its legs share the entry's quantity).
- ``bracket``: a market or limit entry, day or gtc, with both ``take_profit`` and ``stop_loss``.
- ``oto``: a market or limit entry, day or gtc, with exactly one of them.
- ``oco``: a limit order, day or gtc, that *is* the take-profit (its ``limit_price``; a
  ``take_profit`` may repeat it), with a ``stop_loss``; both are exits and work at once. Its
  stop-loss has a ``stop_price``: a trailing one (``trail_price``/``trail_percent``, bracket
  and oto) starts its mark at the entry's fill, and an oco has no entry.

Prices: the exits of a buy entry sell, so its take-profit limit lies above the stop-loss stop,
and both lie on their side of a limit entry's price (take-profit above, stop below); a sell
entry mirrors it. A stop-limit stop-loss keeps its limit on the far side of its stop (a sell at
or below it, a buy at or above it), so that the triggered stop is not already a resting take-profit.
For an oco the order's own side is the exit side.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from tradewind.common.contracts.orders import StopLoss, TakeProfit
from tradewind.common.contracts.types import OrderClass, OrderType, Side, TimeInForce

_ENTRY_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})
_CLASS_TIME_IN_FORCE = frozenset({TimeInForce.DAY, TimeInForce.GTC})


def exit_side(order_class: OrderClass, side: Side) -> Side:
    """The side of the class's exit orders: the opposite of an entry's; an oco is the exit."""
    if order_class is OrderClass.OCO:
        return side
    return Side.SELL if side is Side.BUY else Side.BUY


def order_class_violation(
    order_class: OrderClass,
    *,
    side: Side,
    type: OrderType,
    limit_price: Decimal | None,
    time_in_force: TimeInForce,
    take_profit: TakeProfit | None,
    stop_loss: StopLoss | None,
    notional: Decimal | None = None,
) -> tuple[str, str] | None:
    """The first rule of the order's class it breaks, as (field, message), or None."""
    name = order_class.value
    if order_class is OrderClass.SIMPLE:
        for field, leg in (("take_profit", take_profit), ("stop_loss", stop_loss)):
            if leg is not None:
                return field, f"simple orders have no {field}; use order_class bracket, oco or oto"
        return None
    if notional is not None:
        # The legs share the entry's quantity, which a notional order only learns when it trades.
        return "notional", f"{name} orders take a qty, not a notional"
    if time_in_force not in _CLASS_TIME_IN_FORCE:
        return "time_in_force", f"{name} orders must be day or gtc"
    if order_class is OrderClass.OCO:
        if type is not OrderType.LIMIT:
            return "type", "oco orders are limit orders: the limit is the take-profit"
        if stop_loss is None:
            return "stop_loss", "oco orders need a stop_loss"
        if stop_loss.trailing:
            # A trailing leg starts its mark at the entry's fill; an oco has no entry.
            return "stop_loss", "an oco's stop_loss takes a stop_price, not a trail"
        if take_profit is not None and take_profit.limit_price != limit_price:
            return "take_profit.limit_price", "must equal the oco order's limit_price"
    else:
        if type not in _ENTRY_TYPES:
            return "type", f"the entry of a {name} order is a market or limit order"
        if order_class is OrderClass.BRACKET:
            for field, leg in (("take_profit", take_profit), ("stop_loss", stop_loss)):
                if leg is None:
                    return field, f"bracket orders need a {field}"
        elif (take_profit is None) == (stop_loss is None):
            return "take_profit", "oto orders need exactly one of take_profit and stop_loss"
    return _price_violation(order_class, side, type, limit_price, take_profit, stop_loss)


def _price_violation(
    order_class: OrderClass,
    side: Side,
    type: OrderType,
    limit_price: Decimal | None,
    take_profit: TakeProfit | None,
    stop_loss: StopLoss | None,
) -> tuple[str, str] | None:
    selling = exit_side(order_class, side) is Side.SELL
    above, below = ("above", "below") if selling else ("below", "above")
    profit = limit_price if order_class is OrderClass.OCO else None
    if take_profit is not None:
        profit = take_profit.limit_price
    # A trailing stop-loss has no stop_price: its stop follows the market, nothing to compare.
    stop = stop_loss.stop_price if stop_loss is not None else None
    if stop is not None and stop_loss is not None and stop_loss.limit_price is not None:
        limit = stop_loss.limit_price
        if (limit > stop) if selling else (limit < stop):
            return (
                "stop_loss.limit_price",
                f"must be at or {below} stop_loss.stop_price for {_exits(order_class, selling)}",
            )
    crossed = (
        profit is not None
        and stop is not None
        and ((profit <= stop) if selling else (profit >= stop))
    )
    if crossed:
        field = "limit_price" if take_profit is None else "take_profit.limit_price"
        return field, f"must be {above} stop_loss.stop_price for {_exits(order_class, selling)}"
    entry = limit_price if order_class is not OrderClass.OCO and type is OrderType.LIMIT else None
    if entry is None:
        return None
    if take_profit is not None and (
        (take_profit.limit_price <= entry) if selling else (take_profit.limit_price >= entry)
    ):
        return (
            "take_profit.limit_price",
            f"must be {above} the entry's limit_price {entry:f} for {_exits(order_class, selling)}",
        )
    if stop is not None and ((stop >= entry) if selling else (stop <= entry)):
        return (
            "stop_loss.stop_price",
            f"must be {below} the entry's limit_price {entry:f} for {_exits(order_class, selling)}",
        )
    return None


def _exits(order_class: OrderClass, selling: bool) -> str:
    if order_class is OrderClass.OCO:
        return "a sell oco" if selling else "a buy oco"
    return "sell exits (a buy entry)" if selling else "buy exits (a sell entry)"


class ClassedOrder(Protocol):
    """What the class rules read of an order: a place command, or the gateway's order request
    (the same fields, of the same types)."""

    @property
    def order_class(self) -> OrderClass: ...
    @property
    def side(self) -> Side: ...
    @property
    def type(self) -> OrderType: ...
    @property
    def limit_price(self) -> Decimal | None: ...
    @property
    def time_in_force(self) -> TimeInForce: ...
    @property
    def take_profit(self) -> TakeProfit | None: ...
    @property
    def stop_loss(self) -> StopLoss | None: ...
    @property
    def notional(self) -> Decimal | None: ...


def place_violation(order: ClassedOrder) -> tuple[str, str] | None:
    """``order_class_violation`` of an order to place."""
    return order_class_violation(
        order.order_class,
        side=order.side,
        type=order.type,
        limit_price=order.limit_price,
        time_in_force=order.time_in_force,
        take_profit=order.take_profit,
        stop_loss=order.stop_loss,
        notional=order.notional,
    )
