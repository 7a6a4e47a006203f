"""The bodies of the key routes: what an admin may set, declared as it is checked."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tradewind.gateway.api.keys import KeyIn, KeyPatch, RateBudgetsIn
from tradewind.gateway.app import create_app
from tradewind.gateway.domain.rate_limits import (
    BUDGET_NAMES,
    MAX_KEY_QUOTA,
    MAX_KEY_WINDOW_S,
    Budget,
)

DOCUMENT = create_app().openapi()


def declared(component: str) -> jsonschema_rs.Validator:
    root = {"$ref": f"#/components/schemas/{component}", "components": DOCUMENT["components"]}
    return jsonschema_rs.validator_for(root)


def accepted(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def test_every_budget_the_gateway_spends_can_be_set_and_no_other() -> None:
    names = [field.alias or name for name, field in RateBudgetsIn.model_fields.items()]
    assert names == list(BUDGET_NAMES)
    assert not accepted(RateBudgetsIn, {"trading": {"quota": 1, "window_s": 1}})
    assert not accepted(RateBudgetsIn, {"webhook_tests": {"quota": 1, "window_s": 1}})


def test_a_change_sets_the_budgets_it_names_and_returns_nulls_to_the_default() -> None:
    body = RateBudgetsIn.model_validate(
        {"orders": {"quota": 500, "window_s": 60}, "webhook-tests": None}
    )
    assert body.changes() == {"orders": Budget("orders", 500, 60), "webhook-tests": None}
    assert body.chosen() == (Budget("orders", 500, 60),)


@pytest.mark.parametrize(
    ("budget", "valid"),
    [
        ({"quota": 1, "window_s": 1}, True),
        ({"quota": MAX_KEY_QUOTA, "window_s": MAX_KEY_WINDOW_S}, True),
        ({"quota": 5.0, "window_s": 60}, True),  # JSON Schema's integer 5
        ({"quota": 0, "window_s": 60}, False),
        ({"quota": -1, "window_s": 60}, False),
        ({"quota": MAX_KEY_QUOTA + 1, "window_s": 60}, False),
        ({"quota": 5, "window_s": 0}, False),
        ({"quota": 5, "window_s": MAX_KEY_WINDOW_S + 1}, False),
        ({"quota": "5", "window_s": 60}, False),
        ({"quota": True, "window_s": 60}, False),
        ({"quota": 5.5, "window_s": 60}, False),
        ({"quota": 5}, False),
        ({"quota": 5, "window_s": 60, "burst": 9}, False),
    ],
)
def test_a_budget_is_a_positive_bounded_quota_per_window(
    budget: dict[str, Any], valid: bool
) -> None:
    body = {"rate_budgets": {"orders": budget}}
    for model, component in ((KeyIn, "KeyIn"), (KeyPatch, "KeyPatch")):
        assert accepted(model, body) is valid, model
        assert declared(component).is_valid(body) is valid, component


@pytest.mark.parametrize("body", [{}, {"scopes": None}, {"rate_budgets": None}])
def test_a_key_change_names_something_to_change_and_never_sends_null(
    body: dict[str, Any],
) -> None:
    assert not accepted(KeyPatch, body)
    assert not declared("KeyPatch").is_valid(body)


budgets = st.sampled_from(
    [None, {"quota": 9, "window_s": 60}, {"quota": 0, "window_s": 60}, {"quota": "9"}]
)
key_changes = st.fixed_dictionaries(
    {},
    optional={
        "scopes": st.sampled_from([None, [], ["orders:read"], ["root"], "admin"]),
        "rate_budgets": st.sampled_from([None, {}, "x"])
        | st.dictionaries(st.sampled_from([*BUDGET_NAMES, "other"]), budgets, max_size=3),
        "name": st.just("x"),
    },
)


@settings(max_examples=300)
@given(key_changes)
def test_a_key_change_is_accepted_exactly_when_the_document_allows_it(
    body: dict[str, Any],
) -> None:
    # Unknown scopes pass the model (the route refuses them, 422) and fail the schema's enum.
    known_scopes = body.get("scopes") != ["root"]
    assert (accepted(KeyPatch, body) and known_scopes) == declared("KeyPatch").is_valid(body)
