"""Print the README's configuration table from the settings classes themselves.

uv run python deploy/local/config_table.py
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from tradewind.common.settings import SharedSettings
from tradewind.common.tracing import TracingSettings
from tradewind.gateway.settings import GatewaySettings
from tradewind.health.settings import HealthSettings
from tradewind.market_data.settings import MarketDataSettings
from tradewind.orders.settings import OrdersSettings
from tradewind.webhooks.settings import WebhooksSettings

SECTIONS: list[tuple[str, type[BaseSettings]]] = [
    ("every service", SharedSettings),
    ("every service (OpenTelemetry)", TracingSettings),
    ("gateway", GatewaySettings),
    ("orders", OrdersSettings),
    ("market-data", MarketDataSettings),
    ("webhooks", WebhooksSettings),
    ("health", HealthSettings),
]


def env_name(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    if isinstance(alias, str):
        return alias.upper()
    prefix = str(settings.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "(required)"
    else:
        value = field.default
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, dict | list | tuple):
        text = str(value)
        return f"`{text}`" if len(text) <= 60 else "see docs"
    return f"`{value}`"


def rows() -> Iterator[tuple[str, str, str, str]]:
    for section, settings in SECTIONS:
        for name, field in settings.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
                continue  # nested SharedSettings: listed once, under "every service"
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            yield section, env_name(settings, name, field), default_text(field), description


TABLE_HEADER = "| service | variable | default | meaning |"


def table() -> str:
    lines = [TABLE_HEADER, "|---|---|---|---|"]
    lines += [f"| {s} | `{e}` | {d} | {m} |" for s, e, d, m in rows()]
    return "\n".join(lines)


def write_readme(readme: Path) -> None:
    text = readme.read_text()
    start = text.index(TABLE_HEADER)
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + table() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_readme(Path(__file__).resolve().parents[2] / "README.md")
    else:
        sys.stdout.write(table() + "\n")
