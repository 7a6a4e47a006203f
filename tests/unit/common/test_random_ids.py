"""Ids written as text straight from the system's randomness are what ``uuid4`` would give."""

from __future__ import annotations

import re
import uuid

from tradewind.common.random_ids import random_hex, random_uuid_text


def test_a_uuid_text_is_a_canonical_random_version_4_uuid() -> None:
    texts = [random_uuid_text() for _ in range(20_000)]
    parsed = [uuid.UUID(text) for text in texts]
    assert [str(value) for value in parsed] == texts  # canonical: lower case, dashed
    assert {(value.version, value.variant) for value in parsed} == {(4, uuid.RFC_4122)}
    assert len(set(texts)) == len(texts)
    # Every one of the 122 free bits takes both values: none is stuck by the masks.
    free = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
    ones = zeros = 0
    for value in parsed:
        ones |= value.int & free
        zeros |= ~value.int & free
    assert ones == zeros == free


def test_a_hex_id_is_128_random_bits() -> None:
    ids = [random_hex() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert len(set(ids)) == len(ids)
