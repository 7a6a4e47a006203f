"""Run-time feature and fault flags: OpenFeature over a watched flagd JSON file.

Services read flags through this small typed API, never through OpenFeature directly::

    from tradewind.common import flags

    if not flags.enabled(flags.Feature.GATEWAY_ORDER_ENTRY_ENABLED, account=id, default=True):
        ...
    if flags.fault_fires(flags.Fault.ORDERS_COMMAND_FAILURE_SHARE, account=id):
        ...

The evaluation context is the account (``targetingKey``, what per-account rules and
``fractional`` rollouts use) and the service (attribute ``service``, set once at start). Values
are memoized until the file changes, so reading a flag on a hot path costs a dictionary lookup.
Each service's app starts the source from its settings (``configured``); without
TRADEWIND_FLAGS_FILE every flag is at its default, which is off for every fault.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from openfeature import api

from tradewind.common.flags.evaluator import FlagEvaluator
from tradewind.common.flags.faults import FaultLog
from tradewind.common.flags.names import KNOWN_FLAGS, Fault, Feature, Flag
from tradewind.common.flags.source import DOMAIN, FlagsFileError, FlagsSource
from tradewind.common.settings import SharedSettings

__all__ = [
    "KNOWN_FLAGS",
    "Fault",
    "Feature",
    "Flag",
    "FlagsFileError",
    "amount",
    "configured",
    "enabled",
    "fault_delay_ms",
    "fault_fires",
    "fault_on",
    "share",
]

_evaluator = FlagEvaluator(api.get_client(DOMAIN))
_source = FlagsSource(_evaluator)
_faults = FaultLog()


@contextmanager
def configured(service: str, shared: SharedSettings) -> Iterator[None]:
    """The flags of TRADEWIND_FLAGS_FILE, watched, while the service runs."""
    with _source.watching(shared.flags_file, service=service, poll_ms=shared.flags_poll_ms):
        yield


def enabled(flag: Flag, *, account: str | None = None, default: bool = False) -> bool:
    """A boolean flag, for ``account`` when given."""
    return _evaluator.boolean(flag, default=default, account=account)


def share(flag: Flag, *, account: str | None = None) -> float:
    """A share flag (0 to 1; a value outside is clamped), for ``account`` when given."""
    return min(1.0, max(0.0, _evaluator.number(flag, default=0.0, account=account)))


def amount(flag: Flag, *, account: str | None = None) -> int:
    """A non-negative integer flag (a delay in milliseconds), for ``account`` when given."""
    return max(0, _evaluator.integer(flag, default=0, account=account))


def fault_on(fault: Fault, *, account: str | None = None) -> bool:
    """Whether a boolean fault is on; counted and logged when it is."""
    on = _evaluator.boolean(fault, default=False, account=account)
    if on:
        _faults.fired(fault, account=account)
    return on


def fault_fires(fault: Fault, *, account: str | None = None) -> bool:
    """A draw against a share fault: True for that share of the calls; counted and logged."""
    chance = share(fault, account=account)
    fires = chance > 0 and random.random() < chance
    if fires:
        _faults.fired(fault, account=account)
    return fires


def fault_delay_ms(fault: Fault, *, account: str | None = None) -> int:
    """The milliseconds of a delay fault (0 when off); counted and logged when not 0."""
    delay = amount(fault, account=account)
    if delay:
        _faults.fired(fault, account=account)
    return delay
