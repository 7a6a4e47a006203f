"""Internal HTTP API (proxied by the gateway): quote ingest, latest quotes, bars, instruments."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from tradewind.common.app import runtime_of
from tradewind.common.contracts import Instrument
from tradewind.common.contracts.types import PAGE_TOKEN_PATTERN, UtcDateTime
from tradewind.common.http_paging import invalid_page_token, page_cursor
from tradewind.common.problems import MEDIA_TYPE, Problem
from tradewind.market_data.adapters.store import BarCursor, BarReads
from tradewind.market_data.api.schemas import (
    BarOut,
    BarPageResponse,
    IngestedQuote,
    IngestResponse,
    InstrumentsResponse,
    LatestQuote,
    LatestQuotesResponse,
    QuoteBatchIn,
)
from tradewind.market_data.bootstrap import MarketDataRuntime
from tradewind.market_data.domain.bars import Timeframe
from tradewind.market_data.domain.quotes import InvalidQuotes
from tradewind.market_data.handlers.feed_chain import ProviderNotInChain
from tradewind.market_data.handlers.quote_pipeline import QuotesNotPublished

MAX_BARS_PER_PAGE = 10_000

# --- dependencies ---

Runtime = Annotated[MarketDataRuntime, Depends(runtime_of(MarketDataRuntime))]


async def _session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]
SymbolPath = Annotated[str, Path(max_length=16, description="Instrument symbol, e.g. AAPL.")]


def _known_instrument(instruments: Mapping[str, Instrument], symbol: str) -> Instrument:
    instrument = instruments.get(symbol.upper())
    if instrument is None:
        raise Problem(
            404, "Unknown symbol", f"No instrument is listed as {symbol!r}.", kind="not-found"
        )
    return instrument


_PROBLEM: dict[str, Any] = {"content": {MEDIA_TYPE: {}}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown symbol", **_PROBLEM}}

router = APIRouter(prefix="/internal/v1", tags=["market data"])


# --- ingest ---


@router.post(
    "/quotes:batch",
    summary="Ingest a batch of quotes from a feed (all-or-nothing validation)",
    responses={
        409: {"description": "The providers chain does not list http", **_PROBLEM},
        422: {"description": "A quote is invalid; errors name quotes.<i>.<field>", **_PROBLEM},
        503: {"description": "Recorded, but the events were not all published", **_PROBLEM},
    },
)
async def ingest_quotes(batch: QuoteBatchIn, runtime: Runtime) -> IngestResponse:
    try:
        offered = await runtime.feeds.offer("http", [quote.to_input() for quote in batch.quotes])
    except ProviderNotInChain as exc:
        raise Problem(
            409,
            "Ingest is not in the providers chain",
            f"{exc}; this service publishes quotes of the feeds its chain lists only.",
            kind="provider-not-in-chain",
        ) from exc
    except InvalidQuotes as exc:
        errors = [
            {"field": f"quotes.{e.index}.{e.field}", "in": "body", "message": e.message}
            for e in exc.errors
        ]
        fields = sorted({error["field"] for error in errors})
        raise Problem(
            422,
            "Your request is not valid.",
            f"Invalid field(s): {', '.join(fields)}.",
            kind="validation-error",
            errors=errors,
        ) from exc
    except QuotesNotPublished as exc:
        raise Problem(
            503,
            "Quotes not published",
            f"{exc} The batch may be sent again: replays are not counted twice in bars.",
            kind="quotes-not-published",
            headers={"Retry-After": "1"},
        ) from exc
    return IngestResponse(
        accepted=len(offered.published) + offered.standby,
        quotes=[
            IngestedQuote(symbol=q.symbol, sequence=q.sequence, timestamp=q.timestamp)
            for q in offered.published
        ],
        standby=offered.standby,
    )


# --- latest quotes ---


@router.get("/quotes/latest", summary="Latest quote of several symbols", responses=_NOT_FOUND)
async def latest_quotes(
    runtime: Runtime,
    symbols: Annotated[
        str | None,
        Query(max_length=2_000, description="Comma-separated symbols; all instruments if absent."),
    ] = None,
) -> LatestQuotesResponse:
    instruments = runtime.instruments
    if symbols is None:
        wanted = list(instruments)
    else:
        wanted = list(dict.fromkeys(s.strip().upper() for s in symbols.split(",") if s.strip()))
        unknown = [symbol for symbol in wanted if symbol not in instruments]
        if unknown:
            raise Problem(
                404,
                "Unknown symbol",
                f"No instrument is listed as {', '.join(unknown)}.",
                kind="not-found",
                symbols=unknown,
            )
    view = await runtime.latest.get(wanted)
    return LatestQuotesResponse(
        quotes={s: LatestQuote.of(q, stale=view.stale) for s, q in view.quotes.items()}
    )


@router.get(
    "/quotes/{symbol}/latest",
    summary="Latest quote of one symbol",
    responses={
        404: {"description": "Unknown symbol, or no quote yet", **_PROBLEM},
        503: {"description": "Redis unreachable and no quote known to this instance", **_PROBLEM},
    },
)
async def latest_quote(symbol: SymbolPath, runtime: Runtime) -> LatestQuote:
    instrument = _known_instrument(runtime.instruments, symbol)
    view = await runtime.latest.get([instrument.symbol])
    stored = view.quotes.get(instrument.symbol)
    if stored is not None:
        return LatestQuote.of(stored, stale=view.stale)
    if view.stale:
        raise Problem(
            503,
            "Quote unavailable",
            f"The quote store is unreachable and this instance knows no quote of "
            f"{instrument.symbol}.",
            kind="quotes-unavailable",
            headers={"Retry-After": "1"},
        )
    raise Problem(
        404, "No quote yet", f"{instrument.symbol} has not been quoted yet.", kind="no-quote"
    )


# --- bars ---


@router.get(
    "/bars/{symbol}",
    summary="OHLCV bars of a symbol, oldest first (Alpaca-like)",
    responses={
        400: {"description": "page_token is not valid", **_PROBLEM},
        **_NOT_FOUND,
        422: {"description": "Invalid timeframe, limit or time range", **_PROBLEM},
    },
)
async def bars(
    symbol: SymbolPath,
    runtime: Runtime,
    session: SessionDep,
    timeframe: Annotated[Timeframe, Query(description="Bar length.")] = Timeframe.MINUTE_1,
    start: Annotated[
        UtcDateTime | None, Query(description="Bars starting at or after this time.")
    ] = None,
    end: Annotated[
        UtcDateTime | None, Query(description="Bars starting at or before this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_BARS_PER_PAGE)] = 1_000,
    page_token: Annotated[str | None, Query(pattern=PAGE_TOKEN_PATTERN)] = None,
) -> BarPageResponse:
    instrument = _known_instrument(runtime.instruments, symbol)
    if start is not None and end is not None and start > end:
        raise Problem(
            422,
            "Your request is not valid.",
            "Invalid field(s): start.",
            kind="validation-error",
            errors=[{"field": "start", "in": "query", "message": "must not be after end"}],
        )
    cursor = page_cursor(page_token, BarCursor.decode)
    if cursor is not None and (cursor.symbol, cursor.timeframe) != (instrument.symbol, timeframe):
        raise invalid_page_token("page_token belongs to another symbol or timeframe")
    page = await BarReads(session).page(
        instrument.symbol, timeframe, start=start, end=end, limit=limit, cursor=cursor
    )
    return BarPageResponse(
        symbol=instrument.symbol,
        timeframe=timeframe,
        data=[BarOut.of(row) for row in page.bars],
        next_page_token=page.next_cursor.encode() if page.next_cursor else None,
    )


# --- instruments ---


@router.get("/instruments", summary="Every listed instrument")
async def list_instruments(runtime: Runtime) -> InstrumentsResponse:
    return InstrumentsResponse(data=list(runtime.instruments.values()))


@router.get("/instruments/{symbol}", summary="One listed instrument", responses=_NOT_FOUND)
async def get_instrument(symbol: SymbolPath, runtime: Runtime) -> Instrument:
    return _known_instrument(runtime.instruments, symbol)
