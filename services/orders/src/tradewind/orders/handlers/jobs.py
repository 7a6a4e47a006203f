"""The statement job worker: consumes ``jobs.statement`` from the priority queue, one at a time.

Per message: create the job once (its id comes from the gateway, so a redelivery finds it),
skip it if it is finished, defer it through the delay tiers while it is not due
(``not_before``), else run it: the CSV is built a chunk of fills at a time (keyset, oldest
first), the progress saved after each chunk; the file, the status and ``job.succeeded`` are
written in one transaction. A run that raises is recorded on the job (``queued`` with its error,
or ``failed`` on the last attempt) and re-raised, so the broker retries it through the delay
tiers and parks it after the last attempt.
"""

from __future__ import annotations

import logging
import uuid

from tradewind.common.broker import Deferred, Delivery, PermanentFailure, Topology, handles
from tradewind.common.contracts import JobSucceeded, RequestStatement
from tradewind.common.contracts.types import utc_now
from tradewind.common.envelope import CloudEvent
from tradewind.common.outbox import OutboxMessage, event_message
from tradewind.orders.adapters.activities import ActivityCursor, FillActivities
from tradewind.orders.adapters.jobs import JobStore
from tradewind.orders.domain import jobs
from tradewind.orders.domain.jobs import Job
from tradewind.orders.handlers.events import EVENT_SOURCE

log = logging.getLogger(__name__)


class StatementJobs:
    def __init__(
        self,
        *,
        store: JobStore,
        activities: FillActivities,
        topology: Topology,
        max_attempts: int,
        chunk_rows: int,
    ) -> None:
        self.store = store
        self.activities = activities
        self.topology = topology
        self.max_attempts = max_attempts
        self.chunk_rows = chunk_rows

    @handles(RequestStatement)
    async def on_request(
        self, command: RequestStatement, event: CloudEvent, delivery: Delivery
    ) -> None:
        job = await self.store.create(
            jobs.new_statement_job(
                command.job_id,
                command.account_id,
                start=command.start,
                end=command.end,
                priority=command.priority,
                not_before=command.not_before,
                now=utc_now(),
            )
        )
        if job.account_id != command.account_id:
            raise PermanentFailure(f"job {job.id} belongs to another account")
        if job.finished:
            log.info("job already finished; nothing to do", extra={"job_id": str(job.id)})
            return
        wait = jobs.due_in(job, utc_now())
        if wait > 0:
            raise Deferred(wait, reason=f"job {job.id} runs at {job.not_before}")
        running = jobs.start_run(job, utc_now())
        if running is None:
            return
        await self.store.save(running)
        log.info(
            "statement job started",
            extra={"job_id": str(job.id), "attempt": delivery.attempt, "runs": running.attempts},
        )
        try:
            done, file = await self._build(running)
        except Exception as exc:
            last = delivery.attempt >= self.max_attempts
            await self.store.save(
                jobs.fail_run(running, _describe(exc), utc_now(), last_attempt=last)
            )
            raise
        await self.store.save_success(done, file, self._succeeded(done, event))
        log.info("statement job succeeded", extra={"job_id": str(job.id), "rows": done.result_rows})

    async def _build(self, job: Job) -> tuple[Job, bytes]:
        after, until = jobs.statement_window(job.start, job.end)
        total = await self.activities.count(job.account_id, after=after, until=until)
        parts = [jobs.statement_header()]
        cursor: ActivityCursor | None = None
        done = 0
        while True:
            page = await self.activities.page(
                job.account_id,
                limit=self.chunk_rows,
                cursor=cursor,
                after=after,
                until=until,
                direction="oldest_first",
            )
            parts.append(jobs.statement_lines(page.activities))
            done += len(page.activities)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
            job = jobs.advance(job, done, total, utc_now())
            await self.store.save(job)
        return jobs.succeed(job, done, utc_now()), "".join(parts).encode()

    def _succeeded(self, job: Job, cause: CloudEvent) -> OutboxMessage:
        return event_message(
            JobSucceeded(
                job=jobs.to_view(job), account_id=job.account_id, rows=job.result_rows or 0
            ),
            event_type=JobSucceeded.TYPE,
            source=EVENT_SOURCE,
            exchange=self.topology.events,
            time=utc_now(),
            subject=str(job.id),
            account_id=job.account_id,
            correlation_id=cause.correlationid or cause.id,
            causation_id=cause.id,
            # One event per job, however often a success is written again after a crash.
            event_id=str(uuid.uuid5(job.id, JobSucceeded.TYPE)),
        )


def _describe(error: Exception) -> str:
    """What the job's owner is told: the kind of failure, not a stack trace."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
