"""Background jobs: the command that asks for one, the event that says it is done, and the job as
its owner sees it (the public API's shape, shared by the gateway and the orders service).

A job command goes to a priority queue (classic, ``x-max-priority``), so its ``priority`` is also
the AMQP priority it is published with (``JobPriority.amqp``).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tradewind.common.contracts.orders import Contract
from tradewind.common.contracts.types import AccountId, UtcDateTime

EARLIEST_STATEMENT_DATE = date(2000, 1, 1)
LATEST_STATEMENT_DATE = date(2100, 12, 31)
LONGEST_STATEMENT_DAYS = 366
"""A statement covers at most a year (a leap year's 366 days, both ends included)."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _iso_date(value: Any) -> Any:
    # Pydantic also reads a number as a Unix timestamp and a date-time as a date: a client
    # means neither by a date.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


StatementDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    Field(
        ge=EARLIEST_STATEMENT_DATE,
        le=LATEST_STATEMENT_DATE,
        description="A UTC date (YYYY-MM-DD), 2000-01-01 to 2100-12-31.",
        json_schema_extra={
            "formatMinimum": EARLIEST_STATEMENT_DATE.isoformat(),
            "formatMaximum": LATEST_STATEMENT_DATE.isoformat(),
        },
    ),
]


class JobPriority(StrEnum):
    NORMAL = "normal"
    HIGH = "high"

    @property
    def amqp(self) -> int:
        """The message priority on the jobs queue (declared with ``MAX_JOB_PRIORITY``)."""
        return _AMQP_PRIORITY[self]


_AMQP_PRIORITY = {JobPriority.NORMAL: 1, JobPriority.HIGH: 2}
MAX_JOB_PRIORITY = max(_AMQP_PRIORITY.values())
"""RabbitMQ keeps one internal queue per level: two levels are all the API offers."""


class JobKind(StrEnum):
    STATEMENT = "statement"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def job_file_path(job_id: UUID) -> str:
    """Where the public API serves a finished job's file."""
    return f"/api/v1/jobs/{job_id}/file"


# --- commands (exchange: <ns>.commands, routing key = TYPE) ---


class RequestStatement(Contract):
    """Build the account's statement (a CSV of its activities) from ``start`` to ``end``, both
    UTC dates included, no earlier than ``not_before``. The gateway names the job."""

    TYPE: ClassVar[str] = "jobs.statement"

    job_id: UUID
    account_id: AccountId
    start: StatementDate
    end: StatementDate
    priority: JobPriority = JobPriority.NORMAL
    not_before: UtcDateTime | None = None
    requested_at: UtcDateTime

    @model_validator(mode="after")
    def _a_year_at_most(self) -> RequestStatement:
        problem = statement_range_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        return self


# --- the job, and its events (exchange: <ns>.events, routing key = TYPE) ---


class JobView(BaseModel):
    """A job as its owner sees it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: UUID
    kind: JobKind
    status: JobStatus
    progress: float = Field(ge=0, le=1, description="Share of the work done, 0 to 1.")
    priority: JobPriority
    created_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    attempts: int = Field(ge=0, description="Runs started so far (a retry is another run).")
    error: str | None = Field(default=None, description="Why the last run failed, if it did.")
    download_url: str | None = Field(
        default=None, description="Where the file is, once the job succeeded (a path of this API)."
    )
    start: date | None = Field(default=None, description="A statement's first day (UTC).")
    end: date | None = Field(default=None, description="A statement's last day (UTC).")


class JobSucceeded(Contract):
    TYPE: ClassVar[str] = "job.succeeded"

    job: JobView
    account_id: str
    rows: int = Field(ge=0, description="Lines of data in the file (the header not counted).")


def statement_range_problem(start: date, end: date) -> str | None:
    """What is wrong with a statement from ``start`` to ``end`` (both included), if anything."""
    if end < start:
        return "end is before start"
    if (end - start + timedelta(days=1)).days > LONGEST_STATEMENT_DAYS:
        return f"a statement covers at most {LONGEST_STATEMENT_DAYS} days"
    return None
