"""A gateway runtime of only the parts a test wires, for apps that serve some of the gateway's
routes without the rest of it (no broker, no upstream services)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from tradewind.gateway.bootstrap import GatewayRuntime


class Unwired:
    """A part the test did not wire: its first use fails, naming it, as reading an ``app.state``
    attribute nobody had set did."""

    def __init__(self, part: str) -> None:
        self._part = part

    def __getattr__(self, attribute: str) -> Any:
        raise AttributeError(f"{attribute}: the runtime's {self._part} is not wired in this test")


def partial_runtime(**parts: Any) -> GatewayRuntime:
    """A ``GatewayRuntime`` of ``parts`` (real ones or fakes, by field name), every other field
    ``Unwired``."""
    names = {field.name for field in fields(GatewayRuntime)}
    unknown = parts.keys() - names
    if unknown:
        raise TypeError(f"GatewayRuntime has no {sorted(unknown)}")
    return GatewayRuntime(**{name: parts.get(name, Unwired(name)) for name in names})
