"""Settings of the health service, read from the environment.

Prefix ``TRADEWIND_HEALTH_``; the shared settings keep their own prefix ``TRADEWIND_`` and give the
RabbitMQ and Redis URLs this service checks.
"""

from __future__ import annotations

from pydantic import Field, HttpUrl, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tradewind.common.service_settings import ServiceSettings, TcpPort

DEFAULT_SERVICES: dict[str, str] = {
    "gateway": "http://127.0.0.1:8000",
    "orders": "http://127.0.0.1:8001",
    "market-data": "http://127.0.0.1:8002",
    "webhooks": "http://127.0.0.1:8003",
}
DEFAULT_POSTGRES_DSNS: dict[str, str] = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
}


class HealthSettings(ServiceSettings):
    """Settings of the health service."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_HEALTH_")

    port: TcpPort = Field(default=8004, description="HTTP port.")
    services: dict[str, HttpUrl] = Field(
        default_factory=lambda: {name: HttpUrl(url) for name, url in DEFAULT_SERVICES.items()},
        description=(
            "The services to watch, as JSON: name -> base URL, e.g. "
            '{"gateway": "http://127.0.0.1:8000"}. Each must serve /health/ready and /metrics.'
        ),
    )
    metrics_urls: dict[str, HttpUrl] = Field(
        default_factory=dict,
        description=(
            "Where a service serves its metrics when not at <base URL>/metrics, as JSON: name -> "
            'URL, e.g. {"gateway": "http://127.0.0.1:9100/metrics"} (a gateway with '
            "TRADEWIND_GATEWAY_METRICS_PORT)."
        ),
    )
    postgres_dsns: dict[str, SecretStr] = Field(
        default_factory=lambda: {
            name: SecretStr(dsn) for name, dsn in DEFAULT_POSTGRES_DSNS.items()
        },
        description=(
            "PostgreSQL servers to check with SELECT 1, as JSON: name -> DSN "
            "(postgresql:// or postgresql+asyncpg://). {} checks none."
        ),
    )
    poll_interval_s: float = Field(
        default=5.0, gt=0, description="Seconds between the starts of two polling rounds."
    )
    check_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="Time one check may take (one service's readiness, one dependency).",
    )
    rabbitmq_management_url: SecretStr | None = Field(
        default=None,
        description=(
            "RabbitMQ's management HTTP API, credentials included, e.g. "
            "http://guest:guest@127.0.0.1:15672. When set, queue figures (ready, unacked, "
            "consumers) come from it; when not, from passive declares over AMQP (ready and "
            "consumers, no unacked)."
        ),
    )
    outbox_lag_limit_s: float = Field(
        default=60.0,
        gt=0,
        description="A service whose outbox lag is over this many seconds is degraded.",
    )
    outbox_growing_from_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "A service whose outbox lag is at least this many seconds and rose over the last "
            "3 rounds without falling is degraded (before it reaches the limit)."
        ),
    )
    transitions_kept: int = Field(
        default=50, ge=1, le=10_000, description="Recent status changes kept for the status page."
    )

    def service_urls(self) -> dict[str, str]:
        """Name -> base URL without the trailing slash HttpUrl adds."""
        return {name: str(url).rstrip("/") for name, url in self.services.items()}

    def metrics_url(self, name: str) -> str:
        """Where to read ``name``'s breaker states."""
        if name in self.metrics_urls:
            return str(self.metrics_urls[name])
        return f"{self.service_urls()[name]}/metrics"

    @field_validator("services", "postgres_dsns")
    @classmethod
    def _names_are_readable(cls, targets: dict[str, object]) -> dict[str, object]:
        for name in targets:
            if not name.strip() or len(name) > 64:
                raise ValueError(f"a name must have 1 to 64 characters, not {name!r}")
        return targets
