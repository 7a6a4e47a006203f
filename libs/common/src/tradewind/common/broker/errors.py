"""Broker failures callers act on."""

from __future__ import annotations


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached or did not confirm in time; the caller may retry later."""


class PublishUnconfirmed(BrokerUnavailable):
    """The message was handed to the connection but no confirm came back (a timeout, or the
    connection lost while waiting): the broker may or may not have routed it. Only a publisher
    whose message is safe to repeat (a derived id its consumer deduplicates) may retry blindly."""


class PublishRejected(RuntimeError):
    """The broker refused the message: unroutable (no queue bound) or negatively acknowledged."""


class PermanentFailure(Exception):
    """A handler's verdict that retrying this message can never succeed: park it now."""


class Deferred(Exception):
    """A handler's verdict that the message is not due yet: deliver it again in about
    ``delay_s`` seconds, through the delay tiers, without counting an attempt."""

    def __init__(self, delay_s: float, reason: str = "not due yet") -> None:
        super().__init__(f"{reason}; due in {delay_s:.3f}s")
        self.delay_s = delay_s
