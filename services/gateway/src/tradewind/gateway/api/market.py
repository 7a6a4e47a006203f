"""/api/v1/market and /api/v1/instruments: market data, proxied to the market-data service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tradewind.common.contracts.market import Instrument
from tradewind.common.contracts.types import (
    PAGE_TOKEN_PATTERN,
    SYMBOL_INPUT_PATTERN,
    UtcQueryDateTime,
)
from tradewind.gateway.adapters.reads import BarQuery
from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import MarketReadsDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.schemas import (
    BarPage,
    InstrumentList,
    LatestQuote,
    LatestQuotes,
    Symbol,
    Timeframe,
)

router = APIRouter(tags=["market data"])
ReadMarket = Annotated[Principal, require_scope("market:read")]
_ONE_SYMBOL = SYMBOL_INPUT_PATTERN.removeprefix("^").removesuffix("$")
# ASCII only, so str.upper() below folds a-z and nothing else.
SYMBOLS_PATTERN = f"^{_ONE_SYMBOL}(,{_ONE_SYMBOL})*$"


@router.get(
    "/api/v1/market/quotes/latest",
    response_model=LatestQuotes,
    responses=PROBLEM_RESPONSES,
    summary="Latest quotes of several symbols",
)
async def latest_quotes(
    _: ReadMarket,
    market: MarketReadsDep,
    symbols: Annotated[
        str,
        Query(
            max_length=2000,
            pattern=SYMBOLS_PATTERN,
            description="Comma-separated symbols; a-z are read as A-Z.",
            examples=["AAPL,MSFT"],
        ),
    ],
) -> LatestQuotes:
    return await market.latest_quotes(symbols.upper().split(","))


@router.get(
    "/api/v1/market/quotes/{symbol}/latest",
    response_model=LatestQuote,
    responses=PROBLEM_RESPONSES,
    summary="Latest quote of one symbol",
)
async def latest_quote(symbol: Symbol, _: ReadMarket, market: MarketReadsDep) -> LatestQuote:
    return await market.latest_quote(symbol)


@router.get(
    "/api/v1/market/bars/{symbol}",
    response_model=BarPage,
    responses=PROBLEM_RESPONSES,
    summary="OHLCV bars",
)
async def bars(
    symbol: Symbol,
    _: ReadMarket,
    market: MarketReadsDep,
    timeframe: Timeframe = "1Min",
    start: UtcQueryDateTime | None = None,
    end: UtcQueryDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
) -> BarPage:
    return await market.bars(
        BarQuery(symbol, timeframe, start=start, end=end, limit=limit, page_token=page_token)
    )


@router.get(
    "/api/v1/instruments",
    response_model=InstrumentList,
    responses=PROBLEM_RESPONSES,
    summary="Tradable instruments",
)
async def instruments(_: ReadMarket, market: MarketReadsDep) -> InstrumentList:
    return await market.instruments()


@router.get(
    "/api/v1/instruments/{symbol}",
    response_model=Instrument,
    responses=PROBLEM_RESPONSES,
    summary="One instrument",
)
async def instrument(symbol: Symbol, _: ReadMarket, market: MarketReadsDep) -> Instrument:
    return await market.instrument(symbol)
