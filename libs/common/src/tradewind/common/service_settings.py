"""What every service's settings class declares alike, written once.

A service's settings class subclasses ``ServiceSettings`` with its own ``env_prefix``
(``TRADEWIND_ORDERS_``...) and its own port default; it inherits where it listens and the
settings every process shares. The types below carry a meaning that is the same wherever a field
uses them (a TCP port, a list an operator types comma-separated), so the rule is checked the same
way in every service. Each field is still declared by the class that reads it: the README's
configuration table lists each service's variables from its own class.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode, SettingsConfigDict

from tradewind.common.settings import FileConfigurable, SharedSettings

ItemT = TypeVar("ItemT")

# Where `make run` (docker-compose.yml) serves PostgreSQL: every database default points there.
LOCAL_POSTGRESQL = "postgresql+asyncpg://postgres@127.0.0.1:5432"

TcpPort = Annotated[int, Field(ge=1, le=65535)]
MigrateOnStart = Annotated[
    bool,
    Field(description="Apply database migrations at startup (serialised by an advisory lock)."),
]


def comma_separated_or_json(value: Any) -> Any:
    """``"a,b"`` as well as ``'["a", "b"]'``: operators type the former, tools write the latter."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def local_database_url(database: str) -> str:
    """The SQLAlchemy URL (asyncpg driver) of ``database`` on the local PostgreSQL."""
    return f"{LOCAL_POSTGRESQL}/{database}"


# NoDecode: pydantic-settings would otherwise read a list variable as JSON only.
CommaSeparatedList = Annotated[list[ItemT], NoDecode, BeforeValidator(comma_separated_or_json)]


class ServiceSettings(FileConfigurable):
    """Settings of one service: where its HTTP server listens, and the shared settings."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds to.")
    port: TcpPort = Field(default=8000, description="HTTP port.")
    shared: SharedSettings = Field(
        default_factory=SharedSettings,
        description="Settings every Tradewind process shares (prefix TRADEWIND_).",
    )
