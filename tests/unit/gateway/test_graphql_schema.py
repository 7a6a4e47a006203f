"""docs/graphql/schema.graphql is the schema the code builds, and the GraphQL enums cover the
values the REST API has."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import get_args

import pytest
from graphql import GraphQLObjectType

from tradewind.common.contracts.types import OrderStatus
from tradewind.gateway.api.graphql.schema import build_schema
from tradewind.gateway.api.graphql.types import OrderStatusFilter, Timeframe
from tradewind.gateway.domain.schemas import Timeframe as RestTimeframe

TOOL = Path(__file__).resolve().parents[3] / "tools" / "graphql" / "schema_document.py"


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("graphql_schema_document", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_committed_schema_is_the_one_the_code_builds() -> None:
    module = generator()
    assert module.DOCUMENT.read_text() == module.document_text(), (
        f"docs/graphql/schema.graphql is stale: regenerate it with `{module.REGENERATE}`"
    )


def test_check_mode_fails_on_a_stale_schema_and_passes_once_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = generator()
    stale = tmp_path / "schema.graphql"
    stale.write_text(module.DOCUMENT.read_text().replace("filledQty", "filledQuantity"))
    monkeypatch.setattr(module, "DOCUMENT", stale)

    assert module.main(["--check"]) == 1
    assert module.REGENERATE in capsys.readouterr().err
    assert module.main(["--write"]) == 0
    assert module.main(["--check"]) == 0


def test_the_status_filter_takes_every_order_status_and_the_rest_apis_groups() -> None:
    assert {member.value for member in OrderStatusFilter} == {s.value for s in OrderStatus} | {
        "all",
        "open",
        "closed",
    }
    assert all(member.upstream == member.value for member in OrderStatusFilter)


def test_the_timeframes_are_the_rest_apis() -> None:
    assert [member.upstream for member in Timeframe] == list(get_args(RestTimeframe))


def test_no_field_takes_an_account_the_credential_names_it() -> None:
    schema = build_schema()._schema
    arguments = [
        (type_name, field_name, argument)
        for type_name, named in schema.type_map.items()
        if not type_name.startswith("__") and isinstance(named, GraphQLObjectType)
        for field_name, field in named.fields.items()
        for argument in field.args
    ]
    assert ("Query", "orders", "symbol") in arguments
    assert [found for found in arguments if "account" in found[2].lower()] == []
