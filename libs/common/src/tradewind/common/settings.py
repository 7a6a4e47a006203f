"""Configuration shared by every service: the environment, over an optional YAML file.

Every settings class reads, in this order of precedence: the environment (``TRADEWIND_*``
variables, the README's configuration table), then the YAML file named by
``TRADEWIND_CONFIG_FILE`` if it is set, then the defaults. The file has one section per settings
class, named by its prefix (``shared`` for ``TRADEWIND_``, ``orders`` for ``TRADEWIND_ORDERS_``,
``market_data`` for ``TRADEWIND_MARKET_DATA_``...), holding the setting names in lower case
without the prefix (``deploy/config.sample.yaml``). A key or a section the services do not know
is an error at start, not a setting silently ignored.
"""

from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tradewind.common.market_calendar import MarketCalendar

# NYSE's full closures and 13:00 early closes, as published for 2026 and 2027.
NYSE_HOLIDAYS = [
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 4, 3),
    date(2026, 5, 25),
    date(2026, 6, 19),
    date(2026, 7, 3),
    date(2026, 9, 7),
    date(2026, 11, 26),
    date(2026, 12, 25),
    date(2027, 1, 1),
    date(2027, 1, 18),
    date(2027, 2, 15),
    date(2027, 3, 26),
    date(2027, 5, 31),
    date(2027, 6, 18),
    date(2027, 7, 5),
    date(2027, 9, 6),
    date(2027, 11, 25),
    date(2027, 12, 24),
]
NYSE_EARLY_CLOSES = {
    date(2026, 11, 27): time(13, 0),
    date(2026, 12, 24): time(13, 0),
    date(2027, 11, 26): time(13, 0),
}

CONFIG_FILE_VARIABLE = "TRADEWIND_CONFIG_FILE"
ENV_PREFIX = "TRADEWIND_"
# The file's sections: one per settings class with a prefix of its own. Listed here, not found
# by importing the services (the shared library depends on none), so a misspelt section fails.
CONFIG_FILE_SECTIONS = frozenset(
    {"shared", "gateway", "orders", "market_data", "webhooks", "health"}
)


class ConfigFileError(ValueError):
    """The file named by TRADEWIND_CONFIG_FILE cannot be used as it is."""


class FileConfigurable(BaseSettings):
    """Settings read from the environment over their section of the YAML config file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        from_file = InitSettingsSource(settings_cls, config_file_section(settings_cls))
        return init_settings, env_settings, dotenv_settings, file_secret_settings, from_file


def config_section_of(settings_cls: type[BaseSettings]) -> str:
    """The file section of a settings class: its env prefix without ``TRADEWIND_``."""
    prefix = str(settings_cls.model_config.get("env_prefix") or "")
    return prefix.removeprefix(ENV_PREFIX).strip("_").lower() or "shared"


def config_file_section(settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """The values ``settings_cls`` takes from the config file ({} without one)."""
    location = os.environ.get(CONFIG_FILE_VARIABLE)
    if not location:
        return {}
    path = Path(location)
    if not path.is_file():
        raise ConfigFileError(f"{CONFIG_FILE_VARIABLE}={location}: no such file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigFileError(f"{location} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigFileError(f"{location} must be a mapping of sections")
    unknown_sections = sorted(set(document) - CONFIG_FILE_SECTIONS)
    if unknown_sections:
        raise ConfigFileError(
            f"{location}: unknown sections {unknown_sections}; "
            f"known: {sorted(CONFIG_FILE_SECTIONS)}"
        )
    section = config_section_of(settings_cls)
    values = document.get(section) or {}
    if not isinstance(values, dict):
        raise ConfigFileError(f"{location}: section {section!r} must be a mapping")
    unknown = sorted(set(values) - set(settings_cls.model_fields))
    if unknown:
        raise ConfigFileError(f"{location}: section {section!r} has no settings {unknown}")
    return values


class SharedSettings(FileConfigurable):
    """Settings every Tradewind process reads (prefix ``TRADEWIND_``)."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_", extra="ignore")

    namespace: str = Field(
        default="tradewind",
        pattern=r"^[a-z][a-z0-9_-]{0,40}$",
        description="Prefix of every exchange, queue and Redis key (deployments share a broker).",
    )
    environment: str = Field(
        default="development",
        pattern=r"^[a-z][a-z0-9_-]{0,40}$",
        description=(
            "Name of the deployment (e.g. production, staging): the deployment.environment.name "
            "of every span."
        ),
    )
    amqp_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        description="RabbitMQ URL (the path selects the vhost).",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL.")
    log_level: str = Field(default="INFO", description="Log level of every logger.")
    log_json: bool = Field(default=True, description="JSON lines (true) or plain text (false).")
    prefetch: int = Field(
        default=32, ge=1, le=10_000, description="Unacknowledged messages per consumer."
    )
    max_delivery_attempts: int = Field(
        default=5, ge=1, description="Handler attempts before a message is parked."
    )
    retry_delays_ms: list[int] = Field(
        default=[1_000, 5_000, 30_000],
        description="Delayed-retry tiers; attempt n waits tier min(n, last).",
    )
    max_unavailable_retries: int = Field(
        default=120,
        ge=0,
        description="Retries of a message whose handler failed only because a store it needs "
        "was unreachable; they spend no delivery attempt, and wait through the delay tiers "
        "(120 at the last tier of 30 s: an outage of an hour) before the message is parked.",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1_024, description="Largest HTTP request body a service accepts."
    )
    hsts_max_age_s: int = Field(
        default=0,
        ge=0,
        description="Strict-Transport-Security max-age on every response; 0 sends none (set it "
        "where clients reach the service over HTTPS only).",
    )
    publish_timeout_s: float = Field(
        default=5.0, gt=0, description="How long a publish waits for the broker's confirm."
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description=(
            "On SIGTERM, how long requests, messages and deliveries in flight may finish and the "
            "outbox may flush; what is left then is redelivered or tried again later."
        ),
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description=(
            "Credential of service-to-service calls (X-Internal-Token): sent by callers, "
            "required by every internal route. Unset: internal routes refuse every call."
        ),
    )
    internal_token_previous: SecretStr | None = Field(
        default=None,
        description="A former internal token still accepted, while a rotation rolls out.",
    )
    max_header_bytes: int = Field(
        default=16_384,
        ge=1_024,
        description="Largest total size of a request's headers (names and values); more: 431.",
    )
    flags_file: Path | None = Field(
        default=None,
        description=(
            "flagd JSON file of the run-time feature and fault flags, watched for changes "
            "(docs/operations.md, Flags; sample: deploy/flags/flags.json). Unset: every flag at "
            "its default, every fault off."
        ),
    )
    flags_poll_ms: int = Field(
        default=1_000,
        ge=50,
        le=60_000,
        description="How often the flags file is checked for changes (milliseconds).",
    )

    market_timezone: str = Field(
        default="America/New_York",
        description="Time zone of the market's sessions (IANA name).",
    )
    market_open: time = Field(default=time(9, 30), description="Local time a session opens.")
    market_close: time = Field(default=time(16, 0), description="Local time a session closes.")
    market_weekdays: list[int] = Field(
        default=[0, 1, 2, 3, 4],
        min_length=1,
        description="Weekdays that trade, 0 = Monday (JSON list).",
    )
    market_holidays: list[date] = Field(
        default=NYSE_HOLIDAYS,
        description="Dates with no session (JSON list; by default NYSE's for 2026 and 2027).",
    )
    market_early_closes: dict[date, time] = Field(
        default=NYSE_EARLY_CLOSES,
        description="Dates whose session closes early, with the local closing time (JSON object).",
    )

    @field_validator("market_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not set(value) <= set(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value

    @field_validator("market_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def market_calendar(self) -> MarketCalendar:
        return MarketCalendar(
            zone=ZoneInfo(self.market_timezone),
            opens=self.market_open,
            closes=self.market_close,
            trading_weekdays=frozenset(self.market_weekdays),
            holidays=frozenset(self.market_holidays),
            early_closes=dict(self.market_early_closes),
        )

    def accepted_internal_tokens(self) -> list[SecretStr]:
        return [t for t in (self.internal_token, self.internal_token_previous) if t is not None]
