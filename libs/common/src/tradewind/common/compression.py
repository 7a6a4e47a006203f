"""gzip for clients that ask for it, at no cost to those that do not."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send


class GZipWhenAskedMiddleware(GZipMiddleware):
    """Starlette's GZipMiddleware, skipped outright when the request does not accept gzip.

    Starlette wraps every HTTP request, asked or not, in a responder that parses the request's
    and the response's headers and holds the response start until the body: 4.5 µs per request
    measured, for nothing when the client (wrk, most API clients) sends no Accept-Encoding.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"accept-encoding":
                    if b"gzip" in value:
                        await super().__call__(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)
