"""Background jobs: the job's state machine and the statement file, pure.

A job is created ``queued`` when its command is first consumed, becomes ``running`` when a run
starts (every run counts an attempt), and ends ``succeeded`` or ``failed``. A run that fails
while retries remain puts it back to ``queued`` with the error kept; the last one fails it.
A finished job never runs again, whatever the broker redelivers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from tradewind.common.contracts.jobs import (
    JobKind,
    JobPriority,
    JobStatus,
    JobView,
    job_file_path,
)
from tradewind.orders.domain.activities import FillActivity

FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Job:
    id: UUID
    account_id: str
    kind: JobKind
    priority: JobPriority
    start: date
    end: date
    status: JobStatus
    progress: float
    attempts: int
    created_at: datetime
    updated_at: datetime
    not_before: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result_rows: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def new_statement_job(
    job_id: UUID,
    account_id: str,
    *,
    start: date,
    end: date,
    priority: JobPriority,
    not_before: datetime | None,
    now: datetime,
) -> Job:
    return Job(
        id=job_id,
        account_id=account_id,
        kind=JobKind.STATEMENT,
        priority=priority,
        start=start,
        end=end,
        status=JobStatus.QUEUED,
        progress=0.0,
        attempts=0,
        created_at=now,
        updated_at=now,
        not_before=not_before,
    )


def due_in(job: Job, now: datetime) -> float:
    """Seconds until the job may run (0 when it may run now)."""
    if job.not_before is None:
        return 0.0
    return max((job.not_before - now).total_seconds(), 0.0)


def start_run(job: Job, now: datetime) -> Job | None:
    """The job running again from the start, one attempt more; None once it is finished.

    A job found ``running`` was cut off (its process died before settling the message): it
    starts over, since a run writes nothing but its progress until it succeeds.
    """
    if job.finished:
        return None
    return replace(
        job,
        status=JobStatus.RUNNING,
        attempts=job.attempts + 1,
        progress=0.0,
        started_at=now,
        updated_at=now,
    )


def advance(job: Job, done: int, total: int, now: datetime) -> Job:
    """Progress after ``done`` of ``total`` units of work (capped below 1 until success)."""
    share = 0.0 if total <= 0 else min(done / total, 1.0)
    return replace(job, progress=min(share, 0.99), updated_at=now)


def succeed(job: Job, rows: int, now: datetime) -> Job:
    return replace(
        job,
        status=JobStatus.SUCCEEDED,
        progress=1.0,
        finished_at=now,
        updated_at=now,
        error=None,
        result_rows=rows,
    )


def fail_run(job: Job, error: str, now: datetime, *, last_attempt: bool) -> Job:
    """After a failed run: ``failed`` on the last attempt, else ``queued`` for the retry."""
    message = error[:MAX_ERROR_CHARS]
    if last_attempt:
        return replace(job, status=JobStatus.FAILED, finished_at=now, updated_at=now, error=message)
    return replace(job, status=JobStatus.QUEUED, updated_at=now, error=message)


def to_view(job: Job) -> JobView:
    """The job as its owner sees it (the API's answer, the event's payload)."""
    return JobView(
        id=job.id,
        kind=job.kind,
        status=job.status,
        progress=job.progress,
        priority=job.priority,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        attempts=job.attempts,
        error=job.error,
        download_url=job_file_path(job.id) if job.status is JobStatus.SUCCEEDED else None,
        start=job.start,
        end=job.end,
    )


# --- statements ---


def statement_window(start: date, end: date) -> tuple[datetime, datetime]:
    """The instants a statement covers: from ``start`` 00:00 UTC to the end of ``end``
    (exclusive bound: ``end`` + 1 day at 00:00 UTC)."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


STATEMENT_COLUMNS: tuple[str, ...] = (
    "activity_type",
    "id",
    "transaction_time",
    "type",
    "order_id",
    "symbol",
    "side",
    "qty",
    "price",
    "cum_qty",
    "leaves_qty",
    "order_status",
)


def statement_header() -> str:
    return _csv_lines([STATEMENT_COLUMNS])


def statement_lines(activities: Sequence[FillActivity]) -> str:
    """CSV lines (RFC 4180, CRLF) of ``activities``, in the order given."""
    return _csv_lines(
        [
            (
                activity.activity_type.value,
                str(activity.id),
                _rfc3339(activity.transaction_time),
                activity.type.value,
                str(activity.order_id),
                activity.symbol,
                activity.side.value,
                _plain(activity.qty),
                _plain(activity.price),
                _plain(activity.cum_qty),
                _plain(activity.leaves_qty),
                activity.order_status.value,
            )
            for activity in activities
        ]
    )


def _plain(value: Decimal) -> str:
    # Positional notation always: str() writes a NUMERIC of 10 with scale -1 as "1E+1".
    return format(value, "f")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _csv_lines(rows: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()
