"""Security headers on every HTTP response, and deprecation headers on deprecated routes.

Precomputed: the headers are one tuple added on ``http.response.start`` by the edge layer
(``tradewind.common.edge``), so the gateway's hottest route pays a list copy.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradewind.common.deprecation import deprecation_headers

# An API answers JSON: nothing in it may run, load or be framed. Pages set their own, wider
# policy (the API docs, the health status page), which this one does not join.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
_POLICY = b"content-security-policy"
_API_POLICY = (_POLICY, API_CONTENT_SECURITY_POLICY.encode("ascii"))


class SecurityHeaders:
    """nosniff, a referrer policy, frame refusal, a CSP and (optionally) HSTS, for every HTTP
    response (added by ``tradewind.common.edge``), and a deprecated route's own headers.

    ``hsts_max_age_s`` of 0 sends no Strict-Transport-Security: a service reached over plain
    HTTP (as internally) must not pin browsers to HTTPS; set it where TLS ends in front of it.
    """

    def __init__(self, *, hsts_max_age_s: int = 0) -> None:
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

    def for_response(
        self, headers: Iterable[tuple[bytes, bytes]], route: object | None
    ) -> list[tuple[bytes, bytes]]:
        """``headers`` (a response's, names in lower case as Starlette gives them) with the
        security headers and ``route``'s deprecation headers after them."""
        headers = list(headers)
        extra = self._headers
        for name, _ in headers:
            # A page with a policy of its own keeps it alone (two would both apply).
            if name == _POLICY:
                extra = self._headers_without_policy
                break
        # The router has put the matched route in the scope by the time it answers.
        return [*headers, *extra, *(deprecation_headers(route) if route is not None else ())]
