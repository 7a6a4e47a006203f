"""The internal credential the tests' services require and their clients send."""

from __future__ import annotations

import os

INTERNAL_TOKEN = "tests-internal-token"
INTERNAL_HEADERS = {"X-Internal-Token": INTERNAL_TOKEN}


def configure_internal_token() -> None:
    """Every service the tests build reads its settings from this process's environment (or
    inherits it as a process): one token for the whole run, unless a test sets its own."""
    os.environ.setdefault("TRADEWIND_INTERNAL_TOKEN", INTERNAL_TOKEN)
