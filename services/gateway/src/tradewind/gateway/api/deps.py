"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tradewind.common.broker import Broker
from tradewind.gateway.pending import PendingOrders
from tradewind.gateway.upstream import ServiceClient


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


def _pending(request: Request) -> PendingOrders:
    pending: PendingOrders = request.app.state.pending_orders
    return pending


def _orders_service(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.orders_service
    return client


def _market_data_service(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.market_data_service
    return client


def _webhooks_service(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.webhooks_service
    return client


BrokerDep = Annotated[Broker, Depends(_broker)]
PendingOrdersDep = Annotated[PendingOrders, Depends(_pending)]
OrdersServiceDep = Annotated[ServiceClient, Depends(_orders_service)]
MarketDataServiceDep = Annotated[ServiceClient, Depends(_market_data_service)]
WebhooksServiceDep = Annotated[ServiceClient, Depends(_webhooks_service)]
