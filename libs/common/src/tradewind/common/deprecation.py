"""Marking a route deprecated: ``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594) and ``Link``.

Declare it on the route, ``@router.get(path, **deprecated(since=..., sunset=..., link=...))``:
OpenAPI then shows the operation as deprecated with the dates (extension ``x-deprecation``), and
the edge layer (``tradewind.common.edge``) adds the headers to every answer of the route. The
policy (how long a deprecated route keeps working) is in docs/api.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

EXTENSION = "x-deprecation"


def deprecated(
    *, since: datetime, sunset: datetime | None = None, link: str | None = None
) -> dict[str, Any]:
    """Route keyword arguments that mark it deprecated since ``since``, gone after ``sunset``."""
    if since.tzinfo is None or (sunset is not None and sunset.tzinfo is None):
        raise ValueError("deprecation and sunset times must be timezone-aware")
    if sunset is not None and sunset <= since:
        raise ValueError("a route's sunset comes after its deprecation")
    # Structured-field Date (RFC 9651): "@" and seconds since the epoch.
    headers = {"Deprecation": f"@{int(since.timestamp())}"}
    if sunset is not None:
        headers["Sunset"] = format_datetime(sunset.astimezone(UTC), usegmt=True)
    if link is not None:
        relations = "deprecation" if sunset is None else "deprecation sunset"
        headers["Link"] = f'<{link}>; rel="{relations}"'
    return {"deprecated": True, "openapi_extra": {EXTENSION: headers}}


def deprecation_headers(route: object) -> list[tuple[bytes, bytes]]:
    """The headers a response of ``route`` carries: none unless it was declared ``deprecated``."""
    extra = getattr(route, "openapi_extra", None)
    if not extra:
        return []
    headers: dict[str, str] | None = extra.get(EXTENSION)
    if not headers:
        return []
    return [
        (name.lower().encode("ascii"), value.encode("latin-1")) for name, value in headers.items()
    ]
