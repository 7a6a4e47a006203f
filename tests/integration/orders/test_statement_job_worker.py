"""The statement job worker on the real broker and database: priorities, retries, delays,
redeliveries, and the file it writes.

The worker consumes the jobs queue as the service does (classic priority queue, prefetch 1), in
a namespace of this module's own with short delay tiers. Fills come from the real order and
quote handlers (``desk``).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import aio_pika
import asyncpg
import pytest

from integration.orders.flows import Desk, new_account
from support.infra import Infra
from support.namespace_cleanup import delete_namespace
from support.polling import eventually
from tradewind.common.broker import Broker, MessageHandlers, Topology
from tradewind.common.contracts.jobs import JobPriority, JobStatus, RequestStatement
from tradewind.common.envelope import CloudEvent, new_event
from tradewind.orders.adapters.activities import FillActivities
from tradewind.orders.adapters.jobs import JobStore
from tradewind.orders.domain.jobs import Job
from tradewind.orders.handlers import StatementJobs, jobs_queue

MAX_ATTEMPTS = 3
TODAY = datetime.now(UTC).date()


@dataclass
class Worker:
    broker: Broker
    topology: Topology
    handler: StatementJobs
    store: JobStore

    async def declare(self) -> None:
        """The queue, as the service declares it, before anything is published to it."""
        await self.broker.declare_queue(jobs_queue(self.topology))

    async def start(self) -> None:
        await self.broker.consume(jobs_queue(self.topology), MessageHandlers.of(self.handler))

    async def request(
        self,
        account_id: str,
        *,
        priority: JobPriority = JobPriority.NORMAL,
        not_before: datetime | None = None,
        job_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        command = statement_command(account_id, priority, not_before, job_id)
        await self.broker.publish_command(command, priority=priority.amqp)
        return uuid.UUID(command.subject)

    async def finished(self, account_id: str, job_id: uuid.UUID) -> Job:
        async def done() -> Job | None:
            job = await self.store.job(account_id, job_id)
            return job if job is not None and job.finished else None

        return await eventually(done, timeout=30, message=f"job {job_id} never finished")


def statement_command(
    account_id: str,
    priority: JobPriority,
    not_before: datetime | None,
    job_id: uuid.UUID | None = None,
    start: date = TODAY - timedelta(days=1),
) -> CloudEvent:
    job_id = job_id or uuid.uuid4()
    data = RequestStatement(
        job_id=job_id,
        account_id=account_id,
        start=start,
        end=TODAY + timedelta(days=1),
        priority=priority,
        not_before=not_before,
        requested_at=datetime.now(UTC),
    )
    return new_event(
        source="/tradewind/test",
        data=data,
        event_type=data.TYPE,
        subject=str(job_id),
        account_id=account_id,
    )


@pytest.fixture
async def worker(infra: Infra, orders_pool: asyncpg.Pool) -> AsyncIterator[Worker]:
    # A namespace of this module's own: its queues meet no other test's consumers.
    topology = Topology(f"{infra.namespace}.jobs-{uuid.uuid4().hex[:6]}", (100, 200, 400))
    broker = Broker(infra.amqp_url, topology, service="orders-jobs", max_attempts=MAX_ATTEMPTS)
    await broker.connect()
    store = JobStore(orders_pool)
    handler = StatementJobs(
        store=store,
        activities=FillActivities(orders_pool),
        topology=topology,
        max_attempts=MAX_ATTEMPTS,
        chunk_rows=1,  # a step per fill: progress is saved between them
    )
    try:
        yield Worker(broker, topology, handler, store)
    finally:
        await broker.close()
        await delete_namespace(infra.amqp_url, topology)


async def two_fills(desk: Desk, account_id: str) -> uuid.UUID:
    """A limit buy of 10 filled 4, then 6: a partial fill and a fill."""
    order_id = await desk.place(account_id, limit_price=Decimal("101"), qty=Decimal(10))
    await desk.quote(ask="100.5", ask_size="4")
    await desk.quote(ask="100.75", ask_size="100")
    assert (await desk.order(account_id, order_id)).status.value == "filled"
    return order_id


async def statement_rows(
    store: JobStore, account_id: str, job_id: uuid.UUID
) -> list[dict[str, str]]:
    found = await store.file(account_id, job_id)
    assert found is not None
    _, file = found
    assert file is not None
    return list(csv.DictReader(io.StringIO(file.decode())))


async def test_a_statement_lists_the_accounts_fills_oldest_first_with_their_figures(
    worker: Worker, desk: Desk, orders_pool: asyncpg.Pool
) -> None:
    account = new_account()
    order_id = await two_fills(desk, account)
    await desk.place(new_account(), limit_price=Decimal("101"))  # another account's order
    await worker.declare()
    await worker.start()
    job_id = await worker.request(account)

    job = await worker.finished(account, job_id)

    assert (job.status, job.progress, job.attempts, job.result_rows) == (
        JobStatus.SUCCEEDED,
        1.0,
        1,
        2,
    )
    rows = await statement_rows(worker.store, account, job_id)
    assert [(r["order_id"], r["qty"], r["cum_qty"], r["leaves_qty"], r["type"]) for r in rows] == [
        (str(order_id), "4", "4", "6", "partial_fill"),
        (str(order_id), "6", "10", "0", "fill"),
    ]
    assert [r["order_status"] for r in rows] == ["partially_filled", "filled"]
    event = await orders_pool.fetchrow(
        "SELECT body FROM outbox WHERE message_type = 'job.succeeded' "
        "AND convert_from(body, 'UTF8') LIKE '%' || $1 || '%'",
        str(job_id),
    )
    assert event is not None
    succeeded = CloudEvent.from_json(event["body"])
    assert (succeeded.subject, succeeded.accountid) == (str(job_id), account)
    assert succeeded.data["rows"] == 2
    assert succeeded.data["job"]["download_url"] == f"/api/v1/jobs/{job_id}/file"


async def test_a_high_priority_job_overtakes_the_normal_ones_waiting(worker: Worker) -> None:
    account = new_account()
    await worker.declare()
    # Everything is waiting before the worker takes anything: the order it starts them in is
    # the broker's priority order, not a race.
    normal = [await worker.request(account) for _ in range(4)]
    high = await worker.request(account, priority=JobPriority.HIGH)
    await worker.start()

    jobs = {job_id: await worker.finished(account, job_id) for job_id in [*normal, high]}

    assert all(job.status is JobStatus.SUCCEEDED for job in jobs.values())
    started = sorted(jobs, key=lambda job_id: jobs[job_id].started_at or datetime.max)
    assert started[0] == high
    assert started[1:] == normal  # the normal ones in the order they were requested


async def test_a_failing_job_is_retried_then_failed_with_its_error_and_parked(
    worker: Worker, orders_pool: asyncpg.Pool, infra: Infra
) -> None:
    account = new_account()
    await worker.declare()
    await worker.start()
    # A real failure of the store: the table a statement reads is not there.
    await orders_pool.execute("ALTER TABLE executions RENAME TO executions_away")
    try:
        job_id = await worker.request(account)
        job = await worker.finished(account, job_id)
    finally:
        await orders_pool.execute("ALTER TABLE executions_away RENAME TO executions")

    assert job.status is JobStatus.FAILED
    assert job.attempts == MAX_ATTEMPTS
    assert job.error is not None
    assert "executions" in job.error
    assert job.finished_at is not None

    async def parked() -> int:
        connection = await aio_pika.connect(infra.amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                jobs_queue(worker.topology).parking_lot, passive=True
            )
            return queue.declaration_result.message_count or 0
        finally:
            await connection.close()

    assert await eventually(parked, message="the failed job's command was not parked") == 1


async def test_a_job_whose_store_recovers_succeeds_on_a_retry(
    worker: Worker, orders_pool: asyncpg.Pool
) -> None:
    account = new_account()
    await worker.declare()
    await worker.start()
    await orders_pool.execute("ALTER TABLE executions RENAME TO executions_away")
    try:
        job_id = await worker.request(account)

        async def failed_once() -> Job | None:
            job = await worker.store.job(account, job_id)
            return job if job is not None and job.error is not None else None

        waiting = await eventually(failed_once, message="the first run never failed")
    finally:
        await orders_pool.execute("ALTER TABLE executions_away RENAME TO executions")
    assert waiting.status in {JobStatus.QUEUED, JobStatus.RUNNING}

    job = await worker.finished(account, job_id)

    assert job.status is JobStatus.SUCCEEDED
    assert job.attempts >= 2
    assert job.error is None


async def test_a_job_runs_at_its_not_before_and_waiting_costs_no_attempt(worker: Worker) -> None:
    account = new_account()
    await worker.declare()
    await worker.start()
    not_before = datetime.now(UTC) + timedelta(seconds=1.5)
    job_id = await worker.request(account, not_before=not_before)

    async def created() -> Job | None:
        return await worker.store.job(account, job_id)

    queued = await eventually(created, message="the job was never created")
    assert queued.status is JobStatus.QUEUED  # created at once, then deferred

    job = await worker.finished(account, job_id)

    assert job.status is JobStatus.SUCCEEDED
    assert job.started_at is not None
    assert job.started_at >= not_before
    assert job.attempts == 1


async def test_a_redelivered_job_command_makes_no_second_job(
    worker: Worker, orders_pool: asyncpg.Pool
) -> None:
    account = new_account()
    await worker.declare()
    job_id = await worker.request(account)
    await worker.request(account, job_id=job_id)  # the same job again, another message
    other = await worker.request(account)  # behind both: once it is done, so are they
    await worker.start()

    await worker.finished(account, other)

    job = await worker.store.job(account, job_id)
    assert job is not None
    assert job.status is JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert await orders_pool.fetchval("SELECT count(*) FROM jobs WHERE id = $1", job_id) == 1
    assert (
        await orders_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE message_type = 'job.succeeded' "
            "AND convert_from(body, 'UTF8') LIKE '%' || $1 || '%'",
            str(job_id),
        )
        == 1
    )
