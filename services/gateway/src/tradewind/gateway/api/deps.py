"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tradewind.common.app import from_state
from tradewind.common.broker import Broker
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.upstream import ServiceClient

BrokerDep = Annotated[Broker, Depends(from_state("broker"))]
PendingOrdersDep = Annotated[PendingOrders, Depends(from_state("pending_orders"))]
OrdersServiceDep = Annotated[ServiceClient, Depends(from_state("orders_service"))]
MarketDataServiceDep = Annotated[ServiceClient, Depends(from_state("market_data_service"))]
WebhooksServiceDep = Annotated[ServiceClient, Depends(from_state("webhooks_service"))]
