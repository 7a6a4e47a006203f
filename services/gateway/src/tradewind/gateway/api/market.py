"""/api/v1/market and /api/v1/instruments: market data, proxied to the market-data service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from tradewind.common.contracts.market import Instrument
from tradewind.common.contracts.types import (
    PAGE_TOKEN_PATTERN,
    SYMBOL_INPUT_PATTERN,
    DecimalStr,
    UtcDateTime,
    UtcQueryDateTime,
)
from tradewind.gateway.adapters.upstream import unwrap
from tradewind.gateway.api.auth import require_scope
from tradewind.gateway.api.deps import MarketDataServiceDep
from tradewind.gateway.api.orders import PROBLEM_RESPONSES
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.domain.schemas import Symbol

router = APIRouter(tags=["market data"])
ReadMarket = Annotated[Principal, require_scope("market:read")]
_ONE_SYMBOL = SYMBOL_INPUT_PATTERN.removeprefix("^").removesuffix("$")
# ASCII only, so str.upper() below folds a-z and nothing else.
SYMBOLS_PATTERN = f"^{_ONE_SYMBOL}(,{_ONE_SYMBOL})*$"
Timeframe = Literal["1Min", "5Min", "15Min", "1Hour", "1Day"]


class LatestQuote(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    bid_price: DecimalStr
    bid_size: DecimalStr
    ask_price: DecimalStr
    ask_size: DecimalStr
    timestamp: UtcDateTime
    sequence: int
    stale: bool = False


class LatestQuotes(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quotes: dict[str, LatestQuote]


class Bar(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: UtcDateTime
    o: DecimalStr
    h: DecimalStr
    l: DecimalStr  # noqa: E741 - Alpaca's field name
    c: DecimalStr
    v: DecimalStr


class BarPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str | None = None
    timeframe: str | None = None
    data: list[Bar]
    next_page_token: str | None


class InstrumentList(BaseModel):
    data: list[Instrument]


def _params(**values: Any) -> dict[str, str]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else str(value)
        for key, value in values.items()
        if value is not None
    }


@router.get(
    "/api/v1/market/quotes/latest",
    response_model=LatestQuotes,
    responses=PROBLEM_RESPONSES,
    summary="Latest quotes of several symbols",
)
async def latest_quotes(
    _: ReadMarket,
    market: MarketDataServiceDep,
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
    response = await market.request(
        "GET", "/internal/v1/quotes/latest", params={"symbols": symbols.upper()}
    )
    return LatestQuotes.model_validate(unwrap(response))


@router.get(
    "/api/v1/market/quotes/{symbol}/latest",
    response_model=LatestQuote,
    responses=PROBLEM_RESPONSES,
    summary="Latest quote of one symbol",
)
async def latest_quote(symbol: Symbol, _: ReadMarket, market: MarketDataServiceDep) -> LatestQuote:
    response = await market.request("GET", f"/internal/v1/quotes/{symbol}/latest")
    return LatestQuote.model_validate(unwrap(response))


@router.get(
    "/api/v1/market/bars/{symbol}",
    response_model=BarPage,
    responses=PROBLEM_RESPONSES,
    summary="OHLCV bars",
)
async def bars(
    symbol: Symbol,
    _: ReadMarket,
    market: MarketDataServiceDep,
    timeframe: Timeframe = "1Min",
    start: UtcQueryDateTime | None = None,
    end: UtcQueryDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
) -> BarPage:
    response = await market.request(
        "GET",
        f"/internal/v1/bars/{symbol}",
        params=_params(
            timeframe=timeframe, start=start, end=end, limit=limit, page_token=page_token
        ),
    )
    return BarPage.model_validate(unwrap(response))


@router.get(
    "/api/v1/instruments",
    response_model=InstrumentList,
    responses=PROBLEM_RESPONSES,
    summary="Tradable instruments",
)
async def instruments(_: ReadMarket, market: MarketDataServiceDep) -> InstrumentList:
    response = await market.request("GET", "/internal/v1/instruments")
    return InstrumentList.model_validate(unwrap(response))


@router.get(
    "/api/v1/instruments/{symbol}",
    response_model=Instrument,
    responses=PROBLEM_RESPONSES,
    summary="One instrument",
)
async def instrument(symbol: Symbol, _: ReadMarket, market: MarketDataServiceDep) -> Instrument:
    response = await market.request("GET", f"/internal/v1/instruments/{symbol}")
    return Instrument.model_validate(unwrap(response))
