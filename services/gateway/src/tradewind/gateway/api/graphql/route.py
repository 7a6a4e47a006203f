"""POST /graphql: the GraphQL read API on the gateway's app, behind the same credential check
and rate limit as the REST reads.

The credential is checked before the query is even parsed: a missing or invalid one is the same
401 problem (RFC 9457) as on any REST route, and every request, valid or not, spends one unit of
the key's ``reads`` budget (RateLimit headers, 429 problem when spent). Scopes are checked per
field (``context.require_scope``): a key without ``positions:read`` still reads its orders in
the same query, and gets a FORBIDDEN error on the positions field. What one request may ask of
the services is bounded by the cost limit (``cost.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Request
from fastapi.routing import APIRoute
from strawberry.fastapi import GraphQLRouter

from tradewind.gateway.api.auth import require_credential
from tradewind.gateway.api.graphql.context import GraphQLContext
from tradewind.gateway.api.graphql.schema import build_schema
from tradewind.gateway.bootstrap import GatewayRuntime
from tradewind.gateway.domain.auth_model import Principal
from tradewind.gateway.settings import GatewaySettings

PATH = "/graphql"
Caller = Annotated[Principal, require_credential("reads")]


async def graphql_context(request: Request, principal: Caller) -> GraphQLContext:
    runtime: GatewayRuntime = request.app.state.runtime
    return GraphQLContext(principal, runtime.order_reads, runtime.market_reads)


def graphql_router(settings: GatewaySettings) -> GraphQLRouter[GraphQLContext, None]:
    """The router of POST /graphql. No GraphiQL page (it would load its code from a CDN; the
    gateway serves nothing from one), no queries by GET and no WebSocket: there is nothing to
    subscribe to. Out of the OpenAPI document: the SDL (docs/graphql/schema.graphql) is its
    reference."""
    router: GraphQLRouter[GraphQLContext, None] = GraphQLRouter(
        build_schema(settings),
        path=PATH,
        graphql_ide=None,
        allow_queries_via_get=False,
        context_getter=graphql_context,
        include_in_schema=False,
    )
    # Only POST is served: a GET is the app's 405 problem, like any route's other methods.
    router.routes = [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.methods == {"POST"}
    ]
    return router
