"""Random ids as text, straight from the system's randomness, without a ``uuid.UUID`` in between.

A message id or a request id is only ever text. ``str(uuid.uuid4())`` builds a ``UUID`` object
(Python code: the bytes to an int, the version bits set, the attributes frozen) to format it at
once; per order the gateway made three. These give the same text from the same source
(``os.urandom``) in about half the time (docs/performance.md, "One JSON form for the command,
its envelope and its view": its table of the steps after it).
"""

from __future__ import annotations

import os

# A version 4 UUID: the version nibble 0100 and the RFC 4122 variant bits 10, the other 122
# random.
_VERSION_4 = 0x4 << 76
_VARIANT_RFC_4122 = 0x2 << 62
_FIXED_BITS = (0xF << 76) | (0x3 << 62)


def random_uuid_text() -> str:
    """What ``str(uuid.uuid4())`` returns: a random version 4 UUID in its canonical form."""
    number = int.from_bytes(os.urandom(16)) & ~_FIXED_BITS | _VERSION_4 | _VARIANT_RFC_4122
    digits = f"{number:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def random_hex() -> str:
    """128 random bits as 32 hex digits (what ``uuid.uuid4().hex`` is used for)."""
    return os.urandom(16).hex()
