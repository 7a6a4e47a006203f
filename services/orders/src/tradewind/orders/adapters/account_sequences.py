"""Trade updates numbered per account, in the transaction that stages them.

Each account has one counter row (``account_sequences``). When a unit of work flushes, one
statement advances the counters of the accounts whose trade updates it staged, by how many it
staged, and returns the new values: the events are numbered from there, in staging order, and
only then encoded (a trade update is staged as a ``SequencedEvent``, not yet as bytes). The
numbered events are also kept, per account, in ``trade_updates`` (by the flush statement), so a
client that reconnects can read what it missed.

Why this gives 1, 2, 3, … per account without gaps or repeats, whatever runs concurrently:
advancing a counter locks its row until the transaction ends, so two transactions of one account
number their events one after the other, in commit order; a transaction that rolls back releases
its numbers with its lock, unused by anyone (so no gap). It is the last lock a transaction takes
(at flush, after the accounts' advisory locks, books, orders and positions), taken for all its
accounts in one statement in account order, so it cannot close a cycle with any other lock: the
only thing a transaction does while holding it is encode its events, write and commit. The cost
per event is one row update per account and transaction, whatever the account's history.

Encoding a large batch's events is the longest run of CPU work of a command batch, so it shares
the event loop (``TimeSlice``): the service's readiness probe and reads wait a slice, not the
batch's encoding, and the counters stay locked only that much longer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from tradewind.common.outbox import OutboxMessage
from tradewind.common.tasks import TimeSlice


class SequencedEvent(Protocol):
    """A trade update staged before its number is known; encoded once it is."""

    @property
    def account_id(self) -> str: ...

    def numbered(self, sequence: int) -> OutboxMessage:
        """The event as an outbox row, carrying ``sequence`` as its account sequence."""
        ...


StagedEvent = OutboxMessage | SequencedEvent


@dataclass(frozen=True)
class NumberedUpdate:
    """A trade update with its number: what ``trade_updates`` keeps of it."""

    position: int
    """Its place among the transaction's outbox rows (1-based): its body is that row's."""
    account_id: str
    sequence: int


async def number_events(
    connection: asyncpg.Connection, staged: Sequence[StagedEvent]
) -> tuple[list[OutboxMessage], list[NumberedUpdate]]:
    """The staged events as outbox rows, trade updates numbered per account (advancing and
    locking the accounts' counters), and where the numbered ones are among them."""
    wanted = Counter(event.account_id for event in staged if not isinstance(event, OutboxMessage))
    if not wanted:
        return [event for event in staged if isinstance(event, OutboxMessage)], []
    accounts = sorted(wanted)
    rows = await connection.fetch(_ADVANCE, accounts, [wanted[account] for account in accounts])
    next_sequence = {
        row["account_id"]: row["last_sequence"] - wanted[row["account_id"]] + 1 for row in rows
    }
    messages: list[OutboxMessage] = []
    numbered: list[NumberedUpdate] = []
    work = TimeSlice()
    for position, event in enumerate(staged, start=1):
        await work.share()
        if isinstance(event, OutboxMessage):
            messages.append(event)
            continue
        sequence = next_sequence[event.account_id]
        next_sequence[event.account_id] = sequence + 1
        messages.append(event.numbered(sequence))
        numbered.append(NumberedUpdate(position, event.account_id, sequence))
    return messages, numbered


# The rows are inserted (and so locked) in account order: two transactions of the same accounts
# take them in the same order. A new account's row is inserted; a concurrent insert of the same
# account waits for this one and then updates it.
_ADVANCE = """
    INSERT INTO account_sequences AS s (account_id, last_sequence, updated_at)
    SELECT account_id, staged, now()
    FROM unnest($1::text[], $2::bigint[]) AS wanted(account_id, staged)
    ORDER BY account_id
    ON CONFLICT (account_id) DO UPDATE
    SET last_sequence = s.last_sequence + EXCLUDED.last_sequence, updated_at = now()
    RETURNING account_id, last_sequence
"""
