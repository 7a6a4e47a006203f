"""What one attempt's outcome changes: the delivery, its attempt row, the endpoint's health
(circuit breaker, disabling) and the events that follow, all in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from tradewind.common.envelope import event_source, new_event
from tradewind.common.outbox import outbox_message
from tradewind.common.resilience import RetryPolicy, retry_async
from tradewind.webhooks import metrics
from tradewind.webhooks.adapters.records import DeliveryJob, EndpointState, Success
from tradewind.webhooks.adapters.sender import SendOutcome
from tradewind.webhooks.adapters.success_batcher import SuccessBatcher
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork
from tradewind.webhooks.domain.delivery_rules import (
    AttemptResult,
    BreakerPolicy,
    DeliveryDecision,
    DeliveryStatus,
    EndpointHealth,
    decide_delivery,
    disable_reason,
    next_health,
)
from tradewind.webhooks.domain.events import WebhookEndpointDisabled, WebhookMessageFailed

log = logging.getLogger(__name__)

EVENT_SOURCE = event_source("webhooks")
# Recording an outcome is worth a few quick retries: giving up means the lease expires and the
# partner receives the same webhook-id again.
_RECORD_RETRY = RetryPolicy(attempts=4, initial=0.2, maximum=2.0, jitter=0.2)
_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class OutcomePolicy:
    schedule: tuple[timedelta, ...]
    breaker: BreakerPolicy
    disable_after: timedelta


class OutcomeRecorder:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        failures_pool: asyncpg.Pool,
        events_exchange: str,
        policy: OutcomePolicy,
    ) -> None:
        # Successes are batched on the hot path's pool; anything else is rare and takes an
        # endpoint row lock, so it waits on a pool of its own rather than holding hot ones.
        self.failures_pool = failures_pool
        self.events_exchange = events_exchange
        self.policy = policy
        self._successes = SuccessBatcher(pool)

    def start(self) -> None:
        self._successes.start()

    async def stop(self) -> None:
        await self._successes.stop()

    async def record(self, job: DeliveryJob, outcome: SendOutcome) -> None:
        try:
            await retry_async(
                _RECORD_RETRY,
                lambda: self._record(job, outcome),
                retry_on=_DATABASE_ERRORS,
                name="record webhook attempt",
            )
        except Exception:
            log.exception(
                "could not record an attempt; it will be repeated when the lease expires",
                extra={"delivery_id": job.delivery_id, "message_id": job.message_id},
            )

    async def _record(self, job: DeliveryJob, outcome: SendOutcome) -> None:
        result = outcome.result
        if result.succeeded and job.endpoint_was_healthy and result.status_code is not None:
            await self._record_success(job, outcome, result.status_code)
            return
        async with WebhooksUnitOfWork.begin(self.failures_pool) as unit:
            state = await unit.endpoint_state(job.endpoint_id, lock=False)
            if state is None:
                return  # the endpoint was deleted, and its deliveries with it
            health, reason = self._judge(state, result)
            changes_endpoint = health != state.health or reason is not None
            if changes_endpoint:
                # Judge again under the row lock, on the state the previous outcome left. The
                # common case (a success at a healthy endpoint) takes no lock at all.
                state = await unit.endpoint_state(job.endpoint_id, lock=True)
                if state is None:
                    return
                health, reason = self._judge(state, result)
            decision = decide_delivery(
                result,
                attempt_in_round=job.attempt_in_round,
                schedule=self.policy.schedule,
                now=state.now,
            )
            if not await unit.finish(job, decision, state.now):
                log.warning(
                    "lease lost before the attempt was recorded; another process owns it",
                    extra={"delivery_id": job.delivery_id, "message_id": job.message_id},
                )
                return
            await unit.add_attempt(
                job,
                result,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                response_body=outcome.response_body,
            )
            if changes_endpoint:
                await unit.save_health(job.endpoint_id, health, disabled_reason=reason)
            if decision.status is DeliveryStatus.FAILED:
                self._emit_message_failed(unit, job, outcome, state)
            if reason is not None:
                self._emit_endpoint_disabled(unit, job, state, reason)
        self._log_outcome(job, outcome, decision, reason)

    async def _record_success(
        self, job: DeliveryJob, outcome: SendOutcome, status_code: int
    ) -> None:
        # Leaves the endpoint row alone: if another attempt failed meanwhile, the endpoint stays
        # marked failing until a delivery claimed after that failure succeeds (and resets it).
        recorded = await self._successes.record(
            Success(
                job=job,
                status_code=status_code,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                response_body=outcome.response_body,
            )
        )
        if not recorded:
            log.warning(
                "attempt not recorded: the lease was lost or the endpoint deleted meanwhile",
                extra={"delivery_id": job.delivery_id, "message_id": job.message_id},
            )
            return
        metrics.DELIVERIES_FINISHED.labels(status=DeliveryStatus.SUCCEEDED.value).inc()

    def _judge(
        self, state: EndpointState, result: AttemptResult
    ) -> tuple[EndpointHealth, str | None]:
        health = next_health(state.health, result, state.now, self.policy.breaker)
        reason = (
            disable_reason(result, health, state.now, self.policy.disable_after)
            if state.enabled
            else None
        )
        return health, reason

    def _emit_message_failed(
        self, unit: WebhooksUnitOfWork, job: DeliveryJob, outcome: SendOutcome, state: EndpointState
    ) -> None:
        data = WebhookMessageFailed(
            account_id=job.account_id,
            endpoint_id=job.endpoint_id,
            message_id=job.message_id,
            event_id=job.event_id,
            event_type=job.event_type,
            attempts=job.attempt_number,
            last_status_code=outcome.result.status_code,
            last_error=outcome.result.error,
            failed_at=state.now,
        )
        self._emit(unit, data, WebhookMessageFailed.TYPE, job)

    def _emit_endpoint_disabled(
        self, unit: WebhooksUnitOfWork, job: DeliveryJob, state: EndpointState, reason: str
    ) -> None:
        data = WebhookEndpointDisabled(
            account_id=job.account_id,
            endpoint_id=job.endpoint_id,
            reason=reason,
            failing_since=state.health.failing_since or state.now,
            disabled_at=state.now,
        )
        self._emit(unit, data, WebhookEndpointDisabled.TYPE, job)

    def _emit(
        self,
        unit: WebhooksUnitOfWork,
        data: WebhookMessageFailed | WebhookEndpointDisabled,
        event_type: str,
        job: DeliveryJob,
    ) -> None:
        event = new_event(
            source=EVENT_SOURCE,
            data=data,
            event_type=event_type,
            subject=job.endpoint_id,
            account_id=job.account_id,
            causation_id=job.event_id,
        )
        unit.add_event(outbox_message(event, exchange=self.events_exchange))

    def _log_outcome(
        self,
        job: DeliveryJob,
        outcome: SendOutcome,
        decision: DeliveryDecision,
        reason: str | None,
    ) -> None:
        context = {
            "endpoint_id": job.endpoint_id,
            "message_id": job.message_id,
            "attempt": job.attempt_number,
            "status_code": outcome.result.status_code,
            "error": outcome.result.error,
            "duration_ms": outcome.duration_ms,
            "delivery_status": decision.status.value,
        }
        if decision.status is not DeliveryStatus.PENDING:
            metrics.DELIVERIES_FINISHED.labels(status=decision.status.value).inc()
        if decision.status is DeliveryStatus.FAILED:
            log.warning("webhook delivery failed for good", extra=context)
        elif decision.status is DeliveryStatus.PENDING:
            log.info("webhook attempt failed; retry scheduled", extra=context)
        else:
            log.debug("webhook delivered", extra=context)
        if reason is not None:
            metrics.ENDPOINTS_DISABLED.inc()
            log.warning("webhook endpoint disabled", extra={**context, "reason": reason})
