"""The gateway's verified-key cache: served only while every key change is heard, never stale."""

from __future__ import annotations

from tradewind.gateway.adapters.key_cache import VerifiedKeys
from tradewind.gateway.adapters.key_states import KeyState
from tradewind.gateway.domain.auth_model import Principal

ALICE = KeyState(
    1, "d1", Principal(account_id="alice", key_id="key_1", scopes=frozenset({"orders:write"}))
)
BOB = KeyState(
    1, "d2", Principal(account_id="bob", key_id="key_2", scopes=frozenset({"orders:read"}))
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def listening_cache(clock: Clock | None = None, max_keys: int = 100) -> VerifiedKeys:
    keys = VerifiedKeys(ttl_s=5.0, max_keys=max_keys, clock=clock or Clock())
    keys.start_listening()
    return keys


def test_nothing_is_kept_before_the_changes_are_heard() -> None:
    keys = VerifiedKeys()
    keys.remember("d1", ALICE, keys.generation)
    assert keys.get("d1") is None


def test_a_verified_key_is_served_until_its_time_is_up() -> None:
    clock = Clock()
    keys = listening_cache(clock)
    keys.remember("d1", ALICE, keys.generation)
    clock.now += 4.9
    assert keys.get("d1") == ALICE
    clock.now += 0.1
    assert keys.get("d1") is None


def test_a_changed_key_is_forgotten_at_once() -> None:
    keys = listening_cache()
    keys.remember("d1", ALICE, keys.generation)
    keys.remember("d2", BOB, keys.generation)
    keys.forget("d1")
    assert keys.get("d1") is None
    assert keys.get("d2") == BOB


def test_a_lookup_that_raced_a_change_is_not_kept() -> None:
    keys = listening_cache()
    before_reading_redis = keys.generation
    keys.forget("d1")  # revoked while the lookup was in flight
    keys.remember("d1", ALICE, before_reading_redis)
    assert keys.get("d1") is None


def test_losing_the_subscription_forgets_everything_and_stops_serving() -> None:
    keys = listening_cache()
    keys.remember("d1", ALICE, keys.generation)
    keys.stop_listening()
    assert keys.get("d1") is None
    keys.remember("d1", ALICE, keys.generation)
    assert keys.get("d1") is None


def test_a_new_subscription_starts_empty_and_refuses_lookups_begun_before_it() -> None:
    keys = listening_cache()
    keys.remember("d1", ALICE, keys.generation)
    begun_before = keys.generation
    keys.start_listening()  # resubscribed: changes in between are unknown
    assert keys.get("d1") is None
    keys.remember("d2", BOB, begun_before)
    assert keys.get("d2") is None
    keys.remember("d2", BOB, keys.generation)
    assert keys.get("d2") == BOB


def test_a_full_cache_makes_room_by_dropping_its_oldest_key() -> None:
    keys = listening_cache(max_keys=2)
    keys.remember("d1", ALICE, keys.generation)
    keys.remember("d2", BOB, keys.generation)
    keys.remember("d3", ALICE, keys.generation)
    assert keys.get("d1") is None
    assert keys.get("d2") == BOB
    assert keys.get("d3") == ALICE
