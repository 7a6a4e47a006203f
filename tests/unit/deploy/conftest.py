"""Fixtures of the deploy/ checks."""

from __future__ import annotations

import pytest

from support.promtool import find_promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_promtool()
