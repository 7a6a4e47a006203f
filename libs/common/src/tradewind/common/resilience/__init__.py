"""Resilience primitives: circuit breakers and retry policies for calls to other systems."""

from tradewind.common.resilience.breaker import (
    BreakerSnapshot,
    BreakerState,
    CallPermit,
    CircuitBreaker,
    CircuitOpenError,
)
from tradewind.common.resilience.retry import (
    CONNECT,
    HTTP_IDEMPOTENT,
    PUBLISH,
    TRANSIENT_ERRORS,
    RetryPolicy,
    backoff_delays,
    retry_async,
)

__all__ = [
    "CONNECT",
    "HTTP_IDEMPOTENT",
    "PUBLISH",
    "TRANSIENT_ERRORS",
    "BreakerSnapshot",
    "BreakerState",
    "CallPermit",
    "CircuitBreaker",
    "CircuitOpenError",
    "RetryPolicy",
    "backoff_delays",
    "retry_async",
]
