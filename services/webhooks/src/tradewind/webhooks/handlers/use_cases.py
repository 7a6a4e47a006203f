"""Use cases: the event intake (bus → messages and deliveries) and endpoint management.

Thin: load, apply the rules in ``domain``, save. HTTP lives in ``api``; every write goes through
the unit of work (``adapters.unit_of_work``), reads through ``adapters.reads``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from opentelemetry import propagate

from tradewind.common.broker import Delivery
from tradewind.common.envelope import CloudEvent
from tradewind.webhooks.adapters.bindings import EventBindings
from tradewind.webhooks.adapters.reads import WebhookReads
from tradewind.webhooks.adapters.records import Endpoint, NewMessage
from tradewind.webhooks.adapters.secret_box import SecretBox
from tradewind.webhooks.adapters.ssrf import DestinationPolicy, check_url
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork
from tradewind.webhooks.domain.delivery_rules import is_deliverable, subscribers, webhook_body
from tradewind.webhooks.domain.events import WebhookTest
from tradewind.webhooks.domain.ids import new_endpoint_id, new_message_id
from tradewind.webhooks.domain.signing import generate_secret

log = logging.getLogger(__name__)

# Changes that can change which events an endpoint receives, hence the queue's bindings.
_SUBSCRIPTION_FIELDS = frozenset({"event_types", "enabled"})


class EndpointDisabled(Exception):
    """The operation needs an enabled endpoint."""


class EventIntake:
    """Consumes domain events: one message per (account, event), one delivery per subscriber.

    Inbox record, message and deliveries are written in one statement, so a redelivered
    event changes nothing and a crash before the commit loses nothing (the broker redelivers).
    ``consumer`` names the queue in the inbox.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, consumer: str, max_payload_bytes: int, concurrency: int
    ) -> None:
        self.pool = pool
        self.consumer = consumer
        self.max_payload_bytes = max_payload_bytes
        # The broker hands over up to a prefetch of events at once; more transactions at once
        # than the pool holds would only queue for a connection.
        self._slots = asyncio.Semaphore(concurrency)

    async def __call__(self, event: CloudEvent, delivery: Delivery) -> None:
        account_id = event.accountid
        if account_id is None or not is_deliverable(event.type, account_id):
            return
        async with self._slots:
            await self._fan_out(event, account_id)

    async def _fan_out(self, event: CloudEvent, account_id: str) -> None:
        # One write statement, atomic on its own: no BEGIN and COMMIT on the hot path. An endpoint
        # deleted after it was read makes that statement fail (foreign key); the broker retries.
        async with WebhooksUnitOfWork.one_statement(self.pool) as unit:
            targets = subscribers(await unit.subscriptions(account_id), event.type)
            if not targets:
                return
            message = _message(
                account_id=account_id,
                event_id=event.id,
                event_type=event.type,
                timestamp=event.time,
                data=event.data,
                max_payload_bytes=self.max_payload_bytes,
            )
            stored = await unit.fan_out(self.consumer, message, [e.id for e in targets])
        if not stored:
            log.info("event already fanned out", extra={"event_id": event.id})


def _message(
    *,
    account_id: str,
    event_id: str,
    event_type: str,
    timestamp: datetime,
    data: Mapping[str, Any],
    max_payload_bytes: int,
) -> NewMessage:
    trace_headers: dict[str, str] = {}
    propagate.inject(trace_headers)
    return NewMessage(
        id=new_message_id(),
        account_id=account_id,
        event_id=event_id,
        event_type=event_type,
        payload=webhook_body(
            event_type=event_type,
            timestamp=timestamp,
            data=data,
            event_id=event_id,
            max_bytes=max_payload_bytes,
        ),
        trace_headers=trace_headers,
    )


@dataclass(frozen=True)
class EndpointSpec:
    url: str
    description: str
    event_types: Sequence[str]
    enabled: bool


class EndpointService:
    """Endpoint management for an account (``account_id``) or an operator (``None``)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        reads: WebhookReads,
        bindings: EventBindings,
        *,
        policy: DestinationPolicy,
        rotation_overlap: timedelta,
        max_endpoints_per_account: int,
        max_payload_bytes: int,
        secret_box: SecretBox,
    ) -> None:
        self.pool = pool
        self.reads = reads
        self.secret_box = secret_box
        self.bindings = bindings
        self.policy = policy
        self.rotation_overlap = rotation_overlap
        self.max_endpoints_per_account = max_endpoints_per_account
        self.max_payload_bytes = max_payload_bytes

    async def create(self, account_id: str, spec: EndpointSpec) -> tuple[Endpoint, str]:
        """The new endpoint and its secret, which is shown this once only."""
        check_url(spec.url, self.policy)
        secret = generate_secret()
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            endpoint = await unit.create_endpoint(
                endpoint_id=new_endpoint_id(),
                account_id=account_id,
                url=spec.url,
                description=spec.description,
                event_types=spec.event_types,
                enabled=spec.enabled,
                secret=self.secret_box.seal(secret),
                limit=self.max_endpoints_per_account,
            )
        log.info("webhook endpoint created", extra={"endpoint_id": endpoint.id})
        await self._follow_subscriptions()
        return endpoint, secret

    async def update(
        self, account_id: str, endpoint_id: str, changes: Mapping[str, Any]
    ) -> Endpoint:
        if "url" in changes:
            check_url(changes["url"], self.policy)
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            endpoint = await unit.update_endpoint(endpoint_id, account_id, changes)
        if _SUBSCRIPTION_FIELDS & changes.keys():
            await self._follow_subscriptions()
        return endpoint

    async def delete(self, account_id: str, endpoint_id: str) -> None:
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            await unit.delete_endpoint(endpoint_id, account_id)
        log.info("webhook endpoint deleted", extra={"endpoint_id": endpoint_id})
        await self._follow_subscriptions()

    async def rotate_secret(self, account_id: str, endpoint_id: str) -> tuple[Endpoint, str]:
        secret = generate_secret()
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            endpoint = await unit.rotate_secret(
                endpoint_id, account_id, self.secret_box.seal(secret), self.rotation_overlap
            )
        log.info("webhook secret rotated", extra={"endpoint_id": endpoint_id})
        return endpoint, secret

    async def send_test(self, account_id: str, endpoint_id: str) -> str:
        """Queue a ``webhook.test`` message for this one endpoint; its message id."""
        endpoint = await self._enabled(account_id, endpoint_id)
        test = WebhookTest(endpoint_id=endpoint.id)
        message = _message(
            account_id=account_id,
            event_id=str(uuid.uuid4()),
            event_type=WebhookTest.TYPE,
            timestamp=datetime.now(UTC),
            data=test.model_dump(mode="json"),
            max_payload_bytes=self.max_payload_bytes,
        )
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            await unit.add_message(message, [endpoint.id])
        return message.id

    async def resend(self, account_id: str | None, endpoint_id: str, message_id: str) -> str:
        await self._enabled(account_id, endpoint_id)
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            return await unit.resend(endpoint_id, account_id, message_id)

    async def recover(
        self, account_id: str | None, endpoint_id: str, since: datetime, until: datetime | None
    ) -> int:
        await self._enabled(account_id, endpoint_id)
        async with WebhooksUnitOfWork.begin(self.pool) as unit:
            recovered = await unit.recover(endpoint_id, account_id, since, until)
        log.info(
            "failed deliveries re-queued",
            extra={"endpoint_id": endpoint_id, "recovered": recovered, "since": since.isoformat()},
        )
        return recovered

    async def _follow_subscriptions(self) -> None:
        """Bring the queue's bindings in line before the API answers, so an event published
        after the answer reaches the endpoints as they are now."""
        try:
            await self.bindings.reconcile()
        except Exception:
            # The change is committed: failing the request would tell the account it did not
            # happen. The periodic reconcile brings the bindings in line once it can.
            log.exception("event bindings not updated after an endpoint change")

    async def _enabled(self, account_id: str | None, endpoint_id: str) -> Endpoint:
        endpoint = await self.reads.get_endpoint(endpoint_id, account_id)
        if not endpoint.enabled:
            raise EndpointDisabled(endpoint_id)
        return endpoint
