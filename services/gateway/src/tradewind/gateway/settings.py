"""Gateway configuration (prefix ``TRADEWIND_GATEWAY_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tradewind.common.service_settings import (
    MigrateOnStart,
    ServiceSettings,
    TcpPort,
    local_database_url,
)
from tradewind.gateway.domain.tokens import MIN_SIGNING_KEY_BYTES


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEWIND_GATEWAY_")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds.")
    orders_url: str = Field(
        default="http://127.0.0.1:8001", description="Base URL of the orders service."
    )
    market_data_url: str = Field(
        default="http://127.0.0.1:8002", description="Base URL of the market-data service."
    )
    webhooks_url: str = Field(
        default="http://127.0.0.1:8003", description="Base URL of the webhooks service."
    )
    upstream_attempt_timeout_s: float = Field(
        default=1.5, gt=0, description="Timeout of one call to a service."
    )
    upstream_budget_s: float = Field(
        default=3.0, gt=0, description="Total time a proxied read may take, retries included."
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive failures that open a service's breaker."
    )
    breaker_recovery_s: float = Field(
        default=5.0, gt=0, description="How long a breaker stays open before probing."
    )
    redis_max_connections: int = Field(
        default=64, ge=1, description="Redis connections the gateway process may open."
    )
    pending_order_ttl_s: int = Field(
        default=86_400,
        ge=60,
        description=(
            "How long the gateway answers for an accepted-but-undecided order (and for a job "
            "its worker has not taken yet)."
        ),
    )
    database_url: str = Field(
        default=local_database_url("tradewind_gateway"),
        description="SQLAlchemy URL (asyncpg driver) of the gateway's database: accounts and keys.",
    )
    migrate_on_start: MigrateOnStart = True
    database_pool_size: int = Field(
        default=5, ge=1, le=100, description="Connections to the gateway's database per process."
    )
    key_cache_ttl_s: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="How long Redis caches a key read from the database (changes replace it).",
    )
    token_signing_key: SecretStr | None = Field(
        default=None,
        description=(
            "HS256 secret (32 bytes or more) signing access tokens, the same on every gateway; "
            "unset: no token exchange."
        ),
    )
    token_ttl_s: int = Field(
        default=900, ge=60, le=86_400, description="Lifetime of an access token."
    )
    demo_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TRADEWIND_DEMO_API_KEY"),
        description=(
            "When set, provisioned at start for account `demo` with the default scopes "
            "(all but `admin`)."
        ),
    )
    stream_auth_timeout_s: float = Field(
        default=10.0, gt=0, description="A WebSocket client must authenticate within this time."
    )
    stream_heartbeat_s: float = Field(
        default=5.0, gt=0, description="Interval of WebSocket heartbeat messages."
    )
    stream_max_backlog: int = Field(
        default=1_000,
        ge=10,
        description="Messages queued for one WebSocket client before it is closed as too slow.",
    )
    stream_max_frame_bytes: int = Field(
        default=65_536,
        ge=1_024,
        le=16 * 1024 * 1024,
        description="Largest WebSocket message a client may send; more closes with 1009.",
    )
    stream_max_subscriptions: int = Field(
        default=100,
        ge=1,
        description="Subscriptions (symbols and topics) one WebSocket connection may hold.",
    )
    stream_max_messages_per_s: float = Field(
        default=50.0,
        gt=0,
        le=100_000,
        description="Messages one WebSocket connection's client may send per second, on average, "
        "in bursts of up to twice as many; faster ones are read more slowly (order entry also "
        "spends the key's `orders` budget).",
    )
    stream_max_connections_per_key: int = Field(
        default=10,
        ge=1,
        description="WebSocket connections one API key may hold open at once, on all gateways "
        "together (counted in Redis; per gateway process while Redis is unreachable).",
    )
    stream_connection_lease_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3_600,
        description="Lease of a WebSocket connection's slot in Redis, renewed every third of it; "
        "a gateway that dies frees its connections' slots after this.",
    )
    metrics_port: TcpPort | None = Field(
        default=None,
        description=(
            "Serve /metrics on this port instead of the public one (which then has no /metrics). "
            "Unset: /metrics on the public port."
        ),
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Interface the metrics port binds (with metrics_port)."
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins whose browser pages may call the API, as JSON, e.g. "
        '["https://app.example.com"]; empty (the default) sends no CORS headers.',
    )
    gzip_minimum_bytes: int = Field(
        default=1_024, ge=1, description="Responses at least this large are gzip-compressed."
    )
    rate_limit_window_s: int = Field(
        default=60,
        ge=1,
        description="Length of a rate-limit window (seconds); each budget below is per API key "
        "and window, unless the key's record sets its own.",
    )
    rate_limit_orders: int = Field(
        default=200, ge=1, description="Order writes (place, replace, cancel) per key and window."
    )
    rate_limit_reads: int = Field(default=200, ge=1, description="Reads (GET) per key and window.")
    rate_limit_webhooks: int = Field(
        default=60,
        ge=1,
        description="Webhook endpoint changes (create, update, delete, rotate, resend, recover) "
        "per key and window.",
    )
    rate_limit_webhook_tests: int = Field(
        default=10, ge=1, description="Webhook test sends per key and window."
    )
    rate_limit_keys: int = Field(
        default=30,
        ge=1,
        description="API key changes by an admin key (create, change scopes, revoke) per key and "
        "window.",
    )
    idempotency_ttl_s: int = Field(
        default=86_400,
        ge=1,
        description="How long the first answer to a request with an Idempotency-Key is replayed.",
    )
    idempotency_lock_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a request in flight holds its Idempotency-Key (retries meanwhile "
        "get 409); a gateway that dies mid-request frees the key after this.",
    )
    graphql_introspection: bool = Field(
        default=True,
        description="Answer GraphQL introspection (__schema, __type) on /graphql; the schema is "
        "also in docs/graphql/schema.graphql.",
    )
    graphql_max_depth: int = Field(
        default=6, ge=1, le=50, description="Deepest field nesting a GraphQL query may have."
    )
    graphql_max_cost: int = Field(
        default=100,
        ge=1,
        description="Most reads of the services one GraphQL query may make (each field that "
        "reads counts once per item of the connections around it).",
    )
    graphql_max_aliases: int = Field(
        default=15, ge=0, description="Most aliases one GraphQL document may use."
    )
    graphql_max_tokens: int = Field(
        default=2_000,
        ge=100,
        description="Most tokens (names, brackets, …) one GraphQL document may hold.",
    )

    @field_validator("token_signing_key")
    @classmethod
    def _signing_key_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"token_signing_key needs at least {MIN_SIGNING_KEY_BYTES} bytes")
        return value
