"""The credential of service-to-service calls: every internal route requires it.

Callers send ``X-Internal-Token``; a service accepts its current token and, during a rotation,
the previous one. The check is a pure ASGI middleware over the whole app except the operations
endpoints, so a route added later is locked without anyone having to remember it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from tradewind.common.problems import problem_response

log = logging.getLogger(__name__)

INTERNAL_TOKEN_HEADER = "x-internal-token"
# Probes (orchestrators, the health service, Prometheus) reach these without the credential.
OPEN_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})


def internal_headers(token: SecretStr | None) -> dict[str, str]:
    """The headers a caller adds to reach another service's internal routes."""
    return {INTERNAL_TOKEN_HEADER: token.get_secret_value()} if token is not None else {}


class InternalTokenMiddleware:
    """Answers 401 to any request but the open paths unless it carries an accepted token.

    With no token configured nothing is accepted: an unconfigured service is closed, not open.
    """

    def __init__(self, app: ASGIApp, accepted: Iterable[SecretStr]) -> None:
        self.app = app
        self.accepted = [token.get_secret_value().encode() for token in accepted]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"} or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = next(
            (value for name, value in scope["headers"] if name == INTERNAL_TOKEN_HEADER.encode()),
            None,
        )
        if presented is not None and self._accepts(presented):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        response = problem_response(
            401,
            "Unauthorized",
            "Internal routes require the service credential.",
            kind="internal-credential-required",
            headers={"WWW-Authenticate": 'InternalToken realm="tradewind-internal"'},
        )
        await response(scope, receive, send)

    def _accepts(self, presented: bytes) -> bool:
        # Every candidate compared, each in constant time: timing tells nothing about which.
        matched = False
        for token in self.accepted:
            matched |= hmac.compare_digest(presented, token)
        return matched
