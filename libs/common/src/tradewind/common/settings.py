"""Configuration shared by every service, read only from the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class SharedSettings(BaseSettings):
    """Settings every Tradewind process reads (prefix ``TRADEWIND_``)."""

    model_config = SettingsConfigDict(env_prefix="TRADEWIND_", extra="ignore")

    namespace: str = Field(
        default="tradewind",
        pattern=r"^[a-z][a-z0-9_-]{0,40}$",
        description="Prefix of every exchange, queue and Redis key (deployments share a broker).",
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

    def accepted_internal_tokens(self) -> list[SecretStr]:
        return [t for t in (self.internal_token, self.internal_token_previous) if t is not None]


class HttpSettings(BaseSettings):
    """Where a service's HTTP server listens; subclassed per service with its own prefix."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(default=8000, ge=1, le=65535, description="HTTP port.")
