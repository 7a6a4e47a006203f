"""The endpoint bodies declare what the webhooks service enforces: the gateway's OpenAPI
document shows these schemas, and a body valid by them must not be refused for its form."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tradewind.common.contracts.event_filters import EVENT_FILTER_PATTERN, validate_filter
from tradewind.common.contracts.webhooks import ENDPOINT_URL_PATTERN, EndpointIn, EndpointPatch
from tradewind.webhooks.adapters.ssrf import DestinationPolicy, DestinationRefused, check_url

# What a deployment accepts from anyone, whatever it allows besides (its defaults).
DEFAULT_POLICY = DestinationPolicy(allow_subnets=(), https_only=True)
URL = re.compile(ENDPOINT_URL_PATTERN)
# JSON Schema reads `$` as ECMA-262 does, the very end; Python's `$` also matches before a final
# newline, which would draw URLs no schema tool would call valid.
SCHEMA_URLS = st.from_regex(ENDPOINT_URL_PATTERN.removesuffix("$") + r"\Z")


def refused_by_service(url: str) -> bool:
    try:
        check_url(url, DEFAULT_POLICY)
    except DestinationRefused:
        return True
    return False


@given(SCHEMA_URLS)
def test_every_url_the_schema_allows_is_a_destination_the_service_accepts(url: str) -> None:
    # Hosts longer than 253 characters are refused too; the description says so (a pattern
    # cannot count them without a lookahead, which not every schema tool reads).
    host = re.sub(r"^https://|[:/?#].*$", "", url, flags=re.IGNORECASE)
    if len(host.rstrip(".")) <= 253:
        assert not refused_by_service(url), url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tradewind",
        "HTTPS://Hooks.Example.COM:8443/a/b?c=d&e=%20#frag",
        "https://xn--bcher-kva.example/",
        "https://localhost",
        "https://a.b.:443",
    ],
)
def test_ordinary_https_urls_are_declared_and_accepted(url: str) -> None:
    assert URL.fullmatch(url)
    assert not refused_by_service(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "hooks.example.com",
        "https://",
        "https://exa mple.com/",
        "https://example.com/\\evil",
        "https://b\u00fccher.example/",
        "https://user:pw@example.com/",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://127.1/",
        "https://0x7f.1/",
        "https://169.254.169.254/latest",
        "https://[::1]/",
        "ftp://example.com/",
        "https://example.com%2f@evil/",
        "https://\udb2d\ude99#O",  # what schemathesis once sent as a schema-valid URL
    ],
)
def test_urls_the_service_refuses_are_outside_the_schema(url: str) -> None:
    assert refused_by_service(url)
    assert not URL.fullmatch(url)


@given(st.text(alphabet="ab09_.*-A ", max_size=12))
def test_an_event_filter_is_accepted_exactly_when_its_pattern_allows_it(text: str) -> None:
    try:
        validate_filter(text)
        valid = True
    except ValueError:
        valid = False
    assert valid == bool(re.fullmatch(EVENT_FILTER_PATTERN, text)), repr(text)


def _valid(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError:
        return False
    return True


def _schema_valid(model: type[BaseModel], body: dict[str, Any]) -> bool:
    return jsonschema_rs.validator_for(model.model_json_schema()).is_valid(body)


@pytest.mark.parametrize("enabled", [0, 1, "true", "false", None])
def test_enabled_is_a_json_boolean_and_nothing_else(enabled: Any) -> None:
    body = {"url": "https://hooks.example.com/x", "enabled": enabled}
    assert not _valid(EndpointIn, body)
    assert not _schema_valid(EndpointIn, body)
    for model in (EndpointIn, EndpointPatch):
        assert _valid(model, {**body, "enabled": False})


@pytest.mark.parametrize("field", ["url", "description", "event_types", "enabled"])
def test_a_patch_leaves_a_field_out_to_keep_it_and_never_sends_null(field: str) -> None:
    assert not _valid(EndpointPatch, {field: None})
    assert not _schema_valid(EndpointPatch, {field: None})
    assert _valid(EndpointPatch, {})
    assert _schema_valid(EndpointPatch, {})


@pytest.mark.parametrize("event_filter", ["", "order.", "*x", "Order.filled", "order..x"])
def test_malformed_filters_are_refused_and_outside_the_schema(event_filter: str) -> None:
    body = {"url": "https://hooks.example.com/x", "event_types": [event_filter]}
    for model in (EndpointIn, EndpointPatch):
        assert not _valid(model, body)
        assert not _schema_valid(model, body)
