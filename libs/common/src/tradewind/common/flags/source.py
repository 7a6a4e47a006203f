"""Where the flags come from: the flagd provider, in-process, on the file TRADEWIND_FLAGS_FILE.

The OpenFeature flagd provider's file mode reads flagd's JSON format (flags, variants, JsonLogic
targeting, ``fractional`` rollouts, ``$evaluators``), evaluates in memory, and checks the file's
modification time every ``poll_ms`` on a thread of its own: an edit is in force within one poll,
without a daemon, a network or a restart. A file that cannot be read at start stops the service
(like a bad config file); one broken by a later edit leaves the last flags loaded in force, and
says so in the log until it is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider.no_op_provider import NoOpProvider
from prometheus_client import Gauge

from tradewind.common.flags.evaluator import FlagEvaluator
from tradewind.common.flags.names import KNOWN_FLAGS

log = logging.getLogger(__name__)

# The OpenFeature domain of Tradewind's flags: its provider is ours alone, whatever else in the
# process (a library, a test) sets as the default provider.
DOMAIN = "tradewind"

FLAGS_LOADED = Gauge(
    "tradewind_flags_loaded_mtime_seconds",
    "Modification time (Unix seconds) of the flags file this process loaded last; compare it "
    "with the file's to know that an edit is in force. 0: no flags file.",
)
FLAGS_LOADED.set_function(lambda: 0.0)


def _loaded_version(provider: FlagdProvider) -> Callable[[], float]:
    """The modification time of the file version ``provider`` holds.

    The file watcher records it once the new definitions are in its store, on its own thread,
    before OpenFeature's handlers run (on a thread pool, in no set order with the next read):
    the file's time read in a handler could name a version written after the one loaded.
    uv.lock pins the provider; tests/unit/common/test_flag_evaluation.py breaks if this moves.
    """
    watcher = provider.resolver.connector  # type: ignore[attr-defined]

    def version() -> float:
        return float(watcher.last_modified)

    return version


class FlagsFileError(ValueError):
    """The file named by TRADEWIND_FLAGS_FILE cannot be used at start."""


class FlagsSource:
    """Follows the provider's events: forgets memoized values on every change, tells the log and
    the gauge what was loaded."""

    def __init__(self, evaluator: FlagEvaluator) -> None:
        self.evaluator = evaluator
        self.path: Path | None = None
        self._failing = False
        client = evaluator.client
        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, self._loaded)
        client.add_handler(ProviderEvent.PROVIDER_ERROR, self._failed)

    @contextmanager
    def watching(self, path: Path | None, *, service: str, poll_ms: int) -> Iterator[None]:
        """Flags from ``path`` (watched) while the context is open; every flag at its default
        without a path."""
        if path is None:
            yield
            return
        api.set_evaluation_context(EvaluationContext(attributes={"service": service}))
        # The provider logs a broken file with its traceback at every check; ``_failed`` says it
        # once per breakage instead.
        logging.getLogger("openfeature.contrib").setLevel(logging.CRITICAL)
        self.path = path
        provider = FlagdProvider(
            resolver_type=ResolverType.FILE,
            offline_flag_source_path=str(path),
            # In file mode the provider's deadline is the interval between two checks.
            deadline_ms=poll_ms,
        )
        try:
            api.set_provider_and_wait(provider, domain=DOMAIN)
        except Exception as exc:
            self._stop(provider)
            raise FlagsFileError(f"TRADEWIND_FLAGS_FILE={path}: cannot load flags: {exc}") from exc
        version = _loaded_version(provider)
        self.evaluator.loaded_version = version
        FLAGS_LOADED.set_function(version)
        log.info("flags loaded", extra={"flags_file": str(path), "poll_ms": poll_ms})
        try:
            yield
        finally:
            self._stop(provider)

    def _stop(self, provider: FlagdProvider) -> None:
        # The registry shuts the replaced provider down (its watcher thread ends).
        api.set_provider(NoOpProvider(), domain=DOMAIN)
        provider.shutdown()
        self.path = None
        self.evaluator.loaded_version = lambda: 0.0
        self.evaluator.definitions_changed()
        FLAGS_LOADED.set_function(lambda: 0.0)

    def _loaded(self, details: EventDetails) -> None:
        self.evaluator.definitions_changed()
        self._failing = False
        changed = sorted(details.flags_changed or ())
        unknown = [name for name in changed if name not in KNOWN_FLAGS]
        log.info("flags changed", extra={"flags_changed": changed})
        if unknown:
            log.warning(
                "the flags file defines flags no code reads (a typo?)",
                extra={"unknown_flags": unknown},
            )

    def _failed(self, details: EventDetails) -> None:
        # The provider reports a broken file on every check; say it once per breakage.
        if self._failing:
            return
        self._failing = True
        log.error(
            "flags file cannot be loaded; the flags loaded last stay in force",
            extra={"flags_file": str(self.path), "error": details.message},
        )
