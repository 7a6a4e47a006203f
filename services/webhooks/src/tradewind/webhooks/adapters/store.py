"""Endpoints, messages and attempts as the API sees them (SQLAlchemy; the intake has its own).

Every query that a caller scopes to an account takes ``account_id``; ``None`` means an operator,
who may see any account's rows. A row of another account is reported exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tradewind.webhooks.adapters import tables as t
from tradewind.webhooks.domain.delivery_rules import Circuit, DeliveryStatus, EndpointHealth

# The dispatcher LISTENs here; a NOTIFY is delivered when the transaction that sent it commits.
DELIVERIES_CHANNEL = "tradewind_webhooks_due"
# The reason an endpoint its account switched off carries (the service's own disables say why).
DISABLED_BY_ACCOUNT = "disabled by the account"
_BINDINGS_LOCK_KEY = 0x7457_6269_6E64  # "tWbind"


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
class Attempt:
    id: int
    message_id: str
    endpoint_id: str
    attempt_number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


@dataclass(frozen=True)
class NewMessage:
    id: str
    account_id: str
    event_id: str
    event_type: str
    payload: bytes
    trace_headers: Mapping[str, str]


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        account_id=row.account_id,
        url=row.url,
        description=row.description,
        event_types=tuple(row.event_types),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        health=EndpointHealth(
            circuit=Circuit(row.circuit),
            consecutive_failures=row.consecutive_failures,
            open_until=row.open_until,
            failing_since=row.failing_since,
        ),
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _scoped(query: Select[Any], account_id: str | None) -> Select[Any]:
    return query if account_id is None else query.where(t.endpoints.c.account_id == account_id)


async def notify_dispatchers(session: AsyncSession) -> None:
    await session.execute(select(func.pg_notify(DELIVERIES_CHANNEL, "")))


_HEALTHY = {
    "circuit": Circuit.CLOSED.value,
    "consecutive_failures": 0,
    "open_until": None,
    "failing_since": None,
}


class WebhookStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    # --- endpoints ---

    async def create_endpoint(
        self,
        *,
        endpoint_id: str,
        account_id: str,
        url: str,
        description: str,
        event_types: Sequence[str],
        enabled: bool,
        secret: str,
        limit: int,
    ) -> Endpoint:
        async with self.transaction() as session:
            # Serialise creations per account so two concurrent ones cannot both pass the limit.
            await session.execute(
                select(func.pg_advisory_xact_lock(func.hashtext("webhooks:account:" + account_id)))
            )
            count = await session.scalar(
                select(func.count()).where(t.endpoints.c.account_id == account_id)
            )
            if (count or 0) >= limit:
                raise EndpointLimitReached(f"an account may have at most {limit} endpoints")
            row = (
                await session.execute(
                    insert(t.endpoints)
                    .values(
                        id=endpoint_id,
                        account_id=account_id,
                        url=url,
                        description=description,
                        event_types=list(event_types),
                        enabled=enabled,
                        secret=secret,
                    )
                    .returning(t.endpoints)
                )
            ).one()
        return _endpoint(row)

    async def list_endpoints(self, account_id: str) -> list[Endpoint]:
        async with self.sessions() as session:
            rows = await session.execute(
                select(t.endpoints)
                .where(t.endpoints.c.account_id == account_id)
                .order_by(t.endpoints.c.id)
            )
            return [_endpoint(row) for row in rows]

    async def get_endpoint(self, endpoint_id: str, account_id: str | None) -> Endpoint:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    _scoped(select(t.endpoints).where(t.endpoints.c.id == endpoint_id), account_id)
                )
            ).one_or_none()
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return _endpoint(row)

    async def update_endpoint(
        self, endpoint_id: str, account_id: str, changes: Mapping[str, Any]
    ) -> Endpoint:
        values = dict(changes)
        if "event_types" in values:
            values["event_types"] = list(values["event_types"])
        if values.get("enabled") is True:
            # Enabling again is the account saying "it works now": forget the failing streak.
            values.update(_HEALTHY, disabled_reason=None)
        elif values.get("enabled") is False:
            values["disabled_reason"] = DISABLED_BY_ACCOUNT
        async with self.transaction() as session:
            row = (
                await session.execute(
                    update(t.endpoints)
                    .where(t.endpoints.c.id == endpoint_id, t.endpoints.c.account_id == account_id)
                    .values(**values, updated_at=func.now())
                    .returning(t.endpoints)
                )
            ).one_or_none()
            if row is None:
                raise EndpointNotFound(endpoint_id)
            if values.get("enabled") is True:
                await notify_dispatchers(session)
        return _endpoint(row)

    async def delete_endpoint(self, endpoint_id: str, account_id: str) -> None:
        async with self.transaction() as session:
            result = await session.execute(
                delete(t.endpoints)
                .where(t.endpoints.c.id == endpoint_id, t.endpoints.c.account_id == account_id)
                .returning(t.endpoints.c.id)
            )
            if result.first() is None:
                raise EndpointNotFound(endpoint_id)

    async def rotate_secret(
        self, endpoint_id: str, account_id: str, new_secret: str, overlap: timedelta
    ) -> Endpoint:
        """Replace the secret; the old one keeps signing for ``overlap`` (a second rotation
        within the overlap drops the oldest secret: at most two are ever active)."""
        e = t.endpoints.c
        async with self.transaction() as session:
            row = (
                await session.execute(
                    update(t.endpoints)
                    .where(e.id == endpoint_id, e.account_id == account_id)
                    .values(
                        secret=new_secret,
                        previous_secret=e.secret,
                        previous_secret_expires_at=func.now() + overlap,
                        updated_at=func.now(),
                    )
                    .returning(t.endpoints)
                )
            ).one_or_none()
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return _endpoint(row)

    # --- the events queue's bindings ---

    @asynccontextmanager
    async def bindings_locked(self) -> AsyncIterator[AsyncSession]:
        """A transaction holding the bindings lock, which every process's reconcile takes."""
        async with self.transaction() as session:
            await session.execute(select(func.pg_advisory_xact_lock(_BINDINGS_LOCK_KEY)))
            yield session

    async def subscribed_filters(self, session: AsyncSession) -> list[tuple[str, ...]]:
        """The distinct filter lists of the enabled endpoints."""
        rows = await session.execute(
            select(t.endpoints.c.event_types).where(t.endpoints.c.enabled).distinct()
        )
        return [tuple(row.event_types) for row in rows]

    async def recorded_bindings(self, session: AsyncSession) -> frozenset[str]:
        return frozenset(await session.scalars(select(t.event_bindings.c.pattern)))

    async def record_bindings(self, session: AsyncSession, patterns: frozenset[str]) -> None:
        """Make the record exactly ``patterns``; a pattern bound before keeps its ``bound_at``."""
        b = t.event_bindings
        await session.execute(delete(b).where(b.c.pattern.not_in(patterns)))
        if patterns:
            rows = [{"pattern": pattern} for pattern in sorted(patterns)]
            await session.execute(pg_insert(b).values(rows).on_conflict_do_nothing())

    # --- messages and deliveries ---

    async def add_message(
        self, session: AsyncSession, message: NewMessage, endpoint_ids: Sequence[str]
    ) -> bool:
        """Store the message once and a delivery per endpoint; False if it was stored before."""
        stored = await session.execute(
            pg_insert(t.messages)
            .values(
                id=message.id,
                account_id=message.account_id,
                event_id=message.event_id,
                event_type=message.event_type,
                payload=message.payload,
                trace_headers=dict(message.trace_headers),
            )
            .on_conflict_do_nothing(constraint="uq_messages_account_event")
            .returning(t.messages.c.id)
        )
        if stored.first() is None:
            return False
        await session.execute(
            insert(t.deliveries),
            [{"message_id": message.id, "endpoint_id": eid} for eid in endpoint_ids],
        )
        await notify_dispatchers(session)
        return True

    async def resend(self, endpoint_id: str, account_id: str | None, message_id: str) -> str:
        """Start a new round of the schedule for one message to one endpoint; its new status."""
        d = t.deliveries
        async with self.transaction() as session:
            endpoint = await self._endpoint_for_update(session, endpoint_id, account_id)
            owner = await session.scalar(
                select(t.messages.c.account_id).where(t.messages.c.id == message_id)
            )
            if owner != endpoint.account_id:
                raise MessageNotFound(message_id)
            # A delivery still pending is already going to be tried; it keeps its schedule.
            await session.execute(
                pg_insert(d)
                .values(message_id=message_id, endpoint_id=endpoint_id)
                .on_conflict_do_update(
                    constraint="uq_deliveries_message_endpoint",
                    set_={
                        "status": DeliveryStatus.PENDING.value,
                        "round_attempts": 0,
                        "next_attempt_at": func.now(),
                        "updated_at": func.now(),
                    },
                    where=d.c.status != DeliveryStatus.PENDING.value,
                )
            )
            await notify_dispatchers(session)
        return DeliveryStatus.PENDING.value

    async def recover(
        self, endpoint_id: str, account_id: str | None, since: datetime, until: datetime | None
    ) -> int:
        """Re-queue every failed delivery of the endpoint created in [since, until)."""
        d = t.deliveries.c
        async with self.transaction() as session:
            await self._endpoint_for_update(session, endpoint_id, account_id)
            query = (
                update(t.deliveries)
                .where(
                    d.endpoint_id == endpoint_id,
                    d.status == DeliveryStatus.FAILED.value,
                    d.created_at >= since,
                )
                .values(
                    status=DeliveryStatus.PENDING.value,
                    round_attempts=0,
                    next_attempt_at=func.now(),
                    updated_at=func.now(),
                )
                .returning(d.id)
            )
            if until is not None:
                query = query.where(d.created_at < until)
            recovered = len((await session.execute(query)).all())
            if recovered:
                await notify_dispatchers(session)
        return recovered

    async def _endpoint_for_update(
        self, session: AsyncSession, endpoint_id: str, account_id: str | None
    ) -> Endpoint:
        row = (
            await session.execute(
                _scoped(
                    select(t.endpoints).where(t.endpoints.c.id == endpoint_id), account_id
                ).with_for_update()
            )
        ).one_or_none()
        if row is None:
            raise EndpointNotFound(endpoint_id)
        return _endpoint(row)

    # --- attempts ---

    async def list_attempts(
        self,
        *,
        account_id: str | None,
        endpoint_id: str | None = None,
        message_id: str | None = None,
        succeeded: bool | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Attempt]:
        """Newest first. Filter by endpoint and/or message; page with ``before`` (an attempt id)."""
        a = t.attempts.c
        query = select(t.attempts).order_by(a.id.desc()).limit(limit)
        if endpoint_id is not None:
            query = query.where(a.endpoint_id == endpoint_id)
        if message_id is not None:
            query = query.where(a.message_id == message_id)
        if succeeded is not None:
            query = query.where(a.succeeded.is_(succeeded))
        if before is not None:
            query = query.where(a.id < before)
        if account_id is not None:
            query = query.join(t.endpoints, t.endpoints.c.id == a.endpoint_id).where(
                t.endpoints.c.account_id == account_id
            )
        async with self.sessions() as session:
            rows = await session.execute(query)
            return [
                Attempt(
                    id=row.id,
                    message_id=row.message_id,
                    endpoint_id=row.endpoint_id,
                    attempt_number=row.attempt_number,
                    started_at=row.started_at,
                    duration_ms=row.duration_ms,
                    status_code=row.status_code,
                    response_body=row.response_body,
                    error=row.error,
                    succeeded=row.succeeded,
                )
                for row in rows
            ]

    async def message_exists(self, message_id: str, account_id: str | None) -> bool:
        query = select(t.messages.c.id).where(t.messages.c.id == message_id)
        if account_id is not None:
            query = query.where(t.messages.c.account_id == account_id)
        async with self.sessions() as session:
            return (await session.scalar(query)) is not None
