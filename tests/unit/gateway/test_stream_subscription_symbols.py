"""Stream subscriptions take the shared Symbol type (or "*"): a symbol becomes a routing key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradewind.gateway.api.stream import SubscriptionChange


def test_symbols_fold_ascii_letters_and_star_means_every_symbol() -> None:
    change = SubscriptionChange.model_validate(
        {"action": "subscribe", "quotes": ["aapl", "*", "BRK.B"]}
    )
    assert change.quotes == ["AAPL", "*", "BRK.B"]


@pytest.mark.parametrize("bad", ["#", "AAPL.#", "*.X", "\u00df", " aapl", "A\x00", ""])
def test_wildcards_and_non_symbols_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        SubscriptionChange.model_validate({"action": "subscribe", "quotes": [bad]})
