"""When a batch waits for more messages before it is handled (group commit's linger)."""

from __future__ import annotations

import pytest

from tradewind.common.broker.batches import waits_for_company


@pytest.mark.parametrize(
    ("waiting", "last_batch", "expected"),
    [
        (1, 0, False),  # the first message after start: alone, handled at once
        (1, 1, False),  # sparse traffic: the consumer keeps up message by message
        (1, 2, True),  # the previous batch had company: more is likely on its way
        (2, 1, True),  # two already waiting: messages come together
        (2, 0, True),
    ],
)
def test_a_batch_waits_only_when_messages_come_together(
    waiting: int, last_batch: int, expected: bool
) -> None:
    assert (
        waits_for_company(waiting=waiting, last_batch=last_batch, max_batch=10, max_wait_s=0.005)
        is expected
    )


def test_a_full_batch_or_no_wait_setting_never_waits() -> None:
    assert not waits_for_company(waiting=10, last_batch=10, max_batch=10, max_wait_s=0.005)
    assert not waits_for_company(waiting=3, last_batch=5, max_batch=10, max_wait_s=0)
