"""Security headers on every HTTP response, and deprecation headers on deprecated routes.

Pure ASGI and precomputed: the headers are one tuple added on ``http.response.start``, so the
gateway's hottest route pays a list copy, not a middleware layer of Starlette's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradewind.common.deprecation import deprecation_headers

# An API answers JSON: nothing in it may run, load or be framed. Pages set their own, wider
# policy (the API docs, the health status page), which this one does not join.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
_POLICY = b"content-security-policy"
_API_POLICY = (_POLICY, API_CONTENT_SECURITY_POLICY.encode("ascii"))


class SecurityHeadersMiddleware:
    """Adds nosniff, a referrer policy, frame refusal, a CSP and (optionally) HSTS.

    ``hsts_max_age_s`` of 0 sends no Strict-Transport-Security: a service reached over plain
    HTTP (as internally) must not pin browsers to HTTPS; set it where TLS ends in front of it.
    """

    def __init__(self, app: ASGIApp, *, hsts_max_age_s: int = 0) -> None:
        self.app = app
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
        self._headers = (_API_POLICY, *headers)
        self._headers_without_policy = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                extra = self._headers
                for name, _ in headers:
                    # A page with a policy of its own keeps it alone (two would both apply).
                    # Starlette's responses give header names in lower case.
                    if name == _POLICY:
                        extra = self._headers_without_policy
                        break
                route = scope.get("route")
                message["headers"] = [
                    *headers,
                    *extra,
                    # The router has put the matched route in the scope by the time it answers.
                    *(deprecation_headers(route) if route is not None else ()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
