"""The unit of work of every webhooks write, on the real database: its whole interface.

The intake, the delivery queue, endpoint management, the bindings record and the purge all write
through ``WebhooksUnitOfWork``; these tests pin down what it promises them: the intake's
once-only fan-out, leases, lease-checked finishing, endpoint changes, staged outbox rows and
wake-ups written with the commit, and nothing at all when the block raises.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from integration.webhooks.harness import new_endpoint
from support.polling import eventually
from tradewind.common.db import create_pool
from tradewind.common.envelope import new_event
from tradewind.common.outbox import NOTIFY_CHANNEL, outbox_message
from tradewind.webhooks.adapters.records import (
    DELIVERIES_CHANNEL,
    DISABLED_BY_ACCOUNT,
    DeliveryJob,
    EndpointLimitReached,
    EndpointNotFound,
    MessageNotFound,
    NewMessage,
    Success,
)
from tradewind.webhooks.adapters.unit_of_work import TransactionRequired, WebhooksUnitOfWork
from tradewind.webhooks.domain.delivery_rules import (
    AttemptResult,
    Circuit,
    DeliveryDecision,
    DeliveryStatus,
    EndpointHealth,
)
from tradewind.webhooks.domain.events import WebhookTest
from tradewind.webhooks.domain.ids import new_message_id

CONSUMER = "uow.tests"
LEASE = timedelta(seconds=30)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=4)
    yield pool
    await pool.close()


def new_message(account_id: str, event_id: str | None = None) -> NewMessage:
    return NewMessage(
        id=new_message_id(),
        account_id=account_id,
        event_id=event_id or str(uuid.uuid4()),
        event_type="order.accepted",
        payload=b'{"type":"order.accepted"}',
        trace_headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )


async def fan_out(pool: asyncpg.Pool, message: NewMessage, endpoint_ids: list[str]) -> bool:
    # As the intake does: one statement, no transaction around it.
    async with WebhooksUnitOfWork.one_statement(pool) as unit:
        return await unit.fan_out(CONSUMER, message, endpoint_ids)


async def claim(
    pool: asyncpg.Pool, *, limit: int = 10, per_endpoint: int = 10
) -> list[DeliveryJob]:
    async with WebhooksUnitOfWork.begin(pool) as unit:
        return await unit.claim(limit=limit, per_endpoint=per_endpoint, lease=LEASE)


async def delivery(pool: asyncpg.Pool, delivery_id: int) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
    assert row is not None
    return row


# --- the intake ---


async def test_an_event_is_fanned_out_once_with_its_inbox_record_and_a_wake_up(
    pool: asyncpg.Pool,
) -> None:
    first, second = await new_endpoint(pool, "acc-1", ["order.*"]), None
    async with WebhooksUnitOfWork.begin(pool) as unit:
        second = await unit.create_endpoint(
            endpoint_id="ep_second",
            account_id="acc-1",
            url="http://127.0.0.1:9/other",
            description="",
            event_types=["order.accepted"],
            enabled=True,
            secret="whsec_dGVzdA==",
            limit=20,
        )
    woken = asyncio.Event()

    def wake(*_: object) -> None:
        woken.set()

    listener = await pool.acquire()
    await listener.add_listener(DELIVERIES_CHANNEL, wake)
    try:
        message = new_message("acc-1")
        assert await fan_out(pool, message, [first.id, second.id]) is True
        async with asyncio.timeout(5):
            await woken.wait()
        # The same event again (a redelivery, under a new message id): nothing is written.
        again = NewMessage(**{**message.__dict__, "id": new_message_id()})
        assert await fan_out(pool, again, [first.id, second.id]) is False
    finally:
        await listener.remove_listener(DELIVERIES_CHANNEL, wake)
        await pool.release(listener)
    assert await pool.fetchval("SELECT count(*) FROM messages") == 1
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == 2
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = $1 AND message_id = $2",
            CONSUMER,
            message.event_id,
        )
        == 1
    )
    async with WebhooksUnitOfWork.begin(pool) as unit:
        subscriptions = await unit.subscriptions("acc-1")
    assert {(s.id, s.event_types) for s in subscriptions} == {
        (first.id, ("order.*",)),
        (second.id, ("order.accepted",)),
    }


async def test_a_fan_out_to_an_endpoint_deleted_meanwhile_fails_and_writes_nothing(
    pool: asyncpg.Pool,
) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await fan_out(pool, new_message("acc-1"), ["ep_gone"])
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0


async def test_a_unit_without_a_transaction_refuses_locks_leases_and_staged_writes(
    pool: asyncpg.Pool,
) -> None:
    event = new_event(source="/tests", data=WebhookTest(endpoint_id="ep_1"), event_type="t.x")
    async with WebhooksUnitOfWork.one_statement(pool) as unit:
        with pytest.raises(TransactionRequired):
            await unit.claim(limit=1, per_endpoint=1, lease=LEASE)
        with pytest.raises(TransactionRequired):
            await unit.lock_bindings()
        with pytest.raises(TransactionRequired):
            await unit.endpoint_state("ep_1", lock=True)
        with pytest.raises(TransactionRequired):
            unit.add_event(outbox_message(event, exchange="ex"))
        with pytest.raises(TransactionRequired):
            unit.wake_dispatchers()
        assert await unit.endpoint_state("ep_1", lock=False) is None  # a plain read is fine


# --- the delivery queue ---


async def test_a_claim_leases_each_delivery_once_within_the_endpoints_bound(
    pool: asyncpg.Pool,
) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    for _ in range(3):
        await fan_out(pool, new_message("acc-1"), [endpoint.id])
    first = await claim(pool, per_endpoint=2)
    second = await claim(pool, per_endpoint=2)
    assert len(first) == 2
    assert second == []  # the endpoint already has its two in flight
    job = first[0]
    assert job.attempt_number == job.attempt_in_round == 1
    assert job.endpoint_was_healthy
    assert job.trace_headers == {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    row = await delivery(pool, job.delivery_id)
    assert row["lease_token"] == job.lease_token
    assert row["lease_until"] > datetime.now(UTC)


async def test_successes_are_recorded_only_under_the_lease_they_were_claimed_with(
    pool: asyncpg.Pool,
) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    for _ in range(2):
        await fan_out(pool, new_message("acc-1"), [endpoint.id])
    held, lost = await claim(pool)
    await pool.execute(
        "UPDATE deliveries SET lease_token = 'taken over' WHERE id = $1", lost.delivery_id
    )
    now = datetime.now(UTC)
    async with WebhooksUnitOfWork.begin(pool) as unit:
        recorded = await unit.finish_successes(
            [Success(held, 200, now, 5, "ok"), Success(lost, 204, now, 6, None)]
        )
    assert recorded == {held.delivery_id}
    assert (await delivery(pool, held.delivery_id))["status"] == "succeeded"
    assert (await delivery(pool, lost.delivery_id))["status"] == "pending"
    attempts = await pool.fetch("SELECT delivery_id, status_code, succeeded FROM attempts")
    assert [tuple(a) for a in attempts] == [(held.delivery_id, 200, True)]


async def test_a_failure_schedules_the_retry_records_the_attempt_and_judges_the_endpoint(
    pool: asyncpg.Pool,
) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    await fan_out(pool, new_message("acc-1"), [endpoint.id])
    (job,) = await claim(pool)
    retry_at = datetime.now(UTC) + timedelta(minutes=5)
    failing = EndpointHealth(Circuit.OPEN, 3, retry_at, datetime.now(UTC))
    async with WebhooksUnitOfWork.begin(pool) as unit:
        state = await unit.endpoint_state(endpoint.id, lock=True)
        assert state is not None
        assert state.health == EndpointHealth.healthy()
        decision = DeliveryDecision(DeliveryStatus.PENDING, next_attempt_at=retry_at)
        assert await unit.finish(job, decision, state.now) is True
        result = AttemptResult(503, error="HTTP 503")
        await unit.add_attempt(job, result, started_at=state.now, duration_ms=7, response_body="x")
        await unit.save_health(endpoint.id, failing, disabled_reason="failing for too long")
    row = await delivery(pool, job.delivery_id)
    assert (row["status"], row["attempts"], row["round_attempts"]) == ("pending", 1, 1)
    assert row["next_attempt_at"] == retry_at
    assert row["lease_token"] is None
    async with WebhooksUnitOfWork.begin(pool) as unit:
        state = await unit.endpoint_state(endpoint.id, lock=False)
        # The lease is gone: a late second finish of the same claim changes nothing.
        late = DeliveryDecision(DeliveryStatus.FAILED)
        assert await unit.finish(job, late, datetime.now(UTC)) is False
    assert state is not None
    assert state.health == failing
    assert not state.enabled
    stored = await pool.fetchrow("SELECT enabled, disabled_reason FROM endpoints")
    assert tuple(stored) == (False, "failing for too long")
    assert await pool.fetchval("SELECT error FROM attempts") == "HTTP 503"


async def test_staged_events_and_wake_ups_commit_with_the_change_and_vanish_with_a_failure(
    pool: asyncpg.Pool,
) -> None:
    notified = asyncio.Event()

    def relay_woken(*_: object) -> None:
        notified.set()

    listener = await pool.acquire()
    await listener.add_listener(NOTIFY_CHANNEL, relay_woken)
    try:
        event = new_event(source="/tests", data=WebhookTest(endpoint_id="ep_1"), event_type="t.x")

        async def failing_use_case() -> None:
            async with WebhooksUnitOfWork.begin(pool) as unit:
                unit.add_event(outbox_message(event, exchange="ex"))
                unit.wake_dispatchers()
                raise RuntimeError("the use case failed")

        with pytest.raises(RuntimeError):
            await failing_use_case()
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        assert not notified.is_set()
        async with WebhooksUnitOfWork.begin(pool) as unit:
            unit.add_event(outbox_message(event, exchange="ex"))
        async with asyncio.timeout(5):
            await notified.wait()
    finally:
        await listener.remove_listener(NOTIFY_CHANNEL, relay_woken)
        await pool.release(listener)
    row = await pool.fetchrow("SELECT message_id, exchange, routing_key, body FROM outbox")
    assert row is not None
    assert (row["message_id"], row["exchange"], row["routing_key"]) == (event.id, "ex", "t.x")
    assert json.loads(row["body"])["id"] == event.id


async def test_the_purge_keeps_messages_with_a_delivery_pending(pool: asyncpg.Pool) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    done, waiting = new_message("acc-1"), new_message("acc-1")
    for message in (done, waiting):
        await fan_out(pool, message, [endpoint.id])
    await pool.execute("UPDATE deliveries SET status = 'succeeded' WHERE message_id = $1", done.id)
    await pool.execute("UPDATE messages SET created_at = now() - interval '2 days'")
    await pool.execute("UPDATE inbox SET processed_at = now() - interval '2 days'")
    async with WebhooksUnitOfWork.begin(pool) as unit:
        assert await unit.purge_finished(timedelta(days=1)) == 1
    assert [r["id"] for r in await pool.fetch("SELECT id FROM messages")] == [waiting.id]
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0


# --- endpoints, resends and recoveries ---


async def test_endpoint_changes_keep_the_limit_the_scope_and_the_health_rules(
    pool: asyncpg.Pool,
) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    with pytest.raises(EndpointLimitReached):
        async with WebhooksUnitOfWork.begin(pool) as unit:
            await unit.create_endpoint(
                endpoint_id="ep_over",
                account_id="acc-1",
                url="http://127.0.0.1:9/",
                description="",
                event_types=[],
                enabled=True,
                secret="s",
                limit=1,
            )
    async with WebhooksUnitOfWork.begin(pool) as unit:
        disabled = await unit.update_endpoint(endpoint.id, "acc-1", {"enabled": False})
    assert disabled.disabled_reason == DISABLED_BY_ACCOUNT
    await pool.execute("UPDATE endpoints SET circuit = 'open', consecutive_failures = 9")
    async with WebhooksUnitOfWork.begin(pool) as unit:
        enabled = await unit.update_endpoint(
            endpoint.id, "acc-1", {"enabled": True, "event_types": ("order.filled",)}
        )
    assert enabled.enabled
    assert enabled.disabled_reason is None
    assert enabled.health == EndpointHealth.healthy()
    assert enabled.event_types == ("order.filled",)
    async with WebhooksUnitOfWork.begin(pool) as unit:
        rotated = await unit.rotate_secret(endpoint.id, "acc-1", "new", timedelta(hours=1))
    assert rotated.previous_secret_expires_at is not None
    secrets = await pool.fetchrow("SELECT secret, previous_secret FROM endpoints")
    assert tuple(secrets) == ("new", "whsec_dGVzdA==")
    changes: list[Callable[[WebhooksUnitOfWork], Awaitable[object]]] = [
        lambda unit: unit.update_endpoint(endpoint.id, "acc-2", {"description": "x"}),
        lambda unit: unit.rotate_secret(endpoint.id, "acc-2", "s", timedelta(hours=1)),
        lambda unit: unit.delete_endpoint(endpoint.id, "acc-2"),
        lambda unit: unit.endpoint_for_update(endpoint.id, "acc-2"),
    ]
    for change in changes:
        with pytest.raises(EndpointNotFound):  # another account's endpoint is not found
            async with WebhooksUnitOfWork.begin(pool) as unit:
                await change(unit)
    async with WebhooksUnitOfWork.begin(pool) as unit:
        await unit.delete_endpoint(endpoint.id, "acc-1")
    assert await pool.fetchval("SELECT count(*) FROM endpoints") == 0


async def test_resend_and_recover_start_a_new_round_of_the_schedule(pool: asyncpg.Pool) -> None:
    endpoint = await new_endpoint(pool, "acc-1", ["order.*"])
    message = new_message("acc-1")
    async with WebhooksUnitOfWork.begin(pool) as unit:
        assert await unit.add_message(message, [endpoint.id]) is True
    await pool.execute("UPDATE deliveries SET status = 'failed', round_attempts = 5")
    async with WebhooksUnitOfWork.begin(pool) as unit:
        assert await unit.resend(endpoint.id, None, message.id) == "pending"
    row = await pool.fetchrow("SELECT status, round_attempts FROM deliveries")
    assert tuple(row) == ("pending", 0)
    with pytest.raises(MessageNotFound):
        async with WebhooksUnitOfWork.begin(pool) as unit:
            await unit.resend(endpoint.id, None, "msg_unknown")

    await pool.execute("UPDATE deliveries SET status = 'failed', round_attempts = 5")
    later = datetime.now(UTC) + timedelta(hours=1)
    async with WebhooksUnitOfWork.begin(pool) as unit:
        assert await unit.recover(endpoint.id, "acc-1", later, None) == 0
        assert await unit.recover(endpoint.id, "acc-1", later - timedelta(days=1), later) == 1
    assert tuple(await pool.fetchrow("SELECT status, round_attempts FROM deliveries")) == (
        "pending",
        0,
    )


# --- the events queue's bindings ---


async def test_the_bindings_record_becomes_exactly_the_patterns_and_keeps_old_bound_at(
    pool: asyncpg.Pool,
) -> None:
    async with WebhooksUnitOfWork.begin(pool) as unit:
        await unit.lock_bindings()
        await unit.record_bindings(frozenset({"order.#", "market.#"}))
    await pool.execute("UPDATE event_bindings SET bound_at = '2020-01-01T00:00:00Z'")
    async with WebhooksUnitOfWork.begin(pool) as unit:
        await unit.lock_bindings()
        await unit.record_bindings(frozenset({"order.#", "webhook.#"}))
        assert await unit.recorded_bindings() == {"order.#", "webhook.#"}
    rows = await pool.fetch("SELECT pattern, bound_at FROM event_bindings ORDER BY pattern")
    assert [r["pattern"] for r in rows] == ["order.#", "webhook.#"]
    assert rows[0]["bound_at"].year == 2020
    assert rows[1]["bound_at"].year > 2020
    async with WebhooksUnitOfWork.begin(pool) as unit:
        await unit.record_bindings(frozenset())
    assert await pool.fetchval("SELECT count(*) FROM event_bindings") == 0


async def test_one_bindings_reconcile_at_a_time(pool: asyncpg.Pool) -> None:
    async with WebhooksUnitOfWork.begin(pool) as holder:
        await holder.lock_bindings()

        async def second() -> None:
            async with WebhooksUnitOfWork.begin(pool) as unit:
                await unit.lock_bindings()

        waiting = asyncio.create_task(second())

        async def blocked_on_the_lock() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            )

        await eventually(blocked_on_the_lock)
        assert not waiting.done()
    async with asyncio.timeout(5):
        await waiting
