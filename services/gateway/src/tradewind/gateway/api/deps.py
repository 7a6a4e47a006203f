"""Typed dependencies shared by the routes: the parts of the running gateway's ``GatewayRuntime``
they use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from tradewind.common.broker import Broker
from tradewind.common.market_calendar import MarketCalendar
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.reads import MarketReads, OrderReads
from tradewind.gateway.adapters.upstream import ServiceClient
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.handlers.api_keys import ApiKeyStore

# Each part is read by an async function of the Request alone, one attribute further than
# app.state.<part> was, rather than through runtime_of: routes should not pay a type check per
# part per request. The annotation is the type; runtime_lifespan put the GatewayRuntime there.
Part = TypeVar("Part")


def _part(read: Callable[[GatewayRuntime], Part]) -> Callable[[Request], Awaitable[Part]]:
    async def dependency(request: Request) -> Part:
        runtime: GatewayRuntime = request.app.state.runtime
        return read(runtime)

    return dependency


BrokerDep = Annotated[Broker, Depends(_part(lambda runtime: runtime.broker))]
PendingOrdersDep = Annotated[PendingOrders, Depends(_part(lambda runtime: runtime.pending_orders))]
WebhooksServiceDep = Annotated[
    ServiceClient, Depends(_part(lambda runtime: runtime.webhooks_service))
]
ApiKeysDep = Annotated[ApiKeyStore, Depends(_part(lambda runtime: runtime.api_keys))]
MarketCalendarDep = Annotated[
    MarketCalendar, Depends(_part(lambda runtime: runtime.market_calendar))
]
OrderReadsDep = Annotated[OrderReads, Depends(_part(lambda runtime: runtime.order_reads))]
MarketReadsDep = Annotated[MarketReads, Depends(_part(lambda runtime: runtime.market_reads))]
