"""The positional arguments of one PostgreSQL statement built from the filters a caller gave.

A list read names only the filters it was given, so each combination gets a plan that uses its
index (a generic plan for ``$1 IS NULL OR column = $1`` may scan the table). Each value goes in
once, and its placeholder (``$1``, ``$2`` …) is what the statement text holds.
"""

from __future__ import annotations


class StatementArgs:
    """Values in placeholder order; calling it with a value adds the value and returns its
    placeholder."""

    def __init__(self, *values: object) -> None:
        self.values: list[object] = list(values)

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
