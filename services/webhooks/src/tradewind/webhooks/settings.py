"""Settings of the webhooks service, read from the environment (prefix ``TRADEWIND_WEBHOOKS_``).

Durations are written like the retry schedule: ``<integer><ms|s|m|h|d>`` (``"24h"``, ``"500ms"``).
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated, Any

from cryptography.fernet import Fernet
from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tradewind.common.service_settings import (
    CommaSeparatedList,
    MigrateOnStart,
    ServiceSettings,
    TcpPort,
    local_database_url,
)
from tradewind.webhooks.adapters.ssrf import DestinationPolicy, IPNetwork
from tradewind.webhooks.domain.schedule import parse_duration, parse_schedule

DEFAULT_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"  # DEFAULT_SCHEDULE, as text (unit-tested)


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    return value


def _key_list(value: Any) -> Any:
    # Fernet keys are URL-safe base64: a comma never occurs in one.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
SecretKeyList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_key_list)]


class WebhooksSettings(ServiceSettings):
    """Settings of the webhooks service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_WEBHOOKS_")

    port: TcpPort = Field(default=8003, description="Port of the internal HTTP API.")
    database_url: str = Field(
        default=local_database_url("tradewind_webhooks"),
        description="SQLAlchemy URL (asyncpg driver) of the webhooks database.",
    )
    migrate_on_start: MigrateOnStart = True
    retry_schedule: str = Field(
        default=DEFAULT_RETRY_SCHEDULE,
        description=(
            "Delays before each retry, comma-separated <integer><ms|s|m|h|d>; a delivery gets "
            "one try more than there are delays. Each delay is spread by +-10% jitter."
        ),
    )
    request_timeout_s: float = Field(
        default=15.0, gt=0, le=300, description="Whole-request timeout of one delivery attempt."
    )
    allow_subnets: CommaSeparatedList[str] = Field(
        default_factory=list,
        description=(
            "CIDRs that deliveries may reach although they are not public (comma-separated), "
            "e.g. 127.0.0.0/8 for local development. Empty in production."
        ),
    )
    https_only: bool = Field(
        default=True,
        description="Accept only https endpoint URLs. Turn off for local development only.",
    )
    secret_keys: SecretKeyList = Field(
        default_factory=list,
        description=(
            "Fernet keys (comma-separated) that encrypt endpoint secrets at rest: the first "
            "encrypts, all decrypt. Required. New key: "
            "python -m tradewind.webhooks.adapters.secret_box new-key; rotation: docs/webhooks.md."
        ),
    )
    secret_rotation_overlap: Duration = Field(
        default=timedelta(hours=24),
        description="How long deliveries stay signed with the previous secret after a rotation.",
    )
    disable_after: Duration = Field(
        default=timedelta(days=5),
        description="An endpoint whose attempts fail continuously for this long is disabled.",
    )
    max_in_flight: int = Field(
        default=64, ge=1, le=4096, description="Delivery attempts running at once per process."
    )
    endpoint_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description=(
            "Attempts in flight at once to one endpoint, across all processes, so a slow "
            "endpoint cannot take every delivery slot."
        ),
    )
    breaker_failure_threshold: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed attempts (no answer, 5xx, 408, 429) that open the circuit.",
    )
    breaker_open_for: Duration = Field(
        default=timedelta(seconds=30),
        description="How long an open circuit rejects deliveries before one probe is let through.",
    )
    response_body_limit: int = Field(
        default=2048,
        ge=0,
        le=65536,
        description="Bytes of a receiver's response body kept with an attempt.",
    )
    max_payload_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description=(
            "Largest webhook body sent; a larger event is sent without its data (the "
            "receiver gets the type, the event id and truncated=true)."
        ),
    )
    max_endpoints_per_account: int = Field(
        default=20, ge=1, description="Endpoints one account may register."
    )
    dispatch_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Deliveries claimed by one claim query at most."
    )
    dispatch_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Longest wait between claim passes (NOTIFY wakes the dispatcher sooner).",
    )
    bindings_reconcile_interval_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How often each process brings the events queue's bindings in line with the "
            "enabled endpoints (changes through the API apply at once; this catches endpoints "
            "disabled by failed deliveries)."
        ),
    )
    backlog_sample_interval_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "How often each process counts pending deliveries and disabled endpoints for its "
            "gauges (the health service and Prometheus read them)."
        ),
    )
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=200,
        description=(
            "Events written at once by the intake; its pool (shared with the delivery worker's "
            "claims and success records, and the outbox relay) holds this many connections plus "
            "three."
        ),
    )
    api_pool_size: int = Field(
        default=5,
        ge=1,
        le=200,
        description=(
            "Connections (twice this at peak) for the API, recording failed attempts and "
            "reconciling the events queue's bindings."
        ),
    )
    delivery_lease: Duration = Field(
        default=timedelta(seconds=60),
        description=(
            "How long a claimed delivery stays reserved for its process; after a crash it is "
            "due again once this passes. Must exceed the request timeout."
        ),
    )
    retention: Duration = Field(
        default=timedelta(days=30),
        description="Finished messages, their attempts and inbox records are kept this long.",
    )

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_is_valid(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("secret_keys")
    @classmethod
    def _keys_are_fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            try:
                Fernet(key.get_secret_value().encode())
            except ValueError:
                raise ValueError(
                    "each secret key must be a Fernet key (32 URL-safe base64-encoded bytes)"
                ) from None
        return value

    @field_validator("allow_subnets")
    @classmethod
    def _subnets_are_valid(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr)
        return value

    @model_validator(mode="after")
    def _lease_outlives_request(self) -> WebhooksSettings:
        if self.delivery_lease.total_seconds() <= self.request_timeout_s:
            raise ValueError("delivery_lease must be longer than request_timeout_s")
        return self

    @property
    def schedule(self) -> tuple[timedelta, ...]:
        return parse_schedule(self.retry_schedule)

    @property
    def destination_policy(self) -> DestinationPolicy:
        networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(cidr) for cidr in self.allow_subnets
        )
        return DestinationPolicy(allow_subnets=networks, https_only=self.https_only)
