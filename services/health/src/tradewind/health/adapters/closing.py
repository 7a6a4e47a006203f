"""Closing an AMQP connection or channel that may already be dead, without waiting on it long.

The probes drop a stale connection and the queue reader its channel; either may hang or fail
on a broker that went away, and neither close may hold up the next check.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def close_quietly(closable: Any, *, within_s: float, failure: str) -> None:
    """Close ``closable``; a failure, or no answer within ``within_s``, is logged at debug as
    ``failure``."""
    try:
        async with asyncio.timeout(within_s):
            await closable.close()
    except Exception as exc:
        log.debug(failure, extra={"error": repr(exc)})
