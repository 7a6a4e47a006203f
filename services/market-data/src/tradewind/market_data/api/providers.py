"""Internal HTTP API of the quote feeds: each provider's health in the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tradewind.common.app import runtime_of
from tradewind.market_data.api.schemas import ProviderOut, ProvidersResponse
from tradewind.market_data.bootstrap import MarketDataRuntime

Runtime = Annotated[MarketDataRuntime, Depends(runtime_of(MarketDataRuntime))]

router = APIRouter(prefix="/internal/v1", tags=["market data"])


@router.get("/providers", summary="The quote feeds of the providers chain and their health")
async def providers(runtime: Runtime) -> ProvidersResponse:
    policy = runtime.settings.failover_policy()
    return ProvidersResponse(
        chain=list(runtime.feeds.chain),
        staleness_s=None if policy is None else policy.staleness_s,
        hold_s=None if policy is None else policy.hold_s,
        providers=[ProviderOut.of(health) for health in runtime.feeds.health()],
    )
