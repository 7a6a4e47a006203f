"""A flagd flags file a test owns: written whole (atomically) and dated strictly later each time,
and the way to know that a running service has loaded a given version of it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support.internal import INTERNAL_HEADERS
from support.polling import eventually

LOADED_GAUGE = "tradewind_flags_loaded_mtime_seconds"
INJECTIONS = "tradewind_fault_injections_total"

Definition = dict[str, Any]


def switch(on: bool) -> Definition:
    """A boolean flag, on or off for everyone."""
    return {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on" if on else "off",
    }


def value(amount: float) -> Definition:
    """A number flag (a share, milliseconds) with that value for everyone."""
    return {"state": "ENABLED", "variants": {"set": amount, "off": 0}, "defaultVariant": "set"}


def for_accounts(accounts: list[str], then: Any, otherwise: Any) -> Definition:
    """A flag worth ``then`` for the listed accounts (targetingKey), ``otherwise`` for others."""
    return {
        "state": "ENABLED",
        "variants": {"then": then, "otherwise": otherwise},
        "defaultVariant": "otherwise",
        "targeting": {"if": [{"in": [{"var": "targetingKey"}, accounts]}, "then", None]},
    }


def for_services(services: list[str], then: Any, otherwise: Any) -> Definition:
    """A flag worth ``then`` in the listed services (attribute ``service``)."""
    return {
        "state": "ENABLED",
        "variants": {"then": then, "otherwise": otherwise},
        "defaultVariant": "otherwise",
        "targeting": {"if": [{"in": [{"var": "service"}, services]}, "then", None]},
    }


class FlagsFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.mtime = 0.0

    def write(self, flags: Mapping[str, Definition]) -> float:
        """Replace the file's flags (none: every flag at its default); the new modification time.

        Written to a temporary file renamed over the old one, so a reader never sees half of it,
        and dated at least a millisecond after the previous version, so a watcher comparing
        modification times cannot miss it however coarse the file system's clock.
        """
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"flags": dict(flags)}))
        stamp = max(time.time_ns(), int(self.mtime * 1e9) + 1_000_000)
        os.utime(scratch, ns=(stamp, stamp))
        os.replace(scratch, self.path)
        self.mtime = self.path.stat().st_mtime
        return self.mtime

    def all_off(self) -> float:
        return self.write({})


def sample(metrics_text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The value of one series in a /metrics answer (0 when absent)."""
    wanted = dict(labels or {})
    for family in text_string_to_metric_families(metrics_text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in wanted.items()):
                return float(item.value)
    return 0.0


async def service_sample(url: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    async with httpx.AsyncClient(base_url=url, headers=INTERNAL_HEADERS, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return sample(response.text, name, labels)


async def injections(url: str, flag: str) -> float:
    """How often the service at ``url`` has injected the fault ``flag``."""
    return await service_sample(url, INJECTIONS, {"flag": flag})


async def wait_loaded(mtime: float, *urls: str, timeout: float = 20) -> None:
    """Until every service at ``urls`` has loaded the version of the flags file dated ``mtime``."""
    for url in urls:

        async def loaded(url: str = url) -> bool:
            return await service_sample(url, LOADED_GAUGE) >= mtime

        await eventually(loaded, timeout=timeout, message=f"{url} never loaded the flags")
