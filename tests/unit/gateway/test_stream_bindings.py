"""Which bindings a gateway's stream queue needs for the clients it has."""

from __future__ import annotations

from tradewind.gateway.adapters.stream_bindings import QUOTES, TRADE_UPDATES, needed_routing_keys
from tradewind.gateway.domain.stream_session import StreamSession


def session(quotes: list[str] | None = None, trade_updates: bool = False) -> StreamSession:
    client = StreamSession("acct", max_backlog=10)
    client.subscribe(quotes or [], trade_updates)
    return client


def test_no_client_or_no_subscription_needs_no_binding() -> None:
    assert needed_routing_keys([]) == frozenset()
    assert needed_routing_keys([session()]) == frozenset()


def test_quotes_and_trade_updates_each_need_their_binding_once() -> None:
    clients = [session(["AAPL"]), session(["*"]), session(trade_updates=True)]

    assert needed_routing_keys(clients) == {QUOTES, TRADE_UPDATES}
    assert needed_routing_keys(clients[:2]) == {QUOTES}
    assert needed_routing_keys(clients[2:]) == {TRADE_UPDATES}
