"""The gateway's Redis batches are packed by hiredis as redis-py would pack them, byte for byte."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from tradewind.gateway.adapters.script_batches import packed

argument = st.one_of(
    st.text(),
    st.binary(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
)
command = st.tuples(st.sampled_from(["EVALSHA", "SET", "GET", "INCR", "CLIENT"])).flatmap(
    lambda name: st.lists(argument, max_size=8).map(lambda args: (*name, *args))
)


@settings(max_examples=500, deadline=None)
@given(batch=st.lists(command, min_size=1, max_size=6))
def test_a_batch_packs_as_redis_py_packs_it(batch: list[tuple[Any, ...]]) -> None:
    try:
        expected = b"".join(Connection().pack_commands(batch))
    except UnicodeEncodeError:  # a lone surrogate: neither packer can write it
        return
    assert packed(batch) == expected


def test_a_large_value_packs_whole() -> None:
    """redis-py writes a value over its buffer cutoff as a chunk of its own; joined, the same."""
    batch: list[tuple[Any, ...]] = [("SET", "key", b"v" * 100_000, "EX", 60)]
    assert packed(batch) == b"".join(Connection().pack_commands(batch))
