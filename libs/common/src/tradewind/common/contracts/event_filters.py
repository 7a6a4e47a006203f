"""Event type filters for webhook endpoints.

Event types are full-stop delimited (``order.filled``). A filter is an exact type or a
pattern whose ``*`` segments are wildcards: a ``*`` in the middle matches exactly one
segment, a trailing ``*`` matches one or more remaining segments. So ``order.*``
matches ``order.filled`` and ``order.fill.partial`` but not ``order`` or
``orders.filled``, and ``*`` alone matches every event type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

WILDCARD = "*"
_FORBIDDEN_CHARACTER = re.compile(r"[^a-z0-9_.*]")
# What validate_filter accepts, for the API's schema: segments of a-z, 0-9 and '_', or '*'.
EVENT_FILTER_PATTERN = r"^([a-z0-9_]+|\*)(\.([a-z0-9_]+|\*))*$"


def validate_filter(f: str) -> None:
    """Raise ``ValueError`` explaining why ``f`` is not a well-formed filter."""
    if not f:
        raise ValueError("event filter is empty")
    forbidden = _FORBIDDEN_CHARACTER.search(f)
    if forbidden is not None:
        raise ValueError(
            f"event filter {f!r} contains {forbidden.group()!r} at position "
            f"{forbidden.start()}; allowed characters are a-z, 0-9, '_', '.' and '*'"
        )
    for position, segment in enumerate(f.split("."), start=1):
        if not segment:
            raise ValueError(
                f"event filter {f!r} has an empty segment at position {position} "
                "(leading, trailing or doubled '.')"
            )
        if WILDCARD in segment and segment != WILDCARD:
            raise ValueError(f"event filter {f!r}: '*' must be a whole segment, found {segment!r}")


def _pattern_matches(pattern: str, event_type: str) -> bool:
    if WILDCARD not in pattern:
        return pattern == event_type
    pattern_segments = pattern.split(".")
    type_segments = event_type.split(".")
    if pattern_segments[-1] == WILDCARD:
        if len(type_segments) < len(pattern_segments):
            return False
    elif len(type_segments) != len(pattern_segments):
        return False
    return all(
        expected == actual or (expected == WILDCARD and actual != "")
        for expected, actual in zip(pattern_segments, type_segments, strict=False)
    )


def matches(filters: Sequence[str], event_type: str) -> bool:
    """Whether an endpoint with ``filters`` receives ``event_type``; no filters means all."""
    if not filters:
        return True
    return any(_pattern_matches(pattern, event_type) for pattern in filters)
