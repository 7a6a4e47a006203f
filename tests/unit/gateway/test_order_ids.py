"""The order id a request names: random, or derived from its Idempotency-Key and fingerprint."""

from __future__ import annotations

import uuid

from tradewind.gateway.domain.orders import new_order_id, new_order_id_text


def test_without_a_key_every_request_names_a_new_order() -> None:
    assert new_order_id("alice", None) != new_order_id("alice", None)


def test_a_retry_of_the_same_request_under_the_same_key_names_the_same_order() -> None:
    assert new_order_id("alice", ("k1", "f1")) == new_order_id("alice", ("k1", "f1"))


def test_another_key_request_or_account_names_another_order() -> None:
    first = new_order_id("alice", ("k1", "f1"))
    assert first != new_order_id("alice", ("k2", "f1"))
    assert first != new_order_id("alice", ("k1", "f2"))
    assert first != new_order_id("bob", ("k1", "f1"))
    # The parts are kept apart: moving text from one to the other is another order.
    assert new_order_id("alice", ("k\n1", "f")) != new_order_id("alice", ("k", "1\nf"))


def test_the_id_s_text_is_the_id_written_out() -> None:
    """What the order route names an order by: a derived id's text is the derived id's, a random
    one is a canonical version 4 UUID of its own."""
    assert new_order_id_text("alice", ("k1", "f1")) == str(new_order_id("alice", ("k1", "f1")))
    random = new_order_id_text("alice", None)
    assert str(uuid.UUID(random)) == random
    assert uuid.UUID(random).version == 4
    assert random != new_order_id_text("alice", None)
