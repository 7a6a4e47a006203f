"""The pure parts of admission: Idempotency-Key parsing, fingerprints, budgets, header fields,
and what the OpenAPI document tells clients."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from tradewind.common.problems import Problem
from tradewind.gateway.api.idempotency import fingerprint, parse_key
from tradewind.gateway.app import create_app
from tradewind.gateway.domain.rate_limits import Budget, Usage, budgets_from_record
from tradewind.gateway.keys import budget
from tradewind.gateway.settings import GatewaySettings


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('  "a b"  ', "a b"),
        (r'"say \"hi\" \\ there"', 'say "hi" \\ there'),
        ("bare-token_1", "bare-token_1"),
        ('"' + "k" * 255 + '"', "k" * 255),
    ],
)
def test_keys_are_structured_strings_or_bare_tokens(raw: str, key: str) -> None:
    assert parse_key(raw) == key


@pytest.mark.parametrize(
    "raw",
    ['"a', '""', "", "two words", '"caf\u00e9"', '"tab\there"', '"' + "k" * 256 + '"', r'"\n"'],
)
def test_malformed_keys_are_a_400(raw: str) -> None:
    with pytest.raises(Problem) as refused:
        parse_key(raw)
    assert refused.value.status == 400


def test_a_fingerprint_changes_with_every_part_of_the_request() -> None:
    base = ("POST", b"/api/v1/orders", "key_1", b'{"qty":"1"}')
    others = [
        ("PATCH", *base[1:]),
        (base[0], b"/api/v1/orders?x=1", *base[2:]),
        (*base[:2], "key_2", base[3]),
        (*base[:3], b'{"qty": "1"}'),
    ]
    assert len({fingerprint(*base), *(fingerprint(*o) for o in others)}) == 5
    # Parts are length-prefixed: moving bytes from one part to the next is another request.
    assert fingerprint("POST", b"/a", "key_1b", b"") != fingerprint("POST", b"/a", "key_1", b"b")


def test_a_keys_own_budgets_are_read_leniently() -> None:
    record = {
        "orders": {"quota": 500, "window_s": 60},
        "reads": {"quota": "many", "window_s": 60},
        "webhook-tests": {"quota": 0, "window_s": 3600},
        "webhooks": {"quota": 5, "window_s": 0},
        "unknown": {"quota": 1, "window_s": 1},
    }
    assert budgets_from_record(record) == (
        Budget("orders", 500, 60),
        Budget("webhook-tests", 0, 3600),
    )
    assert budgets_from_record(None) == ()
    assert budgets_from_record(["orders"]) == ()


def test_header_fields_follow_the_draft() -> None:
    usage = Usage(Budget("orders", 200, 60), True, 42, 29_001)
    assert usage.headers() == [
        (b"ratelimit-policy", b'"orders";q=200;w=60'),
        (b"ratelimit", b'"orders";r=42;t=30'),
    ]
    assert Usage(Budget("reads", 1, 1), False, 0, 1).reset_s == 1


def test_the_openapi_document_tells_of_limits_keys_and_their_expiry() -> None:
    document: dict[str, Any] = create_app(GatewaySettings(idempotency_ttl_s=7200)).openapi()
    assert "7200 s (2 h)" in document["info"]["description"]
    for path, operations in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            assert "429" in operation["responses"], f"{method} {path}"
            named = [p["name"] for p in operation.get("parameters", [])]
            if method in {"post", "patch", "delete"}:
                assert "Idempotency-Key" in named, f"{method} {path}"
                assert "7200 s" in next(
                    p["description"]
                    for p in operation["parameters"]
                    if p["name"] == "Idempotency-Key"
                )
                assert {"409", "422"} <= operation["responses"].keys()
            else:
                assert "Idempotency-Key" not in named


def test_the_keys_command_reads_budgets() -> None:
    assert budget("orders=500/60") == Budget("orders", 500, 60)
    for wrong in ("orders=500", "orders=x/60", "trades=1/60", "reads=1/0", "reads=-1/60"):
        with pytest.raises(argparse.ArgumentTypeError):
            budget(wrong)
