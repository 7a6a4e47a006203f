"""Typed dependencies shared by the routes: the parts of the running gateway's ``GatewayRuntime``
they use."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tradewind.common.broker import Broker
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.upstream import ServiceClient
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.handlers.api_keys import ApiKeyStore

# Each part is read by an async function of the Request alone, one attribute further than
# app.state.<part> was, rather than through runtime_of: LeanRoute (POST /api/v1/orders) takes no
# other kind of dependency, and the hottest route should not pay a type check per part per
# request. The annotation is the type; runtime_lifespan put the GatewayRuntime there.


async def _broker(request: Request) -> Broker:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.broker


async def _pending_orders(request: Request) -> PendingOrders:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.pending_orders


async def _orders_service(request: Request) -> ServiceClient:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.orders_service


async def _market_data_service(request: Request) -> ServiceClient:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.market_data_service


async def _webhooks_service(request: Request) -> ServiceClient:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.webhooks_service


async def _api_keys(request: Request) -> ApiKeyStore:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime.api_keys


BrokerDep = Annotated[Broker, Depends(_broker)]
PendingOrdersDep = Annotated[PendingOrders, Depends(_pending_orders)]
OrdersServiceDep = Annotated[ServiceClient, Depends(_orders_service)]
MarketDataServiceDep = Annotated[ServiceClient, Depends(_market_data_service)]
WebhooksServiceDep = Annotated[ServiceClient, Depends(_webhooks_service)]
ApiKeysDep = Annotated[ApiKeyStore, Depends(_api_keys)]
