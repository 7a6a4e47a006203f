"""The delivery worker: claims due deliveries, sends them concurrently, hands over each outcome.

Concurrency is bounded twice: ``max_in_flight`` attempts per process, and ``endpoint_concurrency``
attempts per endpoint across all processes (enforced by the claim), so an endpoint that hangs holds
at most its own few slots and never delays deliveries to healthy endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from opentelemetry import propagate, trace

from tradewind.common.wakeups import NotifyWakeup
from tradewind.webhooks import metrics
from tradewind.webhooks.adapters.reads import WebhookReads
from tradewind.webhooks.adapters.records import DELIVERIES_CHANNEL, DeliveryJob
from tradewind.webhooks.adapters.secret_box import SecretBox
from tradewind.webhooks.adapters.sender import Sender, injected_failure
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork
from tradewind.webhooks.domain.delivery_rules import signing_secrets
from tradewind.webhooks.domain.signing import build_headers
from tradewind.webhooks.handlers.outcomes import OutcomeRecorder

log = logging.getLogger(__name__)
tracer = trace.get_tracer("tradewind.webhooks")

_PURGE_EVERY_S = 3600.0


@dataclass(frozen=True)
class DispatchPolicy:
    max_in_flight: int
    endpoint_concurrency: int
    batch_size: int
    poll_interval_s: float
    lease: timedelta
    retention: timedelta


class Dispatcher:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        sender: Sender,
        recorder: OutcomeRecorder,
        policy: DispatchPolicy,
        listen_dsn: str | None,
        secret_box: SecretBox,
    ) -> None:
        self.secret_box = secret_box
        self.pool = pool
        self.reads = WebhookReads(pool)
        self.sender = sender
        self.recorder = recorder
        self.policy = policy
        self._wakeup = NotifyWakeup(listen_dsn, DELIVERIES_CHANNEL)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._last_purge = time.monotonic()

    # --- the claim loop ---

    async def run(self) -> None:
        self.recorder.start()
        await self._wakeup.listen()
        try:
            while True:
                self._wakeup.clear()
                if await self._claim_pass():
                    continue  # a full batch: more may be due right now
                await self._purge_if_due()
                await self._wakeup.wait(await self._idle_timeout())
        finally:
            await self._wakeup.close()

    async def drain(self, grace_s: float) -> None:
        """After ``run`` was cancelled: let attempts in flight finish, then cancel the rest.

        A cancelled attempt keeps its lease until it expires; then it is simply tried again.
        """
        if self._in_flight:
            _done, pending = await asyncio.wait(self._in_flight, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.recorder.stop()

    async def _claim_pass(self) -> bool:
        """Claim what fits into the free slots; True if the claim came back full."""
        free = self.policy.max_in_flight - len(self._in_flight)
        if free <= 0:
            return False
        limit = min(free, self.policy.batch_size)
        try:
            async with WebhooksUnitOfWork.begin(self.pool) as unit:
                jobs = await unit.claim(
                    limit=limit,
                    per_endpoint=self.policy.endpoint_concurrency,
                    lease=self.policy.lease,
                )
        except Exception:
            log.exception("claiming deliveries failed")
            return False
        for job in jobs:
            task = asyncio.create_task(self._deliver(job), name=f"deliver {job.delivery_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        metrics.IN_FLIGHT.set(len(self._in_flight))
        return len(jobs) == limit

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        metrics.IN_FLIGHT.set(len(self._in_flight))
        # A freed slot (and a freed per-endpoint slot) may let a waiting delivery go.
        self._wakeup.set()

    async def _idle_timeout(self) -> float:
        timeout = self.policy.poll_interval_s
        if len(self._in_flight) >= self.policy.max_in_flight:
            return timeout
        try:
            next_due = await self.reads.seconds_until_next_due()
        except Exception:
            log.exception("reading the next retry time failed")
            return timeout
        if next_due is not None:
            timeout = min(timeout, max(next_due, 0.0))
        return timeout

    async def _purge_if_due(self) -> None:
        if time.monotonic() - self._last_purge < _PURGE_EVERY_S:
            return
        self._last_purge = time.monotonic()
        try:
            async with WebhooksUnitOfWork.begin(self.pool) as unit:
                purged = await unit.purge_finished(self.policy.retention)
        except Exception:
            log.exception("purging finished messages failed")
            return
        if purged:
            log.info("purged finished messages", extra={"messages": purged})

    # --- one attempt ---

    async def _deliver(self, job: DeliveryJob) -> None:
        parent = propagate.extract(dict(job.trace_headers))
        with tracer.start_as_current_span(
            "webhook deliver", context=parent, kind=trace.SpanKind.CLIENT
        ) as span:
            span.set_attribute("webhook.endpoint_id", job.endpoint_id)
            span.set_attribute("webhook.message_id", job.message_id)
            span.set_attribute("webhook.attempt", job.attempt_number)
            now = datetime.now(UTC)
            previous = job.previous_secret
            secrets = signing_secrets(
                self.secret_box.open(job.secret),
                self.secret_box.open(previous) if previous is not None else None,
                job.previous_secret_expires_at,
                now,
            )
            headers = build_headers(secrets, job.message_id, int(now.timestamp()), job.payload)
            outcome = injected_failure(job.account_id) or await self.sender.post(
                job.url, job.payload, headers
            )
            if outcome.result.status_code is not None:
                span.set_attribute("http.response.status_code", outcome.result.status_code)
            metrics.ATTEMPT_SECONDS.observe(outcome.duration_ms / 1000)
            metrics.ATTEMPTS.labels(
                outcome="succeeded" if outcome.result.succeeded else "failed"
            ).inc()
            await self.recorder.record(job, outcome)

    # --- wake-ups ---
