"""Flag values through the OpenFeature client, memoized until the flag definitions change.

One evaluation through the SDK costs 18 to 32 µs (its hooks, context merging and the flagd
JsonLogic rules; measured with timeit on this machine), and the hot paths ask for several per
request or per message: the gateway's Redis calls, every broker publish. A flagd evaluation is a
pure function of the definitions and the context (flag, account; the service is fixed per
process), so its value is kept until the provider reports new definitions, and a repeated
question costs a dictionary lookup (about 0.3 µs). The one rule this would get wrong is one that
reads ``$flagd.timestamp``: such rules are not supported (docs/operations.md, "Flags").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails

from tradewind.common.flags.names import Flag

log = logging.getLogger(__name__)

Value = TypeVar("Value", bool, int, float)
Key = tuple[str, object, str | None]
# One of the client's typed lookups (``get_boolean_details`` and its kin).
Evaluation = Callable[[str, Value, EvaluationContext], FlagEvaluationDetails[Value]]

# Accounts are many; the memo is emptied when it grows past this, not grown without bound.
MAX_MEMOIZED = 10_000
_NO_CONTEXT = EvaluationContext()


class FlagEvaluator:
    """Typed values of flags for an account (or none), memoized per definitions generation."""

    def __init__(self, client: OpenFeatureClient, *, max_memoized: int = MAX_MEMOIZED) -> None:
        self.client = client
        self.max_memoized = max_memoized
        self._generation = 0
        self.loaded_version: Callable[[], float] = lambda: 0.0
        """The version of the definitions the provider holds (the flags file's modification
        time); a new one forgets every memoized value before the next evaluation."""
        self._version_seen = 0.0
        self._booleans: dict[Key, bool] = {}
        self._integers: dict[Key, int] = {}
        self._floats: dict[Key, float] = {}

    def definitions_changed(self) -> None:
        """Forget every value: the provider loaded new definitions (or lost them).

        Called on OpenFeature's event thread. The generation tells an evaluation that raced with
        this call not to store what it read from the old definitions.
        """
        self._generation += 1
        self._booleans, self._integers, self._floats = {}, {}, {}

    def boolean(self, name: Flag, *, default: bool, account: str | None) -> bool:
        return self._memoized(
            self._booleans, self.client.get_boolean_details, name, default, account
        )

    def integer(self, name: Flag, *, default: int, account: str | None) -> int:
        return self._memoized(
            self._integers, self.client.get_integer_details, name, default, account
        )

    def number(self, name: Flag, *, default: float, account: str | None) -> float:
        return self._memoized(self._floats, self.client.get_float_details, name, default, account)

    def _memoized(
        self,
        memo: dict[Key, Value],
        evaluate: Evaluation[Value],
        name: Flag,
        default: Value,
        account: str | None,
    ) -> Value:
        """The memoized value of ``name``, or the SDK's (``evaluate``), kept for next time."""
        key: Key = (name, default, account)
        self._follow_definitions()
        value = memo.get(key)
        if value is None:
            generation = self._generation
            value = _checked(evaluate(name, default, _context(account)), default)
            self._keep(memo, key, value, generation)
        return value

    def _follow_definitions(self) -> None:
        # OpenFeature tells of a reload on a thread pool, possibly after an evaluation that
        # already reads the new definitions; the version read here never lags them.
        version = self.loaded_version()
        if version != self._version_seen:
            self._version_seen = version
            self.definitions_changed()

    def _keep(self, memo: dict[Key, Value], key: Key, value: Value, generation: int) -> None:
        if generation != self._generation:
            return  # read from definitions replaced meanwhile
        if len(memo) >= self.max_memoized:
            memo.clear()
        memo[key] = value


def _context(account: str | None) -> EvaluationContext:
    # The service name is in the API-level context (set once at start); the account is the
    # targeting key, which flagd's ``fractional`` hashes for percentage rollouts.
    return _NO_CONTEXT if account is None else EvaluationContext(targeting_key=account)


def _checked(details: FlagEvaluationDetails[Value], default: Value) -> Value:
    """The value, or the default with a warning when the file's definition is unusable (a share
    given boolean variants, a rule that failed). A flag the file does not define is simply off:
    the default, silently."""
    code = details.error_code
    if code is None or code == ErrorCode.FLAG_NOT_FOUND:
        return details.value
    log.warning(
        "flag cannot be evaluated; using its default",
        extra={
            "flag": details.flag_key,
            "error_code": code.value,
            "error": details.error_message,
            "default": default,
        },
    )
    return default
