"""The reads the gateway proxies, one method per question: what the REST routes and the GraphQL
resolvers ask the orders and market-data services, written once.

Each method builds the internal path, calls the service through its ``ServiceClient`` (timeouts,
retries, breaker) and validates the answer into the public model. A 4xx is the service's
problem relayed (``relay_problem``: a 404 stays a 404), except an order not found, which may
still be pending at the gateway; the service unavailable or failing is the client's 503 or 502
problem. The account is always an argument
taken from the caller's credential, never from the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tradewind.common.contracts import TradingBlockStatus
from tradewind.common.contracts.account import AccountView
from tradewind.common.contracts.activities import ActivityPageView
from tradewind.common.contracts.jobs import JobView
from tradewind.common.contracts.market import Instrument
from tradewind.common.contracts.trade_updates import TradeUpdatesPage
from tradewind.common.problems import Problem
from tradewind.gateway.adapters.pending import PendingOrders
from tradewind.gateway.adapters.pending_jobs import PendingJobs
from tradewind.gateway.adapters.upstream import (
    ServiceClient,
    query_params,
    relay_problem,
    unwrap,
)
from tradewind.gateway.domain.schemas import (
    BarPage,
    InstrumentList,
    LatestQuote,
    LatestQuotes,
    Order,
    OrderPage,
    Position,
    PositionList,
    StatusFilter,
    Timeframe,
)


@dataclass(frozen=True)
class OrderQuery:
    """A page of an account's orders, newest first, as the orders service pages them."""

    status: StatusFilter = "all"
    symbol: str | None = None
    limit: int = 50
    page_token: str | None = None
    updated_since: datetime | None = None

    def params(self) -> dict[str, str]:
        return query_params(
            status=str(self.status),
            limit=self.limit,
            symbol=self.symbol or None,
            page_token=self.page_token or None,
            updated_since=self.updated_since,
        )


@dataclass(frozen=True)
class ActivityQuery:
    """A page of an account's activities, newest first, as the orders service pages them."""

    activity_types: str | None = None
    after: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    page_token: str | None = None

    def params(self) -> dict[str, str]:
        return query_params(
            limit=self.limit,
            activity_types=self.activity_types,
            after=self.after,
            until=self.until,
            page_token=self.page_token,
        )


@dataclass(frozen=True)
class BarQuery:
    """A page of a symbol's bars, oldest first, as the market-data service pages them."""

    symbol: str
    timeframe: Timeframe = "1Min"
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000
    page_token: str | None = None

    def params(self) -> dict[str, str]:
        return query_params(
            timeframe=self.timeframe,
            limit=self.limit,
            start=self.start,
            end=self.end,
            page_token=self.page_token,
        )


class OrderReads:
    """An account's orders, positions, activities and jobs, from the orders service."""

    def __init__(
        self, orders: ServiceClient, pending: PendingOrders, pending_jobs: PendingJobs
    ) -> None:
        self.orders = orders
        self.pending = pending
        self.pending_jobs = pending_jobs

    def _account(self, account_id: str) -> str:
        return f"/internal/v1/accounts/{account_id}"

    async def order(self, account_id: str, order_id: UUID) -> Order | None:
        """The order, or its pending view while the orders service has not decided it yet (a
        read right after the 202 never misses it); None when the account has no such order."""
        response = await self.orders.request(
            "GET", f"{self._account(account_id)}/orders/{order_id}"
        )
        if response.status == 200:
            return Order.model_validate(response.body)
        if response.status == 404:
            return await self.pending.get(account_id, order_id)
        raise relay_problem(response)

    async def orders_page(self, account_id: str, query: OrderQuery) -> OrderPage:
        response = await self.orders.request(
            "GET", f"{self._account(account_id)}/orders", params=query.params()
        )
        return OrderPage.model_validate(unwrap(response))

    async def trading_block(self, account_id: str) -> TradingBlockStatus:
        response = await self.orders.request("GET", f"{self._account(account_id)}/trading-block")
        return TradingBlockStatus.model_validate(unwrap(response))

    async def account(self, account_id: str) -> AccountView:
        """The account's ledger: cash, buying power, equity and P&L."""
        response = await self.orders.request("GET", self._account(account_id))
        return AccountView.model_validate(unwrap(response))

    async def positions(self, account_id: str) -> PositionList:
        response = await self.orders.request("GET", f"{self._account(account_id)}/positions")
        return PositionList.model_validate(unwrap(response))

    async def position(self, account_id: str, symbol: str) -> Position:
        """The position; the service's 404 problem if the account never traded the symbol."""
        response = await self.orders.request(
            "GET", f"{self._account(account_id)}/positions/{symbol}"
        )
        return Position.model_validate(unwrap(response))

    async def activities(self, account_id: str, query: ActivityQuery) -> ActivityPageView:
        response = await self.orders.request(
            "GET", f"{self._account(account_id)}/activities", params=query.params()
        )
        return ActivityPageView.model_validate(unwrap(response))

    async def trade_updates(self, account_id: str, after: int, limit: int) -> TradeUpdatesPage:
        """The account's kept trade updates after ``after``, or its open orders when they no
        longer reach back there (the stream's resume)."""
        response = await self.orders.request(
            "GET",
            f"{self._account(account_id)}/trade-updates",
            params={"after": str(after), "limit": str(limit)},
        )
        return TradeUpdatesPage.model_validate(unwrap(response))

    async def job(self, account_id: str, job_id: UUID) -> JobView | None:
        """The job, or its queued view while the orders service has not taken the command yet
        (a read right after the 202 never misses it); None when the account has no such job."""
        response = await self.orders.request("GET", f"{self._account(account_id)}/jobs/{job_id}")
        if response.status == 404:
            return await self.pending_jobs.get(account_id, job_id)
        return JobView.model_validate(unwrap(response))

    async def job_file(self, account_id: str, job_id: UUID) -> bytes:
        """The file of a job that succeeded; the service's 404 or 409 problem otherwise."""
        response = await self.orders.request(
            "GET", f"{self._account(account_id)}/jobs/{job_id}/file", raw=True
        )
        if response.status == 404 and await self.pending_jobs.get(account_id, job_id):
            raise Problem(
                409,
                "Job not finished",
                f"Job {job_id} is queued; its file exists once it has succeeded.",
                kind="job-not-ready",
                job_status="queued",
            )
        body = unwrap(response)
        assert isinstance(body, bytes)
        return body


class MarketReads:
    """Instruments, latest quotes and bars, from the market-data service."""

    def __init__(self, market_data: ServiceClient) -> None:
        self.market_data = market_data

    async def latest_quotes(self, symbols: list[str]) -> LatestQuotes:
        """The latest quote of each symbol; an unknown symbol is the service's 404 problem."""
        response = await self.market_data.request(
            "GET", "/internal/v1/quotes/latest", params={"symbols": ",".join(symbols)}
        )
        return LatestQuotes.model_validate(unwrap(response))

    async def latest_quote(self, symbol: str) -> LatestQuote:
        response = await self.market_data.request("GET", f"/internal/v1/quotes/{symbol}/latest")
        return LatestQuote.model_validate(unwrap(response))

    async def bars(self, query: BarQuery) -> BarPage:
        response = await self.market_data.request(
            "GET", f"/internal/v1/bars/{query.symbol}", params=query.params()
        )
        return BarPage.model_validate(unwrap(response))

    async def instruments(self) -> InstrumentList:
        response = await self.market_data.request("GET", "/internal/v1/instruments")
        return InstrumentList.model_validate(unwrap(response))

    async def instrument(self, symbol: str) -> Instrument:
        """The instrument; the service's 404 problem if it is not listed."""
        response = await self.market_data.request("GET", f"/internal/v1/instruments/{symbol}")
        return Instrument.model_validate(unwrap(response))
