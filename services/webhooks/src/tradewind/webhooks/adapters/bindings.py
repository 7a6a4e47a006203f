"""The events queue's topic bindings follow the endpoints' subscriptions.

The queue is bound only to the patterns some enabled endpoint's filters need, so every other
event passes us by in the broker instead of being written to our quorum queue, delivered, parsed
and looked up only to be discarded. Bindings are broker state every webhooks process shares, so
one reconcile runs at a time, under a PostgreSQL advisory lock: it reads the enabled endpoints,
binds what is missing, unbinds what is no longer needed and records the result in
``event_bindings``. A process that changes an endpoint reconciles after its commit; whichever
reconcile runs last under the lock sees that commit, so an unbind racing with a creation cannot
lose the creator's binding.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from tradewind.common.broker import QueueBinder, QueueSpec
from tradewind.common.tasks import run_every
from tradewind.webhooks.adapters.unit_of_work import WebhooksUnitOfWork
from tradewind.webhooks.domain.delivery_rules import (
    BindingChanges,
    binding_changes,
    binding_patterns,
)

log = logging.getLogger(__name__)


class EventBindings:
    """Keeps ``queue``'s bindings on ``exchange`` equal to what the enabled endpoints need."""

    def __init__(
        self, pool: asyncpg.Pool, broker: QueueBinder, *, queue: QueueSpec, exchange: str
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.queue = queue
        self.exchange = exchange
        # What this process bound and has not unbound: its broker client re-applies exactly
        # these after a reconnect (see Broker.bind).
        self._bound_here: set[str] = set()
        # One reconcile per process waits on the advisory lock, not one per API request, each
        # holding a pooled connection while it waits.
        self._one_at_a_time = asyncio.Lock()

    async def reconcile(self, *, rebind_all: bool = False) -> BindingChanges:
        """Bind and unbind so the queue has exactly the bindings the enabled endpoints need.

        ``rebind_all`` binds every required pattern again, recorded or not, for a queue that may
        have been deleted and declared again without them (at start-up and periodically).
        """
        async with self._one_at_a_time, WebhooksUnitOfWork.begin(self.pool) as unit:
            await unit.lock_bindings()
            required = binding_patterns(await unit.subscribed_filters())
            recorded = await unit.recorded_bindings()
            changes = binding_changes(
                required=required,
                recorded=recorded,
                bound_here=frozenset(self._bound_here),
                rebind_all=rebind_all,
            )
            # Bind first: a type that moves from one pattern to another is never unrouted.
            for pattern in sorted(changes.bind):
                await self.broker.bind(self.queue, self.exchange, pattern)
                self._bound_here.add(pattern)
            for pattern in sorted(changes.unbind):
                await self.broker.unbind(self.queue, self.exchange, pattern)
                self._bound_here.discard(pattern)
            # A failure above leaves the record as it was; bind and unbind are idempotent, so
            # the next reconcile repeats what this one did not finish.
            await unit.record_bindings(required)
        if required != recorded:
            log.info(
                "event bindings changed",
                extra={"queue": self.queue.name, "bindings": sorted(required)},
            )
        return changes

    async def keep_reconciled(self, interval_s: float) -> None:
        """Reconcile every ``interval_s`` (after a first wait: start-up has just reconciled).

        This catches what no API call announces: endpoints the delivery outcomes disabled (410,
        failing too long), and bindings lost with a queue that was deleted and declared again.
        """
        await asyncio.sleep(interval_s)
        await run_every(
            interval_s, "webhooks-event-bindings", lambda: self.reconcile(rebind_all=True)
        )
