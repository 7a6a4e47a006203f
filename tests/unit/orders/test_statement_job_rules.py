"""Statement jobs, pure: a fill's figures as of that fill, the CSV, the job's state machine."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradewind.common.contracts.jobs import (
    JobPriority,
    JobStatus,
    RequestStatement,
    job_file_path,
)
from tradewind.common.contracts.types import OrderStatus, Side
from tradewind.orders.domain import jobs
from tradewind.orders.domain.activities import FillRecord, FillType, fill_activity

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


def record(qty: str, cum: str, order_qty: str = "10", price: str = "100.25") -> FillRecord:
    return FillRecord(
        execution_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        symbol="AAPL",
        side=Side.BUY,
        qty=Decimal(qty),
        price=Decimal(price),
        executed_at=NOW,
        order_qty=Decimal(order_qty),
        cum_qty=Decimal(cum),
    )


def a_job(**changes: object) -> jobs.Job:
    job = jobs.new_statement_job(
        uuid.uuid4(),
        "acme",
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        priority=JobPriority.NORMAL,
        not_before=None,
        now=NOW,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def test_a_fill_that_leaves_some_of_the_order_is_a_partial_fill() -> None:
    activity = fill_activity(record("4", "4"))
    assert activity.leaves_qty == Decimal(6)
    assert activity.type is FillType.PARTIAL_FILL
    assert activity.order_status is OrderStatus.PARTIALLY_FILLED


def test_the_fill_that_completes_the_order_is_a_fill_with_nothing_left() -> None:
    activity = fill_activity(record("6", "10"))
    assert activity.leaves_qty == 0
    assert activity.type is FillType.FILL
    assert activity.order_status is OrderStatus.FILLED


def test_statement_csv_has_a_header_and_one_line_per_fill_in_the_given_order() -> None:
    fills = [fill_activity(record("4", "4")), fill_activity(record("6", "10", price="1E+1"))]
    text = jobs.statement_header() + jobs.statement_lines(fills)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == jobs.STATEMENT_COLUMNS
    assert [row["id"] for row in rows] == [str(fill.id) for fill in fills]
    assert rows[0]["type"] == "partial_fill"
    assert rows[1]["type"] == "fill"
    assert rows[1]["price"] == "10"  # positional, never an exponent
    assert rows[0]["transaction_time"] == "2026-12-04T15:00:00Z"
    assert text.endswith("\r\n")  # RFC 4180 line ends


def test_a_statement_covers_its_days_in_utc_end_included() -> None:
    after, until = jobs.statement_window(date(2026, 3, 1), date(2026, 3, 31))
    assert after == datetime(2026, 3, 1, tzinfo=UTC)
    assert until == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_run_counts_an_attempt_and_restarts_the_progress() -> None:
    running = jobs.start_run(a_job(progress=0.5, attempts=1, status=JobStatus.QUEUED), NOW)
    assert running is not None
    assert (running.status, running.attempts, running.progress) == (JobStatus.RUNNING, 2, 0.0)
    assert running.started_at == NOW


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_a_finished_job_never_runs_again(status: JobStatus) -> None:
    assert jobs.start_run(a_job(status=status), NOW) is None


def test_progress_stays_below_one_until_the_job_succeeds() -> None:
    running = jobs.start_run(a_job(), NOW)
    assert running is not None
    assert jobs.advance(running, 1, 4, NOW).progress == 0.25
    assert jobs.advance(running, 4, 4, NOW).progress < 1
    assert jobs.advance(running, 0, 0, NOW).progress == 0
    done = jobs.succeed(running, 4, NOW)
    assert (done.status, done.progress, done.result_rows) == (JobStatus.SUCCEEDED, 1.0, 4)
    assert jobs.to_view(done).download_url == job_file_path(done.id)
    assert jobs.to_view(running).download_url is None


def test_a_failed_run_is_queued_again_with_its_error_until_the_last_attempt() -> None:
    running = jobs.start_run(a_job(), NOW)
    assert running is not None
    retried = jobs.fail_run(running, "boom", NOW, last_attempt=False)
    assert (retried.status, retried.error, retried.finished_at) == (JobStatus.QUEUED, "boom", None)
    failed = jobs.fail_run(running, "x" * 2000, NOW, last_attempt=True)
    assert failed.status is JobStatus.FAILED
    assert failed.finished_at == NOW
    assert failed.error is not None
    assert len(failed.error) == jobs.MAX_ERROR_CHARS


def test_a_job_is_due_at_its_not_before() -> None:
    assert jobs.due_in(a_job(), NOW) == 0
    later = a_job(not_before=NOW + timedelta(seconds=90))
    assert jobs.due_in(later, NOW) == 90
    assert jobs.due_in(later, NOW + timedelta(seconds=120)) == 0


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-02-01", "2026-01-31"), ("2025-01-01", "2026-01-02"), ("1735689600", "2026-01-02")],
)
def test_a_statement_command_covers_a_year_at_most(start: str, end: str) -> None:
    with pytest.raises(ValidationError):
        RequestStatement.model_validate(
            {
                "job_id": str(uuid.uuid4()),
                "account_id": "acme",
                "start": start,
                "end": end,
                "requested_at": "2026-12-04T00:00:00Z",
            }
        )


def test_a_leap_year_is_a_statement() -> None:
    command = RequestStatement.model_validate(
        {
            "job_id": str(uuid.uuid4()),
            "account_id": "acme",
            "start": "2024-01-01",
            "end": "2024-12-31",
            "requested_at": "2026-12-04T00:00:00Z",
        }
    )
    assert command.priority is JobPriority.NORMAL
    assert JobPriority.HIGH.amqp > JobPriority.NORMAL.amqp
