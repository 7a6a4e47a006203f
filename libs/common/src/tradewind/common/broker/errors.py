"""Broker failures callers act on."""

from __future__ import annotations


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached or did not confirm in time; the caller may retry later."""


class PublishRejected(RuntimeError):
    """The broker refused the message: unroutable (no queue bound) or negatively acknowledged."""


class PermanentFailure(Exception):
    """A handler's verdict that retrying this message can never succeed: park it now."""
