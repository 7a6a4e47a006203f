"""The orders fault flags, applied at the start of each command batch (docs/operations.md, Flags).

``orders.commandDelayMs``: the batch waits that long before it is handled, when one of its
commands' accounts has a delay (the batch is one transaction: its other commands wait too).
``orders.commandFailureShare``: that share of the commands fails before being applied and takes
the retry path (delay tiers, then the parking lot after the last attempt), as a command whose
transaction failed would. Both read per account, so a rule can aim them at some accounts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tradewind.common import flags
from tradewind.common.flags import Fault

# A typo in the file (seconds for milliseconds) must not stall the consumer for hours.
MAX_DELAY_MS = 60_000


class InjectedCommandFailure(RuntimeError):
    """The fault flag orders.commandFailureShare failed this command; it is retried."""


async def command_faults(commands: Sequence[tuple[int, str]]) -> dict[int, Exception]:
    """Wait out the batch's delay, then draw the failures: the failed commands' positions.

    ``commands``: each command's position in its batch and its account.
    """
    delay_ms = max(
        (flags.fault_delay_ms(Fault.ORDERS_COMMAND_DELAY_MS, account=a) for _, a in commands),
        default=0,
    )
    if delay_ms:
        await asyncio.sleep(min(delay_ms, MAX_DELAY_MS) / 1000)
    return {
        position: InjectedCommandFailure(
            "failed by the fault flag orders.commandFailureShare; it will be retried"
        )
        for position, account in commands
        if flags.fault_fires(Fault.ORDERS_COMMAND_FAILURE_SHARE, account=account)
    }
