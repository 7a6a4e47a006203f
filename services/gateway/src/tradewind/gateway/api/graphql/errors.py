"""Logging of GraphQL errors: what the client got wrong at info, our own failures at error.

Strawberry's default logs every error, a client's typo included, at error level with a stack
trace; an operator should see only what needs fixing on our side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from graphql import GraphQLError

log = logging.getLogger(__name__)


def log_errors(
    errors: Sequence[GraphQLError], *, unexpected: Callable[[GraphQLError], bool]
) -> None:
    for error in errors:
        if unexpected(error):
            original = error.original_error
            log.error(
                "graphql resolver failed",
                exc_info=(type(original), original, original.__traceback__)
                if original is not None
                else None,
                extra={"path": error.path},
            )
        else:
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
            log.info(
                "graphql request refused",
                extra={"error": error.message, "code": code, "path": error.path},
            )
