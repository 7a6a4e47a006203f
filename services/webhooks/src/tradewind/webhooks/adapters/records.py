"""What the webhooks database hands to the rest of the service: endpoints, attempts, claimed
deliveries, and the errors a write can end in. Plain frozen records, built from asyncpg rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tradewind.common.contracts.webhooks import AttemptOut
from tradewind.webhooks.domain.delivery_rules import Circuit, EndpointHealth

# The dispatcher LISTENs here; a NOTIFY is delivered when the transaction that sent it commits.
DELIVERIES_CHANNEL = "tradewind_webhooks_due"
# The reason an endpoint its account switched off carries (the service's own disables say why).
DISABLED_BY_ACCOUNT = "disabled by the account"


class EndpointNotFound(LookupError):
    pass


class MessageNotFound(LookupError):
    pass


class EndpointLimitReached(Exception):
    pass


@dataclass(frozen=True)
class Endpoint:
    id: str
    account_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    health: EndpointHealth
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Subscription:
    """An enabled endpoint's filters, as the intake matches events against them."""

    id: str
    event_types: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class NewMessage:
    id: str
    account_id: str
    event_id: str
    event_type: str
    payload: bytes
    trace_headers: Mapping[str, str]


@dataclass(frozen=True)
class DeliveryJob:
    """One claimed delivery: everything needed to make the attempt without another query."""

    delivery_id: int
    lease_token: str
    message_id: str
    endpoint_id: str
    account_id: str
    event_id: str
    event_type: str
    url: str
    payload: bytes
    trace_headers: Mapping[str, str]
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None
    attempt_number: int  # over the delivery's life, for the attempts list
    attempt_in_round: int  # within the current round of the schedule
    # A success at an endpoint that was healthy when claimed changes nothing about the endpoint.
    endpoint_was_healthy: bool


@dataclass(frozen=True)
class Success:
    job: DeliveryJob
    status_code: int
    started_at: datetime
    duration_ms: int
    response_body: str | None


@dataclass(frozen=True)
class EndpointState:
    account_id: str
    enabled: bool
    health: EndpointHealth
    now: datetime


# Every column of ``endpoints`` but the secrets, in the order ``endpoint_from_row`` reads them.
ENDPOINT_COLUMNS = (
    "id, account_id, url, description, event_types, enabled, disabled_reason, circuit,"
    " consecutive_failures, open_until, failing_since, previous_secret_expires_at,"
    " created_at, updated_at"
)
ATTEMPT_COLUMNS = (
    "id, message_id, endpoint_id, attempt_number, started_at, duration_ms, status_code,"
    " response_body, error, succeeded"
)


def endpoint_from_row(row: asyncpg.Record) -> Endpoint:
    return Endpoint(
        id=row["id"],
        account_id=row["account_id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(row["event_types"]),
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        health=EndpointHealth(
            circuit=Circuit(row["circuit"]),
            consecutive_failures=row["consecutive_failures"],
            open_until=row["open_until"],
            failing_since=row["failing_since"],
        ),
        previous_secret_expires_at=row["previous_secret_expires_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def attempt_from_row(row: asyncpg.Record) -> AttemptOut:
    """An attempt as the API shows it: the row's columns (``ATTEMPT_COLUMNS``) are its fields."""
    return AttemptOut.model_validate(dict(row))


def job_from_row(row: asyncpg.Record, token: str) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=row["id"],
        lease_token=token,
        message_id=row["message_id"],
        endpoint_id=row["endpoint_id"],
        account_id=row["account_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        url=row["url"],
        payload=bytes(row["payload"]),
        trace_headers=json.loads(row["trace_headers"] or "{}"),
        secret=row["secret"],
        previous_secret=row["previous_secret"],
        previous_secret_expires_at=row["previous_secret_expires_at"],
        attempt_number=row["attempts"] + 1,
        attempt_in_round=row["round_attempts"] + 1,
        endpoint_was_healthy=row["endpoint_was_healthy"],
    )
