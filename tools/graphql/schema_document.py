"""The gateway's GraphQL schema in SDL (docs/graphql/schema.graphql), generated from the code.

    uv run python tools/graphql/schema_document.py            # print it
    uv run python tools/graphql/schema_document.py --write    # write docs/graphql/schema.graphql
    uv run python tools/graphql/schema_document.py --check    # fail if the file is stale

The file is the API's reference for clients (code generators read it); the schema itself is
built from the Strawberry types in ``tradewind.gateway.api.graphql``, and
tests/unit/gateway/test_graphql_schema.py fails when the two differ.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tradewind.gateway.api.graphql.schema import schema_sdl

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "graphql" / "schema.graphql"
REGENERATE = "uv run python tools/graphql/schema_document.py --write"
HEADER = f"# Generated from tradewind.gateway.api.graphql; regenerate with `{REGENERATE}`.\n\n"


def document_text() -> str:
    return HEADER + schema_sdl()


def main(arguments: Sequence[str]) -> int:
    text = document_text()
    if list(arguments) == ["--write"]:
        DOCUMENT.write_text(text)
        return 0
    if list(arguments) == ["--check"]:
        if DOCUMENT.is_file() and DOCUMENT.read_text() == text:
            return 0
        shown = DOCUMENT.relative_to(ROOT) if DOCUMENT.is_relative_to(ROOT) else DOCUMENT
        sys.stderr.write(f"{shown} is stale: regenerate it with `{REGENERATE}`\n")
        return 1
    if arguments:
        sys.stderr.write(__doc__ or "")
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
