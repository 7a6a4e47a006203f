"""Security headers on every HTTP response, and deprecation headers on deprecated routes.

Pure ASGI and precomputed: the headers are one list extended on ``http.response.start``, so the
gateway's hottest route pays a list copy, not a middleware layer of Starlette's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewind.common.deprecation import deprecation_headers

# An API answers JSON: nothing in it may run, load or be framed. The documentation pages set
# their own, wider policy (tradewind.common.api_docs): their paths are ``own_policy_paths``.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """Adds nosniff, a referrer policy, frame refusal, a CSP and (optionally) HSTS.

    ``hsts_max_age_s`` of 0 sends no Strict-Transport-Security: a service reached over plain
    HTTP (as internally) must not pin browsers to HTTPS; set it where TLS ends in front of it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hsts_max_age_s: int = 0,
        own_policy_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.own_policy_paths = own_policy_paths
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]
        if hsts_max_age_s > 0:
            headers.append(
                (b"strict-transport-security", f"max-age={hsts_max_age_s}".encode("ascii"))
            )
        self._headers = (
            (b"content-security-policy", API_CONTENT_SECURITY_POLICY.encode("ascii")),
            *headers,
        )
        self._headers_without_policy = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = (
            self._headers_without_policy
            if scope["path"] in self.own_policy_paths
            else self._headers
        )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                message["headers"] = [
                    *message.get("headers", ()),
                    *extra,
                    # The router has put the matched route in the scope by the time it answers.
                    *(deprecation_headers(route) if route is not None else ()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
