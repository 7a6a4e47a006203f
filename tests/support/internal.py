"""The credentials the tests' services require: the internal token their clients send, and the
key that encrypts webhook secrets at rest."""

from __future__ import annotations

import os

INTERNAL_TOKEN = "tests-internal-token"
INTERNAL_HEADERS = {"X-Internal-Token": INTERNAL_TOKEN}
WEBHOOKS_SECRET_KEY = "sy6kUhVTnVnSBZMnToGMk8e6WkEykyNuPl6qo3-J5pg="

SERVICE_CREDENTIALS = {
    "TRADEWIND_INTERNAL_TOKEN": INTERNAL_TOKEN,
    "TRADEWIND_WEBHOOKS_SECRET_KEYS": WEBHOOKS_SECRET_KEY,
}


def configure_service_credentials() -> None:
    """Every service the tests build reads its settings from this process's environment (or
    inherits it as a process): one set of credentials for the run, unless a test sets its own."""
    for name, value in SERVICE_CREDENTIALS.items():
        os.environ.setdefault(name, value)
