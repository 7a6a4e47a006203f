"""The GraphQL read API: one Query type whose fields ask the shared reads (``adapters.reads``)
what the REST routes ask, with the same scopes, for the caller's own account only.

No field takes an account: every account-scoped read uses the account of the credential (the
context's principal), so one account's order ids name nothing in another's. There is no
mutation: writes stay on the REST API, with its idempotency keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from uuid import UUID

import strawberry
from graphql import GraphQLError
from pydantic import TypeAdapter, ValidationError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from tradewind.gateway.adapters.reads import BarQuery, OrderQuery
from tradewind.gateway.api.graphql.context import (
    Info,
    RefusedError,
    bad_input,
    from_upstream,
    require_scope,
    unless_not_found,
)
from tradewind.gateway.api.graphql.cost import QueryCostLimiter, read_field
from tradewind.gateway.api.graphql.errors import log_errors
from tradewind.gateway.api.graphql.types import (
    Account,
    BarConnection,
    Instrument,
    Order,
    OrderConnection,
    OrderStatusFilter,
    Position,
    Quote,
    Timeframe,
)
from tradewind.gateway.domain.connections import (
    InvalidCursor,
    PageRequest,
    page_request,
    window,
)
from tradewind.gateway.domain.schemas import Symbol
from tradewind.gateway.settings import GatewaySettings

MAX_PAGE_SIZE = 100
# The largest page each service gives (its limit parameter's maximum).
ORDERS_SERVICE_MAX_PAGE = 500
BARS_SERVICE_MAX_PAGE = 10_000
MAX_SYMBOLS = 100
_SYMBOL = TypeAdapter(Symbol)


def _symbol(text: str) -> str:
    """The symbol as the REST routes read it (a-z folded to A-Z), or a validation error."""
    try:
        return _SYMBOL.validate_python(text)
    except ValidationError:
        raise bad_input(f"{text!r} is not a symbol.") from None


def _first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise bad_input(f"`first` must be between 1 and {MAX_PAGE_SIZE}.")
    return first


def _page(first: int, after: str | None, service_max: int) -> PageRequest:
    try:
        return page_request(_first(first), after, service_max=service_max)
    except InvalidCursor as exc:
        raise bad_input(str(exc)) from None


@strawberry.type(description="Reads of the caller's account and of the market.")
class Query:
    @read_field("One order of your account; null if it has none with this id.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        principal = require_scope(info, "orders:read")
        try:
            order_id = UUID(id)
        except ValueError:
            raise bad_input(f"{id!r} is not an order id.") from None
        found = await from_upstream(info.context.order_reads.order(principal.account_id, order_id))
        return None if found is None else Order.of(found)

    @read_field("Your orders, newest first, a page at a time.", items_from="first")
    async def orders(
        self,
        info: Info,
        first: int = 50,
        after: str | None = None,
        status: OrderStatusFilter = OrderStatusFilter.ALL,
        symbol: str | None = None,
    ) -> OrderConnection | None:
        principal = require_scope(info, "orders:read")
        request = _page(first, after, ORDERS_SERVICE_MAX_PAGE)
        query = OrderQuery(
            status=status.upstream,
            symbol=None if symbol is None else _symbol(symbol),
            limit=request.limit,
            page_token=request.page_token,
        )
        page = await from_upstream(
            info.context.order_reads.orders_page(principal.account_id, query)
        )
        return OrderConnection.of(window(request, page.data, page.next_page_token))

    @read_field("Your account: cash, buying power, equity and P&L.")
    async def account(self, info: Info) -> Account | None:
        principal = require_scope(info, "orders:read")
        found = await from_upstream(info.context.order_reads.account(principal.account_id))
        return Account.of(found)

    @read_field("Your open positions, by symbol.")
    async def positions(self, info: Info) -> list[Position] | None:
        principal = require_scope(info, "positions:read")
        held = await from_upstream(info.context.order_reads.positions(principal.account_id))
        return [Position.of(position) for position in held.data]

    @read_field(
        "Your position in one symbol (flat if you traded and closed it); null if "
        "you never traded it."
    )
    async def position(self, info: Info, symbol: str) -> Position | None:
        principal = require_scope(info, "positions:read")
        found = await unless_not_found(
            info.context.order_reads.position(principal.account_id, _symbol(symbol))
        )
        return None if found is None else Position.of(found)

    @read_field("The tradable instruments.")
    async def instruments(self, info: Info) -> list[Instrument] | None:
        require_scope(info, "market:read")
        listed = await from_upstream(info.context.market_reads.instruments())
        return [Instrument.of(instrument) for instrument in listed.data]

    @read_field("One instrument; null if not listed.")
    async def instrument(self, info: Info, symbol: str) -> Instrument | None:
        require_scope(info, "market:read")
        found = await unless_not_found(info.context.market_reads.instrument(_symbol(symbol)))
        return None if found is None else Instrument.of(found)

    @read_field("The latest quote of each symbol, in the order asked.")
    async def quotes(self, info: Info, symbols: list[str]) -> list[Quote] | None:
        require_scope(info, "market:read")
        if not 1 <= len(symbols) <= MAX_SYMBOLS:
            raise bad_input(f"Ask for 1 to {MAX_SYMBOLS} symbols.")
        wanted = list(dict.fromkeys(_symbol(symbol) for symbol in symbols))
        latest = await from_upstream(info.context.market_reads.latest_quotes(wanted))
        return [Quote.of(latest.quotes[s]) for s in wanted if s in latest.quotes]

    @read_field("A symbol's OHLCV bars, oldest first, a page at a time.", items_from="first")
    async def bars(
        self,
        info: Info,
        symbol: str,
        timeframe: Timeframe = Timeframe.ONE_MINUTE,
        start: datetime | None = None,
        end: datetime | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> BarConnection | None:
        require_scope(info, "market:read")
        request = _page(first, after, BARS_SERVICE_MAX_PAGE)
        for name, moment in (("start", start), ("end", end)):
            if moment is not None and moment.tzinfo is None:
                raise bad_input(f"`{name}` needs a UTC offset.")
        query = BarQuery(
            _symbol(symbol),
            timeframe.upstream,
            start=start,
            end=end,
            limit=request.limit,
            page_token=request.page_token,
        )
        page = await from_upstream(info.context.market_reads.bars(query))
        return BarConnection.of(window(request, page.data, page.next_page_token))


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask what a resolver raised by accident; refusals and validation errors are for the
    client (their original error is None or a refusal)."""
    original = error.original_error
    return original is not None and not isinstance(original, RefusedError | GraphQLError)


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, unexpected=_is_unexpected)


Extension = Callable[[], SchemaExtension]


def limits(settings: GatewaySettings) -> list[Extension]:
    """The guards every operation passes before it runs: size, aliases, depth, cost, and
    introspection only where it is allowed. Factories, not instances: Strawberry makes each
    request its own (an extension holds its request's execution context)."""
    guards: list[Extension] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(QueryCostLimiter, max_cost=settings.graphql_max_cost),
    ]
    if not settings.graphql_introspection:
        guards.append(DisableIntrospection)
    return guards


def build_schema(settings: GatewaySettings | None = None) -> strawberry.Schema:
    settings = settings or GatewaySettings()
    return GatewaySchema(
        query=Query,
        extensions=[*limits(settings), partial(MaskErrors, should_mask_error=_is_unexpected)],
    )


def schema_sdl() -> str:
    """The schema in SDL, as docs/graphql/schema.graphql holds it (settings change no type)."""
    return build_schema().as_str() + "\n"
