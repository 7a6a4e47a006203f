"""Whether an error says a store or service could not be reached (rather than a bug).

The web part answers such an error 503 and the broker client retries the message without
spending one of its delivery attempts; both ask this module, which imports no driver.
"""

from __future__ import annotations

# A store that cannot be reached, or refuses more connections: the service is unavailable, not
# broken. It answers 503 so callers (the gateway's breaker) count it as a dependency failure;
# any other unexpected error is a 500 about that one request. See docs/architecture.md.
# The drivers' errors are named, not imported: the web part installs no driver (a service that
# does not install one cannot raise its errors either).
_UNAVAILABLE_DEPENDENCY: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError, TimeoutError (asyncio's too)
)
_UNAVAILABLE_DEPENDENCY_NAMES = frozenset(
    {
        "asyncpg.exceptions.PostgresConnectionError",
        "asyncpg.exceptions.InsufficientResourcesError",  # too many connections
        "asyncpg.exceptions.CannotConnectNowError",  # starting up or shutting down
        "redis.exceptions.ConnectionError",
        "redis.exceptions.TimeoutError",
        "sqlalchemy.exc.TimeoutError",  # no pooled connection in time
    }
)
# SQLAlchemy's DBAPIError, when it says the connection was invalidated.
_DBAPI_ERROR = "sqlalchemy.exc.DBAPIError"


def _names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__}


def is_dependency_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says a store or service could not be reached."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _UNAVAILABLE_DEPENDENCY):
            return True
        names = _names(current)
        if not names.isdisjoint(_UNAVAILABLE_DEPENDENCY_NAMES):
            return True
        if _DBAPI_ERROR in names and getattr(current, "connection_invalidated", False):
            return True
        orig = getattr(current, "orig", None)
        pending += [current.__cause__, current.__context__]
        if isinstance(orig, BaseException):
            pending.append(orig)
    return False
